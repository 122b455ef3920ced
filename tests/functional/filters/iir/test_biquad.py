"""Tests for torchddsp.functional.filters.iir.biquad: stability-guaranteeing parameterisations (review Table 2).

References: the published activations transcribed in float64 NumPy, polynomial roots from
``numpy.roots``, and ``scipy.signal.lfilter``. Property tests (hypothesis) push arbitrary and huge
(+-1e4) raw values through every parameterisation and check strict stability and finite values and
gradients when filtering 10 s of audio at 16 kHz.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import (
    DEVICES,
    DTYPES,
    assert_finite,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
)
from torchddsp.functional.filters.iir.biquad import (
    DEFAULT_MAX_RADIUS,
    conjugate_pole_zero,
    first_order_activation,
    first_order_direct,
    pole_activation,
    second_order_direct,
    to_sos,
    triangle_activation,
)
from torchddsp.functional.filters.iir.lfilter import lfilter
from torchddsp.functional.filters.iir.sosfilt import sosfilt

RNG = np.random.default_rng(7)
FS = 16000
NOISE = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, 10 * FS))     # 10 s at 16 kHz


def max_pole_radius(a: torch.Tensor) -> float:
    rows = a.detach().double().cpu().reshape(-1, a.shape[-1]).numpy()
    return max((np.abs(np.roots(row)).max(initial=0.0) for row in rows), default=0.0)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ----------------------------------------------------------------------------- parity with the published equations

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_triangle_activation_matches_published_formula(device, dtype):
    u = RNG.standard_normal((2, 50)) * 3
    a1, a2 = triangle_activation(torch.tensor(u[0], dtype=dtype, device=device),
                                 torch.tensor(u[1], dtype=dtype, device=device), max_radius=1.0)
    a1_ref = 2 * np.tanh(u[0])
    a2_ref = 0.5 * ((2 - np.abs(a1_ref)) * np.tanh(u[1]) + np.abs(a1_ref))
    assert_matches_reference(a1, a1_ref)
    assert_matches_reference(a2, a2_ref)
    # max_radius scales the poles: the roots are rho times those of the unscaled pair
    rho = 0.9
    s1, s2 = triangle_activation(torch.tensor(u[0]), torch.tensor(u[1]), max_radius=rho)
    for i in range(0, 50, 7):
        roots = np.sort_complex(np.roots([1.0, s1[i].item(), s2[i].item()]))
        assert_matches_reference(torch.tensor(roots), rho * np.sort_complex(np.roots([1.0, a1_ref[i], a2_ref[i]])),
                                 atol=1e-7, rtol=1e-6)


def test_triangle_activation_reaches_every_stable_biquad():
    """Round trip: any (a1, a2) in the open triangle of radius rho has logits that map onto it."""
    rho = DEFAULT_MAX_RADIUS
    roots = RNG.uniform(-1, 1, (200, 2)) * 0.999       # real pairs
    polar = RNG.uniform(0, 0.999, 200) * np.exp(1j * RNG.uniform(0, np.pi, 200))
    a1 = np.r_[-(roots.sum(1)), -2 * polar.real] * rho
    a2 = np.r_[roots.prod(1), np.abs(polar) ** 2] * rho ** 2
    p1, p2 = a1 / rho, a2 / rho ** 2
    u1 = np.arctanh(p1 / 2)
    u2 = np.arctanh((2 * p2 - np.abs(p1)) / (2 - np.abs(p1)))
    b1, b2 = triangle_activation(torch.tensor(u1), torch.tensor(u2), max_radius=rho)
    assert_matches_reference(b1, a1, atol=1e-9)
    assert_matches_reference(b2, a2, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pole_activation_matches_published_formula(dtype):
    p = RNG.standard_normal(60) * 4 + 1j * RNG.standard_normal(60) * 4
    p[0] = 0.0
    p[1] = 1e-5 + 0j                                    # the small-modulus branch
    re, im = pole_activation(torch.tensor(p.real, dtype=dtype), torch.tensor(p.imag, dtype=dtype), max_radius=0.95)
    modulus = np.maximum(np.abs(p), 1e-300)
    expected = 0.95 * p * np.tanh(modulus) / modulus
    assert_matches_reference(re, expected.real)
    assert_matches_reference(im, expected.imag)


def test_pole_activation_gradient_at_the_origin_is_the_limit():
    zero = torch.zeros(2, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: torch.stack(pole_activation(v[0], v[1], max_radius=0.9)), zero)
    assert_matches_reference(jac, 0.9 * np.eye(2))


@pytest.mark.parametrize("form", ["cartesian", "polar"])
@pytest.mark.parametrize("zero_activation", ["free", "squash"])
def test_conjugate_pole_zero_matches_polynomial_from_roots(form, zero_activation):
    rho = 0.98
    gain = RNG.standard_normal(10)
    zero_raw = RNG.standard_normal((10, 2)) * 2
    pole_raw = RNG.standard_normal((10, 2)) * 2
    b, a = conjugate_pole_zero(torch.tensor(gain), torch.tensor(zero_raw), torch.tensor(pole_raw), form=form,
                               zero_activation=zero_activation, max_radius=rho)

    def squash(c, radius):
        return radius * c * np.tanh(np.abs(c)) / np.abs(c)

    if form == "cartesian":
        q = zero_raw[:, 0] + 1j * zero_raw[:, 1]
        q = squash(q, 1.0) if zero_activation == "squash" else q
        p = squash(pole_raw[:, 0] + 1j * pole_raw[:, 1], rho)
    else:
        q_radius = sigmoid(zero_raw[:, 0]) if zero_activation == "squash" else zero_raw[:, 0]
        q = q_radius * np.exp(1j * zero_raw[:, 1])
        p = rho * sigmoid(pole_raw[:, 0]) * np.exp(1j * pole_raw[:, 1])
    b_ref = np.stack([g * np.poly([z, np.conj(z)]).real for g, z in zip(gain, q)])
    a_ref = np.stack([np.poly([z, np.conj(z)]).real for z in p])
    assert_matches_reference(b, b_ref)
    assert_matches_reference(a, a_ref)
    assert max_pole_radius(a) < rho
    if zero_activation == "squash":
        assert max_pole_radius(b / b[..., :1]) <= 1.0 + 1e-12


def test_direct_forms_pass_numerators_and_filter_like_scipy():
    b = RNG.standard_normal((3, 3))
    logits = RNG.standard_normal((3, 2))
    bb, a = second_order_direct(torch.tensor(b), torch.tensor(logits))
    assert torch.equal(bb, torch.tensor(b))
    x = RNG.standard_normal(300)
    y = lfilter(bb, a, torch.tensor(x).expand(3, 300))
    assert_matches_reference(y, np.stack([scipy.signal.lfilter(b[i], a[i].numpy(), x) for i in range(3)]))
    b1, a1 = first_order_direct(torch.tensor(b[:, :2]), torch.tensor(logits[:, :1]), max_radius=0.5)
    assert_matches_reference(a1, np.stack([np.ones(3), 0.5 * np.tanh(logits[:, 0])], axis=-1))
    assert_matches_reference(first_order_activation(torch.tensor(logits), max_radius=0.5), 0.5 * np.tanh(logits))


def test_to_sos_pads_and_runs_through_sosfilt():
    b, a = first_order_direct(torch.tensor([[0.5, 0.5]]), torch.tensor([[0.3]]))
    b2, a2 = second_order_direct(torch.tensor([[1.0, 0.2, 0.1]]), torch.tensor([[0.5, -0.4]]))
    sos = torch.cat([to_sos(b, a), to_sos(b2, a2)], dim=0)
    assert sos.shape == (2, 6) and bool((sos[0, [2, 5]] == 0).all())
    x = RNG.standard_normal(200)
    expected = scipy.signal.lfilter(b2[0].numpy(), a2[0].numpy(), scipy.signal.lfilter(b[0].numpy(), a[0].numpy(), x))
    assert_matches_reference(sosfilt(sos, torch.tensor(x, dtype=torch.float32)), expected)


# ----------------------------------------------------------------------------- gradients and batches

def test_gradcheck_every_parameterisation():
    def raw(*shape):
        return torch.randn(*shape, dtype=torch.float64, requires_grad=True)

    check_gradcheck(lambda u: first_order_activation(u), [raw(4)])
    check_gradcheck(lambda u1, u2: triangle_activation(u1, u2), [raw(4), raw(4)])
    check_gradcheck(lambda re, im: pole_activation(re, im), [raw(4), raw(4)])
    check_gradcheck(lambda re, im: pole_activation(re, im), [torch.zeros(2, dtype=torch.float64, requires_grad=True),
                                                             torch.tensor([0.0, 1e-6], dtype=torch.float64,
                                                                          requires_grad=True)])
    check_gradcheck(lambda b, u: first_order_direct(b, u), [raw(3, 2), raw(3, 1)])
    check_gradcheck(lambda b, u: second_order_direct(b, u), [raw(3, 3), raw(3, 2)])
    for form in ("cartesian", "polar"):
        for zero_activation in ("free", "squash"):
            check_gradcheck(lambda g, q, p: conjugate_pole_zero(g, q, p, form=form, zero_activation=zero_activation),
                            [raw(3), raw(3, 2), raw(3, 2)])
    check_gradcheck(to_sos, [raw(2, 2), raw(2, 3)])


def test_batch_consistency():
    check_batch_consistency(second_order_direct, [torch.randn(3, 3), torch.randn(3, 2)])
    check_batch_consistency(lambda g, q, p: conjugate_pole_zero(g, q, p, form="polar"),
                            [torch.randn(3), torch.randn(3, 2), torch.randn(3, 2)])


# ----------------------------------------------------------------------------- property tests: always stable

HUGE = st.sampled_from([-1e4, 1e4, -50.0, 50.0, 0.0])
RAW = st.one_of(st.floats(-1e4, 1e4, allow_nan=False), HUGE)
BATCH = 3


def build(kind: str, raw: torch.Tensor):
    """(b, a) of every parameterisation from a (BATCH, 5) raw tensor."""
    if kind == "first_order":
        return first_order_direct(raw[:, :2], raw[:, 2:3])
    if kind == "second_order":
        return second_order_direct(raw[:, :3], raw[:, 3:5])
    form, zeros = kind.split("-")[1:]
    return conjugate_pole_zero(raw[:, 0], raw[:, 1:3], raw[:, 3:5], form=form, zero_activation=zeros)


KINDS = ["first_order", "second_order", "pz-cartesian-free", "pz-cartesian-squash", "pz-polar-free",
         "pz-polar-squash"]


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=4, deadline=None)
@given(values=st.lists(RAW, min_size=BATCH * 5, max_size=BATCH * 5), double=st.booleans())
def test_any_raw_output_gives_strictly_stable_filter_and_finite_training(kind, values, double):
    dtype = torch.float64 if double else torch.float32
    raw = torch.tensor(values, dtype=dtype).reshape(BATCH, 5)
    b, a = build(kind, raw)
    radius = max_pole_radius(a)
    assert radius < 1.0, f"{kind}: pole radius {radius!r} from raw values {values}"
    if double:   # np.roots resolves a (near-)double pole only to ~sqrt(eps) = 1.5e-8
        assert radius <= DEFAULT_MAX_RADIUS * (1 + 1e-7)
    x = NOISE.to(dtype).expand(BATCH, -1)
    leaf = raw.clone().requires_grad_()
    check_finite_gradients(lambda r: lfilter(*build(kind, r), x), [leaf])


@settings(max_examples=8, deadline=None)
@given(values=st.lists(RAW, min_size=2, max_size=2), rho=st.sampled_from([0.5, 0.9, 0.999, 1.0 - 1e-6]))
def test_triangle_corners_stay_inside_in_float64(values, rho):
    a1, a2 = triangle_activation(torch.tensor(values[0], dtype=torch.float64),
                                 torch.tensor(values[1], dtype=torch.float64), max_radius=rho)
    # the stability triangle with margin: |a2| < 1 and |a1| < 1 + a2
    assert abs(a2.item()) < 1 and abs(a1.item()) < 1 + a2.item()
    assert max_pole_radius(torch.stack([torch.ones_like(a1), a1, a2])) < 1.0


# ----------------------------------------------------------------------------- edge cases and errors

def test_saturated_published_activation_is_marginal_which_is_why_max_radius_exists():
    a1, a2 = triangle_activation(torch.tensor(1e4), torch.tensor(1e4), max_radius=1.0)
    assert a1.item() == 2.0 and a2.item() == 1.0                # double pole on the unit circle
    a1, a2 = triangle_activation(torch.tensor(1e4), torch.tensor(1e4))
    assert max_pole_radius(torch.stack([torch.ones_like(a1), a1, a2])) < 1.0


def test_long_render_with_saturated_logits_is_finite():
    b, a = second_order_direct(torch.ones(2, 3), torch.tensor([[1e4, 1e4], [-1e4, 1e4]]))
    y = lfilter(b, a, NOISE.float().expand(2, -1))
    assert_finite(y)


@pytest.mark.parametrize("call, match", [
    (lambda: first_order_activation(torch.zeros(2), max_radius=1.5), "max_radius"),
    (lambda: triangle_activation(torch.zeros(2), torch.zeros(2), max_radius=0.0), "max_radius"),
    (lambda: second_order_direct(torch.zeros(2, 2), torch.zeros(2, 2)), "b"),
    (lambda: second_order_direct(torch.zeros(2, 3), torch.zeros(2, 3)), "a_logits"),
    (lambda: first_order_direct(torch.zeros(3), torch.zeros(1)), "b"),
    (lambda: conjugate_pole_zero(torch.zeros(2), torch.zeros(2, 2), torch.zeros(2, 2), form="bad"), "form"),
    (lambda: conjugate_pole_zero(torch.zeros(2), torch.zeros(2, 2), torch.zeros(2, 2), zero_activation="x"),
     "zero_activation"),
    (lambda: conjugate_pole_zero(torch.zeros(2), torch.zeros(2, 3), torch.zeros(2, 2)), "zero"),
    (lambda: pole_activation(torch.zeros(2, dtype=torch.complex64), torch.zeros(2)), "real"),
    (lambda: to_sos(torch.zeros(2, 4), torch.zeros(2, 3)), "b"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
