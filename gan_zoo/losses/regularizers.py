"""Critic regularisers. Each takes (critic, real, fake, y, grad_scale) and returns an unweighted scalar.

The weight and the lazy-regularisation interval belong to the training schedule (the GAN module).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Critic = Callable[..., torch.Tensor]


def _input_grad_norm(critic: Critic, x: torch.Tensor, y: torch.Tensor | None, grad_scale: float) -> torch.Tensor:
    """Per-sample ||dC/dx||_2 of the summed critic output, [N], kept in the graph (double backward).

    Under fp16 autocast the output is multiplied by the loss scale before autograd.grad and the
    gradient divided by it again: autograd.grad bypasses the GradScaler, and unscaled fp16 input
    gradients underflow. An eps inside the sqrt keeps the norm differentiable at 0.
    """
    x = x.detach().requires_grad_(True)
    out = critic(x, y)
    (grad,) = torch.autograd.grad(out.float().sum() * grad_scale, x, create_graph=True)
    grad = grad.float() / grad_scale
    return (grad.flatten(1).pow(2).sum(1) + 1e-12).sqrt()


def gradient_penalty(
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    y: torch.Tensor | None = None,
    grad_scale: float = 1.0,
    eps: torch.Tensor | None = None,
    target: float = 1.0,
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad C(x_hat)||_2 - target)^2] at x_hat = eps x + (1 - eps) G(z).

    eps ~ U(0, 1), one draw per sample, broadcast over the other dims (not N(0, 1): that is a bug seen
    in one course deck, it leaves the segment between the real and fake sample).
    """
    if eps is None:
        eps = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    eps = eps.view(-1, *([1] * (real.dim() - 1)))  # [N, 1, 1, 1] for images, [N, 1] for vectors
    x_hat = eps * real.detach() + (1.0 - eps) * fake.detach()
    return (_input_grad_norm(critic, x_hat, y, grad_scale) - target).pow(2).mean()


def r1_penalty(
    critic: Critic, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None = None, grad_scale: float = 1.0
) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real data; the usual weight is gamma / 2."""
    return _input_grad_norm(critic, real, y, grad_scale).pow(2).mean()
