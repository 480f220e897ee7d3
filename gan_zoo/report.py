"""`gan-zoo report DIR`: compare the runs under DIR (a Hydra multirun: several seeds x configs).

    gan-zoo report outputs/train/multirun/<run_id>
    gan-zoo report outputs/train/multirun/<run_id> --out report/ --metric val/fid_domain_1k

Runs are grouped by their command-line overrides minus `seed` (and minus the overrides every run
shares). Per group and metric: the number of seeds, mean, standard deviation and a 95% confidence
interval of the mean (Student t, n - 1 degrees of freedom) over the final evaluation of each run.
Writes report.md, report.csv (long format), <metric>_vs_step.png (mean per config over generator steps,
with the 95% interval drawn clipped to the range the seeds reached) and precision_recall.png (one point
per run, the mean with its intervals per config).
Values measured under different protocols (extractor hash, sample counts) are flagged, not mixed silently.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gan_zoo.errors import ConfigError, DatasetNotFoundError

IGNORED_OVERRIDES = ("seed", "run_id", "hydra.", "callbacks.progress", "logger")
METRIC_ORDER = (
    "fid",
    "kid_mean",
    "precision",
    "recall",
    "density",
    "coverage",
    "is_mean",
    "classes_covered",
    "min_class_share",
    "cond_accuracy",
    "intra_fid_mean",
    "modes",
    "hq_fraction",
    "reverse_kl",
)


@dataclass
class Run:
    """One training run: where it is, its overrides, seed, final values and curves."""

    path: Path
    overrides: list[str]
    seed: int
    final: dict[str, float]
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # metric -> [(g_step, value)]
    protocol: dict[str, Any] | None = None
    label: str = ""
    finished: bool = True  # summary.json exists: the run reached its budget (not killed, not diverged)
    final_step: float | None = None  # generator step of the final evaluation


def _read_csv(path: Path) -> tuple[dict[str, float], dict[str, list[tuple[float, float]]]]:
    """Final values and (g_step, value) curves of every val/ metric in a Lightning CSV log."""
    curves: dict[str, list[tuple[float, float]]] = defaultdict(list)
    final: dict[str, float] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            step = row.get("val/g_step") or ""
            for k, v in row.items():
                if k and k.startswith("val/") and k != "val/g_step" and v not in ("", None):
                    final[k] = float(v)
                    if step:
                        curves[k].append((float(step), float(v)))
    return final, dict(curves)


def find_runs(root: Path) -> list[Run]:
    """Every run directory under root (it has .hydra/config.yaml and a metrics CSV or summary.json)."""
    runs = []
    for cfg_path in sorted(root.rglob(".hydra/config.yaml")):
        run_dir = cfg_path.parent.parent
        csv_path = run_dir / "csv" / "metrics.csv"
        summary = run_dir / "summary.json"
        if not csv_path.is_file() and not summary.is_file():
            continue
        cfg = yaml.safe_load(cfg_path.read_text()) or {}
        ov_path = run_dir / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(ov_path.read_text()) if ov_path.is_file() else []
        final, curves = _read_csv(csv_path) if csv_path.is_file() else ({}, {})
        if summary.is_file():  # the run finished: its summary holds the values after the last evaluation
            final.update(json.loads(summary.read_text()).get("final_metrics", {}))
        step = final.pop("val/g_step", None)
        proto_path = run_dir / "metrics_protocol.json"
        protocol = json.loads(proto_path.read_text()) if proto_path.is_file() else None
        seed = cfg.get("seed")
        runs.append(
            Run(
                run_dir,
                list(overrides or []),
                int(seed) if seed is not None else -1,
                final,
                curves,
                protocol,
                finished=summary.is_file(),
                final_step=step,
            )
        )
    return runs


def label_runs(runs: list[Run]) -> None:
    """A config label per run: its overrides minus seed/run_id/... and minus those all runs share."""

    def keep(o: str) -> bool:
        return not o.lstrip("+~").startswith(IGNORED_OVERRIDES)

    kept = [[o for o in r.overrides if keep(o)] for r in runs]
    shared = set.intersection(*(set(k) for k in kept)) if kept else set()
    for r, k in zip(runs, kept):
        own = [o for o in k if o not in shared]
        r.label = " ".join(own) or (" ".join(k) or "default")


def mean_ci(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, std, half-width of the `level` confidence interval of the mean; nan for n < 2)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan
    if n == 1:
        return float(x[0]), math.nan, math.nan
    sd = float(x.std(ddof=1))
    return float(x.mean()), sd, float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n))


def _metric_key(name: str) -> tuple[int, str]:
    base = re.sub(r"^val/", "", name)
    for i, m in enumerate(METRIC_ORDER):
        if base == m or base.startswith(m + "_"):
            return i, base
    return len(METRIC_ORDER), base


def aggregate(runs: list[Run]) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, Any]]]:
    """(configs, metrics, {(config, metric): {n, mean, std, ci95, seeds, values}})."""
    configs = list(dict.fromkeys(r.label for r in runs))
    metrics = sorted({k for r in runs for k in r.final}, key=_metric_key)
    table = {}
    for c in configs:
        group = [r for r in runs if r.label == c]
        for m in metrics:
            vals = [(r.seed, r.final[m]) for r in group if m in r.final and math.isfinite(r.final[m])]
            mean, sd, ci = mean_ci([v for _, v in vals])
            table[(c, m)] = {
                "n": len(vals),
                "mean": mean,
                "std": sd,
                "ci95": ci,
                "seeds": [s for s, _ in vals],
                "values": [v for _, v in vals],
            }
    return configs, metrics, table


def protocol_notes(runs: list[Run]) -> list[str]:
    """One line per distinct evaluation protocol; a warning when runs disagree."""
    seen: dict[str, list[str]] = defaultdict(list)
    for r in runs:
        p = r.protocol or {}
        ext = p.get("extractor", {}) if isinstance(p.get("extractor"), dict) else {}
        key = (
            f"extractor {ext.get('name', p.get('metric', '?'))} sha256 {str(ext.get('sha256', '-'))[:12]}, "
            f"{p.get('num_fake', p.get('num_samples', '?'))} fake vs {p.get('num_real', '?')} real "
            f"({p.get('reference', '?')}), image {p.get('image_size', '-')} px {p.get('resize', '')}".strip()
        )
        seen[key].append(r.label)
    lines = [f"- {k}: " + ", ".join(dict.fromkeys(labels)) for k, labels in seen.items()]
    if len(seen) > 1:
        lines.insert(
            0,
            "- **WARNING: the runs were evaluated under different protocols; values across them are not comparable:**",
        )
    return lines


def _fmt(e: dict[str, Any], group_size: int) -> str:
    if e["n"] == 0:
        return "-"
    short = f" (n={e['n']}/{group_size})" if e["n"] < group_size else ""  # e.g. a seed that diverged (NaN)
    if e["n"] == 1 or not math.isfinite(e["ci95"]):
        return f"{e['mean']:.4g} (n=1)" if not short else f"{e['mean']:.4g}{short}"
    return f"{e['mean']:.4g} ± {e['ci95']:.2g}{short}"


def write_tables(
    out: Path,
    runs: list[Run],
    configs: list[str],
    metrics: list[str],
    table: dict[tuple[str, str], dict[str, Any]],
    root: Path,
) -> tuple[Path, Path]:
    """report.md and report.csv."""
    short = [re.sub(r"^val/", "", m) for m in metrics]
    lines = [
        f"# Report: {root}",
        "",
        f"{len(runs)} runs, {len(configs)} configs. Each cell: mean ± half-width of the 95% confidence interval "
        "of the mean over seeds (Student t), from each run's final evaluation. The `*_real_floor` column is "
        "the real-vs-real value under the same protocol (the best a generator can expect).",
        "",
        "| config | seeds | " + " | ".join(short) + " |",
        "|---|---|" + "---|" * len(short),
    ]
    for c in configs:
        seeds = [r.seed for r in runs if r.label == c]
        n = f"{len(seeds)}" + (" (repeated seeds!)" if len(set(seeds)) < len(seeds) else "")
        lines.append(f"| {c} | {n} | " + " | ".join(_fmt(table[(c, m)], len(seeds)) for m in metrics) + " |")
    lines += ["", "Evaluation protocol:"] + protocol_notes(runs) + ["", "Runs:"]
    lines += [
        f"- `{r.path}` seed {r.seed}: {r.label}; final evaluation at generator step "
        f"{'?' if r.final_step is None else int(r.final_step)}{'' if r.finished else ' (UNFINISHED)'}"
        for r in runs
    ]
    md = out / "report.md"
    md.write_text("\n".join(lines) + "\n")
    csv_path = out / "report.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["config", "metric", "n", "mean", "std", "ci95_low", "ci95_high", "seeds", "values"])
        for c in configs:
            for m in metrics:
                e = table[(c, m)]
                lo, hi = (e["mean"] - e["ci95"], e["mean"] + e["ci95"]) if math.isfinite(e["ci95"]) else ("", "")
                w.writerow(
                    [
                        c,
                        m,
                        e["n"],
                        e["mean"],
                        e["std"],
                        lo,
                        hi,
                        " ".join(map(str, e["seeds"])),
                        " ".join(f"{v:.6g}" for v in e["values"]),
                    ]
                )
    return md, csv_path


def plot_curves(out: Path, runs: list[Run], configs: list[str], metric: str) -> Path | None:
    """Mean over seeds of `metric` vs generator step per config, with a 95% band where steps align."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    drawn, lowest = False, math.inf
    for c in configs:
        series = [dict(r.curves[metric]) for r in runs if r.label == c and r.curves.get(metric)]
        if not series:
            continue
        steps = sorted(set.intersection(*(set(s) for s in series)))
        if not steps:
            continue
        at = [[s[t] for s in series if math.isfinite(s[t])] for t in steps]  # a diverged seed: NaN, left out
        keep = [i for i, v in enumerate(at) if v]
        if not keep:
            continue
        steps, at = [steps[i] for i in keep], [at[i] for i in keep]
        stats = [mean_ci(v) for v in at]
        mean = np.array([m for m, _, _ in stats])
        ci = np.array([0.0 if not math.isfinite(h) else h for _, _, h in stats])
        # with 3 seeds the t interval is wide: draw it clipped to the range the seeds actually reached
        lo = np.maximum(mean - ci, [min(v) for v in at])
        hi = np.minimum(mean + ci, [max(v) for v in at])
        lowest = min(lowest, float(lo.min()))
        (line,) = ax.plot(steps, mean, label=f"{c} (n={len(series)})")
        if len(series) > 1:
            ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    name = re.sub(r"^val/", "", metric)
    if name.startswith(("fid", "kid")) and lowest > 0:
        ax.set_yscale("log")
    ax.set_xlabel("generator step")
    ax.set_ylabel(name)
    ax.set_title(f"{name}: mean over seeds; band: 95% CI within the seeds' range", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    path = out / f"{name.replace('/', '_')}_vs_step.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_precision_recall(out: Path, runs: list[Run], configs: list[str]) -> Path | None:
    """Precision vs recall: one small point per run, a large marker with 95% CI bars per config."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pk = next((k for r in runs for k in r.final if k.startswith("val/precision")), None)
    rk = pk.replace("precision", "recall") if pk else None
    if pk is None:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 5))
    for c in configs:
        group = [r for r in runs if r.label == c and pk in r.final and rk in r.final]
        if not group:
            continue
        p, rc = [r.final[pk] for r in group], [r.final[rk] for r in group]
        pts = ax.scatter(rc, p, s=14, alpha=0.5)
        (pm, _, pci), (rm, _, rci) = mean_ci(p), mean_ci(rc)
        ax.errorbar(
            rm,
            pm,
            xerr=rci if math.isfinite(rci) else None,
            yerr=pci if math.isfinite(pci) else None,
            fmt="o",
            ms=8,
            color=pts.get_facecolor()[0][:3],
            capsize=3,
            label=f"{c} (n={len(group)})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("recall (diversity)")
    ax.set_ylabel("precision (fidelity)")
    ax.set_title(f"{pk.removeprefix('val/')} vs recall, final evaluation")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    path = out / "precision_recall.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def make_report(
    root: str | Path, out: str | Path | None = None, metrics: list[str] | None = None, include_unfinished: bool = False
) -> dict[str, Any]:
    """Find, group, aggregate, write. Returns the paths and the aggregated table.

    Runs without summary.json (killed, diverged, still running) are left out unless include_unfinished.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"report: {root} is not a directory. Give a multirun folder, e.g. outputs/train/multirun/<run_id>."
        )
    runs = find_runs(root)
    if not runs:
        raise ConfigError(
            f"report: no runs under {root} (a run has .hydra/config.yaml and csv/metrics.csv or "
            "summary.json). Train with logger=csv or logger=default so the CSV log exists."
        )
    unfinished = [r for r in runs if not r.finished]
    if not include_unfinished:  # killed, diverged or still running: their last value is not a final value
        runs = [r for r in runs if r.finished]
        if not runs:
            raise ConfigError(
                f"report: none of the {len(unfinished)} runs under {root} has finished (no summary.json); "
                "pass --include-unfinished to report their latest evaluations"
            )
    label_runs(runs)
    configs, all_metrics, table = aggregate(runs)
    if metrics:
        missing = [m for m in metrics if m not in all_metrics]
        if missing:
            raise ConfigError(f"report: metric(s) {missing} not logged by these runs; available: {all_metrics}")
    out = Path(out) if out else root / "report"
    out.mkdir(parents=True, exist_ok=True)
    md, csv_path = write_tables(out, runs, configs, all_metrics, table, root)
    if unfinished and not include_unfinished:
        with open(md, "a") as f:
            f.write(
                f"\nLeft out: {len(unfinished)} unfinished run(s) (no summary.json): "
                + ", ".join(f"`{r.path}`" for r in unfinished)
                + "\n"
            )
    plots = [
        p
        for m in (metrics or [m for m in all_metrics if not m.endswith("_real_floor")])
        if (p := plot_curves(out, runs, configs, m)) is not None
    ]
    pr = plot_precision_recall(out, runs, configs)
    return {
        "markdown": str(md),
        "csv": str(csv_path),
        "plots": [str(p) for p in plots + ([pr] if pr else [])],
        "configs": configs,
        "metrics": all_metrics,
        "runs": len(runs),
        "unfinished": len(unfinished),
        "table": {f"{c} | {m}": v for (c, m), v in table.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """`gan-zoo report DIR [--out OUT] [--metric NAME ...]`."""
    from gan_zoo.errors import GanZooError

    parser = argparse.ArgumentParser(prog="gan-zoo report", description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", help="a folder of runs, e.g. outputs/train/multirun/<run_id>")
    parser.add_argument("--out", default=None, help="output folder (default: DIR/report)")
    parser.add_argument(
        "--metric",
        action="append",
        default=None,
        help="metric to plot over steps (repeatable; default: every logged val/ metric)",
    )
    parser.add_argument(
        "--include-unfinished",
        action="store_true",
        help="also report runs without summary.json (killed, diverged, running) at their last evaluation",
    )
    args = parser.parse_args(argv)
    try:
        res = make_report(args.dir, args.out, args.metric, args.include_unfinished)
    except GanZooError as e:
        print(f"gan-zoo report: error: {e}", flush=True)
        return e.exit_code
    print(Path(res["markdown"]).read_text())
    print("written:", res["markdown"], res["csv"], *res["plots"], sep="\n  ")
    return 0
