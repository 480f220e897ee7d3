"""Sample a trained GAN into the `.npz` contract of DESIGN.md, plus a PNG grid.

    gan-zoo sample checkpoint=outputs/train/dcgan_mnist/RUN/checkpoints/best.ckpt num=1000 out=s.npz
    gan-zoo sample checkpoint=outputs/train/cgan_mnist/RUN num=100 out=threes.npz label=3

`.npz` keys: `images` uint8 [N, C, H, W] for image models, `samples` float32 [N, D] for vector data,
`labels` int64 [N] for conditional models. Sampling is in eval mode, from the EMA generator if any.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from gan_zoo.build import load_checkpoint_gan
from gan_zoo.callbacks.samples import save_image_grid, save_scatter
from gan_zoo.data.images import to_uint8_images
from gan_zoo.errors import ConfigError, exit_on_user_error, require


def find_checkpoint(path: str) -> Path:
    """A .ckpt file, or a run directory's best.ckpt (else last.ckpt)."""
    p = Path(path)
    if p.is_dir():
        for name in ("best.ckpt", "last.ckpt"):
            if (p / "checkpoints" / name).is_file():
                return p / "checkpoints" / name
        raise ConfigError(f"checkpoint={path}: the directory has no checkpoints/best.ckpt or checkpoints/last.ckpt")
    if not p.is_file():
        raise ConfigError(f"checkpoint={path}: no such file. Give a .ckpt file or a run directory.")
    return p


def sample_to_npz(cfg: DictConfig) -> dict[str, Any]:
    """Load, sample, write the .npz and the picture; return a summary."""
    require(isinstance(cfg.num, int) and cfg.num > 0, f"num must be a positive integer, got {cfg.num!r}")
    ckpt = find_checkpoint(cfg.checkpoint)
    gan, info = load_checkpoint_gan(str(ckpt), map_location=cfg.device)
    gan.to(cfg.device)
    if not cfg.ema:
        gan.generator_ema = None
    y = None
    if cfg.label is not None:
        require(gan.num_classes > 0, "label= was given but this model is unconditional; drop label=")
        require(0 <= int(cfg.label) < gan.num_classes,
                f"label must be in [0, {gan.num_classes - 1}] for this model, got {cfg.label}")
        y = torch.full((cfg.num,), int(cfg.label), dtype=torch.long, device=gan.device)
    x, y = gan.sample(cfg.num, y=y, seed=cfg.seed, batch_size=cfg.batch_size)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    if x.dim() == 4:
        arrays["images"] = to_uint8_images(x).cpu().numpy()
        picture = out.with_suffix(".png")
        shown = x[: min(len(x), 100)]
        save_image_grid(shown, picture, nrow=gan.num_classes if y is not None and cfg.label is None
                        else int(math.ceil(math.sqrt(len(shown)))))
    else:
        arrays["samples"] = x.float().cpu().numpy()
        picture = out.with_suffix(".png")
        save_scatter(x, None, picture, f"{len(x)} samples")
    if y is not None:
        arrays["labels"] = y.long().cpu().numpy()
    np.savez(out, **arrays)
    summary = {"checkpoint": str(ckpt), "out": str(out), "picture": str(picture), "generator_steps": info.get("g_steps"),
               "sampled_from": "generator_ema" if gan.generator_ema is not None else "generator",
               **{k: f"{v.dtype} {list(v.shape)}" for k, v in arrays.items()}}
    print("\n".join(f"{k:14s} {v}" for k, v in summary.items()), flush=True)
    return summary


@hydra.main(version_base="1.3", config_path="conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (the `gan-zoo sample` command)."""
    exit_on_user_error(sample_to_npz, cfg)


if __name__ == "__main__":
    main()
