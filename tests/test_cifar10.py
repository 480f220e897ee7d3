"""The CIFAR-10 recipes compose and build their published networks and schedules without data or training; the
SN-GAN/WGAN-GP residual networks have the papers' shapes."""

import pytest
import torch

from gan_zoo.build import build_gan
from gan_zoo.errors import ConfigError
from gan_zoo.networks.resnet import ResNetDiscriminator, ResNetGenerator

CIFAR10 = {"kind": "image", "shape": [3, 32, 32], "num_classes": 10, "dataset_id": "cifar10-test"}
# experiment -> (n_critic, batch, budget in generator steps, loss target, G class, G params (M), D params (M))
RECIPES = {
    "dcgan_cifar10": (1, 128, 100_000, "d_bce", "DCGANGenerator", 1.07, 0.66),
    "cgan_cifar10": (1, 128, 100_000, "d_bce", "DCGANGenerator", 1.11, 0.68),
    "sngan_cifar10": (5, 64, 50_000, "d_hinge", "ResNetGenerator", 4.28, 1.05),
    "wgan_gp_cifar10": (5, 64, 100_000, "d_wasserstein", "ResNetGenerator", 1.20, 1.05),
}


@pytest.mark.parametrize("experiment", sorted(RECIPES))
def test_published_recipe_builds(experiment, make_cfg):
    n_critic, batch, steps, d_loss, g_cls, g_m, d_m = RECIPES[experiment]
    cfg = make_cfg([f"experiment={experiment}"])
    assert cfg.data._target_.endswith("CIFAR10DataModule") and cfg.data.batch_size == batch
    assert cfg.trainer.max_g_steps == steps and cfg.loss.d_loss._target_.endswith(d_loss)
    assert cfg.callbacks.wall.every_minutes == 5
    gan = build_gan(cfg, CIFAR10)
    assert gan.n_critic == n_critic and type(gan.generator).__name__ == g_cls
    assert sum(p.numel() for p in gan.generator.parameters()) / 1e6 == pytest.approx(g_m, abs=0.01)
    assert sum(p.numel() for p in gan.discriminator.parameters()) / 1e6 == pytest.approx(d_m, abs=0.01)
    y = torch.arange(4) % 10 if gan.num_classes else None
    x = gan.generator(torch.randn(4, gan.latent_dim), y)
    assert x.shape == (4, 3, 32, 32) and gan.discriminator(x, y).shape == (4,)


def test_published_optimizers(make_cfg):
    sn, gp = make_cfg(["experiment=sngan_cifar10"]), make_cfg(["experiment=wgan_gp_cifar10"])
    for cfg in (sn, gp):
        assert cfg.model.g_optimizer.lr == 2e-4 and list(cfg.model.d_optimizer.betas) == [0.0, 0.9]
        assert cfg.model.lr_decay_start == 0.0  # linear decay to 0 over the budget
    assert sn.model.discriminator.spectral_norm and not gp.model.discriminator.spectral_norm
    assert gp.loss.reg_weight == 10.0
    dc = make_cfg(["experiment=dcgan_cifar10"])
    assert list(dc.model.g_optimizer.betas) == [0.5, 0.999] and dc.loss.d_loss.label_noise == 0.0


def test_cpu_recipe_is_a_45_minute_dcgan(make_cfg):
    cfg = make_cfg(["experiment=dcgan_cifar10_cpu"])
    assert cfg.trainer.max_time == "00:00:45:00" and cfg.trainer.max_g_steps is None
    gan = build_gan(cfg, CIFAR10)
    assert type(gan.generator).__name__ == "DCGANGenerator" and gan.ema_decay == 0.999


def test_resnet_shapes_and_spectral_norm():
    g = ResNetGenerator(128, (3, 32, 32), base_channels=16)
    d = ResNetDiscriminator((3, 32, 32), base_channels=16, spectral_norm=True, pooling="sum")
    x = g(torch.randn(5, 128))
    assert x.shape == (5, 3, 32, 32) and x.abs().max() <= 1
    assert d(x).shape == (5,)
    # every conv and the linear layer carry a spectral-norm parametrization
    weighted = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert weighted and all(hasattr(m, "parametrizations") for m in weighted)
    # 64 px adds one block on each side
    assert ResNetGenerator(8, (3, 64, 64), base_channels=8)(torch.randn(2, 8)).shape == (2, 3, 64, 64)
    assert ResNetDiscriminator((3, 64, 64), base_channels=8)(torch.randn(2, 3, 64, 64)).shape == (2,)


def test_resnet_conditional_inputs():
    g = ResNetGenerator(8, (3, 32, 32), base_channels=8, num_classes=10)
    d = ResNetDiscriminator((3, 32, 32), base_channels=8, num_classes=10)
    y = torch.tensor([0, 9])
    assert d(g(torch.randn(2, 8), y), y).shape == (2,)
    with pytest.raises(ConfigError, match="needs labels"):
        g(torch.randn(2, 8))


def test_resnet_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="pooling must be one of"):
        ResNetDiscriminator((3, 32, 32), pooling="max")
    with pytest.raises(ConfigError, match="power of two"):
        ResNetGenerator(8, (3, 48, 48))
    with pytest.raises(ConfigError, match="use model=mlp"):
        ResNetDiscriminator((2,))
