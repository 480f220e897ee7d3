"""The DCGAN peer: PyTorch-GAN's `implementations/dcgan/dcgan.py --channels 3 --img_size 32` on the CIFAR-10 copy,
stopped after N minutes of training, 5,000 samples drawn as its code draws them (train mode, batches of its
batch size, z ~ N(0, 1)).

    python benchmarks/peers/pytorch_gan_dcgan.py --peer /work/peers/PyTorch-GAN --minutes 45 \
        --data-root data/cifar10 --out outputs/peers/pytorch_gan_dcgan

--peer is a checkout of https://github.com/eriklindernoren/PyTorch-GAN at commit COMMIT (below); nothing of it
is copied here. Its MNIST dataset class is replaced by the copy's `train/` class folders decoded once into memory
(the images in [-1, 1], as its ToTensor + Normalize([0.5], [0.5]) would give), everything else is its own code:
networks, init, losses, optimizers, batch 64, its per-batch print and sample PNGs (written under --out/work/).
The clock starts at its first batch and stops it at a batch edge after --minutes; every --snapshot-minutes
(clock paused) and at the end the launcher saves the generator's weights and 5,000 samples:
    --out/samples-SSSSSSs.npz, --out/generator-SSSSSSs.pt, and samples-final.npz / generator-final.pt,
    --out/peer.json (commit, steps, images/s, elapsed).
Score them with experiments/cifar10/score_curve.py --peer-dir --out (docs/cifar10.md).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from common import Clock, InMemoryCIFAR10, load_train_split, run_peer_script, save_samples

COMMIT = "36d3c77e5ff20ebe0aeefd322326a134a279b93e"
SCRIPT = Path("implementations/dcgan/dcgan.py")
ARGS = ["--channels", "3", "--img_size", "32", "--n_epochs", "1000000"]


def draw_like_the_peer(generator: torch.nn.Module, n: int, latent_dim: int, batch: int, seed: int) -> torch.Tensor:
    """n samples from the generator in train mode (its BatchNorm on batch statistics, as every image its training
    loop saves), z ~ N(0, 1) in batches of its batch size; a separate RNG leaves the peer's own stream untouched."""
    rng = np.random.default_rng(seed)
    generator.train()
    out = []
    with torch.no_grad():
        for start in range(0, n, batch):
            z = torch.from_numpy(rng.normal(0, 1, (min(batch, n - start), latent_dim))).float()
            out.append(generator(z))
    return torch.cat(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer", required=True, help="path of the PyTorch-GAN checkout")
    ap.add_argument("--minutes", type=float, default=45.0, help="training budget (wall clock)")
    ap.add_argument("--snapshot-minutes", type=float, default=5.0)
    ap.add_argument("--data-root", default="data/cifar10")
    ap.add_argument("--out", default="outputs/peers/pytorch_gan_dcgan")
    ap.add_argument("--num-samples", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0, help="seed of the peer's RNGs (it sets none) and of the samples")
    args = ap.parse_args()
    peer, out = Path(args.peer).resolve(), Path(args.out).resolve()
    script = peer / SCRIPT
    if not script.is_file():
        raise SystemExit(f"--peer {peer}: no {SCRIPT} there; give a checkout of PyTorch-GAN at commit {COMMIT}")
    commit_file = peer / "COMMIT"
    commit = commit_file.read_text().strip() if commit_file.is_file() else "unknown (no COMMIT file)"
    if commit != COMMIT:
        print(f"warning: --peer says commit {commit}, the race protocol names {COMMIT}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    x, y, dataset_id = load_train_split(args.data_root)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    ns: dict = {}

    def snapshot(tag: str, seconds: float | None) -> None:
        g, opt = ns["generator"], ns["opt"]
        imgs = draw_like_the_peer(g, args.num_samples, opt.latent_dim, opt.batch_size, args.seed + 1)
        info = {"peer": "PyTorch-GAN dcgan.py", "commit": commit, "train_seconds": seconds, "dataset_id": dataset_id}
        save_samples(imgs, out / f"samples-{tag}.npz", info)
        torch.save(g.state_dict(), out / f"generator-{tag}.pt")

    clock = Clock(args.minutes * 60, args.snapshot_minutes * 60, lambda s: snapshot(f"{round(s):06d}s", s))
    dataset = InMemoryCIFAR10(x, y, clock)
    import torchvision.datasets

    real_mnist = torchvision.datasets.MNIST
    torchvision.datasets.MNIST = lambda *a, **k: dataset  # its only data source
    try:
        # `ns` fills while the peer runs, so snapshots read its generator; its ../../data/mnist lands under --out/work
        run_peer_script(script, ARGS, out / "work" / "a" / "b", ns)
    finally:
        torchvision.datasets.MNIST = real_mnist
    trained = clock.elapsed()
    snapshot("final", trained)
    steps = clock.items // ns["opt"].batch_size
    report = {
        "peer": "PyTorch-GAN implementations/dcgan/dcgan.py",
        "commit": commit,
        "args": ARGS,
        "dataset_id": dataset_id,
        "train_seconds": trained,
        "batches": steps,
        "images_per_second": steps * ns["opt"].batch_size / max(trained, 1e-9),
        "command_seconds": time.monotonic() - t_start,
        "load_average": os.getloadavg(),
        "torch_threads": torch.get_num_threads(),
    }
    (out / "peer.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
