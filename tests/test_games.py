"""The games on the adversarial base: PacGAN packing, InfoGAN's mutual-information term, the VAE's ELBO,
the base's update helper and deferred finite check. Known answers where the math has them."""

import math
from functools import partial

import pytest
import torch

from gan_zoo.augment import random_affine
from gan_zoo.errors import ConfigError, DivergenceError
from gan_zoo.losses import d_bce, g_nonsaturating
from gan_zoo.losses.info import categorical_mi_lower_bound, iic_mutual_information, info_nll
from gan_zoo.losses.vae import bernoulli_nll, gaussian_kl, negative_elbo
from gan_zoo.metrics.scores import code_accuracy
from gan_zoo.models import VAE, InfoGAN, NoiseGAN, pack_samples
from gan_zoo.models.base import Schedule
from gan_zoo.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_zoo.networks.keras import KerasDiscriminator, KerasGenerator
from gan_zoo.networks.mlp import MLPDiscriminator, MLPGenerator
from gan_zoo.networks.vae import ConvEncoder


class NoTrainer:
    """Run a module's steps outside a Trainer: plain optimizers, backward and toggling."""

    def optimizers(self, use_pl_optimizer=True):
        return self._opts

    def manual_backward(self, loss, *a, **k):
        loss.backward()

    def toggle_optimizer(self, opt):
        mine = {id(q) for group in opt.param_groups for q in group["params"]}
        self._frozen = [p for p in self.parameters() if p.requires_grad and id(p) not in mine]
        for p in self._frozen:
            p.requires_grad_(False)

    def untoggle_optimizer(self, opt):
        for p in self._frozen:
            p.requires_grad_(True)


def outside(cls, *args, **kwargs):
    module = type(f"Test{cls.__name__}", (NoTrainer, cls), {})(*args, **kwargs)
    module._opts = module.configure_optimizers()
    return module


def snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def changed(before, module):
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


# ------------------------------------------------------------------------------------------------ PacGAN
def test_pack_samples_groups_consecutive_samples_along_channels():
    x = torch.arange(8 * 2, dtype=torch.float32).view(8, 2)  # 8 points
    packed = pack_samples(x, 4)
    assert packed.shape == (2, 8) and packed[0].tolist() == x[:4].flatten().tolist()
    img = torch.randn(6, 1, 4, 4)
    p = pack_samples(img, 3)
    assert p.shape == (2, 3, 4, 4) and torch.equal(p[1, 2], img[5, 0])
    assert pack_samples(img, 1) is img
    with pytest.raises(ConfigError, match="divisible by 4"):
        pack_samples(torch.randn(6, 2), 4)


def test_packed_critic_reads_m_samples_per_output_and_penalty_runs_on_packs():
    from gan_zoo.losses import gradient_penalty

    g = MLPGenerator(4, (2,), hidden=[16], output="linear")
    d = MLPDiscriminator((8,), hidden=[16], dropout=0.0)  # 4 packed 2D points
    gan = outside(
        NoiseGAN,
        g,
        d,
        d_bce,
        g_nonsaturating,
        partial(torch.optim.SGD, lr=0.1),
        partial(torch.optim.SGD, lr=0.1),
        latent_dim=4,
        pack=4,
        regularizer=gradient_penalty,
        reg_weight=1.0,
    )
    assert gan.critic(torch.randn(12, 2), None).shape == (3,)
    logs = gan.critic_step((torch.randn(12, 2), None))
    assert "train/reg" in logs and torch.isfinite(logs["train/reg"])
    with pytest.raises(ConfigError, match="unconditional"):
        NoiseGAN(
            MLPGenerator(4, (2,), hidden=[8], num_classes=3),
            MLPDiscriminator((8,), hidden=[8], num_classes=3),
            d_bce,
            g_nonsaturating,
            partial(torch.optim.SGD),
            partial(torch.optim.SGD),
            latent_dim=4,
            num_classes=3,
            pack=4,
        )


# ------------------------------------------------------------------------------------------------ InfoGAN
def test_info_nll_known_values():
    codes = torch.tensor([0, 3, 7])
    uniform = torch.zeros(3, 10)
    assert info_nll(uniform, codes, None, None) == pytest.approx(math.log(10), rel=1e-6)
    assert categorical_mi_lower_bound(uniform, codes) == pytest.approx(0.0, abs=1e-6)
    certain = torch.full((3, 10), -1e4)
    certain[torch.arange(3), codes] = 1e4
    assert info_nll(certain, codes, None, None) == pytest.approx(0.0, abs=1e-5)
    assert categorical_mi_lower_bound(certain, codes) == pytest.approx(math.log(10), rel=1e-5)
    # continuous: 1/2 ||c - mu||^2 averaged over the batch, times lambda_cont
    mean, c = torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.tensor([[1.0, 0.0], [1.0, -1.0]])
    expect = 0.1 * 0.5 * ((1.0 + 0.0) + (0.0 + 4.0)) / 2
    assert info_nll(certain[:2], codes[:2], mean, c, lambda_cont=0.1) == pytest.approx(expect, abs=1e-5)


def test_iic_mutual_information_known_values():
    k = 10
    confident = torch.eye(k).repeat(3, 1)  # balanced, certain, agreeing: log K
    assert iic_mutual_information(confident, confident).item() == pytest.approx(math.log(k), rel=1e-5)
    uniform = torch.full((30, k), 1 / k)
    assert iic_mutual_information(uniform, uniform).item() == pytest.approx(0.0, abs=1e-6)
    one = torch.zeros(30, k)
    one[:, 0] = 1  # one cluster for everything: no information
    assert iic_mutual_information(one, one).item() == pytest.approx(0.0, abs=1e-4)
    # two balanced clusters, the augmented copy always in the other: still log 2 (IIC is symmetric in labels)
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).repeat(4, 1)
    assert iic_mutual_information(a, a.flip(1)).item() == pytest.approx(math.log(2), rel=1e-4)


def make_infogan(**kwargs):
    torch.manual_seed(0)
    g = DCGANGenerator(8 + 10 + 2, (1, 16, 16), base_channels=4)
    d = DCGANDiscriminator((1, 16, 16), base_channels=4, dropout=0.0)
    return outside(
        InfoGAN,
        g,
        d,
        latent_dim=8,
        d_loss=d_bce,
        g_loss=g_nonsaturating,
        g_optimizer=partial(torch.optim.Adam, lr=1e-3),
        d_optimizer=partial(torch.optim.Adam, lr=1e-3),
        schedule=Schedule(num_grid=20),
        q_hidden=8,
        **kwargs,
    )


def test_random_affine_is_the_identity_at_zero_and_a_bounded_warp_otherwise():
    x = torch.full((4, 1, 16, 16), -1.0)
    x[:, :, 4:12, 7:9] = 1.0  # a vertical bar
    assert torch.allclose(random_affine(x, 0.0), x, atol=1e-6)
    torch.manual_seed(0)
    y = random_affine(x.requires_grad_(), 1.0)
    assert y.shape == x.shape and y.min() >= -1 - 1e-6 and y.max() <= 1 + 1e-6
    assert (y[:, :, 0, :] == -1).all()  # the bar stays inside: the border is background after the warp
    assert not torch.allclose(y[0], y[1])  # one draw per sample
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # differentiable: G learns through the warp


def test_q_augment_feeds_q_warped_fakes_in_both_phases():
    gan = make_infogan(q_augment=1.0)
    fake = gan.generator(torch.randn(6, 20), None)
    feats = gan.discriminator.features(fake, None)
    assert not torch.allclose(gan.q_features(fake, feats), feats)
    assert gan.q_features(fake, feats).shape == feats.shape
    assert make_infogan().q_features(fake, feats) is feats  # off by default: the paper's Q
    batch = (torch.rand(8, 1, 16, 16) * 2 - 1, None)
    g0 = snapshot(gan.generator)
    assert gan.critic_step(batch)["train/q_loss_d"] > 0
    gan.g_loss = lambda out: out.sum() * 0.0  # only the MI term through the warp moves G
    gan.generator_step(batch)
    assert changed(g0, gan.generator)


def test_infogan_mi_term_reaches_q_in_the_d_step_and_g_in_the_g_step():
    gan = make_infogan()
    batch = (torch.rand(8, 1, 16, 16) * 2 - 1, torch.zeros(8, dtype=torch.long))
    g0, d0, q0 = snapshot(gan.generator), snapshot(gan.discriminator), snapshot(gan.q_head)
    logs = gan.critic_step(batch)
    assert not changed(g0, gan.generator) and changed(d0, gan.discriminator) and changed(q0, gan.q_head)
    assert "train/q_loss_d" in logs
    d1, q1 = snapshot(gan.discriminator), snapshot(gan.q_head)
    logs = gan.generator_step(batch)
    assert changed(g0, gan.generator) and not changed(d1, gan.discriminator) and not changed(q1, gan.q_head)
    assert logs["train/q_loss_g"] > 0


def test_infogan_g_gets_gradient_from_the_mi_term_alone():
    gan = make_infogan()
    gan.g_loss = lambda out: out.sum() * 0.0  # no adversarial signal: only Greg (the MI term) moves G
    g0 = snapshot(gan.generator)
    gan.generator_step((torch.zeros(8, 1, 16, 16), None))
    assert changed(g0, gan.generator)


def test_infogan_samples_balanced_codes_or_one_code():
    gan = make_infogan()
    x, conds = gan.generate(25, seed=1)
    assert x.shape == (25, 1, 16, 16) and conds["codes"].tolist() == [i % 10 for i in range(25)]
    assert conds["continuous_codes"].shape == (25, 2) and conds["continuous_codes"].abs().max() <= 1
    _, conds = gan.generate(5, seed=1, code=7)
    assert (conds["codes"] == 7).all()
    with pytest.raises(ConfigError, match="code must be in"):
        gan.generate(5, code=10)
    x2, _ = gan.sample(25, seed=1)
    assert torch.equal(x, x2)
    assert gan.sample_fixed().shape == (20, 1, 16, 16) and gan.grid_columns == 10


def test_code_accuracy_is_permutation_invariant():
    preds = torch.tensor([0, 1, 2, 0, 1, 2])
    assert code_accuracy(torch.tensor([5, 3, 1, 5, 3, 1]), preds, 10) == 1.0
    assert code_accuracy(torch.tensor([0, 0, 0, 0, 0, 0]), preds, 10) == pytest.approx(2 / 6)
    # confusion (code -> pred): 1 -> {0, 1}, 2 -> {2, 0}, 0 -> {1, 2}; best one-to-one map 1->0, 2->2, 0->1: 3 of 6
    assert code_accuracy(torch.tensor([1, 1, 2, 2, 0, 0]), preds, 3) == pytest.approx(3 / 6)


# ------------------------------------------------------------------------------------------------ VAE
def test_gaussian_kl_and_bernoulli_nll_by_hand():
    assert gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).tolist() == [0.0, 0.0]
    # 1-D: KL(N(1, 1) || N(0, 1)) = 1/2; KL(N(0, e) || N(0, 1)) = 1/2 (e - 1 - 1)
    assert gaussian_kl(torch.tensor([[1.0]]), torch.tensor([[0.0]])).item() == pytest.approx(0.5)
    assert gaussian_kl(torch.tensor([[0.0]]), torch.tensor([[1.0]])).item() == pytest.approx(0.5 * (math.e - 2))
    # pixels in [-1, 1] -> Bernoulli means; recon 0 is p = 1/2: -log(1/2) per pixel whatever the target
    assert bernoulli_nll(torch.zeros(1, 1, 2, 2), torch.rand(1, 1, 2, 2) * 2 - 1).item() == pytest.approx(
        4 * math.log(2)
    )
    recon, x = torch.tensor([[0.6]]), torch.tensor([[1.0]])  # p = 0.8, target 1 -> -log 0.8
    assert bernoulli_nll(recon, x).item() == pytest.approx(-math.log(0.8), rel=1e-5)
    loss, nll, kl = negative_elbo(recon, x, torch.tensor([[1.0]]), torch.tensor([[0.0]]), beta=2.0)
    assert loss.item() == pytest.approx(-math.log(0.8) + 2 * 0.5, rel=1e-5) and kl.item() == pytest.approx(0.5)


def test_vae_trains_and_samples_through_the_same_interface():
    torch.manual_seed(0)
    vae = outside(
        VAE,
        DCGANGenerator(4, (1, 16, 16), base_channels=4, negative_slope=0.0),
        ConvEncoder((1, 16, 16), 4, base_channels=4),
        partial(torch.optim.Adam, lr=1e-2),
        latent_dim=4,
    )
    x = torch.rand(16, 1, 16, 16) * 2 - 1
    first = None
    for i in range(30):
        vae.training_step((x, None), i)
        with torch.no_grad():
            mu, logvar = vae.encoder(x)
            loss = negative_elbo(vae.generator(mu, None), x, mu, logvar)[0].item()
        first = first if first is not None else loss
    assert vae.g_steps == 30 and loss < first
    samples, conds = vae.generate(6, seed=0)
    assert samples.shape == (6, 1, 16, 16) and set(conds) == {"latents"}  # the z an exported decoder reads
    assert conds["latents"].shape == (6, vae.latent_dim)
    assert vae.optimizer_steps_per_g_step == 1


# ------------------------------------------------------------------------------------------------ networks
@pytest.mark.parametrize("side", [28, 32])
def test_keras_lecture_networks_shapes(side):
    g, d = KerasGenerator(64, (1, side, side)), KerasDiscriminator((1, side, side))
    x = g(torch.randn(3, 64))
    assert x.shape == (3, 1, side, side) and d(x).shape == (3,)
    assert d.features(x).shape == (3, 64 * (side // 4) ** 2)
    with pytest.raises(ConfigError, match="divisible by 4"):
        KerasGenerator(64, (1, 30, 30))


def test_dcgan_on_points_names_the_model_to_use():
    with pytest.raises(ConfigError, match="model=mlp"):
        DCGANGenerator(8, (2,))
    with pytest.raises(ConfigError, match="model=mlp"):
        DCGANDiscriminator((2,))


# ------------------------------------------------------------------------------------------------ the base
def test_deferred_finite_check_names_the_first_bad_step_and_blocks_checkpoints():
    gan = outside(
        NoiseGAN,
        MLPGenerator(4, (2,), hidden=[8], output="linear"),
        MLPDiscriminator((2,), hidden=[8]),
        d_bce,
        g_nonsaturating,
        partial(torch.optim.SGD, lr=0.1),
        partial(torch.optim.SGD, lr=0.1),
        latent_dim=4,
        schedule=Schedule(finite_check_every=10),
    )
    gan.g_steps, gan.d_steps = 3, 7
    gan.watch("the critic loss", torch.tensor(1.0))
    gan.watch("the critic loss", torch.tensor(float("inf")))  # first bad value: recorded on the device
    gan.g_steps, gan.d_steps = 5, 11
    gan.watch("the critic loss", torch.tensor(float("nan")))  # later ones do not overwrite it
    with pytest.raises(
        DivergenceError,
        match=r"critic loss became inf at generator step 3 \(critic step 7\) "
        r"\(found at generator step 5",
    ):
        gan.on_save_checkpoint({})  # a checkpoint is never written from non-finite weights


def test_lazy_regulariser_runs_every_k_critic_steps_scaled_by_k():
    calls = []

    def reg(critic, real, fake, y=None, grad_scale=1.0):
        calls.append(1)
        return critic(real, y).mean() * 0 + 1.0

    gan = outside(
        NoiseGAN,
        MLPGenerator(4, (2,), hidden=[8], output="linear"),
        MLPDiscriminator((2,), hidden=[8]),
        d_bce,
        g_nonsaturating,
        partial(torch.optim.SGD, lr=0.1),
        partial(torch.optim.SGD, lr=0.1),
        latent_dim=4,
        regularizer=reg,
        reg_weight=0.5,
        schedule=Schedule(reg_every=4, n_critic=100),
    )
    for i in range(8):
        logs = gan.critic_step((torch.randn(4, 2), None))
        assert ("train/reg" in logs) == (i % 4 == 0)
    assert len(calls) == 2


def test_fourier_features_treat_every_packed_sample_alike():
    from gan_zoo.networks.mlp import FourierFeatures

    ff = FourierFeatures(8, group=2, features=3, scale=2.0)
    x = torch.randn(5, 8)  # 4 packed 2D points per row
    out = ff(x).view(5, 4, 2 + 6)
    single = FourierFeatures(2, group=2, features=3, scale=2.0)  # same seed, same B
    for k in range(4):
        assert torch.allclose(out[:, k], single(x[:, 2 * k : 2 * k + 2]), atol=1e-6)
    p = x[:, :2] @ ff.B
    assert torch.allclose(out[:, 0, 2:5], torch.sin(p), atol=1e-6) and torch.equal(out[:, 0, :2], x[:, :2])
    with pytest.raises(ConfigError, match="must divide"):
        FourierFeatures(8, group=3, features=2, scale=1.0)


def test_on_an_accelerator_the_flag_is_read_every_k_steps_not_every_step():
    gan = outside(
        NoiseGAN,
        MLPGenerator(4, (2,), hidden=[8], output="linear"),
        MLPDiscriminator((2,), hidden=[8]),
        lambda r, f: (r.mean() - f.mean()) * float("nan"),
        g_nonsaturating,
        partial(torch.optim.SGD, lr=0.1),
        partial(torch.optim.SGD, lr=0.1),
        latent_dim=4,
        schedule=Schedule(n_critic=100, finite_check_every=5),
    )
    gan._reading_is_free = lambda: False  # as on a GPU: reading the flag would be a host sync
    gan.d_steps = 1
    for _ in range(4):  # critic steps 1..4: the NaN is recorded on the device, nothing is read
        gan.critic_step((torch.randn(4, 2), None))
    assert gan.d_steps == 5
    with pytest.raises(DivergenceError, match=r"at generator step 0 \(critic step 1\) \(found at generator step 0"):
        gan.critic_step((torch.randn(4, 2), None))  # critic step 5: due, read before its optimizer step


def test_uniform_prior_draws_inside_the_cube_for_training_evaluation_and_the_grid():
    make = lambda prior: outside(  # noqa: E731
        NoiseGAN,
        MLPGenerator(2, (2,), hidden=[8], output="linear"),
        MLPDiscriminator((2,), hidden=[8]),
        d_bce,
        g_nonsaturating,
        partial(torch.optim.SGD, lr=0.1),
        partial(torch.optim.SGD, lr=0.1),
        latent_dim=2,
        prior=prior,
        schedule=Schedule(num_grid=400),
    )
    gan = make("uniform")
    z = gan.noise(20000)
    assert z.min() >= -1 and z.max() <= 1 and abs(float(z.mean())) < 0.02
    assert float(z.var()) == pytest.approx(1 / 3, abs=0.01)  # U(-1, 1)
    assert gan.fixed_z.abs().max() <= 1 and gan.eval_noise(100, torch.Generator().manual_seed(0)).abs().max() <= 1
    assert make("normal").fixed_z.abs().max() > 1  # 400 Gaussian draws leave the cube
    with pytest.raises(ConfigError, match="model.prior must be one of"):
        make("laplace")


def test_compile_is_refused_under_a_gradient_penalty():
    from gan_zoo.losses import gradient_penalty

    torch.manual_seed(0)
    gan = outside(
        NoiseGAN,
        MLPGenerator(2, (2,), hidden=[8]),
        MLPDiscriminator((2,), hidden=[8]),
        latent_dim=2,
        d_loss=d_bce,
        g_loss=g_nonsaturating,
        regularizer=gradient_penalty,
        reg_weight=10.0,
        g_optimizer=partial(torch.optim.Adam, lr=1e-3),
        d_optimizer=partial(torch.optim.Adam, lr=1e-3),
    )
    with pytest.raises(ConfigError, match="no double backward"):
        gan.compile_networks()


def test_lambda_iic_trains_q_on_real_digits_and_needs_the_augmentation():
    with pytest.raises(ConfigError, match="needs model.q_augment"):
        make_infogan(lambda_iic=1.0)
    gan = make_infogan(q_augment=1.0, lambda_iic=1.0)
    q0 = snapshot(gan.q_head)
    logs = gan.critic_step((torch.rand(8, 1, 16, 16) * 2 - 1, None))
    assert 0 <= logs["train/iic_nats"] <= math.log(10) + 1e-5 and changed(q0, gan.q_head)
