"""Linear prediction (LPC) and source-filter synthesis (Hayes et al. 2023, sec. 3.1.1.3).

Convention throughout: ``A(z) = 1 + sum_i a_i z^-i`` (``scipy.signal`` / ``allpole``); the
synthesis filter is ``1 / A(z)``. See ``docs/functional-lpc.md``.
"""

from torchddsp.functional.filters.lpc.from_mel import lpc_from_mel
from torchddsp.functional.filters.lpc.levinson import autocorrelation, levinson_durbin, lpc
from torchddsp.functional.filters.lpc.reflection import (
    is_stable,
    lpc_to_reflection,
    reflection_from_logits,
    reflection_to_lpc,
)
from torchddsp.functional.filters.lpc.sections import lpc_to_sos, sos_to_lpc
from torchddsp.functional.filters.lpc.synthesis import framewise_lpc_synthesis, lpc_inverse_filter, lpc_synthesis

__all__ = [
    "autocorrelation", "levinson_durbin", "lpc",
    "reflection_from_logits", "reflection_to_lpc", "lpc_to_reflection", "is_stable",
    "lpc_synthesis", "lpc_inverse_filter", "framewise_lpc_synthesis",
    "lpc_to_sos", "sos_to_lpc",
    "lpc_from_mel",
]
