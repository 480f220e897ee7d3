"""Small building blocks shared by the networks: conditioning, normalisation, spectral norm."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from gan_zoo.errors import require

NORMS = ("batch", "layer", "instance", "none")


def concat_label_vector(z: torch.Tensor, y: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """[N, D] + labels -> [N, D + K] with one-hot(y); a no-op for unconditional nets (K = 0)."""
    if num_classes == 0:
        return z
    require(y is not None, "this network is conditional (num_classes > 0) and needs labels y")
    return torch.cat([z, F.one_hot(y, num_classes).to(z.dtype)], dim=1)


def concat_label_maps(x: torch.Tensor, y: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """[N, C, H, W] + labels -> [N, C + K, H, W] with one-hot label planes broadcast over H x W."""
    if num_classes == 0:
        return x
    require(y is not None, "this network is conditional (num_classes > 0) and needs labels y")
    maps = F.one_hot(y, num_classes).to(x.dtype)[:, :, None, None]  # [N, K, 1, 1]
    return torch.cat([x, maps.expand(-1, -1, *x.shape[-2:])], dim=1)


def norm2d(kind: str, channels: int, bn_momentum: float = 0.1) -> nn.Module:
    """A 2D normalisation layer by name. `layer` normalises over (C, H, W) like the WGAN-GP critic."""
    require(kind in NORMS, f"norm must be one of {NORMS}, got {kind!r}")
    if kind == "batch":
        return nn.BatchNorm2d(channels, momentum=bn_momentum)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


def norm1d(kind: str, features: int) -> nn.Module:
    """A normalisation layer for [N, F] activations."""
    require(kind in NORMS, f"norm must be one of {NORMS}, got {kind!r}")
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind in ("layer", "instance"):
        return nn.LayerNorm(features)
    return nn.Identity()


def sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap a layer with spectral normalisation (one power iteration per forward) when enabled.

    The parametrization API is used, not the old hook: its buffers survive DDP's buffer broadcast,
    where the hook's in-place update fails autograd's version check.
    """
    return spectral_norm(module) if enabled else module


def log2_int(n: int, what: str) -> int:
    """log2(n) for a power of two, else a ConfigError naming `what`."""
    k = int(round(math.log2(n))) if n > 0 else -1
    require(k >= 0 and 2**k == n, f"{what} must be a power of two, got {n}")
    return k


def has_batchnorm(module: nn.Module) -> bool:
    """True if any BatchNorm layer sits inside `module`."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
