"""The shared schedule: n_critic accounting, frozen networks, EMA, eval-mode sampling, divergence."""

from functools import partial

import pytest
import torch

from gan_zoo.errors import ConfigError, DivergenceError
from gan_zoo.losses import d_bce, d_wasserstein, g_nonsaturating, g_wasserstein, gradient_penalty
from gan_zoo.models import GAN, eval_mode
from gan_zoo.models.base import Schedule
from gan_zoo.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_zoo.networks.mlp import MLPDiscriminator, MLPGenerator


def make_gan(n_critic=1, **kw):
    torch.manual_seed(0)
    g = MLPGenerator(4, (2,), hidden=[16], output="linear")
    d = MLPDiscriminator((2,), hidden=[16], dropout=0.0)
    return GAN(
        g,
        d,
        d_wasserstein,
        g_wasserstein,
        partial(torch.optim.SGD, lr=0.1),
        partial(torch.optim.SGD, lr=0.1),
        latent_dim=4,
        schedule=Schedule(n_critic=n_critic, **kw),
    )


class FakeTrainerGAN(GAN):
    """Runs training_step outside a Trainer: optimizers and manual_backward are plain torch."""

    def optimizers(self, use_pl_optimizer=True):
        return self._opts

    def manual_backward(self, loss, *a, **k):
        loss.backward()

    def log_dict(self, *a, **k):
        pass

    def toggle_optimizer(self, opt):
        self._frozen = [
            p
            for p in self.parameters()
            if p.requires_grad and all(p is not q for group in opt.param_groups for q in group["params"])
        ]
        for p in self._frozen:
            p.requires_grad_(False)

    def untoggle_optimizer(self, opt):
        for p in self._frozen:
            p.requires_grad_(True)


def fake_trainer_gan(n_critic=1, ema=None, d_lr=0.1, **kw):
    torch.manual_seed(0)
    g = MLPGenerator(4, (2,), hidden=[16], output="linear")
    d = MLPDiscriminator((2,), hidden=[16], dropout=0.0)
    gan = FakeTrainerGAN(
        g,
        d,
        d_wasserstein,
        g_wasserstein,
        partial(torch.optim.SGD, lr=0.1),
        partial(torch.optim.SGD, lr=d_lr),
        latent_dim=4,
        schedule=Schedule(n_critic=n_critic, ema_decay=ema),
        **kw,
    )
    gan._opts = gan.configure_optimizers()
    return gan


def params(m):
    return [p.detach().clone() for p in m.parameters()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("n_critic", [1, 3, 5])
def test_n_critic_schedule_counts_generator_steps(n_critic):
    gan = fake_trainer_gan(n_critic=n_critic)
    batch = (torch.randn(8, 2), torch.zeros(8, dtype=torch.long))
    g_updates = 0
    for i in range(15):
        g_before = params(gan.generator)
        gan.training_step(batch, i)
        g_updates += not same(g_before, params(gan.generator))
    assert gan.d_steps == 15 and gan.g_steps == 15 // n_critic == g_updates


def test_critic_step_leaves_g_alone_and_generator_step_leaves_d_alone():
    gan = fake_trainer_gan()
    x = torch.randn(8, 2)
    g0, d0 = params(gan.generator), params(gan.discriminator)
    gan.critic_step((x, None))
    assert same(g0, params(gan.generator)) and not same(d0, params(gan.discriminator))
    d1 = params(gan.discriminator)
    d_grads = [p.grad.clone() for p in gan.discriminator.parameters()]
    gan.generator_step((torch.randn(8, 2), None))
    assert same(d1, params(gan.discriminator)) and not same(g0, params(gan.generator))
    # D's gradients were not even accumulated during the G step (frozen, not just not stepped)
    assert same(d_grads, [p.grad for p in gan.discriminator.parameters()])


def test_d_is_frozen_during_g_step():
    gan = fake_trainer_gan()
    seen = []
    orig = gan.discriminator.forward

    def spy(x, y=None):
        seen.append([p.requires_grad for p in gan.discriminator.parameters()])
        return orig(x, y)

    gan.discriminator.forward = spy
    gan.generator_step((torch.randn(4, 2), None))
    assert seen and not any(any(s) for s in seen)


def test_ema_follows_the_formula_and_copies_buffers():
    gan = fake_trainer_gan(ema=0.9)
    ema0, g0 = params(gan.generator_ema), params(gan.generator)
    assert same(ema0, g0)
    gan.generator_step((torch.randn(8, 2), None))
    beta = min(0.9, (1 + 1) / (10 + 1))
    for e, g_old, g_new in zip(params(gan.generator_ema), ema0, params(gan.generator)):
        assert torch.allclose(e, beta * g_old + (1 - beta) * g_new, atol=1e-6)
    assert all(not p.requires_grad for p in gan.generator_ema.parameters())
    assert gan.sampling_generator is gan.generator_ema


def test_sampling_is_eval_mode_and_does_not_touch_global_rng():
    torch.manual_seed(0)
    g = DCGANGenerator(8, (1, 8, 8), base_channels=4)
    d = DCGANDiscriminator((1, 8, 8), base_channels=4)
    gan = GAN(g, d, d_bce, g_nonsaturating, partial(torch.optim.Adam), partial(torch.optim.Adam), latent_dim=8)
    g.train()
    state = torch.get_rng_state()
    a, _ = gan.sample(10, seed=3)
    b, _ = gan.sample(4, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.allclose(a[:4], b, atol=1e-6)  # eval-mode BN: a sample does not depend on its batch
    assert g.training  # mode restored


def test_conditional_fixed_grid_has_one_z_per_row():
    g = MLPGenerator(4, (2,), hidden=[8], num_classes=10, output="linear")
    d = MLPDiscriminator((2,), hidden=[8], num_classes=10)
    gan = GAN(
        g,
        d,
        d_bce,
        g_nonsaturating,
        partial(torch.optim.Adam),
        partial(torch.optim.Adam),
        latent_dim=4,
        num_classes=10,
        schedule=Schedule(num_grid=80),
    )
    assert gan.fixed_z.shape == (80, 4) and gan.fixed_y[:12].tolist() == [*range(10), 0, 1]
    assert torch.equal(gan.fixed_z[0], gan.fixed_z[9]) and not torch.equal(gan.fixed_z[0], gan.fixed_z[10])


def test_divergence_stops_before_the_update():
    gan = fake_trainer_gan(d_lr=1e30)
    d0 = params(gan.discriminator)
    gan.d_loss = lambda r, f: (r.mean() - f.mean()) * float("nan")
    with pytest.raises(DivergenceError, match="critic loss became nan .*last checkpoint is intact"):
        gan.critic_step((torch.randn(8, 2), None))
    assert same(d0, params(gan.discriminator))


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"n_critic": 0}, "n_critic must be an integer >= 1"),
        ({"ema_decay": 1.5}, "ema_decay"),
        ({"reg_every": 0}, "reg_every"),
    ],
)
def test_invalid_schedule_values(kw, match):
    with pytest.raises(ConfigError, match=match):
        make_gan(**kw)


def test_gradient_penalty_refuses_a_batchnorm_critic():
    g = DCGANGenerator(8, (1, 16, 16), base_channels=4)
    d = DCGANDiscriminator((1, 16, 16), base_channels=4, norm="batch")
    with pytest.raises(ConfigError, match="without BatchNorm"):
        GAN(
            g,
            d,
            d_wasserstein,
            g_wasserstein,
            partial(torch.optim.Adam),
            partial(torch.optim.Adam),
            latent_dim=8,
            regularizer=gradient_penalty,
            reg_weight=10.0,
        )


def test_weight_clipping_bounds_every_critic_weight():
    gan = fake_trainer_gan(critic_weight_clip=0.01)
    gan.critic_step((torch.randn(8, 2), None))
    assert max(p.abs().max().item() for p in gan.discriminator.parameters()) <= 0.01


def test_eval_mode_restores():
    m = torch.nn.BatchNorm1d(3)
    m.train()
    with eval_mode(m):
        assert not m.training
    assert m.training


def test_fp16_penalty_overflow_is_left_to_the_grad_scaler():
    """Under fp16 the scaled penalty can overflow on the first steps; the GradScaler skips those steps."""
    gan = fake_trainer_gan(regularizer=lambda *a, **k: torch.tensor(float("inf")), reg_weight=1.0)
    gan._grad_scale = lambda: 65536.0
    gan.critic_step((torch.randn(8, 2), None))  # no DivergenceError
    gan._grad_scale = lambda: 1.0
    with pytest.raises(DivergenceError, match="regulariser"):
        gan.critic_step((torch.randn(8, 2), None))
