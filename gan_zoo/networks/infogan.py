"""InfoGAN's Q head: reads the discriminator's body features and predicts the latent codes."""

from __future__ import annotations

import torch
import torch.nn as nn


class QHead(nn.Module):
    """Body features [N, ...] -> (categorical logits [N, K], continuous means [N, M]) (Chen et al. 2016:
    FC-BN-LReLU-FC)."""

    def __init__(
        self, in_features: int, categories: int, continuous: int, hidden: int = 128, negative_slope: float = 0.2
    ) -> None:
        super().__init__()
        self.categories, self.continuous = categories, continuous
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(negative_slope)
        )
        self.out = nn.Linear(hidden, categories + continuous)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (logits [N, K], means [N, M])."""
        out = self.out(self.body(features))
        return out[:, : self.categories], out[:, self.categories :]
