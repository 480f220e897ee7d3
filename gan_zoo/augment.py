"""Differentiable image augmentations: the critic's inputs (DiffAugment) and InfoGAN's Q (random_affine).

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"): the critic sees
every image, real or generated, through the same random, differentiable transform, in the critic step and in
the generator step, so it cannot memorise a small training set and G's gradient passes through the transform.
The ops follow the paper's policy names, on images in [-1, 1]:

* ``color``: brightness + U(-0.5, 0.5), saturation x U(0, 2) around the per-pixel channel mean (3-channel images
  only; a no-op on grey ones), contrast x U(0.5, 1.5) around the per-image mean;
* ``translation``: an integer shift of up to 1/8 of the size in each direction; the pixels shifted in are -1, the
  background of [-1, 1] digits (the paper pads with 0, mid-grey: reals and fakes get the same border either way);
* ``cutout``: a square of half the size, centred uniformly, set to 0 as in the paper (mid-grey).

Each op is drawn per sample; with ``p < 1`` each op is applied to a sample with probability p (ADA's fixed-p
form, without its adaptive controller). All draws are on the input's device from the global RNG: no host sync
and exact resume (the RNG state is checkpointed). Written here rather than taken from kornia because the ops
are a dozen tensor lines each and kornia's augmentation modules draw their parameters on the host per call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from gan_zoo.errors import require


def _apply_where(x: torch.Tensor, y: torch.Tensor, p: float) -> torch.Tensor:
    """y for a random p-share of the samples, x for the rest (all of y when p >= 1)."""
    if p >= 1.0:
        return y
    keep = torch.rand(len(x), 1, 1, 1, device=x.device) < p
    return torch.where(keep, y, x)


def color(x: torch.Tensor) -> torch.Tensor:
    """Brightness, saturation (3 channels) and contrast, one factor of each per sample."""
    n = len(x)
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    if x.shape[1] == 3:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125, fill: float = -1.0) -> torch.Tensor:
    """Each image shifted by integers in [-s, s] px along each axis (s = round(ratio * size)), `fill` outside.

    A gather from the padded batch: out[n, c, i, j] = pad(x)[n, c, i + s - dy_n, j + s - dx_n].
    """
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if sy == 0 and sx == 0:
        return x
    dy = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + sy - dy).expand(n, h, w)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + sx - dx).expand(n, h, w)
    padded = F.pad(x, (sx, sx, sy, sy), value=fill)
    idx = (rows * (w + 2 * sx) + cols).flatten(1).unsqueeze(1).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, idx).view_as(x)


def cutout(x: torch.Tensor, ratio: float = 0.5, fill: float = 0.0) -> torch.Tensor:
    """A (ratio * size)-square per image, centred uniformly over the image (clipped at the border), set to `fill`."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    i = torch.arange(h, device=x.device).view(1, h, 1)
    j = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (
        ((i - cy + ch // 2) >= 0) & ((i - cy + ch // 2) < ch) & ((j - cx + cw // 2) >= 0) & ((j - cx + cw // 2) < cw)
    )
    return torch.where(inside.unsqueeze(1), torch.full_like(x, fill), x)


_OPS = {"color": color, "translation": translation, "cutout": cutout}


def check_policy(policy: Sequence[str] | None, p: float) -> tuple[str, ...]:
    """The policy as a tuple of op names, or a ConfigError naming the bad entry."""
    if policy is None:
        return ()
    require(
        not isinstance(policy, str), f"model.augment takes a list of ops, e.g. [translation,cutout], got {policy!r}"
    )
    ops = tuple(str(o) for o in policy)
    for op in ops:
        require(op in _OPS, f"model.augment: unknown op {op!r}; choose from {list(_OPS)}")
    require(0.0 < float(p) <= 1.0, f"model.augment_p must be in (0, 1], got {p!r}")
    return ops


def diff_augment(x: torch.Tensor, policy: Sequence[str], p: float = 1.0) -> torch.Tensor:
    """x [N, C, H, W] through the ops of `policy` in order, each drawn per sample (and applied with probability p)."""
    if not policy:
        return x
    require(
        x.dim() == 4,
        f"model.augment transforms images [N, C, H, W], got a batch of shape {list(x.shape)}; "
        "set model.augment=null for vector data",
    )
    for op in policy:
        x = _apply_where(x, _OPS[op](x), p)
    return x


def random_affine(x: torch.Tensor, strength: float) -> torch.Tensor:
    """Each image of x [N, C, H, W] rotated by up to 20 x strength degrees, scaled by 1 +- 0.15 x strength and
    shifted by up to 0.15 x strength of the half-width, independently (bilinear, zeros outside; differentiable in x).
    Draws from the global RNG, like the rest of training."""
    n = len(x)
    u = torch.rand(n, 4, device=x.device, dtype=torch.float32) * 2 - 1
    angle = u[:, 0] * (20 * strength) * torch.pi / 180
    scale = 1 + u[:, 1] * 0.15 * strength
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, u[:, 2] * 0.15 * strength], 1), torch.stack([sin, cos, u[:, 3] * 0.15 * strength], 1)],
        1,
    ).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
