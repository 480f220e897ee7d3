"""Our extractors as torchmetrics `feature=` modules: for the cross-check of the in-training metrics against
torchmetrics (tests/test_suite.py) and the benchmark that decided which path trains (benchmarks/torchmetrics_fid.py).

torchmetrics' FID/KID take `feature=nn.Module` (images -> [N, d]) and read `num_features` instead of pushing a
299 x 299 RGB dummy through it; InceptionScore takes a module that returns logits.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class ExtractorFeatures(nn.Module):
    """uint8 images -> extractor features [N, d] (float64-ready), as torchmetrics' FID/KID expect."""

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor
        self.num_features = int(extractor.feature_dim)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extractor(x)[0]


class ExtractorLogits(nn.Module):
    """uint8 images -> extractor class logits [N, K], as torchmetrics' InceptionScore expects."""

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extractor(x)[1]
