"""Recall studies of stylegan_mnist checkpoints, with the protocol of `gan-zoo evaluate`: two subcommands.

`outliers`: Where a checkpoint's recall comes from: the k-NN balls of fakes that lie off the real manifold.

    python experiments/stylegan_mnist/recall_study.py outliers CKPT [CKPT ...] [--num 1000] [--seeds 0 1 2]

Improved recall (Kynkaanniemi et al. 2019) counts a real image as covered when it lies inside the k-NN ball of
*some* fake, and a fake's ball is as large as the fake is isolated from other fakes. A fake far from the real
data therefore has a large ball that can cover many reals: Naeem et al. (2020) show recall over-rewards such
outliers and propose coverage (balls around the reals) instead. `outliers` measures that effect per checkpoint
with the protocol of `gan-zoo evaluate` (domain features, 1,000 fakes against the 1,000 held-out digits, k = 3):

- recall: as `gan-zoo evaluate` reports it;
- off-manifold fakes: the share of fakes outside every real k-NN ball (1 - precision);
- recall from on-manifold fakes only: the same recall with the off-manifold fakes' balls removed;
- median fake / real k-NN radius.

Each is the mean over the sampling seeds. Results are written up in experiments/stylegan_mnist/README.md.

`missed`: Which held-out digits a checkpoint's recall misses: recall per class and per ink quartile, and the
missed digits.

    python experiments/stylegan_mnist/recall_study.py missed CKPT_A CKPT_B [--num 1000] [--seeds 0 1 2] [--out
    missed.png]

Recall (Kynkaanniemi et al. 2019, k = 3, domain features, 1,000 fakes against the 1,000 held-out digits: the
protocol of `gan-zoo evaluate`) is the share of real digits inside some fake's k-NN ball. `missed` keeps the
per-real flag instead of its mean, averaged over the sampling seeds, and splits it by the digits' labels and by
their ink (mean pixel value, in quartiles over the 1,000 digits): if one model misses a kind of digit the other
covers (a class, thick or thin strokes), it shows here. `--out` writes the 64 digits A misses most often and B
covers most often, for a look at what A does not make.
"""

from __future__ import annotations

import argparse
import sys

import torch
from omegaconf import OmegaConf

from gan_zoo.build import build_image_evaluator, instantiate_checked, load_checkpoint_gan
from gan_zoo.metrics.features import extract, generator_source
from gan_zoo.metrics.scores import kth_neighbour_radius


def protocol_config(num: int, k: int):
    """`gan-zoo evaluate`'s metric config with `num` fakes and k for precision/recall."""
    mcfg = OmegaConf.load("gan_zoo/conf/evaluate.yaml")
    mcfg.num_fake, mcfg.pr_k = num, k
    mcfg.paths = {"cache_dir": ".cache"}
    return mcfg


def load_with_evaluator(path: str, mcfg):
    """(gan, evaluator) for a checkpoint: its own data module's reference split, the domain extractor."""
    gan, info = load_checkpoint_gan(path)
    dm = instantiate_checked(OmegaConf.create(info["config"]).data, "data")
    dm.setup("fit")
    return gan, build_image_evaluator(mcfg, dm, ".cache", key_prefix="", names=["pr"])


def outliers(argv: list[str]) -> None:
    """Recall, off-manifold share and recall from on-manifold fakes per checkpoint."""
    ap = argparse.ArgumentParser(prog="recall_study.py outliers")
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--num", type=int, default=1000, help="fakes per draw (the training-time protocol: 1,000)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--k", type=int, default=3)
    args = ap.parse_args(argv)
    mcfg = protocol_config(args.num, args.k)
    print(f"{'checkpoint':60s} recall  off-manifold  recall(on-manifold fakes)  median r fake/real")
    for path in args.checkpoints:
        gan, ev = load_with_evaluator(path, mcfg)
        real = ev.reference().features.float()
        r_real = kth_neighbour_radius(real, args.k)
        rows = []
        for seed in args.seeds:
            fake = extract(generator_source(gan, args.num, 250, seed=seed), ev.extractor).features.float()
            r_fake = kth_neighbour_radius(fake, args.k)
            d = torch.cdist(real, fake)  # one distance matrix for both rules (distance <= radius, torch-fidelity's)
            in_fake_ball = d <= r_fake[None]  # [real, fake]: real i inside fake j's ball (recall)
            on = (d <= r_real[:, None]).any(0)  # fake j inside some real ball (precision): on the manifold
            rows.append(
                [
                    in_fake_ball.any(1).float().mean().item(),
                    1 - on.float().mean().item(),
                    in_fake_ball[:, on].any(1).float().mean().item(),
                    (r_fake.median() / r_real.median()).item(),
                ]
            )
        m = torch.tensor(rows).mean(0).tolist()
        print(f"{path[-60:]:60s} {m[0]:.3f}   {m[1]:.3f}         {m[2]:.3f}                      {m[3]:.3f}")


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


def missed(argv: list[str]) -> None:
    """Recall of two checkpoints per class and ink quartile; optionally the digits A misses and B covers."""
    ap = argparse.ArgumentParser(prog="recall_study.py missed")
    ap.add_argument("checkpoints", nargs=2)
    ap.add_argument("--num", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--out", default=None, help="PNG of the 64 digits A misses most and B covers most")
    args = ap.parse_args(argv)
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
        print(
            f"{'class ' + str(c):12s}" + "".join(f"{r[0][m].mean().item():24.3f}" for r in res) + f"   n={int(m.sum())}"
        )
    for q in range(4):
        m = quart == q
        print(
            f"{'ink q' + str(q + 1):12s}"
            + "".join(f"{r[0][m].mean().item():24.3f}" for r in res)
            + f"   ink {ink[m].min().item():.3f}..{ink[m].max().item():.3f}"
        )
    if args.out:
        from torchvision.utils import save_image

        gap = res[1][0] - res[0][0]
        idx = torch.argsort(gap, descending=True)[:64]
        print(f"{int((gap > 0.5).sum())} digits covered by B in more than half the draws more often than by A")
        save_image(img[idx], args.out, nrow=8, padding=1)
        print("written:", args.out)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("outliers", "missed"):
        sys.exit(f"usage: {sys.argv[0]} outliers|missed ...\n\n{__doc__}")
    {"outliers": outliers, "missed": missed}[sys.argv[1]](sys.argv[2:])
