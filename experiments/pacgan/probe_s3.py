"""Recipe search for pacgan_grid25, third session: probe_maxout.py (same networks, packing, losses, eval) plus
the flags below. Prints the PacGAN statistics of 2,500 samples (eval mode) every --every generator steps and the
seconds per 1,000 steps; results: experiments/pacgan/probes_session3.md.

New flags:
  --zdim D          latent dimension (probe_maxout.py: 2)
  --gnorm batch|layer|none, --gact relu|lrelu (LeakyReLU 0.2), --gdepth, --gw
  --glr / --dlr     separate learning rates (default --lr), --beta1, --beta2
  --ncritic K       critic steps per generator step
  --mbstd 0|1       ProGAN minibatch-stddev feature appended to the critic's last hidden layer (over the batch
                    of packs: one scalar, the mean over features of the per-feature std)
  --loss bce|hinge
  --inoise S, --inoise_frac F   instance noise N(0, s^2) on real and fake critic inputs, s = S decayed linearly to 0
                    over the first F of --steps
  --r1 GAMMA        R1 penalty GAMMA/2 E||grad D(real pack)||^2
  --ffseed S       seed of the Fourier frequencies (framework: 0)
  --stopat N        stop at step N (the LR schedule still spans --steps)
  --stopmodes S:M   stop early if modes < M at step S (for quick screening)

    OMP_NUM_THREADS=1 python experiments/pacgan/probe_s3.py --data grid25 --ff 64 --prior uniform --gw 192 --dw 128 --batch 512 --steps 5000 --lr 3e-4 --zdim 8
"""
import argparse, time, math
import torch, torch.nn as nn, torch.nn.functional as F
p = argparse.ArgumentParser()
A = p.add_argument
A("--data", default="grid25"); A("--pack", type=int, default=4)
A("--steps", type=int, default=5000); A("--every", type=int, default=500)
A("--lr", type=float, default=3e-4); A("--glr", type=float, default=None); A("--dlr", type=float, default=None)
A("--beta1", type=float, default=0.5); A("--beta2", type=float, default=0.999)
A("--batch", type=int, default=512); A("--gw", type=int, default=192); A("--gdepth", type=int, default=4)
A("--dw", type=int, default=128); A("--pieces", type=int, default=5)
A("--decay", default="linear"); A("--seed", type=int, default=0); A("--threads", type=int, default=1)
A("--init", type=float, default=0.02); A("--ff", type=int, default=64); A("--ffs", type=float, default=1.0)
A("--prior", default="uniform"); A("--zdim", type=int, default=2); A("--ncritic", type=int, default=1)
A("--gnorm", default="batch"); A("--gact", default="relu"); A("--mbstd", type=int, default=0)
A("--loss", default="bce"); A("--ffseed", type=int, default=0); A("--inoise", type=float, default=0.0); A("--inoise_frac", type=float, default=0.5); A("--r1", type=float, default=0.0); A("--stopat", type=int, default=0); A("--stopmodes", default=""); A("--dump", type=int, default=1)
a = p.parse_args(); torch.manual_seed(a.seed); torch.set_num_threads(a.threads)
glr = a.glr or a.lr; dlr = a.dlr or a.lr
if a.data == "ring8":
    ang = torch.arange(8) * 2 * math.pi / 8; C = torch.stack([ang.cos(), ang.sin()], 1); std = 0.01
else:
    t = torch.arange(5.) * 2 - 4; C = torch.cartesian_prod(t, t); std = 0.05
class Maxout(nn.Module):
    def __init__(s, i, o, k): super().__init__(); s.k = k; s.l = nn.Linear(i, o * k)
    def forward(s, x): return s.l(x).view(len(x), -1, s.k).amax(2)
def norm(w): return {"batch": nn.BatchNorm1d(w), "layer": nn.LayerNorm(w), "none": nn.Identity()}[a.gnorm]
def act(): return nn.ReLU() if a.gact == "relu" else nn.LeakyReLU(0.2)
G = nn.Sequential(*sum([[nn.Linear(a.zdim if i == 0 else a.gw, a.gw, bias=a.gnorm != "batch"), norm(a.gw), act()]
                        for i in range(a.gdepth)], []), nn.Linear(a.gw, 2))
class FF(nn.Module):
    def __init__(s):
        super().__init__(); s.register_buffer("B", torch.randn(2, a.ff, generator=torch.Generator().manual_seed(a.ffseed)) * a.ffs)
    def forward(s, x):
        if a.ff == 0: return x
        v = x.view(len(x), -1, 2); p = v @ s.B
        return torch.cat([v, p.sin(), p.cos()], 2).flatten(1)
class MBStd(nn.Module):
    def forward(s, h):
        sd = h.std(0).mean().expand(len(h), 1)
        return torch.cat([h, sd], 1)
din = a.pack * (2 + 2 * a.ff)
D = nn.Sequential(FF(), Maxout(din, a.dw, a.pieces), Maxout(a.dw, a.dw, a.pieces), Maxout(a.dw, a.dw, a.pieces),
                  *( [MBStd()] if a.mbstd else []), nn.Linear(a.dw + (1 if a.mbstd else 0), 1))
for m in list(G.modules()) + list(D.modules()):
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, 0, a.init)
        if m.bias is not None: nn.init.zeros_(m.bias)
og = torch.optim.Adam(G.parameters(), lr=glr, betas=(a.beta1, a.beta2)); od = torch.optim.Adam(D.parameters(), lr=dlr, betas=(a.beta1, a.beta2))
def lr_at(s):
    f = s / a.steps
    return {"none": 1.0, "linear": 1 - f, "cos": 0.5 * (1 + math.cos(math.pi * f))}[a.decay]
def zs(n, g=None):
    return torch.rand(n, a.zdim, generator=g) * 2 - 1 if a.prior == "uniform" else torch.randn(n, a.zdim, generator=g)
def pk(x): return x.reshape(len(x) // a.pack, -1)
def stats(x):
    d = torch.cdist(x, C); dist, m = d.min(1); hq = dist <= 3 * std
    c = torch.bincount(m[hq], minlength=len(C)); return int((c >= 0.2 * len(x) / len(C)).sum()), hq.float().mean().item(), c
def dloss(rl, fl):
    if a.loss == "hinge": return F.relu(1 - rl).mean() + F.relu(1 + fl).mean()
    return F.softplus(-rl).mean() + F.softplus(fl).mean()
def gloss(fl):
    if a.loss == "hinge": return -fl.mean()
    return F.softplus(-fl).mean()
stop = tuple(int(v) for v in a.stopmodes.split(":")) if a.stopmodes else None
t0 = time.time(); n = a.batch * a.pack; tl = t0
for step in range(1, a.steps + 1):
    f = lr_at(step - 1)
    for g in og.param_groups: g["lr"] = glr * f
    for g in od.param_groups: g["lr"] = dlr * f
    for _ in range(a.ncritic):
        x = C[torch.randint(len(C), (n,))] + std * torch.randn(n, 2)
        with torch.no_grad(): fk = G(zs(n))
        sig = a.inoise * max(0.0, 1 - (step - 1) / (a.inoise_frac * a.steps))
        if sig > 0: x = x + sig * torch.randn_like(x); fk = fk + sig * torch.randn_like(fk)
        xr = pk(x).requires_grad_(a.r1 > 0); rl = D(xr)
        ld = dloss(rl, D(pk(fk)))
        if a.r1 > 0:
            (gr,) = torch.autograd.grad(rl.sum(), xr, create_graph=True); ld = ld + a.r1 / 2 * gr.pow(2).sum(1).mean()
        od.zero_grad(set_to_none=True); ld.backward(); od.step()
    for q in D.parameters(): q.requires_grad_(False)
    fk = G(zs(n))
    if sig > 0: fk = fk + sig * torch.randn_like(fk)
    lg = gloss(D(pk(fk)))
    og.zero_grad(set_to_none=True); lg.backward(); og.step()
    for q in D.parameters(): q.requires_grad_(True)
    if step % a.every == 0 or step == a.steps:
        with torch.no_grad():
            z = zs(2500, torch.Generator().manual_seed(1))
            r = stats(G.eval()(z)); G.train()
        now = time.time()
        print(f"step {step} t {now-t0:.0f}s s/1k {1000*(now-tl)/a.every:.0f} modes {r[0]} hq {r[1]:.3f}", flush=True); tl = now
        if stop and step == stop[0] and r[0] < stop[1]:
            print("STOP early"); break
        if a.stopat and step >= a.stopat: print("STOP at", step); break
print("ARGS", vars(a))
if a.dump:
    print("hq counts (5x5, x rows)", r[2].view(5, 5).tolist() if a.data == "grid25" else r[2].tolist())
