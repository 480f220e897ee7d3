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

Adaptive discriminator augmentation (ADA; Karras et al. 2020, "Training Generative Adversarial Networks with
Limited Data") adds its non-leaking geometric ops, each the identity for a sample it is not applied to:

* ``xflip``: a horizontal flip with probability 1/2;
* ``rotate90``: a rotation by 0, 90, 180 or 270 degrees, uniformly (square images);
* ``xint``: an integer shift of up to 1/8 of the size in each direction, uniformly, with the border reflected
  (so no constant frame tells the critic a shift happened, unlike ``translation``'s fill);
* ``scale``: isotropic scaling by 2^N(0, 0.2^2) (lognormal, as in the paper), bilinear, reflected border;
* ``rotate``: a rotation by an angle uniform in [-180, 180) degrees, bilinear, reflected border.

Consecutive ``scale``/``rotate`` ops are composed into one affine map and one resampling per batch (the paper's
reason: every resampling blurs). The paper resamples with a wavelet-filtered, 2x-supersampled kernel; here it is
bilinear `grid_sample` with reflection padding, the simpler choice that keeps the ops differentiable in x.
With probability p < 0.8 none of these leaks into the generator (the paper's condition): the critic sees each
image unchanged with a known, positive probability, so the only way to match augmented reals is to match reals.

Each op is drawn per sample; with ``p < 1`` each op is applied to a sample with probability p: a fixed p
(`model.augment_p`), or ADA's adaptive p (`AdaptiveP`, `model.ada_target`). All draws are on the input's device
from the global RNG: no host sync and exact resume (the RNG state is checkpointed). Written here rather than
taken from kornia because the ops are a dozen tensor lines each and kornia's augmentation modules draw their
parameters on the host per call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from gan_zoo.errors import require

Probability = float | torch.Tensor  # a Python float, or ADA's 0-d tensor (kept on the device: no host sync)


def _chosen(n: int, p: Probability, device: torch.device) -> torch.Tensor:
    """A bool [n]: which samples an op is applied to, each with probability p."""
    if isinstance(p, float) and p >= 1.0:
        return torch.ones(n, dtype=torch.bool, device=device)
    return torch.rand(n, device=device) < p


def _apply_where(x: torch.Tensor, y: torch.Tensor, p: Probability) -> torch.Tensor:
    """y for a random p-share of the samples, x for the rest (all of y when p >= 1)."""
    if isinstance(p, float) and p >= 1.0:
        return y
    return torch.where(_chosen(len(x), p, x.device).view(-1, 1, 1, 1), y, x)


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


def xflip(x: torch.Tensor) -> torch.Tensor:
    """Each image mirrored left-right with probability 1/2."""
    flip = torch.rand(len(x), 1, 1, 1, device=x.device) < 0.5
    return torch.where(flip, x.flip(3), x)


def rotate90(x: torch.Tensor) -> torch.Tensor:
    """Each image rotated by k x 90 degrees, k uniform in {0, 1, 2, 3} ({0, 2} for non-square images)."""
    n, _, h, w = x.shape
    k = torch.randint(0, 4 if h == w else 2, (n, 1, 1, 1), device=x.device) * (1 if h == w else 2)
    out = x
    for turns in (1, 2, 3) if h == w else (2,):
        out = torch.where(k == turns, torch.rot90(x, turns, dims=(2, 3)), out)
    return out


def _reflect(idx: torch.Tensor, size: int) -> torch.Tensor:
    """Indices mirrored into [0, size) about the edge pixels (..., 2, 1, 0, 1, 2, ...), like numpy's 'reflect'."""
    if size == 1:
        return torch.zeros_like(idx)
    period = 2 * (size - 1)
    m = idx.remainder(period)
    return torch.where(m >= size, period - m, m)


def xint(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Each image shifted by integers in [-s, s] px along each axis (s = round(ratio * size)), border reflected."""
    n, c, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if sy == 0 and sx == 0:
        return x
    dy = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    rows = _reflect(torch.arange(h, device=x.device).view(1, h, 1) - dy, h).expand(n, h, w)
    cols = _reflect(torch.arange(w, device=x.device).view(1, 1, w) - dx, w).expand(n, h, w)
    idx = (rows * w + cols).flatten(1).unsqueeze(1).expand(-1, c, -1)
    return x.flatten(2).gather(2, idx).view_as(x)


def _scale_matrix(n: int, device: torch.device) -> torch.Tensor:
    """[n, 3, 3] maps from output to input coordinates of an isotropic scaling by 2^N(0, 0.2^2)."""
    inv = torch.exp2(-torch.randn(n, device=device) * 0.2)
    return torch.diag_embed(torch.stack([inv, inv, torch.ones_like(inv)], 1))


def _rotate_matrix(n: int, device: torch.device) -> torch.Tensor:
    """[n, 3, 3] maps from output to input coordinates of a rotation by an angle uniform in [-pi, pi)."""
    a = (torch.rand(n, device=device) * 2 - 1) * math.pi
    cos, sin, zero, one = torch.cos(a), torch.sin(a), torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([cos, -sin, zero, sin, cos, zero, zero, zero, one], 1).view(n, 3, 3)


def _resample(x: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """x through per-sample affine maps [n, 3, 3] (output -> input, normalised coordinates): bilinear, border
    reflected, differentiable in x."""
    grid = F.affine_grid(matrices[:, :2, :].to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _affine_op(make: Callable[[int, torch.device], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """The op applying `make`'s maps to every image (what diff_augment composes when several follow each other)."""

    def op(x: torch.Tensor) -> torch.Tensor:
        return _resample(x, make(len(x), x.device))

    op.matrices = make  # type: ignore[attr-defined]
    return op


scale = _affine_op(_scale_matrix)
scale.__doc__ = "Each image scaled isotropically by 2^N(0, 0.2^2) about its centre (bilinear, border reflected)."
rotate = _affine_op(_rotate_matrix)
rotate.__doc__ = "Each image rotated by an angle uniform in [-180, 180) degrees (bilinear, border reflected)."

_OPS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
    "xflip": xflip,
    "rotate90": rotate90,
    "xint": xint,
    "scale": scale,
    "rotate": rotate,
}
_AFFINE = ("scale", "rotate")  # composed into one resampling when consecutive

#: The policy ADA uses when `model.augment` is unset: the paper's "bgc" order (pixel blitting, then general
#: geometric, then colour) with the ops this module has; cutout is left out, as in the paper's default.
ADA_DEFAULT_POLICY = ("xflip", "rotate90", "xint", "scale", "rotate", "color")


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


def diff_augment(x: torch.Tensor, policy: Sequence[str], p: Probability = 1.0) -> torch.Tensor:
    """x [N, C, H, W] through the ops of `policy` in order, each drawn per sample (and applied with probability p).

    p is a float or a 0-d tensor (ADA's). A run of consecutive `scale`/`rotate` ops is one composed resampling;
    a sample none of them was applied to is passed through untouched (no interpolation round trip).
    """
    if not policy:
        return x
    require(
        x.dim() == 4,
        f"model.augment transforms images [N, C, H, W], got a batch of shape {list(x.shape)}; "
        "set model.augment=null for vector data",
    )
    if isinstance(p, torch.Tensor) and p.device.type == "cpu" and float(p) <= 0.0:
        return x  # reading a CPU tensor is free: skip the work ADA does not apply (p starts at 0)
    ops, i = list(policy), 0
    while i < len(ops):
        if ops[i] not in _AFFINE:
            x = _apply_where(x, _OPS[ops[i]](x), p)
            i += 1
            continue
        n = len(x)
        eye = torch.eye(3, device=x.device).expand(n, 3, 3)
        total, any_chosen = eye, torch.zeros(n, dtype=torch.bool, device=x.device)
        while i < len(ops) and ops[i] in _AFFINE:
            chosen = _chosen(n, p, x.device)
            m = torch.where(chosen.view(n, 1, 1), _OPS[ops[i]].matrices(n, x.device), eye)  # type: ignore[attr-defined]
            total, any_chosen = total @ m, any_chosen | chosen
            i += 1
        x = torch.where(any_chosen.view(n, 1, 1, 1), _resample(x, total), x)
    return x


class AdaptiveP:
    """ADA's controller of the augmentation probability p (Karras et al. 2020, sec. 3).

    The critic's outputs on (augmented) reals are accumulated by `observe`; every `interval` critic steps `update`
    turns them into the overfitting heuristic r_t = E[sign(D(real))] over those steps and moves p by
    sign(r_t - target) x (real images in those steps) / (kimg x 1000), clamped to [0, 1]: p can go from 0 to 1 in
    `kimg` thousand real images. r_t near 1 means the critic is sure of every real, i.e. it is memorising them.
    State is tensors on the critic's device (no host sync per step); `state_dict` is what checkpoints carry.
    """

    def __init__(self, target: float, kimg: float, interval: int = 4) -> None:
        self.target, self.kimg, self.interval = float(target), float(kimg), int(interval)
        self.p = torch.zeros(())
        self.rt = torch.zeros(())  # r_t of the latest completed interval (0 before the first)
        self.sign_sum = torch.zeros(())
        self.outputs = torch.zeros(())
        self.images = torch.zeros(())

    def to(self, device: torch.device) -> AdaptiveP:
        """Move the state to `device` (the critic's)."""
        for k in ("p", "rt", "sign_sum", "outputs", "images"):
            setattr(self, k, getattr(self, k).to(device))
        return self

    @torch.no_grad()
    def observe(self, real_out: torch.Tensor, images: int) -> None:
        """Accumulate the critic's raw outputs on one batch of reals (`images` real images behind them)."""
        if real_out.device != self.p.device:
            self.to(real_out.device)
        out = real_out.detach().float()
        self.sign_sum = self.sign_sum + torch.sign(out).sum()
        self.outputs = self.outputs + out.numel()
        self.images = self.images + images

    @torch.no_grad()
    def update(self, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        """Close an interval: r_t from the accumulated signs, p moved toward the target, accumulators reset.

        `reduce` sums a tensor over processes (DDP): r_t and the image count are then those of all ranks, so
        every rank moves p identically.
        """
        stats = torch.stack([self.sign_sum, self.outputs, self.images])
        if reduce is not None:
            stats = reduce(stats)
        sign_sum, outputs, images = stats.unbind()
        rt = sign_sum / outputs.clamp_min(1)
        self.rt = torch.where(outputs > 0, rt, self.rt)  # an empty interval keeps r_t and p (images = 0)
        self.p = (self.p + torch.sign(rt - self.target) * images / (self.kimg * 1000)).clamp(0.0, 1.0)
        self.sign_sum, self.outputs, self.images = (torch.zeros_like(self.p) for _ in range(3))

    def state_dict(self) -> dict[str, Any]:
        """p, the latest r_t and the open interval's accumulators (plain tensors on the CPU)."""
        return {k: getattr(self, k).detach().cpu() for k in ("p", "rt", "sign_sum", "outputs", "images")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned (on this controller's device)."""
        for k, v in state.items():
            setattr(self, k, torch.as_tensor(v, dtype=torch.float32).to(self.p.device))


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
