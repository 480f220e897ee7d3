"""ADA's p and r_t over training, beside the domain FID of the validations, from runs' metrics.csv files.

    python experiments/ada_mnist/plot_ada.py OUT.png LABEL=outputs/train/<exp>/<run> [LABEL=...]

A run without ADA contributes its FID curve only. Written atomically with gan_zoo's writer.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gan_zoo.utils.io import atomic_write  # noqa: E402


def columns(metrics_csv: Path, x: str, y: str) -> tuple[list[float], list[float]]:
    """(x, y) of the rows of a metrics CSV that have both."""
    xs, ys = [], []
    with open(metrics_csv) as f:
        for row in csv.DictReader(f):
            if row.get(x) and row.get(y):
                xs.append(float(row[x]))
                ys.append(float(row[y]))
    return xs, ys


def main(argv: list[str]) -> None:
    """Plot p, r_t and FID of each LABEL=RUN_DIR into argv[0]."""
    out, runs = Path(argv[0]), [a.split("=", 1) for a in argv[1:]]
    fig, (ax_p, ax_f) = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
    for label, run in runs:
        path = Path(run) / "csv" / "metrics.csv"
        gx, p = columns(path, "train/g_step", "train/ada_p")
        if p:
            ax_p.plot(gx, p, label=f"{label}: p")
            rx, rt = columns(path, "train/g_step", "train/ada_rt")
            ax_p.plot(rx, rt, label=f"{label}: r_t", alpha=0.5, linewidth=0.8)
        fx, fid = columns(path, "val/g_step", "val/fid_domain_1k")
        ax_f.plot(fx, fid, marker=".", label=label)
    ax_p.axhline(0.6, color="grey", linestyle=":", linewidth=0.8)
    ax_p.set(xlabel="generator step", title="ADA p and r_t (target 0.6 dotted)")
    ax_f.set(xlabel="generator step", ylabel="domain FID (1k)", yscale="log", title="validation FID")
    for ax in (ax_p, ax_f):
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write(out, lambda f: f.write(buf.getvalue()))


if __name__ == "__main__":
    main(sys.argv[1:])
