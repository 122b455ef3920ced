"""``python -m torchddsp``: the same as the ``torchddsp`` command (and what ``torchrun -m`` launches)."""

from .cli import entry

entry()
