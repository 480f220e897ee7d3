"""Writes a sample grid of the fixed evaluation noise after every validation (the "monitor")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torchvision.utils import make_grid

from gan_zoo.data.images import to_uint8_images


def save_image_grid(images: torch.Tensor, path: Path, nrow: int) -> np.ndarray:
    """Save float images in [-1, 1] [N, C, H, W] as one PNG grid; return it as uint8 [H, W, C]."""
    from PIL import Image

    grid = make_grid(to_uint8_images(images).cpu(), nrow=nrow, padding=2, pad_value=128)  # [C, H, W]
    arr = grid.permute(1, 2, 0).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(path)
    return arr


def save_scatter(points: torch.Tensor, centers: torch.Tensor | None, path: Path, title: str) -> np.ndarray:
    """Scatter plot of 2D samples (and the mixture centres) as a PNG; return it as uint8 [H, W, 3]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    p = points.detach().float().cpu().numpy()
    ax.scatter(p[:, 0], p[:, 1], s=2, alpha=0.4, label="generated")
    if centers is not None:
        c = centers.cpu().numpy()
        ax.scatter(c[:, 0], c[:, 1], s=20, c="red", marker="x", label="modes")
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    fig.canvas.draw()
    arr = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return arr


class SampleGrid(L.Callback):
    """After each validation: samples of the fixed noise (EMA generator, eval mode) to `dirpath`.

    Images become `epoch_XXXX.png` grids (one row per class for conditional models); 2D samples a
    scatter plot. The same picture goes to every logger that has `log_image` (W&B), as uint8.
    """

    def __init__(self, dirpath: str, nrow: int = 8, num_points: int = 2500) -> None:
        self.dirpath = Path(dirpath)
        self.nrow = nrow
        self.num_points = num_points
        self.last_path: Path | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        path = self.dirpath / f"epoch_{trainer.current_epoch:04d}.png"
        title = f"epoch {trainer.current_epoch}, generator step {pl_module.g_steps}"
        images = pl_module.sample_fixed()
        if images.dim() == 2:  # 2D points: a scatter of many samples says more than 64 dots
            points, _ = pl_module.sample(self.num_points)
            arr = save_scatter(points, getattr(pl_module.evaluator, "centers", None), path, title)
        else:
            arr = save_image_grid(images, path, nrow=pl_module.grid_columns or self.nrow)
        self.last_path = path
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):
                logger.log_image(key="samples/grid", images=[arr], caption=[title], step=trainer.global_step)
