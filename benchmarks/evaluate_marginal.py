"""Marginal cost per image of `gan-zoo evaluate samples=FILE.npz data=cifar10 extractor=inception metrics=[fid]`.

    python benchmarks/evaluate_marginal.py --small 50 --large 250 [--precisions fp32,bf16] [--num-real 250] [--reps 1]

Writes the first `large` CIFAR-10 test images as an .npz, fills the cache once per precision and count (the
reference: the first num_real training images; the fid_real_floor that evaluate adds: as many test images as
samples, computed once per sample count), then times the whole CLI (a fresh process: start-up, the cached reference,
the samples' features, the FID) on `small` and on `large` samples (max_samples=), the precisions interleaved.
The marginal images/s is (large - small) / (wall(large) - wall(small)): start-up and the cached reference cancel.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    """Print one row per precision: wall at each size and the marginal images/s."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=50)
    ap.add_argument("--large", type=int, default=250)
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--num-real", type=int, default=250)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--root", default="data/cifar10")
    ap.add_argument("--cache", default=".cache")
    ap.add_argument("--out", default="/tmp/evaluate_marginal")
    args = ap.parse_args()
    from gan_zoo.data import CIFAR10DataModule

    out, cache = Path(args.out), Path(args.cache).resolve()
    out.mkdir(parents=True, exist_ok=True)
    dm = CIFAR10DataModule(root=args.root, cache_dir=str(cache))
    dm.setup("fit")
    np.savez(out / "samples.npz", images=dm.first_n(args.large, "test")[0].numpy())
    env = {**os.environ, "GAN_ZOO_CACHE": str(cache), "WANDB_MODE": "disabled"}
    script = Path(sys.executable).parent / "gan-zoo"  # the console script the issue names, else the module
    gan_zoo = [sys.executable, str(script)] if script.is_file() else [sys.executable, "-m", "gan_zoo.cli"]

    def run(precision: str, n: int) -> float:
        cmd = [*gan_zoo, "evaluate", f"samples={out / 'samples.npz'}", "data=cifar10"]
        cmd += [f"data.root={args.root}", "extractor=inception", "metrics=[fid]", f"num_real={args.num_real}"]
        cmd += [f"inception.precision={precision}", f"max_samples={n}", f"paths.cache_dir={cache}"]
        cmd += [f"out={out / f'{precision}_{n}.json'}", "overwrite=true"]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        return time.perf_counter() - t

    precisions = args.precisions.split(",")
    for p in precisions:  # not timed: the reference statistics and each count's real-vs-real floor into the cache
        for n in (args.small, args.large):
            run(p, n)
    walls: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.reps):
        for n in (args.small, args.large):
            for p in precisions:
                walls.setdefault((p, n), []).append(run(p, n))
    print(f"evaluate data=cifar10 extractor=inception metrics=[fid], reference cached ({args.num_real} train images)")
    print("| precision | wall, small | wall, large | marginal img/s |")
    print("|---|---|---|---|")
    for p in precisions:
        small, large = min(walls[(p, args.small)]), min(walls[(p, args.large)])
        rate = (args.large - args.small) / (large - small)
        print(f"| {p} | {small:.1f} s ({args.small}) | {large:.1f} s ({args.large}) | {rate:.2f} |")


if __name__ == "__main__":
    main()
