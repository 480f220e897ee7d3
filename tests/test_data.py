"""Data modules: offline sets, splits, ranges, and clear errors for missing or corrupt data."""

import numpy as np
import pytest
import torch

from gan_zoo.data import (
    DigitsDataModule,
    GaussianMixtureDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    MNISTMiniDataModule,
    grid25_centers,
    ring8_centers,
)
from gan_zoo.errors import ConfigError, CorruptDataError, DatasetNotFoundError


def test_mnist_mini_is_real_stratified_and_in_range():
    dm = MNISTMiniDataModule(batch_size=32)
    dm.setup("fit")
    assert len(dm.train_set) == 4000 and len(dm.val_set) == 1000
    assert dm.num_classes == 10 and dm.image_shape == (1, 32, 32)
    val_labels = dm.val_set.tensors[1]
    assert torch.bincount(val_labels).tolist() == [100] * 10
    x, y = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert x.shape == (32, 1, 32, 32) and x.dtype == torch.float32
    assert x.min() == -1.0 and x.max() == 1.0
    assert (x[:, :, :2] == -1).all()  # padded border is background
    # the split is a property of the data (split_seed), not of the training seed
    torch.manual_seed(123)
    dm2 = MNISTMiniDataModule()
    dm2.setup()
    assert torch.equal(dm2.val_set.tensors[0], dm.val_set.tensors[0])


def test_digits_loads_offline():
    dm = DigitsDataModule()
    dm.setup()
    assert len(dm.train_set) + len(dm.val_set) == 1797 and dm.image_shape == (1, 8, 8) and dm.num_classes == 10


def test_mixture_centers_and_spread():
    ring, grid = ring8_centers(), grid25_centers()
    assert torch.allclose(ring.norm(dim=1), torch.ones(8))
    assert sorted(set(grid[:, 0].tolist())) == [-4, -2, 0, 2, 4] and len(grid) == 25
    dm = GaussianMixtureDataModule("grid25", "grid25", std=0.05, num_train=5000, num_val=100)
    dm.setup()
    x, k = dm.train_set.tensors
    resid = x - dm.centers[k]
    assert resid.std().item() == pytest.approx(0.05, rel=0.05)
    assert dm.num_classes == 0 and dm.kind == "vector"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"batch_size": -1}, "batch_size must be a positive integer"),
        ({"batch_size": 0}, "batch_size"),
        ({"image_size": 2}, "image_size"),
        ({"resize": "cubic"}, "resize must be one of"),
    ],
)
def test_invalid_values_are_named(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MNISTMiniDataModule(**kwargs)


def test_missing_mnist_says_where_it_looked(tmp_path):
    dm = MNISTDataModule(root=str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFoundError, match=r"nowhere \(data.root\).*MNIST/raw/.*mnist_mini"):
        dm.setup()


def _write_images(folder, n, size=(12, 10)):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / f"img{i}.png")


def test_image_folder_skips_and_counts_corrupt_files(tmp_path, caplog):
    _write_images(tmp_path / "cats", 6)
    _write_images(tmp_path / "dogs", 4)
    (tmp_path / "dogs" / "broken.png").write_bytes(b"not a png at all")
    (tmp_path / "cats" / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 10)
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=16, channels=3, val_fraction=0.25, batch_size=2)
    dm.setup()
    assert len(dm.skipped) == 2
    assert len(dm.train_set) + len(dm.val_set) == 10 and dm.num_classes == 2
    assert dm.train_set.tensors[0].shape[1:] == (3, 16, 16)
    assert "skipped 2 unreadable" in caplog.text
    strict = ImageFolderDataModule(root=str(tmp_path), image_size=16, strict=True)
    with pytest.raises(CorruptDataError, match="cannot read image .*data.strict=false"):
        strict.setup()


def test_image_folder_missing_or_empty(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist. Set data.root"):
        ImageFolderDataModule(root=str(tmp_path / "missing")).setup()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no images"):
        ImageFolderDataModule(root=str(tmp_path / "empty")).setup()


def test_batch_larger_than_split_is_named():
    dm = DigitsDataModule(batch_size=5000)
    with pytest.raises(ConfigError, match="larger than the training split"):
        dm.train_dataloader()


def test_index_batching_serves_the_same_batches_as_the_per_sample_loader():
    """IndexedTensorDataset gathers a batch with one index op; the samples and their order are those of the
    default per-sample DataLoader under the same seed (so recorded runs do not move)."""
    from torch.utils.data import DataLoader

    from gan_zoo.data import MNISTMiniDataModule

    dm = MNISTMiniDataModule(batch_size=64)
    dm.setup("fit")
    torch.manual_seed(3)
    ours = [b for _, b in zip(range(5), dm.train_dataloader())]
    torch.manual_seed(3)
    ref = [b for _, b in zip(range(5), DataLoader(dm.train_set, batch_size=64, shuffle=True, drop_last=True))]
    for (x, y), (rx, ry) in zip(ours, ref):
        assert x.dtype == torch.uint8 and torch.equal(x, rx) and torch.equal(y, ry)
    assert len(dm.train_dataloader()) == len(dm.train_set) // 64
    with pytest.raises(ConfigError, match="num_workers=0"):
        MNISTMiniDataModule(batch_size=64, on_device=True, num_workers=2)
