"""Would Winograd or FFT convolutions make float32 LPIPS faster on CPU? A measured answer, not a feature.

    python benchmarks/winograd.py            # CPU, about 1 minute

LPIPS(AlexNet) is most of the batched reward at 192x320, and its direct convolutions already run at
this CPU's float32 multiply-add peak (``benchmarks/rewards.py --layers``), so only an algorithm with
fewer multiply-adds could make float32 faster. Winograd's F(m x m, r x r) computes an m x m output
tile of an r x r convolution with (m + r - 1)^2 multiplies instead of m^2 r^2 (F(4,3): 4x fewer;
F(2,5): 2.8x fewer), as cuDNN and oneDNN do on some hardware. This script runs it on AlexNet's four
stride-1 layers with the shapes LPIPS gives them at 192x320, next to the direct convolution, both in
float32 on the same inputs, and prints the time, the ratio and the error against float64.

The Winograd path is written in PyTorch ops: tiles gathered with ``unfold``, input and output
transforms as matrix products with the Kronecker products of the 1-D transforms, and one batched
matrix product per tile position (the part with the fewer multiply-adds). The transforms are exact
Toom-Cook matrices built with fractions from the interpolation points. A hand-written kernel would
fuse the transforms into the matrix products; this script measures what PyTorch can do without one.

The FFT path does the same for the whole feature map at once: both the padded input and the filter are
taken to the frequency domain (``torch.fft.rfft2`` at the next 2-3-5-smooth size, where the circular
correlation equals the linear one on every output pixel), multiplied there with one complex
(N x C_in) @ (C_in x C_out) product per frequency, and brought back with ``irfft2``. Counting a complex
multiply as 4 real ones, it needs about 2.4x fewer multiplies than the direct convolution on the 3x3
layers and 9x fewer on the 5x5 one at these shapes (the script prints them).
"""

from __future__ import annotations

import argparse
import math
from fractions import Fraction

import torch
import torch.nn.functional as F

from rewards import best_seconds, conv_gmacs

POINTS = (0, 1, -1, 2, -2)  # the usual interpolation points (and infinity) for 6x6 tiles


def _poly_mul(a: list[Fraction], b: list[Fraction]) -> list[Fraction]:
    out = [Fraction(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def toom_cook_matrices(m: int, r: int, points: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    """A^T (m, a), G (a, r), B^T (a, a) with a = m + r - 1, exact: y = A^T [(G g) * (B^T d)] is d's correlation with g.

    Derived by transposing Toom-Cook polynomial multiplication (evaluate at `points` and infinity,
    multiply, interpolate): G evaluates the filter, A evaluates the output polynomial, and B^T is
    the transposed interpolation (Lagrange basis for the points, the points' product polynomial for
    infinity).
    """
    alpha = m + r - 1
    pts = [Fraction(p) for p in points]
    if len(pts) != alpha - 1:
        raise ValueError(f"F({m},{r}) needs {alpha - 1} finite points, got {len(pts)}")
    at_infinity = lambda n: [Fraction(int(k == n - 1)) for k in range(n)]  # noqa: E731 (the leading coefficient)
    g_eval = [[p**k for k in range(r)] for p in pts] + [at_infinity(r)]
    h_eval = [[p**i for i in range(m)] for p in pts] + [at_infinity(m)]
    interpolation = [[Fraction(0)] * alpha for _ in range(alpha)]  # (coefficient t, value j)
    product = [Fraction(1)]
    for j, pj in enumerate(pts):
        basis, scale = [Fraction(1)], Fraction(1)
        for k, pk in enumerate(pts):
            if k != j:
                basis, scale = _poly_mul(basis, [-pk, Fraction(1)]), scale * (pj - pk)
        for t, coefficient in enumerate(basis):
            interpolation[t][j] = coefficient / scale
        product = _poly_mul(product, [-pj, Fraction(1)])
    for t, coefficient in enumerate(product):
        interpolation[t][alpha - 1] = coefficient
    as_tensor = lambda rows: torch.tensor([[float(v) for v in row] for row in rows], dtype=torch.float64)  # noqa: E731
    a_t = as_tensor([[h_eval[a][i] for a in range(alpha)] for i in range(m)])
    b_t = as_tensor([[interpolation[t][a] for t in range(alpha)] for a in range(alpha)])
    return a_t, as_tensor(g_eval), b_t


class WinogradConv2d:
    """A stride-1, 'same'-padded convolution by Winograd F(m x m, r x r), on channels-last float32 inputs."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, m: int):
        out_channels, in_channels, r, _ = weight.shape
        self.m, self.r, self.alpha = m, r, m + r - 1
        a_t, g, b_t = toom_cook_matrices(m, r, POINTS[: self.alpha - 1])
        u = torch.einsum("ak,oikl,bl->abio", g, weight.double(), g)  # the filter in the transform domain
        self.u = u.reshape(self.alpha**2, in_channels, out_channels).float().contiguous()
        self.b_t2 = torch.kron(b_t, b_t).float()
        self.a_t2 = torch.kron(a_t, a_t).float()
        self.bias = bias

    def tiles(self, height: int, width: int) -> tuple[int, int]:
        """How many m x m output tiles cover a height x width map, down and across."""
        return -(-height // self.m), -(-width // self.m)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        m, a, pad = self.m, self.alpha, self.r // 2
        tiles_h, tiles_w = self.tiles(h, w)
        padded = F.pad(
            x.permute(0, 2, 3, 1), (0, 0, pad, tiles_w * m + a - m - w - pad, pad, tiles_h * m + a - m - h - pad)
        )
        tiles = padded.unfold(1, a, m).unfold(2, a, m)  # (n, tiles_h, tiles_w, c, a, a)
        positions = n * tiles_h * tiles_w
        v = (self.b_t2 @ tiles.permute(4, 5, 0, 1, 2, 3).reshape(a * a, -1)).view(a * a, positions, c)
        products = torch.bmm(v, self.u)  # (a*a, positions, out): the fewer multiply-adds
        out = (self.a_t2 @ products.view(a * a, -1)).view(m, m, n, tiles_h, tiles_w, -1)
        out = out.permute(2, 3, 0, 4, 1, 5).reshape(n, tiles_h * m, tiles_w * m, -1)[:, :h, :w]
        return (out + self.bias).permute(0, 3, 1, 2)


def smooth_size(n: int) -> int:
    """The smallest m >= n with no prime factor above 5: sizes that pocketfft transforms fastest."""
    while True:
        rest = n
        for p in (2, 3, 5):
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return n
        n += 1


class FFTConv2d:
    """A stride-1, 'same'-padded convolution as a product in the frequency domain, on float32 inputs."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, size: tuple[int, int]):
        out_channels, in_channels, r, _ = weight.shape
        self.pad = r // 2
        # any size >= the padded map keeps every output pixel free of wrap-around (the kernel reads i..i+r-1)
        self.fft_size = tuple(smooth_size(n + 2 * self.pad) for n in size)
        spectrum = torch.fft.rfft2(weight.double(), s=self.fft_size).conj()  # correlation = X * conj(W)
        self.filter = spectrum.permute(2, 3, 1, 0).reshape(-1, in_channels, out_channels).to(torch.complex64)
        self.bias = bias

    @property
    def frequencies(self) -> int:
        """How many frequencies hold one complex product each (rfft2 keeps half of the last axis)."""
        return self.fft_size[0] * (self.fft_size[1] // 2 + 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        spectrum = torch.fft.rfft2(F.pad(x, (self.pad,) * 4), s=self.fft_size)  # (n, c, H, W // 2 + 1)
        height, half_width = spectrum.shape[2:]
        products = torch.bmm(spectrum.permute(2, 3, 0, 1).reshape(-1, n, c), self.filter)  # the fewer multiplies
        products = products.view(height, half_width, n, -1).permute(2, 3, 0, 1)
        return torch.fft.irfft2(products, s=self.fft_size)[..., :h, :w] + self.bias[:, None, None]


def alexnet_stride1_inputs(batch: int) -> list[tuple[int, torch.nn.Conv2d, torch.Tensor]]:
    """(index, layer, its input) for AlexNet's stride-1 convolutions on `batch` random 192x320 images."""
    import torchvision

    features = torchvision.models.alexnet(weights=None).features[:12].eval()
    h = torch.rand(batch, 3, 192, 320).contiguous(memory_format=torch.channels_last)
    found = []
    for index, layer in enumerate(features):
        if isinstance(layer, torch.nn.Conv2d) and layer.stride == (1, 1):
            found.append((index, layer, h))
        h = layer(h)
    return found


def output_tile(kernel: int) -> int:
    """The output tile m used for an r x r kernel: F(4,3) for 3x3, F(2,5) for 5x5 (both on 6x6 input tiles)."""
    return 4 if kernel == 3 else 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    print(f"device cpu, torch threads {torch.get_num_threads()}, float32, AlexNet at 192x320 (random weights)")
    row = "{:>5} | {:<9} | {:<18} | {:<6} | {:>9} | {:>11} | {:>9} | {:>10} | {:>12}".format
    print(
        row("batch", "layer", "input", "F(m,r)", "direct ms", "winograd ms", "direct/wg", "err direct", "err winograd"),
        "| fft ms | direct/fft | err fft",
    )
    inputs = {batch: alexnet_stride1_inputs(batch) for batch in args.batches}
    used, fft_fewer = {}, {}
    for batch, layers in inputs.items():
        for index, layer, x in layers:
            r = layer.kernel_size[0]
            m = output_tile(r)
            used[(m, r)] = (m * r) ** 2 / (m + r - 1) ** 2  # how many times fewer multiplies
            winograd = WinogradConv2d(layer.weight, layer.bias, m)
            fft = FFTConv2d(layer.weight, layer.bias, x.shape[2:])
            fft_fewer[index] = math.prod(x.shape[2:]) * r * r / (4 * fft.frequencies)  # 4 real per complex
            exact = F.conv2d(x.double(), layer.weight.double(), layer.bias.double(), padding=r // 2)
            scale = exact.abs().max().item()
            methods = (layer, winograd, fft)
            errors = [(method(x).double() - exact).abs().max().item() / scale for method in methods]
            seconds = [best_seconds(lambda method=method, x=x: method(x), args.repeats) for method in methods]
            print(row(batch, f"{index} {r}x{r}", str(tuple(x.shape)), f"F({m},{r})",
                      f"{seconds[0] * 1e3:.1f}", f"{seconds[1] * 1e3:.1f}", f"{seconds[0] / seconds[1]:.2f}x",
                      f"{errors[0]:.1e}", f"{errors[1]:.1e}"),
                  f"| {seconds[2] * 1e3:6.1f} | {seconds[0] / seconds[2]:9.2f}x | {errors[2]:.1e}")  # fmt: skip
    # the batched matrix product Winograd leaves to BLAS, against the direct convolution's rate, on the
    # layer with the most channels (AlexNet's layer 8) at the first batch size
    batch = args.batches[0]
    index, layer, x = max(inputs[batch], key=lambda found: found[1].in_channels)
    winograd = WinogradConv2d(layer.weight, layer.bias, output_tile(layer.kernel_size[0]))
    positions = batch * math.prod(winograd.tiles(*x.shape[2:]))
    v = torch.randn(winograd.alpha**2, positions, layer.in_channels)
    products_gmacs = v.numel() * layer.out_channels / 1e9
    direct_rate = conv_gmacs(layer, layer(x)) / best_seconds(lambda: layer(x), args.repeats)
    bmm_rate = products_gmacs / best_seconds(lambda: torch.bmm(v, winograd.u), args.repeats)
    shape = f"{v.shape[0]} x ({positions}x{layer.in_channels} @ {layer.in_channels}x{layer.out_channels})"
    print(f"layer {index}, {batch} images: direct convolution {direct_rate:.1f} GMAC/s; Winograd's batched product "
          f"({shape}) {bmm_rate:.1f} GMAC/s")  # fmt: skip
    kinds = sorted(used.items(), key=lambda item: item[0][1])  # by kernel size
    names = " and ".join(f"F({m},{r})" for (m, r), _ in kinds)
    print(f"({names} multiply {' and '.join(f'{times:.2f}x' for _, times in kinds)} less than direct)")
    fewer = ", ".join(f"layer {index} {times:.1f}x" for index, times in fft_fewer.items())
    print(f"(the FFT's complex products, 4 real multiplies each, multiply less than direct by: {fewer})")


if __name__ == "__main__":
    main()
