"""The VAE baseline's encoder (docs/references.md §1: conv 4x4/2 + BN + LeakyReLU, z = 32).

The decoder is the DCGAN generator with ReLU (`negative_slope: 0`): ConvTranspose + BN + ReLU, tanh out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from gan_zoo.errors import require
from gan_zoo.networks.common import log2_int, norm2d


class ConvEncoder(nn.Module):
    """[N, C, H, W] -> (mu, logvar) [N, latent_dim] each: Conv 4x4/2 blocks down to 4x4, then a linear layer."""

    def __init__(
        self,
        in_shape: Sequence[int],
        latent_dim: int,
        base_channels: int = 32,
        norm: str = "batch",
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        require(len(in_shape) == 3, f"the conv encoder reads images [C, H, W], got samples of shape {list(in_shape)}")
        c, h, _ = in_shape
        n_blocks = log2_int(h, "data.image_size for the conv encoder") - 2
        require(n_blocks >= 1, f"the conv encoder needs data.image_size >= 8, got {h}")
        layers: list[nn.Module] = []
        in_ch, width = c, base_channels
        for i in range(n_blocks):
            layers += [
                nn.Conv2d(in_ch, width, 4, 2, 1, bias=norm == "none" or i == 0),
                norm2d("none" if i == 0 else norm, width),
                nn.LeakyReLU(negative_slope),
            ]
            in_ch, width = width, width * 2
        self.body = nn.Sequential(*layers, nn.Flatten())  # [N, in_ch * 4 * 4]
        self.out = nn.Linear(in_ch * 16, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (mu, logvar)."""
        mu, logvar = self.out(self.body(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)  # exp(logvar) stays finite in the first steps
