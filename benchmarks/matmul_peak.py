"""The CPU's dense matmul rate in fp32 and bf16, and the Inception-v3 FLOPs per image: the bound on feature speed.

    python benchmarks/matmul_peak.py --threads 2 [--size 2048] [--reps 10] [--flops]

Times torch.mm on size x size matrices (the best of reps runs, dtypes interleaved) and prints GFLOP/s
(2 * size^3 per product). --flops also counts torch-fidelity's FeatureExtractorInceptionV3 at 299 px with
torch.utils.flop_counter.FlopCounterMode (random weights: the count depends on the shapes only) and prints the
images/s that each dtype's matmul rate would allow if every FLOP ran at that rate.
"""

from __future__ import annotations

import argparse
import time

import torch


def matmul_gflops(dtype: torch.dtype, size: int) -> float:
    """One timed size x size product in dtype, in GFLOP/s."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    t = time.perf_counter()
    torch.mm(a, b)
    return 2 * size**3 / (time.perf_counter() - t) / 1e9


def inception_gflop_per_image() -> float:
    """FLOPs (2 x multiply-adds) of one 299 px image through torch-fidelity's Inception-v3 up to pool3."""
    from torch.utils.flop_counter import FlopCounterMode

    trunk = _inception_layers()
    x = torch.zeros(1, 3, 299, 299)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        trunk(x)
    return counter.get_total_flops() / 1e9


def _inception_layers() -> torch.nn.Module:
    """torch-fidelity's Inception-v3 layers from the first conv to pool3, randomly initialised."""
    from torch_fidelity.feature_extractor_inceptionv3 import (
        BasicConv2d,
        InceptionA,
        InceptionB,
        InceptionC,
        InceptionD,
        InceptionE_1,
        InceptionE_2,
    )

    return torch.nn.Sequential(
        BasicConv2d(3, 32, kernel_size=3, stride=2),
        BasicConv2d(32, 32, kernel_size=3),
        BasicConv2d(32, 64, kernel_size=3, padding=1),
        torch.nn.MaxPool2d(kernel_size=3, stride=2),
        BasicConv2d(64, 80, kernel_size=1),
        BasicConv2d(80, 192, kernel_size=3),
        torch.nn.MaxPool2d(kernel_size=3, stride=2),
        InceptionA(192, pool_features=32),
        InceptionA(256, pool_features=64),
        InceptionA(288, pool_features=64),
        InceptionB(288),
        InceptionC(768, channels_7x7=128),
        InceptionC(768, channels_7x7=160),
        InceptionC(768, channels_7x7=160),
        InceptionC(768, channels_7x7=192),
        InceptionD(768),
        InceptionE_1(1280),
        InceptionE_2(2048),
        torch.nn.AdaptiveAvgPool2d(1),
    ).eval()


def main() -> None:
    """Print the matmul rates (and with --flops the FLOP count and the bound)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--flops", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    for dt in dtypes.values():
        matmul_gflops(dt, args.size)  # warm-up: oneDNN/MKL kernel selection, page faults
    best = dict.fromkeys(dtypes, 0.0)
    for _ in range(args.reps):
        for name, dt in dtypes.items():
            best[name] = max(best[name], matmul_gflops(dt, args.size))
    print(f"threads {args.threads}, {args.size}x{args.size} matmul, best of {args.reps}")
    for name, rate in best.items():
        print(f"  {name}: {rate:7.1f} GFLOP/s")
    if args.flops:
        g = inception_gflop_per_image()
        print(f"Inception-v3 to pool3 at 299 px: {g:.2f} GFLOP per image (2 x multiply-adds)")
        for name, rate in best.items():
            print(f"  bound at the {name} matmul rate: {rate / g:5.1f} images/s")


if __name__ == "__main__":
    main()
