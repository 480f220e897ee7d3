"""LightningDataModules: in-memory image tensors (MNIST, CIFAR-10, digits, folders) and 2D Gaussian mixtures."""

from gan_zoo.data.images import (
    DigitsDataModule,
    ImageFolderDataModule,
    ImageTensorDataModule,
    MNISTMiniDataModule,
    to_float_images,
    to_uint8_images,
)
from gan_zoo.data.standard import (
    CIFAR10DataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
    first_n_indices,
    load_cifar10,
    load_mnist_like,
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
    "CIFAR10DataModule",
    "FashionMNISTDataModule",
    "first_n_indices",
    "load_cifar10",
    "load_mnist_like",
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
