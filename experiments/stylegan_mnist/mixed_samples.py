"""Samples of a stylegan checkpoint drawn the way training draws its fakes: style mixing with probability P.

    python experiments/stylegan_mnist/mixed_samples.py CKPT P OUT.npz [SEED]
    gan-zoo evaluate samples=OUT.npz data=mnist_mini metric_names=[fid,pr,dc]

With style_mixing_prob 0.9, nine in ten of the fakes the critic (and its minibatch-stddev feature) sees carry the
styles of two latents, while the metrics score unmixed samples. This writes 1,000 EMA samples at P (0: the metrics'
distribution) so the two can be scored with the same protocol: if mixing inflated the variety the critic sees,
the mixed samples' recall would sit above the unmixed ones'. Per-pixel noise: the generator's fixed maps (eval mode).
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from gan_zoo.build import load_checkpoint_gan
from gan_zoo.data.images import to_uint8_images
from gan_zoo.models.base import eval_mode


def main() -> None:
    ckpt, p, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    gan, _ = load_checkpoint_gan(ckpt, map_location="cpu")
    torch.manual_seed(seed)  # mixed_styles draws its second latents and crossovers from the global RNG
    gan.style_mixing_prob = p
    net = gan.sampling_generator
    top = net.levels - 1
    with torch.no_grad(), eval_mode(net):
        x = gan.finish(net.synthesis(gan.mixed_styles(net, gan.noise(1000), level=top), top, 1.0))
    np.savez(out, images=to_uint8_images(x).numpy())
    print(f"{out}: 1000 samples, style mixing probability {p}, seed {seed}")


if __name__ == "__main__":
    main()
