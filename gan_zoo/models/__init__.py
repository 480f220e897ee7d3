"""LightningModules: the adversarial base (base.py) and one file per game that changes it.

The games are imported on first use (PEP 562 `__getattr__`), so that a light module of this package
(`gan_zoo.models.contract`, read by the CLI's key checks) does not pull in Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AdversarialModule": "base",
    "eval_mode": "base",
    "CycleGAN": "cyclegan",
    "ImageHistory": "cyclegan",
    "InfoGAN": "infogan",
    "GAN": "noise",
    "NoiseGAN": "noise",
    "pack_samples": "noise",
    "Pix2Pix": "pix2pix",
    "GrowthSchedule": "style",
    "StyleGAN": "style",
    "VAE": "vae",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """`gan_zoo.models.NoiseGAN` (e.g. a Hydra `_target_`): import the game's module, then return the name."""
    if name not in _WHERE:
        raise AttributeError(f"module 'gan_zoo.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"gan_zoo.models.{_WHERE[name]}"), name)
