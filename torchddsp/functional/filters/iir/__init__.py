"""Recursive (IIR) filters: exact, differentiable, with ``scipy.signal`` names and semantics.

- core: ``allpole`` (compiled recursion, analytic backward), ``lfilter``, ``sosfilt``;
- frequency sampling: ``freqz``, ``sosfreqz``, ``frequency_sampled_filter``;
- stable parameterisations (review Table 2): ``biquad`` activations, ``parametric_eq`` designs;
- structures: ``state_variable_filter``, ``state_space_filter``, all-pass cascades (the phaser built
  on them is in ``functional.effects``).
"""

from torchddsp.functional.filters.iir.allpass import (
                      allpass_cascade,
                      allpass_coefficient_from_break_frequency,
                      break_frequency_from_unconstrained,
                      second_order_allpass_cascade,
)
from torchddsp.functional.filters.iir.allpole import allpole
from torchddsp.functional.filters.iir.biquad import (
                      conjugate_pole_zero,
                      first_order_activation,
                      first_order_direct,
                      pole_activation,
                      second_order_direct,
                      to_sos,
                      triangle_activation,
)
from torchddsp.functional.filters.iir.freqz import frequency_sampled_filter, freqz, sosfreqz
from torchddsp.functional.filters.iir.lfilter import lfilter
from torchddsp.functional.filters.iir.parametric_eq import biquad_design, eq_controls_from_logits, parametric_eq
from torchddsp.functional.filters.iir.sosfilt import sosfilt, sosfilt_zi
from torchddsp.functional.filters.iir.state_space import stable_state_matrix, state_space_filter, state_space_to_tf
from torchddsp.functional.filters.iir.state_variable import (
                      state_variable_filter,
                      svf_coefficients,
                      svf_controls_from_unconstrained,
)

__all__ = [
    "allpass_cascade", "allpass_coefficient_from_break_frequency", "allpole", "biquad_design",
    "break_frequency_from_unconstrained", "conjugate_pole_zero", "eq_controls_from_logits", "first_order_activation",
    "first_order_direct", "freqz", "frequency_sampled_filter", "lfilter", "parametric_eq",
    "pole_activation", "second_order_allpass_cascade", "second_order_direct", "sosfilt", "sosfilt_zi", "sosfreqz",
    "stable_state_matrix", "state_space_filter", "state_space_to_tf", "state_variable_filter", "svf_coefficients",
    "svf_controls_from_unconstrained", "to_sos", "triangle_activation",
]
