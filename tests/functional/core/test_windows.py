"""Tests for torchddsp.functional.core.windows.get_window: parity with scipy.signal.get_window."""

from __future__ import annotations

import pytest
import scipy.signal
import torch

from helpers import DEVICES, assert_matches_reference
from torchddsp.functional.core import WINDOWS, get_window


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", WINDOWS)
@pytest.mark.parametrize("fftbins", [True, False])
@pytest.mark.parametrize("length", [1, 2, 7, 64, 255])
def test_matches_scipy(device, name, fftbins, length):
    w = get_window(name, length, fftbins=fftbins, dtype=torch.float64, device=device)
    assert w.shape == (length,) and w.dtype == torch.float64 and w.device.type == device
    assert_matches_reference(w, scipy.signal.get_window(name, length, fftbins=fftbins), atol=1e-15)


@pytest.mark.parametrize("alias,name", [("rectangular", "boxcar"), ("rect", "boxcar"), ("ones", "boxcar"),
                                        ("han", "hann"), ("ham", "hamming"), ("blk", "blackman"),
                                        ("brt", "bartlett")])
def test_scipys_aliases(alias, name):
    assert torch.equal(get_window(alias, 33), get_window(name, 33))
    assert_matches_reference(get_window(alias, 33, dtype=torch.float64), scipy.signal.get_window(alias, 33),
                             atol=1e-15)


def test_float32_window_is_torchs():
    # so that float32 spectra equal torch.stft's with torch.hann_window
    assert torch.equal(get_window("hann", 1024, dtype=torch.float32), torch.hann_window(1024))
    assert get_window("hamming", 8).dtype == torch.get_default_dtype()


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"window: expected one of \['hann', 'hamming', 'blackman', 'bartlett', "
                                         r"'boxcar'\].*received 'kaiser'"):
        get_window("kaiser", 16)
    with pytest.raises(ValueError, match="window"):
        get_window(None, 16)
    with pytest.raises(ValueError, match="length"):
        get_window("hann", 0)
    with pytest.raises(ValueError, match="fftbins"):
        get_window("hann", 8, fftbins="yes")
