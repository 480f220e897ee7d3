"""Recipe search for pacgan_ring8 / pacgan_grid25 in plain PyTorch (issue 7, second session): PacGAN's own 2D
networks (G: 4 BatchNorm-ReLU layers, N(0, 0.02) init; critic: 3 LinearMaxout layers of 5 pieces, optionally
reading random Fourier features of each packed sample), BCE, Adam, LR decayed to 0. Prints the PacGAN
statistics of 2,500 samples (eval mode) every --every generator steps; the table is experiments/pacgan/README.md.

    python experiments/pacgan/probe_maxout.py --data ring8 --steps 6000 --lr 3e-4 --pack 4 --gw 192 --dw 128 --batch 256
    python experiments/pacgan/probe_maxout.py --data grid25 --ff 64 --prior uniform --gw 192 --dw 128 --batch 256

--batch counts critic inputs (packs): each step reads batch x pack real and generated points.
"""
import argparse, copy, time, math
import torch, torch.nn as nn, torch.nn.functional as F
p = argparse.ArgumentParser()
p.add_argument("--data", default="ring8"); p.add_argument("--pack", type=int, default=4)
p.add_argument("--steps", type=int, default=4000); p.add_argument("--every", type=int, default=500)
p.add_argument("--lr", type=float, default=1e-3); p.add_argument("--beta1", type=float, default=0.5)
p.add_argument("--batch", type=int, default=100); p.add_argument("--gw", type=int, default=400)
p.add_argument("--dw", type=int, default=200); p.add_argument("--pieces", type=int, default=5)
p.add_argument("--decay", default="linear"); p.add_argument("--ema", type=float, default=0.0)
p.add_argument("--seed", type=int, default=0); p.add_argument("--threads", type=int, default=1)
p.add_argument("--init", type=float, default=0.02); p.add_argument("--dump", type=int, default=1); p.add_argument("--ff", type=int, default=0); p.add_argument("--prior", default="normal"); p.add_argument("--ncritic", type=int, default=1); p.add_argument("--gscale", type=float, default=1.0); p.add_argument("--ffs", type=float, default=1.0); p.add_argument("--scale", type=float, default=1.0)
a = p.parse_args(); torch.manual_seed(a.seed); torch.set_num_threads(a.threads)
if a.data == "ring8":
    ang = torch.arange(8) * 2 * math.pi / 8; C = torch.stack([ang.cos(), ang.sin()], 1); std = 0.01
else:
    t = torch.arange(5.) * 2 - 4; C = torch.cartesian_prod(t, t); std = 0.05
class Maxout(nn.Module):
    def __init__(s, i, o, k): super().__init__(); s.k = k; s.l = nn.Linear(i, o * k)
    def forward(s, x): return s.l(x).view(len(x), -1, s.k).amax(2)
G0 = nn.Sequential(*sum([[nn.Linear(2 if i == 0 else a.gw, a.gw, bias=False), nn.BatchNorm1d(a.gw), nn.ReLU()] for i in range(4)], []), nn.Linear(a.gw, 2))
class FF(nn.Module):
    def __init__(s):
        super().__init__(); s.register_buffer("B", torch.randn(2, a.ff, generator=torch.Generator().manual_seed(0)) * a.ffs)
    def forward(s, x):
        if a.ff == 0: return x
        v = x.view(len(x), -1, 2); p = v @ s.B
        return torch.cat([v, p.sin(), p.cos()], 2).flatten(1)
din = a.pack * (2 + 2 * a.ff)
class Scaled(nn.Module):
    def __init__(s, net): super().__init__(); s.net = net
    def forward(s, z): return s.net(z) * a.gscale
G = Scaled(G0)
D = nn.Sequential(FF(), Maxout(din, a.dw, a.pieces), Maxout(a.dw, a.dw, a.pieces), Maxout(a.dw, a.dw, a.pieces), nn.Linear(a.dw, 1))
for m in list(G.modules()) + list(D.modules()):
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, 0, a.init)
        if m.bias is not None: nn.init.zeros_(m.bias)
E = copy.deepcopy(G) if a.ema else None
og = torch.optim.Adam(G.parameters(), lr=a.lr, betas=(a.beta1, 0.999)); od = torch.optim.Adam(D.parameters(), lr=a.lr, betas=(a.beta1, 0.999))
def lr_at(s):
    f = s / a.steps
    return {"none": 1.0, "linear": 1 - f, "cos": 0.5 * (1 + math.cos(math.pi * f)), "late": min(1.0, 3 * (1 - f))}[a.decay]
def zs(n, g=None):
    return torch.rand(n, 2, generator=g) * 2 - 1 if a.prior == "uniform" else torch.randn(n, 2, generator=g)
def pk(x): return x.reshape(len(x) // a.pack, -1)
def stats(x):
    d = torch.cdist(x, C); dist, m = d.min(1); hq = dist <= 3 * std
    c = torch.bincount(m[hq], minlength=len(C)); return int((c >= 0.2 * len(x) / len(C)).sum()), hq.float().mean().item()
t0 = time.time(); n = a.batch * a.pack
for step in range(1, a.steps + 1):
    for o in (og, od):
        for g in o.param_groups: g["lr"] = a.lr * lr_at(step - 1)
    for _ in range(a.ncritic):
        x = (C[torch.randint(len(C), (n,))] + std * torch.randn(n, 2)) / a.scale
        with torch.no_grad(): fk = G(zs(n))
        rl, fl = D(pk(x)), D(pk(fk))
        ld = F.softplus(-rl).mean() + F.softplus(fl).mean()
        od.zero_grad(set_to_none=True); ld.backward(); od.step()
    for q in D.parameters(): q.requires_grad_(False)
    lg = F.softplus(-D(pk(G(zs(n))))).mean()
    og.zero_grad(set_to_none=True); lg.backward(); og.step()
    for q in D.parameters(): q.requires_grad_(True)
    if E is not None:
        with torch.no_grad():
            for pe, pg in zip(E.parameters(), G.parameters()): pe.lerp_(pg, 1 - a.ema)
            for be, bg in zip(E.buffers(), G.buffers()): be.copy_(bg)
    if step % a.every == 0 or step == a.steps:
        with torch.no_grad():
            z = zs(2500, torch.Generator().manual_seed(1))
            r = stats(G.eval()(z) * a.scale); G.train()
            re = stats(E.eval()(z) * a.scale) if E is not None else None
        print(f"step {step} t {time.time()-t0:.0f}s modes {r[0]} hq {r[1]:.3f}" + (f" | ema {re[0]} {re[1]:.3f}" if re else ""), flush=True)
print("ARGS", vars(a))
if a.dump:
    with torch.no_grad():
        x = G.eval()(zs(2500)) * a.scale
    d = torch.cdist(x, C); dist, m = d.min(1)
    print("dist quantiles", [round(v, 3) for v in dist.quantile(torch.tensor([.1, .25, .5, .75, .9])).tolist()])
    print("nearest counts", torch.bincount(m, minlength=len(C)).tolist())
