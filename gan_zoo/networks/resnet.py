"""Residual generator and critic of SN-GAN and WGAN-GP for small images (docs/references.md §4, §5).

The 32-px CIFAR-10 networks of Miyato et al. 2018 (Table 3, "ResNet") and Gulrajani et al. 2017 (the CIFAR-10
ResNet of its appendix): G maps z through a linear layer to a 4x4 map and three up-blocks (BatchNorm, ReLU,
nearest x2, 3x3 convs, a 1x1 shortcut) to 32x32; D starts with an "optimised" block (conv, ReLU, conv, average
pool beside a pooled 1x1 shortcut), then down-blocks until 8x8, plain blocks, ReLU, a sum (SN-GAN) or mean
(WGAN-GP) over positions and one linear logit. Other power-of-two sizes add or drop blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_zoo.errors import require
from gan_zoo.networks.common import concat_label_maps, concat_label_vector, log2_int, norm2d, sn

POOLING = ("sum", "mean")


class UpBlock(nn.Module):
    """norm-ReLU-up-conv3-norm-ReLU-conv3, plus up-conv1 on the shortcut: x2 resolution."""

    def __init__(self, in_ch: int, out_ch: int, norm: str) -> None:
        super().__init__()
        self.n1, self.c1 = norm2d(norm, in_ch), nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.n2, self.c2 = norm2d(norm, out_ch), nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in, H, W] -> [N, out, 2H, 2W]."""
        h = F.interpolate(F.relu(self.n1(x)), scale_factor=2, mode="nearest")
        h = self.c2(F.relu(self.n2(self.c1(h))))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    """ReLU-conv3-ReLU-conv3 (then 2x2 average pool when `down`), plus a 1x1 shortcut where shapes change.

    first=True is the optimised input block: no ReLU before the first conv, and the shortcut pools before its
    1x1 conv (cheaper, as in both papers' code).
    """

    def __init__(self, in_ch: int, out_ch: int, down: bool, spectral_norm: bool, norm: str, first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        self.c1 = sn(nn.Conv2d(in_ch, out_ch, 3, padding=1), spectral_norm)
        self.c2 = sn(nn.Conv2d(out_ch, out_ch, 3, padding=1), spectral_norm)
        self.n1, self.n2 = norm2d(norm, in_ch if not first else out_ch), norm2d(norm, out_ch)
        self.skip = sn(nn.Conv2d(in_ch, out_ch, 1), spectral_norm) if (down or in_ch != out_ch) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in, H, W] -> [N, out, H/2 or H, ...]."""
        if self.first:
            h = self.c2(F.relu(self.n1(self.c1(x))))
        else:
            h = self.c2(F.relu(self.n2(self.c1(F.relu(self.n1(x))))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first:
            s = self.skip(F.avg_pool2d(s, 2))
        elif self.skip is not None:
            s = self.skip(s)
            s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


class ResNetGenerator(nn.Module):
    """z (+ one-hot y) -> linear -> [ch, 4, 4] -> up-blocks to H -> norm, ReLU, conv3 -> C channels, tanh."""

    def __init__(
        self,
        latent_dim: int,
        out_shape: Sequence[int],
        base_channels: int = 256,
        num_classes: int = 0,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        require(
            len(out_shape) == 3,
            f"the ResNet generator makes images [C, H, W], but the data's samples have shape {list(out_shape)}; "
            "use model=mlp for vector data",
        )
        c, h, w = out_shape
        require(h == w, f"the ResNet generator needs square images, got {h}x{w}")
        n_up = log2_int(h, "data.image_size for the ResNet generator") - 2  # 4 -> h
        require(n_up >= 1, f"the ResNet generator needs data.image_size >= 8, got {h}")
        self.latent_dim, self.num_classes, self.ch = latent_dim, num_classes, base_channels
        self.fc = nn.Linear(latent_dim + num_classes, 4 * 4 * base_channels)
        self.blocks = nn.Sequential(*[UpBlock(base_channels, base_channels, norm) for _ in range(n_up)])
        self.out = nn.Sequential(
            norm2d(norm, base_channels), nn.ReLU(), nn.Conv2d(base_channels, c, 3, padding=1), nn.Tanh()
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """[N, latent_dim] -> [N, C, H, W] in [-1, 1]."""
        z = concat_label_vector(z, y, self.num_classes)
        return self.out(self.blocks(self.fc(z).view(len(z), self.ch, 4, 4)))


class ResNetDiscriminator(nn.Module):
    """Optimised block, down-blocks to 8x8, two plain blocks, ReLU, sum/mean over positions, linear -> one logit.

    Labels (conditional models) enter as one-hot planes beside the image, like the DCGAN critic's.
    norm: none for both papers' critics (layer/instance are allowed; batch is refused under a penalty by the game).
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        base_channels: int = 128,
        num_classes: int = 0,
        spectral_norm: bool = False,
        pooling: str = "sum",
        norm: str = "none",
    ) -> None:
        super().__init__()
        require(
            len(in_shape) == 3,
            f"the ResNet discriminator reads images [C, H, W], but the data's samples have shape {list(in_shape)}; "
            "use model=mlp for vector data",
        )
        require(pooling in POOLING, f"model.discriminator.pooling must be one of {POOLING}, got {pooling!r}")
        c, h, _ = in_shape
        n_down = log2_int(h, "data.image_size for the ResNet discriminator") - 3  # h -> 8
        require(n_down >= 1, f"the ResNet discriminator needs data.image_size >= 16, got {h}")
        self.num_classes, self.pooling = num_classes, pooling
        ch = base_channels
        blocks = [DownBlock(c + num_classes, ch, True, spectral_norm, norm, first=True)]
        blocks += [DownBlock(ch, ch, True, spectral_norm, norm) for _ in range(n_down - 1)]
        blocks += [DownBlock(ch, ch, False, spectral_norm, norm) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.fc = sn(nn.Linear(ch, 1), spectral_norm)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """[N, C, H, W] -> logits [N]."""
        h = F.relu(self.blocks(concat_label_maps(x, y, self.num_classes)))
        h = h.sum(dim=(2, 3)) if self.pooling == "sum" else h.mean(dim=(2, 3))
        return self.fc(h).flatten()
