"""Compiled recursions and the one backend choice (see ``docs/kernels.md``).

- ``backend``: ``set_backend`` / ``use_backend`` / ``get_backend`` (``"auto"``, ``"compiled"``,
  ``"pure"``) and ``use_compiled``, which every op asks;
- compiled path, as ``torch.library`` custom ops in the ``torchddsp::`` namespace with fake and
  autograd registrations: ``allpole_ops`` (``lti_filter``, ``ltv_allpole`` and their
  backwards), ``lattice_ops`` (``lattice``, ``lattice_backward``), ``gru_ops``
  (``gru_recurrence``), invoked through ``call`` (the op, or its body directly in eager mode
  when nothing needs a gradient); the numba kernels behind them in ``*_numba.py`` and
  ``launch.py``; ``harmonic_ops`` (the harmonic bank: plain PyTorch inside, any device; an op
  because its chunk plan reads values on the host);
- pure path, plain PyTorch that ``torch.export`` / ``torch.jit.script`` capture:
  ``allpole_scan`` and ``lattice_scan`` (``nn.GRU`` itself for the GRU).
"""

from torchddsp.kernels import allpole_ops, gru_ops, lattice_ops
from torchddsp.kernels.allpole_scan import allpole_scan, scan_recursion
from torchddsp.kernels.backend import BACKENDS, get_backend, set_backend, use_backend, use_compiled
from torchddsp.kernels.lattice_scan import lattice_scan
from torchddsp.kernels.launch import call

__all__ = ["BACKENDS", "allpole_ops", "allpole_scan", "call", "get_backend", "gru_ops", "lattice_ops", "lattice_scan",
           "scan_recursion", "set_backend", "use_backend", "use_compiled"]
