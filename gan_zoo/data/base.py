"""Shared DataModule plumbing: validated loader settings and a fixed, seed-independent split."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

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

    def __init__(self, batch_size: int = 64, val_batch_size: int | None = None, num_workers: int = 0,
                 on_device: bool = False) -> None:
        super().__init__()
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
        """Shuffled, fixed-size batches of the training split."""
        self._ensure_setup()
        require(len(self.train_set) >= self.batch_size,
                f"data.batch_size={self.batch_size} is larger than the training split "
                f"({len(self.train_set)} examples); lower data.batch_size")
        return self._loader(self.train_set, self.batch_size, train=True)

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
