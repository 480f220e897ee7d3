"""The repository stands on its own: no file cites notes outside it, names a missing module or links nowhere."""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Built from parts so this file does not contain the names it forbids.
FORBIDDEN = [stem + ".md" for stem in ("SEE" + "DS", "PIT" + "FALLS", "DES" + "IGN", "STY" + "LE")] + [".." + "/shared"]
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini", ".sh", "", ".json"}


def _tracked() -> list[Path]:
    """Tracked text files (git ls-files), or every file under the root outside a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        files = [ROOT / line for line in out.splitlines()]
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [f for f in files if f.is_file() and f.suffix in TEXT_SUFFIXES and f.stat().st_size < 2_000_000]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def test_no_file_cites_notes_outside_the_repository() -> None:
    hits = [f"{f.relative_to(ROOT)}: {name}" for f in _tracked() for name in FORBIDDEN if name in _text(f)]
    assert not hits, "cite docs/ pages of this repository instead:\n" + "\n".join(hits)


def _resolves(dotted: str) -> bool:
    """True when `dotted` is an importable module, or a module followed by attributes it has."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        if cut == len(parts):
            return True
        obj = importlib.import_module(name)
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


NOT_MODULES = {"gan_zoo.config"}  # the entry a checkpoint stores its config under, not a module


def test_every_named_gan_zoo_module_exists() -> None:
    pattern = re.compile(r"\bgan_zoo(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
    bad = set()
    for f in _tracked():
        for m in pattern.finditer(_text(f)):
            name = m.group(0)
            if f.suffix != ".py" and name.endswith(("py", "yaml", "md")):
                name = name.rsplit(".", 1)[0]  # a file name (module dotted, then its suffix) in prose
            if name not in NOT_MODULES and not _resolves(name):
                bad.add(f"{f.relative_to(ROOT)}: {m.group(0)}")
    assert not bad, "these names point at nothing:\n" + "\n".join(sorted(bad))


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def test_relative_markdown_links_resolve() -> None:
    bad = []
    for f in _tracked():
        if f.suffix != ".md":
            continue
        for m in LINK.finditer(_text(f)):
            target = (m.group(1) or m.group(2)).split("#", 1)[0]
            if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):  # a pure anchor or a URL
                continue
            if target.startswith("/"):
                bad.append(f"{f.relative_to(ROOT)}: {target} (links are relative to their file; no leading /)")
            elif not (f.parent / target).exists():
                bad.append(f"{f.relative_to(ROOT)}: {target}")
    assert not bad, "broken relative links:\n" + "\n".join(bad)
