"""The command line: help, and short clear errors (exit code 2) for bad input."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gan_zoo.cli import check_overrides

ROOT = Path(__file__).parents[1]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT / "tests")}
    return subprocess.run(
        [sys.executable, "-m", "gan_zoo.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_top_level_help_lists_commands():
    r = cli("--help")
    assert r.returncode == 0 and "train" in r.stdout and "sample" in r.stdout


def test_train_help_lists_groups_and_options():
    r = cli("train", "--help")
    assert r.returncode == 0
    for text in ("experiment:", "wgan_gp_grid25", "hardware:", "ddp_sim", "loss:", "wgan_gp", "Examples"):
        assert text in r.stdout, text


def test_unknown_command():
    r = cli("trian")
    assert r.returncode == 2 and "unknown command 'trian'" in r.stderr


@pytest.mark.parametrize(
    "override,expected",
    [
        ("model=gan9000", ["Could not find 'model/gan9000'", "dcgan", "mlp"]),
        ("experiment=wgan_gp_grid26", ["experiment/wgan_gp_grid26", "wgan_gp_grid25"]),
        (
            "model.n_critc=3",
            ["unknown config key 'model.n_critc'", "Did you mean 'model.n_critic'", "Valid keys under model"],
        ),
        ("trainer.max_epoch=3", ["Did you mean 'trainer.max_epochs'"]),
        ("seeed=1", ["unknown config key 'seeed'", "Did you mean 'seed'"]),
        ("data=image_folder", ["data.root"]),
    ],
)
def test_config_mistakes_are_named(override, expected):
    problem = check_overrides("train", [override])
    assert problem is not None
    for text in expected:
        assert text in problem, (text, problem)


def test_valid_overrides_and_sweeps_pass_the_check():
    assert check_overrides("train", ["experiment=wgan_gp_ring8", "seed=1"]) is None
    assert check_overrides("train", ["-m", "experiment=wgan_gp_ring8,wgan_gp_grid25", "seed=0,1,2"]) is None


def test_bad_key_end_to_end_exit_code_and_no_traceback():
    r = cli("train", "model.n_critc=3")
    assert r.returncode == 2
    assert "Did you mean 'model.n_critic'" in r.stderr and "Traceback" not in r.stderr + r.stdout


def test_invalid_values_end_to_end(tmp_path):
    r = cli("train", "data.batch_size=-4", "logger=csv", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "data.batch_size must be a positive integer, got -4" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    r = cli("train", "experiment=wgan_gp_ring8", "model.n_critic=0", "logger=csv", cwd=tmp_path)
    assert r.returncode == 2 and "model.n_critic must be an integer >= 1" in r.stdout


def test_missing_dataset_end_to_end(tmp_path):
    r = cli("train", "data=mnist", "logger=csv", cwd=tmp_path)
    assert r.returncode == 2
    assert "MNIST not found under" in r.stdout and "data.root" in r.stdout and "Traceback" not in r.stdout


def test_multirun_with_script_ddp_is_refused(tmp_path):
    r = cli("train", "-m", "experiment=wgan_gp_ring8", "hardware=ddp_sim", "seed=0,1", "logger=csv", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Hydra multirun (-m) with hardware.strategy=ddp_phase_allreduce is unsafe" in r.stdout


def test_flags_with_values_are_not_overrides():
    assert check_overrides("train", ["--cfg", "job", "experiment=cgan_mnist"]) is None
    assert check_overrides("train", ["-c", "job", "model.n_critc=2"]) is not None


@pytest.mark.parametrize(
    "override,expected",
    [
        ("+model.nosuchkey=3", "model.nosuchkey is not a setting of gan_zoo.models.NoiseGAN"),
        ("data=ring8", "use model=mlp for vector data"),
    ],
)
def test_wrong_model_keys_and_data_end_to_end(override, expected, tmp_path):
    r = cli("train", override, "logger=csv", "callbacks.progress=null", cwd=tmp_path)
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    assert expected in r.stdout and "Traceback" not in r.stdout + r.stderr


def test_an_experiment_without_its_data_composes_and_fails_only_when_loading(tmp_path):
    """lego_dcgan's folder is not on this machine: --cfg job still works; training names the folder."""
    r = cli("train", "experiment=lego_dcgan", "--cfg", "job")
    assert r.returncode == 0 and "name: lego_dcgan" in r.stdout and "/lego" in r.stdout
    r = cli("train", "experiment=lego_dcgan", "logger=csv", cwd=tmp_path)
    assert r.returncode == 2 and "data/lego does not exist" in r.stdout, r.stdout[-1500:]
