"""What projection's settings trade: `gan-zoo project` on 100 + 100 held-out images, one setting changed at a time.

    python experiments/project/sweep.py --checkpoint outputs/train/dcgan_mnist/<run> [--out outputs/project/sweep]

Needs the two 500-image files of make_inputs.py (outputs/project/). Takes the first 10 of each class of both
(gan_zoo's "first n of each class" rule), projects them once per setting (the defaults, then each row of SETTINGS,
each a separate `gan-zoo project` command, timed whole, start-up included), scores every pair with measure.py
(one classifier fit for all) and writes <out>/sweep.csv (the file kept in experiments/project/) and a Markdown
table <out>/sweep.md. Time one setting
at a time on an idle box: the wall column is only comparable within one sweep on one load.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from gan_zoo.data.standard import first_n_indices

PER_SET = 100
SCORES = ("class_kept", "mnist_pixel_l1", "auroc_distances", "mnist_mean_distance", "fashion_mean_distance")
# (name, overrides): one setting away from the defaults (steps 60, starts 2, feature_weight 0.5, prior_weight 0.1)
SETTINGS = [
    ("default", []),
    ("steps=30", ["steps=30"]),
    ("steps=120", ["steps=120"]),
    ("starts=1", ["starts=1"]),
    ("feature=none", ["feature=none"]),
    ("prior_weight=0", ["prior_weight=0"]),
]


def subset(src: Path, dst: Path, key: str) -> None:
    """The first PER_SET/10 images of each class of src (classes in `key`), every array kept."""
    with np.load(src) as z:
        idx = first_n_indices(z[key], PER_SET, per_class=True)
        np.savez(dst, **{k: z[k][idx] for k in z.files})


def main() -> None:
    """Run the sweep and write its table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True, help="the run projected into (a run directory or a .ckpt)")
    ap.add_argument("--inputs", default="outputs/project", help="folder with make_inputs.py's two files")
    ap.add_argument("--out", default="outputs/project/sweep")
    ap.add_argument("--only", nargs="*", help="names of SETTINGS rows to run (default: all)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    inputs = {"mnist": out / "mnist_100.npz", "fashion": out / "fashion_100.npz"}
    subset(Path(args.inputs) / "mnist_test_500.npz", inputs["mnist"], "labels")
    subset(Path(args.inputs) / "fashion_test_500.npz", inputs["fashion"], "classes")
    exe = str(Path(sys.executable).with_name("gan-zoo"))
    rows, pairs = [], []
    for name, overrides in SETTINGS:
        if args.only and name not in args.only:
            continue
        row = {"setting": name, "overrides": overrides, "wall_s": {}}
        for kind, path in inputs.items():
            dst = out / f"{name.replace('=', '_')}_{kind}.npz"
            cmd = [exe, "project", f"checkpoint={args.checkpoint}", f"input={path}", f"out={dst}", "overwrite=true"]
            t0 = time.perf_counter()
            subprocess.run(cmd + overrides, check=True, stdout=subprocess.DEVNULL)
            row["wall_s"][kind] = round(time.perf_counter() - t0, 1)
            row[kind] = str(dst)
        row["load_average"] = round(os.getloadavg()[0], 2)
        rows.append(row)
        pairs += [row["mnist"], row["fashion"]]
        print(name, row["wall_s"], flush=True)
    measure = Path(__file__).with_name("measure.py")
    res = subprocess.run(
        [sys.executable, str(measure), *pairs, "--mnist-input", str(inputs["mnist"])],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    scores = json.JSONDecoder()
    text, pos = res.stdout, 0
    for row in rows:
        while text[pos].isspace():
            pos += 1
        obj, pos = scores.raw_decode(text, pos)
        row.update({k: obj[k] for k in SCORES})
    with open(out / "sweep.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["setting", "overrides", *SCORES, "wall_s_mnist", "wall_s_fashion", "load_average", "checkpoint",
                    "images_per_set"])  # fmt: skip
        for r in rows:
            w.writerow([r["setting"], " ".join(r["overrides"]), *(r[k] for k in SCORES), r["wall_s"]["mnist"],
                        r["wall_s"]["fashion"], r["load_average"], args.checkpoint, PER_SET])  # fmt: skip
    lines = [
        f"| setting | class kept ({PER_SET} digits) | pixel L1 | AUROC | wall MNIST / Fashion (s) | load |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['setting']}` | {r['class_kept']:.2f} | {r['mnist_pixel_l1']:.4f} | {r['auroc_distances']:.3f} "
            f"| {r['wall_s']['mnist']:.0f} / {r['wall_s']['fashion']:.0f} | {r['load_average']} |"
        )
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
