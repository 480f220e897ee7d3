"""A small CNN classifier whose penultimate layer is the domain feature space for FID on small images."""

from __future__ import annotations

import torch
import torch.nn as nn


class SmallCNN(nn.Module):
    """[N, C, H, W] in [-1, 1] -> 128-d features (`features`) -> class logits (`forward`)."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 32, feature_dim: int = 128) -> None:
        super().__init__()
        self.num_features = feature_dim  # torchmetrics' FID reads this
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(2 * width, feature_dim, 3, padding=1),
            nn.BatchNorm2d(feature_dim),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),  # [N, feature_dim]
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations [N, feature_dim]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [N, num_classes]."""
        return self.head(self.body(x))
