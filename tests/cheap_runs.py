"""Run directories with untrained weights, written in well under a second: what the command-line fuzz and the
output-contract tests need (a checkpoint every command reads, the files of a run that must not change), without
paying for a training run. The checkpoint has the keys a trained one has (`state_dict`, `gan_zoo` with the
resolved config and the data facts), so `load_checkpoint_gan` cannot tell the difference."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch
from conftest import compose_cfg, tiny_overrides
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict

MNIST_MINI = {
    "kind": "image",
    "shape": [1, 32, 32],
    "num_classes": 10,
    "dataset_id": "mnist_mini-1x32px-pad-val0.2-split0",
}
#: the data facts of each experiment's data, as `gan_zoo.build.data_facts` reports them (no data is loaded)
FACTS = {
    "dcgan_mnist": MNIST_MINI,
    "cgan_mnist": MNIST_MINI,
    "infogan_mnist": MNIST_MINI,
    "vae_mnist": MNIST_MINI,
    "stylegan_mnist": MNIST_MINI,
    "pix2pix_edges_mnist": {
        "kind": "paired",
        "shape": [1, 32, 32],
        "shape_a": [1, 32, 32],
        "shape_b": [1, 32, 32],
        "num_classes": 10,
        "dataset_id": "edges_mnist",
    },
    "wgan_gp_ring8": {"kind": "vector", "shape": [2], "num_classes": 0, "dataset_id": "ring8-std0.01-seed1234"},
}


def cheap_run(root: Path, experiment: str) -> Path:
    """root/<experiment>/r: checkpoints/{last,best}.ckpt, .hydra/config.yaml, csv/metrics.csv, summary.json."""
    from gan_zoo.build import build_gan

    run_dir = root / experiment / "r"
    cfg = compose_cfg(tiny_overrides(experiment), root)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        cfg.paths.cache_dir = str(root / "cache")
    GlobalHydra.instance().clear()
    torch.manual_seed(0)
    gan = build_gan(cfg, FACTS[experiment])
    info = {"config": OmegaConf.to_container(cfg, resolve=True), "data": FACTS[experiment], "g_steps": 3, "d_steps": 3}
    (run_dir / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": gan.state_dict(), "gan_zoo": info}, run_dir / "checkpoints" / "last.ckpt")
    (run_dir / "checkpoints" / "best.ckpt").write_bytes((run_dir / "checkpoints" / "last.ckpt").read_bytes())
    (run_dir / ".hydra").mkdir()
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    (run_dir / "csv").mkdir()
    (run_dir / "csv" / "metrics.csv").write_text("step,train/g_loss\n1,0.7\n2,0.69\n3,0.68\n")
    (run_dir / "summary.json").write_text(json.dumps({"experiment": experiment, "final_metrics": {"g_steps": 3}}))
    return run_dir


def md5s(root: Path) -> dict[str, str]:
    """md5 of every file under root (relative path -> hex digest)."""
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """`gan-zoo ARGS` in this process (gan_zoo.cli.main): (exit code, stdout + stderr). The dispatcher rewrites
    sys.argv and __main__'s spec for Lightning's launcher; both are put back."""
    from gan_zoo import cli

    argv, main = list(sys.argv), sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    try:
        rc = cli.main(list(args))
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = argv
        main.__spec__ = spec
        GlobalHydra.instance().clear()
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def error_line(text: str) -> str:
    """The one `error:` line of a command's output."""
    return next(line for line in text.splitlines() if "error:" in line)


# evaluate's quick classifier: one epoch on 256 images (its own cache file); the two keys belong together, since
# one epoch on the whole split would take seconds and share no file with these
QUICK_CLASSIFIER = ["extractor_epochs=1", "extractor_max_images=256"]
