"""Style-based generator and progressive discriminator (Karras et al. 2019, StyleGAN1; docs/references.md §9).

Why StyleGAN1's AdaIN and not StyleGAN2's modulation/demodulation: the reference (docs/references.md §9) names
AdaIN and progressive
growing, and that pair is StyleGAN1. StyleGAN2 replaced AdaIN because its per-feature-map normalisation
made "droplet" artefacts at high resolution, and replaced progressive growing with skip/residual
networks at the same time; at 32 px neither problem shows, and AdaIN has an exact known answer (after
AdaIN every channel has mean b and std s, tests/test_style.py). So: instance norm, then scale/bias from w.

Layers use the equalised learning rate of ProGAN/StyleGAN (weights ~ N(0, 1), scaled by He's constant at
run time, so Adam's step is the same size for every layer); the mapping network's rate is multiplied by
`mapping_lr_mul` (0.01 in the paper). Growth is driven from outside: `forward(..., level, alpha)` makes
images at 4 * 2**level px and, while alpha < 1, fades the new block in over the upsampled output of the
previous one (the game owns the schedule, models/style.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_zoo.errors import require
from gan_zoo.networks.common import log2_int

GAIN = math.sqrt(2.0)  # He gain of LeakyReLU(0.2), folded into the activation as in the reference code


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2) times sqrt(2): keeps unit activation variance with equalised-LR layers."""
    return F.leaky_relu(x, 0.2) * GAIN


class EqualLinear(nn.Module):
    """Linear layer with the equalised learning rate: w ~ N(0, 1 / lr_mul^2), used as w * lr_mul / sqrt(fan_in)."""

    def __init__(self, in_features: int, out_features: int, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale, self.lr_mul = lr_mul / math.sqrt(in_features), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """k x k convolution (same padding) with the equalised learning rate."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True, stride: int = 1
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale, self.stride = 1.0 / math.sqrt(in_channels * kernel_size**2), stride
        # same padding at stride 1; at stride 2 a 4x4 kernel with padding 1 halves the size exactly (DCGAN's)
        self.padding = kernel_size // 2 if stride == 1 else (kernel_size - stride) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight.shape[-1] == 1:
            # toRGB/fromRGB: a 1x1 conv with 1 output or input channel is 2-3x slower through oneDNN on the CPU
            # than the same contraction as an einsum (measured at 64 x 16 x 32 x 32: 8.7 ms vs 3.5 ms fwd+bwd)
            y = torch.einsum("nchw,oc->nohw", x, self.weight[:, :, 0, 0] * self.scale)
            return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class AdaIN(nn.Module):
    """Adaptive instance normalisation: (x - mu_c(x)) / sigma_c(x) * s(w) + b(w), per sample and channel.

    s and b come from a learned affine map of w; s starts at 1 and b at 0, so at initialisation AdaIN is
    plain instance normalisation.
    """

    def __init__(self, channels: int, w_dim: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.style = EqualLinear(w_dim, 2 * channels)
        with torch.no_grad():
            self.style.bias[:channels] = 1.0  # scale part of the bias (lr_mul 1)
        self.channels, self.eps = channels, eps

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s, b = self.style(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)  # [N, C, 1, 1] each
        x = x - x.mean(dim=(2, 3), keepdim=True)
        x = x * torch.rsqrt(x.pow(2).mean(dim=(2, 3), keepdim=True) + self.eps)
        return x * s + b


class NoiseInjection(nn.Module):
    """x + scale_c * noise, noise one N(0, 1) value per pixel shared by the channels, scales learned per channel.

    In training the noise is fresh at every call. In eval mode it is the map passed in (`noise`: the game
    draws one per sample from a seed when it samples for metrics, `StyleGenerator.noise_maps`), or else the
    fixed `const` map (drawn once, a buffer, shared by every sample: the `noise_mode='const'` of the StyleGAN2
    reference code, for grids and interpolations that should vary with z alone). Neither touches the global
    RNG. The scales start at 0 as in the paper.
    """

    def __init__(self, channels: int, resolution: int, seed: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 1, 1))
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("const", torch.randn(1, 1, resolution, resolution, generator=g))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            if self.training:
                noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
            else:
                noise = self.const
        return x + self.weight * noise.to(x.dtype)


class StyleLayer(nn.Module):
    """conv 3x3 (or the learned constant) -> noise -> bias -> LeakyReLU -> AdaIN(w): one style input per layer."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, resolution: int, seed: int, conv: bool = True
    ) -> None:
        super().__init__()
        self.conv = EqualConv2d(in_channels, out_channels, 3, bias=False) if conv else None
        self.noise = NoiseInjection(out_channels, resolution, seed)
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))
        self.adain = AdaIN(out_channels, w_dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(x)
        return self.adain(lrelu(self.noise(x, noise) + self.bias), w)


class MappingNetwork(nn.Module):
    """z -> w: pixel norm of z, then `layers` equalised-LR FC + LeakyReLU; keeps a running mean of w.

    `w_avg` (a buffer, so it is checkpointed and copied into the EMA generator) is updated in training
    forwards with decay `w_avg_beta` (0.995 in the paper): the centre that truncation pulls towards.
    """

    def __init__(self, latent_dim: int, w_dim: int, layers: int, lr_mul: float, w_avg_beta: float) -> None:
        super().__init__()
        require(layers >= 1, f"model.generator.mapping_layers must be >= 1, got {layers}")
        dims = [latent_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=lr_mul) for a, b in zip(dims[:-1], dims[1:]))
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.w_avg_beta = w_avg_beta

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = lrelu(layer(x))
        if self.training:
            with torch.no_grad():
                self.w_avg.lerp_(x.detach().mean(0).to(self.w_avg.dtype), 1.0 - self.w_avg_beta)
        return x


def _level_channels(channels: Sequence[int], levels: int, what: str) -> list[int]:
    require(
        len(channels) >= levels,
        f"{what} needs one width per resolution from 4 px up ({levels} for this data), got {list(channels)}",
    )
    return [int(c) for c in channels[:levels]]


class StyleGenerator(nn.Module):
    """Mapping network + synthesis network from a learned 4x4 constant; `layers_per_level` style layers per
    resolution (2 in the paper: the 4 px block styles the constant, then convs; 1 in the course's small
    version, docs/references.md §9).

    `forward(z, y, level, alpha)` is the plain path (every layer gets w = mapping(z)); `mapping` and
    `synthesis(ws, level, alpha)` let the game mix styles (ws: [N, num_layers, w_dim]) and truncate them.
    Output is linear, as in the paper (the game clamps samples to the data range).
    """

    def __init__(
        self,
        latent_dim: int,
        out_shape: Sequence[int],
        num_classes: int = 0,
        w_dim: int = 128,
        mapping_layers: int = 3,
        mapping_lr_mul: float = 0.01,
        channels: Sequence[int] = (128, 128, 64, 32),
        layers_per_level: int = 2,
        w_avg_beta: float = 0.995,
        noise_seed: int = 0,
    ) -> None:
        super().__init__()
        require(num_classes == 0, "the style-based generator is unconditional here: set model.conditional=false")
        require(
            len(out_shape) == 3,
            f"the style-based generator makes images [C, H, W], got sample shape "
            f"{list(out_shape)}; use model=mlp for vector data",
        )
        c, h, w = out_shape
        require(h == w and h >= 8, f"the style-based generator needs square images of >= 8 px, got {h}x{w}")
        self.levels = log2_int(h, "data.image_size for the style-based generator") - 1  # 4 px is level 0
        ch = _level_channels(channels, self.levels, "model.generator.channels")
        self.latent_dim, self.w_dim, self.out_shape = latent_dim, w_dim, tuple(out_shape)
        require(
            layers_per_level in (1, 2),
            f"model.generator.layers_per_level must be 1 (the course's small version, docs/references.md §9: "
            f"one conv per block) or 2 (the paper), got {layers_per_level!r}",
        )
        self.per_level = k = int(layers_per_level)
        self.num_layers = k * self.levels
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers, mapping_lr_mul, w_avg_beta)
        # N(0, 1), as StyleGAN2 initialises it: a constant of ones has no spatial variation, so the first AdaIN
        # (instance norm) would blow the per-pixel noise up to unit variance and draw every 4 px image from noise
        self.const = nn.Parameter(torch.randn(1, ch[0], 4, 4))
        layers, to_rgb = [], []
        for lv in range(self.levels):
            res = 4 * 2**lv
            for j in range(k):
                cin = ch[max(lv - 1, 0)] if j == 0 else ch[lv]
                # the paper's 4 px block styles the constant itself before its conv; one layer per level convs it
                conv = not (lv == 0 and j == 0 and k == 2)
                layers.append(StyleLayer(cin, ch[lv], w_dim, res, noise_seed + k * lv + j, conv=conv))
            to_rgb.append(EqualConv2d(ch[lv], c, 1))
        self.layers, self.to_rgb = nn.ModuleList(layers), nn.ModuleList(to_rgb)

    def layers_at(self, level: int) -> int:
        """Style inputs used at a level (layers_per_level per resolution up to it): the range style mixing
        draws from."""
        return self.per_level * (level + 1)

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """[N, w_dim] -> [N, num_layers, w_dim]: the same w at every layer."""
        return w.unsqueeze(1).expand(-1, self.num_layers, -1)

    def truncate(self, ws: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
        """w_avg + psi (w - w_avg) at layers < cutoff (all layers when None): psi 0 gives the mean w, 1 no change."""
        avg = self.mapping.w_avg.to(ws.dtype)
        cut = self.num_layers if cutoff is None else int(cutoff)
        layer = torch.arange(self.num_layers, device=ws.device).view(1, -1, 1)
        return torch.where(layer < cut, avg + psi * (ws - avg), ws)

    @property
    def noise_sizes(self) -> list[int]:
        """The side of each style layer's square noise map, in layer order."""
        return [layer.noise.const.shape[-1] for layer in self.layers]

    def noise_vectors(self, seeds: torch.Tensor) -> torch.Tensor:
        """Per-sample noise of every style layer, flattened and concatenated in layer order [N, sum(res**2)]:
        sample i's values are N(0, 1) drawn from a torch.Generator seeded with seeds[i], on the CPU and then
        moved, so an image is a function of (z, seed) alone: the same whatever the chunking, level or device."""
        areas = [r * r for r in self.noise_sizes]
        g = torch.Generator()
        flat = torch.stack([torch.randn(sum(areas), generator=g.manual_seed(int(s))) for s in seeds.tolist()])
        return flat.to(device=self.const.device, dtype=self.const.dtype)

    def split_noise(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """[N, sum(res**2)] (`noise_vectors`) -> one map [N, 1, res, res] per style layer."""
        sizes = self.noise_sizes
        return [m.reshape(-1, 1, r, r) for m, r in zip(flat.split([r * r for r in sizes], dim=1), sizes)]

    def noise_maps(self, seeds: torch.Tensor) -> list[torch.Tensor]:
        """Per-sample noise maps of every style layer, [N, 1, res, res] each (`noise_vectors`, split per layer)."""
        return self.split_noise(self.noise_vectors(seeds))

    def synthesis(
        self,
        ws: torch.Tensor,
        level: int | None = None,
        alpha: float = 1.0,
        noise: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Per-layer styles [N, num_layers, w_dim] -> images at 4 * 2**level px (faded in while alpha < 1).
        `noise`: one map per style layer (`noise_maps`); None: fresh noise in training, `const` in eval."""
        level = self.levels - 1 if level is None else int(level)
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        prev = None
        for lv in range(level + 1):
            if lv > 0:
                prev = x
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            for j in range(self.per_level * lv, self.per_level * (lv + 1)):
                x = self.layers[j](x, ws[:, j], None if noise is None else noise[j])
        img = self.to_rgb[level](x)
        if alpha < 1.0 and level > 0:
            low = F.interpolate(self.to_rgb[level - 1](prev), scale_factor=2, mode="nearest")
            img = torch.lerp(low, img, alpha)
        return img

    def forward(
        self, z: torch.Tensor, y: torch.Tensor | None = None, level: int | None = None, alpha: float = 1.0
    ) -> torch.Tensor:
        return self.synthesis(self.broadcast(self.mapping(z)), level, alpha)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append one channel: the std over groups of samples, averaged over channels and pixels (ProGAN, sec. 3).

    Samples are split into groups of G (the largest divisor of N up to group_size; sample i belongs to
    group i mod N/G as in the reference code); each group's value is the mean over (C, H, W) of the
    per-feature std (biased, eps 1e-8 inside the sqrt) across its G samples, broadcast to a [H, W] map.
    """
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group_size, n) + 1) if n % d == 0)
    y = x.float().reshape(g, n // g, c, h, w)
    y = (y - y.mean(0)).pow(2).mean(0).add(1e-8).sqrt()  # [N/G, C, H, W]
    y = y.mean(dim=(1, 2, 3)).to(x.dtype)  # [N/G]
    y = y.repeat(g).view(n, 1, 1, 1).expand(n, 1, h, w)
    return torch.cat([x, y], dim=1)


class StyleDiscriminator(nn.Module):
    """Progressive critic (ProGAN/StyleGAN1): fromRGB at the input's level, conv-conv-avgpool blocks down to
    4x4, then minibatch stddev -> conv -> FC -> FC(1). While alpha < 1 the new block's path is faded in over
    fromRGB of the half-resolution input. No normalisation layers (R1 or a gradient penalty need none).

    `downsample`: "avgpool" is the paper's block (two 3x3 convs at the block's resolution, then 2x2 average
    pooling); "strided" is one 4x4 stride-2 conv per block, as DCGAN's critic downsamples. Our addition, for
    the CPU: a 3x3 conv at full resolution is where the progressive critic spends its time, and the gradient
    penalty's double backward pays for it three times (experiments/stylegan_mnist, the step profile).
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        num_classes: int = 0,
        channels: Sequence[int] = (128, 128, 64, 32),
        mbstd_group: int = 4,
        downsample: str = "avgpool",
    ) -> None:
        super().__init__()
        require(num_classes == 0, "the progressive discriminator is unconditional here: set model.conditional=false")
        require(len(in_shape) == 3, f"the progressive discriminator reads images [C, H, W], got {list(in_shape)}")
        c, h, _ = in_shape
        self.levels = log2_int(h, "data.image_size for the progressive discriminator") - 1
        ch = _level_channels(channels, self.levels, "model.discriminator.channels")
        require(
            downsample in ("avgpool", "strided"),
            f"model.discriminator.downsample must be avgpool (the "
            f"paper's conv-conv-avgpool blocks) or strided (one 4x4 stride-2 conv per block), got {downsample!r}",
        )
        self.mbstd_group = mbstd_group
        self.from_rgb = nn.ModuleList(EqualConv2d(c, ch[lv], 1) for lv in range(self.levels))
        # blocks[lv] takes level lv's features (ch[lv]) down to level lv - 1's (ch[lv - 1]); blocks[0] is unused
        self.blocks = nn.ModuleList(
            [nn.Identity()]
            + [
                nn.ModuleList(
                    [EqualConv2d(ch[lv], ch[lv - 1], 4, stride=2)]
                    if downsample == "strided"
                    else [EqualConv2d(ch[lv], ch[lv]), EqualConv2d(ch[lv], ch[lv - 1])]
                )
                for lv in range(1, self.levels)
            ]
        )
        self.final_conv = EqualConv2d(ch[0] + 1, ch[0])
        self.final_fc = EqualLinear(ch[0] * 16, ch[0])
        self.out = EqualLinear(ch[0], 1)

    def _block(self, lv: int, x: torch.Tensor) -> torch.Tensor:
        """The block's convs, each followed by the activation; blocks without a stride-2 conv then average-pool."""
        for conv in self.blocks[lv]:
            x = lrelu(conv(x))
        return x if self.blocks[lv][-1].stride == 2 else F.avg_pool2d(x, 2)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None, level: int | None = None, alpha: float = 1.0
    ) -> torch.Tensor:
        level = self.levels - 1 if level is None else int(level)
        require(
            x.shape[-1] == 4 * 2**level,
            f"the critic at level {level} reads {4 * 2**level} px images, got {x.shape[-1]} px",
        )
        h = lrelu(self.from_rgb[level](x))
        if level > 0:
            h = self._block(level, h)
            if alpha < 1.0:
                low = lrelu(self.from_rgb[level - 1](F.avg_pool2d(x, 2)))
                h = torch.lerp(low, h, alpha)
        for lv in range(level - 1, 0, -1):
            h = self._block(lv, h)
        h = lrelu(self.final_conv(minibatch_stddev(h, self.mbstd_group)))
        h = lrelu(self.final_fc(h.flatten(1)))
        return self.out(h).squeeze(1)
