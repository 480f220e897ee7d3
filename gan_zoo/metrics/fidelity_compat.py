"""Run torch-fidelity itself on our extractors: for cross-checks (tests) and side-by-side benchmarks.

torch-fidelity builds feature extractors by name from its registry; `register_extractor` registers a
class that wraps one of our Extractor objects, so `torch_fidelity.calculate_metrics(feature_extractor=
name, ...)` runs the exact network our suite uses.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor


def register_extractor(extractor: torch.nn.Module, name: str | None = None) -> str:
    """Register `extractor` (ours: uint8 -> (features, logits)) with torch-fidelity; returns its name.

    It provides the features "features" (FID/KID/PRC) and "logits" (ISC).
    """
    name = name or f"gan-zoo-{extractor.name}-{id(extractor):x}"

    class Wrapped(FeatureExtractorBase):
        def __init__(self, fe_name: str, features_list: list[str], **kwargs: Any) -> None:
            super().__init__(fe_name, features_list)
            self.inner = extractor

        @staticmethod
        def get_provided_features_list() -> tuple[str, str]:
            return "features", "logits"

        @staticmethod
        def get_default_feature_layer_for_metric(metric: str) -> str:
            return {"isc": "logits", "fid": "features", "kid": "features", "prc": "features"}[metric]

        @staticmethod
        def can_be_compiled() -> bool:
            return False

        @staticmethod
        def get_dummy_input_for_compile() -> torch.Tensor:
            return torch.zeros(1, 1, 8, 8, dtype=torch.uint8)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            feats, logits = self.inner(x)
            out = {"features": feats, "logits": logits}
            return tuple(out[k] for k in self.features_list)

    if name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(name, Wrapped)
    return name


class UInt8Images(Dataset):
    """A torch Dataset over uint8 images [N, C, H, W], the input torch-fidelity expects."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]
