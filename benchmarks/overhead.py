"""What gan_zoo's Trainer costs over a plain PyTorch loop: same networks, losses, optimizers and DataLoader.

    python benchmarks/overhead.py                       # every case, fp32 and bf16, 3 interleaved repeats
    python benchmarks/overhead.py --cases dcgan_mnist --precisions fp32 --repeats 5
    GAN_ZOO_CACHE=$PWD/.cache python benchmarks/overhead.py --cases dcgan_cifar10_cpu --precisions fp32

For each case both sides are built from the same composed config (`build_gan`, same seed), read the same
DataModule's train_dataloader, run one warm-up epoch of `batches` batches and then time one epoch of
`batches` batches. The plain side is the loop a careful user writes by hand: D step (loss + penalty), a G
step every n_critic batches against a frozen D, EMA when the config has one, torch.autocast for bf16. The
gan_zoo side is `Trainer.fit` as `gan-zoo train` runs it (manual optimisation, finite checks, a CSV logger
at the configured interval), minus validation and checkpoints (the same work on both sides).

Repeats are interleaved (plain, gan_zoo, plain, gan_zoo, ...) so load changes hit both sides alike; each
figure is the median. One line per case ends with `ratio=X.XX` = plain throughput / gan_zoo throughput
(above 1: gan_zoo is slower). Results are recorded in benchmarks/RESULTS.md with the machine.

Optimizers: the plain side builds them from the config as written (`torch.optim.Adam(params, lr, betas)`,
torch's defaults: a per-tensor loop on the CPU); gan_zoo adds `fused=True` where torch has it
(`trainer.fused_optimizers`, gan_zoo/utils/hotpath.py). `--plain-fused` gives the plain side fused optimizers
too, so the ratio is the Trainer's cost alone.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from contextlib import nullcontext
from typing import Any

import hydra
import lightning as L
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, open_dict
from throughput import Timer  # benchmarks/throughput.py: per-epoch seconds and batches, counted

from gan_zoo.build import build_gan, data_facts
from gan_zoo.models.noise import pack_samples
from gan_zoo.utils.hotpath import cache_cuda_device_count

# case -> (overrides, batches per timed epoch)
CASES: dict[str, tuple[list[str], int]] = {
    "dcgan_mnist": (["experiment=dcgan_mnist"], 62),  # one whole 4,000-image epoch at batch 64
    "wgan_gp_ring8": (["experiment=wgan_gp_ring8"], 300),  # 60 generator steps (5 critic batches each)
    "pacgan_ring8": (["experiment=pacgan_ring8"], 50),  # the mixture recipe that replaces it: one epoch
    # the 45-minute CPU race recipe on the CIFAR-10 copy (decoded once, cached under $GAN_ZOO_CACHE): 40 batches of 64
    "dcgan_cifar10_cpu": (["experiment=dcgan_cifar10_cpu", "data.root=data/cifar10"], 40),
}
PRECISIONS = {"fp32": [], "bf16": ["hardware=bf16", "hardware.accelerator=cpu"]}


def compose_cfg(overrides: list[str]) -> DictConfig:
    """The config `gan-zoo train` would compose, with outputs in a temporary folder."""
    GlobalHydra.instance().clear()
    with initialize_config_module("gan_zoo.conf", version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.paths.output_dir = tempfile.mkdtemp(prefix="gan_zoo_overhead_")
    return cfg


def build(cfg: DictConfig) -> tuple[Any, Any]:
    """A fresh datamodule and game from the same seed (both sides start from the same weights)."""
    L.seed_everything(0, verbose=False)
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup("fit")
    gan = build_gan(cfg, data_facts(dm))
    return dm, gan


def plain_loop(cfg: DictConfig, batches: int, fused: bool = False) -> tuple[float, int]:
    """(seconds, batches run) of one timed epoch of at most `batches` batches of the hand-written loop, after a
    warm-up epoch. Batches are counted, not assumed: an epoch may hold fewer."""
    dm, gan = build(cfg)
    # A script that never imports Lightning never has PYTORCH_NVML_BASED_CUDA_CHECK set, so its Adam steps do not
    # probe NVML; this process imported Lightning, so the plain side gets the cache gan_zoo sets at fit start
    # (gan_zoo/utils/hotpath.py). Its loss functions are build_gan's, plain functools.partials like a script's.
    cache_cuda_device_count()
    dev = torch.device("cpu")
    G, D = gan.generator.to(dev).train(), gan.discriminator.to(dev).train()
    ema = copy.deepcopy(G).requires_grad_(False) if gan.ema_decay else None
    # the config's optimizer as a user writes it (build_gan's FusedWhenSupported wrapper unwrapped), or fused
    factory = {k: f if fused else getattr(f, "factory", f) for k, f in gan.optimizer_factories.items()}
    opt_g = factory["g"](params=list(G.parameters()))
    opt_d = factory["d"](params=list(D.parameters()))
    bf16 = "bf16" in str(cfg.hardware.precision)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else nullcontext
    pack, n_critic, latent = gan.pack, gan.n_critic, gan.latent_dim
    d_params, step = list(D.parameters()), 0

    def epoch() -> int:
        nonlocal step
        ran = 0
        for i, batch in enumerate(dm.train_dataloader()):
            if i == batches:
                break
            ran += 1
            x, _ = dm.on_after_batch_transfer(batch, 0)  # the same hook Lightning calls (uint8 -> [-1, 1] images)
            with torch.no_grad(), autocast():
                fake = G(torch.randn(len(x), latent), None)
            with autocast():
                real_p, fake_p = pack_samples(x, pack), pack_samples(fake, pack)
                loss = gan.d_loss(D(real_p, None), D(fake_p, None))
                if gan.regularized:
                    loss = loss + gan.reg_weight * gan.regularizer(D, real_p, fake_p, None)
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
            step += 1
            if step % n_critic:
                continue
            for p in d_params:
                p.requires_grad_(False)
            with autocast():
                g_loss = gan.g_loss(D(pack_samples(G(torch.randn(len(x), latent), None), pack), None))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            for p in d_params:
                p.requires_grad_(True)
            if ema is not None:
                with torch.no_grad():
                    torch._foreach_lerp_(
                        list(ema.parameters()), [p.detach() for p in G.parameters()], 1 - gan.ema_decay
                    )
        return ran

    epoch()  # warm-up
    t0 = time.perf_counter()
    ran = epoch()
    return time.perf_counter() - t0, ran


def gan_zoo_fit(cfg: DictConfig, batches: int) -> tuple[float, int]:
    """(seconds, batches run) of the second of two epochs of at most `batches` batches of Trainer.fit
    (validation and checkpoints off)."""
    dm, gan = build(cfg)
    timer = Timer()
    trainer = L.Trainer(
        **dict(cfg.hardware),
        max_epochs=2,
        limit_train_batches=batches,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=CSVLogger(cfg.paths.output_dir, name="csv"),
        log_every_n_steps=cfg.trainer.log_every_n_steps,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(gan, datamodule=dm)
    last = timer.epochs[-1]
    return last["seconds"], int(last["batches"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=list(PRECISIONS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plain-fused", action="store_true", help="fused optimizers on the plain side too")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, Lightning {L.__version__}, {torch.get_num_threads()} threads, CPU", flush=True)
    for case in args.cases:
        overrides, batches = CASES[case]
        for prec in args.precisions:
            cfg = compose_cfg([*overrides, *PRECISIONS[prec]])
            bs = int(cfg.data.batch_size)
            plain, ours = [], []
            for _ in range(args.repeats):  # interleaved
                plain.append(plain_loop(cfg, batches, args.plain_fused))
                ours.append(gan_zoo_fit(cfg, batches))
            ran = {n for _, n in plain + ours}
            if len(ran) != 1:
                raise SystemExit(f"{case}: the two sides ran different numbers of batches {sorted(ran)}")
            n = ran.pop()
            tp, to = statistics.median(t for t, _ in plain), statistics.median(t for t, _ in ours)
            side = "plain (fused optimizers)" if args.plain_fused else "plain"
            print(
                f"{case} {prec} batch={bs} batches={n} repeats={args.repeats}: {side} {n * bs / tp:,.0f} "
                f"samples/s ({n / tp:.1f} batches/s), gan_zoo {n * bs / to:,.0f} samples/s "
                f"({n / to:.1f} batches/s); plain s {[round(t, 2) for t, _ in plain]}, gan_zoo s "
                f"{[round(t, 2) for t, _ in ours]} ratio={to / tp:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
