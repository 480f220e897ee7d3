"""Plain-PyTorch probe used to choose the 2D WGAN-GP settings (not the product's training loop).

    OMP_NUM_THREADS=1 [SCALE=2.828] python probe.py grid|ring LAMBDA G_LR,D_LR ZDIM STEPS EMA BATCH

Same MLPs as the mixture experiments (3 x 256 LeakyReLU(0.2)), WGAN-GP with 5 critic steps, Adam
betas (0.5, 0.9); prints gan_zoo's mixture statistics for 2,500 samples of G and of its EMA every
500 generator steps. SCALE divides the data (centres and std) as the WGAN-GP authors' toy script does.
"""
import torch, time, sys, copy
from gan_zoo.data import grid25_centers, ring8_centers
from gan_zoo.metrics.evaluators import mixture_stats
torch.manual_seed(0); torch.set_num_threads(1)
which, lam, lrs, zdim, steps, ema_decay, bs = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
C, std = (grid25_centers(), 0.05) if which == "grid" else (ring8_centers(), 0.01)
S = float(__import__("os").environ.get("SCALE", "1")); C, std = C / S, std / S
def mlp(i, o): return torch.nn.Sequential(torch.nn.Linear(i, 256), torch.nn.LeakyReLU(0.2), torch.nn.Linear(256, 256), torch.nn.LeakyReLU(0.2), torch.nn.Linear(256, 256), torch.nn.LeakyReLU(0.2), torch.nn.Linear(256, o))
G, D = mlp(zdim, 2), mlp(2, 1); E = copy.deepcopy(G).requires_grad_(False)
glr, dlr = map(float, lrs.split(",")); og = torch.optim.Adam(G.parameters(), glr, betas=(0.5, 0.9)); od = torch.optim.Adam(D.parameters(), dlr, betas=(0.5, 0.9))
t = time.time()
for s in range(1, steps + 1):
    for _ in range(5):
        k = torch.randint(len(C), (bs,)); x = C[k] + std * torch.randn(bs, 2)
        with torch.no_grad(): f = G(torch.randn(bs, zdim))
        e = torch.rand(bs, 1); xh = (e * x + (1 - e) * f).requires_grad_(True)
        g, = torch.autograd.grad(D(xh).sum(), xh, create_graph=True)
        l = D(f).mean() - D(x).mean() + lam * ((g.norm(2, dim=1) - 1) ** 2).mean()
        od.zero_grad(); l.backward(); od.step()
    lg = -D(G(torch.randn(bs, zdim))).mean()
    og.zero_grad(); lg.backward(); og.step()
    b = min(ema_decay, (1 + s) / (10 + s))
    with torch.no_grad():
        for pe, p in zip(E.parameters(), G.parameters()): pe.lerp_(p, 1 - b)
    if s % 500 == 0:
        with torch.no_grad():
            z = torch.randn(2500, zdim)
            a, c = mixture_stats(G(z), C, std), mixture_stats(E(z), C, std)
        print(s, round(time.time() - t), "G", {k: round(v, 3) for k, v in a.items()}, "EMA", {k: round(v, 3) for k, v in c.items()}, flush=True)
