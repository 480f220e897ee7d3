"""Image-to-image networks: the pix2pix U-Net, CycleGAN's ResNet generator and the PatchGAN critic.

Architectures follow Isola et al. 2017 (pix2pix, appendix 6.1.1) and Zhu et al. 2017 (CycleGAN, appendix
7.2); widths scale with `base_channels` (64 in the papers) so the offline tasks train on a 2-core CPU.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from gan_zoo.errors import require
from gan_zoo.networks.common import log2_int, norm2d, sn


def _norm(kind: str, channels: int) -> nn.Module:
    """norm2d, with CycleGAN's instance norm (no affine, no running statistics) for `instance`."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return norm2d(kind, channels)


class UNetGenerator(nn.Module):
    """U-Net encoder-decoder with skips (pix2pix): C64-C128-C256-C512-C512... down to 1x1, mirrored up.

    Encoder: 4x4 stride-2 convs, LeakyReLU(0.2), no norm on the first and innermost layer. Decoder: ReLU,
    4x4 stride-2 transposed convs, norm, dropout on the first `num_dropout` decoder layers (the paper's
    noise source: pix2pix has no z), each concatenated with the mirrored encoder activation; tanh output.
    `num_downs` defaults to log2(image size), the depth that reaches a 1x1 bottleneck.
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        out_shape: tuple[int, int, int],
        base_channels: int = 64,
        max_mult: int = 8,
        num_downs: int | None = None,
        norm: str = "batch",
        dropout: float = 0.5,
        num_dropout: int = 3,
    ) -> None:
        super().__init__()
        c_in, size, _ = in_shape
        c_out = out_shape[0]
        require(
            tuple(in_shape[1:]) == tuple(out_shape[1:]), f"U-Net input {in_shape} and output {out_shape} sizes differ"
        )
        depth = log2_int(size, "the U-Net's image size") if num_downs is None else num_downs
        require(
            isinstance(depth, int) and 1 <= depth and size % 2**depth == 0,
            f"model.generator.num_downs={num_downs} does not divide the image size {size} (at most log2(size))",
        )
        require(0.0 <= dropout < 1.0, f"model.generator.dropout must be in [0, 1), got {dropout}")
        chans = [base_channels * min(2**i, max_mult) for i in range(depth)]
        bias = norm != "batch"
        self.down = nn.ModuleList()
        for i in range(depth):
            conv = nn.Conv2d(c_in if i == 0 else chans[i - 1], chans[i], 4, 2, 1, bias=bias or i in (0, depth - 1))
            if i == 0:
                self.down.append(conv)
            else:
                inner = i == depth - 1
                self.down.append(
                    nn.Sequential(nn.LeakyReLU(0.2), conv, nn.Identity() if inner else _norm(norm, chans[i]))
                )
        self.up = nn.ModuleList()
        for j, i in enumerate(range(depth - 1, -1, -1)):  # j-th decoder layer mirrors encoder layer i
            c_from = chans[i] if i == depth - 1 else 2 * chans[i]
            if i == 0:
                self.up.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(c_from, c_out, 4, 2, 1), nn.Tanh()))
            else:
                layers = [
                    nn.ReLU(),
                    nn.ConvTranspose2d(c_from, chans[i - 1], 4, 2, 1, bias=bias),
                    _norm(norm, chans[i - 1]),
                ]
                if j < num_dropout and dropout > 0:
                    layers.append(nn.Dropout(dropout))
                self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = self.up[0](skips.pop())
        for layer in self.up[1:]:
            x = layer(torch.cat([x, skips.pop()], dim=1))
        return x


class ResidualBlock(nn.Module):
    """x + (reflect-pad, 3x3 conv, norm, ReLU, reflect-pad, 3x3 conv, norm)(x)."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=norm != "batch"),
            _norm(norm, channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=norm != "batch"),
            _norm(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def default_resnet_blocks(image_size: int) -> int:
    """CycleGAN's choice: 6 residual blocks at 128 px and below, 9 above."""
    return 6 if image_size <= 128 else 9


class ResnetGenerator(nn.Module):
    """c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-C (CycleGAN; Johnson et al. 2016).

    Reflection padding, instance norm, ReLU; `num_blocks=null` picks 6 at <= 128 px, else 9 (the paper).
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        out_shape: tuple[int, int, int],
        base_channels: int = 64,
        num_blocks: int | None = None,
        num_down: int = 2,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        c_in, size, _ = in_shape
        require(
            tuple(in_shape[1:]) == tuple(out_shape[1:]),
            f"generator input {in_shape} and output {out_shape} sizes differ",
        )
        require(size % 2**num_down == 0, f"image size {size} is not divisible by 2^{num_down} (model.*.num_down)")
        blocks = default_resnet_blocks(size) if num_blocks is None else num_blocks
        require(isinstance(blocks, int) and blocks >= 0, f"num_blocks must be an integer >= 0, got {blocks!r}")
        self.num_blocks = blocks
        bias = norm != "batch"
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(c_in, base_channels, 7, bias=bias),
            _norm(norm, base_channels),
            nn.ReLU(True),
        ]
        c = base_channels
        for _ in range(num_down):
            layers += [nn.Conv2d(c, 2 * c, 3, 2, 1, bias=bias), _norm(norm, 2 * c), nn.ReLU(True)]
            c *= 2
        layers += [ResidualBlock(c, norm) for _ in range(blocks)]
        for _ in range(num_down):
            layers += [
                nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=bias),
                _norm(norm, c // 2),
                nn.ReLU(True),
            ]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, out_shape[0], 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def patch_receptive_field(num_layers: int) -> int:
    """Receptive field (pixels) of a PatchGAN with `num_layers` stride-2 convs: 16, 34, 70, 142, 286 for 1..5.

    From the output back: two 4x4 stride-1 convs give 7, each 4x4 stride-2 conv maps r to 2 (r - 1) + 4.
    """
    r = 7
    for _ in range(num_layers):
        r = 2 * (r - 1) + 4
    return r


RECEPTIVE_FIELDS = {patch_receptive_field(n): n for n in range(1, 6)}


class PatchDiscriminator(nn.Module):
    """PatchGAN (pix2pix): classifies each `receptive_field` x `receptive_field` patch as real or fake.

    C64-C128-C256-C512 for the paper's 70x70 patches: 4x4 convs, LeakyReLU(0.2), norm from the second
    layer on; the output is a map of logits [N, 1, h, w], one per overlapping patch. Pix2Pix feeds it the
    (input, output) pair stacked along channels; CycleGAN one domain's images.
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        base_channels: int = 64,
        receptive_field: int = 70,
        norm: str = "batch",
        spectral_norm: bool = False,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        require(
            receptive_field in RECEPTIVE_FIELDS,
            f"model.discriminator.receptive_field must be one of {sorted(RECEPTIVE_FIELDS)} (PatchGAN sizes), "
            f"got {receptive_field}",
        )
        require(num_classes == 0, "the PatchGAN critic is unconditional (set model.conditional=false)")
        n = RECEPTIVE_FIELDS[receptive_field]
        c_in, size, _ = in_shape
        out = size // 2**n - 2
        largest = max([r for r, k in RECEPTIVE_FIELDS.items() if size // 2**k - 2 >= 1] or [16])
        require(
            size % 2**n == 0 and out >= 1,
            f"a {receptive_field}x{receptive_field} PatchGAN has no output on {size} px images; use "
            f"model.discriminator.receptive_field <= {largest}",
        )
        self.receptive_field, self.output_size = receptive_field, out
        bias = norm != "batch"
        layers: list[nn.Module] = [sn(nn.Conv2d(c_in, base_channels, 4, 2, 1), spectral_norm), nn.LeakyReLU(0.2, True)]
        c = base_channels
        for i in range(1, n + 1):
            c_next = base_channels * min(2**i, 8)
            stride = 2 if i < n else 1
            layers += [
                sn(nn.Conv2d(c, c_next, 4, stride, 1, bias=bias), spectral_norm),
                _norm(norm, c_next),
                nn.LeakyReLU(0.2, True),
            ]
            c = c_next
        layers.append(sn(nn.Conv2d(c, 1, 4, 1, 1), spectral_norm))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """[N, C, H, W] -> patch logits [N, 1, h, w] (y is accepted for the regularisers' signature, unused)."""
        return self.net(x)
