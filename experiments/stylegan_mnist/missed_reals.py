"""Which held-out digits a checkpoint's recall misses: recall per class and per ink quartile, and the missed digits.

    python experiments/stylegan_mnist/missed_reals.py CKPT_A CKPT_B [--num 1000] [--seeds 0 1 2] [--out missed.png]

Recall (Kynkaanniemi et al. 2019, k = 3, domain features, 1,000 fakes against the 1,000 held-out digits: the
protocol of `gan-zoo evaluate`) is the share of real digits inside some fake's k-NN ball. This script keeps the
per-real flag instead of its mean, averaged over the sampling seeds, and splits it by the digits' labels and by
their ink (mean pixel value, in quartiles over the 1,000 digits): if one model misses a kind of digit the other
covers (a class, thick or thin strokes), it shows here. `--out` writes the 64 digits A misses most often and B
covers most often, for a look at what A does not make.
"""

from __future__ import annotations

import argparse

import torch
from recall_outliers import load_with_evaluator, protocol_config  # this folder: run as a script from the repo root

from gan_zoo.metrics.features import extract, generator_source
from gan_zoo.metrics.scores import kth_neighbour_radius


def covered(path: str, mcfg, seeds: list[int], num: int, k: int):
    """Per real digit: the share of draws in which it lies in some fake's k-NN ball; plus the reals and labels."""
    gan, ev = load_with_evaluator(path, mcfg)
    real = ev.reference().features.float()
    x, y = ev._split_tensors(ev.split)
    hits = torch.zeros(len(real))
    for seed in seeds:
        fake = extract(generator_source(gan, num, 250, seed=seed), ev.extractor).features.float()
        hits += (torch.cdist(real, fake) <= kth_neighbour_radius(fake, k)[None]).any(1).float()
    return hits / len(seeds), x, y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs=2)
    ap.add_argument("--num", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--out", default=None, help="PNG of the 64 digits A misses most and B covers most")
    args = ap.parse_args()
    mcfg = protocol_config(args.num, args.k)
    res = [covered(p, mcfg, args.seeds, args.num, args.k) for p in args.checkpoints]
    x, y = res[0][1], res[0][2]
    img = x.float() / 255 if x.dtype == torch.uint8 else x.float() * 0.5 + 0.5  # [0, 1]
    ink = img.flatten(1).mean(1)
    edges = torch.quantile(ink, torch.tensor([0.25, 0.5, 0.75]))
    quart = torch.bucketize(ink, edges)
    names = [p.split("/train/")[-1].split("/checkpoints")[0] for p in args.checkpoints]
    print(f"{'':12s}" + "".join(f"{n[-22:]:>24s}" for n in names) + "   (recall over seeds " + str(args.seeds) + ")")
    print(f"{'all':12s}" + "".join(f"{r[0].mean().item():24.3f}" for r in res))
    for c in range(int(y.max()) + 1):
        m = y == c
        print(f"{'class ' + str(c):12s}" + "".join(f"{r[0][m].mean().item():24.3f}" for r in res) + f"   n={int(m.sum())}")
    for q in range(4):
        m = quart == q
        print(f"{'ink q' + str(q + 1):12s}" + "".join(f"{r[0][m].mean().item():24.3f}" for r in res)
              + f"   ink {ink[m].min().item():.3f}..{ink[m].max().item():.3f}")
    if args.out:
        from torchvision.utils import save_image
        gap = res[1][0] - res[0][0]
        idx = torch.argsort(gap, descending=True)[:64]
        print(f"{int((gap > 0.5).sum())} digits covered by B in more than half the draws more often than by A")
        save_image(img[idx], args.out, nrow=8, padding=1)
        print("written:", args.out)


if __name__ == "__main__":
    main()
