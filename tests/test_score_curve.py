"""experiments/cifar10/score_curve.py: which snapshots a scoring pass takes, and how a scored curve enters a record.
The Inception scoring itself is `gan-zoo evaluate` (tests/test_evaluate.py); here it is replaced by a known value."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "experiments" / "cifar10" / "score_curve.py"


@pytest.fixture(scope="module")
def sc():
    spec = importlib.util.spec_from_file_location("score_curve", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(out: Path, **kw) -> argparse.Namespace:
    base = dict(out=str(out), label="ours", every=0, at=None, num_fake=5000, num_real=10000, data_root="d")
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.parametrize(
    "kw,expected",
    [
        ({}, ["wall-000300s", "wall-000900s", "wall-001800s", "final"]),  # 2,680 s: within a minute of the end
        ({"every": 15}, ["wall-000900s", "wall-001800s", "final"]),
        ({"at": [15]}, ["wall-000900s", "final"]),
        ({"every": 100000}, ["final"]),
    ],
)
def test_a_pass_scores_the_chosen_snapshots_once_and_the_final_point(sc, monkeypatch, tmp_path, kw, expected):
    points = [(s, f"wall-{s:06d}s", Path(f"{s}.ckpt")) for s in (300, 900, 1800, 2680)]
    points.append((2700.0, "final", Path("last.ckpt")))
    scored = []
    monkeypatch.setattr(sc, "fid_of", lambda path, *a: scored.append(path) or 10.0 + len(scored))
    out = tmp_path / "curve.json"
    sc.score(points, True, _args(out, **kw))
    assert [p["tag"] for p in json.loads(out.read_text())["points"]] == expected
    sc.score(points, True, _args(out, **kw))  # a rerun scores nothing it already has
    assert len(scored) == len(expected)


def test_attach_puts_the_final_point_the_curve_and_the_peer_ratio_into_the_record(sc, tmp_path):
    protocol = ["extractor=inception", "num_fake=5000", "num_real=10000"]
    ours = {
        "label": "ours",
        "protocol": protocol,
        "points": [
            {"tag": "wall-000900s", "minutes": 15.0, "fid": 90.0},
            {"tag": "final", "minutes": 45.0, "fid": 50.0},
        ],
    }
    peer = {"label": "the peer", "protocol": protocol, "points": [{"tag": "final", "minutes": 45.0, "fid": 200.0}]}
    record = {"metrics": {"val/fid_domain_1k": 3.5}, "headline": {"FID": "val/fid_domain_1k"}}
    for name, blob in (("ours.json", ours), ("peer_x.json", peer), ("rec.json", record)):
        (tmp_path / name).write_text(json.dumps(blob))
    sc.attach(str(tmp_path / "rec.json"), str(tmp_path / "ours.json"), str(tmp_path / "peer_x.json"))
    rec = json.loads((tmp_path / "rec.json").read_text())
    assert rec["metrics"]["evaluate/inception_5000/fid"] == 50.0
    assert rec["metrics"]["peer/peer_x/fid"] == 200.0 and rec["metrics"]["peer/peer_x/ratio"] == 0.25
    assert list(rec["headline"].items()) == [
        ("Inception FID (5k vs 10k train)", "evaluate/inception_5000/fid"),
        ("domain FID (1k)", "val/fid_domain_1k"),
        ("ratio to the peer", "peer/peer_x/ratio"),
    ]
    assert [p["fid"] for p in rec["inception_curve"]["points"]] == [90.0, 50.0]
    assert rec["inception_curve"]["file"] == "ours.json"


def test_attach_without_a_final_point_refuses(sc, tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"label": "x", "protocol": ["num_fake=5000"], "points": []}))
    (tmp_path / "r.json").write_text(json.dumps({"metrics": {}, "headline": {}}))
    with pytest.raises(SystemExit, match="no final point"):
        sc.attach(str(tmp_path / "r.json"), str(tmp_path / "c.json"), None)
