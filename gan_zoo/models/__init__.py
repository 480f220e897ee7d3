"""LightningModules: the shared GAN schedule; game-changing variants subclass it."""

from gan_zoo.models.gan import GAN

__all__ = ["GAN"]
