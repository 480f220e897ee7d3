"""Long checks (`-m slow`): DDP on two CPU processes, and the mode-coverage bars of the 2D mixtures."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def train(args: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "GAN_ZOO_CACHE": str(cwd / "cache")}
    return subprocess.run(
        [sys.executable, "-m", "gan_zoo.cli", "train", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_ddp_sim_trains_wgan_gp_on_two_processes(tmp_path):
    r = train(
        [
            "experiment=wgan_gp_ring8",
            "hardware=ddp_sim",
            "logger=csv",
            "callbacks.progress=null",
            "trainer.max_g_steps=10",
            "trainer.limit_train_batches=25",
            "trainer.check_val_every_n_epoch=1",
            "data.num_train=8192",
            "metrics.num_samples=500",
            "run_id=ddp",
        ],
        tmp_path,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = tmp_path / "outputs" / "train" / "wgan_gp_ring8" / "ddp"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["generator_steps"] == 10
    assert "val/modes_500" in summary["final_metrics"]
    assert (out / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    "experiment,min_modes,num_modes,min_hq",
    [
        ("wgan_gp_ring8", 8, 8, 0.8),
        ("pacgan_ring8", 8, 8, 0.9),
        ("pacgan_grid25", 23, 25, 0.8),
        pytest.param(
            "wgan_gp_grid25",
            23,
            25,
            0.8,
            marks=pytest.mark.xfail(
                strict=True, reason="not reached in 20k generator steps on CPU: experiments/wgan_gp_grid25/README.md"
            ),
        ),
    ],
)
def test_mixture_bars(experiment, min_modes, num_modes, min_hq, tmp_path):
    r = train(
        [f"experiment={experiment}", "logger=csv", "callbacks.progress=null", "run_id=bar"], tmp_path, timeout=2400
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((tmp_path / "outputs" / "train" / experiment / "bar" / "summary.json").read_text())
    m = summary["final_metrics"]
    assert m["val/modes_2500"] >= min_modes
    assert m["val/hq_fraction_2500"] >= min_hq


@pytest.mark.slow
def test_ddp_sim_image_metrics_are_gathered_across_ranks(tmp_path):
    """Each rank scores its share of the samples; FID states and class counts are combined once."""
    r = train(
        [
            "experiment=wgan_gp_mnist",
            "hardware=ddp_sim",
            "logger=csv",
            "callbacks.progress=null",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=10",
            "model.generator.base_channels=8",
            "model.discriminator.base_channels=8",
            "metrics.num_fake=1000",
            "metrics.extractor_epochs=1",
            "run_id=ddp",
        ],
        tmp_path,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((tmp_path / "outputs" / "train" / "wgan_gp_mnist" / "ddp" / "summary.json").read_text())
    m = summary["final_metrics"]
    assert summary["generator_steps"] == 2  # 10 batches per rank, 5 critic steps per generator step
    assert m["val/fid_domain_1k"] > m["val/fid_domain_1k_real_floor"] > 0
    assert 1 <= m["val/classes_covered"] <= 10
    # the same samples scored in one process (gan-zoo evaluate, the model's eval seed) give the same values
    env = {**os.environ, "WANDB_MODE": "disabled", "GAN_ZOO_CACHE": str(tmp_path / "cache")}
    ckpt = tmp_path / "outputs" / "train" / "wgan_gp_mnist" / "ddp" / "checkpoints" / "last.ckpt"
    e = subprocess.run(
        [
            sys.executable,
            "-m",
            "gan_zoo.cli",
            "evaluate",
            f"checkpoint={ckpt}",
            "num_fake=1000",
            "seed=2024",
            "metrics=[fid,kid,pr,dc,classes]",
            "kid_subsets=20",
            "extractor_epochs=1",
            f"out={tmp_path / 'single.json'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert e.returncode == 0, e.stdout[-3000:] + e.stderr[-3000:]
    single = {v["metric"]: v["value"] for v in json.loads((tmp_path / "single.json").read_text())["values"]}
    assert single["fid"] == pytest.approx(m["val/fid_domain_1k"], rel=1e-4)
    assert single["precision"] == pytest.approx(m["val/precision_domain_1k"], abs=1e-6)
    assert single["coverage"] == pytest.approx(m["val/coverage_domain_1k"], abs=1e-6)
    assert single["classes_covered"] == m["val/classes_covered"]


FAMILIES_DDP = ["dcgan_mnist", "wgan_gp_mnist", "sngan_mnist", "infogan_mnist", "pacgan_ring8", "stylegan_mnist"]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp_find_unused_parameters_true", "ddp_phase_allreduce"])
@pytest.mark.parametrize("experiment", FAMILIES_DDP)
def test_every_noise_family_trains_under_ddp_with_rank_identical_state(experiment, strategy, tmp_path):
    """Two CPU processes (gloo) per game family on the base: BatchNorm buffers (dcgan), the gradient penalty's double
    backward (wgan_gp), spectral-norm buffers (sngan), the Q head (infogan), packing (pacgan), growth, style mixing
    and the running mean w (stylegan). After training and the last evaluation every rank holds the same parameters,
    EMA copies and buffers (rank 0's buffers are broadcast before evaluation; the images were scored once)."""
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import tiny_overrides
    from helpers import train_ddp_sim_rank_states

    w0, w1 = train_ddp_sim_rank_states(
        [
            f"hardware.strategy={strategy}",
            *tiny_overrides(experiment),
            "trainer.limit_train_batches=10",
            "model.ema_decay=0.9",
        ],
        tmp_path,
    )
    assert w0.keys() == w1.keys() and any("generator_ema" in k for k in w0)
    for k in w0:
        if w0[k].is_floating_point():
            assert torch.allclose(w0[k], w1[k], atol=1e-6), k
    summary = json.loads(next((tmp_path / "outputs" / "train").rglob("summary.json")).read_text())
    assert summary["generator_steps"] >= 2 and summary["final_metrics"]  # 10 batches per rank: G stepped too


@pytest.mark.slow
def test_compiled_networks_train_and_checkpoint_under_their_usual_names(tmp_path):
    """trainer.compile=true: torch.compile in place; the checkpoint's keys are those of an eager run."""
    import torch

    common = [
        "experiment=pacgan_ring8",
        "logger=csv",
        "callbacks.progress=null",
        "trainer.max_g_steps=3",
        "metrics.num_samples=500",
        "data.num_train=4096",
    ]
    for run_id, extra in (("eager", []), ("compiled", ["trainer.compile=true"])):
        r = train([*common, *extra, f"run_id={run_id}"], tmp_path, timeout=1200)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ckpts = [
        torch.load(
            tmp_path / "outputs" / "train" / "pacgan_ring8" / run / "checkpoints" / "last.ckpt",
            map_location="cpu",
            weights_only=False,
        )
        for run in ("eager", "compiled")
    ]
    assert list(ckpts[0]["state_dict"]) == list(ckpts[1]["state_dict"])
