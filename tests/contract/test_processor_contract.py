"""Contract suites over every registered processor (``processor_registry.CASES``).

1. every exported processor is registered, and declares its controls consistently;
2. ``gradcheck`` (float64) for every input the case calls differentiable;
3. a batch equals the loop over its items;
4. float32 agrees with float64; runs on every device (CUDA when present);
5. streaming: blocks of 1, 3, 0 and 2 frames carrying the state equal one call with the state
   (``helpers.assert_streaming_equivalent``), which is the one-shot output delayed by ``latency``;
6. ``forward`` equals ``render(**get_controls(...))``;
7. no NaN/inf at the edges of every declared range, on silence, and for extreme
   unconstrained inputs (hypothesis);
8. ``torch.compile(fullgraph=True)`` matches eager where claimed; so does ``torch.export`` (the
   pure kernel paths), on a second set of inputs too.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.processor_registry import CASES
from helpers import DEVICES, assert_delayed_copy, assert_finite, assert_streaming_equivalent, check_gradcheck
from torchddsp import processors
from torchddsp.processors.base import cut_block

BATCH = (2,)


def _inputs(processor, case, batch=BATCH, dtype=torch.float64, seed=0, device="cpu"):
    """(signals tuple, controls dict): random valid controls and unit-variance signals."""
    g = torch.Generator().manual_seed(seed)
    controls = processor.sample_controls(case.frames, batch, generator=g, dtype=dtype)
    hop = processor.hop_size
    signals = tuple(0.5 * torch.randn((*batch, case.frames * hop), generator=g, dtype=dtype)
                    for c in processor.controls() if c.rate == "signal")
    return (tuple(s.to(device) for s in signals), {k: v.to(device) for k, v in controls.items()})


def _render(processor, case, signals, controls, **kwargs):
    return processor.render(*signals, **controls, **case.render_options, **kwargs)


def _build(case, dtype=torch.float64):
    return case.make().to(dtype)


@pytest.fixture(params=CASES, ids=str)
def case(request):
    return request.param


def test_every_processor_is_registered():
    exported = {name for name in processors.__all__
                if inspect.isclass(getattr(processors, name)) and issubclass(getattr(processors, name), processors.Processor)
                and getattr(processors, name) is not processors.Processor}
    registered = {type(case.make()).__name__ for case in CASES}
    assert exported - registered == set(), f"processors without a contract case: {sorted(exported - registered)}"


def test_declared_controls_match_render(case):
    processor = _build(case)
    declared = [c.name for c in processor.controls()]
    assert len(set(declared)) == len(declared), f"duplicate control names: {declared}"
    parameters = inspect.signature(processor.render).parameters
    assert "state" in parameters, "render must take state"
    for name in declared:
        assert name in parameters, f"declared control {name!r} is not a render argument"
    signals, controls = _inputs(processor, case)
    out = _render(processor, case, signals, controls)
    assert out.shape == (*BATCH, case.frames * processor.hop_size)
    defaults = processor.default_controls(case.frames, BATCH, dtype=torch.float64)
    assert set(defaults) == set(controls) == {c.name for c in processor.controls() if c.rate != "signal"}
    for c in processor.controls():
        if c.rate != "signal":
            assert defaults[c.name].shape == controls[c.name].shape == c.shape(BATCH, case.frames, processor.hop_size)


def test_gradcheck(case):
    processor = _build(case)
    signals, controls = _inputs(processor, case, batch=(1,))
    names = [c.name for c in processor.controls()]
    values = dict(zip([c.name for c in processor.controls() if c.rate == "signal"], signals), **controls)
    wrt = [n for n in names if n in case.differentiable]
    assert wrt, "a differentiable processor must name the inputs gradcheck checks"

    def fn(*tensors):
        given = dict(values, **dict(zip(wrt, tensors)))
        sig = [given[c.name] for c in processor.controls() if c.rate == "signal"]
        rest = {c.name: given[c.name] for c in processor.controls() if c.rate != "signal"}
        return _render(processor, case, sig, rest)

    check_gradcheck(fn, [values[n].detach().clone().requires_grad_() for n in wrt])


def test_batch_equals_loop_over_items(case):
    if not case.batch_independent:
        pytest.skip(f"{case.name}: noise rows are drawn per batch item")
    processor = _build(case)
    signals, controls = _inputs(processor, case, batch=(3,))
    whole = _render(processor, case, signals, controls)
    for i in range(3):
        item = _render(processor, case, tuple(s[i:i + 1] for s in signals),
                       {k: v[i:i + 1] for k, v in controls.items()})
        torch.testing.assert_close(whole[i:i + 1], item, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_float32_agrees_with_float64(case, device):
    processor = _build(case).to(device)
    signals, controls = _inputs(processor, case, device=device)
    reference = _render(processor, case, signals, controls)
    single = _render(processor.float(), case, tuple(s.float() for s in signals),
                     {k: v.float() for k, v in controls.items()})
    assert single.dtype == torch.float32 and single.device.type == device
    scale = reference.abs().max().clamp_min(1e-6)
    torch.testing.assert_close(single.double(), reference, rtol=0, atol=2e-4 * float(scale))


def test_streaming_equals_one_shot(case):
    if not case.streaming:
        pytest.skip(f"{case.name} does not claim streaming")
    processor = _build(case)
    signals, controls = _inputs(processor, case)
    one_shot = _render(processor, case, signals, controls)
    hop = processor.hop_size
    names = [c.name for c in processor.controls() if c.rate == "signal"]
    inputs = dict(zip(names, signals), **controls)

    # A processor whose controls are all static (a note of n_samples) takes a block's length as n_samples.
    timed = any(c.rate != "static" for c in processor.controls())

    def render_frames(start, stop, state):
        part = {name: cut_block(value, _declared(processor, name), start, stop, hop) for name, value in inputs.items()}
        length = {} if timed else {"n_samples": (stop - start) * hop}
        return processor.render(*[part.pop(n) for n in names], **part, **length, state=state)

    initial = processor.initial_state(BATCH, dtype=torch.float64, **case.render_options)
    assert_streaming_equivalent(render_frames, case.frames, initial, [1, 3, 0, 2], rtol=1e-9, atol=1e-11)
    streamed, _ = render_frames(0, case.frames, initial)
    assert_delayed_copy(streamed, one_shot, processor.latency)


def _declared(processor, name):
    return next(c for c in processor.controls() if c.name == name)


def test_forward_is_render_of_get_controls(case):
    if case.logits is None:
        processor = _build(case)
        signals, _ = _inputs(processor, case)
        expected = _render(processor, case, signals, processor.get_controls())
        torch.testing.assert_close(processor(*signals, **case.render_options), expected)
        return
    processor = _build(case)
    signals, _ = _inputs(processor, case)
    logits = case.logits(processor, BATCH, case.frames, torch.Generator().manual_seed(1), 1.0)
    expected = _render(processor, case, signals, processor.get_controls(**logits))
    torch.testing.assert_close(processor(*signals, **logits, **case.render_options), expected)


@pytest.mark.parametrize("edge", ["low", "high"])
def test_finite_at_the_edges_of_every_declared_range_and_on_silence(case, edge):
    processor = _build(case)
    signals, controls = _inputs(processor, case)
    for c in processor.controls():
        if c.rate != "signal" and c.name in controls:
            controls[c.name] = torch.full_like(controls[c.name], getattr(c, edge))
    wrt = {k: v.requires_grad_() for k, v in controls.items()}
    out = _render(processor, case, signals, wrt)
    assert_finite(out)
    silent = _render(processor, case, tuple(torch.zeros_like(s) for s in signals), controls)
    assert_finite(silent)
    if signals:
        assert float(silent.abs().max()) == 0.0, "silence in, silence out"
    grads = torch.autograd.grad(out.sum(), list(wrt.values()), allow_unused=True)
    for name, grad in zip(wrt, grads):
        if grad is not None:
            assert_finite(grad, f"gradient of {name}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(CASES) - 1), seed=st.integers(0, 2 ** 31 - 1),
       log_scale=st.floats(-3.0, 6.0))
def test_finite_for_extreme_unconstrained_inputs(index, seed, log_scale):
    case = CASES[index]
    if case.logits is None:
        return
    processor = _build(case, torch.float32)
    g = torch.Generator().manual_seed(seed)
    logits = {k: v.float() for k, v in case.logits(processor, BATCH, case.frames, g, 10.0 ** log_scale).items()}
    leaves = {k: v.requires_grad_() for k, v in logits.items() if k != "f0_hz"}
    signals, _ = _inputs(processor, case, dtype=torch.float32, seed=seed)
    out = processor(*signals, **logits, **case.render_options)
    assert_finite(out)
    for name, grad in zip(leaves, torch.autograd.grad(out.sum(), list(leaves.values()), allow_unused=True)):
        if grad is not None:
            assert_finite(grad, f"gradient of {name}")


def test_compile_fullgraph_matches_eager_forward_and_backward(case):
    if not case.compile:
        pytest.skip(f"{case.name} does not claim torch.compile")
    torch._dynamo.reset()
    processor = _build(case)
    signals, controls = _inputs(processor, case)
    names = [n for n in case.differentiable if n in controls]
    leaves = {n: controls[n].clone().requires_grad_() for n in names}

    def render(*sig, **ctrl):
        return processor.render(*sig, **ctrl, **case.render_options)

    compiled = torch.compile(render, fullgraph=True, dynamic=False)
    eager_out = render(*signals, **dict(controls, **leaves))
    compiled_out = compiled(*signals, **dict(controls, **leaves))
    torch.testing.assert_close(compiled_out, eager_out, rtol=1e-9, atol=1e-11)
    weight = torch.randn(eager_out.shape, generator=torch.Generator().manual_seed(3), dtype=eager_out.dtype)
    eager_grads = torch.autograd.grad((eager_out * weight).sum(), list(leaves.values()))
    compiled_grads = torch.autograd.grad((compiled_out * weight).sum(), list(leaves.values()))
    for name, e, c in zip(names, eager_grads, compiled_grads):
        torch.testing.assert_close(c, e, rtol=1e-8, atol=1e-10, msg=lambda m: f"gradient of {name}: {m}")


def test_export_matches_eager_on_new_inputs(case):
    if not case.export:
        pytest.skip(f"{case.name} does not claim torch.export")
    processor = _build(case)
    names = [c.name for c in processor.controls() if c.rate == "signal"]

    class Render(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.processor = processor

        def forward(self, inputs: dict):
            inputs = dict(inputs)
            return self.processor.render(*[inputs.pop(n) for n in names], **inputs, **case.render_options)

    def inputs(seed):
        signals, controls = _inputs(processor, case, seed=seed)
        return dict(zip(names, signals), **controls)

    exported = torch.export.export(Render(), (inputs(0),)).module()
    for seed in (0, 1):
        torch.testing.assert_close(exported(inputs(seed)), Render()(inputs(seed)), rtol=1e-9, atol=1e-11)
