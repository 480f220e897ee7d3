"""Image-to-image data: paired (pix2pix) and unpaired (CycleGAN) DataModules, folders and offline tasks.

Batches are dicts of uint8 tensors turned into [-1, 1] floats on the device:
  * paired:   {"a": input [N, Ca, H, W], "b": target [N, Cb, H, W], "labels": int64 [N] (-1: none)}
  * unpaired: {"a", "labels_a", "b", "labels_b"}: A and B drawn independently (no pairs).
The model always learns A -> B; `direction=BtoA` swaps the sides of paired data when it is loaded.

Folder layouts (the pix2pix / CycleGAN dataset conventions):
  * paired_folder: ROOT/{train,val|test}/ or ROOT itself holding either side-by-side A|B images or
    A/ and B/ sub-folders with matching file names;
  * unpaired_folder: ROOT/trainA, ROOT/trainB and, when present, ROOT/testA, ROOT/testB.
Offline tasks: edges -> MNIST digits, greyscale -> colour crops of the scikit-image photographs, and
scikit-learn's 8x8 digits <-> MNIST digits (through `UnpairedDataModule` of two image DataModules).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from gan_zoo.data.base import TensorDataModule, count_classes, fixed_split
from gan_zoo.data.images import (
    IMAGE_EXTENSIONS,
    RESIZE_METHODS,
    ImageTensorDataModule,
    MNISTMiniDataModule,
    resize_uint8,
    to_float_images,
)
from gan_zoo.errors import CorruptDataError, DatasetNotFoundError, require

log = logging.getLogger(__name__)
DIRECTIONS = ("AtoB", "BtoA")
# Photographs that ship inside scikit-image (no download); greyscale ones and the synthetic colour wheel left out.
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")


class DictDataset(Dataset):
    """Item i of every tensor, as a dict (the DataLoader collates dicts of tensors)."""

    def __init__(self, **tensors: torch.Tensor) -> None:
        lengths = {len(t) for t in tensors.values()}
        require(len(lengths) == 1, f"tensors of different lengths: { {k: len(t) for k, t in tensors.items()} }")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: t[i] for k, t in self.tensors.items()}


class UnpairedDataset(Dataset):
    """max(|A|, |B|) items; item i is A[i mod |A|] (or B[i mod |B|]) with a random image of the other domain.

    As in CycleGAN's loader the partner is drawn from the global torch RNG, so pairings change every epoch
    (and a resumed run draws the same ones: gan_zoo checkpoints the RNG state).
    """

    def __init__(self, a: torch.Tensor, labels_a: torch.Tensor, b: torch.Tensor, labels_b: torch.Tensor) -> None:
        self.a, self.labels_a, self.b, self.labels_b = a, labels_a, b, labels_b

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if len(self.a) >= len(self.b):
            ia, ib = i % len(self.a), int(torch.randint(len(self.b), ()))
        else:
            ia, ib = int(torch.randint(len(self.a), ())), i % len(self.b)
        return {"a": self.a[ia], "labels_a": self.labels_a[ia], "b": self.b[ib], "labels_b": self.labels_b[ib]}


def to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 or float images [N, C, H, W] -> `channels` channels: RGB -> luma (ITU-R 601, PIL's "L"), grey -> RGB."""
    c = x.shape[1]
    if c == channels:
        return x
    if channels == 1:
        w = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
        y = (x.float() * w).sum(1, keepdim=True)
        return y.round().clamp(0, 255).to(torch.uint8) if x.dtype == torch.uint8 else y.to(x.dtype)
    require(c == 1 and channels == 3, f"cannot convert {c}-channel images to {channels} channels")
    return x.expand(-1, 3, -1, -1).contiguous()


# ------------------------------------------------------------------------------------------------ paired
class PairedDataModule(TensorDataModule):
    """Aligned (input, target) pairs held as uint8 tensors; subclasses implement `load`."""

    kind = "paired"

    def __init__(self, name: str, image_size: int, channels_a: int, channels_b: int, resize: str = "bilinear",
                 direction: str = "AtoB", val_fraction: float = 0.1, split_seed: int = 0, **loader: Any) -> None:
        super().__init__(**loader)
        require(isinstance(image_size, int) and image_size >= 8,
                f"data.image_size must be an integer >= 8, got {image_size!r}")
        for key, c in (("channels_a", channels_a), ("channels_b", channels_b)):
            require(c in (1, 3), f"data.{key} must be 1 or 3, got {c!r}")
        require(resize in RESIZE_METHODS, f"data.resize must be one of {RESIZE_METHODS}, got {resize!r}")
        require(direction in DIRECTIONS, f"data.direction must be one of {DIRECTIONS}, got {direction!r}")
        self.name, self.image_size, self.resize = name, image_size, resize
        self.channels_a, self.channels_b = (channels_a, channels_b) if direction == "AtoB" else (channels_b, channels_a)
        self.direction, self.val_fraction, self.split_seed = direction, val_fraction, split_seed
        self._num_classes = 0

    @property
    def shape_a(self) -> tuple[int, int, int]:
        """(C, H, W) of the inputs."""
        return (self.channels_a, self.image_size, self.image_size)

    @property
    def shape_b(self) -> tuple[int, int, int]:
        """(C, H, W) of the targets."""
        return (self.channels_b, self.image_size, self.image_size)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.shape_b

    @property
    def num_classes(self) -> int:
        self._ensure_setup()
        return self._num_classes

    @property
    def dataset_id(self) -> str:
        return (f"{self.name}-{self.direction}-{self.channels_a}to{self.channels_b}x{self.image_size}px-{self.resize}"
                f"-val{self.val_fraction:g}-split{self.split_seed}")

    def facts(self) -> dict[str, Any]:
        """What the networks need: both sides' shapes (after `direction`), classes, id."""
        return {"kind": self.kind, "shape": list(self.shape_b), "shape_a": list(self.shape_a),
                "shape_b": list(self.shape_b), "num_classes": self.num_classes, "dataset_id": self.dataset_id}

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(A uint8 [N, Ca, h, w], B uint8 [N, Cb, h, w], labels int64 [N], -1 where unknown), stored sides."""
        raise NotImplementedError

    def split_indices(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A fixed split by data.split_seed (stratified when labelled); layouts with their own split override it."""
        return fixed_split(labels, self.val_fraction, self.split_seed)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        a, b, y = self.load()
        if self.direction == "BtoA":
            a, b = b, a
        a = to_channels(resize_uint8(a, self.image_size, self.resize), self.channels_a)
        b = to_channels(resize_uint8(b, self.image_size, self.resize), self.channels_b)
        self._num_classes = count_classes(y)
        tr, va = self.split_indices(y.numpy())
        self.train_set = DictDataset(a=a[tr], b=b[tr], labels=y[tr])
        self.val_set = DictDataset(a=a[va], b=b[va], labels=y[va])
        log.info("%s: %d train / %d held-out pairs, %s -> %s", self.name, len(tr), len(va), self.shape_a, self.shape_b)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return {k: to_float_images(v) if v.dtype == torch.uint8 else v for k, v in batch.items()}


def _read_rgb(path: Path, strict: bool) -> torch.Tensor | None:
    """uint8 [3, h, w] of an image file, or None (strict: CorruptDataError) when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        if strict:
            raise CorruptDataError(f"cannot read image {path}: {e}. Remove or replace it, or set data.strict=false "
                                   "to skip unreadable files.") from None
        return None
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())


def _image_files(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


class PairedFolderDataModule(PairedDataModule):
    """pix2pix datasets from disk: side-by-side A|B images, or A/ and B/ folders with matching file names.

    ROOT/train plus ROOT/val (or ROOT/test) are used as the split when present; otherwise ROOT is one pool
    split by data.val_fraction. Unreadable files are skipped and counted (strict=true: abort).
    """

    def __init__(self, root: str, image_size: int = 256, channels_a: int = 3, channels_b: int = 3,
                 resize: str = "bilinear", strict: bool = False, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name or f"paired:{Path(root).name}", image_size=image_size, channels_a=channels_a,
                         channels_b=channels_b, resize=resize, **kwargs)
        self.root, self.strict = Path(root), strict
        self.skipped: list[Path] = []
        self._n_train: int | None = None

    def _pool_dirs(self) -> list[Path]:
        if not self.root.is_dir():
            raise DatasetNotFoundError(
                f"paired image folder {self.root} does not exist. Set data.root to a folder of side-by-side A|B "
                "images, or one with A/ and B/ sub-folders of matching file names (optionally under train/ and val/).")
        train = self.root / "train"
        held = next((self.root / s for s in ("val", "test") if (self.root / s).is_dir()), None)
        return [train, held] if train.is_dir() and held is not None else [self.root]

    def _load_pool(self, d: Path) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        a_list, b_list = [], []
        if (d / "A").is_dir() and (d / "B").is_dir():
            b_files = {p.stem: p for p in _image_files(d / "B")}
            pairs = [(p, b_files[p.stem]) for p in _image_files(d / "A") if p.stem in b_files]
            unmatched = len(_image_files(d / "A")) - len(pairs)
            if unmatched:
                log.warning("%d image(s) in %s have no file of the same name in %s: left out", unmatched, d / "A", d / "B")
            for pa, pb in pairs:
                a, b = _read_rgb(pa, self.strict), _read_rgb(pb, self.strict)
                if a is None or b is None:
                    self.skipped.append(pa if a is None else pb)
                    continue
                a_list.append(resize_uint8(a[None], self.image_size, self.resize)[0])
                b_list.append(resize_uint8(b[None], self.image_size, self.resize)[0])
            return a_list, b_list
        for p in _image_files(d):
            ab = _read_rgb(p, self.strict)
            if ab is None:
                self.skipped.append(p)
                continue
            w = ab.shape[-1] // 2
            if w < 1:
                self.skipped.append(p)
                continue
            a_list.append(resize_uint8(ab[None, :, :, :w], self.image_size, self.resize)[0])
            b_list.append(resize_uint8(ab[None, :, :, w:2 * w], self.image_size, self.resize)[0])
        return a_list, b_list

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pools = self._pool_dirs()
        parts = [self._load_pool(d) for d in pools]
        if self.skipped:
            log.warning("skipped %d unreadable image(s) under %s, e.g. %s", len(self.skipped), self.root,
                        ", ".join(str(p) for p in self.skipped[:3]))
        n = [len(p[0]) for p in parts]
        if sum(n) == 0 or (len(parts) == 2 and min(n) == 0):
            raise DatasetNotFoundError(
                f"no readable image pairs under {', '.join(map(str, pools))} ({', '.join(IMAGE_EXTENSIONS)}). Expected "
                "side-by-side A|B images or A/ and B/ sub-folders with matching file names.")
        self._n_train = n[0] if len(parts) == 2 else None
        a = torch.stack([x for p in parts for x in p[0]])
        b = torch.stack([x for p in parts for x in p[1]])
        # stored with 3 channels; setup converts each side to data.channels_a / channels_b
        return a, b, torch.full((len(a),), -1, dtype=torch.long)

    def split_indices(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._n_train is not None:  # ROOT/train + ROOT/val|test
            return np.arange(self._n_train), np.arange(self._n_train, len(labels))
        return super().split_indices(labels)


def outer_edges(x: torch.Tensor, threshold: int = 128) -> torch.Tensor:
    """The outline just outside the strokes of uint8 images: dilate(binary) minus binary, as uint8 0/255.

    Only the contour survives, so the generator has to fill the stroke between the lines and shade it.
    """
    binary = (x >= threshold).float()
    dilated = F.max_pool2d(binary, kernel_size=3, stride=1, padding=1)
    return ((dilated - binary) * 255).to(torch.uint8)


class EdgesMNISTDataModule(PairedDataModule):
    """Edge map -> digit on the 5,000 offline MNIST digits (edges computed here, no download)."""

    def __init__(self, image_size: int = 32, resize: str = "pad", threshold: int = 128, val_fraction: float = 0.2,
                 **kwargs: Any) -> None:
        super().__init__(val_fraction=val_fraction, name=f"edges_mnist-t{threshold}", image_size=image_size, channels_a=1, channels_b=1,
                         resize=resize, **kwargs)
        self.threshold = threshold

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        digits, labels = MNISTMiniDataModule().load()
        return outer_edges(digits, self.threshold), digits, labels


class PhotoColorizationDataModule(PairedDataModule):
    """Greyscale -> colour on random crops of the photographs bundled with scikit-image.

    Each photo is scaled so its short side is `scale_to` pixels; training crops come from the left part of
    every photo, held-out crops from a strip on its right (`val_fraction` of the width, at least one crop
    wide) that training never sees. Crop positions are fixed by data.split_seed.
    """

    def __init__(self, image_size: int = 64, photos: tuple[str, ...] | list[str] = SKIMAGE_PHOTOS,
                 scale_to: int = 192, num_train: int = 4000, num_val: int = 500, val_fraction: float = 0.3,
                 **kwargs: Any) -> None:
        super().__init__(name=f"skimage_photos{len(photos)}-s{scale_to}-n{num_train}", image_size=image_size,
                         channels_a=1, channels_b=3, resize="bilinear", val_fraction=val_fraction, **kwargs)
        require(scale_to >= 2 * image_size, f"data.scale_to must be at least twice data.image_size, got {scale_to}")
        self.photos, self.scale_to = list(photos), scale_to
        self.num_train, self.num_val = num_train, num_val
        self._n_train = 0

    def _photo(self, name: str) -> torch.Tensor:
        try:
            import skimage.data
        except ImportError:
            raise DatasetNotFoundError("data=photos needs scikit-image: pip install scikit-image") from None
        try:
            arr = getattr(skimage.data, name)()
        except (AttributeError, ModuleNotFoundError, OSError) as e:
            raise DatasetNotFoundError(f"scikit-image photo '{name}' is not available here ({e}); choose from "
                                       f"{', '.join(SKIMAGE_PHOTOS)}") from None
        x = torch.from_numpy(np.ascontiguousarray(arr[..., :3])).permute(2, 0, 1)[None]
        h, w = x.shape[-2:]
        s = self.scale_to / min(h, w)
        size = (max(self.scale_to, round(h * s)), max(self.scale_to, round(w * s)))
        return F.interpolate(x.float(), size=size, mode="bilinear", antialias=True,
                             align_corners=False).round().clamp(0, 255).to(torch.uint8)[0]

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(self.split_seed)
        s = self.image_size
        train, val = [], []
        photos = [self._photo(n) for n in self.photos]
        for i, (parts, count) in enumerate(((train, self.num_train), (val, self.num_val))):
            for k in range(count):
                p = photos[k % len(photos)]
                h, w = p.shape[-2:]
                strip = max(s, int(round(w * self.val_fraction)))
                x_lo, x_hi = (0, w - strip - s) if i == 0 else (w - strip, w - s)
                x0, y0 = int(rng.integers(x_lo, x_hi + 1)), int(rng.integers(0, h - s + 1))
                parts.append(p[:, y0:y0 + s, x0:x0 + s])
        self._n_train = len(train)
        colour = torch.stack(train + val)
        return to_channels(colour, 1), colour, torch.full((len(colour),), -1, dtype=torch.long)  # no classes

    def split_indices(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.arange(self._n_train), np.arange(self._n_train, len(labels))


# ------------------------------------------------------------------------------------------------ unpaired
class UnpairedDataModule(TensorDataModule):
    """Two image DataModules as domains A and B, sampled independently (CycleGAN).

    Each domain keeps its own split; the held-out splits are what `translate` and the metrics use.
    """

    limitable = False  # an item pairs an image of A with a random one of B: no single training set to limit

    kind = "unpaired"

    def __init__(self, domain_a: ImageTensorDataModule, domain_b: ImageTensorDataModule, **loader: Any) -> None:
        super().__init__(**loader)
        self.domain_a, self.domain_b = domain_a, domain_b

    @property
    def shape_a(self) -> tuple[int, int, int]:
        return tuple(self.domain_a.image_shape)

    @property
    def shape_b(self) -> tuple[int, int, int]:
        return tuple(self.domain_b.image_shape)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.shape_b

    @property
    def num_classes(self) -> int:
        """Classes shared by both domains (class preservation is measurable), else 0."""
        ka, kb = self.domain_a.num_classes, self.domain_b.num_classes
        return ka if ka == kb else 0

    @property
    def dataset_id(self) -> str:
        return f"unpaired[{self.domain_a.dataset_id}|{self.domain_b.dataset_id}]"

    def facts(self) -> dict[str, Any]:
        return {"kind": self.kind, "shape": list(self.shape_b), "shape_a": list(self.shape_a),
                "shape_b": list(self.shape_b), "num_classes": self.num_classes, "dataset_id": self.dataset_id}

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        require(self.shape_a[1:] == self.shape_b[1:],
                f"domains A and B must have the same image size, got {self.shape_a} and {self.shape_b}: set "
                "data.domain_a.image_size and data.domain_b.image_size alike")
        self.domain_a.setup(stage)
        self.domain_b.setup(stage)
        (ta, ya), (tb, yb) = self.domain_a.train_set.tensors, self.domain_b.train_set.tensors
        self.train_set = UnpairedDataset(ta, ya, tb, yb)
        va, vya = self.domain_a.val_set.tensors
        self.val_set = DictDataset(a=va, labels_a=vya)  # drives the validation loop; metrics hold their own data
        log.info("unpaired: A %s (%d train / %d held out), B %s (%d / %d)", self.domain_a.dataset_id, len(ta), len(va),
                 self.domain_b.dataset_id, len(tb), len(self.domain_b.val_set))

    def held_out(self, domain: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images, labels) of one domain's held-out split."""
        self._ensure_setup()
        dm = self.domain_a if domain == "A" else self.domain_b
        return dm.val_set.tensors[0], dm.val_set.tensors[1]

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return {k: to_float_images(v) if v.dtype == torch.uint8 else v for k, v in batch.items()}


class UnpairedFolderDataModule(UnpairedDataModule):
    """CycleGAN datasets from disk: ROOT/trainA, ROOT/trainB, and ROOT/testA, ROOT/testB when present."""

    def __init__(self, root: str, image_size: int = 256, channels: int = 3, channels_b: int | None = None,
                 resize: str = "bilinear", strict: bool = False, val_fraction: float = 0.1, split_seed: int = 0,
                 **loader: Any) -> None:
        from gan_zoo.data.images import ImageFolderDataModule

        self.root = Path(root)
        domains = []
        for side, c in (("A", channels), ("B", channels_b or channels)):
            test = self.root / f"test{side}"
            domains.append(ImageFolderDataModule(
                root=str(self.root / f"train{side}"), val_root=str(test) if test.is_dir() else None, image_size=image_size,
                channels=c, resize=resize, strict=strict, name=f"{self.root.name}:{side}", val_fraction=val_fraction,
                split_seed=split_seed, batch_size=1))
        super().__init__(domains[0], domains[1], **loader)

    def setup(self, stage: str | None = None) -> None:
        missing = [f"train{s}" for s in "AB" if not (self.root / f"train{s}").is_dir()]
        if missing:
            raise DatasetNotFoundError(
                f"unpaired image folder {self.root} has no {' or '.join(missing)}. Set data.root to a folder with "
                "trainA/ and trainB/ (and optionally testA/, testB/) of images, the CycleGAN layout.")
        super().setup(stage)
