"""gan_zoo: classic GAN variants on PyTorch Lightning + Hydra."""

__version__ = "0.1.0"
