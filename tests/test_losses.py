"""Adversarial losses and regularisers on inputs with known answers."""

import math

import pytest
import torch

from gan_zoo.errors import ConfigError
from gan_zoo.losses import (
    d_bce,
    d_hinge,
    d_lsgan,
    d_wasserstein,
    g_hinge,
    g_lsgan,
    g_nonsaturating,
    g_wasserstein,
    gradient_penalty,
    noisy_targets,
    r1_penalty,
)


def test_bce_pair_at_zero_logits_is_log2():
    z = torch.zeros(8)
    assert d_bce(z, z).item() == pytest.approx(2 * math.log(2))
    assert g_nonsaturating(z).item() == pytest.approx(math.log(2))


def test_bce_signs_reward_the_right_side():
    confident_right = d_bce(torch.full((4,), 10.0), torch.full((4,), -10.0))
    confident_wrong = d_bce(torch.full((4,), -10.0), torch.full((4,), 10.0))
    assert confident_right.item() < 1e-3 < 19 < confident_wrong.item()
    assert g_nonsaturating(torch.full((4,), 10.0)) < g_nonsaturating(torch.full((4,), -10.0))


def test_wasserstein_hinge_lsgan_values():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert d_wasserstein(real, fake).item() == pytest.approx(-0.5 - 2.0)
    assert g_wasserstein(fake).item() == pytest.approx(0.5)
    # relu(1 - [1, 3]) = [0, 0]; relu(1 + [-1, 0]) = [0, 1]
    assert d_hinge(real, fake).item() == pytest.approx(0.5)
    assert g_hinge(fake).item() == pytest.approx(0.5)
    # 0.5 * (mean([0, 4]) + mean([1, 0]))
    assert d_lsgan(real, fake).item() == pytest.approx(0.5 * (2.0 + 0.5))
    assert g_lsgan(fake).item() == pytest.approx(0.5 * (4 + 1) / 2)


def test_label_noise_targets_stay_inside_unit_interval():
    torch.manual_seed(0)
    like = torch.zeros(100_000)
    real, fake = noisy_targets(like, True, 0.1), noisy_targets(like, False, 0.1)
    assert real.min() >= 0.9 and real.max() <= 1.0 and real.std() > 0.02
    assert fake.min() >= 0.0 and fake.max() <= 0.1
    with pytest.raises(ConfigError, match="label_noise"):
        noisy_targets(like, True, 0.6)


def test_one_sided_smoothing_keeps_fake_targets_at_zero():
    torch.manual_seed(0)
    logits = torch.full((1000,), -3.0)
    # BCE(-3, 0) alone; the real part is identical between the two calls given the same seed
    torch.manual_seed(1)
    a = d_bce(torch.zeros(1000), logits, label_noise=0.1, one_sided=True)
    torch.manual_seed(1)
    real_part = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.zeros(1000), noisy_targets(torch.zeros(1000), True, 0.1)
    )
    assert a.item() == pytest.approx(
        real_part.item() + torch.nn.functional.softplus(torch.tensor(-3.0)).item(), rel=1e-5
    )


class Linear:
    """C(x) = <w, x>: the input gradient is w for every sample."""

    def __init__(self, w: torch.Tensor) -> None:
        self.w = w
        self.seen: list[torch.Tensor] = []

    def __call__(self, x, y=None):
        self.seen.append(x.detach().clone())
        return (x.flatten(1) * self.w.flatten()).sum(1)


@pytest.mark.parametrize("norm", [0.5, 1.0, 3.0])
def test_gradient_penalty_on_linear_critic_is_exact(norm):
    w = torch.randn(1, 3, 4, 4)
    w = w / w.norm() * norm
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    gp = gradient_penalty(Linear(w), real, fake)
    assert gp.item() == pytest.approx((norm - 1.0) ** 2, abs=1e-5)


def test_gradient_penalty_interpolates_per_sample():
    real, fake = torch.ones(4, 1, 2, 2), torch.zeros(4, 1, 2, 2)
    critic = Linear(torch.ones(1, 1, 2, 2))
    eps = torch.tensor([0.0, 0.25, 0.5, 1.0])
    gradient_penalty(critic, real, fake, eps=eps)
    x_hat = critic.seen[0]
    for i, e in enumerate(eps):
        assert torch.allclose(x_hat[i], torch.full((1, 2, 2), float(e)))
    # default eps: uniform in [0, 1], one value per sample (all pixels of a sample share it)
    torch.manual_seed(0)
    critic.seen.clear()
    gradient_penalty(critic, torch.ones(256, 1, 2, 2), torch.zeros(256, 1, 2, 2))
    x_hat = critic.seen[0]
    per_sample = x_hat.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample))
    assert per_sample.min() >= 0 and per_sample.max() <= 1 and per_sample[:, 0].std() > 0.2


def test_gradient_penalty_uses_per_sample_norms():
    """C(x) = 0.5 ||x||^2 has gradient x: the penalty must average (||x_hat_i|| - 1)^2 over samples."""
    critic = lambda x, y=None: 0.5 * x.flatten(1).pow(2).sum(1)  # noqa: E731
    real = torch.tensor([[3.0, 0.0], [0.0, 0.5]])
    fake = torch.zeros(2, 2)
    eps = torch.tensor([1.0, 1.0])  # x_hat = real
    expected = ((3.0 - 1) ** 2 + (0.5 - 1) ** 2) / 2
    assert gradient_penalty(critic, real, fake, eps=eps).item() == pytest.approx(expected, rel=1e-5)


def test_gradient_penalty_is_invariant_to_fp16_loss_scale_and_differentiable():
    w = torch.randn(1, 8, requires_grad=True)
    critic = lambda x, y=None: (x * w).sum(1)  # noqa: E731
    real, fake, eps = torch.randn(6, 8), torch.randn(6, 8), torch.rand(6)
    a = gradient_penalty(critic, real, fake, eps=eps)
    b = gradient_penalty(critic, real, fake, eps=eps, grad_scale=65536.0)
    assert a.item() == pytest.approx(b.item(), rel=1e-5)
    a.backward()  # double backward reaches the critic's weights
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    n = w.detach().norm()
    assert torch.allclose(w.grad, 2 * (n - 1) * w.detach() / n, atol=1e-5)


def test_r1_on_linear_critic_is_squared_weight_norm():
    w = torch.randn(1, 10)
    assert r1_penalty(Linear(w), torch.randn(7, 10), None).item() == pytest.approx(w.norm().item() ** 2, rel=1e-5)


@pytest.mark.parametrize("dtype,scale,tol", [(torch.float16, 1024.0, 2e-2), (torch.bfloat16, 1.0, 5e-2)])
def test_gradient_penalty_under_autocast_matches_fp32(dtype, scale, tol):
    """fp16 autocast + a GradScaler-style loss scale (and bf16, which needs none) give the fp32 penalty and the
    fp32 critic gradients within half-precision tolerance: the scale goes into autograd.grad and comes out
    again, the double backward reaches the weights, and GradScaler.unscale_ restores the gradient."""
    from gan_zoo.networks.mlp import MLPDiscriminator

    torch.manual_seed(0)
    critic = MLPDiscriminator((16,), hidden=[64, 64], dropout=0.0, norm="layer")
    real, fake, eps = torch.randn(32, 16), torch.randn(32, 16), torch.rand(32)

    def penalty_and_grads(autocast: bool, grad_scale: float):
        critic.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=dtype, enabled=autocast):
            gp = gradient_penalty(critic, real, fake, eps=eps, grad_scale=grad_scale)
        (gp * grad_scale).backward()  # what GradScaler.scale(loss).backward() does
        # unscale_; the output bias gets no gradient from an input-gradient penalty (None)
        return gp.detach(), [p.grad.detach().float() / grad_scale for p in critic.parameters() if p.grad is not None]

    with torch.autocast("cpu", dtype=dtype):
        assert critic(real).dtype == dtype  # the critic really runs in half precision here
    gp32, g32 = penalty_and_grads(False, 1.0)
    gp16, g16 = penalty_and_grads(True, scale)
    assert gp32.item() > 0.01
    assert gp16.item() == pytest.approx(gp32.item(), rel=tol)
    flat32, flat16 = torch.cat([g.flatten() for g in g32]), torch.cat([g.flatten() for g in g16])
    assert torch.isfinite(flat16).all()
    assert float((flat16 - flat32).norm() / flat32.norm()) < tol
