"""Streaming feature extraction from image sources, DDP sharding, and the on-disk real-feature cache.

A source is a list of chunks, each produced on demand (a slice of a tensor, a batch of generated
samples, a batch of decoded files). `extract` walks the chunks, keeps running FID statistics and, only
when a metric needs them, the features/logits (never the images): memory for images is one chunk.
Under DDP each rank takes every world-th chunk and the results are gathered once at the end.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from gan_zoo.data.images import IMAGE_EXTENSIONS, read_image, resize_uint8, to_uint8_images
from gan_zoo.errors import ConfigError, CorruptDataError, DatasetNotFoundError, require
from gan_zoo.metrics.scores import RunningStats, nearest_distances
from gan_zoo.models.contract import capabilities_of
from gan_zoo.utils.io import atomic_torch_save

log = logging.getLogger(__name__)
CACHE_VERSION = 1


# ------------------------------------------------------------------------------------------ input protocol
def prepare_images(x: torch.Tensor, channels: int, size: int, resize: str) -> torch.Tensor:
    """Bring uint8 images [N, c, h, w] to the reference protocol [N, channels, size, size].

    Size: the reference data's own resize method (so 28 px samples made elsewhere are padded to 32 px
    exactly as MNIST was). Channels: grey -> RGB repeats the plane; RGB -> grey uses ITU-R 601 luma
    (what PIL's convert("L") does).
    """
    require(
        x.dtype == torch.uint8 and x.dim() == 4, f"images must be uint8 [N, C, H, W], got {x.dtype} {list(x.shape)}"
    )
    c = x.shape[1]
    if c != channels:
        if c == 1 and channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif c == 3 and channels == 1:
            w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            x = (x.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        else:
            raise ConfigError(f"images have {c} channels; the reference data has {channels}")
    if x.shape[-2:] != (size, size):
        h, w = x.shape[-2:]
        x = resize_uint8(x, size, resize_method(h, w, size, resize))
    return x.contiguous()


def resize_method(h: int, w: int, size: int, resize: str) -> str:
    """The method `prepare_images` applies to an h x w image: the data's own, except bilinear where padding would
    have to shrink it."""
    return resize if (resize != "pad" or (h <= size and w <= size)) else "bilinear"


def describe_resize(sizes: Any, size: int, resize: str) -> str:
    """What `prepare_images` did to images of these stored (h, w) sizes, in words, for the protocol record:
    e.g. 'bilinear 64x96 -> 32x32 (aspect ratio not kept: squashed; pad cannot shrink)'."""
    parts = []
    for h, w in sorted({(int(h), int(w)) for h, w in sizes}):
        if (h, w) == (size, size):
            parts.append(f"none ({h}x{w})")
            continue
        method = resize_method(h, w, size, resize)
        notes = (["aspect ratio not kept: squashed"] if method != "pad" and h != w else []) + (
            [f"{resize} cannot shrink"] if method != resize else []
        )
        parts.append(f"{method} {h}x{w} -> {size}x{size}" + (f" ({'; '.join(notes)})" if notes else ""))
    if not parts:
        return "none"
    return "; ".join(parts[:4]) + (f"; and {len(parts) - 4} more sizes" if len(parts) > 4 else "")


# ------------------------------------------------------------------------------------------ sources
@dataclass
class Source:
    """`num` images in `len(chunks)` chunks; `chunks[i]()` returns (uint8 images, labels or None)."""

    description: str
    num: int
    chunks: list[Callable[[], tuple[torch.Tensor, torch.Tensor | None]]]
    info: dict[str, Any] = field(default_factory=dict)


def tensor_source(
    x: torch.Tensor,
    y: torch.Tensor | None,
    batch_size: int,
    description: str,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Source:
    """Chunks of an in-memory tensor (a data split, an .npz of samples)."""
    n = len(x)

    def chunk(s: int) -> Callable[[], tuple[torch.Tensor, torch.Tensor | None]]:
        def make() -> tuple[torch.Tensor, torch.Tensor | None]:
            xb = x[s : s + batch_size]
            xb = torch.as_tensor(np.ascontiguousarray(xb)) if isinstance(xb, np.ndarray) else xb
            return (prepare(xb) if prepare else xb), (
                None if y is None else torch.as_tensor(y[s : s + batch_size]).long()
            )

        return make

    return Source(description, n, [chunk(s) for s in range(0, n, batch_size)])


def generator_source(gan: Any, num: int, batch_size: int, seed: int) -> Source:
    """`num` fresh samples of a GAN module in chunks: eval mode, EMA generator if any.

    The same samples as `gan.sample(num, seed=seed)` (and so as `gan-zoo sample num=.. seed=..`), made
    one chunk at a time. Samples are quantised to uint8 like saved images (the StyleGAN2-ADA /
    torch-fidelity protocol), so scoring a checkpoint and scoring its exported .npz give the same
    number. Conditional models get balanced labels (sample i asks for class i mod K).
    """

    def chunk(s: int) -> Callable[[], tuple[torch.Tensor, torch.Tensor | None]]:
        def make() -> tuple[torch.Tensor, torch.Tensor | None]:
            x, y = gan.sample(num, seed=seed, batch_size=batch_size, start=s, stop=min(s + batch_size, num))
            return to_uint8_images(x).cpu(), (None if y is None else y.cpu())

        return make

    ema, kind = gan.has_ema, gan.label_kind
    return Source(
        f"{num} samples of the {'EMA ' if ema else ''}generator (seed {seed})",
        num,
        [chunk(s) for s in range(0, num, batch_size)],
        {
            "sampling": f"eval mode, quantised to uint8, balanced {kind}",
            "ema": ema,
            "seed": seed,
            "conditioning": capabilities_of(gan).conditioning,
        },
    )


def open_npz(path: Path) -> Any:
    """np.load of a samples .npz, with a clear error for a missing or unreadable file."""
    if not path.is_file():
        raise DatasetNotFoundError(
            f"samples={path}: no such file. Give an .npz written by `gan-zoo sample` "
            "(`images` uint8 [N, C, H, W] or `samples` float32 [N, D]) or a folder of images."
        )
    try:
        blob = np.load(path)
        blob.files  # noqa: B018 - an .npy or a non-zip file fails here
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same answer
        raise CorruptDataError(f"samples={path} is not a readable .npz ({type(e).__name__}: {e})") from None
    return blob


def npz_arrays(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """{name: (shape, dtype)} of the arrays in an .npz, read from their headers only (no array is loaded)."""
    import zipfile

    open_npz(path)  # a missing, truncated or foreign file gets its clear error first
    out = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            with z.open(name) as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(f)
            out[name.removesuffix(".npy")] = (tuple(shape), dtype)
    return out


def check_npz_labels(path: Path) -> None:
    """`labels` / `codes` of a samples .npz hold one integer per sample (checked from the headers, before any
    data is loaded)."""
    arrays = npz_arrays(path)
    main = arrays.get("images", arrays.get("samples"))
    for key in ("labels", "codes"):
        if key in arrays and main is not None:
            shape, dtype = arrays[key]
            if len(shape) != 1 or shape[0] != main[0][0] or not np.issubdtype(dtype, np.integer):
                raise ConfigError(
                    f"samples={path}: `{key}` must hold one integer per sample (int [{main[0][0]}]), got "
                    f"{dtype} {list(shape)}. Fix the array or remove it to score without {key}."
                )


def npz_source(
    path: str | Path, batch_size: int, prepare: Callable[[torch.Tensor], torch.Tensor], limit: int | None = None
) -> Source:
    """Images of a `gan-zoo sample` .npz (or any .npz with `images` uint8 [N, C, H, W] and optional `labels`)."""
    p = Path(path)
    blob = open_npz(p)  # an .npz member is read whole on access (uint8: 10k 64x64 RGB images = 123 MB)
    keys = set(blob.files)
    if "images" not in keys:
        hint = " (it holds vector `samples`: score 2D data with metrics for mixtures)" if "samples" in keys else ""
        raise ConfigError(
            f"samples={path} has no `images` array (keys: {sorted(keys)}){hint}. Expected `images` "
            "uint8 [N, C, H, W] as `gan-zoo sample` writes."
        )
    images = blob["images"]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ConfigError(
            f"samples={path}: `images` must be uint8 [N, C, H, W] with C in (1, 3), got {images.dtype} "
            f"{list(images.shape)}. Convert floats in [-1, 1] with round((x + 1) * 127.5)."
        )
    labels = blob["labels"] if "labels" in keys else None
    kind = "labels"
    if labels is None and "codes" in keys:  # InfoGAN samples: codes align with classes up to a permutation
        labels, kind = blob["codes"], "codes"
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
            raise ConfigError(
                f"samples={path}: `{kind}` must hold one integer per image (int [{len(images)}]), got "
                f"{labels.dtype} {list(labels.shape)}. Fix the array or remove it to score without "
                f"{kind}."
            )
    n = len(images) if limit is None else min(limit, len(images))
    require(n > 0, f"samples={path}: `images` holds no image")
    src = tensor_source(images[:n], None if labels is None else labels[:n], batch_size, f"{n} images from {p}", prepare)
    src.info = {
        "file": str(p),
        "stored_shape": list(images.shape[1:]),
        "conditioning": None if labels is None else kind,
        "has_labels": labels is not None and kind == "labels",
        "stored_sizes": {tuple(images.shape[2:])},
    }
    if labels is not None:
        src.info["label_range"] = (int(labels[:n].min()), int(labels[:n].max()))
    return src


def folder_source(
    root: str | Path,
    batch_size: int,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    channels: int,
    strict: bool = False,
    limit: int | None = None,
) -> Source:
    """Image files under a folder (any size; decoded per chunk). Unreadable files are skipped and counted."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(f"samples={root}: no such folder or file")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if limit is not None:
        files = files[:limit]
    if not files:
        raise DatasetNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {root}")
    skipped: list[str] = []
    sizes: set[tuple[int, int]] = set()  # the stored sizes met, for the protocol's record of the resize

    def chunk(s: int) -> Callable[[], tuple[torch.Tensor, None]]:
        def make() -> tuple[torch.Tensor, None]:
            out = []
            for f in files[s : s + batch_size]:
                x = read_image(f, channels, strict, "Remove it or set strict=false to skip unreadable files.")
                if x is None:
                    skipped.append(str(f))
                    continue
                sizes.add(tuple(x.shape[-2:]))
                out.append(prepare(x[None])[0])  # files may differ in size: bring each to the protocol first
            return (torch.stack(out) if out else torch.zeros(0, channels, 1, 1, dtype=torch.uint8)), None

        return make

    src = Source(
        f"{len(files)} image files under {root}",
        len(files),
        [chunk(s) for s in range(0, len(files), batch_size)],
        {"folder": str(root)},
    )
    src.info["skipped"] = skipped  # filled while extracting
    src.info["stored_sizes"] = sizes
    return src


# ------------------------------------------------------------------------------------------ extraction
@dataclass
class FeatureSet:
    """What a source leaves behind: FID statistics always; features, logits, labels when kept."""

    stats: RunningStats
    n: int
    features: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    preds: torch.Tensor | None = None  # domain classifier's predicted class per sample
    nn_l1: torch.Tensor | None = None  # per-pixel L1 distance to the nearest training image

    def state_dict(self) -> dict[str, Any]:
        """Tensors only (safe for torch.load(weights_only=True))."""
        out: dict[str, Any] = {"stats": self.stats.state_dict(), "n": self.n}
        for k in ("features", "logits", "labels", "preds", "nn_l1"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> FeatureSet:
        """Inverse of `state_dict`."""
        return cls(
            RunningStats.from_state_dict(state["stats"]),
            int(state["n"]),
            **{k: state.get(k) for k in ("features", "logits", "labels", "preds", "nn_l1")},
        )


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


@torch.no_grad()
def extract(
    source: Source,
    extractor: torch.nn.Module,
    *,
    keep: bool = True,
    classifier: torch.nn.Module | None = None,
    train_images: torch.Tensor | None = None,
    device: str | torch.device = "cpu",
) -> FeatureSet:
    """Run `extractor` over the source in its fixed chunks (the batch size is part of the protocol).

    keep: keep features and logits (KID, IS, precision/recall need them; FID alone does not).
    classifier: also keep the domain classifier's predicted class (class coverage, conditional accuracy).
    train_images: also keep each image's per-pixel L1 distance to its nearest training image (memorisation).
    Under torch.distributed, rank r extracts chunks r, r + world, ... and the parts are gathered once.
    """
    world, rank = _world()
    keys = ("features", "logits", "labels", "preds", "nn_l1")
    stats: RunningStats | None = None
    pieces: list[tuple[int, dict[str, torch.Tensor]]] = []  # (chunk index, what this chunk left)
    train_flat = None if train_images is None else train_images.flatten(1).float().div(255)
    for i, make in enumerate(source.chunks):
        if i % world != rank:
            continue
        x, y = make()
        if len(x) == 0:
            continue
        feats, logits = extractor(x.to(device))
        stats = stats or RunningStats(feats.shape[1])
        stats.update(feats)
        part: dict[str, torch.Tensor] = {}
        if keep:
            part["features"] = feats.cpu()
            if logits is not None:
                part["logits"] = logits.cpu()
        if y is not None:
            part["labels"] = y.cpu().long()
        if classifier is not None:
            cls_logits = logits if classifier is extractor else classifier(x.to(device))[1]
            part["preds"] = cls_logits.argmax(1).cpu()
        if train_flat is not None:
            part["nn_l1"] = nearest_distances(x.flatten(1).float().div(255), train_flat, p=1) / x[0].numel()
        pieces.append((i, part))
    if world > 1:  # one gather of everything every rank kept, then the source's chunk order again
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, (None if stats is None else stats.state_dict(), pieces))
        stats, pieces = None, []
        for st, rank_pieces in gathered:
            if st is not None:
                other = RunningStats.from_state_dict(st)
                stats = other if stats is None else stats
                if stats is not other:
                    stats.merge(other)
            pieces += rank_pieces
        pieces.sort(key=lambda p: p[0])
    require(stats is not None and stats.n > 0, f"no images could be scored from {source.description}")
    kept = {k: torch.cat([p[k] for _, p in pieces]) if pieces and k in pieces[0][1] else None for k in keys}
    return FeatureSet(stats=stats, n=stats.n, **kept)


# ------------------------------------------------------------------------------------------ real cache
def cache_key(**protocol: Any) -> str:
    """Stable short hash of a protocol dict."""
    text = json.dumps({"version": CACHE_VERSION, **protocol}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_features(
    cache_dir: str | Path | None, protocol: dict[str, Any], compute: Callable[[], FeatureSet]
) -> tuple[FeatureSet, dict[str, Any]]:
    """The real-data FeatureSet for this protocol, computed once and cached on disk.

    The protocol (dataset id, split, extractor name + weights sha256, image size, resize, sample count,
    chunk size) keys the file; the file stores the protocol too and is checked on load. Returns the
    set and {"cache": "hit"|"miss", "path": ...}.
    """
    if cache_dir is None:
        return compute(), {"cache": "off"}
    name = f"{protocol.get('dataset_id', 'data')}-{protocol.get('split', 'split')}-{cache_key(**protocol)}.pt"
    path = Path(cache_dir) / "real_features" / name.replace("/", "_").replace(":", "_")
    world, rank = _world()
    state = _load_cached(path, protocol) if rank == 0 else None
    if world > 1:  # rank 0 decides hit or miss for everyone: ranks that disagreed would deadlock in extract()
        box = [state]
        dist.broadcast_object_list(box, src=0)
        state = box[0]
    if state is not None:
        return FeatureSet.from_state_dict(state), {"cache": "hit", "path": str(path)}
    fs = compute()
    if rank == 0:
        atomic_torch_save(
            {"protocol": json.loads(json.dumps(protocol, default=str)), "features": fs.state_dict()}, path
        )
    return fs, {"cache": "miss", "path": str(path)}


def _load_cached(path: Path, protocol: dict[str, Any]) -> dict[str, Any] | None:
    """The cached FeatureSet state at path if it exists and was written for this protocol, else None.

    Any failure is a miss (never an exception): under DDP only rank 0 reads the file, and a rank that
    raised here would leave the others waiting in the broadcast.
    """
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if json.dumps(blob["protocol"], sort_keys=True, default=str) != json.dumps(
            protocol, sort_keys=True, default=str
        ):
            log.warning("real-feature cache %s was written for another protocol; recomputing", path)
            return None
        FeatureSet.from_state_dict(blob["features"])  # complete enough to use
        return blob["features"]
    except Exception as e:  # noqa: BLE001 - a torn or foreign file is recomputed, not trusted
        log.warning("real-feature cache %s is unreadable (%s); recomputing", path, type(e).__name__)
        return None
