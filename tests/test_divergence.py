"""A loss that becomes NaN stops the run with a clear error and leaves the last checkpoint intact."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_overrides

ROOT = Path(__file__).parents[1]


@pytest.mark.slow  # two trainings as real commands; DivergenceError itself is tested in-process
def test_nan_loss_stops_and_keeps_the_last_checkpoint(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
        "WANDB_MODE": "disabled",
        "GAN_ZOO_CACHE": str(tmp_path),
    }  # this checkout's gan_zoo, and helpers.nan_loss
    args = [sys.executable, "-m", "gan_zoo.cli", "train", *tiny_overrides("wgan_gp_ring8"), "run_id=r"]
    first = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    last = tmp_path / "outputs" / "train" / "wgan_gp_ring8" / "r" / "checkpoints" / "last.ckpt"
    digest = hashlib.sha256(last.read_bytes()).hexdigest()
    # the same run, continued for another epoch with a loss that turns NaN
    bad = subprocess.run(
        [*args, "trainer.max_epochs=2", "loss.d_loss._target_=helpers.nan_loss"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 3, bad.stdout[-2000:] + bad.stderr[-2000:]
    assert "the critic loss became nan" in bad.stdout and "last checkpoint is intact" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr
    assert hashlib.sha256(last.read_bytes()).hexdigest() == digest
