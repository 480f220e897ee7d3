"""The domain classifier's cache: its file is named by the training settings, so a quick classifier never
stands in for the standard one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from gan_zoo.metrics.domain import load_or_train_extractor


class FakeDigits:
    """A labelled 8x8 dataset of 32 images: what the extractor reads from a datamodule, nothing more."""

    dataset_id, image_shape, num_classes = "fake8", (1, 8, 8), 2

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, 256, (32, 1, 8, 8), generator=g, dtype=torch.uint8)
        y = torch.arange(32) % 2
        self.train_set, self.val_set = TensorDataset(x, y), TensorDataset(x[:8], y[:8])

    def setup(self, stage: str | None = None) -> None:
        """Nothing to load."""


@pytest.mark.parametrize("first", [1, 6])
def test_extractor_cache_keeps_one_epoch_and_six_epoch_classifiers_apart(tmp_path: Path, first: int) -> None:
    dm = FakeDigits()
    second = 7 - first
    a, info_a = load_or_train_extractor(dm, tmp_path, epochs=first)
    b, info_b = load_or_train_extractor(dm, tmp_path, epochs=second)
    assert info_a["path"] != info_b["path"] and info_a["sha256"] != info_b["sha256"]
    assert (info_a["epochs"], info_b["epochs"]) == (first, second)
    by_epochs = {info["epochs"]: Path(info["path"]).name for info in (info_a, info_b)}
    assert by_epochs[6] == "fake8-smallcnn-v1.pt"  # the standard file keeps the name recorded protocols cite
    # asking again returns the file trained with the same settings
    _, again = load_or_train_extractor(dm, tmp_path, epochs=first)
    assert again["sha256"] == info_a["sha256"]


def test_extractor_cache_names_a_capped_training_set(tmp_path: Path) -> None:
    dm = FakeDigits()
    _, whole = load_or_train_extractor(dm, tmp_path, epochs=1)
    _, capped = load_or_train_extractor(dm, tmp_path, epochs=1, max_images=16)
    assert whole["path"] != capped["path"] and capped["max_images"] == 16 and whole["max_images"] is None


def test_a_capped_classifier_sees_every_class_of_class_sorted_data():
    """Data stored class by class (class folders): the cap is a seeded choice over the whole split, not its head."""
    import torch
    from torch.utils.data import TensorDataset

    from gan_zoo.metrics.domain import capped

    labels = torch.arange(10).repeat_interleave(100)  # 1,000 images, sorted by class
    data = TensorDataset(torch.zeros(1000, 1), labels)
    sub = capped(data, 200, seed=0)
    seen = labels[list(sub.indices)]
    assert len(sub) == 200 and set(seen.tolist()) == set(range(10))
    assert list(sub.indices) == list(capped(data, 200, seed=0).indices)  # the same choice every time
    assert capped(data, None) is data and capped(data, 5000) is data
