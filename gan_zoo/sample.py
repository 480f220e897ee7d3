"""Sample a trained GAN into the `.npz` contract of docs/contracts.md, plus a PNG grid.

    gan-zoo sample checkpoint=outputs/train/dcgan_mnist/RUN/checkpoints/best.ckpt num=1000 out=s.npz
    gan-zoo sample checkpoint=outputs/train/cgan_mnist/RUN num=100 out=threes.npz label=3

`.npz` keys: `images` uint8 [N, C, H, W] for image models, `samples` float32 [N, D] for vector data,
`labels` int64 [N] for conditional models, `codes` int64 [N] (the categorical code) for InfoGAN
(`code=K` picks one code, like `label=K` picks one class), `latents` float32 [N, latent] (the z the generator
read: the `z` input of `gan-zoo export`'s module) and, for style-based models with random noise, `noise` float32
[N, sum(res**2)] (the per-layer noise maps the `noise_seeds` give, flattened). `truncation=T` resamples z until
every |z_i| <= T (the truncation trick of docs/references.md §7); style-based models truncate in w instead, with
`psi=PSI` (w_avg + PSI (w - w_avg); `psi_cutoff=L` limits it to the first L style layers). Each key works only on
the games with that truncation (models/contract.py). Sampling is in eval mode, from the EMA generator if any.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig

from gan_zoo.build import load_checkpoint_gan
from gan_zoo.callbacks.samples import save_image_grid, save_scatter
from gan_zoo.data.images import to_uint8_images
from gan_zoo.errors import exit_on_user_error, require, require_bool, require_int
from gan_zoo.models.contract import capabilities_of, check_truncation_keys, require_capability
from gan_zoo.utils.checkpoints import resolve_checkpoint
from gan_zoo.utils.io import check_outputs, make_parent


def apply_truncation(
    gan: Any, threshold: float | None = None, psi: float | None = None, psi_cutoff: int | None = None
) -> None:
    """`truncation=T` (z resampled until every |z_i| <= T) on games that truncate z, `psi=PSI` (and `psi_cutoff=L`:
    w_avg + PSI (w - w_avg) at style layers < L) on games that truncate w; a key of the other meaning exits 2
    naming the right one. Nothing is changed when all are null."""
    given = {"truncation": threshold, "psi": psi, "psi_cutoff": psi_cutoff}
    check_truncation_keys(gan, [k for k, v in given.items() if v is not None])
    if psi is not None or psi_cutoff is not None:
        require(psi is not None, "psi_cutoff= needs psi=PSI as well")
        gan.set_psi(float(psi), psi_cutoff)
    if threshold is not None:
        gan.set_truncation(float(threshold))


def apply_noise_mode(gan: Any, mode: str | None) -> None:
    """`noise_mode=random|const` for style-based models (their per-pixel noise when sampling); null keeps the
    model's setting."""
    if mode is None:
        return
    require_capability(
        gan,
        "w_space",
        f"noise_mode= is for style-based models (per-pixel noise inputs); "
        f"{type(gan).__name__} has none: drop noise_mode=",
    )
    gan.set_noise_mode(str(mode))


def sample_to_npz(cfg: DictConfig) -> dict[str, Any]:
    """Load, sample, write the .npz and the picture; return a summary."""
    require(isinstance(cfg.num, int) and cfg.num > 0, f"num must be a positive integer, got {cfg.num!r}")
    require_int(cfg.seed, "seed")
    require_int(cfg.batch_size, "batch_size", 1)
    for key in ("ema", "overwrite"):
        require_bool(cfg.get(key, key == "ema"), key)
    for key in ("label", "code"):
        if cfg.get(key) is not None:
            require_int(cfg.get(key), key, 0)
    out = Path(str(cfg.out))
    picture = out.with_suffix(".png")
    check_outputs([out, picture], bool(cfg.get("overwrite", False)), given=cfg.out, suffix=".npz")
    ckpt = resolve_checkpoint(cfg.checkpoint)
    gan, info = load_checkpoint_gan(str(ckpt), map_location=cfg.device)
    gan.to(cfg.device)
    if not cfg.ema:
        gan.drop_ema()
    apply_truncation(gan, cfg.get("truncation"), cfg.get("psi"), cfg.get("psi_cutoff"))
    apply_noise_mode(gan, cfg.get("noise_mode"))
    given = {k: cfg.get(k) for k in ("label", "code") if cfg.get(k) is not None}
    if "code" in given:  # only InfoGAN has categorical codes; other games would ignore code= silently
        require_capability(
            gan,
            "codes",
            f"code= picks an InfoGAN categorical code, but {type(gan).__name__} has no codes"
            + ("; use label=K for a class" if capabilities_of(gan).labels else "")
            + ": drop code=",
        )
    x, conds = gan.generate(cfg.num, seed=cfg.seed, batch_size=cfg.batch_size, **given)
    make_parent(out, f"out={cfg.out}")
    arrays: dict[str, np.ndarray] = {}
    if x.dim() == 4:
        arrays["images"] = to_uint8_images(x).cpu().numpy()
        shown = x[: min(len(x), 100)]
        columns = gan.grid_columns
        save_image_grid(
            shown, picture, nrow=columns if columns and not given else int(math.ceil(math.sqrt(len(shown))))
        )
    else:
        arrays["samples"] = x.float().cpu().numpy()
        save_scatter(x, None, picture, f"{len(x)} samples")
    # `labels`, `codes` (docs/contracts.md), `continuous_codes`, `noise_seeds`, and `latents` (the z read)
    for name, value in conds.items():
        arrays[name] = value.cpu().numpy()
    if capabilities_of(gan).w_space and "noise_seeds" in conds:  # the maps the seeds give: an exported module's input
        arrays["noise"] = gan.sampling_generator.noise_vectors(conds["noise_seeds"]).float().cpu().numpy()
    np.savez(out, **arrays)
    summary = {
        "checkpoint": str(ckpt),
        "out": str(out),
        "picture": str(picture),
        "generator_steps": info.get("g_steps"),
        "sampled_from": "generator_ema" if gan.has_ema else "generator",
        **{k: f"{v.dtype} {list(v.shape)}" for k, v in arrays.items()},
    }
    print("\n".join(f"{k:14s} {v}" for k, v in summary.items()), flush=True)
    return summary


@hydra.main(version_base="1.3", config_path="conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (the `gan-zoo sample` command)."""
    exit_on_user_error(sample_to_npz, cfg)


if __name__ == "__main__":
    main()
