"""Results as data: the generated tables agree with the record files, and experiments/ holds records only."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gan_zoo import records

ROOT = Path(__file__).resolve().parents[1]
MAX_EXPERIMENTS_BYTES = 3_000_000


def _copy_repo_records(dst: Path) -> Path:
    """README.md, docs/ and experiments/ of this checkout, copied under dst."""
    shutil.copy(ROOT / "README.md", dst / "README.md")
    shutil.copytree(ROOT / "docs", dst / "docs")
    shutil.copytree(ROOT / "experiments", dst / "experiments")
    return dst


def _tracked_experiment_files() -> list[Path]:
    """The files under experiments/ that git tracks (every file there outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "experiments"], capture_output=True, text=True, check=True, timeout=30
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        out = []
    if out:
        return [ROOT / f for f in out if (ROOT / f).is_file()]
    return [p for p in (ROOT / "experiments").rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_committed_tables_are_current() -> None:
    assert records.main(["--check", "--root", str(ROOT)]) == 0


def test_a_changed_record_makes_the_check_fail_until_the_tables_are_rebuilt(tmp_path, capsys) -> None:
    root = _copy_repo_records(tmp_path)
    primary = next(r for r in records.load_records(root) if r["role"] == "primary" and r["headline"])
    path = root / primary["_path"]
    rec = json.loads(path.read_text())
    metric = next(iter(rec["headline"].values()))
    rec["metrics"][metric] = 123456.0
    path.write_text(json.dumps(rec))
    assert records.main(["--check", "--root", str(root)]) == 1
    assert "README.md" in capsys.readouterr().err
    assert records.main(["--root", str(root)]) == 0
    assert records.main(["--check", "--root", str(root)]) == 0
    row = next(line for line in (root / "README.md").read_text().splitlines() if primary["_path"] in line)
    assert "123,456" in row


def test_a_malformed_record_is_refused_with_its_name(tmp_path, capsys) -> None:
    root = _copy_repo_records(tmp_path)
    path = sorted((root / "experiments").glob("*/*.json"))[0]
    rec = json.loads(path.read_text())
    del rec["metrics"]
    path.write_text(json.dumps(rec))
    assert records.main(["--check", "--root", str(root)]) == 2
    assert path.name in capsys.readouterr().err


def _fake_run(run_dir: Path, fid: float) -> None:
    """A finished run's files as `gan-zoo train` writes them: summary, metrics CSV, protocol, a sample grid."""
    from PIL import Image

    (run_dir / "csv").mkdir(parents=True)
    (run_dir / "samples").mkdir()
    Image.new("RGB", (8, 8), (40, 40, 40)).save(run_dir / "samples" / "epoch_0001.png")
    (run_dir / "csv" / "metrics.csv").write_text(
        f"epoch,step,val/fid_domain_1k,train/g_loss\n0,9,{fid + 1},\n0,9,,0.7\n1,19,{fid},\n"
    )
    (run_dir / "metrics_protocol.json").write_text(
        json.dumps({"metric": "val/fid_domain_1k", "num_fake": 10, "code_version": "abc1234"})
    )
    (run_dir / "summary.json").write_text(
        json.dumps(
            {
                "samples": str(run_dir / "samples" / "epoch_0001.png"),
                "generator_steps": 20,
                "final_metrics": {"val/fid_domain_1k": fid},
            }
        )
    )


def test_records_add_writes_the_record_and_the_tables(tmp_path) -> None:
    root = tmp_path / "repo"
    (root / "experiments").mkdir(parents=True)
    (root / "README.md").write_text("# x\n\n<!-- results:begin experiments -->\n<!-- results:end -->\n")
    first, second = tmp_path / "outputs/train/toy/r1", tmp_path / "outputs/train/toy/r2"
    _fake_run(first, 3.5)
    _fake_run(second, 2.25)
    assert (
        records.main(
            [
                "add",
                str(first),
                "--command",
                "gan-zoo train experiment=toy",
                "--wall",
                "12 s",
                "--bar",
                "a toy bar",
                "--root",
                str(root),
            ]
        )
        == 0
    )
    rec = json.loads((root / "experiments/toy/r1.json").read_text())
    assert rec["metrics"] == {"val/fid_domain_1k": 3.5} and rec["role"] == "primary" and rec["wall_s"] == 12.0
    assert rec["commit"] == "abc1234" and [v["val/fid_domain_1k"] for v in rec["validations"]] == [4.5, 3.5]
    assert (root / "experiments/toy" / rec["picture"]).is_file()
    assert "[r1](experiments/toy/r1.json)" in (root / "README.md").read_text()

    assert (
        records.main(
            [
                "add",
                str(second),
                "--command",
                "gan-zoo train experiment=toy",
                "--wall",
                "1m05s",
                "--primary",
                "--root",
                str(root),
            ]
        )
        == 0
    )
    old = json.loads((root / "experiments/toy/r1.json").read_text())
    assert (old["role"], old["superseded_by"]) == ("superseded", "r2")
    table = (root / "README.md").read_text()
    assert "[r2](experiments/toy/r2.json)" in table and "r1.json" not in table and "a toy bar" in table

    assert (
        records.main(
            [
                "add",
                str(first),
                "--command",
                "gan-zoo train",
                "--wall",
                "3 s",
                "--experiment",
                "other",
                "--run-id",
                "again",
                "--root",
                str(root),
            ]
        )
        == 0
    )
    assert json.loads((root / "experiments/other/again.json").read_text())["role"] == "primary"


def test_records_add_names_a_folder_without_a_finished_run(tmp_path, capsys) -> None:
    (tmp_path / "experiments").mkdir()
    assert (
        records.main(["add", str(tmp_path / "nope"), "--command", "c", "--wall", "1 s", "--root", str(tmp_path)]) == 2
    )
    assert "summary.json" in capsys.readouterr().err


def test_experiments_hold_records_within_budget() -> None:
    files = _tracked_experiment_files()
    assert files, "experiments/ is empty"
    total = sum(f.stat().st_size for f in files)
    assert total <= MAX_EXPERIMENTS_BYTES, f"tracked files under experiments/ total {total:,} bytes"
    assert not [f for f in files if f.suffix in (".sh", ".log")], "experiments/ holds no shell scripts or logs"


@pytest.mark.parametrize("script", sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "experiments").rglob("*.py")))
def test_experiment_scripts_use_gan_zoo_and_no_other_script(script: str) -> None:
    tree = ast.parse((ROOT / script).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert "gan_zoo" in imported, f"{script} does not import gan_zoo"
    scripts = {p.stem for p in (ROOT / "experiments").rglob("*.py")}
    assert not imported & scripts, f"{script} imports another script: {imported & scripts}"


def test_a_table_naming_a_missing_evaluation_is_refused(tmp_path, capsys) -> None:
    root = _copy_repo_records(tmp_path)
    (root / "docs" / "extra.md").write_text("<!-- results:begin draws dcgan_mnist/nope:x5 -->\n<!-- results:end -->\n")
    assert records.main(["--root", str(root)]) == 2
    assert "dcgan_mnist/nope:x5" in capsys.readouterr().err


def test_a_steps_table_naming_a_step_without_a_validation_is_refused(tmp_path, capsys) -> None:
    root = _copy_repo_records(tmp_path)
    (root / "docs" / "extra.md").write_text(
        "<!-- results:begin steps wgan_gp_grid25/long1:val/modes_2500:1000,1234 -->\n<!-- results:end -->\n"
    )
    assert records.main(["--root", str(root)]) == 2
    assert "1234" in capsys.readouterr().err
