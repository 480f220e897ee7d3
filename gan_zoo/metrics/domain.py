"""A domain feature extractor: a small classifier trained once per dataset, cached with its hash.

Inception-v3 weights cannot be downloaded on our machines, and Inception features of 28 px digits
mean little anyway; a classifier trained on the dataset gives a feature space where FID separates
good digits from bad ones. Every value computed with it names the file's sha256 and held-out accuracy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from gan_zoo.data.images import to_float_images
from gan_zoo.networks.classifier import SmallCNN
from gan_zoo.utils.io import atomic_torch_save, sha256_file

log = logging.getLogger(__name__)
EXTRACTOR_VERSION = "smallcnn-v1"


def _evaluate(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(to_float_images(x)).argmax(1) == y).sum().item()
            total += len(y)
    return correct / max(total, 1)


def train_classifier(datamodule: Any, epochs: int = 6, seed: int = 0) -> tuple[SmallCNN, float]:
    """Train SmallCNN on the datamodule's training split; return it and its held-out accuracy."""
    datamodule.setup("fit")
    c = datamodule.image_shape[0]
    with torch.random.fork_rng():  # leave the caller's RNG stream untouched
        torch.manual_seed(seed)
        model = SmallCNN(c, datamodule.num_classes)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        # small folders (fewer than 128 images) still get whole batches: no zero-step schedule
        loader = DataLoader(
            datamodule.train_set, batch_size=min(128, len(datamodule.train_set)), shuffle=True, drop_last=True
        )
        steps = epochs * len(loader)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
        for _ in range(epochs):
            model.train()
            for x, y in loader:
                x = to_float_images(x)
                # light augmentation (shifts of up to 2 px) so features do not memorise the train split
                dx, dy = torch.randint(-2, 3, (2,)).tolist()
                x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        # Inside the fork too: every DataLoader iterator draws a base seed from the global RNG.
        acc = _evaluate(model, DataLoader(datamodule.val_set, batch_size=512))
    return model.eval(), acc


def load_or_train_extractor(datamodule: Any, cache_dir: str | Path, epochs: int = 6) -> tuple[SmallCNN, dict]:
    """The cached classifier for this dataset (trained and cached on first use) and its protocol info.

    The info holds the file path, its sha256, the held-out accuracy and the dataset id.
    """
    cache = Path(cache_dir) / "extractors"
    path = cache / f"{datamodule.dataset_id}-{EXTRACTOR_VERSION}.pt"
    if not path.exists():
        log.info("training the domain feature extractor for %s (cached at %s)", datamodule.dataset_id, path)
        model, acc = train_classifier(datamodule, epochs=epochs)
        info = {
            "dataset_id": datamodule.dataset_id,
            "arch": EXTRACTOR_VERSION,
            "val_accuracy": acc,
            "in_channels": datamodule.image_shape[0],
            "num_classes": datamodule.num_classes,
        }
        atomic_torch_save({"state_dict": model.state_dict(), "info": info}, path)
    blob = torch.load(path, map_location="cpu", weights_only=False)
    info = dict(blob["info"])
    with torch.random.fork_rng():  # weight init before load_state_dict must not advance the caller's RNG
        model = SmallCNN(info["in_channels"], info["num_classes"])
    model.load_state_dict(blob["state_dict"])
    info.update(path=str(path), sha256=sha256_file(path))
    log.info(
        "domain extractor %s: sha256 %s..., held-out accuracy %.4f",
        path.name,
        info["sha256"][:12],
        info["val_accuracy"],
    )
    return model.eval(), info
