"""A callback that kills its own process with SIGKILL at a given step (the crash test's)."""

import os
import signal

import lightning as L


class KillAtStep(L.Callback):
    """SIGKILL this process once ``trainer.global_step`` reaches ``step`` (no cleanup runs)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class InterruptAtStep(L.Callback):
    """Raise ``KeyboardInterrupt`` (what Ctrl-C raises) once ``global_step`` reaches ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            raise KeyboardInterrupt
