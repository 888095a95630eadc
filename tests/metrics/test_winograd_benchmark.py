"""benchmarks/winograd.py: its Winograd and FFT convolutions must compute the convolution, or their timings mean
nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import winograd as benchmark  # noqa: E402


@pytest.mark.parametrize(("m", "r"), [(4, 3), (2, 5), (2, 3)])
def test_toom_cook_matrices_give_the_1d_correlation_exactly(m, r):
    a_t, g, b_t = benchmark.toom_cook_matrices(m, r, benchmark.POINTS[: m + r - 2])
    generator = torch.Generator().manual_seed(0)
    d = torch.randn(m + r - 1, dtype=torch.float64, generator=generator)
    w = torch.randn(r, dtype=torch.float64, generator=generator)
    correlation = torch.stack([(w * d[i : i + r]).sum() for i in range(m)])
    torch.testing.assert_close(a_t @ ((g @ w) * (b_t @ d)), correlation, rtol=0, atol=1e-12)


def test_toom_cook_refuses_the_wrong_number_of_points():
    with pytest.raises(ValueError, match="needs 5 finite points"):
        benchmark.toom_cook_matrices(4, 3, (0, 1, -1))


@pytest.mark.parametrize(("m", "r", "size"), [(4, 3, (11, 19)), (2, 5, (7, 10)), (4, 3, (4, 4))])
def test_winograd_convolution_equals_the_direct_one(m, r, size):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 5, *size, generator=generator).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(7, 5, r, r, generator=generator), torch.randn(7, generator=generator)
    expected = F.conv2d(x, weight, bias, padding=r // 2)
    result = benchmark.WinogradConv2d(weight, bias, m)(x)
    assert result.shape == expected.shape
    torch.testing.assert_close(result, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("r", "size"), [(3, (11, 19)), (5, (23, 39)), (3, (4, 4))])
def test_fft_convolution_equals_the_direct_one(r, size):
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(2, 5, *size, generator=generator).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(7, 5, r, r, generator=generator), torch.randn(7, generator=generator)
    expected = F.conv2d(x, weight, bias, padding=r // 2)
    fft = benchmark.FFTConv2d(weight, bias, size)
    result = fft(x)
    assert result.shape == expected.shape
    torch.testing.assert_close(result, expected, rtol=1e-4, atol=1e-4)
    assert all(n >= s + r - 1 for n, s in zip(fft.fft_size, size, strict=True))  # no wrap-around reaches an output


@pytest.mark.parametrize(("n", "expected"), [(13, 15), (43, 45), (27, 27), (1, 1), (49, 50)])
def test_smooth_size_is_the_next_2_3_5_smooth_number(n, expected):
    assert benchmark.smooth_size(n) == expected
