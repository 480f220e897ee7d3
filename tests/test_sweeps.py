"""Sweeps and clusters: Optuna hparams_search, the joblib and SLURM launchers, W&B grouping, the value
`train` returns to a sweeper."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf
from test_cli import cli

from gan_zoo.errors import ConfigError
from gan_zoo.train import group_sweep_runs, optimized_value

SEARCHES = sorted(p.stem for p in (Path(__file__).parents[1] / "gan_zoo" / "conf" / "hparams_search").glob("*.yaml"))


@pytest.fixture
def shared_cache(cache_root, monkeypatch):
    """CLI runs share the session's cache (the domain extractor is trained once, not once per tmp dir)."""
    monkeypatch.setenv("GAN_ZOO_CACHE", str(cache_root))


def compose_with_hydra(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_module("gan_zoo.conf", version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize("search", SEARCHES)
def test_every_search_selects_the_optuna_sweeper_and_its_params_are_config_keys(search):
    experiment = "pacgan_ring8" if "pacgan" in search else "dcgan_mnist"
    cfg = compose_with_hydra([f"experiment={experiment}", f"hparams_search={search}"])
    sweeper = cfg.hydra.sweeper
    assert "OptunaSweeper" in sweeper._target_ and cfg.hydra.mode == RunMode.MULTIRUN
    assert sweeper.direction in ("minimize", "maximize") and sweeper.storage is None  # in memory: offline
    for key in sweeper.params:  # a typo in a searched key would only fail inside the first trial
        assert OmegaConf.select(cfg, key, default="MISSING") != "MISSING", key


def test_launcher_slurm_selects_submitit_with_one_task_per_device():
    cfg = compose_with_hydra(["launcher=slurm", "hardware=ddp", "hardware.devices=4", "hardware.num_nodes=2"])
    launcher = cfg.hydra.launcher
    assert "submitit" in launcher._target_.lower() and "Slurm" in launcher._target_
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.nodes) == (4, 4, 2)
    assert compose_with_hydra([]).hydra.launcher._target_.endswith("BasicLauncher")  # launcher: null


def test_optimized_value_is_the_named_metric_or_the_monitor():
    out = {"monitor": "val/fid_domain_1k", "final_metrics": {"val/fid_domain_1k": 2.5, "val/recall_domain_1k": 0.7}}
    assert optimized_value(OmegaConf.create({"optimized_metric": None}), out) == 2.5
    assert optimized_value(OmegaConf.create({"optimized_metric": "val/recall_domain_1k"}), out) == 0.7
    with pytest.raises(ConfigError, match="optimized_metric=val/nope was not logged.*val/fid_domain_1k"):
        optimized_value(OmegaConf.create({"optimized_metric": "val/nope"}), out)
    assert optimized_value(OmegaConf.create({"optimized_metric": None}), {"monitor": None, "final_metrics": {}}) is None


def test_sweep_runs_are_grouped_and_tagged_for_wandb(monkeypatch):
    cfg = OmegaConf.create({"name": "dcgan_mnist", "logger": {"wandb": {"group": "dcgan_mnist", "name": "x"}}})
    hc = SimpleNamespace(
        mode=RunMode.MULTIRUN,
        sweep=SimpleNamespace(dir="outputs/train/multirun/s1"),
        job=SimpleNamespace(num=3),
        overrides=SimpleNamespace(task=["model.g_optimizer.lr=0.0002", "seed=1"]),
        runtime=SimpleNamespace(
            choices={"experiment": "dcgan_mnist", "loss": "bce", "hydra/launcher": "basic", "launcher": None}
        ),
    )
    monkeypatch.setattr("gan_zoo.train.HydraConfig.initialized", lambda: True)
    monkeypatch.setattr("gan_zoo.train.HydraConfig.get", lambda: hc)
    group_sweep_runs(cfg)
    w = cfg.logger.wandb
    assert w.group == "sweep/s1" and w.name == "dcgan_mnist/s1/3"
    assert list(w.tags) == ["model.g_optimizer.lr=0.0002", "seed=1", "experiment=dcgan_mnist", "loss=bce"]
    hc.mode = RunMode.RUN  # a single run keeps its experiment group
    cfg2 = OmegaConf.create({"name": "n", "logger": {"wandb": {"group": "n"}}})
    group_sweep_runs(cfg2)
    assert cfg2.logger.wandb.group == "n" and "tags" not in cfg2.logger.wandb


@pytest.mark.slow
def test_multirun_ddp_is_refused_with_joblib_too(tmp_path):
    r = cli(
        "train",
        "-m",
        "hydra/launcher=joblib",
        "experiment=wgan_gp_ring8",
        "hardware=ddp_sim",
        "seed=0,1",
        "logger=csv",
        cwd=tmp_path,
    )
    assert r.returncode == 2 and "is unsafe" in r.stdout, r.stdout[-1500:] + r.stderr[-1500:]


@pytest.mark.slow
def test_optuna_sweep_runs_two_trials_in_one_epoch_and_report_reads_it(tmp_path, shared_cache):
    """The issue's smoke command: `-m hparams_search=... hydra.sweeper.n_trials=2 trainer.max_epochs=1`."""
    r = cli(
        "train",
        "-m",
        "hparams_search=dcgan_mnist_optuna",
        "hydra.sweeper.n_trials=2",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=4",
        "metrics.num_fake=200",
        "logger=csv",
        "callbacks.progress=null",
        "run_id=smoke",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    sweep = tmp_path / "outputs" / "train" / "multirun" / "smoke"
    results = OmegaConf.load(sweep / "optimization_results.yaml")
    values = [
        json.loads((sweep / str(i) / "summary.json").read_text())["final_metrics"]["val/fid_domain_200"] for i in (0, 1)
    ]
    assert results.best_value == pytest.approx(min(values))  # what train returned is what Optuna minimised
    rep = cli("report", str(sweep), "--out", str(tmp_path / "rep"), cwd=tmp_path)
    assert rep.returncode == 0 and (tmp_path / "rep" / "report.md").exists(), rep.stdout[-1500:] + rep.stderr[-1500:]


@pytest.mark.slow
def test_joblib_launcher_runs_jobs_in_parallel_processes(tmp_path, shared_cache):
    r = cli(
        "train",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "seed=0,1",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "metrics.num_fake=200",
        "logger=csv",
        "callbacks.progress=null",
        "run_id=jl",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    sweep = tmp_path / "outputs" / "train" / "multirun" / "jl"
    assert all((sweep / str(i) / "checkpoints" / "last.ckpt").exists() for i in (0, 1))


def test_dockerfile_installs_as_the_readme_does_and_runs_gan_zoo():
    """Docker cannot build on this machine (no engine): check what can be checked without one."""
    root = Path(__file__).parents[1]
    text = (root / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert lines[0].startswith("FROM nvidia/cuda:") and "runtime" in lines[0]
    assert any("make setup" in ln for ln in lines if ln.startswith("RUN"))  # the Makefile's set-up, not a copy of it
    assert "\nsetup:" in (root / "Makefile").read_text()
    assert 'ENTRYPOINT ["/app/.venv/bin/gan-zoo"]' in lines
    for copied in ("pyproject.toml", "Makefile", "README.md", "gan_zoo"):
        assert (root / copied).exists(), copied
    ignored = (root / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "outputs" in ignored
