"""Translate held-out images (or a folder) with a Pix2Pix/CycleGAN checkpoint into the `.npz` contract.

    gan-zoo translate checkpoint=outputs/train/pix2pix_edges_mnist/RUN out=t.npz
    gan-zoo translate checkpoint=outputs/train/cyclegan_digits_mnist/RUN direction=BtoA num=100 out=t.npz
    gan-zoo translate checkpoint=RUN input=my_sketches/ out=t.npz

`.npz` keys: `images` uint8 [N, C, H, W] (the translations, at the target domain's data size), `sources`
uint8 (the inputs at the same H and W), `labels` int64 [N] (each source's class, where the data has
classes), `targets` uint8 (the ground truth, paired data only). A PNG of input | output (| target) rows
goes beside it. The held-out split is rebuilt from the run's stored data config.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from gan_zoo.build import instantiate_checked, load_checkpoint_gan
from gan_zoo.callbacks.samples import save_image_grid
from gan_zoo.data.images import RESIZE_METHODS, ImageFolderDataModule, to_float_images, to_uint8_images
from gan_zoo.errors import ConfigError, exit_on_user_error, require, require_bool, require_int
from gan_zoo.models.image2image import TranslationGame, matched_channels, spread
from gan_zoo.utils.checkpoints import resolve_checkpoint
from gan_zoo.utils.io import check_outputs, make_parent

log = logging.getLogger("gan_zoo")


def held_out(gan: TranslationGame, info: dict[str, Any], direction: str) -> dict[str, torch.Tensor]:
    """{"sources", "labels"?, "targets"?} of the run's held-out split for `direction` (uint8 / int64)."""
    dm = instantiate_checked(OmegaConf.create(info["config"]["data"]), "data")
    dm.setup("fit")
    if dm.kind == "paired":
        t = dm.val_set.tensors
        out = {"sources": t["a"], "targets": t["b"], "labels": t["labels"]}
    else:
        x, y = dm.held_out("A" if direction == "AtoB" else "B")
        out = {"sources": x, "labels": y}
    if out["labels"].min() < 0:
        del out["labels"]
    return out


def folder_inputs(folder: str, shape: tuple[int, ...], resize: str) -> dict[str, torch.Tensor]:
    """Images of a folder at the source domain's size and channels (class sub-folders become labels)."""
    dm = ImageFolderDataModule(
        root=folder, image_size=int(shape[1]), channels=int(shape[0]), resize=resize, name=f"input:{Path(folder).name}"
    )
    try:
        x, y = dm.load()  # decoded, resized to the source size by `resize` (default: the run's data.resize)
    except ConfigError as e:
        if resize == "pad" and "cannot shrink" in str(e):  # the data module names its own key, data.resize
            raise ConfigError(
                f"input={folder} holds images larger than the model's {shape[1]}x{shape[1]} px "
                "inputs, which resize=pad (the run's data.resize) cannot shrink: add resize=bilinear "
                "(or resize=nearest)"
            ) from None
        raise
    out = {"sources": x}
    if len(y) and y.min() >= 0:
        out["labels"] = y
    return out


def translate_to_npz(cfg: DictConfig) -> dict[str, Any]:
    """Load, translate, write the .npz and the picture; return a summary."""
    require(
        cfg.num is None or (isinstance(cfg.num, int) and cfg.num > 0),
        f"num must be a positive integer or null, got {cfg.num!r}",
    )
    require(cfg.direction in ("AtoB", "BtoA"), f"direction must be AtoB or BtoA, got {cfg.direction!r}")
    require_int(cfg.batch_size, "batch_size", 1)
    require_int(cfg.rows, "rows", 1)
    for key in ("ema", "overwrite"):
        require_bool(cfg.get(key, key == "ema"), key)
    resize = cfg.get("resize")
    require(
        resize is None or resize in RESIZE_METHODS,
        f"resize must be one of {', '.join(RESIZE_METHODS)} or null (the run's data.resize), got {resize!r}",
    )
    require(
        resize is None or cfg.input is not None,
        "resize= applies to input= folders; the held-out split is already at the model's size: drop resize=",
    )
    out = Path(str(cfg.out))
    picture = out.with_suffix(".png")
    check_outputs([out, picture], bool(cfg.get("overwrite", False)), given=cfg.out, suffix=".npz")
    ckpt = resolve_checkpoint(cfg.checkpoint)
    gan, info = load_checkpoint_gan(str(ckpt), map_location=cfg.device)
    if not isinstance(gan, TranslationGame):
        raise ConfigError(
            f"{ckpt} holds a {type(gan).__name__}, which makes images from noise: use `gan-zoo sample "
            "checkpoint=... num=N out=FILE.npz` (or `gan-zoo analyse interpolate checkpoint=... out=DIR`); "
            "translate takes Pix2Pix/CycleGAN checkpoints"
        )
    gan.to(cfg.device)
    if not cfg.ema:
        gan.drop_ema()
    gan.check_direction(cfg.direction)
    src_shape = gan.shape_a if cfg.direction == "AtoB" else gan.shape_b
    if cfg.input is None:
        data = held_out(gan, info, cfg.direction)
        where = "the held-out split"
    else:
        resize = resize or str(info["config"]["data"].get("resize", "bilinear"))
        data = folder_inputs(str(cfg.input), src_shape, resize)
        where = str(cfg.input)
    available = len(data["sources"])
    n = available if cfg.num is None else min(cfg.num, available)
    capped = cfg.num is not None and cfg.num > available
    if capped:
        log.warning("num=%d asked, but %s has %d images: translated all %d", cfg.num, where, available, available)
        print(f"num={cfg.num} capped to {available}: {where} has {available} images", flush=True)
    data = {k: v[:n] for k, v in data.items()}
    fake = gan.translate(to_float_images(data["sources"]), cfg.direction, batch_size=cfg.batch_size)
    arrays = {"images": to_uint8_images(fake).cpu().numpy(), "sources": data["sources"].cpu().numpy()}
    if "labels" in data:
        arrays["labels"] = data["labels"].long().cpu().numpy()
    if "targets" in data:
        arrays["targets"] = data["targets"].cpu().numpy()
    make_parent(out, f"out={cfg.out}")
    np.savez(out, **arrays)
    shown = spread(n, min(int(cfg.rows), n))  # evenly spaced through the set: held-out splits are often sorted by class
    columns = [to_float_images(data["sources"][shown]), fake[shown].cpu()]
    if "targets" in data:
        columns.append(to_float_images(data["targets"][shown]))
    c = max(col.shape[1] for col in columns)
    tiles = torch.stack([matched_channels(col.float(), c) for col in columns], dim=1).flatten(0, 1)  # row by row
    save_image_grid(tiles, picture, nrow=len(columns))
    summary = {
        "checkpoint": str(ckpt),
        "out": str(out),
        "picture": str(picture),
        "direction": cfg.direction,
        "source": where,
        **({"resize": resize} if cfg.input is not None else {}),
        "translated": n,
        "capped": capped,
        "generator_steps": info.get("g_steps"),
        "translated_with": "EMA generator" if gan.has_ema else "generator",
        **{key: f"{v.dtype} {list(v.shape)}" for key, v in arrays.items()},
    }
    print("\n".join(f"{key:16s} {v}" for key, v in summary.items()), flush=True)
    return summary


@hydra.main(version_base="1.3", config_path="conf", config_name="translate")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (the `gan-zoo translate` command)."""
    exit_on_user_error(translate_to_npz, cfg)


if __name__ == "__main__":
    main()
