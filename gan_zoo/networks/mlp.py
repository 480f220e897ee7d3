"""Fully connected generator and discriminator (SEEDS.md section 1; 2D mixtures)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn

from gan_zoo.networks.common import concat_label_vector, norm1d, sn


class MLPGenerator(nn.Module):
    """z [N, latent_dim] (+ one-hot y) -> hidden layers -> out_shape (tanh for images, linear for vectors)."""

    def __init__(self, latent_dim: int, out_shape: Sequence[int], hidden: Sequence[int] = (256, 512, 1024),
                 num_classes: int = 0, norm: str = "none", negative_slope: float = 0.2,
                 output: str = "tanh") -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.out_shape = tuple(out_shape)
        layers: list[nn.Module] = []
        width = latent_dim + num_classes
        for h in hidden:
            layers += [nn.Linear(width, h), norm1d(norm, h), nn.LeakyReLU(negative_slope)]
            width = h
        layers.append(nn.Linear(width, math.prod(self.out_shape)))
        if output == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """[N, latent_dim] -> [N, *out_shape]."""
        out = self.net(concat_label_vector(z, y, self.num_classes))
        return out.view(len(z), *self.out_shape)


class MLPDiscriminator(nn.Module):
    """x [N, *in_shape] flattened (+ one-hot y) -> hidden layers with dropout -> one logit [N]."""

    def __init__(self, in_shape: Sequence[int], hidden: Sequence[int] = (1024, 512, 256), num_classes: int = 0,
                 dropout: float = 0.3, norm: str = "none", spectral_norm: bool = False,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        width = math.prod(in_shape) + num_classes
        for h in hidden:
            layers += [sn(nn.Linear(width, h), spectral_norm), norm1d(norm, h), nn.LeakyReLU(negative_slope)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(sn(nn.Linear(width, 1), spectral_norm))
        self.net = nn.Sequential(*layers)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The last hidden layer's output, [N, hidden[-1]] (shared with auxiliary heads)."""
        return self.net[:-1](concat_label_vector(x.flatten(1), y, self.num_classes))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Hidden features -> logits [N]."""
        return self.net[-1](features).squeeze(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """[N, ...] -> logits [N]."""
        return self.head(self.features(x, y))
