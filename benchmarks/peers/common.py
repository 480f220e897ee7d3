"""What every peer launcher shares: the CIFAR-10 copy in memory, a training clock that stops the peer's own loop,
sample files `gan-zoo evaluate samples=...` reads, and running a peer's script from its checkout.

The peer's code is never copied: a launcher runs the peer's file from the path given, with its data loader fed
from the copy's `train/` class folders (decoded once by gan_zoo and cached) instead of a download.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_zoo.data.images import to_uint8_images


class TimeUp(Exception):
    """Raised inside the peer's data loading once its training budget is spent: ends its loop at a batch edge."""


class Clock:
    """Training wall clock: starts at the first batch the peer asks for, pauses while the launcher takes a snapshot.

    every_s: snapshot period; on_snapshot(seconds) is called (clock paused) each time another period passed.
    """

    def __init__(self, budget_s: float, every_s: float, on_snapshot: Callable[[float], None]) -> None:
        self.budget_s, self.every_s, self.on_snapshot = budget_s, every_s, on_snapshot
        self.start: float | None = None
        self.paused = 0.0
        self.snapshots = 0
        self.items = 0  # items fetched while the clock ran (batches = items // batch size)

    def elapsed(self) -> float:
        """Seconds of training so far (snapshot time left out)."""
        return 0.0 if self.start is None else time.monotonic() - self.start - self.paused

    def tick(self) -> None:
        """Called for every item the peer loads: starts the clock, takes due snapshots, raises TimeUp at the budget."""
        if self.start is None:
            self.start = time.monotonic()
        t = self.elapsed()
        if t >= self.budget_s:
            raise TimeUp
        self.items += 1
        if t >= (self.snapshots + 1) * self.every_s:
            self.snapshots += 1
            t0 = time.monotonic()
            self.on_snapshot(self.snapshots * self.every_s)
            self.paused += time.monotonic() - t0


class InMemoryCIFAR10(torch.utils.data.Dataset):
    """The copy's training split as float images in [-1, 1] (what the peers' ToTensor + Normalize(0.5, 0.5) give),
    with its labels; every item fetched ticks the clock."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, clock: Clock) -> None:
        self.images, self.labels, self.clock = images, labels, clock

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        self.clock.tick()
        return self.images[i].float().div(127.5).sub(1.0), int(self.labels[i])


def load_train_split(data_root: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    """uint8 [N, 3, 32, 32] training images, labels and the copy's id, decoded once and cached by gan_zoo."""
    from gan_zoo.data import CIFAR10DataModule

    dm = CIFAR10DataModule(root=data_root, cache_dir=os.environ.get("GAN_ZOO_CACHE") or ".cache")
    dm.setup("fit")
    x, y = dm.split_tensors("train")
    return x, y, dm.dataset_id


def save_samples(images: torch.Tensor, path: Path, info: dict[str, Any]) -> None:
    """Float images in [-1, 1] -> an .npz with `images` uint8 [N, C, H, W], as `gan-zoo evaluate samples=` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=to_uint8_images(images.detach().cpu()).numpy(), info=json.dumps(info))


def run_peer_script(script: Path, argv: list[str], cwd: Path, ns: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute the peer's script file as __main__ with `argv`, from `cwd`, in `ns` (its globals: the caller can read
    its networks while it runs, e.g. for snapshots); returns them when TimeUp (or its own end) stops it."""
    code = compile(script.read_text(), str(script), "exec")
    ns = {} if ns is None else ns
    ns.update({"__name__": "__main__", "__file__": str(script)})
    saved_argv, saved_cwd, saved_path = sys.argv[:], os.getcwd(), sys.path[:]
    cwd.mkdir(parents=True, exist_ok=True)
    try:
        sys.argv = [str(script), *argv]
        sys.path.insert(0, str(script.parent))
        os.chdir(cwd)
        exec(code, ns)  # noqa: S102 - running the peer's own file is the point
    except TimeUp:
        pass
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        os.chdir(saved_cwd)
    return ns
