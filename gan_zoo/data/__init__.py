"""LightningDataModules: in-memory image tensors (MNIST, digits, folders) and 2D Gaussian mixtures."""

from gan_zoo.data.images import (
    DigitsDataModule,
    ImageFolderDataModule,
    ImageTensorDataModule,
    MNISTDataModule,
    MNISTMiniDataModule,
    to_float_images,
    to_uint8_images,
)
from gan_zoo.data.translation import (
    EdgesMNISTDataModule,
    PairedDataModule,
    PairedFolderDataModule,
    PhotoColorizationDataModule,
    UnpairedDataModule,
    UnpairedFolderDataModule,
)
from gan_zoo.data.mixtures import GaussianMixtureDataModule, grid25_centers, ring8_centers

__all__ = [
    "DigitsDataModule",
    "EdgesMNISTDataModule",
    "PairedDataModule",
    "PairedFolderDataModule",
    "PhotoColorizationDataModule",
    "UnpairedDataModule",
    "UnpairedFolderDataModule",
    "GaussianMixtureDataModule",
    "ImageFolderDataModule",
    "ImageTensorDataModule",
    "MNISTDataModule",
    "MNISTMiniDataModule",
    "grid25_centers",
    "ring8_centers",
    "to_float_images",
    "to_uint8_images",
]
