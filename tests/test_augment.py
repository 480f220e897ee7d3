"""DiffAugment of the critic's inputs (gan_zoo/augment.py): known answers for each op, the policy checks, where
the game applies it (training only, both phases, inside the regulariser), and a run with it resumes exactly."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_same_weights, split_run, tiny_overrides

from gan_zoo.augment import check_policy, color, cutout, diff_augment, translation
from gan_zoo.errors import ConfigError


def test_translation_is_an_integer_shift_within_an_eighth_with_background_fill():
    torch.manual_seed(0)
    x = torch.rand(200, 2, 16, 16)
    y = translation(x)
    seen = set()
    for a, b in zip(x, y):
        match = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                ref = torch.full_like(a, -1.0)
                ref[:, max(dy, 0) : 16 + min(dy, 0), max(dx, 0) : 16 + min(dx, 0)] = a[
                    :, max(-dy, 0) : 16 + min(-dy, 0), max(-dx, 0) : 16 + min(-dx, 0)
                ]
                if torch.equal(ref, b):
                    match.append((dy, dx))
        assert len(match) == 1  # every output is exactly one shift of its own input, both channels alike
        seen.add(match[0])
    assert len(seen) == 25  # all shifts in [-2, 2]^2 (2 = 16 / 8) occur over 200 draws


def test_translation_of_tiny_images_is_the_identity_and_gradients_follow_the_kept_pixels():
    x = torch.rand(5, 1, 2, 2)
    assert torch.equal(
        translation(x), x
    )  # round(2 / 8) = 0 px: nothing to shift (4 px images shift by 1, the paper's rounding)
    torch.manual_seed(1)
    z = torch.rand(8, 1, 16, 16, requires_grad=True)
    y = translation(z)
    y.sum().backward()
    kept = (y.detach() != -1).sum()  # inputs are in (0, 1): -1 only where the border was shifted in
    assert z.grad.sum() == kept and set(z.grad.unique().tolist()) <= {0.0, 1.0}


def test_cutout_zeroes_one_clipped_half_size_square_and_keeps_the_rest():
    torch.manual_seed(0)
    x = torch.rand(300, 1, 8, 8) + 1  # no zeros of its own
    y = cutout(x)
    areas = []
    for a, b in zip(x, y):
        hole = b[0] == 0
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        assert 1 <= len(rows) <= 4 and 1 <= len(cols) <= 4
        box = torch.zeros_like(hole)
        box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
        assert torch.equal(hole, box)  # one axis-aligned rectangle...
        assert torch.equal(b[0][~hole], a[0][~hole])  # ...and nothing else touched
        areas.append(int(hole.sum()))
    assert max(areas) == 16 and min(areas) >= 4  # a full 4 x 4 square inside, clipped to >= 2 x 2 at a corner


def test_color_is_one_affine_map_of_the_pixel_values_per_grey_image():
    torch.manual_seed(0)
    x = torch.rand(50, 1, 8, 8) * 2 - 1
    y = color(x)
    for a, b in zip(x.flatten(1), y.flatten(1)):
        slope = ((a - a.mean()) * (b - b.mean())).sum() / (a - a.mean()).pow(2).sum()
        assert torch.allclose(b, slope * (a - a.mean()) + b.mean(), atol=1e-5)
        assert 0.5 - 1e-5 <= slope <= 1.5 + 1e-5  # contrast factor in [0.5, 1.5]
        assert abs(b.mean() - a.mean()) <= 0.5 + 1e-5  # brightness shift in [-0.5, 0.5]; contrast keeps the mean


def test_probability_applies_each_op_to_about_a_p_share_and_policy_errors_name_the_problem():
    torch.manual_seed(0)
    x = torch.rand(2000, 1, 8, 8) + 1
    changed = (diff_augment(x, ["cutout"], p=0.3) != x).flatten(1).any(1).float().mean()
    assert abs(float(changed) - 0.3) < 0.04
    assert (diff_augment(x, ["cutout"]) != x).flatten(1).any(1).all()  # p = 1: every sample
    assert torch.equal(diff_augment(x, ()), x)
    assert check_policy(None, 1.0) == () and check_policy(["translation", "cutout"], 1.0) == ("translation", "cutout")
    with pytest.raises(ConfigError, match="unknown op 'flip'"):
        check_policy(["translation", "flip"], 1.0)
    with pytest.raises(ConfigError, match="a list of ops"):
        check_policy("translation", 1.0)
    with pytest.raises(ConfigError, match=r"augment_p must be in \(0, 1\]"):
        check_policy(["cutout"], 0.0)
    with pytest.raises(ConfigError, match="set model.augment=null for vector data"):
        diff_augment(torch.rand(4, 2), ["cutout"])


def _tiny_noise_gan(**kw):
    from gan_zoo.losses import d_wasserstein, g_wasserstein, gradient_penalty
    from gan_zoo.models import NoiseGAN

    class Probe(torch.nn.Module):  # records what the critic was shown
        def __init__(self) -> None:
            super().__init__()
            self.lin, self.seen = torch.nn.Linear(64, 1), []

        def forward(self, x, y=None):
            self.seen.append(x.detach().clone())
            return self.lin(x.flatten(1)).squeeze(1)

    g = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.Unflatten(1, (1, 8, 8)))
    opt = lambda params: torch.optim.Adam(params, 1e-3)  # noqa: E731
    return NoiseGAN(
        g,
        Probe(),
        d_loss=d_wasserstein,
        g_loss=g_wasserstein,
        g_optimizer=opt,
        d_optimizer=opt,
        latent_dim=4,
        regularizer=gradient_penalty,
        reg_weight=10.0,
        **kw,
    )


def test_the_game_augments_critic_inputs_in_training_and_inside_the_penalty_only():
    torch.manual_seed(0)
    game = _tiny_noise_gan(augment=["cutout"])
    x = torch.rand(6, 1, 8, 8) + 1
    game.train()
    game.critic(x, None)
    assert (game.discriminator.seen[-1] == 0).any() and not (x == 0).any()  # cut out before D saw it
    state = {"real": x, "fake": x + 1, "y": None}
    game.d_reg((x, None), state)
    assert (game.discriminator.seen[-1] == 0).any()  # the penalty's x_hat went through the same transform
    game.eval()
    game.critic(x, None)
    assert torch.equal(game.discriminator.seen[-1], x)  # never outside training
    plain = _tiny_noise_gan()
    plain.train()
    plain.critic(x, None)
    assert torch.equal(plain.discriminator.seen[-1], x)


def test_augment_and_q_augment_are_refused_where_they_would_do_nothing(make_cfg):
    from gan_zoo.train import run

    with pytest.raises(ConfigError, match=r"model.augment=\['cutout'\] transforms images"):
        run(make_cfg(tiny_overrides("wgan_gp_ring8") + ["model.augment=[cutout]"]))
    with pytest.raises(ConfigError, match="InfoGAN's critic shares its body with Q"):
        run(make_cfg(tiny_overrides("infogan_mnist") + ["+model.augment=[cutout]"]))
    with pytest.raises(ConfigError, match=r"model.q_augment=1.0 warps images, but the data's samples have shape \[2\]"):
        run(make_cfg(tiny_overrides("infogan_mnist") + ["data=ring8", "model.q_augment=1.0", "model.lambda_iic=0"]))


@pytest.mark.slow
def test_an_augmented_run_resumes_exactly(make_cfg, tmp_path):
    """DiffAugment draws from the global RNG, which the checkpoint carries: 1 + 1 epochs end where 2 epochs do."""
    base = [o for o in tiny_overrides("dcgan_mnist") if not o.startswith("metrics.")] + [
        "resume=null",
        "metrics=none",
        "trainer.limit_train_batches=2",
        "model.augment=[color,translation,cutout]",
        "model.augment_p=0.5",
        "loss=wgan_gp",
    ]
    full, resumed = split_run(make_cfg, tmp_path, base, total=2, first=1)
    assert_same_weights(full["last_checkpoint"], resumed["last_checkpoint"])
