"""The lecture-3 Keras GAN for 28 px digits (docs/references.md §3), as plain nn.Modules (any side divisible by 4).

Keras "same" padding: stride-2 4x4 layers use padding 1 (exact halving/doubling); the stride-1 4x4
layers pad 1 before and 2 after, as TensorFlow does (the generator's stride-1 ConvTranspose is a
convolution here: a stride-1 transposed convolution is a convolution with a flipped kernel, the same
function class and output size).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from gan_zoo.errors import require
from gan_zoo.networks.common import concat_label_maps, concat_label_vector, sn


def _check_size(shape: Sequence[int], who: str) -> int:
    """The side of square images divisible by 4 (28 in the lecture; 32 works too)."""
    ok = len(shape) == 3 and shape[1] == shape[2] and shape[1] % 4 == 0
    require(
        ok,
        f"the Keras lecture {who} needs square images with a side divisible by 4 (28 in the lecture), got "
        f"samples of shape {list(shape)}; use model=mlp for vector data",
    )
    return int(shape[1])


def _same4(in_ch: int, out_ch: int) -> nn.Module:
    """Keras' stride-1 4x4 "same": TensorFlow pads 1 before and 2 after (an even kernel cannot centre)."""
    return nn.Sequential(nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(in_ch, out_ch, 4, 1))


def keras_init(module: nn.Module) -> None:
    """Keras' defaults: Glorot-uniform kernels, zero biases. PyTorch's default (Kaiming-uniform, a = sqrt(5))
    is about sqrt(3) smaller per layer: through this BatchNorm-free generator the first images had a pixel
    std of 0.002, the critic separated them at once and G saturated its tanh at -1 (all-black samples)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class KerasGenerator(nn.Module):
    """z -> Dense(7*7*8) -> ConvT 4x4/2 (64) -> ConvT 4x4/2 (128) -> Conv 4x4/1 same (128) -> Conv 5x5 -> tanh."""

    def __init__(
        self, latent_dim: int, out_shape: Sequence[int], num_classes: int = 0, negative_slope: float = 0.2
    ) -> None:
        super().__init__()
        self.start = _check_size(out_shape, "generator") // 4  # 7 for 28 px
        self.num_classes = num_classes
        act = nn.LeakyReLU(negative_slope)
        self.dense = nn.Sequential(nn.Linear(latent_dim + num_classes, self.start * self.start * 8), act)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(8, 64, 4, 2, 1),
            act,  # [N, 64, 14, 14]
            nn.ConvTranspose2d(64, 128, 4, 2, 1),
            act,  # [N, 128, 28, 28]
            _same4(128, 128),
            act,
            nn.Conv2d(128, out_shape[0], 5, padding=2),
            nn.Tanh(),
        )
        keras_init(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """[N, latent_dim] -> [N, C, H, W] in [-1, 1]."""
        h = self.dense(concat_label_vector(z, y, self.num_classes))
        return self.net(h.view(len(z), 8, self.start, self.start))  # [N, 8, 7, 7] at 28 px


class KerasDiscriminator(nn.Module):
    """Conv 4x4/2 (32) -> Conv 4x4/2 (64) -> Conv 4x4/1 same (64) -> Flatten -> Dropout(0.2) -> Dense(1)."""

    def __init__(
        self,
        in_shape: Sequence[int],
        num_classes: int = 0,
        dropout: float = 0.2,
        spectral_norm: bool = False,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        side = _check_size(in_shape, "discriminator") // 4
        self.num_classes = num_classes
        act = nn.LeakyReLU(negative_slope)
        convs = [
            nn.Conv2d(in_shape[0] + num_classes, 32, 4, 2, 1),  # [N, 32, 14, 14] at 28 px
            nn.Conv2d(32, 64, 4, 2, 1),  # [N, 64, 7, 7]
            nn.Conv2d(64, 64, 4, 1),
        ]  # after TF-style same padding
        out = nn.Linear(64 * side * side, 1)
        for layer in (*convs, out):  # initialised before spectral norm wraps the weights
            keras_init(layer)
        c1, c2, c3 = (sn(c, spectral_norm) for c in convs)
        self.body = nn.Sequential(
            c1, act, c2, act, nn.ZeroPad2d((1, 2, 1, 2)), c3, act, nn.Flatten(), nn.Dropout(dropout)
        )
        self.out = sn(out, spectral_norm)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """[N, 64 * (H/4) * (W/4)] body features."""
        return self.body(concat_label_maps(x, y, self.num_classes))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(features).squeeze(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """[N, C, H, W] -> logits [N]."""
        return self.head(self.features(x, y))
