"""Feature extractors: uint8 images [N, C, H, W] in, (features [N, d], logits [N, K]) out.

- `InceptionExtractor`: torch-fidelity's Inception-v3 (the TF1 FID network, TF1-style bilinear
  resize to 299 inside), from a local weights file whose sha256 is checked. The machines we run on
  cannot download it; `find_inception_weights` says where to put it.
- `DomainExtractor`: a SmallCNN trained on the dataset (gan_zoo.metrics.domain), for data where
  Inception features mean little (28 px digits) or are unavailable.

Both report a `protocol()` that every recorded metric value carries.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from gan_zoo.data.images import to_float_images
from gan_zoo.errors import ConfigError, DatasetNotFoundError
from gan_zoo.utils.io import sha256_file

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILE
# torch.hub names weight files <name>-<first hex digits of the sha256>.pth and checks that prefix on
# download; we check the same prefix (a full hash can be configured with metrics.inception.sha256).
INCEPTION_SHA256 = "6726825d"


class WeightsNotFoundError(DatasetNotFoundError):
    """A feature extractor's weights file is missing or is not the expected file."""


class Extractor(nn.Module):
    """Base: always in eval mode, never trains, reports its protocol."""

    name = "extractor"
    feature_dim = 0
    num_logits = 0

    def train(self, mode: bool = True) -> Extractor:  # eval forever: BN running stats, no dropout
        return super().train(False)

    def protocol(self) -> dict[str, Any]:
        """Name, weights file hash and input handling, recorded beside every value."""
        raise NotImplementedError


class DomainExtractor(Extractor):
    """Penultimate features and class logits of a classifier trained on the dataset."""

    def __init__(self, classifier: nn.Module, info: dict[str, Any]) -> None:
        super().__init__()
        self.classifier = classifier.eval().requires_grad_(False)
        self.info = dict(info)
        self.name = f"domain-{info.get('arch', 'smallcnn')}"
        self.feature_dim = classifier.num_features
        self.num_logits = info.get("num_classes", 0)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.classifier.features(to_float_images(x) if x.dtype == torch.uint8 else x.float())
        return h.float(), self.classifier.head(h).float()

    def protocol(self) -> dict[str, Any]:
        keys = ("arch", "dataset_id", "sha256", "val_accuracy", "path")
        return {"name": self.name, **{k: self.info[k] for k in keys if k in self.info},
                "features": f"penultimate layer ({self.feature_dim}-d)", "input": "uint8 -> [-1, 1] at the data's size"}


def find_inception_weights(weights_path: str | None, cache_dir: str | Path | None = None,
                           keys: str = "metrics.") -> Path:
    """The Inception weights file: `weights_path` if given, else the torch hub cache, else <cache_dir>/weights.

    keys: how the command names its settings in the message ("metrics." for train, "" for evaluate)."""
    if weights_path:
        candidates = [Path(weights_path).expanduser()]
    else:
        hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
        candidates = [hub / INCEPTION_FILE] + ([Path(cache_dir) / "weights" / INCEPTION_FILE] if cache_dir else [])
    for p in candidates:
        if p.is_file():
            return p
    raise WeightsNotFoundError(
        f"Inception-v3 weights not found (looked in: {', '.join(map(str, candidates))}). This machine cannot "
        f"download them: on a machine with internet fetch {INCEPTION_URL} (sha256 starts with {INCEPTION_SHA256}), "
        f"copy it to {candidates[-1]} or set {keys}inception.weights_path=/path/to/{INCEPTION_FILE}. "
        f"Offline alternative: {keys}extractor=domain (a classifier trained on your data).")


class InceptionExtractor(Extractor):
    """torch-fidelity's Inception-v3: pool3 2048-d features and the 1008 unbiased logits (for IS)."""

    name = "inception-v3-compat"
    feature_dim = 2048
    num_logits = 1008

    def __init__(self, weights_path: str | None = None, sha256: str = INCEPTION_SHA256,
                 cache_dir: str | Path | None = None, keys: str = "metrics.") -> None:
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        path = find_inception_weights(weights_path, cache_dir, keys)
        digest = sha256_file(path)
        if not digest.startswith(str(sha256).lower()):
            raise WeightsNotFoundError(
                f"{path} has sha256 {digest}, expected one starting with {sha256}: it is not the torch-fidelity "
                f"Inception-v3 file ({INCEPTION_FILE}). Replace it with the file from {INCEPTION_URL}.")
        try:
            self.net = FeatureExtractorInceptionV3(self.name, ["2048", "logits_unbiased"],
                                                   feature_extractor_weights_path=str(path))
        except Exception as e:  # noqa: BLE001 - a wrong state dict gets the same answer as a wrong hash
            raise WeightsNotFoundError(f"{path} could not be loaded as Inception-v3 weights ({type(e).__name__}: "
                                       f"{str(e).splitlines()[0][:200]})") from None
        self.path, self.sha256 = path, digest

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dtype != torch.uint8:
            raise ConfigError("the Inception extractor takes uint8 images")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # greyscale: the same plane in R, G and B
        feats, logits = self.net(x)
        return feats.float(), logits.float()

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "implementation": "torch_fidelity.FeatureExtractorInceptionV3",
                "weights": self.path.name, "sha256": self.sha256, "features": "pool3 (2048-d)",
                "logits": "logits_unbiased (IS)",
                "input": "uint8, greyscale repeated to RGB, TF1-compatible bilinear resize to 299 (torch-fidelity)"}
