"""Shared DataModule plumbing: validated loader settings, a fixed, seed-independent split and `data.train_limit`."""

from __future__ import annotations

import hashlib
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from gan_zoo.errors import require


class IndexedTensorDataset(TensorDataset):
    """A TensorDataset that serves a whole batch with one gather per tensor (`__getitems__`), not one
    `__getitem__` per sample and a `torch.stack` (the DataLoader's default for map-style data).

    The sampler, shuffling and DDP's DistributedSampler are unchanged, so the batches are the same samples in
    the same order as before, bit for bit; only the per-sample Python work goes (benchmarks/RESULTS.md).
    """

    def __getitems__(self, indices: list[int]) -> list[torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        first = self.tensors[0]
        if first.device.type != "cpu":
            idx = idx.to(first.device, non_blocking=True)
        return [t[idx] for t in self.tensors]


def batched(batch: list[torch.Tensor]) -> list[torch.Tensor]:
    """The collate function of IndexedTensorDataset: the batch is already gathered."""
    return batch


class TensorDataModule(L.LightningDataModule):
    """Serves (x, y) batches from in-memory tensors; subclasses fill `self.train_set` / `self.val_set`."""

    #: "image" (x is uint8 [N, C, H, W]) or "vector" (x is float32 [N, D]).
    kind: str = "image"
    #: Whether `data.train_limit` can pick training examples of this data (not where items pair two domains).
    limitable: bool = True

    def __init__(self, batch_size: int = 64, val_batch_size: int | None = None, num_workers: int = 0,
                 on_device: bool = False, train_limit: int | None = None) -> None:
        super().__init__()
        require(train_limit is None or (isinstance(train_limit, int) and not isinstance(train_limit, bool)
                                        and train_limit > 0),
                f"data.train_limit must be a positive integer (the number of training images to train on) or null "
                f"(all), got {train_limit!r}")
        require(train_limit is None or self.limitable,
                f"data.train_limit cannot be applied to {type(self).__name__}: its items pair images of two "
                "domains; remove data.train_limit")
        self.train_limit = train_limit
        self._limited: Dataset | None = None
        require(not (on_device and num_workers), "data.on_device=true serves batches from accelerator memory in the "
                "main process: set data.num_workers=0")
        require(isinstance(batch_size, int) and batch_size > 0,
                f"data.batch_size must be a positive integer, got {batch_size!r}")
        require(isinstance(num_workers, int) and num_workers >= 0,
                f"data.num_workers must be an integer >= 0, got {num_workers!r}")
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size or max(batch_size, 256)
        self.num_workers = num_workers
        self.on_device = bool(on_device)
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None

    # --- what flows into the model -------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of label classes (0 when the data carries no usable labels)."""
        return 0

    @property
    def dataset_id(self) -> str:
        """A string naming the data and its preprocessing; metric protocols and caches key on it."""
        raise NotImplementedError

    # --- loaders -------------------------------------------------------------------------
    def _loader(self, dataset: TensorDataset, batch_size: int, train: bool) -> DataLoader:
        """Batches gathered by index (IndexedTensorDataset); with `on_device` the tensors first move to the
        trainer's device, so a batch is one gather there and the host-to-device copy per batch disappears.
        Other datasets (image-to-image pairs drawn per item) keep the per-sample path."""
        settings = dict(batch_size=batch_size, shuffle=train,
                        drop_last=train,  # equal batch sizes keep BatchNorm statistics and GAN losses comparable
                        num_workers=self.num_workers, persistent_workers=self.num_workers > 0)
        if not isinstance(dataset, TensorDataset):
            require(not self.on_device, "data.on_device=true is for in-memory tensor data; this data module draws its "
                    "examples per item: remove data.on_device")
            return DataLoader(dataset, **settings)
        tensors = dataset.tensors
        device = self._device() if self.on_device else None
        if device is not None and device.type != "cpu":
            tensors = tuple(t.to(device) for t in tensors)
        return DataLoader(IndexedTensorDataset(*tensors), collate_fn=batched, **settings)

    def _device(self) -> torch.device | None:
        """The attached trainer's device (None outside a Trainer)."""
        trainer = getattr(self, "_trainer", None)
        return trainer.strategy.root_device if trainer is not None else None

    def train_dataloader(self) -> DataLoader:
        """Shuffled, fixed-size batches of the training split (its `data.train_limit` subset when set)."""
        self._ensure_setup()
        train = self.training_examples()
        require(len(train) >= self.batch_size,
                f"data.batch_size={self.batch_size} is larger than the training split "
                f"({len(train)} examples); lower data.batch_size")
        return self._loader(train, self.batch_size, train=True)

    def training_examples(self) -> Dataset:
        """What training draws batches from: the training split, or its `data.train_limit` subset.

        Only the training loader sees the subset: `train_set` (which the evaluation's domain classifier and
        train-split metrics read) and the reference split stay whole, so a limited run is scored like any other.
        The N images are repeated up to the split's length, so an epoch keeps its number of batches: epoch budgets
        and the validation and checkpoint cadence mean what they mean without the limit (each image is seen about
        size / N times per epoch instead of once).
        """
        self._ensure_setup()
        if self.train_limit is None:
            return self.train_set
        if self._limited is None:
            chosen = torch.from_numpy(self.train_limit_indices())
            ds = self.train_set
            idx = chosen[torch.arange(len(ds)) % len(chosen)]
            self._limited = TensorDataset(*(t[idx] for t in ds.tensors)) if isinstance(ds, TensorDataset) \
                else Subset(ds, idx.tolist())
        return self._limited

    def train_limit_indices(self) -> np.ndarray:
        """The sorted training-split indices `data.train_limit` keeps (checked against the split's size)."""
        self._ensure_setup()
        n = len(self.train_set)
        require(self.train_limit <= n, f"data.train_limit={self.train_limit} is larger than the training split "
                f"({n} examples); choose data.train_limit <= {n}, or null for all of them")
        return limited_indices(n, _labels_of(self.train_set), self.train_limit, getattr(self, "split_seed", 0))

    def train_limit_info(self) -> dict[str, Any] | None:
        """What a run records of `data.train_limit` (None when unset): the count, seed, per-class counts and a
        digest of the chosen indices, so two runs can be seen to train on the same images."""
        if self.train_limit is None:
            return None
        idx = self.train_limit_indices()
        labels = _labels_of(self.train_set)
        info: dict[str, Any] = {"train_limit": int(self.train_limit), "of": len(self.train_set),
                                "seed": int(getattr(self, "split_seed", 0)),
                                "indices_sha256": array_digest(idx)}
        if labels is not None:
            classes, counts = np.unique(labels[idx], return_counts=True)
            info["per_class"] = {int(c): int(k) for c, k in zip(classes, counts)}
        return info

    def val_dataloader(self) -> DataLoader:
        """The held-out reference split, in order."""
        self._ensure_setup()
        return self._loader(self.val_set, self.val_batch_size, train=False)

    def _ensure_setup(self) -> None:
        if self.train_set is None:
            self.setup("fit")


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices so each class keeps `val_fraction` of its examples in validation.

    The seed is the data's own (`data.split_seed`), not the training seed, so the reference split
    behind every metric stays the same across training seeds.
    """
    require(0.0 < val_fraction < 1.0, f"data.val_fraction must be in (0, 1), got {val_fraction!r}")
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * val_fraction))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def fixed_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`stratified_split` when every example has a label (>= 0), else a plain random split by the same seed."""
    if len(labels) and labels.min() >= 0:
        return stratified_split(labels, val_fraction, seed)
    require(0.0 < val_fraction < 1.0, f"data.val_fraction must be in (0, 1), got {val_fraction!r}")
    perm = np.random.default_rng(seed).permutation(len(labels))
    n_val = max(1, int(round(len(labels) * val_fraction)))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def count_classes(labels: torch.Tensor) -> int:
    """max label + 1 when every example is labelled (>= 0), else 0 (unlabelled data)."""
    return int(labels.max().item()) + 1 if len(labels) and labels.min() >= 0 else 0


def tensor_dataset(x: torch.Tensor, y: torch.Tensor) -> TensorDataset:
    """A TensorDataset of (x, int64 labels)."""
    return TensorDataset(x, y.long())


def _labels_of(dataset: Dataset) -> np.ndarray | None:
    """Integer class labels of a training split, when every example has one (>= 0); else None."""
    labels = None
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) >= 2:
        labels = dataset.tensors[1]
    elif isinstance(getattr(dataset, "labels", None), (list, torch.Tensor, np.ndarray)):
        labels = dataset.labels
    if labels is None:
        return None
    arr = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer) or not len(arr) or arr.min() < 0:
        return None
    return arr


def limited_indices(size: int, labels: np.ndarray | None, n: int, seed: int) -> np.ndarray:
    """n of a split's `size` indices, sorted: a seeded random choice, class-balanced when labels are given.

    Balanced: each class's indices are shuffled, then taken round-robin (the first of every class, then the
    second, ...), the classes of each round in a seeded order, so every class gets floor(n / K) or one more while
    it has images left, and a small class's shortfall is spread over the others.
    """
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.permutation(size)[:n])
    classes = np.unique(labels)
    class_order = rng.permutation(len(classes))
    rank, tie = np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64)
    for pos, c in zip(class_order, classes):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        rank[idx] = np.arange(len(idx))
        tie[idx] = pos
    order = np.lexsort((tie, rank))  # by rank within the class, then the round's class order
    return np.sort(order[:n])


def array_digest(a: np.ndarray) -> str:
    """sha256 of an index array as int64 (the first 16 hex digits)."""
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.int64).tobytes()).hexdigest()[:16]
