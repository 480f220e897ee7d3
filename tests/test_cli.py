"""The command line: help, and short clear errors (exit code 2) for bad input.

The commands run in this process through `gan_zoo.cli.main` (what the `gan-zoo` console script calls), in a
temporary working directory; one test runs `python -m gan_zoo.cli` as a real process (exit code, streams)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cheap_runs import run_cli

from gan_zoo.cli import check_overrides

ROOT = Path(__file__).parents[1]


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """cli(*args) -> (exit code, stdout + stderr) of `gan-zoo ARGS` run in this process, in tmp_path."""
    monkeypatch.chdir(tmp_path)

    def _cli(*args: str) -> tuple[int, str]:
        return run_cli(capsys, *args)

    return _cli


def test_top_level_help_lists_commands(cli):
    rc, out = cli("--help")
    assert rc == 0 and "train" in out and "sample" in out


def test_train_help_lists_groups_and_options(cli):
    rc, out = cli("train", "--help")
    assert rc == 0
    for text in ("experiment:", "wgan_gp_grid25", "hardware:", "ddp_sim", "loss:", "wgan_gp", "Examples"):
        assert text in out, text


def test_unknown_command(cli):
    rc, out = cli("trian")
    assert rc == 2 and "unknown command 'trian'" in out


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


def test_bad_key_end_to_end_exit_code_and_no_traceback(tmp_path):
    """A real process: the exit code and the stream the message goes to, as a shell sees them."""
    env = {**os.environ, "WANDB_MODE": "disabled"}
    r = subprocess.run(
        [sys.executable, "-m", "gan_zoo.cli", "train", "model.n_critc=3"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert r.returncode == 2
    assert "Did you mean 'model.n_critic'" in r.stderr and "Traceback" not in r.stderr + r.stdout


def test_invalid_values_end_to_end(cli):
    rc, out = cli("train", "data.batch_size=-4", "logger=csv")
    assert rc == 2, out
    assert "data.batch_size must be a positive integer, got -4" in out
    assert "Traceback" not in out
    rc, out = cli("train", "experiment=wgan_gp_ring8", "model.n_critic=0", "logger=csv")
    assert rc == 2 and "model.n_critic must be an integer >= 1" in out


def test_missing_dataset_end_to_end(cli):
    rc, out = cli("train", "data=mnist", "logger=csv")
    assert rc == 2
    assert "MNIST not found under" in out and "data.root" in out and "Traceback" not in out


def test_multirun_with_script_ddp_is_refused(cli):
    rc, out = cli("train", "-m", "experiment=wgan_gp_ring8", "hardware=ddp_sim", "seed=0,1", "logger=csv")
    assert rc == 2, out
    assert "Hydra multirun (-m) with hardware.strategy=ddp_phase_allreduce is unsafe" in out


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
def test_wrong_model_keys_and_data_end_to_end(override, expected, cli):
    rc, out = cli("train", override, "logger=csv", "callbacks.progress=null")
    assert rc == 2, out[-4000:]
    assert expected in out and "Traceback" not in out


def test_an_experiment_without_its_data_composes_and_fails_only_when_loading(cli):
    """lego_dcgan's folder is not on this machine: --cfg job still works; training names the folder."""
    rc, out = cli("train", "experiment=lego_dcgan", "--cfg", "job")
    assert rc == 0 and "name: lego_dcgan" in out and "/lego" in out
    rc, out = cli("train", "experiment=lego_dcgan", "logger=csv")
    assert rc == 2 and "data/lego does not exist" in out, out[-1500:]
