"""Inception-v3 feature speed on CPU: torch-fidelity's forward vs gan_zoo's extractor (BN folded, channels-last).

    python benchmarks/inception_speed.py --n 96 --chunk 32 --threads 2 [--variants tf,plain,fused,bf16,...]

Variants: tf (torch-fidelity's forward), plain (our path, nothing folded), fused (the default fp32 extractor),
bf16 (inception.precision=bf16), autocast (fused under CPU autocast: nothing is cast, the oneDNN op is not on
autocast's list), fused_jit (torch.jit.freeze), compiled / compiled_bf16 (torch.compile with inductor freezing; the
warm-up chunk pays the compile, minutes; keep n a multiple of chunk so no second shape is compiled).

Images: CIFAR-10 test images from data/cifar10 (class folders) when present, else random 32 px RGB. Each variant
runs one warm-up chunk, then n images (name variants more than once to interleave them on a busy box:
fused,bf16,fused,bf16; name@C runs a variant in chunks of C <= --chunk); prints images/s, the max feature
difference to the first variant and the FID of the first half against the second half of the images under that
variant, with its change relative to the first variant's.
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
    if "bf16" in args.variants:  # gan_zoo's opt-in inception.precision=bf16
        ext16 = InceptionExtractor(cache_dir=args.cache, fast=True, precision="bf16")
        variants["bf16"] = lambda b: ext16(b)[0]
    if "autocast" in args.variants:  # the fused fp32 trunk under CPU autocast (only F.conv2d would be cast)

        def autocast(b: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                h = ((ext._resized(b) - 128) / 128).contiguous(memory_format=torch.channels_last)
                return torch.flatten(ext.trunk(h), 1).float()

        variants["autocast"] = autocast
    if "compiled" in args.variants:  # torch.compile (inductor, C++ backend) with weight freezing, on the unfused trunk
        import copy

        import torch._inductor.config as inductor_config

        inductor_config.freezing = True  # BN folded, weights prepacked for oneDNN, conv + ReLU fused by inductor
        for name, dtype in (("compiled", torch.float32), ("compiled_bf16", torch.bfloat16)):
            if name not in args.variants.split(","):
                continue
            net = torch.compile(copy.deepcopy(plain.trunk).to(dtype), dynamic=False)

            def compiled_fn(b: torch.Tensor, net=net, dtype=dtype) -> torch.Tensor:
                with torch.inference_mode():
                    h = ((plain._resized(b) - 128) / 128).contiguous(memory_format=torch.channels_last)
                    return torch.flatten(net(h.to(dtype)), 1).float()

            variants[name] = compiled_fn

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
    for label in args.variants.split(","):
        name, _, size = label.partition("@")  # fused@16: the fused variant in chunks of 16
        fn, chunk = variants[name], int(size or args.chunk)
        if label not in warmed:  # a repeated variant (tf,fused,tf,fused: interleaved on a busy box) warms once
            fn(warm[:chunk])
            warmed.add(label)
        t = time.perf_counter()
        feats = torch.cat([fn(x[s : s + chunk]) for s in range(0, len(x), chunk)])
        dt = time.perf_counter() - t
        fid = fid_halves(feats.double())
        if ref_feats is None:
            ref_feats, ref_fid = feats, fid
        print(
            f"{label:13s} {len(x) / dt:7.2f} img/s  {dt / len(x) * 1000:7.1f} ms/img  max|d feat| "
            f"{(feats - ref_feats).abs().max().item():.2e}  FID halves {fid:.7f} "
            f"(rel change {abs(fid - ref_fid) / ref_fid:.1e})",
            flush=True,
        )


if __name__ == "__main__":
    main()
