"""Tests for torchddsp.functional.filters.lpc.sections: LPC polynomial <-> second-order sections.

References (float64, outside the project): ``numpy.roots`` for the poles, ``numpy.polymul`` for
the product of sections, ``scipy.signal.sosfilt`` of our sections against
``scipy.signal.lfilter`` of the polynomial.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from helpers import (
    DEVICES,
    DTYPES,
    assert_matches_reference,
    check_batch_consistency,
    check_gradcheck,
    seeded_randn,
    to_numpy,
)
from torchddsp.functional.filters.lpc import lpc_to_sos, reflection_to_lpc, sos_to_lpc


def _poly_from_roots(complex_pairs, reals):
    """Direct-form a_1..a_p (numpy, float64) with the given upper-half-plane roots and real roots."""
    roots = [r for z in complex_pairs for r in (z, np.conj(z))] + list(reals)
    return np.real(np.poly(roots))[1:]


def _section_roots(sos: np.ndarray) -> np.ndarray:
    """All roots of the section denominators (first-order sections contribute one root)."""
    out = []
    for s in sos:
        den = s[3:]
        out.extend(np.roots(den[:2]) if den[2] == 0 else np.roots(den))
    return np.asarray(out)


def _sorted_roots(r: np.ndarray) -> np.ndarray:
    return np.asarray(sorted(r, key=lambda z: (round(z.real, 6), round(z.imag, 6))))


# ----------------------------------------------------------------------------- parity

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", [1, 2, 3, 6, 9, 16])
def test_section_roots_match_numpy_roots(device, dtype, order):
    a = reflection_to_lpc(0.85 * torch.tanh(seeded_randn(4, order, seed=order)))
    sos = lpc_to_sos(a.to(dtype=dtype, device=device))
    assert sos.shape == (4, (order + 1) // 2, 6) and sos.dtype == dtype and sos.device.type == device
    for b in range(4):
        ours = _sorted_roots(_section_roots(to_numpy(sos[b]).astype(np.float64)))
        ref = _sorted_roots(np.roots(np.r_[1.0, a[b].numpy()]))
        assert len(ours) == order
        tol = 2e-3 if dtype == torch.float32 else 1e-8
        np.testing.assert_allclose(ours, ref, atol=tol, err_msg="section roots differ from numpy.roots")


@pytest.mark.parametrize("order", [1, 2, 5, 8, 16])
def test_sosfilt_of_sections_equals_lfilter_of_polynomial(order):
    a = reflection_to_lpc(0.8 * torch.tanh(seeded_randn(3, order, seed=10 + order)))
    sos = lpc_to_sos(a)
    x = seeded_randn(500, seed=1).numpy()
    for b in range(3):
        y = scipy.signal.sosfilt(sos[b].numpy(), x)
        ref = scipy.signal.lfilter([1.0], np.r_[1.0, a[b].numpy()], x)
        assert_matches_reference(torch.from_numpy(y), ref, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", [1, 2, 3, 7, 12])
def test_sos_to_lpc_matches_polymul_and_round_trips(dtype, order):
    a = reflection_to_lpc(0.8 * torch.tanh(seeded_randn(2, order, seed=20 + order))).to(dtype)
    sos = lpc_to_sos(a)
    back = sos_to_lpc(sos, order)
    for b in range(2):
        ref = np.array([1.0])
        for s in to_numpy(sos[b]).astype(np.float64):
            ref = np.polymul(ref, s[3:] / s[3])
        assert_matches_reference(sos_to_lpc(sos[b]), ref[1:], dtype=dtype)
    assert_matches_reference(back, to_numpy(a).astype(np.float64), rtol=1e-3 if dtype == torch.float32 else 1e-9,
                             atol=1e-4 if dtype == torch.float32 else 1e-10)


def test_grouping_pairs_then_real_roots():
    """Conjugate pairs by increasing angle, then real roots in decreasing order, paired neighbours."""
    pairs = [0.9 * np.exp(1j * 2.0), 0.95 * np.exp(1j * 0.3)]
    reals = [-0.5, 0.7, 0.2]
    a = torch.from_numpy(_poly_from_roots(pairs, reals))
    sos = lpc_to_sos(a).numpy()
    expected = np.array([
        [1, 0, 0, 1, -2 * 0.95 * np.cos(0.3), 0.95 ** 2],
        [1, 0, 0, 1, -2 * 0.9 * np.cos(2.0), 0.9 ** 2],
        [1, 0, 0, 1, -(0.7 + 0.2), 0.7 * 0.2],
        [1, 0, 0, 1, 0.5, 0.0],
    ])
    assert_matches_reference(torch.from_numpy(sos), expected, rtol=1e-9, atol=1e-10)


def test_batch_with_different_numbers_of_real_roots():
    """Items whose poles split differently into pairs and real roots batch correctly."""
    polys = [
        _poly_from_roots([0.9 * np.exp(0.5j), 0.8 * np.exp(1.5j)], []),          # 2 pairs
        _poly_from_roots([0.7 * np.exp(2.5j)], [0.6, -0.3]),                    # 1 pair, 2 real
        _poly_from_roots([], [0.9, 0.5, -0.2, -0.8]),                           # 4 real
    ]
    a = torch.from_numpy(np.stack(polys))
    check_batch_consistency(lpc_to_sos, [a], rtol=1e-10, atol=1e-12)
    x = seeded_randn(300, seed=2).numpy()
    sos = lpc_to_sos(a)
    for b in range(3):
        assert_matches_reference(torch.from_numpy(scipy.signal.sosfilt(sos[b].numpy(), x)),
                                 scipy.signal.lfilter([1.0], np.r_[1.0, polys[b]], x), rtol=1e-8, atol=1e-9)
    check_batch_consistency(sos_to_lpc, [sos], rtol=1e-12, atol=1e-14)


def test_gradcheck():
    # Distinct, well separated roots, none near the real axis changing type: a smooth neighbourhood.
    a = torch.from_numpy(_poly_from_roots([0.9 * np.exp(0.4j), 0.8 * np.exp(1.3j), 0.7 * np.exp(2.4j)], [0.5]))
    check_gradcheck(lpc_to_sos, [a.requires_grad_()])
    a_real = torch.from_numpy(_poly_from_roots([0.6 * np.exp(1.0j)], [0.8, -0.4, 0.1])).requires_grad_()
    check_gradcheck(lpc_to_sos, [a_real])
    sos = lpc_to_sos(a.detach())
    heads = sos[..., :4]                                    # [1, 0, 0, 1]: fixed by the all-pole layout
    den = sos[..., 4:].clone().requires_grad_()
    check_gradcheck(lambda d: sos_to_lpc(torch.cat([heads, d], dim=-1)), [den])
    scaled = (3.0 * sos[..., 3:]).requires_grad_()          # a0 != 1: normalised by a0 (numerator [a0, 0, 0])
    zeros = torch.zeros_like(sos[..., 1:3])
    check_gradcheck(lambda d: sos_to_lpc(torch.cat([d[..., :1], zeros, d], dim=-1)), [scaled])


def test_edge_cases():
    assert lpc_to_sos(torch.zeros(3, 0, dtype=torch.float64)).shape == (3, 0, 6)
    assert sos_to_lpc(torch.zeros(3, 0, 6, dtype=torch.float64)).shape == (3, 0)
    one = lpc_to_sos(torch.tensor([[0.4], [-0.9]], dtype=torch.float64))        # order 1: first-order section
    assert_matches_reference(one, np.array([[[1, 0, 0, 1, 0.4, 0]], [[1, 0, 0, 1, -0.9, 0]]]))
    silent = lpc_to_sos(torch.zeros(1, 4, dtype=torch.float64))                 # all poles at 0
    assert_matches_reference(sos_to_lpc(silent), np.zeros((1, 4)))
    unstable = torch.from_numpy(_poly_from_roots([1.2 * np.exp(0.7j)], [1.5]))   # works for unstable polynomials
    assert_matches_reference(sos_to_lpc(lpc_to_sos(unstable), 3), unstable.numpy(), rtol=1e-9, atol=1e-10)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="6 values per section"):
        sos_to_lpc(torch.zeros(2, 3, 5))
    sos = torch.tensor([[1.0, 0.5, 0.0, 1.0, 0.1, 0.2]])
    with pytest.raises(ValueError, match="all-pole"):
        sos_to_lpc(sos)
    with pytest.raises(ValueError, match="a0"):
        sos_to_lpc(torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.1, 0.2]]))
    with pytest.raises(ValueError, match="order"):
        sos_to_lpc(torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.1, 0.2]]), 3)
    with pytest.raises(ValueError, match="a: expected a real"):
        lpc_to_sos(torch.zeros(3, dtype=torch.complex64))
