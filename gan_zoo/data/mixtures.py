"""2D Gaussian mixtures, the standard mode-collapse benchmark (ring of 8, grid of 25)."""

from __future__ import annotations

import math
from typing import Any

import torch

from gan_zoo.data.base import TensorDataModule, tensor_dataset
from gan_zoo.errors import require


def ring8_centers(radius: float = 1.0) -> torch.Tensor:
    """8 points evenly spaced on a circle: [8, 2]."""
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return (torch.stack([angles.cos(), angles.sin()], dim=1) * radius).float()


def grid25_centers(spacing: float = 2.0) -> torch.Tensor:
    """The 5x5 grid (-4..4 step 2)^2: [25, 2]."""
    ticks = (torch.arange(5, dtype=torch.float32) - 2) * spacing
    return torch.cartesian_prod(ticks, ticks)


class GaussianMixtureDataModule(TensorDataModule):
    """Equal-weight isotropic Gaussians around fixed centres; y is the component index.

    An "epoch" is `num_train` points drawn once with `data_seed`, so runs differ only by the training seed.
    """

    kind = "vector"

    def __init__(self, name: str, centers: str, std: float, num_train: int = 51200, num_val: int = 2500,
                 data_seed: int = 1234, **loader: Any) -> None:
        super().__init__(**loader)
        require(centers in ("ring8", "grid25"), f"data.centers must be ring8 or grid25, got {centers!r}")
        require(std > 0, f"data.std must be > 0, got {std!r}")
        require(num_train > 0 and num_val > 0, "data.num_train and data.num_val must be > 0")
        self.name = name
        self.centers = ring8_centers() if centers == "ring8" else grid25_centers()
        self.std = float(std)
        self.num_train = num_train
        self.num_val = num_val
        self.data_seed = data_seed

    @property
    def dim(self) -> int:
        """Dimension of a sample."""
        return int(self.centers.shape[1])

    @property
    def dataset_id(self) -> str:
        return f"{self.name}-std{self.std:g}-seed{self.data_seed}"

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n points and their component indices."""
        k = torch.randint(len(self.centers), (n,), generator=generator)
        x = self.centers[k] + self.std * torch.randn(n, self.dim, generator=generator)
        return x, k

    def setup(self, stage: str | None = None) -> None:
        """Draw the fixed training and reference point sets."""
        if self.train_set is not None:
            return
        g = torch.Generator().manual_seed(self.data_seed)
        self.train_set = tensor_dataset(*self.sample(self.num_train, g))
        self.val_set = tensor_dataset(*self.sample(self.num_val, g))
