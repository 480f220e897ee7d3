"""Inception FID against wall-clock minutes of training, for one of our runs or one peer's, after the run.

    # ours: every wall-clock snapshot (checkpoints/wall/) and the final checkpoints/last.ckpt
    python experiments/cifar10/score_curve.py --run outputs/train/dcgan_cifar10_cpu/race --label gan_zoo \
        --out experiments/cifar10/curves/dcgan_cifar10_cpu.json
    # a peer launcher's folder (benchmarks/peers/): its samples-SSSSSSs.npz and samples-final.npz
    python experiments/cifar10/score_curve.py --peer outputs/peers/pytorch_gan_dcgan --label PyTorch-GAN \
        --out experiments/cifar10/curves/pytorch_gan_dcgan.json
    # one plot and one Markdown table of several curves
    python experiments/cifar10/score_curve.py --plot experiments/cifar10/curves/dcgan_cifar10_cpu.json \
        experiments/cifar10/curves/pytorch_gan_dcgan.json --out experiments/cifar10/curves/dcgan_race.png
    # the final point and the curve into our run's record (after `gan-zoo records add`), with the peer's ratio
    python experiments/cifar10/score_curve.py --attach experiments/cifar10/curves/dcgan_cifar10_cpu.json \
        --peer-curve experiments/cifar10/curves/pytorch_gan_dcgan.json --out experiments/dcgan_cifar10_cpu/race.json

Protocol (issue 23): 5,000 samples against the first 10,000 training images of the copy, torch-fidelity's
Inception-v3 features (`gan-zoo evaluate extractor=inception`; weights from $GAN_ZOO_CACHE/weights). Each point
is one `gan-zoo evaluate` process; the reference statistics are cached after the first. Points already in --out
are kept (a rerun scores only new snapshots). --every N keeps only snapshots at multiples of N minutes (plus the
final one; a snapshot less than a minute before the end is left to the final point): each point costs ~7 minutes
of the 2-core box (5,000 Inception forwards).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from gan_zoo.callbacks.wall_clock import snapshot_seconds

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ["extractor=inception", "metrics=[fid]", "split=train", "seed=0"]


def run_points(run_dir: Path) -> list[tuple[float, str, Path]]:
    """(training seconds, tag, checkpoint) of a gan_zoo run: its wall-clock snapshots, then last.ckpt."""
    points = [
        (snapshot_seconds(p.name), p.stem, p) for p in sorted((run_dir / "checkpoints" / "wall").glob("wall-*s.ckpt"))
    ]
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        blob = torch.load(last, map_location="cpu", weights_only=False)
        secs = next((s["elapsed"] for k, s in blob.get("callbacks", {}).items() if "WallClockCheckpoints" in k), None)
        points.append((float(secs) if secs is not None else float("nan"), "final", last))
    return points


def peer_points(peer_dir: Path) -> list[tuple[float, str, Path]]:
    """(training seconds, tag, samples .npz) of a peer launcher's folder (peer.json holds the final time)."""
    points = [(snapshot_seconds(p.name), p.stem, p) for p in sorted(peer_dir.glob("samples-*s.npz"))]
    final = peer_dir / "samples-final.npz"
    if final.is_file():
        report = json.loads((peer_dir / "peer.json").read_text()) if (peer_dir / "peer.json").is_file() else {}
        points.append((float(report.get("train_seconds", float("nan"))), "final", final))
    return points


def fid_of(source: Path, is_checkpoint: bool, data_root: str, args: argparse.Namespace) -> float:
    """Inception FID of one checkpoint or samples file under the protocol, by a `gan-zoo evaluate` process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "eval.json"
        what = f"checkpoint={source}" if is_checkpoint else f"samples={source}"
        # a checkpoint draws num_fake samples; a file's first num_fake are scored (max_samples)
        counts = [f"num_fake={args.num_fake}", f"max_samples={args.num_fake}", f"num_real={args.num_real}"]
        cmd = [
            sys.executable,
            "-m",
            "gan_zoo.cli",
            "evaluate",
            what,
            "data=cifar10",
            f"data.root={data_root}",
            *PROTOCOL,
            *counts,
            f"out={out}",
        ]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        subprocess.run(cmd, check=True, env=env)
        report = json.loads(out.read_text())
    fid = next((v for v in report["values"] if str(v["metric"]).startswith("fid")), None)
    if fid is None:
        raise SystemExit(f"gan-zoo evaluate reported no fid for {source}: {report['values']}")
    return float(fid["value"])


def score(points: list[tuple[float, str, Path]], is_checkpoint: bool, args: argparse.Namespace) -> None:
    """Score the points not yet in --out and write the curve JSON and its Markdown table."""
    out = Path(args.out)
    curve = (
        json.loads(out.read_text())
        if out.is_file()
        else {
            "label": args.label,
            "protocol": [*PROTOCOL, f"num_fake={args.num_fake}", f"num_real={args.num_real}"],
            "points": [],
        }
    )
    done = {p["tag"] for p in curve["points"]}
    final_secs = next((secs for secs, tag, _ in points if tag == "final"), float("inf"))
    for secs, tag, path in points:
        if tag in done or (args.every and tag != "final" and round(secs / 60) % args.every):
            continue
        if args.at and tag != "final" and round(secs / 60) not in args.at:
            continue
        if tag != "final" and final_secs - secs < 60:  # a snapshot in the last minute: the final point stands for it
            continue
        fid = fid_of(path, is_checkpoint, args.data_root, args)
        curve["points"].append({"tag": tag, "minutes": secs / 60, "fid": fid, "source": str(path)})
        curve["points"].sort(key=lambda p: (p["tag"] == "final", p["minutes"]))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(curve, indent=2))  # after every point: a long scoring can stop and resume
        print(f"{args.label} {tag}: {secs / 60:.1f} min, Inception FID {fid:.2f}", flush=True)
    print(table([curve]))


def sample_counts(protocol: list[str]) -> dict[str, str]:
    """{'num_fake': '5000', 'num_real': '10000'} from a curve's protocol overrides."""
    return dict(a.split("=", 1) for a in protocol if a.startswith("num_"))


def table(curves: list[dict]) -> str:
    """Markdown table: one row per point of each curve."""
    counts = sample_counts(curves[0]["protocol"])
    head = f"Inception FID ({counts.get('num_fake', '?')} vs first {counts.get('num_real', '?')} train)"
    lines = [f"| implementation | minutes of training | {head} |", "|---|---:|---:|"]
    for c in curves:
        for p in c["points"]:
            lines.append(
                f"| {c['label']} | {p['minutes']:.1f}{' (final)' if p['tag'] == 'final' else ''} | {p['fid']:.2f} |"
            )
    return "\n".join(lines)


def plot(paths: list[str], out: str) -> None:
    """One small PNG with every curve, and its Markdown table beside it (same name, .md)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [json.loads(Path(p).read_text()) for p in paths]
    fig, ax = plt.subplots(figsize=(4.5, 3), dpi=100)
    for c in curves:
        pts = sorted(c["points"], key=lambda p: p["minutes"])
        ax.plot([p["minutes"] for p in pts], [p["fid"] for p in pts], marker="o", label=c["label"])
    ax.set_xlabel("minutes of training (2-core CPU)")
    ax.set_ylabel("Inception FID (5k)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    Path(out).with_suffix(".md").write_text(table(curves) + "\n")
    print(table(curves))


def attach(record: str, curve_path: str, peer_path: str | None) -> None:
    """Put a scored curve into our run's record file (`gan-zoo records add` made it from the run's own files):
    the final point as `evaluate/inception_5000/fid` (first headline), every point under `inception_curve`, and,
    with --peer-curve, the peer's final FID (`peer/<label>/fid`) and our ratio to it (`peer/<label>/ratio`)."""
    rec_file, curve = Path(record), json.loads(Path(curve_path).read_text())
    rec = json.loads(rec_file.read_text())
    final = next((p for p in curve["points"] if p["tag"] == "final"), None)
    if final is None:
        raise SystemExit(f"{curve_path} has no final point yet: score the run's last.ckpt first")
    key = f"evaluate/inception_{sample_counts(curve['protocol'])['num_fake']}/fid"
    rec["metrics"][key] = final["fid"]
    # the in-training FID is the domain classifier's: say so beside the Inception one
    rest = {("domain FID (1k)" if v == "val/fid_domain_1k" else k): v for k, v in rec["headline"].items() if v != key}
    rec["headline"] = {"Inception FID (5k vs 10k train)": key, **rest}
    rec["inception_curve"] = {
        "file": os.path.relpath(curve_path, rec_file.parent),
        "protocol": curve["protocol"],
        "points": [{"minutes": round(p["minutes"], 2), "fid": p["fid"], "tag": p["tag"]} for p in curve["points"]],
    }
    if peer_path:
        peer = json.loads(Path(peer_path).read_text())
        peer_final = next(p for p in peer["points"] if p["tag"] == "final")
        name = Path(peer_path).stem
        rec["metrics"][f"peer/{name}/fid"] = peer_final["fid"]
        rec["metrics"][f"peer/{name}/ratio"] = final["fid"] / peer_final["fid"]
        rec["headline"][f"ratio to {peer['label']}"] = f"peer/{name}/ratio"
    rec_file.write_text(json.dumps(rec, indent=1) + "\n")
    print(
        f"{rec_file}: Inception FID {final['fid']:.2f}"
        + (f", ratio to the peer {rec['metrics'][f'peer/{name}/ratio']:.3f}" if peer_path else "")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="a gan_zoo run directory (outputs/train/<experiment>/<run_id>)")
    src.add_argument("--peer", help="a peer launcher's --out folder")
    src.add_argument("--plot", nargs="+", help="curve JSONs to draw together")
    src.add_argument("--attach", metavar="CURVE", help="a scored curve JSON of ours to put into --out, a record file")
    ap.add_argument("--peer-curve", default=None, help="with --attach: the peer's curve JSON (final FID, ratio)")
    ap.add_argument("--out", required=True, help="curve JSON (--run/--peer) or PNG (--plot)")
    ap.add_argument("--label", default=None)
    ap.add_argument("--data-root", default="data/cifar10")
    ap.add_argument("--every", type=int, default=0, help="score only snapshots at multiples of this many minutes")
    ap.add_argument("--at", type=int, nargs="+", default=None, help="score only snapshots at these minutes")
    ap.add_argument("--num-fake", type=int, default=5000, help="the protocol's 5,000; smaller only for smoke tests")
    ap.add_argument("--num-real", type=int, default=10000, help="the protocol's first 10,000 training images")
    args = ap.parse_args()
    if args.plot:
        plot(args.plot, args.out)
        return
    if args.attach:
        attach(args.out, args.attach, args.peer_curve)
        return
    args.label = args.label or Path(args.run or args.peer).name
    if args.run:
        score(run_points(Path(args.run)), True, args)
    else:
        score(peer_points(Path(args.peer)), False, args)


if __name__ == "__main__":
    main()
