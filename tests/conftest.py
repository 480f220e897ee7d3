"""Compose the real Hydra config and shrink it: tiny nets, few batches, CPU, CSV logger."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

os.environ.setdefault("WANDB_MODE", "disabled")
EXPERIMENTS = sorted(p.stem for p in (Path(__file__).parents[1] / "gan_zoo" / "conf" / "experiment").glob("*.yaml"))

# Shrinks that keep every experiment's structure (loss, conditioning, n_critic) but cost seconds.
TINY = [
    "trainer.max_epochs=1",
    "trainer.max_g_steps=null",
    "trainer.check_val_every_n_epoch=1",
    "trainer.limit_train_batches=4",
    "trainer.log_every_n_steps=1",
    "logger=csv",
    "callbacks.progress=null",
]


def compose_cfg(overrides: list[str], tmp_path: Path, config_name: str = "train") -> DictConfig:
    """The composed config as `gan-zoo train` would see it, with outputs under tmp_path."""
    GlobalHydra.instance().clear()
    with initialize_config_module("gan_zoo.conf", version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as in a real run: the task function never sees the hydra node
        if "paths" in cfg:
            cfg.paths.output_dir = str(tmp_path / "run")
            cfg.paths.root_dir = str(tmp_path)
    return cfg


def tiny_overrides(experiment: str) -> list[str]:
    """TINY plus width/size shrinks that apply to the experiment's model."""
    out = [f"experiment={experiment}", *TINY]
    if experiment in ("wgan_gp_ring8", "wgan_gp_grid25"):
        out += ["data.num_train=2048", "data.num_val=256", "metrics.num_samples=500"]
    else:
        out += ["metrics.num_fake=200", "metrics.extractor_epochs=1"]
    if "mlp" in experiment or experiment.endswith(("ring8", "grid25")):
        out += ["model.generator.hidden=[32,32]", "model.discriminator.hidden=[32,32]"]
    else:
        out += ["model.generator.base_channels=8", "model.discriminator.base_channels=8"]
    return out


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache shared by the whole session (the domain extractor is trained once)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def make_cfg(cache_root: Path, tmp_path: Path):
    """make_cfg(overrides) -> composed, shrunk config writing under tmp_path."""

    def _make(overrides: list[str], config_name: str = "train") -> DictConfig:
        cfg = compose_cfg(overrides, tmp_path, config_name)
        with open_dict(cfg):
            if "paths" in cfg:
                cfg.paths.cache_dir = str(cache_root)
        return cfg

    yield _make
    GlobalHydra.instance().clear()
