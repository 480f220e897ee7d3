"""A run directory is an append-only record: what `gan-zoo train` does with an existing run_id, written as the
user's commands and what must remain on disk afterwards (md5 of the files that must not change, CSV rows)."""

import csv
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import compose_cfg, tiny_overrides

import gan_zoo.train  # noqa: F401 - imported at collection, so Lightning's log handlers outlive each test's capture
from gan_zoo.cli import main as gan_zoo

ROOT = Path(__file__).parents[1]
# One critic step per generator step, 3 batches per epoch: every epoch is 3 generator steps and one evaluation.
BASE = [*tiny_overrides("wgan_gp_ring8"), "model.n_critic=1", "trainer.limit_train_batches=3"]
RUNS = Path("outputs/train/wgan_gp_ring8")


def train(*args: str) -> int:
    """`gan-zoo train BASE args`, in this process; returns the exit code."""
    saved = sys.argv[:]
    try:
        return gan_zoo(["train", *BASE, *args])
    except SystemExit as e:
        return int(e.code or 0)
    finally:
        sys.argv = saved


def md5s(run_dir: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """{relative path: md5} of every file in a run directory (those named in `skip` left out)."""
    return {
        str(p.relative_to(run_dir)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def rows(run_dir: Path) -> list[dict[str, str]]:
    """The rows of the run's metrics.csv, each without its empty cells (a later segment may add columns)."""
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if v != ""} for r in csv.DictReader(f)]


def g_step(ckpt: Path) -> int:
    return torch.load(ckpt, map_location="cpu", weights_only=False)["gan_zoo"]["g_steps"]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch, cache_root):
    """Run commands from tmp_path (outputs/ lands there), sharing the session's cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GAN_ZOO_CACHE", str(cache_root))
    return tmp_path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, cache_root) -> Path:
    """`gan-zoo train BASE run_id=r` trained once for the module; returns the folder holding its outputs/."""
    root = tmp_path_factory.mktemp("finished_run")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GAN_ZOO_CACHE", str(cache_root))
        assert train("run_id=r") == 0
    return root


@pytest.fixture
def run_r(finished_run, in_tmp) -> Path:
    """A copy of the module's finished run_id=r under this test's tmp_path (the tests change it): RUNS / "r"."""
    shutil.copytree(finished_run / "outputs", in_tmp / "outputs")
    return RUNS / "r"


def test_a_longer_budget_appends_to_the_record_and_keeps_the_first_config(run_r, capfd):
    run = run_r
    first_rows, first_config = rows(run), md5s(run / ".hydra")
    assert first_rows
    capfd.readouterr()
    assert train("run_id=r", "trainer.max_epochs=2") == 0
    assert "Epoch 1" not in capfd.readouterr().err  # callbacks.progress=null: no progress bar
    after = rows(run)
    assert after[: len(first_rows)] == first_rows and len(after) > len(first_rows)  # appended, nothing lost
    assert md5s(run / ".hydra", skip=("config.2.yaml", "hydra.2.yaml", "overrides.2.yaml")) == first_config
    assert "trainer.max_epochs=2" in (run / ".hydra" / "overrides.2.yaml").read_text()
    assert g_step(run / "checkpoints" / "last.ckpt") == 6


def test_a_finished_run_run_again_changes_nothing(run_r, capsys):
    before = md5s(RUNS / "r")
    capsys.readouterr()
    assert train("run_id=r") == 0
    assert "is finished" in capsys.readouterr().out
    assert md5s(RUNS / "r") == before  # train.log included


# `once_file` relative to the working directory: the same command line in the fixture's folder and each test's
STOP = ["+callbacks.stop._target_=helpers.SignalAt", "+callbacks.stop.g_step=4", "+callbacks.stop.once_file=sent"]


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory, cache_root) -> Path:
    """run_id=r stopped at generator step 4 of 6 (an unfinished run, as after a Ctrl-C), trained once for the module;
    returns the folder holding its outputs/."""
    root = tmp_path_factory.mktemp("stopped_run")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GAN_ZOO_CACHE", str(cache_root))
        assert train("run_id=r", "trainer.max_epochs=2", *STOP) == 130
    return root


@pytest.mark.parametrize(
    "args,names",
    [
        (["model.n_critic=0"], ["model.n_critic=0", "run_id=<new>"]),  # a bad value
        (["model.generator.hidden=[16,16]"], ["model.generator.hidden", "run_id=<new>"]),  # another network
        (["resume=null"], ["run_id=<new>", "overwrite=true"]),  # a fresh start
    ],
)
def test_a_refused_command_on_an_existing_run_changes_nothing_but_its_log(args, names, stopped_run, in_tmp, capfd):
    shutil.copytree(stopped_run / "outputs", in_tmp / "outputs")
    run = RUNS / "r"
    before, log_before = md5s(run, skip=("train.log",)), (run / "train.log").read_text()
    capfd.readouterr()
    assert train("run_id=r", "trainer.max_epochs=2", *STOP, *args) == 2
    out = capfd.readouterr()
    message = [line for line in (out.out + out.err).splitlines() if "error" in line]
    assert len(message) == 1 and "Traceback" not in out.out + out.err  # printed once
    for name in names:
        assert name in message[0], message[0]
    assert md5s(run, skip=("train.log",)) == before
    log_after = (run / "train.log").read_text()
    assert log_after.startswith(log_before) and names[0] in log_after[len(log_before) :]


def test_overwrite_moves_the_old_run_aside_intact(run_r):
    before, log_before = md5s(RUNS / "r", skip=("train.log",)), (RUNS / "r" / "train.log").read_text()
    assert train("run_id=r", "resume=null", "overwrite=true", "model.generator.hidden=[16,16]") == 0
    moved = list(RUNS.glob("r.replaced-*"))
    assert len(moved) == 1 and md5s(moved[0], skip=("train.log",)) == before
    assert (moved[0] / "train.log").read_text().startswith(log_before)
    assert "- 16" in (RUNS / "r" / ".hydra" / "config.yaml").read_text()  # the new run's config
    assert not list((RUNS / "r" / ".hydra").glob("config.*.yaml"))  # a new run: one segment


def test_a_truncated_checkpoint_is_one_message_and_leaves_no_folder(run_r, in_tmp, capfd):
    cut = in_tmp / "cut.ckpt"
    cut.write_bytes((RUNS / "r" / "checkpoints" / "last.ckpt").read_bytes()[:4000])
    capfd.readouterr()
    assert train("run_id=new", f"resume={cut}") == 2
    out = capfd.readouterr()
    assert "cannot be read as a checkpoint" in out.out and "Traceback" not in out.out + out.err
    assert out.out.strip().endswith(".")  # a whole sentence
    assert not (RUNS / "new").exists()


def test_resume_and_sample_give_one_message_for_a_file_that_is_not_a_gan_zoo_checkpoint(in_tmp, capfd):
    foreign = in_tmp / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)  # a torch checkpoint, not one gan-zoo train wrote
    capfd.readouterr()
    assert train("run_id=new", f"resume={foreign}") == 2
    resumed = capfd.readouterr().out
    with pytest.raises(SystemExit) as stop:
        gan_zoo(["sample", f"checkpoint={foreign}", f"out={in_tmp}/s.npz"])
    assert stop.value.code == 2
    sampled = capfd.readouterr().out
    for text in (resumed, sampled):
        assert "foreign.ckpt is not a gan_zoo checkpoint" in text and "written by gan-zoo train" in text
    assert not (RUNS / "new").exists() and not (in_tmp / "s.npz").exists()


def test_a_refused_new_run_leaves_no_folder(in_tmp):
    assert train("run_id=x", "model.n_critic=0") == 2
    assert not (in_tmp / "outputs").exists()


def test_the_defaults_are_filed_under_dcgan_mnist(tmp_path):
    from omegaconf import OmegaConf

    plain = compose_cfg(["run_id=a"], tmp_path)
    recipe = compose_cfg(["run_id=a", "experiment=dcgan_mnist"], tmp_path)
    assert plain.name == "dcgan_mnist"
    assert OmegaConf.to_container(plain) == OmegaConf.to_container(recipe)


@pytest.mark.parametrize(
    "signum,times,where,code",
    [
        pytest.param("SIGINT", 1, "train", 130, marks=pytest.mark.slow),  # SIGTERM below takes the same path
        ("SIGTERM", 1, "train", 143),
        ("SIGINT", 1, "validation", 130),
        ("SIGINT", 2, "train", 130),  # a second Ctrl-C: at once, no checkpoint
    ],
)
def test_ctrl_c_and_sigterm_stop_cleanly_and_the_printed_command_resumes(signum, times, where, code, in_tmp, capfd):
    old = signal.getsignal(signal.SIGINT)
    once = in_tmp / "sent"
    args = [
        "run_id=r",
        "trainer.max_epochs=2",
        "+callbacks.sig._target_=helpers.SignalAt",
        "+callbacks.sig.g_step=2",
        f"+callbacks.sig.signum={signum}",
        f"+callbacks.sig.times={times}",
        f"+callbacks.sig.where={where}",
        f"+callbacks.sig.once_file={once}",
    ]
    assert train(*args) == code
    assert signal.getsignal(signal.SIGINT) == old  # handlers put back
    out = capfd.readouterr()
    last = out.out.strip().splitlines()[-1]
    assert "Traceback" not in out.out + out.err, out.out + out.err
    run = RUNS / "r"
    at = 3 if where == "validation" else 2  # the validation after epoch 0 (3 generator steps) finishes first
    assert last.startswith(f"interrupted at generator step {at}; resume with: gan-zoo train "), last
    assert "run_id=r" in last
    if times == 2:
        assert not (run / "checkpoints" / "last.ckpt").exists()
        return
    assert g_step(run / "checkpoints" / "last.ckpt") == at and not (run / "summary.json").exists()
    logged = [float(r["train/g_step"]) for r in rows(run) if r.get("train/g_step")]
    assert max(logged) == at  # every step up to the checkpoint is in the CSV log
    before = rows(run)
    command = shlex.split(last.split("resume with: gan-zoo ", 1)[1])  # as a shell would split it
    assert command[0] == "train"
    saved = sys.argv[:]
    try:
        assert gan_zoo(command) == 0
    finally:
        sys.argv = saved
    assert rows(run)[: len(before)] == before and g_step(run / "checkpoints" / "last.ckpt") == 6
    assert (run / "summary.json").is_file()


@pytest.mark.slow
def test_ctrl_c_from_outside_a_real_process(tmp_path):
    """A real `gan-zoo train` process, SIGINT sent from outside once its first checkpoint exists: exit 130, the
    last line names the command, last.ckpt written, no traceback."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'tests'}{os.pathsep}{ROOT}",
        "WANDB_MODE": "disabled",
        "GAN_ZOO_CACHE": str(tmp_path / "c"),
    }
    args = [sys.executable, "-m", "gan_zoo.cli", "train", *BASE, "trainer.max_epochs=1000", "run_id=r"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    last = tmp_path / RUNS / "r" / "checkpoints" / "last.ckpt"
    import time

    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    assert out.strip().splitlines()[-1].startswith("interrupted at generator step ")
    assert "Traceback" not in out + err and last.is_file()


def test_a_run_stopped_by_max_time_is_finished_and_a_longer_time_trains_further(in_tmp, capsys):
    assert train("run_id=t", "trainer.max_g_steps=100000", "trainer.max_time=00:00:00:01") == 0
    run = RUNS / "t"
    assert (run / "summary.json").is_file()  # stopped by the clock: a finished run
    before, steps = md5s(run), g_step(run / "checkpoints" / "last.ckpt")
    capsys.readouterr()
    assert train("run_id=t", "trainer.max_g_steps=100000", "trainer.max_time=00:00:00:01") == 0
    assert "is finished" in capsys.readouterr().out and md5s(run) == before
    # more time (and a step budget that ends it): trains on from the clock's mid-epoch stop, best.ckpt state included
    assert train("run_id=t", f"trainer.max_g_steps={steps + 2}", "trainer.max_time=00:01:00:00") == 0
    assert g_step(run / "checkpoints" / "last.ckpt") == steps + 2
