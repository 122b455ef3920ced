"""The one backend choice: ``set_backend`` / ``use_backend`` route every recursion to the compiled
custom ops or to the pure path, per-call ``backend=`` overrides it, and mistakes raise ``ValueError``."""

from __future__ import annotations

import pytest
import torch

from torchddsp.functional.filters.iir import allpole, lfilter
from torchddsp.functional.filters.lpc import lpc_synthesis
from torchddsp.kernels import allpole_ops, get_backend, gru_ops, lattice_ops, set_backend, use_backend, use_compiled
from torchddsp.kernels.backend import NUMBA_AVAILABLE
from torchddsp.models.gru import FastGRU

needs_numba = pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba is not installed")


KERNELS = {"lti_filter": allpole_ops, "ltv_allpole": allpole_ops, "lattice": lattice_ops, "gru_recurrence": gru_ops}


def _kernels_run(fn, monkeypatch) -> set:
    """The compiled kernels that ``fn()`` ran, as the op's body or through the dispatcher."""
    ran = set()
    for name, module in KERNELS.items():
        body = getattr(module, f"{name}_kernel")
        monkeypatch.setattr(module, f"{name}_kernel", lambda *args, name=name, body=body: ran.add(name) or body(*args))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    monkeypatch.undo()
    return ran | {e.name.split("::")[1] for e in prof.events() if e.name.startswith("torchddsp::")}


def _calls():
    x = torch.randn(2, 40)
    a = 0.1 * torch.randn(2, 3)
    k = 0.5 * torch.rand(2, 4, 3)
    gru = FastGRU(3, 5, batch_first=True)
    return {
        "lti_filter": lambda: lfilter(torch.ones(1), torch.tensor([1.0, -0.5]), x),
        "ltv_allpole": lambda: allpole(x, a[:, None, :].expand(2, 40, 3)),
        "lattice": lambda: lpc_synthesis(x, k, kind="reflection"),
        "gru_recurrence": lambda: gru(torch.randn(1, 7, 3)),
    }


@needs_numba
def test_auto_runs_the_compiled_kernels_and_pure_runs_none(monkeypatch):
    assert get_backend() == "auto"
    with torch.no_grad():
        for op, run in _calls().items():
            assert _kernels_run(run, monkeypatch) == {op}, f"auto: {op} did not run"
            with use_backend("pure"):
                assert get_backend() == "pure"
                assert not _kernels_run(run, monkeypatch), f"pure: a compiled kernel ran for {op}"
            assert get_backend() == "auto"


@needs_numba
def test_per_call_backend_overrides_the_library_choice(monkeypatch):
    x, a = torch.randn(2, 40), torch.tensor([0.3, -0.2])
    with use_backend("pure"):
        assert _kernels_run(lambda: allpole(x, a, backend="compiled"), monkeypatch) == {"lti_filter"}
    assert not _kernels_run(lambda: allpole(x, a, backend="pure"), monkeypatch)


@needs_numba
def test_call_skips_the_dispatcher_only_when_nothing_needs_a_gradient():
    x, a = torch.randn(2, 40), torch.tensor([0.3, -0.2], requires_grad=True)

    def dispatched(fn):
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            fn()
        return any(e.name == "torchddsp::lti_filter" for e in prof.events())

    assert dispatched(lambda: allpole(x, a))                  # a requires grad: the op and its autograd formula
    with_grad = allpole(x, a).detach()
    with torch.no_grad():
        assert not dispatched(lambda: allpole(x, a))          # inference: the kernel's body, same values
        torch.testing.assert_close(allpole(x, a), with_grad, rtol=0, atol=0)


def test_set_backend_persists_and_use_backend_restores_after_an_error():
    previous = get_backend()
    try:
        set_backend("pure")
        assert get_backend() == "pure"
        with pytest.raises(RuntimeError), use_backend("auto"):
            assert get_backend() == "auto"
            raise RuntimeError("inside the block")
        assert get_backend() == "pure"
    finally:
        set_backend(previous)


def test_auto_is_pure_where_nothing_is_compiled():
    assert not use_compiled(torch.device("cpu"), torch.float16)
    assert not use_compiled(torch.device("meta"), torch.float32)
    assert use_compiled(torch.device("cpu"), torch.float32) == NUMBA_AVAILABLE


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="backend: expected one of .*received 'numba'"):
        set_backend("numba")
    with pytest.raises(ValueError, match="backend: expected one of .*received 'scan'"):
        allpole(torch.randn(5), torch.tensor([0.5]), backend="scan")
    with pytest.raises(ValueError, match="backend: 'compiled' needs .*float32/float64 CPU tensors.*float16"):
        allpole(torch.randn(5, dtype=torch.float16), torch.tensor([0.5], dtype=torch.float16), backend="compiled")
    assert get_backend() == "auto"
