"""Inception FID between parts of the CIFAR-10 copy in data/cifar10 (class folders): the torch-fidelity pair
and a floor.

    python benchmarks/cifar10_fid_floor.py [--root data/cifar10] [--n 5000] [--resize tf1]

"The first n" of a split = the first n/10 sorted file names of each class (the issue's rule for class
folders). Prints:
  * FID(first n training images, first n test images): torch-fidelity documents 10.3233274 for this pair on
    the original PNG-equivalent files; the JPEG q75 copy differs, so compare within the copy only;
  * the real-vs-real floor: FID(training images n+1..2n of each class's order, first n training images),
    two disjoint halves of the first 2n training images.
Features are computed with gan_zoo's InceptionExtractor (weights from `gan-zoo weights inception`) in chunks
of 250 and saved per chunk under .cache/bench_cifar_features/, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def first_files(split_dir: Path, start: int, stop: int) -> list[Path]:
    """Files start..stop-1 of "the first n" order: per class, sorted names [start/10, stop/10)."""
    classes = sorted(p for p in split_dir.iterdir() if p.is_dir())
    k = len(classes)
    return [f for c in classes for f in sorted(c.iterdir())[start // k : stop // k]]


def features(files: list[Path], ext, tag: str, cache: Path, chunk: int = 250) -> torch.Tensor:  # noqa: ANN001
    """Inception pool3 features of the files, chunk by chunk, each chunk cached on disk."""
    out = []
    for s in range(0, len(files), chunk):
        path = cache / f"{tag}_{s:06d}_{chunk}.pt"
        if path.is_file():
            out.append(torch.load(path))
            continue
        t = time.perf_counter()
        x = torch.from_numpy(np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files[s : s + chunk]]))
        f = ext(x.permute(0, 3, 1, 2).contiguous())[0]
        torch.save(f, path)
        out.append(f)
        print(f"{tag}: {s + len(x)}/{len(files)} ({len(x) / (time.perf_counter() - t):.2f} img/s)", flush=True)
    return torch.cat(out)


def main() -> None:
    """Compute and print the two FIDs."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="data/cifar10")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--resize", default="tf1")
    ap.add_argument("--cache", default=".cache")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from gan_zoo.metrics import scores
    from gan_zoo.metrics.extractors import InceptionExtractor
    from gan_zoo.metrics.scores import RunningStats

    ext = InceptionExtractor(cache_dir=args.cache, resize=args.resize)
    cache = Path(args.cache) / "bench_cifar_features" / f"{ext.sha256[:12]}_{args.resize}"
    cache.mkdir(parents=True, exist_ok=True)
    root, n = Path(args.root), args.n

    def stats(f: torch.Tensor) -> RunningStats:
        r = RunningStats(f.shape[1])
        r.update(f.double())
        return r

    train = features(first_files(root / "train", 0, n), ext, f"train_0_{n}", cache)
    test = features(first_files(root / "test", 0, n), ext, f"test_0_{n}", cache)
    print(
        f"FID(first {n} train, first {n} test) = {scores.fid(stats(train), stats(test)):.7f}  "
        f"[{ext.protocol()['weights']}, resize {args.resize}]",
        flush=True,
    )
    nxt = features(first_files(root / "train", n, 2 * n), ext, f"train_{n}_{2 * n}", cache)
    print(f"floor: FID(train {n}..{2 * n}, first {n} train) = {scores.fid(stats(nxt), stats(train)):.7f}", flush=True)


if __name__ == "__main__":
    main()
