"""The style-based game: known answers for AdaIN, the fade-in schedule, minibatch stddev, truncation and style
mixing; a mid-fade checkpoint resumes exactly; `analyse mixing` / w interpolation / truncation in w on a tiny run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cheap_runs import QUICK_CLASSIFIER
from conftest import assert_same_weights, tiny_overrides

from gan_zoo.errors import ConfigError
from gan_zoo.models.base import Schedule
from gan_zoo.models.style import GrowthSchedule, StyleGAN
from gan_zoo.networks.style import AdaIN, StyleDiscriminator, StyleGenerator, minibatch_stddev


def _tiny_game(**kw) -> StyleGAN:
    from gan_zoo.losses import d_bce, g_nonsaturating

    g = StyleGenerator(16, (1, 32, 32), w_dim=16, channels=[8, 8, 8, 8])
    d = StyleDiscriminator((1, 32, 32), channels=[8, 8, 8, 8])
    opt = lambda params: torch.optim.Adam(params, 1e-3)  # noqa: E731
    return StyleGAN(g, d, latent_dim=16, d_loss=d_bce, g_loss=g_nonsaturating, g_optimizer=opt, d_optimizer=opt, **kw)


def test_adain_gives_each_channel_the_style_mean_and_std():
    torch.manual_seed(0)
    layer = AdaIN(6, w_dim=5)
    with torch.no_grad():
        layer.style.weight.normal_()
    x, w = torch.randn(3, 6, 7, 7) * 4 + 2, torch.randn(3, 5)
    s, b = layer.style(w).chunk(2, dim=1)
    y = layer(x, w)
    assert torch.allclose(y.mean(dim=(2, 3)), b, atol=1e-5)
    assert torch.allclose(y.std(dim=(2, 3), unbiased=False), s.abs(), atol=1e-4)
    fresh = AdaIN(6, w_dim=5)  # at initialisation the scale is 1 and the bias 0 for every w... up to the random weight
    with torch.no_grad():
        fresh.style.weight.zero_()
    z = fresh(x, w)
    assert torch.allclose(z.mean(dim=(2, 3)), torch.zeros(3, 6), atol=1e-5)
    assert torch.allclose(z.std(dim=(2, 3), unbiased=False), torch.ones(3, 6), atol=1e-4)


def test_growth_schedule_levels_and_alpha():
    s = GrowthSchedule(4, stable_steps=[10, 20, 30], fade_steps=[4, 8, 16], batch_sizes=[64, 64, 32, 16])
    assert s.at(0) == (0, 1.0) and s.at(9) == (0, 1.0)
    assert s.at(10) == (1, 0.0) and s.at(12) == (1, 0.5) and s.at(14) == (1, 1.0)
    assert s.at(33) == (1, 1.0) and s.at(34) == (2, 0.0) and s.at(40) == (2, 0.75)
    assert (
        s.at(42 + 30) == (3, 0.0)
        and s.at(42 + 30 + 4) == (3, 0.25)
        and s.at(88) == (3, 1.0)
        and s.at(10**6) == (3, 1.0)
    )
    assert s.last_growth_step() == 88 and s.batch_size(3) == 16
    assert GrowthSchedule(4).at(0) == (3, 1.0)  # growth: null trains at the data's size
    with pytest.raises(ConfigError, match="needs 3 stable_steps"):
        GrowthSchedule(4, stable_steps=[10], fade_steps=[10])
    with pytest.raises(ConfigError, match="one batch size per level"):
        GrowthSchedule(4, [1, 1, 1], [1, 1, 1], batch_sizes=[8, 8])


def test_fade_in_starts_at_the_upsampled_previous_level_and_ends_at_the_new_block():
    torch.manual_seed(0)
    g = StyleGenerator(16, (1, 32, 32), w_dim=16, channels=[8, 8, 8, 8]).eval()
    with torch.no_grad():
        for p in g.parameters():
            p.add_(torch.randn_like(p) * 0.3)  # the noise scales start at 0: make every path count
        z = torch.randn(4, 16)
        low = g(z, None, level=1)
        start, end, half = (
            g(z, None, level=2, alpha=0.0),
            g(z, None, level=2, alpha=1.0),
            g(z, None, level=2, alpha=0.5),
        )
    assert start.shape == (4, 1, 16, 16)
    assert torch.allclose(start, F.interpolate(low, scale_factor=2, mode="nearest"), atol=1e-5)
    assert torch.allclose(half, (start + end) / 2, atol=1e-5) and not torch.allclose(start, end)
    x = torch.randn(4, 1, 16, 16)
    for downsample in ("avgpool", "strided"):
        d = StyleDiscriminator((1, 32, 32), channels=[8, 8, 8, 8], downsample=downsample)
        with torch.no_grad():  # the critic's fade starts at fromRGB of the half-size input, i.e. the level-1 critic
            assert torch.allclose(d(x, None, level=2, alpha=0.0), d(F.avg_pool2d(x, 2), None, level=1), atol=1e-5)
            assert not torch.allclose(d(x, None, level=2, alpha=1.0), d(F.avg_pool2d(x, 2), None, level=1), atol=1e-3)


def test_strided_critic_blocks_halve_the_size_with_one_equalised_4x4_conv():
    torch.manual_seed(0)
    d = StyleDiscriminator((1, 32, 32), channels=[16, 8, 4, 2], downsample="strided")
    conv = d.blocks[3][0]
    assert (
        len(d.blocks[3]) == 1 and conv.weight.shape == (4, 2, 4, 4) and conv.scale == pytest.approx(1 / (2 * 16) ** 0.5)
    )
    x = torch.randn(5, 2, 32, 32)
    ref = F.conv2d(x, conv.weight * conv.scale, conv.bias, stride=2, padding=1)
    assert ref.shape == (5, 4, 16, 16) and torch.allclose(d._block(3, x), F.leaky_relu(ref, 0.2) * 2**0.5, atol=1e-6)
    for level in range(4):
        assert d(torch.randn(3, 1, 4 * 2**level, 4 * 2**level), None, level=level).shape == (3,)
    with pytest.raises(ConfigError, match="downsample must be avgpool"):
        StyleDiscriminator((1, 32, 32), channels=[8, 8, 8, 8], downsample="maxpool")


def test_minibatch_stddev_values():
    x = torch.tensor([0.0, 2.0, 0.0, 2.0]).view(4, 1, 1, 1).expand(4, 2, 2, 2).contiguous()
    y = minibatch_stddev(x, group_size=4)
    assert y.shape == (4, 3, 2, 2) and torch.equal(y[:, :2], x)
    assert torch.allclose(y[:, 2], torch.ones(4, 2, 2))  # std of {0, 2, 0, 2} is 1 (biased), the same for every sample
    # 8 samples, groups of 4: sample i is in group i mod 2, so {0, 2, 4, 6} (all 5) and {1, 3, 5, 7} (0, 6, 0, 6)
    v = torch.tensor([5.0, 0.0, 5.0, 6.0, 5.0, 0.0, 5.0, 6.0]).view(8, 1, 1, 1)
    s = minibatch_stddev(v, group_size=4)[:, 1, 0, 0]
    assert torch.allclose(s, torch.tensor([0.0, 3.0] * 4), atol=1e-3)
    assert minibatch_stddev(torch.randn(6, 3, 4, 4), group_size=4).shape == (6, 4, 4, 4)  # group 3 divides 6


def test_truncation_at_zero_gives_the_mean_w_and_cutoff_keeps_the_fine_layers():
    torch.manual_seed(0)
    game = _tiny_game(psi=0.0)
    net = game.generator
    with torch.no_grad():
        net.train()(torch.randn(64, 16))  # training forwards move the running mean w
        assert net.mapping.w_avg.abs().sum() > 0
        avg = net.mapping.w_avg.clone()
        net.eval()(torch.randn(64, 16))
    assert torch.equal(net.mapping.w_avg, avg)  # sampling never moves it
    ws = game.sampling_styles(torch.randn(5, 16))
    assert torch.allclose(ws, avg.expand_as(ws))
    x, _ = game.generate(5, seed=1)
    assert torch.allclose(x, x[:1].expand_as(x), atol=1e-6)  # psi 0: one image, the mean w's
    game.set_psi(0.5, cutoff=2)
    z = torch.randn(3, 16)
    with torch.no_grad():
        w = net.mapping.eval()(z)
    ws = game.sampling_styles(z)
    assert torch.allclose(ws[:, :2], avg + 0.5 * (w[:, None] - avg), atol=1e-6)
    assert torch.allclose(ws[:, 2:], w[:, None].expand(-1, net.num_layers - 2, -1), atol=1e-6)
    with pytest.raises(ConfigError, match="psi_cutoff"):
        game.set_psi(0.5, cutoff=99)


def _noisy(game: StyleGAN) -> StyleGAN:
    """Give every noise scale (0 at initialisation) a size, so the noise maps show in the images."""
    with torch.no_grad():
        for layer in game.sampling_generator.layers:
            layer.noise.weight.fill_(0.5)
    return game


def test_noise_maps_are_standard_normal_per_sample_and_a_function_of_the_seed():
    g = StyleGenerator(16, (1, 32, 32), w_dim=16, channels=[8, 8, 8, 8])
    maps = g.noise_maps(torch.tensor([3, 4, 3]))
    assert [tuple(m.shape) for m in maps] == [(3, 1, r, r) for r in (4, 4, 8, 8, 16, 16, 32, 32)]
    flat = torch.cat([m.flatten(1) for m in maps], dim=1)  # [3, 2720]
    assert torch.equal(flat[0], flat[2]) and not torch.allclose(flat[0], flat[1])  # same seed, same maps
    many = torch.cat([m.flatten(1) for m in g.noise_maps(torch.arange(200))], dim=1)
    assert abs(float(many.mean())) < 0.01 and abs(float(many.std()) - 1.0) < 0.01
    corr = torch.corrcoef(many[:20])  # maps of different samples are independent
    assert (corr - torch.eye(20)).abs().max() < 0.1


def test_sampling_gives_each_sample_its_own_noise_and_const_mode_shares_one_map():
    torch.manual_seed(0)
    game = _noisy(_tiny_game(schedule=Schedule(ema_decay=0.9)))
    z = torch.randn(1, 16).expand(64, -1)
    seeds = {"noise_seeds": torch.arange(64)}
    random = game.synthesize_in_chunks(z, seeds, 64)
    const = game.synthesize_in_chunks(z, {}, 64)
    assert float(const.std(0).max()) < 1e-6  # one z, one shared map: 64 copies of one image
    # one z with per-sample maps varies as much as one z does in training (fresh noise at every forward)
    net = game.sampling_generator
    with torch.no_grad():
        trained = game.finish(net.train().synthesis(net.broadcast(net.mapping.eval()(z))))
    net.eval()
    spread, spread_train = float(random.std(0).mean()), float(trained.std(0).mean())
    assert spread > 0.05 and abs(spread - spread_train) < 0.2 * spread_train
    # generate: seeds drawn after z from the sampling seed; chunks are slices; the same seed gives the same samples
    x, conds = game.generate(12, seed=5, batch_size=5)
    assert conds["noise_seeds"].shape == (12,) and len(conds["noise_seeds"].unique()) == 12
    part, _ = game.generate(12, seed=5, batch_size=3, start=4, stop=9)
    # to float rounding: CPU convolution kernels differ with the batch size (up to 2e-5 here), a new noise map by ~0.1
    assert torch.allclose(part, x[4:9], atol=1e-4) and torch.allclose(game.generate(12, seed=5)[0], x, atol=1e-4)
    game.set_noise_mode("const")
    y, conds = game.generate(12, seed=5)
    assert "noise_seeds" not in conds and not torch.allclose(x, y)
    with pytest.raises(ConfigError, match="noise_mode must be one of"):
        game.set_noise_mode("fresh")


def test_style_mixing_takes_the_second_styles_from_a_crossover_layer():
    torch.manual_seed(0)
    game = _tiny_game(style_mixing_prob=1.0)
    net = game.generator.eval()
    ws = game.mixed_styles(net, torch.randn(200, 16), level=3)
    same_as_layer0 = (ws - ws[:, :1]).abs().sum(-1) < 1e-6  # [N, layers]: layer l still carries w1
    cut = same_as_layer0.sum(1)  # layers 0..cut-1 are w1, the rest w2 (a contiguous prefix)
    assert torch.equal(same_as_layer0, torch.arange(net.num_layers)[None] < cut[:, None])
    assert cut.min() >= 1 and cut.max() <= net.num_layers - 1 and len(cut.unique()) == net.num_layers - 1
    low = game.mixed_styles(net, torch.randn(100, 16), level=1)  # crossovers stay among the layers in use
    assert ((low - low[:, :1]).abs().sum(-1) < 1e-6).sum(1).max() <= net.layers_at(1) - 1
    game.style_mixing_prob = 0.0
    plain = game.mixed_styles(net, torch.randn(10, 16), level=3)
    assert torch.allclose(plain, plain[:, :1].expand_as(plain))


@pytest.mark.slow
def test_mid_fade_checkpoint_resumes_exactly(make_cfg, tmp_path):
    """Epoch 1 ends inside the 16 px fade-in (alpha 0.5); 1 + 1 epochs end where 2 epochs do (in the 32 px fade)."""
    from gan_zoo.train import run

    base = [o for o in tiny_overrides("stylegan_mnist") if not o.startswith("metrics.")] + [
        "resume=null",
        "metrics=none",
        "trainer.limit_train_batches=3",
        "model.growth.stable_steps=[1,0,0]",
        "model.growth.fade_steps=[1,2,2]",
        "model.ema_decay=0.9",
        "loss.reg_every=2",
    ]
    full = run(make_cfg(base + ["trainer.max_epochs=2"]))
    part = make_cfg(base + ["trainer.max_epochs=1"])
    part.paths.output_dir = str(tmp_path / "part")
    first = run(part)
    state = torch.load(first["last_checkpoint"], map_location="cpu", weights_only=False)
    g_step = state["gan_zoo"]["g_steps"]
    assert g_step == 3
    schedule = GrowthSchedule(4, [1, 0, 0], [1, 2, 2])
    assert schedule.at(g_step) == (2, 0.5)  # the checkpoint sits mid-fade: 16 px at alpha 0.5
    again = make_cfg(base + ["trainer.max_epochs=2", f"resume={first['last_checkpoint']}"])
    again.paths.output_dir = str(tmp_path / "part")
    assert_same_weights(full["last_checkpoint"], run(again)["last_checkpoint"])


@pytest.fixture
def style_run(tiny_run):
    """The session's tiny stylegan_mnist run (growth to 32 px inside its 4 steps, EMA on), shared with the
    per-family end-to-end check (conftest.tiny_run)."""
    return tiny_run("stylegan_mnist")


def test_sample_truncation_in_w_and_analyse_mixing_interpolate(style_run, make_cfg, tmp_path):
    from gan_zoo.analyse import analyse
    from gan_zoo.sample import sample_to_npz

    run_dir = style_run["run_dir"]
    sample_to_npz(
        make_cfg(
            [f"checkpoint={run_dir}", "num=6", f"out={tmp_path}/t0.npz", "psi=0", "noise_mode=const"],
            config_name="sample",
        )
    )
    t0 = np.load(tmp_path / "t0.npz")
    imgs = t0["images"]
    assert imgs.shape == (6, 1, 32, 32) and (imgs == imgs[:1]).all()  # PSI 0 in w, one noise map: the mean image
    assert "noise_seeds" not in t0.files
    sample_to_npz(
        make_cfg([f"checkpoint={run_dir}", "num=6", f"out={tmp_path}/r0.npz", "psi=0"], config_name="sample")
    )  # the model's noise_mode: random, its seeds written beside
    assert np.load(tmp_path / "r0.npz")["noise_seeds"].shape == (6,)
    with pytest.raises(ConfigError, match="noise_mode must be one of"):
        sample_to_npz(
            make_cfg([f"checkpoint={run_dir}", f"out={tmp_path}/x.npz", "noise_mode=fresh"], config_name="sample")
        )
    from gan_zoo.evaluate import evaluate  # the noise mode is in the report and in the default file name

    common = [
        f"checkpoint={run_dir}",
        "num_fake=100",
        "metric_names=[fid]",
        *QUICK_CLASSIFIER,
    ]
    r = evaluate(make_cfg(common, config_name="evaluate"))
    c = evaluate(make_cfg(common + ["noise_mode=const"], config_name="evaluate"))
    assert r["out"].endswith("_domain_100_fid.json") and c["out"].endswith("_domain_100_constnoise_fid.json")
    assert (r["noise_mode"], c["noise_mode"]) == ("random", "const")
    sample_to_npz(
        make_cfg(
            [f"checkpoint={run_dir}", "num=6", f"out={tmp_path}/t1.npz", "psi=0.5", "psi_cutoff=4"],
            config_name="sample",
        )
    )
    assert not (np.load(tmp_path / "t1.npz")["images"] == imgs[:1]).all()
    bad = [f"checkpoint={run_dir}", f"out={tmp_path}/x.npz"]
    with pytest.raises(ConfigError, match="needs psi=PSI"):
        sample_to_npz(make_cfg([*bad, "psi_cutoff=2"], config_name="sample"))
    with pytest.raises(ConfigError, match="truncates in w .*: use psi= instead"):  # the z threshold's key
        sample_to_npz(make_cfg([*bad, "truncation=0.5"], config_name="sample"))

    def an(mode: str, *extra: str) -> dict:
        return analyse(
            make_cfg([f"mode={mode}", f"checkpoint={run_dir}", f"out={tmp_path / mode}", *extra], config_name="analyse")
        )

    s = an("mixing", "rows=3", "cols=4")
    assert s["pictures"] == ["mixing_coarse.png", "mixing_middle.png", "mixing_fine.png"]
    assert s["groups"]["coarse"]["resolutions_px"] == [4, 8] and s["groups"]["fine"]["style_layers"] == [6, 7]
    z = np.load(tmp_path / "mixing" / "mixing_fine.npz")
    assert z["images"].shape == (12, 1, 32, 32) and z["destination"].shape == (3, 1, 32, 32)
    s = an("interpolate", "rows=2", "steps=5")
    assert "interpolate_w.png" in s["pictures"]
    w = np.load(tmp_path / "interpolate" / "interpolate_w.npz")
    zz = np.load(tmp_path / "interpolate" / "interpolate_z.npz")
    assert w["images"].shape == (10, 1, 32, 32)
    for i in (0, 4, 5, 9):  # the same endpoints as the z rows (slerp returns them up to float rounding)
        assert np.abs(w["images"][i].astype(int) - zz["images"][i].astype(int)).max() <= 1
    s = an("truncation", "psis=[0.0,1.0]", "num=50")
    assert [r["psi"] for r in s["values"]] == [0.0, 1.0] and s["truncated"].startswith("w")


def test_each_level_trains_on_its_batch_size_at_its_resolution():
    game = _tiny_game(growth={"stable_steps": [2, 2, 2], "fade_steps": [2, 2, 2], "batch_sizes": [16, 16, 8, 4]})
    x = torch.rand(16, 1, 32, 32) * 2 - 1
    seen = []
    for step in (0, 2, 4, 7, 12):  # 4 px; 8 px fading; 8 px; 16 px fading (alpha 0.5); 32 px
        game.g_steps = step
        real, _ = game.split_batch((x, torch.zeros(16)))
        seen.append((tuple(real.shape), game.growth))
    assert seen == [
        ((16, 1, 4, 4), (0, 1.0)),
        ((16, 1, 8, 8), (1, 0.0)),
        ((16, 1, 8, 8), (1, 1.0)),
        ((8, 1, 16, 16), (2, 0.5)),
        ((4, 1, 32, 32), (3, 1.0)),
    ]
    game.g_steps = 2  # alpha 0: the reals are the upsampled half-size images, as the fakes are
    real, _ = game.split_batch((x, torch.zeros(16)))
    assert torch.allclose(real, F.interpolate(F.avg_pool2d(x, 8), scale_factor=2, mode="nearest"), atol=1e-6)


def test_a_checkpoint_that_stored_psi_as_model_truncation_still_loads_and_samples_with_it(style_run, tmp_path):
    from gan_zoo.build import load_checkpoint_gan

    blob = torch.load(style_run["last_checkpoint"], map_location="cpu", weights_only=False)
    model = blob["gan_zoo"]["config"]["model"]  # the keys as the style-based game stored them before psi=
    model.pop("psi"), model.pop("psi_cutoff")
    model["truncation"], model["truncation_cutoff"] = 0.5, 4
    old = tmp_path / "old.ckpt"
    torch.save(blob, old)
    before, _ = load_checkpoint_gan(str(old))
    today, _ = load_checkpoint_gan(style_run["last_checkpoint"])
    today.set_psi(0.5, 4)
    assert torch.equal(before.generate(6, seed=3)[0], today.generate(6, seed=3)[0])
