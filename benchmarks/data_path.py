"""Seconds per training batch of the data path alone: the per-sample DataLoader (one `__getitem__` per example,
then `torch.stack`) against gan_zoo's index batching (one gather per batch, gan_zoo/data/base.py).

    python benchmarks/data_path.py        # mnist_mini at batch 64, ring8 at batch 256 and 1,024

Both loaders iterate the same shuffled epochs (same seed, same samples); the figure is the median over 5 epochs.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch.utils.data import DataLoader

from gan_zoo.data import GaussianMixtureDataModule, MNISTMiniDataModule


def per_batch(loader: DataLoader, epochs: int = 5) -> float:
    times = []
    for _ in range(epochs):
        t0, n = time.perf_counter(), 0
        for _batch in loader:
            n += 1
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def main() -> None:
    cases = [
        ("mnist_mini", MNISTMiniDataModule(batch_size=64)),
        ("ring8", GaussianMixtureDataModule("ring8", "ring8", 0.01, batch_size=256)),
        ("ring8", GaussianMixtureDataModule("ring8", "ring8", 0.01, batch_size=1024)),
    ]
    for name, dm in cases:
        dm.setup("fit")
        torch.manual_seed(0)
        plain = per_batch(DataLoader(dm.train_set, batch_size=dm.batch_size, shuffle=True, drop_last=True))
        torch.manual_seed(0)
        ours = per_batch(dm.train_dataloader())
        print(
            f"{name} batch {dm.batch_size}: per-sample {plain * 1e3:.3f} ms/batch, index batching {ours * 1e3:.3f} "
            f"ms/batch ({plain / ours:.1f}x) threads={torch.get_num_threads()}",
            flush=True,
        )


if __name__ == "__main__":
    main()
