"""`gan-zoo report`: grouping by config, mean and 95% CI over seeds, tables and plots."""

from __future__ import annotations

import csv
import json
import math

import pytest
import yaml

from gan_zoo.errors import ConfigError
from gan_zoo.report import main, make_report, mean_ci

PROTO = {
    "extractor": {"name": "domain-smallcnn-v1", "sha256": "ab" * 32},
    "num_fake": 1000,
    "num_real": "whole split",
    "reference": "mnist val split",
    "image_size": 32,
    "resize": "pad",
}


def fake_run(root, job, overrides, seed, finals, protocol=PROTO, finished=True):
    """A run folder as `gan-zoo train -m` leaves it: .hydra, csv/metrics.csv, metrics_protocol.json."""
    d = root / str(job)
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"seed": seed}))
    (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides + [f"seed={seed}", "run_id=sweep"]))
    (d / "csv").mkdir()
    with open(d / "csv" / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "epoch",
                "step",
                "train/g_loss",
                "val/fid_domain_1k",
                "val/precision_domain_1k",
                "val/recall_domain_1k",
                "val/g_step",
            ]
        )
        w.writerow([0, 10, 1.0, "", "", "", ""])
        for i, (fid, p, r) in enumerate(finals):
            w.writerow([i, 10 * i, "", fid, p, r, 100 * (i + 1)])
    (d / "metrics_protocol.json").write_text(json.dumps(protocol))
    if finished:
        (d / "summary.json").write_text(json.dumps({"final_metrics": {}}))
    return d


def test_mean_ci_matches_student_t():
    m, sd, h = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and sd == 1.0 and h == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert math.isnan(mean_ci([5.0])[2]) and mean_ci([5.0])[0] == 5.0


def test_report_groups_seeds_and_writes_tables_and_plots(tmp_path):
    root = tmp_path / "multirun"
    job = 0
    for exp, base in (("experiment=a", 10.0), ("experiment=b", 20.0)):
        for seed in range(3):
            fid = base + seed  # a: 10, 11, 12 -> mean 11, sd 1
            fake_run(root, job, [exp, "trainer.max_epochs=5"], seed, [(100.0, 0.1, 0.1), (fid, 0.5 + seed / 10, 0.6)])
            job += 1
    res = make_report(root)
    assert res["configs"] == ["experiment=a", "experiment=b"] and res["runs"] == 6  # shared override dropped
    a = res["table"]["experiment=a | val/fid_domain_1k"]
    assert a["n"] == 3 and a["mean"] == pytest.approx(11.0) and a["ci95"] == pytest.approx(4.302653 / math.sqrt(3))
    assert sorted(a["seeds"]) == [0, 1, 2]
    md = (tmp_path / "multirun" / "report" / "report.md").read_text()
    assert "| experiment=a | 3 | 11 ± 2.5 |" in md and "WARNING" not in md
    rows = list(csv.DictReader(open(res["csv"])))
    row = next(r for r in rows if r["config"] == "experiment=b" and r["metric"] == "val/fid_domain_1k")
    assert float(row["mean"]) == pytest.approx(21.0) and float(row["ci95_low"]) == pytest.approx(21 - 2.4842, abs=1e-3)
    names = {p.rsplit("/", 1)[1] for p in res["plots"]}
    assert {"fid_domain_1k_vs_step.png", "precision_recall.png"} <= names


def test_report_flags_mixed_protocols_and_bad_input(tmp_path, capsys):
    root = tmp_path / "runs"
    fake_run(root, 0, ["experiment=a"], 0, [(5.0, 0.5, 0.5)])
    fake_run(root, 1, ["experiment=b"], 0, [(5.0, 0.5, 0.5)], protocol={**PROTO, "num_fake": 10000})
    md = open(make_report(root)["markdown"]).read()
    assert "WARNING: the runs were evaluated under different protocols" in md
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no runs under"):
        make_report(tmp_path / "empty")
    assert main([str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="not logged by these runs"):
        make_report(root, metrics=["val/fid_typo"])


def test_unfinished_and_diverged_runs_are_not_silently_averaged(tmp_path):
    root = tmp_path / "runs"
    for seed in range(3):
        fid = float("nan") if seed == 2 else 10.0 + seed  # seed 2 diverged
        fake_run(root, seed, ["experiment=a"], seed, [(fid, 0.5, 0.5)])
    fake_run(root, 3, ["experiment=a"], 3, [(99.0, 0.5, 0.5)], finished=False)  # killed early
    res = make_report(root)
    assert res["unfinished"] == 1 and res["runs"] == 3
    md = open(res["markdown"]).read()
    assert "10.5 ± 6.4 (n=2/3)" in md and "Left out: 1 unfinished run(s)" in md
    with_all = make_report(root, out=tmp_path / "all", include_unfinished=True)
    assert with_all["runs"] == 4 and "(UNFINISHED)" in open(with_all["markdown"]).read()
