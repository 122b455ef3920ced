"""``python -m torchddsp``: the same as the ``torchddsp`` command (and what ``torchrun -m`` launches)."""

import sys

from .cli import main

sys.exit(main())
