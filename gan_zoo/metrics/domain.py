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
from torch.utils.data import DataLoader, Subset

from gan_zoo.data.images import to_float_images
from gan_zoo.networks.classifier import SmallCNN
from gan_zoo.utils.io import atomic_torch_save, sha256_file

log = logging.getLogger(__name__)
EXTRACTOR_VERSION = "smallcnn-v1"
DEFAULT_EPOCHS = 6  # the standard classifier: its file keeps the plain name that recorded protocols cite


def _evaluate(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(to_float_images(x)).argmax(1) == y).sum().item()
            total += len(y)
    return correct / max(total, 1)


def extractor_options(cfg: Any) -> dict[str, Any]:
    """The classifier's training settings named by a metrics (or evaluate) config: epochs and max_images."""
    max_images = cfg.get("extractor_max_images")
    return {
        "epochs": int(cfg.get("extractor_epochs", DEFAULT_EPOCHS)),
        "max_images": None if max_images is None else int(max_images),
    }


def capped(dataset: Any, max_images: int | None, seed: int = 0) -> Any:
    """`max_images` of `dataset` chosen at random with a fixed seed (in stored order), or all of it. Not the first
    N: class-folder data is stored class by class, so the first 10,000 of CIFAR-10's 50,000 are two classes only."""
    if max_images is None or max_images >= len(dataset):
        return dataset
    pick = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:max_images]
    return Subset(dataset, sorted(pick.tolist()))


def extractor_filename(dataset_id: str, epochs: int = DEFAULT_EPOCHS, max_images: int | None = None) -> str:
    """The cache file of a classifier: the standard one (6 epochs on the whole split) keeps the plain name; other
    settings are part of the name, so a quick 1-epoch run never stands in for the standard one (or the reverse)."""
    tag = "" if epochs == DEFAULT_EPOCHS else f"-e{epochs}"
    tag += "" if max_images is None else f"-n{max_images}"
    return f"{dataset_id}-{EXTRACTOR_VERSION}{tag}.pt"


def train_classifier(
    datamodule: Any, epochs: int = DEFAULT_EPOCHS, seed: int = 0, max_images: int | None = None
) -> tuple[SmallCNN, float]:
    """Train SmallCNN on the datamodule's training split (a fixed, seeded choice of max_images of it when given);
    return it and its held-out accuracy."""
    datamodule.setup("fit")
    c = datamodule.image_shape[0]
    train_set = datamodule.train_set
    train_set = capped(train_set, max_images, seed)
    with torch.random.fork_rng():  # leave the caller's RNG stream untouched
        torch.manual_seed(seed)
        model = SmallCNN(c, datamodule.num_classes)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        # small folders (fewer than 128 images) still get whole batches: no zero-step schedule
        loader = DataLoader(train_set, batch_size=min(128, len(train_set)), shuffle=True, drop_last=True)
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


def load_or_train_extractor(
    datamodule: Any, cache_dir: str | Path, epochs: int = DEFAULT_EPOCHS, max_images: int | None = None
) -> tuple[SmallCNN, dict]:
    """The cached classifier for this dataset and these training settings (trained and cached on first use) and
    its protocol info.

    The info holds the file path, its sha256, the held-out accuracy, the dataset id and the training settings.
    """
    cache = Path(cache_dir) / "extractors"
    path = cache / extractor_filename(datamodule.dataset_id, epochs, max_images)
    if not path.exists():
        log.info("training the domain feature extractor for %s (cached at %s)", datamodule.dataset_id, path)
        model, acc = train_classifier(datamodule, epochs=epochs, max_images=max_images)
        info = {
            "dataset_id": datamodule.dataset_id,
            "arch": EXTRACTOR_VERSION,
            "val_accuracy": acc,
            "in_channels": datamodule.image_shape[0],
            "num_classes": datamodule.num_classes,
            "epochs": epochs,
            "max_images": max_images,
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
