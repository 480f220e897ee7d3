"""Adversarial losses as d_<name>/g_<name> pairs of pure functions, and regularisers beside them."""

from gan_zoo.losses.adversarial import (
    d_bce,
    d_hinge,
    d_lsgan,
    d_wasserstein,
    g_hinge,
    g_lsgan,
    g_nonsaturating,
    g_wasserstein,
    noisy_targets,
)
from gan_zoo.losses.regularizers import gradient_penalty, r1_penalty

__all__ = [
    "d_bce",
    "d_hinge",
    "d_lsgan",
    "d_wasserstein",
    "g_hinge",
    "g_lsgan",
    "g_nonsaturating",
    "g_wasserstein",
    "gradient_penalty",
    "noisy_targets",
    "r1_penalty",
]
