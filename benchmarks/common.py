"""What every benchmark report states about where it ran."""

from __future__ import annotations

import os
import platform

import dgl
import torch


def machine_description() -> str:
    """CPU, core count and library versions, e.g. for a report's header."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {gpu}, "
        f"torch {torch.__version__}, dgl {dgl.__version__}"
    )
