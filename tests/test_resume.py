"""Interrupted + resumed runs end with the same weights as uninterrupted ones; checkpoints are atomic."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import assert_same_weights, ring8_resume_overrides, tiny_overrides

from gan_zoo.train import run

ROOT = Path(__file__).parents[1]


def test_resume_in_process_matches_uninterrupted(make_cfg, tmp_path, ring8_first_epoch):
    # two epochs in one go vs the session's first epoch (a copy: the resumed run writes into it) continued to two
    base = ring8_resume_overrides() + ["trainer.max_epochs=2"]
    full = run(make_cfg(base))
    shutil.copytree(ring8_first_epoch, tmp_path / "part")
    again = make_cfg(base + [f"resume={tmp_path / 'part' / 'checkpoints' / 'last.ckpt'}"])
    again.paths.output_dir = str(tmp_path / "part")
    resumed = run(again)
    assert resumed["generator_steps"] == full["generator_steps"] == 2
    assert_same_weights(full["last_checkpoint"], resumed["last_checkpoint"])
    blob = torch.load(resumed["last_checkpoint"], map_location="cpu", weights_only=False)
    assert blob["optimizer_states"] and "rng" in blob["gan_zoo"] and blob["gan_zoo"]["d_steps"] == 12


def _train(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'tests'}{os.pathsep}{ROOT}",
        "WANDB_MODE": "disabled",
        "GAN_ZOO_CACHE": str(cwd / "c"),
    }
    return subprocess.run(
        [sys.executable, "-m", "gan_zoo.cli", "train", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_to_the_same_weights(tmp_path):
    args = tiny_overrides("wgan_gp_ring8") + ["trainer.limit_train_batches=6", "trainer.max_epochs=3"]
    ref = _train(args + ["run_id=ref"], tmp_path)
    assert ref.returncode == 0, ref.stdout + ref.stderr
    killer = [
        "+callbacks.killer._target_=helpers.SigkillAfterEpoch",
        "+callbacks.killer.epoch=1",
        f"+callbacks.killer.once_file={tmp_path / 'killed'}",
    ]
    killed = _train(args + ["run_id=victim", *killer], tmp_path)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    run_dir = tmp_path / "outputs" / "train" / "wgan_gp_ring8"
    assert (run_dir / "victim" / "checkpoints" / "last.ckpt").is_file()
    assert not list((run_dir / "victim" / "checkpoints").glob(".*tmp*"))  # no half-written leftovers
    # the same command line (a run's config must not change between segments): resume=auto picks it up
    again = _train(args + ["run_id=victim", *killer], tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming from" in again.stdout + again.stderr
    assert_same_weights(
        str(run_dir / "ref" / "checkpoints" / "last.ckpt"), str(run_dir / "victim" / "checkpoints" / "last.ckpt")
    )


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    from gan_zoo.utils.io import atomic_torch_save

    path = tmp_path / "last.ckpt"
    atomic_torch_save({"v": 1}, path)

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        atomic_torch_save({"v": 2}, path)
    monkeypatch.undo()
    assert torch.load(path)["v"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # the temporary file is cleaned up
