"""Recipe search for pacgan_ring8 / pacgan_grid25 in plain PyTorch (the same networks, losses and packing
as gan_zoo, without Lightning), printing the PacGAN statistics of 2,500 EMA samples every `--every` steps.

    python experiments/pacgan/probe.py --data grid25 --pack 4 --steps 4000 --lr 1e-3
"""

import argparse
import copy
import time

import torch

from gan_zoo.data.mixtures import grid25_centers, ring8_centers
from gan_zoo.losses import d_bce, g_nonsaturating
from gan_zoo.metrics.evaluators import mixture_stats
from gan_zoo.models.noise import pack_samples
from gan_zoo.networks.mlp import MLPDiscriminator, MLPGenerator

p = argparse.ArgumentParser()
p.add_argument("--data", default="ring8")
p.add_argument("--pack", type=int, default=4)
p.add_argument("--steps", type=int, default=4000)
p.add_argument("--every", type=int, default=500)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--d_lr", type=float, default=None)
p.add_argument("--beta1", type=float, default=0.5)
p.add_argument("--batch", type=int, default=256)
p.add_argument("--width", type=int, default=256)
p.add_argument("--depth", type=int, default=3)
p.add_argument("--gnorm", default="none")
p.add_argument("--latent", type=int, default=2)
p.add_argument("--ema", type=float, default=0.999)
p.add_argument("--noise", type=float, default=0.0)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
torch.manual_seed(a.seed)
centers, std = (ring8_centers(), 0.01) if a.data == "ring8" else (grid25_centers(), 0.05)
G = MLPGenerator(a.latent, (2,), hidden=[a.width] * a.depth, output="linear", norm=a.gnorm)
D = MLPDiscriminator((2 * a.pack,), hidden=[a.width] * a.depth, dropout=0.0)
E = copy.deepcopy(G).requires_grad_(False)
og = torch.optim.Adam(G.parameters(), lr=a.lr, betas=(a.beta1, 0.999))
od = torch.optim.Adam(D.parameters(), lr=a.d_lr or a.lr, betas=(a.beta1, 0.999))
t0 = time.time()
for step in range(1, a.steps + 1):
    k = torch.randint(len(centers), (a.batch,))
    x = centers[k] + std * torch.randn(a.batch, 2)
    with torch.no_grad():
        fake = G(torch.randn(a.batch, a.latent))
    loss = d_bce(D(pack_samples(x, a.pack)), D(pack_samples(fake, a.pack)), label_noise=a.noise)
    od.zero_grad(); loss.backward(); od.step()
    fake = G(torch.randn(a.batch, a.latent))
    gl = g_nonsaturating(D(pack_samples(fake, a.pack)))
    og.zero_grad(); gl.backward(); og.step()
    with torch.no_grad():
        beta = min(a.ema, (1 + step) / (10 + step))
        for pe, pg in zip(E.parameters(), G.parameters()):
            pe.lerp_(pg, 1 - beta)
        for be, bg in zip(E.buffers(), G.buffers()):
            be.copy_(bg)
    if step % a.every == 0:
        E.eval()
        with torch.no_grad():
            s = mixture_stats(E(torch.randn(2500, a.latent, generator=torch.Generator().manual_seed(1))), centers, std)
            s2 = mixture_stats(G.eval()(torch.randn(2500, a.latent, generator=torch.Generator().manual_seed(1))), centers, std)
        G.train()
        print(f"{vars(a)} step {step} t {time.time() - t0:.0f}s ema modes {s['modes']:.0f} hq {s['hq_fraction']:.3f} "
              f"| raw modes {s2['modes']:.0f} hq {s2['hq_fraction']:.3f}", flush=True)
