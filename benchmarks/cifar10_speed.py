"""Training speed of the CIFAR-10 recipes: images/s of the step and its share of the box's matmul peak.

    GAN_ZOO_CACHE=$PWD/.cache python benchmarks/cifar10_speed.py                       # every recipe
    GAN_ZOO_CACHE=$PWD/.cache python benchmarks/cifar10_speed.py --cases dcgan_cifar10_cpu --batches 20
    python benchmarks/cifar10_speed.py --cases dcgan_cifar10_cpu --extra model.generator.base_channels=48

Images/s: real images the critic reads per second through `Trainer.fit` as `gan-zoo train` runs it
(validation, logging and checkpoints off), the second of two epochs of `--batches` batches (the first warms up).
FLOPs: torch.utils.flop_counter over one generator step of the same game (n_critic critic steps on a real and a
fake batch, the penalty when the loss has one, then one generator step), divided by the images that step reads;
FLOP/s = FLOPs per image x images/s, shown as a share of `--peak` (GFLOP/s: the box's fp32 2-thread matmul peak,
benchmarks/RESULTS.md). Results are recorded by hand in benchmarks/RESULTS.md with the command and the load.
"""

from __future__ import annotations

import argparse
import os

import hydra
import lightning as L
import torch
from omegaconf import DictConfig
from overhead import compose_cfg  # the same composition `gan-zoo train` does (benchmarks/ is on sys.path)
from throughput import Timer  # benchmarks/throughput.py: per-epoch seconds and batches, counted
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from gan_zoo.build import build_gan, data_facts
from gan_zoo.models.noise import pack_samples

CASES = ("dcgan_cifar10_cpu", "dcgan_cifar10", "sngan_cifar10", "wgan_gp_cifar10")


class FlopCount(TorchDispatchMode):
    """Counts FLOPs with torch.utils.flop_counter's formulas; FlopCounterMode's module tracker cannot follow the
    double backward of a gradient penalty (autograd.grad inside backward), so this mode tracks no modules."""

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 - torch's protocol
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


def flops_per_image(gan: object, batch: int) -> float:
    """FLOPs of one generator step (n_critic critic steps + one G step, forward and backward) per real image read."""
    G, D = gan.generator.train(), gan.discriminator.train()
    x = torch.rand(batch, 3, 32, 32) * 2 - 1
    y = torch.randint(0, gan.num_classes, (batch,)) if gan.num_classes else None
    counter = FlopCount()
    with counter:
        for _ in range(gan.n_critic):
            with torch.no_grad():
                fake = G(torch.randn(batch, gan.latent_dim), y)
            real_p, fake_p = pack_samples(x, gan.pack), pack_samples(fake, gan.pack)
            loss = gan.d_loss(D(real_p, y), D(fake_p, y))
            if gan.regularized:
                loss = loss + gan.reg_weight * gan.regularizer(D, real_p, fake_p, y)
            loss.backward()
        g_loss = gan.g_loss(D(pack_samples(G(torch.randn(batch, gan.latent_dim), y), gan.pack), y))
        g_loss.backward()
    G.zero_grad(set_to_none=True)
    D.zero_grad(set_to_none=True)
    return counter.flops / (batch * gan.n_critic)


def images_per_second(cfg: DictConfig, batches: int) -> tuple[float, int]:
    """(real images/s, batch size) of the second of two epochs of `batches` batches of Trainer.fit."""
    L.seed_everything(0, verbose=False)
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup("fit")
    gan = build_gan(cfg, data_facts(dm))
    timer = Timer()
    trainer = L.Trainer(
        **dict(cfg.hardware),
        max_epochs=2,
        limit_train_batches=batches,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(gan, datamodule=dm)
    last = timer.epochs[-1]
    bs = int(cfg.data.batch_size)
    return last["batches"] * bs / last["seconds"], bs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES))
    ap.add_argument("--extra", nargs="*", default=[], help="overrides added to every case")
    ap.add_argument("--batches", type=int, default=20, help="batches per timed epoch")
    ap.add_argument("--peak", type=float, default=185.0, help="the box's matmul peak, GFLOP/s")
    ap.add_argument("--data-root", default="data/cifar10")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()}", flush=True)
    for case in args.cases:
        cfg = compose_cfg([f"experiment={case}", f"data.root={args.data_root}", *args.extra])
        gan = build_gan(cfg, {"kind": "image", "shape": [3, 32, 32], "num_classes": 10, "dataset_id": "cifar10"})
        fpi = flops_per_image(gan, int(cfg.data.batch_size))
        ips, bs = images_per_second(cfg, args.batches)
        gflops = fpi * ips / 1e9
        print(
            f"{case} {' '.join(args.extra)} batch={bs} n_critic={cfg.model.n_critic}: {ips:,.0f} img/s, "
            f"{fpi / 1e9:.3f} GFLOP/img, {gflops:.1f} GFLOP/s = {100 * gflops / args.peak:.0f}% of "
            f"{args.peak:.0f}; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
