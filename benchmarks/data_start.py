"""Wall seconds from launching `gan-zoo train` to its first training step (start-up, data, model, evaluator), and
the images/s of the streaming image-folder loader.

    python benchmarks/data_start.py start [OVERRIDE ...]     # e.g. data=cifar10 (run twice: first and second start)
    python benchmarks/data_start.py stream ROOT [WORKERS ...]  # streamed decoding of an image folder

`start` runs the real command in a subprocess with an extra callback that writes the wall clock when the first
training batch begins; the figure is that time minus the launch time. Run it with an empty cache (first start) and
again (second start).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L


class FirstStepClock(L.Callback):
    """Writes time.time() to `path` when the first training batch starts, then lets the run go on."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.done = False

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, batch_idx: int
    ) -> None:
        if not self.done:
            Path(self.path).write_text(repr(time.time()))
            self.done = True


def start(overrides: list[str]) -> None:
    stamp = Path(tempfile.mkdtemp()) / "first_step"
    here = Path(__file__).resolve().parent
    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "PYTHONPATH": os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")]),
    }
    args = [
        sys.executable,
        "-m",
        "gan_zoo.cli",
        "train",
        *overrides,
        "+callbacks.first_step._target_=data_start.FirstStepClock",
        f"+callbacks.first_step.path={stamp}",
    ]
    t0 = time.time()
    r = subprocess.run(args, env=env, capture_output=True, text=True)
    total = time.time() - t0
    if r.returncode != 0 or not stamp.exists():
        sys.exit(f"the run failed (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    first = float(stamp.read_text()) - t0
    print(
        json.dumps(
            {
                "command": "gan-zoo train " + " ".join(overrides),
                "first_step_s": round(first, 1),
                "whole_run_s": round(total, 1),
            }
        )
    )


def stream(root: str, workers: list[int]) -> None:
    from gan_zoo.data import ImageFolderDataModule

    for w in workers:
        dm = ImageFolderDataModule(root=root, image_size=32, channels=3, stream=True, batch_size=128, num_workers=w)
        dm.setup("fit")
        loader = dm.train_dataloader()
        t0, n = time.perf_counter(), 0
        for x, _ in loader:
            n += len(x)
            if n >= 20000:  # a first pass over part of an epoch (worker start-up included)
                break
        dt = time.perf_counter() - t0
        print(
            json.dumps(
                {"root": root, "num_workers": w, "images": n, "seconds": round(dt, 1), "images_per_s": round(n / dt)}
            )
        )


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "start":
        start(sys.argv[2:])
    elif len(sys.argv) >= 3 and sys.argv[1] == "stream":
        stream(sys.argv[2], [int(w) for w in sys.argv[3:]] or [0, 2])
    else:
        sys.exit(__doc__)
