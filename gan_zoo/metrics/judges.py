"""An independent judge: a second classifier of the same data, for claims about classes that should not rest
on the classifier a method optimised or was scored with (steering, class preservation).

A LeNet-5-style CNN (tanh, average pooling) trained with random affine augmentation (rotation 15 deg, shift
2 px, scale 0.85-1.15, shear 10 deg), seed 1: another architecture, training recipe and seed than the SmallCNN
domain extractor of gan_zoo.metrics.domain. Cached per dataset like the extractor, with its held-out accuracy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_zoo.data.images import to_float_images
from gan_zoo.utils.io import atomic_torch_save, sha256_file

log = logging.getLogger(__name__)
JUDGE_VERSION = "lenet-affine-v1"


class LeNet(nn.Module):
    """LeNet-5 on [N, C, S, S] images in [-1, 1] (any S >= 16: a global average pool before the head)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(channels, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.f1, self.f2, self.f3 = nn.Linear(16 * 25, 120), nn.Linear(120, 84), nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(torch.tanh(self.c1(x)), 2)
        x = F.adaptive_avg_pool2d(torch.tanh(self.c2(x)), 5)
        return self.f3(torch.tanh(self.f2(torch.tanh(self.f1(x.flatten(1))))))


def train_judge(datamodule: Any, epochs: int = 15, seed: int = 1) -> tuple[LeNet, float]:
    """Train on the training split with affine augmentation; return the net and its held-out accuracy."""
    from torchvision.transforms import v2

    datamodule.setup("fit")
    x, y = datamodule.train_set.tensors
    xv, yv = datamodule.val_set.tensors
    size = x.shape[-1]
    aug = v2.RandomAffine(degrees=15, translate=(2 / size, 2 / size), scale=(0.85, 1.15), shear=10)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = LeNet(x.shape[1], datamodule.num_classes)
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        xf = to_float_images(x)
        for _ in range(epochs):
            perm = torch.randperm(len(xf))
            for i in range(0, len(xf), 64):
                idx = perm[i : i + 64]
                batch = torch.stack([aug(im) for im in xf[idx]])
                loss = F.cross_entropy(net(batch), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(to_float_images(xv)).argmax(1) == yv).float().mean())
    return net, acc


def load_or_train_judge(datamodule: Any, cache_dir: str | Path) -> tuple[LeNet, dict[str, Any]]:
    """The cached judge of this dataset (trained on first use) and its info (path, sha256, held-out accuracy)."""
    path = Path(cache_dir) / "judges" / f"{datamodule.dataset_id}-{JUDGE_VERSION}.pt"
    if not path.exists():
        log.info("training the independent judge for %s (cached at %s)", datamodule.dataset_id, path)
        net, acc = train_judge(datamodule)
        info = {
            "dataset_id": datamodule.dataset_id,
            "arch": JUDGE_VERSION,
            "val_accuracy": acc,
            "channels": datamodule.image_shape[0],
            "num_classes": datamodule.num_classes,
        }
        atomic_torch_save({"state_dict": net.state_dict(), "info": info}, path)
    blob = torch.load(path, map_location="cpu", weights_only=False)
    info = dict(blob["info"])
    with torch.random.fork_rng():
        net = LeNet(info["channels"], info["num_classes"])
    net.load_state_dict(blob["state_dict"])
    info.update(path=str(path), sha256=sha256_file(path))
    return net.eval().requires_grad_(False), info
