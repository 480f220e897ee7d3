"""One checkpoint resolver and one reader for train (resume=), sample, evaluate, analyse and translate
(checkpoint=): each problem with a checkpoint gets one message, naming the file and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gan_zoo.errors import ConfigError


def resolve_checkpoint(path: str | Path, key: str = "checkpoint", prefer: Sequence[str] = ("best", "last")) -> Path:
    """A .ckpt file as given, or a run directory's checkpoints/<name>.ckpt for the first name in `prefer` present.

    `key` names the option in the error (checkpoint= or resume=).
    """
    p = Path(path)
    if p.is_dir():
        for name in prefer:
            for candidate in (p / "checkpoints" / f"{name}.ckpt", p / f"{name}.ckpt"):
                if candidate.is_file():
                    return candidate
        names = " or ".join(f"checkpoints/{n}.ckpt" for n in prefer)
        raise ConfigError(
            f"{key}={path}: the directory has no {names}. Give a .ckpt file or a run directory "
            "(outputs/train/<experiment>/<run_id>)."
        )
    if not p.is_file():
        raise ConfigError(
            f"{key}={path}: no such file. Give a .ckpt file or a run directory (outputs/train/<experiment>/<run_id>)."
        )
    return p


GIVE = (
    "Give a checkpoint written by gan-zoo train (checkpoints/last.ckpt or best.ckpt) or a run directory "
    "(outputs/train/<experiment>/<run_id>)"
)


def read_checkpoint_file(path: str | Path, key: str = "checkpoint", map_location: str = "cpu") -> dict[str, Any]:
    """The contents of a gan_zoo .ckpt (memory-mapped where the format allows); a missing, unreadable or foreign
    file is a ConfigError naming the file and the fix. `key` names the option in the message."""
    import torch

    p = resolve_checkpoint(path, key)  # a missing file or folder: the resolver's message
    try:
        try:
            blob = torch.load(p, map_location=map_location, weights_only=False, mmap=True)
        except RuntimeError:  # an old-format (non-zip) file cannot be memory-mapped
            blob = torch.load(p, map_location=map_location, weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same answer
        cause = (str(e).splitlines() or [""])[0].split(". ")[0].rstrip(".")  # the first sentence, never cut mid-way
        raise ConfigError(
            f"{key}={path} cannot be read as a checkpoint ({type(e).__name__}: {cause}): the file is truncated, "
            f"still being written, or not a checkpoint. {GIVE}; a run directory falls back to its other "
            "checkpoint once this file is deleted."
        ) from None
    info = blob.get("gan_zoo") if isinstance(blob, dict) else None
    if not isinstance(info, dict) or "config" not in info:
        raise ConfigError(
            f"{key}={path} is not a gan_zoo checkpoint (it has no 'gan_zoo' entry with the run's config). {GIVE}."
        )
    return blob
