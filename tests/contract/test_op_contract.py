"""Contract suites over every registered functional op (``op_registry.CASES``).

1. every public function of ``torchddsp.functional`` (and its submodules' ``__all__``) is
   registered or excluded with a reason;
2. ``gradcheck`` (float64) for every input the case calls differentiable;
3. a batch equals the loop over its items;
4. float32 agrees with float64 and keeps its dtype; runs on every device (CUDA when present);
5. streaming: blocks of 1, 3, 0 and 2 steps carrying the state equal one call
   (``helpers.assert_streaming_equivalent``);
6. ``torch.compile(fullgraph=True)`` forward and backward match eager, where claimed. The backend
   is ``aot_eager`` (dynamo capture without graph breaks, fake tensors and AOT autograd: what ops
   break on) to keep CI fast; ``TORCHDDSP_CONTRACT_COMPILE_BACKEND=inductor`` runs the full stack
   (every claiming op passed with inductor too: 149 s instead of 54 s on 2 cores);
7. ``torch.export.export`` captures the op and the program matches eager on new inputs, where claimed;
8. no NaN/inf in values or gradients on silence, and for extreme unconstrained inputs (hypothesis).
"""

from __future__ import annotations

import importlib
import os
import pkgutil

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.op_registry import CASES, EXCLUDED
from helpers import (
    DEVICES,
    DTYPES,
    assert_finite,
    assert_streaming_equivalent,
    check_batch_consistency,
    check_gradcheck,
)
from torchddsp import functional

BLOCKS = [1, 3, 0, 2]
COMPILE_BACKEND = os.environ.get("TORCHDDSP_CONTRACT_COMPILE_BACKEND", "aot_eager")


def _key(fn) -> str:
    """``module.name`` of a function, the module relative to ``torchddsp.functional``."""
    return f"{fn.__module__.removeprefix('torchddsp.functional.')}.{fn.__name__}"


def _public_ops() -> dict:
    modules = [functional] + [importlib.import_module(info.name)
                              for info in pkgutil.walk_packages(functional.__path__, "torchddsp.functional.")]
    ops = {}
    for module in modules:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if callable(obj) and not isinstance(obj, type) and getattr(obj, "__module__", "").startswith("torchddsp"):
                ops[_key(obj)] = obj                       # functions (not classes, type aliases)
    return ops


def _cast(kwargs: dict, dtype: torch.dtype, device="cpu") -> dict:
    """Floating tensors to ``dtype`` (complex ones to the matching complex dtype), all to ``device``."""
    complex_dtype = {torch.float32: torch.complex64, torch.float64: torch.complex128}[dtype]
    out = {}
    for name, value in kwargs.items():
        if isinstance(value, torch.Tensor):
            if value.is_complex():
                value = value.to(complex_dtype)
            elif value.is_floating_point():
                value = value.to(dtype)
            value = value.to(device)
        out[name] = value
    return out


def _build(case, batch=2, dtype=torch.float64, seed=0, device="cpu", build=None) -> dict:
    kwargs = (build or case.build)(batch, torch.Generator().manual_seed(seed))
    return _cast(kwargs, dtype, device)


def _as_tuple(result) -> tuple:
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def _weighted_sum(outputs) -> torch.Tensor:
    """A fixed random linear functional of the floating outputs (complex ones through real and imag)."""
    total = 0.0
    for i, out in enumerate(outputs):
        if not (out.is_floating_point() or out.is_complex()) or not out.requires_grad:
            continue
        real = torch.view_as_real(out) if out.is_complex() else out
        weight = torch.randn(real.shape, generator=torch.Generator().manual_seed(10 + i), dtype=real.dtype)
        total = total + (real * weight.to(real.device)).sum()
    return total


def _assert_outputs_close(actual, expected, rtol=1e-9, atol=1e-11, what="output"):
    for j, (a, e) in enumerate(zip(_as_tuple(actual), _as_tuple(expected), strict=True)):
        torch.testing.assert_close(a, e, rtol=rtol, atol=atol, msg=lambda m: f"{what} {j}: {m}")


@pytest.fixture(params=CASES, ids=str)
def case(request):
    return request.param


# ---------------------------------------------------------------------------------------- registry

def test_every_public_op_is_registered():
    """Every public function is registered or excluded, and no exclusion is stale or doubled."""
    public = _public_ops()
    assert len(public) > 50, f"walking torchddsp.functional found only {len(public)} public ops"
    registered = {_key(case.op) for case in CASES}
    missing = set(public) - registered - set(EXCLUDED)
    assert not missing, f"public ops without a contract case (register them in op_registry.py): {sorted(missing)}"
    stale = set(EXCLUDED) - set(public)
    assert not stale, f"excluded names that are not public ops: {sorted(stale)}"
    assert not set(EXCLUDED) & registered, f"ops both excluded and registered: {sorted(set(EXCLUDED) & registered)}"
    assert not registered - set(public), f"registered ops that are not public: {sorted(registered - set(public))}"


def test_case_names_are_unique_and_name_their_op():
    names = [case.name for case in CASES]
    assert len(set(names)) == len(names), "duplicate case names"
    for case in CASES:
        assert case.name.split("[")[0] == case.op.__name__, f"case {case.name!r} registers {case.op.__name__}"
        kwargs = _build(case)
        for name in (*case.differentiable, *case.silence, *case.extreme):
            assert isinstance(kwargs.get(name), torch.Tensor), f"{case.name}: {name!r} is not a built tensor input"


# ------------------------------------------------------------------------------- gradients, batch

@pytest.mark.parametrize("case", [c for c in CASES if c.differentiable], ids=str)
def test_gradcheck(case):
    """Analytic gradients equal finite differences (float64) for every differentiable input."""
    kwargs = _build(case, batch=1)
    names = case.differentiable

    def fn(*tensors):
        return case.run(dict(kwargs, **dict(zip(names, tensors))))

    check_gradcheck(fn, [kwargs[n].detach().clone().requires_grad_() for n in names])


def test_batch_equals_loop_over_items(case):
    """The op on a batch of 3 equals the op on each item, concatenated."""
    if not case.batch:
        pytest.skip(f"{case.name} does not claim batch consistency")
    kwargs = _build(case, batch=3)
    names = list(kwargs)
    axes = [0 if isinstance(kwargs[n], torch.Tensor) and n not in case.shared else None for n in names]
    check_batch_consistency(lambda *values: case.run(dict(zip(names, values))), [kwargs[n] for n in names],
                            batch_axes=axes, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_float32_agrees_with_float64(case, device):
    """float32 inputs give float32 outputs on the same device, close to the float64 result."""
    if not case.float32:
        pytest.skip(f"{case.name} does not claim float32 agreement")
    kwargs = _build(case)
    reference = _as_tuple(case.run(kwargs))
    single = _as_tuple(case.run(_cast(kwargs, torch.float32, device)))
    assert len(single) == len(reference)
    for index, (r, s) in enumerate(zip(reference, single)):
        assert s.device.type == device
        if not (r.is_floating_point() or r.is_complex()):
            torch.testing.assert_close(s.cpu(), r)
            continue
        float64 = case.float64_output is True or index in (case.float64_output or ())
        expected = r.dtype if float64 else {torch.float64: torch.float32,
                                                        torch.complex128: torch.complex64}[r.dtype]
        assert s.dtype == expected, f"float32 inputs gave a {s.dtype} output"
        scale = float(r.abs().max()) if r.numel() else 1.0
        torch.testing.assert_close(s.cpu().to(r.dtype), r, rtol=0, atol=case.float32_tol * max(scale, 1e-6))


# ------------------------------------------------------------------------------------- streaming

@pytest.mark.parametrize("case", [c for c in CASES if c.streaming], ids=str)
def test_streaming_equals_one_shot(case):
    """Blocks of 1, 3, 0 and 2 steps, each from the previous block's state, equal one call."""
    stream = case.streaming
    kwargs = _build(case, build=stream.build)
    steps = {kwargs[name].shape[axis] // per for name, (axis, per) in stream.sliced.items()}
    assert len(steps) == 1, f"sliced inputs disagree on the number of steps: {steps}"
    steps = steps.pop()

    def render(start, stop, state):
        part = dict(kwargs, **{stream.state: state})
        for name, (axis, per) in stream.sliced.items():
            part[name] = kwargs[name].narrow(axis, start * per, (stop - start) * per)
        result = (case.call or case.op)(**part)
        return stream.split(result, state) if stream.split else result

    initial = stream.initial(kwargs)
    assert_streaming_equivalent(render, steps, initial, BLOCKS, rtol=1e-9, atol=1e-11)
    if stream.state not in kwargs:
        # A state at rest is the default: one call with it equals one call without it.
        whole, _ = render(0, steps, initial)
        plain = (case.call or case.op)(**kwargs)
        torch.testing.assert_close(whole, plain, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------- compile, export

@pytest.mark.parametrize("case", [c for c in CASES if c.compile], ids=str)
def test_compile_fullgraph_matches_eager(case):
    """``torch.compile(fullgraph=True)`` gives the eager values and gradients (no graph break)."""
    torch._dynamo.reset()
    kwargs = _build(case)
    leaves = {n: kwargs[n].clone().requires_grad_() for n in case.differentiable}

    def fn(**tensors):
        return case.run(dict(kwargs, **tensors))

    compiled = torch.compile(fn, fullgraph=True, dynamic=False, backend=COMPILE_BACKEND)
    eager_out = _as_tuple(fn(**leaves))
    compiled_out = _as_tuple(compiled(**leaves))
    _assert_outputs_close(compiled_out, eager_out, what="compiled output")
    if leaves:
        eager_grads = torch.autograd.grad(_weighted_sum(eager_out), list(leaves.values()), allow_unused=True)
        compiled_grads = torch.autograd.grad(_weighted_sum(compiled_out), list(leaves.values()), allow_unused=True)
        for name, e, c in zip(leaves, eager_grads, compiled_grads):
            assert (e is None) == (c is None), f"gradient of {name}: eager {e is None}, compiled {c is None}"
            if e is not None:
                torch.testing.assert_close(c, e, rtol=1e-8, atol=1e-10, msg=lambda m: f"gradient of {name}: {m}")


@pytest.mark.parametrize("case", [c for c in CASES if c.export], ids=str)
def test_export_matches_eager(case):
    """``torch.export.export`` captures the op; the program equals eager, also on new input values."""
    kwargs = _build(case)
    names = [n for n, v in kwargs.items() if isinstance(v, torch.Tensor)]

    class Op(torch.nn.Module):
        def forward(self, *tensors):
            return case.run(dict(kwargs, **dict(zip(names, tensors))))

    program = torch.export.export(Op(), tuple(kwargs[n] for n in names))
    for seed in (0, 1):
        other = _build(case, seed=seed)
        args = tuple(other[n] for n in names)
        _assert_outputs_close(program.module()(*args), Op()(*args), what=f"exported output (inputs seed {seed})")


# ------------------------------------------------------------------------------------ finiteness

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [c for c in CASES if c.silence], ids=str)
def test_finite_on_silence(case, dtype):
    """Zero signals (amplitudes, magnitudes) give finite values and finite gradients."""
    kwargs = _build(case, dtype=dtype)
    for name in case.silence:
        kwargs[name] = torch.zeros_like(kwargs[name])
    _assert_finite_values_and_gradients(case, kwargs)


def _assert_finite_values_and_gradients(case, kwargs):
    leaves = {n: kwargs[n].detach().clone().requires_grad_() for n in case.differentiable}
    outputs = _as_tuple(case.run(dict(kwargs, **leaves)))
    for j, out in enumerate(outputs):
        if out.is_floating_point() or out.is_complex():
            assert_finite(out, f"output {j}")
    if leaves:
        grads = torch.autograd.grad(_weighted_sum(outputs), list(leaves.values()), allow_unused=True)
        assert any(g is not None for g in grads), "no differentiable input received a gradient"
        for name, grad in zip(leaves, grads):
            if grad is not None:
                assert_finite(grad, f"gradient of {name}")


@pytest.mark.parametrize("case", [c for c in CASES if c.extreme], ids=str)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31 - 1), data=st.data())
def test_finite_for_extreme_inputs(case, seed, data):
    """Unconstrained inputs scaled by ``10 ** s`` (each its own ``s``) give finite values and gradients in float32."""
    kwargs = _build(case, dtype=torch.float32, seed=seed)
    for name in case.extreme:
        log_scale = data.draw(st.floats(-3.0, case.max_log_scale), label=f"log10 scale of {name}")
        kwargs[name] = kwargs[name] * 10.0 ** log_scale
    _assert_finite_values_and_gradients(case, kwargs)
