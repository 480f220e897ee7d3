"""Keeps the generator's weights every N minutes of training wall-clock time, for FID-vs-time curves.

Scoring 5,000 Inception samples costs minutes on a CPU, far too much to do inside a timed run; the snapshots are
scored after it (experiments/cifar10/score_curve.py). Each file is a weights-only gan_zoo checkpoint that
`load_checkpoint_gan` and `gan-zoo evaluate checkpoint=...` read, named after the seconds of training it holds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L

from gan_zoo.errors import require


def snapshot_name(seconds: float) -> str:
    """The file name of the snapshot due at `seconds` of training: wall-000300s.ckpt for 5 minutes."""
    return f"wall-{round(seconds):06d}s.ckpt"


def snapshot_seconds(name: str) -> float:
    """The seconds of training a snapshot's file name records (the inverse of snapshot_name); any prefix and
    extension, so the peers' sample files (`samples-000300s.npz`) read the same way."""
    return float(name.split("-", 1)[1].split(".")[0].removesuffix("s"))


class WallClockCheckpoints(L.Callback):
    """Saves `<dirpath>/wall-SSSSSSs.ckpt` (weights only) each time another `every_minutes` of training passed.

    The clock starts when training starts (after data decoding and set-up) and runs through validation, as
    Lightning's max_time does; a resumed run continues the count from its checkpoint.
    """

    def __init__(self, dirpath: str, every_minutes: float = 5.0) -> None:
        require(
            every_minutes is not None and every_minutes > 0,
            f"callbacks.wall.every_minutes must be > 0, got {every_minutes!r}",
        )
        self.dirpath, self.every = Path(dirpath), float(every_minutes) * 60.0
        self.elapsed_before = 0.0  # seconds of training in earlier segments of the run
        self.saved = 0  # snapshots written so far (the next is due at (saved + 1) * every)
        self._start: float | None = None

    def elapsed(self) -> float:
        """Seconds of training so far, earlier segments included."""
        return self.elapsed_before + (0.0 if self._start is None else time.monotonic() - self._start)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        due = (self.saved + 1) * self.every
        if self.elapsed() < due:
            return
        self.saved = int(self.elapsed() // self.every)
        path = self.dirpath / snapshot_name(self.saved * self.every)
        trainer.save_checkpoint(str(path), weights_only=True)

    def state_dict(self) -> dict[str, Any]:
        return {"elapsed": self.elapsed(), "saved": self.saved}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.elapsed_before = float(state_dict.get("elapsed", 0.0))
        self.saved = int(state_dict.get("saved", 0))
