"""Inception-v3 feature speed on CPU: torch-fidelity's forward vs gan_zoo's extractor (BN folded, channels-last).

    python benchmarks/inception_speed.py --n 96 --chunk 32 --threads 2 [--variants tf,plain,fused,fused_jit,bf16]

Images: CIFAR-10 test images from data/cifar10 (class folders) when present, else random 32 px RGB. Each
variant runs one warm-up chunk, then n images; prints images/s, the max feature difference to torch-fidelity's
forward and the FID of the first half against the second half of the images under that variant, with its
change relative to torch-fidelity's.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch

warnings.simplefilter("ignore", FutureWarning)


def images(n: int) -> torch.Tensor:
    """n CIFAR-10 test images (first n/10 of each class) if the copy is there, else random ones."""
    root = Path("data/cifar10/test")
    if root.is_dir():
        from PIL import Image

        classes = sorted(p for p in root.iterdir() if p.is_dir())
        files = [f for c in classes for f in sorted(c.iterdir())[: -(-n // len(classes))]][:n]
        return torch.from_numpy(np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])).permute(0, 3, 1, 2)
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def main() -> None:
    """Time the variants and print one row each."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default="tf,plain,fused")
    ap.add_argument("--cache", default=".cache")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from gan_zoo.metrics import scores
    from gan_zoo.metrics.extractors import InceptionExtractor
    from gan_zoo.metrics.scores import RunningStats

    ext = InceptionExtractor(cache_dir=args.cache, fast=True)
    plain = InceptionExtractor(cache_dir=args.cache, fast=False)
    x = images(args.n + args.chunk)
    warm, x = x[: args.chunk], x[args.chunk :]

    def tf(b: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return ext.net(b)[0]

    variants = {"tf": tf, "plain": lambda b: plain(b)[0], "fused": lambda b: ext(b)[0]}
    if "fused_jit" in args.variants:
        with torch.inference_mode():
            probe = torch.zeros(2, 3, 299, 299).contiguous(memory_format=torch.channels_last)
            jit = torch.jit.freeze(torch.jit.trace(ext.trunk, probe).eval())

        def fused_jit(b: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                h = ((ext._resized(b) - 128) / 128).contiguous(memory_format=torch.channels_last)
                return torch.flatten(jit(h), 1)

        variants["fused_jit"] = fused_jit
    if "bf16" in args.variants:

        def bf16(b: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                h = ((ext._resized(b) - 128) / 128).contiguous(memory_format=torch.channels_last)
                return torch.flatten(ext.trunk(h), 1).float()

        variants["bf16"] = bf16

    def fid_halves(f: torch.Tensor) -> float:
        a, b = RunningStats(f.shape[1]), RunningStats(f.shape[1])
        a.update(f[: len(f) // 2])
        b.update(f[len(f) // 2 :])
        return scores.fid(a, b)

    ref_feats, ref_fid = None, None
    print(
        f"threads {args.threads}, chunk {args.chunk}, {args.n} images, "
        f"{'cifar10 test' if Path('data/cifar10').is_dir() else 'random'}",
        flush=True,
    )
    warmed = set()
    for name in args.variants.split(","):
        fn = variants[name]
        if name not in warmed:  # a repeated variant (tf,fused,tf,fused: interleaved on a busy box) warms once
            fn(warm)
            warmed.add(name)
        t = time.perf_counter()
        feats = torch.cat([fn(x[s : s + args.chunk]) for s in range(0, len(x), args.chunk)])
        dt = time.perf_counter() - t
        fid = fid_halves(feats.double())
        if ref_feats is None:
            ref_feats, ref_fid = feats, fid
        print(
            f"{name:10s} {len(x) / dt:7.2f} img/s  {dt / len(x) * 1000:7.1f} ms/img  max|d feat| "
            f"{(feats - ref_feats).abs().max().item():.2e}  FID halves {fid:.7f} "
            f"(rel change {abs(fid - ref_fid) / ref_fid:.1e})",
            flush=True,
        )


if __name__ == "__main__":
    main()
