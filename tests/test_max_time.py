"""`trainer.max_time` ends a run of every game family like its step budget would: a clean stop mid-epoch, the
final validation, checkpoints/last.ckpt and summary.json, and the wall-clock snapshots of the CIFAR-10 recipes."""

import json
from pathlib import Path

import pytest
import torch
from conftest import I2I_EXPERIMENTS, tiny_overrides

from gan_zoo.build import load_checkpoint_gan
from gan_zoo.callbacks.wall_clock import snapshot_seconds
from gan_zoo.train import run

# One experiment per game family: NoiseGAN on images and on 2D points, InfoGAN, the VAE, StyleGAN, Pix2Pix, CycleGAN.
FAMILIES = ["dcgan_mnist", "wgan_gp_ring8", "infogan_mnist", "vae_mnist", "stylegan_mnist", *I2I_EXPERIMENTS]
# Epochs that never end on their own and no validation before the clock stops the run: the validation found
# afterwards can only be the final one.
# The clock is checked after every batch, so with one critic step per generator step the first check already
# follows a generator step, however loaded the box (wgan_gp_ring8 runs 5 critic steps per generator step).
NO_END = ["trainer.max_epochs=100000", "trainer.check_val_every_n_epoch=100000", "trainer.max_time=00:00:00:03"]
ONE_CRITIC_STEP = {"wgan_gp_ring8": ["model.n_critic=1"]}


# The default suite keeps one family (the default game); the other families' 3-second runs are `slow`.
@pytest.mark.parametrize(
    "experiment", [e if e == "dcgan_mnist" else pytest.param(e, marks=pytest.mark.slow) for e in FAMILIES]
)
def test_max_time_stops_cleanly_validates_and_finishes(experiment, make_cfg):
    cfg = make_cfg(tiny_overrides(experiment) + NO_END + ONE_CRITIC_STEP.get(experiment, []))
    out = run(cfg)
    run_dir = Path(out["run_dir"])
    last = run_dir / "checkpoints" / "last.ckpt"
    assert last.is_file() and out["generator_steps"] >= 1
    assert out["final_metrics"], "the final validation did not run"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["generator_steps"] == out["generator_steps"]
    _, info = load_checkpoint_gan(str(last))
    assert info["g_steps"] == out["generator_steps"]


def test_wall_clock_snapshots_are_loadable_checkpoints(make_cfg):
    every = 1 / 60  # one snapshot per second of training
    cfg = make_cfg(
        tiny_overrides("dcgan_mnist")
        + NO_END[:2]
        + [
            "trainer.max_time=00:00:00:03",
            "+callbacks.wall._target_=gan_zoo.callbacks.WallClockCheckpoints",
            "+callbacks.wall.dirpath=${paths.output_dir}/checkpoints/wall",
            f"+callbacks.wall.every_minutes={every}",
        ]
    )
    out = run(cfg)
    snaps = sorted((Path(out["run_dir"]) / "checkpoints" / "wall").glob("wall-*s.ckpt"))
    assert snaps, "no snapshot in 3 seconds of training at one a second"
    gan, info = load_checkpoint_gan(str(snaps[0]))
    assert 1 <= info["g_steps"] <= out["generator_steps"]
    assert 1.0 <= snapshot_seconds(snaps[0].name) <= 3.0  # named after whole seconds of training
    assert torch.isfinite(gan.generator(torch.randn(2, gan.latent_dim))).all()
