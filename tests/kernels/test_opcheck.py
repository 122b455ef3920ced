"""``torch.library.opcheck`` on every ``torchddsp::`` custom op: schema, fake (meta) function,
autograd registration and AOT dispatch, in float32/float64, batched, shared rows and zero length."""

from __future__ import annotations

import pytest
import torch

from helpers import DTYPES, random_stable_filter
from torchddsp.kernels import allpole_ops, gru_ops, lattice_ops
from torchddsp.kernels.backend import NUMBA_AVAILABLE

pytestmark = pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba is not installed (the ops wrap numba kernels)")

TIMES = [pytest.param(37, id="time37"), pytest.param(0, id="time0")]


def _stable_rows(rows: int, order: int, dtype) -> torch.Tensor:
    """``(rows, order)`` coefficients ``a_1 .. a_p`` of stable filters."""
    return torch.from_numpy(random_stable_filter(order, rows, shape=(rows,))[1][:, 1:]).to(dtype)


def _check(op, args) -> None:
    result = torch.library.opcheck(op, args)
    assert all(outcome == "SUCCESS" for outcome in result.values()), result


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("time", TIMES)
@pytest.mark.parametrize("x_rows, coeff_rows, order", [(3, 3, 2), (3, 1, 6), (1, 3, 4)])
def test_lti_filter(dtype, time, x_rows, coeff_rows, order):
    torch.manual_seed(0)
    grad = time > 0
    x = torch.randn(x_rows, time, dtype=dtype, requires_grad=grad)
    b = torch.randn(coeff_rows, 3, dtype=dtype, requires_grad=grad)
    a = _stable_rows(coeff_rows, order, dtype).requires_grad_(grad)
    head = torch.randn(1, min(order, time), dtype=dtype, requires_grad=grad)
    _check(allpole_ops.lti_filter, (x, b, a, head))
    batch = max(x_rows, coeff_rows)
    y = allpole_ops.lti_filter(x, b, a, head)
    _check(allpole_ops.lti_filter_backward, (torch.randn(batch, time, dtype=dtype), x.detach(), y.detach(),
                                             b.detach(), a.detach(), head.shape[1]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("time", TIMES)
@pytest.mark.parametrize("v_rows, a_rows, hop, order", [(2, 2, 1, 3), (2, 1, 4, 6), (1, 2, 37, 1)])
def test_ltv_allpole(dtype, time, v_rows, a_rows, hop, order):
    torch.manual_seed(0)
    frames = time // hop
    time = frames * hop                       # a whole number of frames
    grad = time > 0
    v = torch.randn(v_rows, time, dtype=dtype, requires_grad=grad)
    a = _stable_rows(a_rows * frames, order, dtype).reshape(a_rows, frames, order).requires_grad_(grad)
    head = torch.randn(v_rows, min(order, time), dtype=dtype, requires_grad=grad)
    _check(allpole_ops.ltv_allpole, (v, a, head, hop))
    y = allpole_ops.ltv_allpole(v, a, head, hop)
    for coefficient_grad in (True, False):
        _check(allpole_ops.ltv_allpole_backward, (torch.randn_like(y), y.detach(), a.detach(), head.shape[1], hop,
                                                  coefficient_grad))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("time", TIMES)
@pytest.mark.parametrize("steps", ["fixed", "per-sample"])
def test_lattice(dtype, time, steps):
    torch.manual_seed(0)
    grad = time > 0
    batch, order = 2, 5
    k = 1.8 * torch.rand(batch, 1 if steps == "fixed" else time, order, dtype=dtype) - 0.9
    c = torch.sqrt(1 - k * k)
    x = torch.randn(batch, time, dtype=dtype, requires_grad=grad)
    s0 = torch.randn(batch, order, dtype=dtype, requires_grad=grad)
    _check(lattice_ops.lattice, (x, k.requires_grad_(grad), c.requires_grad_(grad), s0))
    y, final, states = lattice_ops.lattice(x, k, c, s0)
    _check(lattice_ops.lattice_backward, (torch.randn_like(y), torch.randn_like(final), x.detach(), k.detach(),
                                          c.detach(), s0.detach(), states))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("time", TIMES)
@pytest.mark.parametrize("batch", [1, 3])
def test_gru_recurrence(dtype, time, batch):
    torch.manual_seed(0)
    hidden = 8
    gates = torch.randn(batch, time, 3 * hidden, dtype=dtype)
    w_hh = torch.randn(3 * hidden, hidden, dtype=dtype) / hidden ** 0.5
    _check(gru_ops.gru_recurrence, (gates, w_hh, torch.randn(3 * hidden, dtype=dtype),
                                    torch.randn(batch, hidden, dtype=dtype)))
