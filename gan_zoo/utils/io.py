"""File helpers: atomic torch saves, content hashes, and the `out=` / `overwrite=true` contract of every writer."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import torch

from gan_zoo.errors import ConfigError


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """`write(f)` into a temporary file in the same folder, fsync, then rename over `path`.

    A crash or SIGKILL at any point leaves either the old file or the new one, never a torn file. Every writer of
    records, caches and weights goes through here.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save through `atomic_write`."""
    atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(path: Path, text: str) -> None:
    """Text (UTF-8) through `atomic_write`."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def code_version() -> str:
    """The git commit of the gan_zoo checkout (with -dirty for uncommitted changes), else the package version."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("gan-zoo")
        except PackageNotFoundError:
            return "unknown"


def _nearest_existing(path: Path) -> Path:
    """path itself or its closest ancestor that exists."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_outputs(
    files: Iterable[str | Path],
    overwrite: bool,
    key: str = "out",
    given: str | Path | None = None,
    suffix: str | None = None,
) -> list[Path]:
    """Check, before any work, that a command may write `files` (the outputs a user named with `key=`); creates nothing.

    Refuses (ConfigError, exit 2) a wrong file extension (`suffix`, e.g. ".npz"), a file that exists unless
    `overwrite` (the message names `overwrite=true`), a path that is a folder, and a place that cannot be written
    (under a regular file, a read-only or virtual file system such as /proc, no permission). `given` is the value
    the user typed, for the message (default: the first file). Returns the files as Paths.
    """
    paths = [Path(f) for f in files]
    shown = f"{key}={given if given is not None else paths[0]}"
    if suffix is not None and paths and paths[0].suffix.lower() != suffix:
        raise ConfigError(
            f"{shown}: this command writes a file ending in {suffix}; give such a name "
            f"(e.g. {key}={paths[0].with_suffix(suffix)})"
        )
    for p in paths:
        if p.is_dir():
            raise ConfigError(f"{shown}: {p} is a folder; give a file name (e.g. {key}={p / ('out' + (suffix or ''))})")
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        names = ", ".join(map(str, existing[:3])) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        what = shown if names == shown.split("=", 1)[1] else f"{shown}: {names}"
        raise ConfigError(
            f"{what} already exist{'s' if len(existing) == 1 else ''}; nothing was written. "
            f"Choose another {key}= or add overwrite=true to replace "
            f"{'it' if len(existing) == 1 else 'them'}."
        )
    for folder in {p.parent for p in paths}:
        check_writable_folder(folder, shown)
    return paths


def check_writable_folder(folder: str | Path, shown: str) -> None:
    """ConfigError unless files can be created in `folder` (or in the folders that would be made for it).

    Probes with a temporary file in the nearest existing folder, removed at once: nothing is left behind.
    """
    folder = Path(folder)
    base = _nearest_existing(folder.absolute())
    if not base.is_dir():
        raise ConfigError(f"{shown}: {base} is a file, so no folder can be made under it; choose another location")
    try:
        fd, probe = tempfile.mkstemp(dir=base, prefix=".gan_zoo_write_probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(
            f"{shown}: cannot write under {base} ({e.strerror or type(e).__name__}); choose a writable location"
        ) from None


def make_parent(path: str | Path, shown: str) -> None:
    """Create the folder that will hold `path` (a failure becomes a ConfigError naming `shown`)."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"{shown}: cannot create {Path(path).parent} ({e.strerror or type(e).__name__}); choose a writable location"
        ) from None


@contextmanager
def output_folder(folder: str | Path, shown: str) -> Iterator[Path]:
    """Create `folder` (and missing parents) for the block; if the block raises, remove the folders it created
    that are still empty, so a refused command leaves no empty output folder behind."""
    folder = Path(folder)
    made, p = [], folder.absolute()
    while not p.exists() and p != p.parent:
        made.append(p)
        p = p.parent
    make_parent(folder / "x", shown)
    try:
        yield folder
    except BaseException:
        for p in made:  # innermost first
            try:
                p.rmdir()  # only succeeds while empty
            except OSError:
                break
        raise
