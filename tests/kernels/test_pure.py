"""The pure-PyTorch path: ``torch.jit.script`` compiles the recursions, ``torch.export`` captures the
public ops with no ``torchddsp::`` custom op in the graph, and both equal the compiled kernels."""

from __future__ import annotations

import pytest
import torch

from helpers import check_gradcheck, random_stable_filter
from torchddsp.functional.filters.iir import allpole, lfilter, sosfilt
from torchddsp.functional.filters.lpc import lpc_synthesis
from torchddsp.kernels import allpole_ops, lattice_ops, lattice_scan, scan_recursion
from torchddsp.kernels.backend import NUMBA_AVAILABLE
from torchddsp.models.decoder import Decoder

needs_numba = pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba is not installed (no compiled path to compare)")
DT = torch.float64


def _coefficients(*shape):
    """``(*lead, p)`` coefficients ``a_1 .. a_p`` of stable filters."""
    return torch.from_numpy(random_stable_filter(shape[-1], 0, shape=shape[:-1])[1][..., 1:])


@needs_numba
@pytest.mark.parametrize("time_varying", [False, True], ids=["fixed", "per-sample"])
def test_scripted_scan_equals_compiled_kernel(time_varying):
    torch.manual_seed(0)
    scripted = torch.jit.script(scan_recursion)
    x = torch.randn(3, 300, dtype=DT)
    if time_varying:
        a = _coefficients(3, 300, 7)
        compiled = allpole_ops.ltv_allpole(x, a, x.new_zeros(1, 0), 1)
    else:
        a = _coefficients(3, 7)
        compiled = allpole_ops.lti_filter(x, x.new_ones(1, 1), a, x.new_zeros(1, 0))
    torch.testing.assert_close(scripted(x, a, time_varying), compiled, rtol=1e-12, atol=1e-12)


@needs_numba
@pytest.mark.parametrize("steps", [1, 300], ids=["fixed", "per-sample"])
def test_scripted_lattice_equals_compiled_kernel(steps):
    torch.manual_seed(0)
    scripted = torch.jit.script(lattice_scan)
    x, s0 = torch.randn(2, 300, dtype=DT), torch.randn(2, 6, dtype=DT)
    k = 1.9 * torch.rand(2, steps, 6, dtype=DT) - 0.95
    c = torch.sqrt(1 - k * k)
    y, final = scripted(x, k, c, s0)
    y_ref, final_ref, _ = lattice_ops.lattice(x, k, c, s0)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(final, final_ref, rtol=1e-10, atol=1e-10)


def test_scripted_recursions_are_gradcheck_correct():
    torch.manual_seed(0)
    scan = torch.jit.script(scan_recursion)
    lattice = torch.jit.script(lattice_scan)
    x = torch.randn(2, 12, dtype=DT, requires_grad=True)
    a = _coefficients(2, 12, 3).requires_grad_()
    check_gradcheck(lambda x, a: scan(x, a, True), (x, a))
    k = (1.6 * torch.rand(2, 12, 3, dtype=DT) - 0.8).requires_grad_()
    s0 = torch.randn(2, 3, dtype=DT, requires_grad=True)
    check_gradcheck(lambda x, k, s0: lattice(x, k, torch.sqrt(1 - k * k), s0), (x, k, s0))


class _Op(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def _monic(a):
    return torch.cat([torch.ones_like(a[..., :1]), a], dim=-1)


EXPORT_CASES = {
    "lfilter-lti": (lambda b, a, x, zi: lfilter(b, _monic(a), x, zi),
                    lambda: (torch.randn(2, 3, dtype=DT), _coefficients(2, 2), torch.randn(2, 64, dtype=DT),
                             torch.randn(2, 2, dtype=DT))),
    "lfilter-frames": (lambda b, a, x, zi: lfilter(b, _monic(a), x, zi),
                       lambda: (torch.randn(2, 8, 3, dtype=DT), _coefficients(2, 8, 2), torch.randn(2, 64, dtype=DT),
                                torch.randn(2, 4, dtype=DT))),
    "sosfilt": (lambda sos, x: sosfilt(sos, x),
                lambda: (torch.cat([torch.randn(3, 3, dtype=DT), _monic(_coefficients(3, 2))], -1),
                         torch.randn(2, 64, dtype=DT))),
    "allpole-per-sample": (lambda x, a, y0: allpole(x, a, y0),
                           lambda: (torch.randn(2, 64, dtype=DT), _coefficients(2, 64, 5),
                                    torch.randn(2, 5, dtype=DT))),
    "lpc-synthesis-lpc": (lambda e, a: lpc_synthesis(e, a, kind="lpc"),
                          lambda: (torch.randn(2, 64, dtype=DT), _coefficients(2, 4, 6))),
    "lpc-synthesis-reflection": (lambda e, k, s0: lpc_synthesis(e, k, kind="reflection", state=s0),
                                 lambda: (torch.randn(2, 64, dtype=DT), 0.3 * torch.randn(2, 4, 6, dtype=DT),
                                          torch.randn(2, 6, dtype=DT))),
}


@pytest.mark.parametrize("name", list(EXPORT_CASES))
def test_export_captures_the_pure_path_and_matches_eager(name):
    fn, make_inputs = EXPORT_CASES[name]
    torch.manual_seed(0)
    inputs = make_inputs()
    program = torch.export.export(_Op(fn), inputs)
    custom = [str(n.target) for n in program.graph.nodes if str(n.target).startswith("torchddsp.")]
    assert not custom, f"the exported graph calls compiled kernels: {custom}"
    got, want = program.module()(*inputs), fn(*inputs)          # eager: the compiled path where numba is present
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


def test_export_of_the_decoder_uses_nn_gru():
    torch.manual_seed(0)
    decoder = Decoder(hidden=16, mlp_layers=1, n_harmonics=5, n_noise_bands=4).eval()
    f0, loudness = torch.rand(1, 30, 1), torch.randn(1, 30, 1)
    with torch.no_grad():
        program = torch.export.export(decoder, (f0, loudness))
        got, want = program.module()(f0, loudness), decoder(f0, loudness)
    targets = [str(n.target) for n in program.graph.nodes]
    assert any("gru" in t for t in targets) and not any(t.startswith("torchddsp.") for t in targets), targets
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=1e-6)
