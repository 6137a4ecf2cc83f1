"""``python -m pinsage_dgl.cli``: the ``pinsage`` command."""

from pinsage_dgl.cli import main

main()
