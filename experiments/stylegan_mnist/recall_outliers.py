"""Where a checkpoint's recall comes from: the k-NN balls of fakes that lie off the real manifold.

    python experiments/stylegan_mnist/recall_outliers.py CKPT [CKPT ...] [--num 1000] [--seeds 0 1 2]

Improved recall (Kynkaanniemi et al. 2019) counts a real image as covered when it lies inside the k-NN ball of
*some* fake, and a fake's ball is as large as the fake is isolated from other fakes. A fake far from the real
data therefore has a large ball that can cover many reals: Naeem et al. (2020) show recall over-rewards such
outliers and propose coverage (balls around the reals) instead. This script measures that effect per checkpoint
with the protocol of `gan-zoo evaluate` (domain features, 1,000 fakes against the 1,000 held-out digits, k = 3):

- recall: as `gan-zoo evaluate` reports it;
- off-manifold fakes: the share of fakes outside every real k-NN ball (1 - precision);
- recall from on-manifold fakes only: the same recall with the off-manifold fakes' balls removed;
- median fake / real k-NN radius.

Each is the mean over the sampling seeds. Results are written up in experiments/stylegan_mnist/README.md.
"""

from __future__ import annotations

import argparse

import torch
from omegaconf import OmegaConf

from gan_zoo.build import build_image_evaluator, instantiate_checked, load_checkpoint_gan
from gan_zoo.metrics.features import extract, generator_source
from gan_zoo.metrics.scores import kth_neighbour_radius


def protocol_config(num: int, k: int):
    """`gan-zoo evaluate`'s metric config with `num` fakes and k for precision/recall (also missed_reals.py's)."""
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--num", type=int, default=1000, help="fakes per draw (the training-time protocol: 1,000)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--k", type=int, default=3)
    args = ap.parse_args()
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
            rows.append([in_fake_ball.any(1).float().mean().item(), 1 - on.float().mean().item(),
                         in_fake_ball[:, on].any(1).float().mean().item(),
                         (r_fake.median() / r_real.median()).item()])
        m = torch.tensor(rows).mean(0).tolist()
        print(f"{path[-60:]:60s} {m[0]:.3f}   {m[1]:.3f}         {m[2]:.3f}                      {m[3]:.3f}")


if __name__ == "__main__":
    main()
