"""DCGAN generator and discriminator for square power-of-two images (docs/references.md §2)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from gan_zoo.errors import require
from gan_zoo.networks.common import concat_label_maps, concat_label_vector, log2_int, norm2d, sn

UPSAMPLE = ("convtranspose", "nearest", "bilinear")


def _up(in_ch: int, out_ch: int, mode: str) -> nn.Module:
    """x2 upsampling: ConvTranspose 4x4/2, or Upsample + Conv 3x3 (no checkerboard artefacts)."""
    require(mode in UPSAMPLE, f"model.generator.upsample must be one of {UPSAMPLE}, got {mode!r}")
    if mode == "convtranspose":
        return nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode=mode), nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False))


class DCGANGenerator(nn.Module):
    """z (+ one-hot y) as a 1x1 map -> ConvT 4x4 valid to 4x4 -> x2 blocks -> C channels, tanh.

    Widths halve at each block and end at `base_channels` before the output layer: at 64 px with
    base 64 this is 512-256-128-64, the published DCGAN.
    """

    def __init__(
        self,
        latent_dim: int,
        out_shape: Sequence[int],
        base_channels: int = 64,
        num_classes: int = 0,
        upsample: str = "convtranspose",
        norm: str = "batch",
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        require(
            len(out_shape) == 3,
            f"the DCGAN generator makes images [C, H, W], but the data's samples have shape "
            f"{list(out_shape)} (2D points?); use model=mlp for vector data",
        )
        c, h, w = out_shape
        require(h == w, f"DCGAN needs square images, got {h}x{w}")
        n_blocks = log2_int(h, "data.image_size for DCGAN") - 3  # 4 -> ... -> h/2, then the output layer
        require(n_blocks >= 0, f"DCGAN needs data.image_size >= 8, got {h}")
        self.latent_dim, self.num_classes = latent_dim, num_classes
        width = base_channels * 2**n_blocks
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim + num_classes, width, 4, 1, 0, bias=False),  # [N, width, 4, 4]
            norm2d(norm, width),
            nn.LeakyReLU(negative_slope),
        ]
        for _ in range(n_blocks):
            layers += [_up(width, width // 2, upsample), norm2d(norm, width // 2), nn.LeakyReLU(negative_slope)]
            width //= 2
        layers += [_up(width, c, upsample), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """[N, latent_dim] -> [N, C, H, W] in [-1, 1]."""
        z = concat_label_vector(z, y, self.num_classes)
        return self.net(z[:, :, None, None])  # [N, Z+K, 1, 1]


class DCGANDiscriminator(nn.Module):
    """Conv 4x4/2 blocks (no bias) doubling widths down to 4x4, then Conv 4x4 valid -> one logit.

    `norm=batch` is the DCGAN default (none on the first block); use `layer`/`instance`/`none` for a
    critic with a gradient penalty, where BatchNorm makes per-sample gradients meaningless.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        base_channels: int = 64,
        num_classes: int = 0,
        norm: str = "batch",
        dropout: float = 0.3,
        spectral_norm: bool = False,
        negative_slope: float = 0.2,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        require(
            len(in_shape) == 3,
            f"the DCGAN discriminator reads images [C, H, W], but the data's samples have "
            f"shape {list(in_shape)} (2D points?); use model=mlp for vector data",
        )
        c, h, _ = in_shape
        n_blocks = log2_int(h, "data.image_size for DCGAN") - 2  # h -> 4
        require(n_blocks >= 1, f"DCGAN needs data.image_size >= 8, got {h}")
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        in_ch, width = c + num_classes, base_channels
        for i in range(n_blocks):
            layers += [
                sn(nn.Conv2d(in_ch, width, 4, 2, 1, bias=norm == "none"), spectral_norm),
                norm2d("none" if i == 0 else norm, width, bn_momentum),
                nn.LeakyReLU(negative_slope),
            ]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_ch, width = width, width * 2
        layers.append(sn(nn.Conv2d(in_ch, 1, 4, 1, 0), spectral_norm))  # [N, 1, 1, 1]
        self.net = nn.Sequential(*layers)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The body's output before the logit layer, [N, C', 4, 4] (shared with auxiliary heads, e.g. InfoGAN's Q)."""
        return self.net[:-1](concat_label_maps(x, y, self.num_classes))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Body features -> logits [N]."""
        return self.net[-1](features).flatten()

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """[N, C, H, W] -> logits [N]."""
        return self.head(self.features(x, y))
