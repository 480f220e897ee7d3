"""Copy a finished run's evidence into experiments/<name>/: final picture, metrics table, summary.

    python experiments/record.py outputs/train/dcgan_mnist/<run_id> --wall "4m51s" --command "gan-zoo train"

Writes experiments/<experiment>/<run_id>.md (command, machine, wall time, every validation row of the
metrics CSV) and copies the last sample picture beside it. The numbers come from the run's own files.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import shutil
from pathlib import Path

import torch


def validation_rows(metrics_csv: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The rows of Lightning's metrics.csv that hold validation values."""
    with open(metrics_csv) as f:
        rows = list(csv.DictReader(f))
    keys = sorted({k for r in rows for k, v in r.items() if k.startswith("val/") and v})
    return keys, [r for r in rows if any(r.get(k) for k in keys)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--command", required=True)
    ap.add_argument("--wall", required=True, help="wall time of the whole command, as measured")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    summary = json.loads((args.run_dir / "summary.json").read_text())
    name = args.run_dir.parent.name
    out_dir = Path(__file__).parent / name
    out_dir.mkdir(exist_ok=True)
    run_id = args.run_dir.name
    picture = Path(summary["samples"]) if summary.get("samples") else None
    if picture and picture.exists():
        shutil.copy(picture, out_dir / f"{run_id}_final.png")
    keys, rows = validation_rows(args.run_dir / "csv" / "metrics.csv")
    lines = [f"# {name} / {run_id}", "", f"Command: `{args.command}`", "",
             f"Machine: {platform.machine()}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}, "
             f"no GPU. Wall time of the whole command: {args.wall}.", ""]
    if args.note:
        lines += [args.note, ""]
    lines += [f"Generator steps: {summary['generator_steps']}. Final picture: `{run_id}_final.png`.", "",
              "Final metrics:", ""]
    lines += [f"- `{k}`: {v:.4f}" for k, v in summary["final_metrics"].items()]
    protocol = args.run_dir / "metrics_protocol.json"
    if protocol.exists():
        lines += ["", "Metric protocol:", "", "```json", protocol.read_text().strip(), "```"]
    lines += ["", "Every validation:", "", "| epoch | " + " | ".join(keys) + " |",
              "|---" * (len(keys) + 1) + "|"]
    for r in rows:
        lines.append(f"| {r['epoch']} | " + " | ".join(f"{float(r[k]):.4f}" if r.get(k) else "" for k in keys) + " |")
    (out_dir / f"{run_id}.md").write_text("\n".join(lines) + "\n")
    print(out_dir / f"{run_id}.md")


if __name__ == "__main__":
    main()
