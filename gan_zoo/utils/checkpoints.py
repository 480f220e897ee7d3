"""One checkpoint resolver for train (resume=), sample and evaluate (checkpoint=)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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
