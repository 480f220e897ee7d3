"""`gan-zoo evaluate ... extractor=inception metrics=[fid]` vs torch_fidelity.calculate_metrics on the same images.

    python benchmarks/fid_agreement.py --cifar10 1000 [--precisions fp32,bf16] [--out /tmp/agree]
    python benchmarks/fid_agreement.py --samples fakes.npz --report evaluate.json [--num-real 250]

--cifar10 N: writes the first N CIFAR-10 test images (the data's "first N" rule) as the "samples" .npz and as a
PNG folder, the first N training images as a second PNG folder; runs the CLI
`gan-zoo evaluate samples=<npz> data=cifar10 extractor=inception metrics=[fid] num_real=N` (reference: the first N
training images) once per precision, and torch_fidelity.calculate_metrics on the two PNG folders with the same
weights file (its own forward, fp32); prints each FID, its relative difference to torch-fidelity's and the bf16
change relative to fp32.

--samples/--report: takes the FID from an existing evaluate JSON report (data=cifar10, reference = the first
num_real training images) and recomputes it with torch-fidelity on the same fakes and reference images.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch


def torch_fidelity_fid(input1: object, input2: object, weights: Path) -> float:
    """torch-fidelity's own FID (its Inception forward, fp32) between two inputs (folders or datasets)."""
    import torch_fidelity

    return torch_fidelity.calculate_metrics(
        input1=input1,
        input2=input2,
        fid=True,
        batch_size=50,
        cuda=False,
        verbose=False,
        cache=False,
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(weights),
    )["frechet_inception_distance"]


def write_pngs(images: torch.Tensor, folder: Path) -> None:
    """uint8 [N, 3, H, W] -> folder/00000.png ... (lossless, so torch-fidelity reads back the same pixels)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images.permute(0, 2, 3, 1).numpy()):
        Image.fromarray(img).save(folder / f"{i:05d}.png")


def cifar10_case(args: argparse.Namespace) -> None:
    """The CLI on CIFAR-10 (first N test images as samples, first N train images as reference) vs torch-fidelity."""
    from gan_zoo.data import CIFAR10DataModule
    from gan_zoo.metrics.inception_weights import find_inception_weights

    n, out = args.cifar10, Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = find_inception_weights(None, args.cache)
    dm = CIFAR10DataModule(root=args.root, cache_dir=args.cache)
    dm.setup("fit")
    fakes, _ = dm.first_n(n, "test")
    reals, _ = dm.first_n(n, "train")
    np.savez(out / "samples.npz", images=fakes.numpy())
    write_pngs(fakes, out / "test_png")
    write_pngs(reals, out / "train_png")
    print(f"{n} CIFAR-10 test images (samples) vs the first {n} training images (reference), {weights.name}")
    env = {**os.environ, "GAN_ZOO_CACHE": str(Path(args.cache).resolve()), "WANDB_MODE": "disabled"}
    ours = {}
    for precision in args.precisions.split(","):
        report = out / f"evaluate_{precision}.json"
        script = Path(sys.executable).parent / "gan-zoo"  # the console script the issue names, else the module
        cmd = [
            *([sys.executable, str(script)] if script.is_file() else [sys.executable, "-m", "gan_zoo.cli"]),
            "evaluate",
            f"samples={out / 'samples.npz'}",
            "data=cifar10",
            f"data.root={args.root}",
            "extractor=inception",
            "metrics=[fid]",
            f"num_real={n}",
            f"inception.precision={precision}",
            f"inception.weights_path={weights}",
            f"paths.cache_dir={Path(args.cache).resolve()}",
            f"out={report}",
            "overwrite=true",
        ]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        rep = json.loads(report.read_text())
        value = next(v for v in rep["values"] if v["metric"] == "fid")
        assert value["protocol"]["extractor"]["precision"] == precision
        ours[precision] = value["value"]
        print(
            f"  gan-zoo evaluate {precision}: FID {ours[precision]:.7f}  ({time.perf_counter() - t:.0f} s)", flush=True
        )
    t = time.perf_counter()
    theirs = torch_fidelity_fid(str(out / "test_png"), str(out / "train_png"), weights)
    print(f"  torch_fidelity.calculate_metrics on the PNG folders: FID {theirs:.7f}  ({time.perf_counter() - t:.0f} s)")
    for precision, value in ours.items():
        print(f"  {precision} vs torch-fidelity: relative difference {abs(value - theirs) / theirs:.1e}")
    if "fp32" in ours and "bf16" in ours:
        print(f"  bf16 vs fp32: relative change {abs(ours['bf16'] - ours['fp32']) / ours['fp32']:.1e}")


def report_case(args: argparse.Namespace) -> None:
    """An existing evaluate report vs torch-fidelity on the same fakes and reference images."""
    from gan_zoo.data import CIFAR10DataModule
    from gan_zoo.metrics.fidelity_compat import UInt8Images
    from gan_zoo.metrics.inception_weights import find_inception_weights

    rep = json.load(open(args.report))
    ours = next(v for v in rep["values"] if v["metric"] == "fid")
    weights = find_inception_weights(None, args.cache)
    assert ours["protocol"]["extractor"]["weights"] == weights.name, "the report used other weights"
    dm = CIFAR10DataModule(root=args.root, cache_dir=args.cache)
    dm.setup("fit")
    reals, _ = dm.first_n(args.num_real, "train")
    fakes = torch.from_numpy(np.load(args.samples)["images"])
    theirs = torch_fidelity_fid(UInt8Images(fakes), UInt8Images(reals), weights)
    print(
        f"gan_zoo evaluate FID {ours['value']:.7f}  torch-fidelity {theirs:.7f}  relative difference "
        f"{abs(ours['value'] - theirs) / theirs:.1e}  ({len(fakes)} fakes vs {len(reals)} reals, {weights.name})"
    )


def main() -> None:
    """Print both FIDs and their relative difference."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--cifar10", type=int, default=0, help="N: the CLI on the first N test vs first N train images")
    ap.add_argument("--precisions", default="fp32", help="comma-separated inception.precision values (--cifar10)")
    ap.add_argument("--out", default="/tmp/fid_agreement", help="where --cifar10 writes its npz, PNGs and reports")
    ap.add_argument("--samples")
    ap.add_argument("--report")
    ap.add_argument("--root", default="data/cifar10")
    ap.add_argument("--num-real", type=int, default=250)
    ap.add_argument("--cache", default=".cache")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.cifar10:
        cifar10_case(args)
    elif args.samples and args.report:
        report_case(args)
    else:
        ap.error("give --cifar10 N, or --samples and --report")


if __name__ == "__main__":
    main()
