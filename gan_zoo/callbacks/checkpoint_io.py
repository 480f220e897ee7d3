"""Checkpoint IO that never leaves a half-written file behind.

Lightning's TorchCheckpointIO writes through an fsspec transaction whose local behaviour depends on
the fsspec version; we want the guarantee spelled out: write to a temp file in the same folder,
fsync, then os.replace (atomic on POSIX). A SIGKILL mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from gan_zoo.utils.io import atomic_torch_save


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO with temp-file + fsync + rename saves."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        atomic_torch_save(checkpoint, Path(path))
