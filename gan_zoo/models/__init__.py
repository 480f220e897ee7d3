"""LightningModules: the adversarial base (base.py) and one file per game that changes it."""

from gan_zoo.models.base import AdversarialModule, eval_mode
from gan_zoo.models.cyclegan import CycleGAN, ImageHistory
from gan_zoo.models.infogan import InfoGAN
from gan_zoo.models.noise import GAN, NoiseGAN, pack_samples
from gan_zoo.models.pix2pix import Pix2Pix
from gan_zoo.models.style import GrowthSchedule, StyleGAN
from gan_zoo.models.vae import VAE

__all__ = [
    "GAN",
    "AdversarialModule",
    "CycleGAN",
    "GrowthSchedule",
    "ImageHistory",
    "InfoGAN",
    "NoiseGAN",
    "Pix2Pix",
    "StyleGAN",
    "VAE",
    "eval_mode",
    "pack_samples",
]
