"""Adversarial losses on raw critic outputs (logits). Each d_ loss is minimised by D, each g_ loss by G."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_zoo.errors import require


def noisy_targets(like: torch.Tensor, real: bool, noise: float) -> torch.Tensor:
    """Soft targets kept inside [0, 1]: real ~ U(1 - noise, 1), fake ~ U(0, noise).

    The DCGAN deck's `1 + 0.1 * U(0, 1)` leaves [0, 1] (a BCE target above 1 rewards D for
    *unbounded* logits); this keeps the same noise level on the right side of the boundary.
    """
    require(0.0 <= noise < 0.5, f"label_noise must be in [0, 0.5), got {noise!r}")
    u = torch.rand_like(like, dtype=torch.float32) * noise
    return (1.0 - u) if real else u


def d_bce(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, label_noise: float = 0.0, one_sided: bool = False
) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), with optional label noise (one-sided: only real targets softened)."""
    real_t = noisy_targets(real_logits, True, label_noise)
    fake_t = (
        torch.zeros_like(fake_logits, dtype=torch.float32)
        if one_sided
        else noisy_targets(fake_logits, False, label_noise)
    )
    return F.binary_cross_entropy_with_logits(real_logits.float(), real_t) + F.binary_cross_entropy_with_logits(
        fake_logits.float(), fake_t
    )


def g_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)): the non-saturating generator loss of Goodfellow et al. (2014)."""
    return F.softplus(-fake_logits.float()).mean()


def d_wasserstein(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """E[C(G(z))] - E[C(x)]: the critic's side of the Wasserstein-1 dual."""
    return fake_logits.float().mean() - real_logits.float().mean()


def g_wasserstein(fake_logits: torch.Tensor) -> torch.Tensor:
    """-E[C(G(z))]."""
    return -fake_logits.float().mean()


def d_hinge(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))] (SN-GAN, BigGAN)."""
    return F.relu(1.0 - real_logits.float()).mean() + F.relu(1.0 + fake_logits.float()).mean()


def g_hinge(fake_logits: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))]."""
    return -fake_logits.float().mean()


def d_lsgan(real_logits: torch.Tensor, fake_logits: torch.Tensor, label_noise: float = 0.0) -> torch.Tensor:
    """1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2] (Mao et al. 2017, a=0, b=c=1)."""
    real_t = noisy_targets(real_logits, True, label_noise)
    fake_t = noisy_targets(fake_logits, False, label_noise)
    return 0.5 * (F.mse_loss(real_logits.float(), real_t) + F.mse_loss(fake_logits.float(), fake_t))


def g_lsgan(fake_logits: torch.Tensor) -> torch.Tensor:
    """1/2 E[(D(G(z)) - 1)^2]."""
    return 0.5 * (fake_logits.float() - 1.0).pow(2).mean()
