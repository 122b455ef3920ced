"""Core signal utilities shared by every family of ops: framing and overlap-add, control
upsampling, exact phase accumulation, FFT convolution, noise, windows (one resolver, scipy's
names), resampling, and the cache for constant tensors."""

from torchddsp.functional.core.constant_cache import constant_cache
from torchddsp.functional.core.convolution import fft_convolve, next_fast_len
from torchddsp.functional.core.framing import cola_constant, frame, overlap_add
from torchddsp.functional.core.noise import indexed_noise, white_noise, white_noise_like
from torchddsp.functional.core.phase import accumulate_phase, advance_phase
from torchddsp.functional.core.resample import resample, resampling_ratio
from torchddsp.functional.core.upsample import interpolation_weights, upsample
from torchddsp.functional.core.windows import WINDOWS, get_window

__all__ = ["WINDOWS", "accumulate_phase", "advance_phase", "cola_constant", "constant_cache", "fft_convolve", "frame",
           "get_window", "indexed_noise", "interpolation_weights", "next_fast_len", "overlap_add", "resample",
           "resampling_ratio", "upsample", "white_noise", "white_noise_like"]
