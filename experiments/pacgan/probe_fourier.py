"""Recipe probes for the PacGAN mixtures in plain PyTorch: packed MLP critic with optional Fourier features,
BCE or WGAN-GP. Prints modes / high-quality fraction of 2,500 EMA samples every 1,000 generator steps.

    OMP_NUM_THREADS=1 python experiments/pacgan/probe_fourier.py --data grid25 --pack 4 --lr 2e-4 --latent 8
    (--nf 0: no Fourier features; --loss wgan --ncrit 5 --gp 0.1: WGAN-GP)
"""
import sys, torch, torch.nn as nn, copy, time, argparse
from gan_zoo.data.mixtures import grid25_centers, ring8_centers
from gan_zoo.losses import d_bce, g_nonsaturating, d_wasserstein, g_wasserstein, gradient_penalty
from gan_zoo.networks.mlp import MLPDiscriminator, MLPGenerator
from gan_zoo.metrics.evaluators import mixture_stats
from gan_zoo.models.noise import pack_samples
p = argparse.ArgumentParser()
for k, v in dict(data="grid25", sigma=1.0, lr=1e-3, dlr=0.0, pack=4, nf=64, loss="bce", ncrit=1, latent=2, steps=4000, gp=0.1, b1=0.5, b2=0.999, width=256).items():
    p.add_argument("--" + k, type=type(v), default=v)
a = p.parse_args()
torch.manual_seed(0)
c, std = (grid25_centers(), 0.05) if a.data == "grid25" else (ring8_centers(), 0.01)
B = torch.randn(2, a.nf) * a.sigma
class FD(nn.Module):
    def __init__(s):
        super().__init__(); s.d = MLPDiscriminator(((2 + 2*a.nf) * a.pack,), hidden=[a.width]*3, dropout=0.0)
    def forward(s, x, y=None):
        x = x.reshape(-1, 2)
        pp = x @ B
        f = torch.cat([x, torch.sin(pp), torch.cos(pp)], 1)
        return s.d(pack_samples(f, a.pack))
G = MLPGenerator(a.latent, (2,), hidden=[a.width]*3, output="linear"); D = FD(); E = copy.deepcopy(G)
og = torch.optim.Adam(G.parameters(), lr=a.lr, betas=(a.b1, a.b2)); od = torch.optim.Adam(D.parameters(), lr=a.dlr or a.lr, betas=(a.b1, a.b2))
t=time.time(); g=0
for step in range(1, a.steps * a.ncrit + 1):
    x = c[torch.randint(len(c), (256,))] + std*torch.randn(256,2)
    with torch.no_grad(): f = G(torch.randn(256,a.latent))
    if a.loss == "bce":
        l = d_bce(D(x), D(f))
    else:
        xp, fp = x.reshape(-1, 2*a.pack), f.reshape(-1, 2*a.pack)
        l = d_wasserstein(D(x), D(f)) + a.gp * gradient_penalty(lambda z, y=None: D(z), xp, fp)
    od.zero_grad(); l.backward(); od.step()
    if step % a.ncrit: continue
    out = D(G(torch.randn(256,a.latent)))
    gl = g_nonsaturating(out) if a.loss == "bce" else g_wasserstein(out)
    og.zero_grad(); gl.backward(); og.step(); g += 1
    with torch.no_grad():
        b = min(0.999, (1+g)/(10+g))
        for pe, pg in zip(E.parameters(), G.parameters()): pe.lerp_(pg, 1-b)
    if g % 1000 == 0:
        with torch.no_grad(): s = E(torch.randn(2500,a.latent, generator=torch.Generator().manual_seed(1)))
        st = mixture_stats(s, c, std); print(sys.argv[1:], g, f"{time.time()-t:.0f}s", st['modes'], round(st['hq_fraction'],3), flush=True)
