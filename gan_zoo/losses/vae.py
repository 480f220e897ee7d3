"""The VAE's evidence lower bound (Kingma & Welling 2014), per sample, summed over dimensions."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per sample [N] = -1/2 sum(1 + logvar - mu^2 - exp(logvar))."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).flatten(1).sum(1)


def bernoulli_nll(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | z) per sample [N] for images in [-1, 1], pixels as Bernoulli means p = (recon + 1) / 2."""
    p = ((recon.float() + 1) / 2).clamp(1e-6, 1 - 1e-6)
    t = ((x.float() + 1) / 2).clamp(0, 1)
    return F.binary_cross_entropy(p, t, reduction="none").flatten(1).sum(1)


def negative_elbo(
    recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean -ELBO, mean reconstruction NLL, mean KL) with -ELBO = NLL + beta * KL (beta = 1: the ELBO)."""
    nll, kl = bernoulli_nll(recon, x), gaussian_kl(mu, logvar)
    return (nll + beta * kl).mean(), nll.mean(), kl.mean()
