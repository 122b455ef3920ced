"""``torch.compile(fullgraph=True)`` through the recursions and the IIR structures built on them:
no graph break (fullgraph raises on one), the ``torchddsp::`` custom ops in the captured graph
(none on the pure path), values and gradients equal to eager.

The graphs are captured with the ``aot_eager`` backend (Dynamo + AOTAutograd: the fake and
autograd registrations are exercised, no C++ build); one test runs Inductor end to end.
"""

from __future__ import annotations

import pytest
import torch

from helpers import random_stable_filter
from torchddsp.functional.effects import phaser_exact
from torchddsp.functional.filters.iir import (
    allpass_cascade,
    allpole,
    lfilter,
    parametric_eq,
    sosfilt,
    sosfilt_zi,
    state_variable_filter,
)
from torchddsp.functional.filters.lpc import lpc_synthesis
from torchddsp.kernels import use_backend
from torchddsp.kernels.backend import NUMBA_AVAILABLE
from torchddsp.models.decoder import Decoder

pytestmark = pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba is not installed (nothing compiled to trace)")


def _recording_backend(seen: set):
    """An ``aot_eager`` backend that records every ``torchddsp::`` op in the forward/backward graphs."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    def record(graph_module, example_inputs):
        for node in graph_module.graph.nodes:
            if node.op == "call_function" and str(node.target).startswith("torchddsp."):
                seen.add(str(node.target).split(".")[1])
        return make_boxed_func(graph_module.forward)

    return aot_autograd(fw_compiler=record, bw_compiler=record)


def _rand(*shape, scale=1.0):
    return (scale * torch.randn(*shape, dtype=torch.float64)).requires_grad_()


def _coefficients(*shape):
    """``(*lead, p)`` coefficients ``a_1 .. a_p`` of stable filters, requiring grad."""
    return torch.from_numpy(random_stable_filter(shape[-1], 0, shape=shape[:-1])[1][..., 1:]).requires_grad_()


def _monic(a):
    return torch.cat([torch.ones_like(a[..., :1]), a], dim=-1)


def _loss(out):
    outs = out if isinstance(out, tuple) else (out,)
    return sum((o * torch.linspace(-1, 1, o.shape[-1], dtype=o.dtype)).square().sum() for o in outs)


torch.manual_seed(0)
CASES = {
    "lfilter-lti": (lambda b, a, x, zi: lfilter(b, _monic(a), x, zi), ["lti_filter", "lti_filter_backward"],
                    lambda: (_rand(2, 3), _coefficients(2, 2), _rand(2, 64), _rand(2, 2))),
    "lfilter-frames": (lambda b, a, x, zi: lfilter(b, _monic(a), x, zi), ["ltv_allpole", "ltv_allpole_backward"],
                       lambda: (_rand(2, 8, 3), _coefficients(2, 8, 2), _rand(2, 64), _rand(2, 4))),
    "sosfilt": (lambda sos, x: sosfilt(sos, x), ["lti_filter", "lti_filter_backward"],
                lambda: (torch.cat([_rand(3, 3).detach(), _monic(_coefficients(3, 2)).detach()], -1).requires_grad_(),
                         _rand(2, 64))),
    "sosfilt-steady-state": (lambda sos, x: sosfilt(sos, x, sosfilt_zi(sos) * x[..., :1, None]),
                             ["lti_filter", "lti_filter_backward"],
                             lambda: (torch.cat([_rand(2, 3).detach(), _monic(_coefficients(2, 2)).detach()], -1)
                                      .requires_grad_(), _rand(3, 64))),
    "allpole-lti": (lambda x, a, y0: allpole(x, a, y0), ["lti_filter", "lti_filter_backward"],
                    lambda: (_rand(2, 64), _coefficients(2, 5), _rand(2, 5))),
    "allpole-per-sample": (lambda x, a, y0: allpole(x, a, y0), ["ltv_allpole", "ltv_allpole_backward"],
                           lambda: (_rand(2, 64), _coefficients(2, 64, 5), _rand(2, 5))),
    "allpass-cascade": (lambda c, x: allpass_cascade(x, c), ["ltv_allpole", "ltv_allpole_backward"],
                        lambda: ((0.8 * torch.rand(2, 64, 3, dtype=torch.float64) - 0.4).requires_grad_(),
                                 _rand(2, 64))),
    "phaser-exact": (lambda f, x: phaser_exact(x, f, 16000.0, feedback=0.5), [],   # a state-space scan, no kernel
                     lambda: ((100 + 3000 * torch.rand(2, 64, 4, dtype=torch.float64)).requires_grad_(),
                              _rand(2, 64))),
    "state-variable-filter": (lambda f, x: state_variable_filter(x, f, 0.5, 16000.0),
                              ["lti_filter", "lti_filter_backward"],
                              lambda: ((100 + 3000 * torch.rand(2, 4, dtype=torch.float64)).requires_grad_(),
                                       _rand(2, 64))),
    "parametric-eq": (lambda f, x: sosfilt(parametric_eq(["lowshelf", "peak"], f,
                                                          torch.tensor([3.0, -6.0], dtype=f.dtype),
                                                          torch.tensor([0.7, 2.0], dtype=f.dtype), 16000.0), x),
                      ["lti_filter", "lti_filter_backward"],
                      lambda: (torch.tensor([200.0, 1000.0], dtype=torch.float64, requires_grad=True), _rand(2, 64))),
    "lpc-synthesis-lpc": (lambda e, a: lpc_synthesis(e, a, kind="lpc"), ["ltv_allpole", "ltv_allpole_backward"],
                          lambda: (_rand(2, 64), _coefficients(2, 4, 6))),
    "lpc-synthesis-reflection": (lambda e, k, s0: lpc_synthesis(e, k, kind="reflection", state=s0,
                                                                interpolation="linear"),
                                 ["lattice", "lattice_backward"],
                                 lambda: (_rand(2, 64), _rand(2, 4, 6, scale=0.3), _rand(2, 6))),
}


PURE = ["lfilter-lti", "allpole-per-sample", "lpc-synthesis-lpc", "lpc-synthesis-reflection"]    # one per scan


@pytest.mark.parametrize("name, kernel_backend",
                         [(name, "compiled") for name in CASES] + [(name, "pure") for name in PURE])
def test_fullgraph_forward_and_backward_match_eager(name, kernel_backend):
    fn, expected_ops, make_inputs = CASES[name]
    torch.manual_seed(1)
    inputs = make_inputs()
    seen = set()
    torch._dynamo.reset()
    with use_backend(kernel_backend):
        compiled = torch.compile(fn, fullgraph=True, backend=_recording_backend(seen))
        out = compiled(*inputs)
        grads = torch.autograd.grad(_loss(out), inputs)
        ref = fn(*inputs)
        ref_grads = torch.autograd.grad(_loss(ref), inputs)
    expected = set(expected_ops) if kernel_backend == "compiled" else set()
    assert seen == expected, f"expected {sorted(expected)} in the compiled graphs, found {sorted(seen)}"
    for got, want in zip(out if isinstance(out, tuple) else (out,), ref if isinstance(ref, tuple) else (ref,)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_decoder_inference_compiles_with_the_gru_kernel():
    torch.manual_seed(0)
    decoder = Decoder(hidden=16, mlp_layers=1, n_harmonics=5, n_noise_bands=4).eval()
    f0, loudness = torch.rand(1, 50, 1), torch.randn(1, 50, 1)
    state = torch.randn(1, 1, 16)
    seen = set()
    torch._dynamo.reset()
    compiled = torch.compile(decoder, fullgraph=True, backend=_recording_backend(seen))
    with torch.no_grad():
        logits, new_state = compiled(f0, loudness, state=state)
        ref_logits, ref_state = decoder(f0, loudness, state=state)
    assert "gru_recurrence" in seen
    for key in ref_logits:
        torch.testing.assert_close(logits[key], ref_logits[key], rtol=0, atol=1e-6)
    torch.testing.assert_close(new_state, ref_state, rtol=0, atol=1e-6)


def test_inductor_end_to_end_on_lfilter():
    torch.manual_seed(2)
    b, a, x = _rand(3, 3), _coefficients(3, 2), _rand(3, 256).detach().float()
    torch._dynamo.reset()

    def fn(b, a, x):
        return lfilter(b.float(), _monic(a).float(), x)

    out = torch.compile(fn, fullgraph=True)(b, a, x)
    grads = torch.autograd.grad(out.square().sum(), (b, a))
    ref = fn(b, a, x)
    ref_grads = torch.autograd.grad(ref.square().sum(), (b, a))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_decoder_training_compiles_through_nn_gru():
    """Training takes ``nn.GRU.forward``; Dynamo traces it because ``FastGRU`` is no ``nn.GRU`` instance."""
    torch.manual_seed(0)
    decoder = Decoder(hidden=16, mlp_layers=1, n_harmonics=5, n_noise_bands=4)
    f0, loudness = torch.rand(2, 30, 1), torch.randn(2, 30, 1)

    def loss(f0, loudness):
        return sum(v.square().mean() for v in decoder(f0, loudness).values())

    seen = set()
    torch._dynamo.reset()
    value = torch.compile(loss, fullgraph=True, backend=_recording_backend(seen))(f0, loudness)
    grads = torch.autograd.grad(value, list(decoder.parameters()))
    ref = loss(f0, loudness)
    ref_grads = torch.autograd.grad(ref, list(decoder.parameters()))
    assert not seen                                   # no compiled kernel while training
    torch.testing.assert_close(value, ref, rtol=1e-6, atol=1e-6)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
