"""Recorded experiments as data: `experiments/<experiment>/<run_id>.json`, and the results tables made from them.

    gan-zoo records                 # rewrite every generated results table from the record files
    gan-zoo records --check         # exit 1 (naming the files) when a generated table disagrees with the records
    gan-zoo records add outputs/train/dcgan_mnist/<run_id> --command "gan-zoo train" --wall "153 s" [--primary]

A record file holds one run's numbers and how they were made (schema: experiments/README.md, "Record files").
A table lives in a Markdown file between `<!-- results:begin KIND [ARG] -->` and `<!-- results:end -->`. KIND:
`headline` (one row per experiment: its primary record's first headline metric), `experiments` (the same rows
with every headline metric), `runs [EXPERIMENT]` (every record that is not superseded),
`metrics EXPERIMENT/RUN,...` (every metric of the named records side by side),
`steps EXPERIMENT/RUN:METRIC,...[:STEP,...]` (a record's validations over generator steps) or
`draws EXPERIMENT/RUN:EVALUATION,...` (mean ± std of repeated `gan-zoo evaluate` draws kept in the records).
Superseded records stay as files (their numbers are cited in the experiments' READMEs) but leave the tables.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gan_zoo.errors import GanZooError

ROLES = ("primary", "supporting", "superseded")
REQUIRED = {
    "experiment": str,
    "run_id": str,
    "role": str,
    "command": str,
    "machine": str,
    "wall": str,
    "date": str,
    "metrics": dict,
    "headline": dict,
}
# Markdown files that may hold generated tables, relative to the repository root.
TABLE_FILES = ("README.md", "docs/*.md", "experiments/README.md", "experiments/*/README.md")
MARKER = re.compile(r"<!-- results:begin (\w+)(?: (\S+))? -->\n(.*?)<!-- results:end -->", re.S)
# Metrics shown by default when a new experiment's first record names no headline.
DEFAULT_HEADLINE = {
    "FID": "val/fid_domain_1k",
    "classes": "val/classes_covered",
    "precision": "val/precision_domain_1k",
    "recall": "val/recall_domain_1k",
    "modes": "val/modes_2500",
    "high quality": "val/hq_fraction_2500",
    "L1": "val/l1",
    "L1 / better baseline": "val/l1_vs_baseline",
}


class RecordError(GanZooError):
    """A record file is malformed or a table cannot be generated; the message names the file and the fix."""


def load_records(root: Path) -> list[dict[str, Any]]:
    """Every `experiments/*/*.json` record under root, checked against the schema, sorted by experiment and run."""
    out = []
    for path in sorted((root / "experiments").glob("*/*.json")):
        try:
            rec = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise RecordError(f"{path}: not valid JSON ({e}); fix the file or restore it from git") from None
        for key, typ in REQUIRED.items():
            if not isinstance(rec.get(key), typ):
                raise RecordError(
                    f"{path}: '{key}' must be a {typ.__name__}; see experiments/README.md, 'Record files'"
                )
        if (rec["experiment"], rec["run_id"]) != (path.parent.name, path.stem):
            raise RecordError(
                f"{path}: experiment/run_id say {rec['experiment']}/{rec['run_id']}; "
                f"name the file experiments/<experiment>/<run_id>.json"
            )
        if rec["role"] not in ROLES:
            raise RecordError(f"{path}: role '{rec['role']}' is not one of {', '.join(ROLES)}")
        missing = [m for m in rec["headline"].values() if m not in rec["metrics"]]
        if missing:
            raise RecordError(f"{path}: headline names metrics the record lacks: {', '.join(missing)}")
        pic = rec.get("picture")
        if pic and not (path.parent / pic).is_file():
            raise RecordError(f"{path}: picture '{pic}' is missing; set \"picture\": null or restore the file")
        rec["_path"] = path.relative_to(root).as_posix()
        out.append(rec)
    by_exp: dict[str, list[str]] = {}
    for rec in out:
        if rec["role"] == "primary":
            by_exp.setdefault(rec["experiment"], []).append(rec["run_id"])
    for exp, runs in by_exp.items():
        if len(runs) > 1:
            raise RecordError(
                f"experiments/{exp}: {len(runs)} primary records ({', '.join(runs)}); keep one "
                f"'primary', make the others 'supporting' or 'superseded'"
            )
    return out


def fmt(value: float) -> str:
    """A metric value as the tables print it: integers plainly, others with three significant digits."""
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def result_text(rec: dict[str, Any], first_only: bool = False) -> str:
    """'**met**: FID 1.68, classes 10; 1,860 steps, 153 s' from a record's headline metrics ('**met**: FID 1.68')."""
    items = list(rec["headline"].items())[:1] if first_only else rec["headline"].items()
    parts = ", ".join(f"{label} {fmt(rec['metrics'][key])}" for label, key in items)
    met = rec.get("bar_met")
    text = f"**{met}**: {parts}" if met else parts
    if first_only:
        return text
    extra = []
    if rec.get("generator_steps"):
        extra.append(f"{rec['generator_steps']:,} steps")
    if rec.get("wall_s"):
        extra.append(f"{rec['wall_s']:,.0f} s")
    return text + ("; " + ", ".join(extra) if extra else "")


def _link(rec: dict[str, Any], md_file: str) -> str:
    """A Markdown link to the record, relative to the file the table is in."""
    rel = os.path.relpath(rec["_path"], os.path.dirname(md_file) or ".")
    return f"[{rec['run_id']}]({rel})"


def _cell(text: Any) -> str:
    return str(text if text is not None else "-").replace("|", "\\|").replace("\n", " ")


def experiments_table(records: list[dict[str, Any]], md_file: str, first_only: bool = False) -> str:
    """One row per experiment: its bar and the result of its primary record (only its first headline metric)."""
    lines = ["| experiment | bar / purpose | result | record |", "|---|---|---|---|"]
    for rec in records:
        if rec["role"] == "primary":
            lines.append(
                f"| `{rec['experiment']}` | {_cell(rec.get('bar'))} | {_cell(result_text(rec, first_only))} | "
                f"{_link(rec, md_file)} |"
            )
    return "\n".join(lines)


def _commit(rec: dict[str, Any]) -> str | None:
    """The run's code version, else 'before <the commit that added the record>' for runs that predate it."""
    if rec.get("commit"):
        return rec["commit"]
    return f"before {rec['recorded_in']}" if rec.get("recorded_in") else None


def runs_table(records: list[dict[str, Any]], md_file: str, experiment: str | None = None) -> str:
    """Every record that is not superseded (of one experiment, if given): result, commit, date, machine, wall."""
    lines = ["| experiment | run | role | result | commit | date | wall time |", "|---|---|---|---|---|---|---|"]
    for rec in sorted(records, key=lambda r: (r["experiment"], ROLES.index(r["role"]), r["run_id"])):
        if rec["role"] == "superseded" or (experiment and rec["experiment"] != experiment):
            continue
        lines.append(
            f"| `{rec['experiment']}` | {_link(rec, md_file)} | {rec['role']} | {_cell(result_text(rec))} | "
            f"{_cell(_commit(rec))} | {rec['date']} | {_cell(rec['wall'])} |"
        )
    return "\n".join(lines)


DRAW_METRICS = ("fid", "precision", "recall", "density", "coverage")


def draws_table(records: list[dict[str, Any]], md_file: str, spec: str) -> str:
    """Mean ± std of repeated `gan-zoo evaluate` draws; spec lists EXPERIMENT/RUN:EVALUATION, comma-separated."""
    by_name = {f"{r['experiment']}/{r['run_id']}": r for r in records}
    lines = ["| run | evaluation | " + " | ".join(DRAW_METRICS) + " |", "|---|---|" + "---|" * len(DRAW_METRICS)]
    for item in spec.split(","):
        name, _, key = item.partition(":")
        rec = by_name.get(name)
        ev = (rec or {}).get("evaluations", {}).get(key)
        if ev is None:
            raise RecordError(
                f"{md_file}: table 'draws' names {item}, which no record holds; write "
                f"EXPERIMENT/RUN:EVALUATION with an evaluation of that record's 'evaluations'"
            )
        cells = []
        for m in DRAW_METRICS:
            mean, std = rec["metrics"].get(f"evaluate/{key}/{m}"), (ev.get("std") or {}).get(m)
            cells.append("-" if mean is None else fmt(mean) + (f" ± {std:.2g}" if std else ""))
        lines.append(f"| {_link(rec, md_file)} | {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def metrics_table(records: list[dict[str, Any]], md_file: str, spec: str) -> str:
    """Every metric of the named records (EXPERIMENT/RUN, comma-separated) side by side, one row per metric."""
    by_name = {f"{r['experiment']}/{r['run_id']}": r for r in records}
    chosen = []
    for name in spec.split(","):
        if name not in by_name:
            raise RecordError(
                f"{md_file}: table 'metrics' names {name}, which has no record; write "
                f"EXPERIMENT/RUN for files experiments/EXPERIMENT/RUN.json"
            )
        chosen.append(by_name[name])
    keys = list(dict.fromkeys(k for rec in chosen for k in rec["metrics"]))
    lines = ["| metric | " + " | ".join(_link(r, md_file) for r in chosen) + " |", "|---|" + "---|" * len(chosen)]
    for k in keys:
        cells = [fmt(r["metrics"][k]) if k in r["metrics"] else "-" for r in chosen]
        lines.append(f"| `{k}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def steps_table(records: list[dict[str, Any]], md_file: str, spec: str) -> str:
    """A record's validations over generator steps; spec is EXPERIMENT/RUN:METRIC,...[:STEP,...] (default: all)."""
    name, _, rest = spec.partition(":")
    metrics_part, _, steps_part = rest.partition(":")
    rec = next((r for r in records if f"{r['experiment']}/{r['run_id']}" == name), None)
    metrics = [m for m in metrics_part.split(",") if m]
    if rec is None or not metrics:
        raise RecordError(
            f"{md_file}: table 'steps {spec}' needs EXPERIMENT/RUN:METRIC,...[:STEP,...] naming a "
            f"record and its metrics"
        )
    wanted = {int(x) for x in steps_part.split(",") if x} if steps_part else None
    rows = [v for v in rec.get("validations", []) if "val/g_step" in v]
    if wanted is not None:
        rows = [v for v in rows if int(v["val/g_step"]) in wanted]
        missing = wanted - {int(v["val/g_step"]) for v in rows}
        if missing:
            raise RecordError(
                f"{md_file}: {name} has no validation at generator step(s) "
                f"{', '.join(map(str, sorted(missing)))}; pick steps from its 'validations'"
            )
    lines = [
        f"| generator step ({_link(rec, md_file)}) | " + " | ".join(f"`{m}`" for m in metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for v in rows:
        cells = [fmt(v[m]) if m in v else "-" for m in metrics]
        lines.append(f"| {int(v['val/g_step']):,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(text: str, records: list[dict[str, Any]], md_file: str) -> str:
    """The Markdown text with every generated table between its markers rewritten."""
    experiments = {r["experiment"] for r in records}

    def one(m: re.Match) -> str:
        kind, arg = m.group(1), m.group(2)
        if kind in ("experiments", "headline"):
            table = experiments_table(records, md_file, first_only=kind == "headline")
        elif kind == "metrics":
            table = metrics_table(records, md_file, arg or "")
        elif kind == "steps":
            table = steps_table(records, md_file, arg or "")
        elif kind == "draws":
            table = draws_table(records, md_file, arg or "")
        elif kind == "runs":
            if arg and arg not in experiments:
                raise RecordError(
                    f"{md_file}: table 'runs {arg}' names an experiment with no records under experiments/{arg}/"
                )
            table = runs_table(records, md_file, arg)
        else:
            raise RecordError(
                f"{md_file}: unknown table kind '{kind}'; use 'headline', 'experiments', "
                f"'runs [EXPERIMENT]', 'metrics EXPERIMENT/RUN,...', "
                f"'steps EXPERIMENT/RUN:METRIC,...[:STEP,...]' or 'draws EXPERIMENT/RUN:EVALUATION,...'"
            )
        head = f"<!-- results:begin {kind}{' ' + arg if arg else ''} -->"
        return f"{head}\n{table}\n<!-- results:end -->"

    return MARKER.sub(one, text)


def table_files(root: Path) -> list[Path]:
    """The Markdown files under root that hold at least one generated table."""
    seen: list[Path] = []
    for pattern in TABLE_FILES:
        for path in sorted(root.glob(pattern)):
            if path not in seen and MARKER.search(path.read_text()):
                seen.append(path)
    return seen


def build(root: Path, check: bool = False) -> list[Path]:
    """Regenerate the tables under root; return the files that were (or, with check, would be) changed."""
    records = load_records(root)
    stale = []
    for path in table_files(root):
        old = path.read_text()
        new = render(old, records, path.relative_to(root).as_posix())
        if new != old:
            stale.append(path)
            if not check:
                path.write_text(new)
    return stale


def _validation_rows(metrics_csv: Path) -> list[dict[str, float]]:
    """The rows of Lightning's metrics.csv that hold validation values, as numbers."""
    if not metrics_csv.is_file():
        return []
    with open(metrics_csv) as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        vals = {k: float(v) for k, v in r.items() if k.startswith("val/") and v}
        if vals:
            out.append(({"epoch": int(r["epoch"])} if r.get("epoch") else {}) | vals)
    return out


def _machine() -> str:
    """'x86_64, 2 CPU threads, torch 2.x, no GPU' (or the GPU's name) for the machine this runs on."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}, {gpu}"


def _save_picture(src: Path, dst: Path) -> None:
    """Copy a sample grid as a small PNG: one grey channel when the colour channels agree, else a 256-colour palette."""
    from PIL import Image, ImageChops

    im = Image.open(src).convert("RGB")
    r, g, b = im.split()
    grey = ImageChops.difference(r, g).getbbox() is None and ImageChops.difference(r, b).getbbox() is None
    (im.convert("L") if grey else im.quantize(256)).save(dst, optimize=True)


def add(
    run_dir: Path,
    command: str,
    wall: str,
    root: Path,
    note: str = "",
    bar: str | None = None,
    primary: bool = False,
    experiment: str | None = None,
    run_id: str | None = None,
) -> Path:
    """Write experiments/<experiment>/<run_id>.json (and the final grid) from a finished run's own files."""
    from gan_zoo.utils.io import code_version

    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise RecordError(
            f"{summary_path} not found: record a finished run (its folder holds summary.json), "
            f"e.g. outputs/train/<experiment>/<run_id>"
        )
    summary = json.loads(summary_path.read_text())
    experiment = experiment or run_dir.resolve().parent.name
    run_id = run_id or run_dir.resolve().name
    out_dir = root / "experiments" / experiment
    out_dir.mkdir(parents=True, exist_ok=True)
    records = [r for r in load_records(root) if r["experiment"] == experiment]
    current = next((r for r in records if r["role"] == "primary"), None)
    metrics = {k: float(v) for k, v in summary.get("final_metrics", {}).items()}
    protocol_path = run_dir / "metrics_protocol.json"
    protocol = json.loads(protocol_path.read_text()) if protocol_path.is_file() else None
    headline = dict(current["headline"]) if current else {}
    headline = {k: v for k, v in headline.items() if v in metrics} or {
        k: v for k, v in DEFAULT_HEADLINE.items() if v in metrics
    }
    picture = None
    if summary.get("samples") and Path(summary["samples"]).is_file():
        picture = f"{run_id}_final.png"
        _save_picture(Path(summary["samples"]), out_dir / picture)
    role = "primary" if primary or current is None else "supporting"
    rec = {
        "experiment": experiment,
        "run_id": run_id,
        "role": role,
        "bar": bar if bar is not None else (current or {}).get("bar"),
        "bar_met": None,
        "headline": headline,
        "metrics": metrics,
        "command": command,
        "commit": (protocol or {}).get("code_version") or code_version(),
        "date": dt.datetime.now(dt.timezone.utc).date().isoformat(),
        "machine": _machine(),
        "wall": wall,
        "wall_s": _wall_seconds(wall),
        "generator_steps": summary.get("generator_steps"),
        "picture": picture,
        "notes": note,
        "protocol": protocol,
        "validations": _validation_rows(run_dir / "csv" / "metrics.csv"),
    }
    path = out_dir / f"{run_id}.json"
    path.write_text(json.dumps(rec, indent=1) + "\n")
    if primary and current is not None and current["run_id"] != run_id:
        old_path = root / current["_path"]
        old = json.loads(old_path.read_text())
        old["role"], old["superseded_by"] = "superseded", run_id
        old_path.write_text(json.dumps(old, indent=1) + "\n")
    return path


def _wall_seconds(text: str) -> float | None:
    """Seconds from a wall-time text that starts with '153 s', '2,056 s' or '38m42s'; else None."""
    m = re.match(r"\s*(?:about )?([\d,]+(?:\.\d+)?) ?s\b", text)
    if m:
        return float(m.group(1).replace(",", ""))
    m = re.match(r"\s*(\d+)m(\d+)s", text)
    return 60.0 * int(m.group(1)) + int(m.group(2)) if m else None


def main(argv: Sequence[str] | None = None) -> int:
    """`gan-zoo records [--check]` and `gan-zoo records add RUN_DIR --command ... --wall ...`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "add":
        p = argparse.ArgumentParser(
            prog="gan-zoo records add",
            description="record a finished run as experiments/<experiment>/<run_id>.json, then regenerate the tables",
        )
        p.add_argument("run_dir", type=Path, help="outputs/train/<experiment>/<run_id>")
        p.add_argument("--command", required=True, help="the exact command that made the run")
        p.add_argument("--wall", required=True, help="wall time of the whole command as measured, e.g. '153 s, idle'")
        p.add_argument("--note", default="", help="what the run was for, what shared the machine")
        p.add_argument("--bar", default=None, help="the experiment's bar (default: the current primary record's)")
        p.add_argument(
            "--primary",
            action="store_true",
            help="this run is the experiment's result now: the previous primary becomes superseded",
        )
        p.add_argument(
            "--experiment",
            default=None,
            help="record under this experiment (default: the run folder's parent, e.g. dcgan_mnist)",
        )
        p.add_argument("--run-id", default=None, help="record under this run id (default: the run folder's name)")
        p.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
        a = p.parse_args(args[1:])
        try:
            path = add(a.run_dir, a.command, a.wall, a.root, a.note, a.bar, a.primary, a.experiment, a.run_id)
            build(a.root)
        except GanZooError as e:
            print(f"gan-zoo records add: error: {e}", file=sys.stderr)
            return e.exit_code
        print(f"written: {path}")
        return 0
    p = argparse.ArgumentParser(
        prog="gan-zoo records",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="`gan-zoo records add --help` records a finished run.",
    )
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 when a generated table is stale")
    p.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    a = p.parse_args(args)
    if not (a.root / "experiments").is_dir():
        print(
            f"gan-zoo records: error: no experiments/ folder under {a.root.resolve()}; run it from the "
            f"repository root or pass --root",
            file=sys.stderr,
        )
        return 2
    try:
        changed = build(a.root, check=a.check)
    except GanZooError as e:
        print(f"gan-zoo records: error: {e}", file=sys.stderr)
        return e.exit_code
    if a.check and changed:
        print("stale results tables (run `gan-zoo records`): " + ", ".join(str(p) for p in changed), file=sys.stderr)
        return 1
    print(("rewrote: " + ", ".join(str(p) for p in changed)) if changed else "results tables are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
