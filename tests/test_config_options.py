"""Every option of every config group, with the default composition (no experiment: conf/train.yaml's defaults)
and with another experiment (wgan_gp_mnist: a Wasserstein loss, 5 critic steps): in the default suite each one
composes and builds its objects (data module, networks, game, evaluator, trainer) without training; in the slow
suite each one trains a couple of generator steps. Combinations that cannot work here end in a clear error
naming the fix, raised while building; the table below lists each one, so a new incompatibility fails these
tests instead of reaching a user.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
from conftest import (
    write_cifar_pickles,
    write_image_folder,
    write_mnist_raw,
    write_paired_folder,
    write_unpaired_folder,
)

from gan_zoo.build import build_evaluator, build_gan, data_facts, instantiate_checked
from gan_zoo.errors import GanZooError
from gan_zoo.train import build_trainer, check_launch, run, user_error

CONF = Path(__file__).parents[1] / "gan_zoo" / "conf"
GROUPS = ("data", "model", "loss", "metrics", "hardware", "logger", "callbacks")
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]
BASES = ("default", "wgan_gp_mnist")
# Each base's own choices: training with them is the base itself, run once (as callbacks=default).
OWN = {
    "default": {"data": "mnist_mini", "model": "dcgan", "loss": "bce", "metrics": "domain_fid", "hardware": "cpu"},
    "wgan_gp_mnist": {
        "data": "mnist_mini",
        "model": "dcgan",
        "loss": "wgan_gp",
        "metrics": "domain_fid",
        "hardware": "cpu",
    },
}
CASES = [(g, o, b) for b in BASES for g, o in OPTIONS if (g, o) != ("hardware", "ddp_sim") and OWN[b].get(g) != o]
CPU_ONLY = "no CUDA device is visible"
# (group, option, base or None for both) -> the text the error must contain.
EXPECTED_ERRORS = {
    ("data", "ring8", None): "use model=mlp",
    ("data", "grid25", None): "use model=mlp",
    ("metrics", "inception", None): "Inception-v3 weights not found",
    ("metrics", "mixture", None): "use metrics=domain_fid",
    ("hardware", "gpu", None): CPU_ONLY,
    ("hardware", "fp16", None): CPU_ONLY,
    ("hardware", "ddp", None): CPU_ONLY,
    ("model", "vae", "wgan_gp_mnist"): "model.n_critic is not a setting of gan_zoo.models.VAE",
    # image-to-image data and games do not mix with noise-to-image ones: each side names the other
    ("data", "edges_mnist", None): "use model=pix2pix",
    ("data", "photos", None): "use model=pix2pix",
    ("data", "paired_folder", None): "use model=pix2pix",
    ("data", "digits2mnist", None): "use model=cyclegan",
    ("data", "unpaired_folder", None): "use model=cyclegan",
    ("model", "pix2pix", None): "needs paired or unpaired image data",
    ("model", "cyclegan", None): "needs paired or unpaired image data",
    ("metrics", "translation", None): "image-to-image data takes metrics=translation",
}
SHRINK = [
    "trainer.max_g_steps=2",
    "trainer.max_epochs=null",
    "trainer.limit_train_batches=1.0",
    "logger=csv",
    "callbacks.progress=null",
    "metrics.num_fake=100",
    "metrics.extractor_epochs=1",
    "metrics.extractor_max_images=256",
    "data.batch_size=16",
]


def expected_error(group: str, option: str, base: str) -> str | None:
    return EXPECTED_ERRORS.get((group, option, base)) or EXPECTED_ERRORS.get((group, option, None))


def overrides(group: str, option: str, base: str, roots: dict[str, Path]) -> list[str]:
    out = [] if base == "default" else [f"experiment={base}"]
    out += [f"{group}={option}", *SHRINK]
    if group == "logger":
        out.remove("logger=csv")
    if group == "metrics" and option in ("none", "mixture", "translation"):
        out = [o for o in out if not o.startswith("metrics.")]
    if group == "data" and option == "image_folder":
        out.append(f"data.root={roots['folder']}")
    if group == "data" and option in ("paired_folder", "unpaired_folder"):
        out.append(f"data.root={roots[option]}")
    if group == "data" and option == "mnist":
        out.append(f"data.root={roots['mnist']}")
    if group == "data" and option == "fashion_mnist":  # the IDX files in data.root itself: a layout both accept
        out.append(f"data.root={roots['mnist'] / 'MNIST' / 'raw'}")
    if group == "data" and option == "cifar10":
        out.append(f"data.root={roots['cifar10']}")
    if group == "data" and option in ("ring8", "grid25"):
        out = [o for o in out if not o.startswith("data.batch_size")]
    return out


@pytest.fixture(scope="session")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("data")
    return {
        "folder": write_image_folder(base / "folder", size=32),
        "mnist": write_mnist_raw(base / "mnist"),
        "cifar10": write_cifar_pickles(base / "cifar10", per_batch=120, n_test=200),
        "paired_folder": write_paired_folder(base / "paired"),
        "unpaired_folder": write_unpaired_folder(base / "unpaired"),
    }


def build_all(cfg) -> dict:
    """What `run` builds before training (data module, game, evaluator, trainer), without training."""
    check_launch(cfg)
    datamodule = instantiate_checked(cfg.data, "data")
    facts = data_facts(datamodule)
    gan = build_gan(cfg, facts)
    evaluator = build_evaluator(cfg, datamodule) if cfg.metrics.kind != "none" else None
    loggers = [hydra.utils.instantiate(lg) for lg in (cfg.get("logger") or {}).values() if lg is not None]
    trainer = build_trainer(cfg, gan, evaluator, loggers, Path(cfg.paths.output_dir))
    return {"datamodule": datamodule, "facts": facts, "gan": gan, "evaluator": evaluator, "trainer": trainer}


@pytest.mark.parametrize("group,option,base", CASES)
def test_every_option_builds_or_names_the_fix(group, option, base, make_cfg, roots):
    cfg = make_cfg(overrides(group, option, base, roots))
    want = expected_error(group, option, base)
    if want is None:
        built = build_all(cfg)
        assert built["gan"].g_steps == 0 and built["facts"]["dataset_id"]
        assert (built["evaluator"] is None) == (cfg.metrics.kind == "none")
        return
    with pytest.raises(Exception) as info:
        build_all(cfg)
    err = user_error(info.value)
    assert isinstance(err, GanZooError), f"{type(info.value).__name__}: {info.value}"
    assert want in str(err)


@pytest.mark.slow
@pytest.mark.parametrize("group,option,base", CASES)
def test_every_option_trains_or_names_the_fix(group, option, base, make_cfg, roots):
    cfg = make_cfg(overrides(group, option, base, roots))
    want = expected_error(group, option, base)
    if want is None:
        out = run(cfg)
        assert out["generator_steps"] == 2 and Path(out["last_checkpoint"]).is_file()
        return
    with pytest.raises(Exception) as info:
        run(cfg)
    err = user_error(info.value)
    assert isinstance(err, GanZooError), f"{type(info.value).__name__}: {info.value}"
    assert want in str(err)


@pytest.mark.slow
@pytest.mark.parametrize("base", BASES)
def test_ddp_sim_option_trains(base, tmp_path):
    """DDP on 2 CPU processes: Lightning relaunches the command per rank, so it runs as a real command."""
    env = {**os.environ, "WANDB_MODE": "disabled", "GAN_ZOO_CACHE": str(tmp_path / "cache")}
    args = [sys.executable, "-m", "gan_zoo.cli", "train", "hardware=ddp_sim", "run_id=r", "metrics=none", *SHRINK[:5]]
    if base != "default":
        args.append(f"experiment={base}")
    r = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "generator_steps  2" in r.stdout
