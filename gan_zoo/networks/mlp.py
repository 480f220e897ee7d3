"""Fully connected generator and discriminator (docs/references.md §1; 2D mixtures)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from gan_zoo.errors import require
from gan_zoo.networks.common import concat_label_vector, norm1d, sn


def normal_init(module: nn.Module, std: float | None) -> None:
    """Linear weights ~ N(0, std^2), biases 0 (PacGAN's and DCGAN's initialisation); PyTorch's default when None."""
    if std is None:
        return
    require(std > 0, f"init_std must be > 0 or null, got {std!r}")
    for m in module.modules():
        if isinstance(m, nn.Linear):
            weight = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
            with torch.no_grad():
                weight.normal_(0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class Maxout(nn.Module):
    """Linear to `features` x `pieces` units, then the max over each unit's pieces (Goodfellow et al. 2013).

    PacGAN's 2D critic (LinearMaxout, 5 pieces): a piecewise-linear critic with many more pieces per layer
    than a ReLU MLP of the same width, which resolves narrow mixture modes sooner.
    """

    def __init__(self, in_features: int, features: int, pieces: int) -> None:
        super().__init__()
        require(isinstance(pieces, int) and pieces >= 2, f"maxout_pieces must be an integer >= 2, got {pieces!r}")
        self.pieces = pieces
        self.linear = nn.Linear(in_features, features * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in] -> [N, features]."""
        return self.linear(x).unflatten(1, (-1, self.pieces)).amax(2)


class MLPGenerator(nn.Module):
    """z [N, latent_dim] (+ one-hot y) -> hidden layers -> out_shape (tanh for images, linear for vectors).

    `negative_slope=0` gives ReLU (PacGAN's 2D generator: 4 x 400, BatchNorm, ReLU, init_std 0.02).
    """

    def __init__(
        self,
        latent_dim: int,
        out_shape: Sequence[int],
        hidden: Sequence[int] = (256, 512, 1024),
        num_classes: int = 0,
        norm: str = "none",
        negative_slope: float = 0.2,
        output: str = "tanh",
        init_std: float | None = None,
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.out_shape = tuple(out_shape)
        layers: list[nn.Module] = []
        width = latent_dim + num_classes
        for h in hidden:
            layers += [nn.Linear(width, h), norm1d(norm, h), nn.LeakyReLU(negative_slope)]
            width = h
        layers.append(nn.Linear(width, math.prod(self.out_shape)))
        if output == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)
        normal_init(self, init_std)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """[N, latent_dim] -> [N, *out_shape]."""
        out = self.net(concat_label_vector(z, y, self.num_classes))
        return out.view(len(z), *self.out_shape)


class FourierFeatures(nn.Module):
    """[N, G * d] -> [N, G * (d + 2F)]: each group of d inputs (one packed sample) keeps its values and adds
    sin/cos of F fixed random projections B ~ N(0, scale^2) (Tancik et al. 2020; ours).

    An MLP on raw 2D coordinates learns high-frequency patterns late (spectral bias): on 25 modes of std
    0.05 a plain critic needed thousands of steps to see the gaps between modes. The same B serves every
    group, so a packed critic reads each of its samples alike. B is a buffer: checkpointed, never trained.
    """

    def __init__(self, in_features: int, group: int, features: int, scale: float, seed: int = 0) -> None:
        super().__init__()
        group = group or in_features
        require(
            in_features % group == 0,
            f"model.discriminator.fourier_group={group} must divide the critic's input size {in_features}",
        )
        self.group = group
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("B", torch.randn(group, features, generator=g) * scale)
        self.out_features = in_features // group * (group + 2 * features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x.reshape(len(x), -1, self.group)  # [N, G, d]
        p = v @ self.B.to(v.dtype)  # [N, G, F]
        return torch.cat([v, torch.sin(p), torch.cos(p)], dim=2).flatten(1)


class MLPDiscriminator(nn.Module):
    """x [N, *in_shape] flattened (+ one-hot y) -> hidden layers with dropout -> one logit [N].

    `fourier_features` > 0 prepends FourierFeatures over groups of `fourier_group` inputs (2 for packed
    2D points; 0 = the whole input). `activation=maxout` makes each hidden layer a Maxout of `maxout_pieces`
    (PacGAN's critic; no separate nonlinearity and no normalisation then).
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        hidden: Sequence[int] = (1024, 512, 256),
        num_classes: int = 0,
        dropout: float = 0.3,
        norm: str = "none",
        spectral_norm: bool = False,
        negative_slope: float = 0.2,
        fourier_features: int = 0,
        fourier_scale: float = 1.0,
        fourier_group: int = 0,
        activation: str = "leaky_relu",
        maxout_pieces: int = 5,
        init_std: float | None = None,
    ) -> None:
        super().__init__()
        require(
            activation in ("leaky_relu", "maxout"),
            f"model.discriminator.activation must be leaky_relu or maxout, got {activation!r}",
        )
        require(
            activation != "maxout" or norm == "none",
            "a maxout critic takes no normalisation layer: set model.discriminator.norm=none",
        )
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        width = math.prod(in_shape)
        self.encode: nn.Module = nn.Identity()  # no parameters: checkpoints without Fourier features keep their keys
        if fourier_features > 0:
            self.encode = FourierFeatures(width, fourier_group, fourier_features, fourier_scale)
            width = self.encode.out_features
        width += num_classes
        for h in hidden:
            if activation == "maxout":
                layers.append(Maxout(width, h, maxout_pieces))
                if spectral_norm:
                    layers[-1].linear = sn(layers[-1].linear, True)
            else:
                layers += [sn(nn.Linear(width, h), spectral_norm), norm1d(norm, h), nn.LeakyReLU(negative_slope)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(sn(nn.Linear(width, 1), spectral_norm))
        self.net = nn.Sequential(*layers)
        normal_init(self, init_std)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The last hidden layer's output, [N, hidden[-1]] (shared with auxiliary heads)."""
        return self.net[:-1](concat_label_vector(self.encode(x.flatten(1)), y, self.num_classes))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Hidden features -> logits [N]."""
        return self.net[-1](features).squeeze(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """[N, ...] -> logits [N]."""
        return self.head(self.features(x, y))
