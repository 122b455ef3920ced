"""Tests for torchddsp.functional.core.noise: white_noise, white_noise_like, indexed_noise.

References: the distributions of ``scipy.stats`` (Kolmogorov-Smirnov test) and the moments and
autocorrelation of white noise. Noise has no differentiable input, so there is no gradcheck;
batch consistency is replaced by checks that rows of a batch are uncorrelated.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from helpers import DEVICES, DTYPES, assert_finite, assert_matches_reference, to_numpy
from torchddsp.functional.core.noise import indexed_noise, white_noise, white_noise_like

N = 200_000


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("distribution, reference, variance", [
    ("uniform", scipy.stats.uniform(loc=-1.0, scale=2.0), 1.0 / 3.0),
    ("gaussian", scipy.stats.norm(), 1.0),
])
def test_distribution_matches_scipy(dtype, distribution, reference, variance):
    x = white_noise(N, distribution=distribution, seed=1234, dtype=dtype)
    assert x.dtype == dtype and x.shape == (N,)
    sample = to_numpy(x).astype(np.float64)
    result = scipy.stats.kstest(sample, reference.cdf)
    assert result.pvalue > 1e-4, f"{distribution} noise fails a KS test against scipy.stats: {result}"
    # Moments within 5 standard errors of the theoretical values.
    assert abs(sample.mean()) < 5 * np.sqrt(variance / N)
    fourth = reference.moment(4)
    assert abs(sample.var() - variance) < 5 * np.sqrt((fourth - variance ** 2) / N)
    if distribution == "uniform":
        assert sample.min() >= -1.0 and sample.max() < 1.0


@pytest.mark.parametrize("distribution", ["uniform", "gaussian"])
def test_spectrum_is_white(distribution):
    x = to_numpy(white_noise((4, 2 ** 15), distribution=distribution, seed=7, dtype=torch.float64))
    x = x - x.mean(-1, keepdims=True)
    bound = 5.0 / np.sqrt(x.shape[-1])
    for lag in range(1, 12):
        r = (x[:, lag:] * x[:, :-lag]).sum(-1) / (x * x).sum(-1)
        assert np.abs(r).max() < bound, f"lag {lag}: normalised autocorrelation {r} exceeds {bound}"
    # Rows of a batch are independent draws: their correlation is small.
    c = np.corrcoef(x)
    assert np.abs(c - np.eye(4)).max() < bound


def test_seed_reproducible_and_generator_advances():
    a = white_noise((3, 50), seed=42)
    b = white_noise((3, 50), seed=42)
    c = white_noise((3, 50), seed=43)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    g = torch.Generator().manual_seed(42)
    first = white_noise((3, 50), generator=g)
    second = white_noise((3, 50), generator=g)
    torch.testing.assert_close(first, a, rtol=0, atol=0)      # seed == freshly seeded CPU generator
    assert not torch.equal(first, second)                     # the generator's state advanced


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("distribution", ["uniform", "gaussian"])
def test_seed_gives_same_samples_on_every_device(device, distribution):
    cpu = white_noise((2, 1000), distribution=distribution, seed=5, dtype=torch.float64)
    other = white_noise((2, 1000), distribution=distribution, seed=5, dtype=torch.float64, device=device)
    assert other.device.type == torch.device(device).type
    assert_matches_reference(other, to_numpy(cpu), rtol=0, atol=0)
    assert not other.requires_grad


def test_shapes_dtypes_and_like():
    assert white_noise(5).shape == (5,)
    assert white_noise((0, 3)).shape == (0, 3)
    assert white_noise(torch.Size([2, 0])).shape == (2, 0)
    assert white_noise((2, 3), dtype=torch.float64).dtype == torch.float64
    ref = torch.zeros(4, 7, dtype=torch.float64)
    like = white_noise_like(ref, distribution="gaussian", seed=3)
    assert like.shape == ref.shape and like.dtype == torch.float64 and like.device == ref.device
    assert_finite(like)
    torch.testing.assert_close(like, white_noise((4, 7), distribution="gaussian", seed=3, dtype=torch.float64))


@pytest.mark.parametrize("kwargs, match", [
    (dict(shape=(2, -1)), "shape"),
    (dict(shape="abc"), "shape"),
    (dict(shape=3, distribution="pink"), "distribution"),
    (dict(shape=3, seed=1, generator=torch.Generator()), "seed and generator"),
    (dict(shape=3, seed=1.5), "seed"),
    (dict(shape=3, dtype=torch.int64), "dtype"),
])
def test_errors_name_the_argument(kwargs, match):
    shape = kwargs.pop("shape")
    with pytest.raises(ValueError, match=match):
        white_noise(shape, **kwargs)


# indexed_noise: a counter-based generator; any block can be drawn on its own.

@pytest.mark.parametrize("dtype", DTYPES)
def test_indexed_noise_is_uniform_white_and_rows_are_independent(dtype):
    x = indexed_noise((3, N), 99, dtype=dtype)
    assert x.dtype == dtype and x.shape == (3, N)
    for row in to_numpy(x).astype(np.float64):
        assert scipy.stats.kstest(row, scipy.stats.uniform(loc=-1.0, scale=2.0).cdf).pvalue > 1e-3
        assert abs(np.corrcoef(row[:-1], row[1:])[0, 1]) < 0.01                 # lag-1 autocorrelation
    assert float(x.min()) >= -1.0 and float(x.max()) < 1.0
    rows = to_numpy(x).astype(np.float64)
    assert abs(np.corrcoef(rows[0], rows[1])[0, 1]) < 0.01 and abs(np.corrcoef(rows[1], rows[2])[0, 1]) < 0.01


def test_indexed_noise_blocks_equal_the_whole_signal():
    whole = indexed_noise((2, 3, 5000), 7)
    start, parts = 0, []
    for size in (1, 127, 1000, 0, 3872):
        parts.append(indexed_noise((2, 3, size), 7, start=start))
        start += size
    assert torch.equal(torch.cat(parts, -1), whole)
    assert torch.equal(indexed_noise((2, 3, 10), torch.tensor(7), start=torch.tensor(4990)), whole[..., 4990:])


def test_indexed_noise_depends_on_the_seed_and_is_reproducible():
    a = indexed_noise((4096,), 1)
    assert torch.equal(a, indexed_noise((4096,), 1))
    b = indexed_noise((4096,), 2)
    assert abs(float(torch.corrcoef(torch.stack([a, b]))[0, 1])) < 0.05
    big = indexed_noise((4096,), 2 ** 62 + 5)                                    # large seeds are fine
    assert_finite(big)
    assert abs(float(torch.corrcoef(torch.stack([a, big]))[0, 1])) < 0.05


@pytest.mark.parametrize("device", DEVICES)
def test_indexed_noise_is_the_same_on_every_device(device):
    torch.testing.assert_close(indexed_noise((2, 999), 3, start=12, device=device).cpu(),
                               indexed_noise((2, 999), 3, start=12), rtol=0, atol=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(shape=()), "shape"),
    (dict(shape=(2, -1)), "shape"),
    (dict(shape=(4,), dtype=torch.float16), "dtype"),
])
def test_indexed_noise_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        indexed_noise(seed=0, **kwargs)
