"""`gan-zoo analyse` and sampling with truncation: latent maths with known answers, each mode's outputs, steering
leaves the generator untouched, and the modes a checkpoint does not support say why."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cheap_runs import run_cli

from gan_zoo.analyse import analyse, slerp, steer
from gan_zoo.build import load_checkpoint_gan
from gan_zoo.errors import ConfigError


def test_slerp_endpoints_norm_and_midpoint():
    torch.manual_seed(0)
    z0, z1 = torch.randn(4, 16), torch.randn(4, 16)
    path = slerp(z0, z1, torch.linspace(0, 1, 5))
    assert torch.allclose(path[:, 0], z0, atol=1e-5) and torch.allclose(path[:, -1], z1, atol=1e-5)
    n0, n1 = z0.norm(dim=1), z1.norm(dim=1)
    assert torch.allclose(path[:, 2].norm(dim=1), (n0 + n1) / 2, atol=1e-4)  # the norm moves linearly
    e0, e1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    mid = slerp(e0, e1, torch.tensor([0.5]))[0, 0]
    assert torch.allclose(mid, torch.tensor([2**-0.5, 2**-0.5]), atol=1e-6)  # on the circle, not the chord
    same = slerp(e0, e0 * 3, torch.tensor([0.5]))[0, 0]  # parallel vectors: no NaN, the norm in between
    assert torch.allclose(same, torch.tensor([2.0, 0.0]), atol=1e-5)


def test_truncated_noise_stays_within_the_threshold(cgan_run):
    gan, _ = load_checkpoint_gan(cgan_run["last_checkpoint"])
    gan.set_truncation(0.5)
    z = gan.eval_noise(2000, torch.Generator().manual_seed(0))
    assert z.abs().max() <= 0.5 and z.std() < 0.35  # resampled, not clipped: no pile-up at +-0.5
    assert (z.abs() > 0.49).float().mean() < 0.05


def test_sample_with_truncation(cgan_run, make_cfg, tmp_path):
    from gan_zoo.sample import sample_to_npz

    cfg = make_cfg(
        [f"checkpoint={cgan_run['run_dir']}", "num=20", f"out={tmp_path}/s.npz", "truncation=0.5"], config_name="sample"
    )
    sample_to_npz(cfg)
    z = np.load(tmp_path / "s.npz")
    assert z["images"].shape[0] == 20 and z["labels"].shape == (20,)
    with pytest.raises(ConfigError, match="truncation must be > 0"):
        sample_to_npz(
            make_cfg(
                [f"checkpoint={cgan_run['run_dir']}", f"out={tmp_path}/t.npz", "truncation=-1"], config_name="sample"
            )
        )


def test_psi_on_a_game_that_truncates_z_exits_2_naming_truncation(cgan_run, capsys, tmp_path):
    out = tmp_path / "p.npz"
    rc, text = run_cli(capsys, "sample", f"checkpoint={cgan_run['run_dir']}", f"out={out}", "psi=0.5")
    assert rc == 2 and "use truncation=" in text and not out.exists()
    rc, text = run_cli(
        capsys, "analyse", "truncation", f"checkpoint={cgan_run['run_dir']}", f"out={tmp_path}/a", "psis=[0.5]"
    )
    assert rc == 2 and "use thresholds=" in text


def _analyse(make_cfg, mode: str, run_dir: str, out: Path, *extra: str) -> dict:
    return analyse(make_cfg([f"mode={mode}", f"checkpoint={run_dir}", f"out={out}", *extra], config_name="analyse"))


def test_interpolate_and_label_sweep(cgan_run, make_cfg, tmp_path):
    s = _analyse(make_cfg, "interpolate", cgan_run["run_dir"], tmp_path / "i", "rows=3", "steps=5")
    z = np.load(tmp_path / "i" / "interpolate_z.npz")
    assert z["images"].shape[0] == 15 and (tmp_path / "i" / "interpolate_z.png").is_file()
    assert json.loads((tmp_path / "i" / "summary.json").read_text())["mode"] == "interpolate" and s["rows"] == 3
    _analyse(make_cfg, "label-sweep", cgan_run["run_dir"], tmp_path / "l", "rows=2")
    z = np.load(tmp_path / "l" / "label_sweep.npz")
    assert z["labels"].tolist() == list(range(10)) * 2


def test_truncation_mode_writes_the_tradeoff(cgan_run, make_cfg, tmp_path):
    s = _analyse(make_cfg, "truncation", cgan_run["run_dir"], tmp_path / "t", "thresholds=[0.5,2.0]", "num=100")
    with open(tmp_path / "t" / "truncation.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["threshold"]) for r in rows] == [0.5, 2.0] and {"fid", "precision", "recall"} <= set(rows[0])
    assert (tmp_path / "t" / "truncation.png").is_file() and s["num_samples_per_value"] == 100


@pytest.mark.slow  # trains the independent judge: 15 epochs of per-image augmentation
def test_steer_moves_z_but_never_the_generator(cgan_run, make_cfg, tmp_path):
    cfg = make_cfg(
        ["mode=steer", f"checkpoint={cgan_run['run_dir']}", f"out={tmp_path}", "target=3", "num=16", "iterations=5"],
        config_name="analyse",
    )
    gan, info = load_checkpoint_gan(cgan_run["last_checkpoint"])
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    result = steer(gan, info, cfg, tmp_path)
    after = gan.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.requires_grad for p in gan.generator.parameters())  # flags restored for training
    z = np.load(tmp_path / "steer.npz")
    assert z["images"].shape[0] == 16 and set(z["labels"].tolist()) == {3}
    with open(tmp_path / "steer_trace.csv") as f:
        assert len(list(csv.reader(f))) == 1 + 6  # header + iterations 0..5
    assert 0.0 <= result["target_share_end"] <= 1.0 and "independent_judge" in result


def test_modes_that_do_not_fit_say_why(cgan_run, make_cfg, tmp_path):
    with pytest.raises(ConfigError, match="InfoGAN"):
        _analyse(make_cfg, "traverse", cgan_run["run_dir"], tmp_path)
    with pytest.raises(ConfigError, match="mixing needs a style-based model"):
        _analyse(make_cfg, "mixing", cgan_run["run_dir"], tmp_path)


def test_augment_writes_accuracy_against_p_real(cgan_run, make_cfg, tmp_path):
    s = _analyse(make_cfg, "augment", cgan_run["run_dir"], tmp_path, "p_steps=2", "seeds=2", "epochs=1")
    with open(tmp_path / "augment.csv") as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("p_real,accuracy,") and len(lines) == 3
    rows = s["values"]
    assert [r["p_real"] for r in rows] == [0.0, 1.0] and all(
        r["ci95_low"] <= r["accuracy"] <= r["ci95_high"] for r in rows
    )
    assert rows[1]["accuracy"] > 0.5  # real data alone: a working classifier
    assert (tmp_path / "augment.png").is_file()


def test_analyse_command_line_takes_the_mode_as_first_word(cgan_run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [f"checkpoint={cgan_run['run_dir']}", f"out={tmp_path}/a", "rows=2", "steps=3"]
    rc, out = run_cli(capsys, "analyse", "interpolate", *args)
    assert rc == 0, out
    assert (tmp_path / "a" / "interpolate_z.png").is_file()
    rc, out = run_cli(capsys, "analyse", "wobble", f"checkpoint={cgan_run['run_dir']}", f"out={tmp_path}/b")
    assert rc == 2 and "interpolate" in out
