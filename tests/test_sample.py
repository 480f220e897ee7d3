"""`gan-zoo sample` writes the .npz contract of docs/contracts.md and a picture."""

import numpy as np
import pytest
from omegaconf import OmegaConf

from gan_zoo.errors import ConfigError
from gan_zoo.sample import sample_to_npz


def sample_cfg(**kw):
    base = {
        "num": 12,
        "out": "s.npz",
        "label": None,
        "code": None,
        "seed": 0,
        "ema": True,
        "batch_size": 5,
        "device": "cpu",
    }
    return OmegaConf.create({**base, **kw})


def test_conditional_images_balanced_and_fixed_label(cgan_run, tmp_path):
    out = tmp_path / "a.npz"
    summary = sample_to_npz(sample_cfg(checkpoint=cgan_run["run_dir"], out=str(out)))
    d = np.load(out)
    assert set(d.files) == {"images", "labels", "latents"}
    assert d["latents"].dtype == np.float32 and d["latents"].shape[0] == 12  # the z read: an exported module's input
    assert d["images"].dtype == np.uint8 and d["images"].shape == (12, 1, 32, 32)
    assert d["labels"].dtype == np.int64 and d["labels"].tolist() == [i % 10 for i in range(12)]
    assert summary["sampled_from"] == "generator_ema" and out.with_suffix(".png").is_file()
    out3 = tmp_path / "threes.npz"
    sample_to_npz(sample_cfg(checkpoint=cgan_run["last_checkpoint"], out=str(out3), label=3))
    assert (np.load(out3)["labels"] == 3).all()
    # same seed, same samples; batch size does not change them (eval mode)
    again = tmp_path / "b.npz"
    sample_to_npz(sample_cfg(checkpoint=cgan_run["run_dir"], out=str(again), batch_size=12))
    assert np.array_equal(np.load(again)["images"], d["images"])


def test_bad_sample_requests(cgan_run, tmp_path):
    with pytest.raises(ConfigError, match=r"label must be in \[0, 9\]"):
        sample_to_npz(sample_cfg(checkpoint=cgan_run["run_dir"], out=str(tmp_path / "x.npz"), label=12))
    with pytest.raises(ConfigError, match="no such file"):
        sample_to_npz(sample_cfg(checkpoint=str(tmp_path / "nope.ckpt")))
    with pytest.raises(ConfigError, match="noise_mode= is for style-based models"):
        sample_to_npz(sample_cfg(checkpoint=cgan_run["run_dir"], out=str(tmp_path / "x.npz"), noise_mode="const"))


def test_vector_samples(tiny_run, tmp_path):
    r = tiny_run("wgan_gp_ring8")
    out = tmp_path / "pts.npz"
    sample_to_npz(sample_cfg(checkpoint=r["last_checkpoint"], out=str(out), num=100))
    d = np.load(out)
    assert set(d.files) == {"samples", "latents"}
    assert d["samples"].dtype == np.float32 and d["samples"].shape == (100, 2)
    with pytest.raises(ConfigError, match="unconditional"):
        sample_to_npz(sample_cfg(checkpoint=r["last_checkpoint"], out=str(tmp_path / "l.npz"), label=1))


def test_sample_command_end_to_end(cgan_run, tmp_path, capsys, monkeypatch):
    from cheap_runs import run_cli

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "cli.npz"
    rc, text = run_cli(capsys, "sample", f"checkpoint={cgan_run['run_dir']}", "num=20", f"out={out}", "label=7")
    assert rc == 0, text
    d = np.load(out)
    assert d["images"].shape == (20, 1, 32, 32) and (d["labels"] == 7).all()
    assert not (tmp_path / "outputs").exists()  # sampling leaves no Hydra run folders behind
    rc, text = run_cli(capsys, "sample", "num=3")
    assert rc == 2 and "checkpoint" in text


def test_a_file_that_is_not_a_checkpoint(tmp_path):
    bogus = tmp_path / "s.npz"
    np.savez(bogus, images=np.zeros((2, 1, 4, 4), np.uint8))
    with pytest.raises(ConfigError, match=r"checkpoint=.*s\.npz cannot be read .* written by gan-zoo train"):
        sample_to_npz(sample_cfg(checkpoint=str(bogus)))


def test_infogan_writes_balanced_codes_and_takes_code_k(tiny_run, tmp_path):
    r = tiny_run("infogan_mnist")
    out = tmp_path / "info.npz"
    sample_to_npz(sample_cfg(checkpoint=r["run_dir"], out=str(out), num=30, code=None))
    d = np.load(out)
    assert {"images", "codes"} <= set(d.files) and "labels" not in d.files
    assert d["codes"].dtype == np.int64 and d["codes"].tolist() == [i % 10 for i in range(30)]
    assert d["images"].dtype == np.uint8 and d["images"].shape == (30, 1, 32, 32)
    sample_to_npz(sample_cfg(checkpoint=r["run_dir"], out=str(out), num=5, code=3, overwrite=True))
    assert (np.load(out)["codes"] == 3).all()
    with pytest.raises(ConfigError, match="use code=K"):
        sample_to_npz(sample_cfg(checkpoint=r["run_dir"], out=str(tmp_path / "l.npz"), num=5, label=3))


def test_vae_samples_like_a_generator(tiny_run, tmp_path):
    r = tiny_run("vae_mnist")
    out = tmp_path / "vae.npz"
    sample_to_npz(sample_cfg(checkpoint=r["last_checkpoint"], out=str(out), num=7))
    d = np.load(out)
    assert set(d.files) == {"images", "latents"} and d["images"].shape == (7, 1, 32, 32)
