"""Notebooks run under pytest (nbmake) on small settings; `make notebooks` runs them in full."""

import os

os.environ.setdefault("PINSAGE_NOTEBOOK_SMALL", "1")
