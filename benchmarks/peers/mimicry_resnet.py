"""The SN-GAN and WGAN-GP peers: mimicry (kwotsin/mimicry) training its 32-px CIFAR-10 ResNets with its own
Trainer, on the CIFAR-10 copy, stopped after N minutes of training; 5,000 samples drawn as its FID code draws
them (netG.eval(), netG.generate_images in batches of 50, no_grad).

    python benchmarks/peers/mimicry_resnet.py --peer /work/peers/mimicry --model sngan --minutes 45 \
        --data-root data/cifar10 --out outputs/peers/mimicry_sngan
    python benchmarks/peers/mimicry_resnet.py --peer /work/peers/mimicry --model wgan_gp --minutes 45 \
        --data-root data/cifar10 --out outputs/peers/mimicry_wgan_gp

--peer is a checkout of https://github.com/kwotsin/mimicry (the race used commit COMMIT, below); nothing of it is
copied here. The settings are its CIFAR-10 ones (its README and examples/sngan_example.py): SNGANGenerator32 /
SNGANDiscriminator32 (hinge loss inside the nets) or WGANGPGenerator32 / WGANGPDiscriminator32 (Wasserstein +
gradient penalty 10 inside the nets), Adam(2e-4, betas 0.0, 0.9), n_dis 5, batch 64, 100,000 steps with linear
decay (only the first part of the schedule fits 45 CPU minutes). Its dataset is the copy's `train/` class folders
decoded once into memory; its metrics (TensorFlow Inception) are never imported: a stand-in `tensorflow` module
satisfies the package's import, and tensorboard (its Trainer's logger) comes from --pydeps when the venv lacks it
(`pip install --target /work/peers/pydeps tensorboard`). Outputs as benchmarks/peers/pytorch_gan_dcgan.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
from common import Clock, InMemoryCIFAR10, TimeUp, load_train_split, save_samples

COMMIT = "a7fda06c4aff1e6af8dc4c4a35ed6636e434c766"
NETS = {"sngan": ("sngan", "SNGANGenerator32", "SNGANDiscriminator32"),
        "wgan_gp": ("wgan_gp", "WGANGPGenerator32", "WGANGPDiscriminator32")}  # fmt: skip


def import_mimicry(peer: Path, pydeps: Path | None) -> types.ModuleType:
    """torch_mimicry from the checkout, its TensorFlow-only metrics satisfied by a stand-in module.

    tensorboard is imported first, without the stand-in, so it picks its own TensorFlow-free path; the stand-in
    exists only while torch_mimicry's modules run their `import tensorflow`."""
    sys.path.insert(0, str(peer))
    if pydeps is not None and pydeps.is_dir():
        sys.path.append(str(pydeps))  # after the venv: only what the venv lacks (tensorboard) comes from there
    import torch.utils.tensorboard  # noqa: F401 - before the stand-in (see above)

    had_tf = "tensorflow" in sys.modules
    sys.modules.setdefault("tensorflow", types.ModuleType("tensorflow"))
    try:
        import torch_mimicry
    finally:
        if not had_tf:
            del sys.modules["tensorflow"]
    return torch_mimicry


def draw_like_the_peer(net_g: torch.nn.Module, n: int, seed: int) -> torch.Tensor:
    """n samples as mimicry's FID code draws them: eval mode, generate_images in batches of 50, no_grad."""
    net_g.eval()
    out = []
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        for start in range(0, n, 50):
            out.append(net_g.generate_images(num_images=min(50, n - start), device=torch.device("cpu")))
    net_g.train()
    return torch.cat(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer", required=True, help="path of the mimicry checkout")
    ap.add_argument("--model", choices=sorted(NETS), required=True)
    ap.add_argument("--minutes", type=float, default=45.0, help="training budget (wall clock)")
    ap.add_argument("--snapshot-minutes", type=float, default=5.0)
    ap.add_argument("--data-root", default="data/cifar10")
    ap.add_argument("--out", required=True)
    ap.add_argument("--num-samples", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pydeps", default="/work/peers/pydeps", help="folder with tensorboard if the venv lacks it")
    args = ap.parse_args()
    peer, out = Path(args.peer).resolve(), Path(args.out).resolve()
    if not (peer / "torch_mimicry").is_dir():
        raise SystemExit(f"--peer {peer}: no torch_mimicry/ there; give a checkout of kwotsin/mimicry")
    commit_file = peer / "COMMIT"
    commit = commit_file.read_text().strip() if commit_file.is_file() else "unknown (no COMMIT file)"
    mmc = import_mimicry(peer, Path(args.pydeps) if args.pydeps else None)
    pkg, g_name, d_name = NETS[args.model]
    nets = getattr(mmc.nets, pkg)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    x, y, dataset_id = load_train_split(args.data_root)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    net_g, net_d = getattr(nets, g_name)(), getattr(nets, d_name)()

    def snapshot(tag: str, seconds: float) -> None:
        imgs = draw_like_the_peer(net_g, args.num_samples, args.seed + 1)
        info = {"peer": f"mimicry {g_name}", "commit": commit, "train_seconds": seconds, "dataset_id": dataset_id}
        save_samples(imgs, out / f"samples-{tag}.npz", info)
        torch.save(net_g.state_dict(), out / f"generator-{tag}.pt")

    clock = Clock(args.minutes * 60, args.snapshot_minutes * 60, lambda s: snapshot(f"{round(s):06d}s", s))
    loader = torch.utils.data.DataLoader(InMemoryCIFAR10(x, y, clock), batch_size=64, shuffle=True, drop_last=True)
    opt_d = torch.optim.Adam(net_d.parameters(), 2e-4, betas=(0.0, 0.9))
    opt_g = torch.optim.Adam(net_g.parameters(), 2e-4, betas=(0.0, 0.9))
    trainer = mmc.training.Trainer(
        netD=net_d,
        netG=net_g,
        optD=opt_d,
        optG=opt_g,
        n_dis=5,
        num_steps=100000,
        lr_decay="linear",
        dataloader=loader,
        log_dir=str(out / "log"),
        device=torch.device("cpu"),
    )
    try:
        trainer.train()
    except TimeUp:
        pass
    trained = clock.elapsed()
    snapshot("final", trained)
    batches = clock.items // 64
    report = {
        "peer": f"mimicry {g_name} / {d_name}",
        "commit": commit,
        "dataset_id": dataset_id,
        "train_seconds": trained,
        "batches": batches,
        "generator_steps": batches // 5,
        "images_per_second": batches * 64 / max(trained, 1e-9),
        "command_seconds": time.monotonic() - t_start,
        "load_average": os.getloadavg(),
        "torch_threads": torch.get_num_threads(),
    }
    (out / "peer.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
