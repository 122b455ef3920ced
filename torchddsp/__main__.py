"""``python -m torchddsp``: the same as the ``torchddsp`` command (and what ``torchrun -m`` launches)."""

from torchddsp.apps.cli import entry

entry()
