"""Every experiment config composes and trains for a few steps; outputs land where promised."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import EXPERIMENTS, I2I_EXPERIMENTS, compose_cfg, tiny_overrides
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from gan_zoo.build import load_checkpoint_gan
from gan_zoo.train import run

REQUIRED = {
    "dcgan_mnist",
    "gan_mlp_mnist",
    "wgan_gp_mnist",
    "cgan_mnist",
    "wgan_gp_ring8",
    "wgan_gp_grid25",
    "wgan_clip_mnist",
    "sngan_mnist",
    "lsgan_mnist",
    "hinge_mnist",
    "cwgan_gp_mnist",
    "infogan_mnist",
    "pacgan_ring8",
    "pacgan_grid25",
    "vae_mnist",
    "keras_gan_mnist",
    "lego_dcgan",
    "pix2pix_edges_mnist",
    "pix2pix_photos",
    "cyclegan_digits_mnist",
}


def test_required_experiments_exist():
    assert REQUIRED <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_with_its_seed_settings(experiment, make_cfg):
    cfg = make_cfg([f"experiment={experiment}"])
    assert cfg.name == experiment
    if experiment.startswith("wgan_gp"):
        # lambda 10 on images (docs/references.md §4); 0.1 on the 2D mixtures, as in the authors' toy script
        assert cfg.model.n_critic == 5 and cfg.loss.reg_weight == (
            10.0 if experiment.endswith(("mnist", "cifar10")) else 0.1
        )
        assert cfg.loss.regularizer._target_.endswith("gradient_penalty")
        assert cfg.model.discriminator.get("norm", "none") != "batch" or cfg.loss.critic_norm in ("layer", "instance")
    if experiment == "cgan_mnist":
        assert cfg.model.conditional
    if experiment == "dcgan_mnist":
        assert 0 < cfg.loss.d_loss.label_noise < 0.5


# One end-to-end run per game family in the default suite (NoiseGAN on images and on 2D points, InfoGAN, the VAE,
# StyleGAN, Pix2Pix, CycleGAN); every other experiment's run is in the slow suite.
FAMILY_RUNS = {"dcgan_mnist", "wgan_gp_ring8", "infogan_mnist", "vae_mnist", "stylegan_mnist", *I2I_EXPERIMENTS}


@pytest.mark.parametrize(
    "experiment", [pytest.param(e, marks=() if e in FAMILY_RUNS else pytest.mark.slow) for e in EXPERIMENTS]
)
def test_experiment_trains_a_few_steps(experiment, make_cfg, request):
    # the runs are shared with the sample/evaluate/translate tests (conftest.tiny_run, conftest.i2i_runs)
    out = (
        request.getfixturevalue("i2i_runs")[experiment]
        if experiment in I2I_EXPERIMENTS
        else request.getfixturevalue("tiny_run")(experiment)
    )
    cfg = make_cfg(tiny_overrides(experiment))
    run_dir = Path(out["run_dir"])
    assert Path(out["last_checkpoint"]).is_file() and Path(out["best_checkpoint"]).is_file()
    assert out["samples"] and Path(out["samples"]).is_file()
    assert (run_dir / "csv" / "metrics.csv").is_file() and (run_dir / "metrics_protocol.json").is_file()
    assert "_target_" in (run_dir / "csv" / "hparams.yaml").read_text()  # the config reaches the loggers
    assert out["generator_steps"] == 4 // cfg.model.get("n_critic", 1)
    metrics = out["final_metrics"]
    if experiment.startswith("pix2pix"):  # held-out pairs, beside both baselines
        assert {"val/l1", "val/psnr", "val/ssim", "val/l1_identity", "val/l1_mean_target", "val/l1_vs_baseline"} <= set(
            metrics
        )
    elif experiment.startswith("cyclegan"):
        assert {"val/fid_ab", "val/class_kept_ab", "val/fid_ab_identity", "val/class_kept_ab_identity"} <= set(metrics)
    elif experiment.endswith(("ring8", "grid25")):
        assert {"val/modes_500", "val/hq_fraction_500", "val/reverse_kl_500"} <= set(metrics)
    else:
        assert "val/fid_domain_200" in metrics and "val/fid_domain_200_real_floor" in metrics
        if not experiment.endswith("cifar10"):  # the CIFAR-10 stand-in's pixels are noise: no floor to beat
            assert metrics["val/fid_domain_200"] > metrics["val/fid_domain_200_real_floor"]
        protocol = json.loads((run_dir / "metrics_protocol.json").read_text())
        assert len(protocol["extractor"]["sha256"]) == 64 and protocol["num_fake"] == 200
    gan, info = load_checkpoint_gan(out["last_checkpoint"])
    assert info["g_steps"] == out["generator_steps"] and info["config"]["name"] == experiment


@pytest.fixture(scope="module")
def ring8_budget_run(cache_root, tmp_path_factory):
    """wgan_gp_ring8 with a 3-generator-step budget over full epochs (8 batches each, so the budget ends mid-epoch)
    and the linear LR decay from half-way: the budget test and the decay test read this one run."""
    overrides = ["trainer.max_g_steps=3", "trainer.limit_train_batches=1.0", "model.lr_decay_start=0.5"]
    cfg = compose_cfg(tiny_overrides("wgan_gp_ring8") + overrides, tmp_path_factory.mktemp("ring8_budget"))
    with open_dict(cfg):
        cfg.paths.cache_dir = str(cache_root)
    out = run(cfg)
    GlobalHydra.instance().clear()
    return out


def test_budget_in_generator_steps(ring8_budget_run):
    # max_epochs stays at 1 (from the shrink): the generator-step budget must replace it
    out = ring8_budget_run
    assert out["generator_steps"] == 3  # = Lightning global_step 3 * (5 + 1) = 18 optimizer steps
    # the budget ended mid-epoch (8 batches per epoch, 15 used): the final weights are still scored and saved
    assert "val/modes_500" in out["final_metrics"]
    _, info = load_checkpoint_gan(out["last_checkpoint"])
    assert info["g_steps"] == 3 and info["d_steps"] == 15


def test_lr_decay_steps_once_per_generator_step_and_ends_at_zero(ring8_budget_run):
    # model.lr_decay_start lives on the base: with n_critic=5 both optimizers (critic included) decay per
    # generator step over the budget in generator steps, reaching 0 at its end
    ckpt = torch.load(ring8_budget_run["last_checkpoint"], map_location="cpu", weights_only=False)
    assert len(ckpt["lr_schedulers"]) == len(ckpt["optimizer_states"]) == 2
    for sched in ckpt["lr_schedulers"]:
        assert sched["last_epoch"] == 3 and sched["_last_lr"] == [0.0]
    assert all(group["lr"] == 0.0 for opt in ckpt["optimizer_states"] for group in opt["param_groups"])


@pytest.fixture(scope="module")
def bf16_mid_epoch_run(cache_root, tmp_path_factory):
    """wgan_gp_mnist under bf16 autocast on the CPU with a one-generator-step budget over epochs of 4 batches: one
    evaluation at the end of epoch 0 (4 critic steps, generator step 0) and one at the budget, in the middle of
    epoch 1 (generator step 1). The bf16 test and the mid-epoch best-checkpoint test read this one run."""
    overrides = ["hardware=bf16", "hardware.accelerator=cpu", "trainer.max_g_steps=1", "trainer.max_epochs=null"]
    cfg = compose_cfg(tiny_overrides("wgan_gp_mnist") + overrides, tmp_path_factory.mktemp("bf16_mid_epoch"))
    with open_dict(cfg):
        cfg.paths.cache_dir = str(cache_root)
    out = run(cfg)
    GlobalHydra.instance().clear()
    return out


def _fids(out: dict) -> dict[int, float]:
    """{generator step: val/fid_domain_200} of every evaluation in a run's metrics.csv."""
    import csv

    with open(Path(out["run_dir"]) / "csv" / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/fid_domain_200")]
    return {int(float(r["val/g_step"])): float(r["val/fid_domain_200"]) for r in rows}


def test_bf16_autocast_trains_wgan_gp(bf16_mid_epoch_run):
    out = bf16_mid_epoch_run
    assert out["generator_steps"] == 1  # the critic (gradient penalty included) and the generator both stepped
    assert np.isfinite(out["final_metrics"]["val/fid_domain_200"])
    assert all(np.isfinite(v) for v in _fids(out).values())
    gan, _ = load_checkpoint_gan(out["last_checkpoint"])
    assert all(torch.isfinite(p).all() for p in gan.parameters())


def test_metrics_must_fit_the_data(make_cfg):
    from gan_zoo.errors import ConfigError

    with pytest.raises(ConfigError, match="use metrics=domain_fid"):
        run(make_cfg(["experiment=dcgan_mnist", "metrics=mixture", "logger=csv"]))
    with pytest.raises(ConfigError, match=r"data.num_train is not a parameter of .*MNISTMiniDataModule"):
        run(make_cfg(["experiment=wgan_gp_ring8", "data=mnist_mini", "logger=csv"]))


def test_a_key_for_another_network_is_named(make_cfg):
    from gan_zoo.errors import ConfigError

    # a DCGAN key carried over to the MLP (e.g. from a user's own experiment file)
    cfg = make_cfg(tiny_overrides("gan_mlp_mnist") + ["+model.generator.base_channels=8"])
    with pytest.raises(ConfigError, match=r"model.generator.base_channels is not a parameter of .*MLPGenerator"):
        run(cfg)


def test_a_loss_key_for_another_loss_is_named(make_cfg):
    from gan_zoo.errors import ConfigError

    cfg = make_cfg(tiny_overrides("dcgan_mnist") + ["loss=hinge", "+loss.d_loss.label_noise=0.1"])  # a BCE/LSGAN key
    with pytest.raises(ConfigError, match=r"loss.d_loss.label_noise is not a parameter of .*d_hinge"):
        run(cfg)


def test_resuming_into_a_changed_network_is_a_clear_error(tiny_run, make_cfg, tmp_path):
    import shutil

    from gan_zoo.errors import ConfigError

    # the session's ring8 run, copied to where make_cfg puts this test's run (the refusal writes to its log)
    shutil.copytree(tiny_run("wgan_gp_ring8")["run_dir"], tmp_path / "run")
    first = {"last_checkpoint": str(tmp_path / "run" / "checkpoints" / "last.ckpt")}
    changed = make_cfg(tiny_overrides("wgan_gp_ring8") + ["model.generator.hidden=[16,16]", "trainer.max_epochs=2"])
    with pytest.raises(ConfigError, match="trained with another config: model.generator.hidden"):
        run(changed)  # the same run directory: refused before anything is loaded
    elsewhere = make_cfg(
        tiny_overrides("wgan_gp_ring8") + ["model.generator.hidden=[16,16]", f"resume={first['last_checkpoint']}"]
    )
    elsewhere.paths.output_dir = str(tmp_path / "other")
    with pytest.raises(ConfigError, match="does not fit this config"):
        run(elsewhere)  # another run started from these weights


@pytest.mark.slow  # the default suite checks the decay on the shared ring8 budget run above
def test_lr_decay_reaches_every_noise_game_and_ends_at_zero(make_cfg):
    # model.lr_decay_start lives on the base: a noise game decays both optimizers linearly to 0 over its budget
    cfg = make_cfg(
        tiny_overrides("pacgan_ring8")
        + ["trainer.max_g_steps=4", "trainer.limit_train_batches=1.0", "model.lr_decay_start=0.5"]
    )
    out = run(cfg)
    ckpt = torch.load(out["last_checkpoint"], map_location="cpu", weights_only=False)
    assert out["generator_steps"] == 4
    for sched in ckpt["lr_schedulers"]:
        assert sched["last_epoch"] == 4 and sched["_last_lr"] == [0.0]
    assert all(group["lr"] == 0.0 for opt in ckpt["optimizer_states"] for group in opt["param_groups"])


def test_a_budget_ending_mid_epoch_still_keeps_the_best_checkpoint(bf16_mid_epoch_run):
    """The last (mid-epoch) evaluation competes for best.ckpt like the epoch-end ones."""
    out = bf16_mid_epoch_run
    fids = _fids(out)
    assert sorted(fids) == [0, 1]  # one epoch-end evaluation, one at the budget
    best_step = min(fids, key=fids.get)
    assert out["best_score"] == pytest.approx(fids[best_step], rel=1e-5)
    state = torch.load(out["best_checkpoint"], map_location="cpu", weights_only=False)
    assert state["gan_zoo"]["g_steps"] == best_step


@pytest.mark.slow  # the default suite checks this on the shared bf16 run above
def test_a_budget_ending_mid_epoch_keeps_the_best_checkpoint_of_a_dcgan(make_cfg):
    """The same check on DCGAN in fp32, six generator steps over epochs of four."""
    cfg = make_cfg(tiny_overrides("dcgan_mnist") + ["trainer.max_g_steps=6", "trainer.max_epochs=null"])
    out = run(cfg)
    fids = _fids(out)
    assert sorted(fids) == [4, 6]  # one epoch-end evaluation, one at the budget
    best_step = min(fids, key=fids.get)
    assert out["best_score"] == pytest.approx(fids[best_step], rel=1e-5)
    state = torch.load(out["best_checkpoint"], map_location="cpu", weights_only=False)
    assert state["gan_zoo"]["g_steps"] == best_step


def test_keep_best_writes_best_ckpt_only_when_the_final_value_is_better(tmp_path):
    from types import SimpleNamespace

    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint

    from gan_zoo.train import _keep_best

    cb = ModelCheckpoint(dirpath=str(tmp_path), filename="best", monitor="val/fid", mode="min")
    cb.best_model_score = torch.tensor(3.54)
    saved = []
    trainer = SimpleNamespace(
        checkpoint_callbacks=[cb],
        callback_metrics={"val/fid": torch.tensor(3.02)},
        save_checkpoint=lambda path, **kw: saved.append(str(path)),
    )
    _keep_best(trainer)
    assert saved == [str(tmp_path / "best.ckpt")] and float(cb.best_model_score) == pytest.approx(3.02)
    trainer.callback_metrics = {"val/fid": torch.tensor(4.0)}  # worse: best.ckpt stays
    _keep_best(trainer)
    assert len(saved) == 1 and float(cb.best_model_score) == pytest.approx(3.02)
