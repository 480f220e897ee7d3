"""`gan-zoo export`: the exported generator reproduces `gan-zoo sample` (or `translate`) outside gan_zoo.

Each game family is sampled, exported, and its module run in a fresh interpreter that cannot import gan_zoo
(`python -I`, gan_zoo blocked) on the sample file's arrays, as the module's JSON names them; the images must
match the sample file's within 1 uint8 level (TorchScript) or 2 (ONNX through onnxruntime). The runs have
untrained weights (tests/cheap_runs.py): the round trip checks the export, not the training.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from cheap_runs import cheap_run, run_cli
from PIL import Image

#: one experiment per game family
FAMILIES = {
    "noise": "dcgan_mnist",
    "conditional": "cgan_mnist",
    "infogan": "infogan_mnist",
    "style": "stylegan_mnist",
    "vae": "vae_mnist",
    "translation": "pix2pix_edges_mnist",
}
#: the ONNX exporter takes seconds per model: the default suite round-trips these, `-m slow` the others
ONNX_FAST = ("noise", "conditional")
LEVELS = {"torchscript": 1, "onnx": 2}
EXT = {"torchscript": "pt", "onnx": "onnx"}

# Runs in `python -I` (no PYTHONPATH, no user site) with gan_zoo blocked: only torch / onnxruntime and numpy.
CONSUMER = r"""
import json, sys
sys.modules["gan_zoo"] = None  # an installed gan_zoo must not be needed
try:
    import gan_zoo  # noqa: F401
    raise SystemExit("gan_zoo was importable")
except ImportError:
    pass
import numpy as np

results = {}
for job in json.load(open(sys.argv[1])):
    meta = json.load(open(job["module"] + ".json"))
    blob = np.load(job["samples"])
    feeds = {}
    for spec in meta["inputs"]:
        a = blob[spec["npz"]]
        if "from_uint8" in spec:
            a = a.astype(np.float32) / 127.5 - 1
        feeds[spec["name"]] = a.astype(spec["dtype"])
    if meta["format"] == "torchscript":
        import torch
        y = torch.jit.load(job["module"])(*[torch.from_numpy(a) for a in feeds.values()]).numpy()
    else:
        import onnxruntime
        session = onnxruntime.InferenceSession(job["module"], providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == list(feeds), [i.name for i in session.get_inputs()]
        y = session.run([meta["output"]["name"]], feeds)[0]
    u8 = np.round((np.clip(y, -1, 1) + 1) * 127.5).astype(np.uint8)
    results[job["name"]] = {
        "max_diff": int(np.abs(u8.astype(int) - blob["images"].astype(int)).max()),
        "shape": list(y.shape), "dtype": str(y.dtype), "min": float(y.min()), "max": float(y.max()),
    }
json.dump(results, open(sys.argv[2], "w"))
"""


def consume(jobs: list[dict[str, str]], where: Path) -> dict[str, dict]:
    """Run the exported modules of `jobs` in a clean interpreter in `where`; their results by job name."""
    (where / "consumer.py").write_text(CONSUMER)
    (where / "jobs.json").write_text(json.dumps(jobs))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    r = subprocess.run(
        [sys.executable, "-I", "consumer.py", "jobs.json", "results.json"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((where / "results.json").read_text())


def sample_file(capsys, run: Path, family: str, where: Path) -> Path:
    """`gan-zoo sample` (or `translate` of a few digit-like images) of `run`, 5 samples: not the traced batch."""
    out = where / f"{family}.npz"
    if family == "translation":
        folder = where / "inputs"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(folder / f"{i}.png")
        rc, text = run_cli(capsys, "translate", f"checkpoint={run}", f"input={folder}", f"out={out}")
    else:
        rc, text = run_cli(capsys, "sample", f"checkpoint={run}", "num=5", f"out={out}")
    assert rc == 0, text[-3000:]
    return out


def export(capsys, run: Path, fmt: str, out: Path, *extra: str) -> tuple[int, str]:
    return run_cli(capsys, "export", f"checkpoint={run}", f"format={fmt}", f"out={out}", *extra)


def round_trips(capsys, root: Path, pairs: list[tuple[str, str]]) -> dict[str, dict]:
    """Sample, export and consume each (family, format); the consumer's results by "family-format"."""
    runs, samples, jobs = {}, {}, []
    for family, fmt in pairs:
        if family not in runs:
            runs[family] = cheap_run(root, FAMILIES[family])
            samples[family] = sample_file(capsys, runs[family], family, root)
        module = root / f"{family}.{EXT[fmt]}"
        rc, text = export(capsys, runs[family], fmt, module)
        assert rc == 0, text[-3000:]
        jobs.append({"name": f"{family}-{fmt}", "module": str(module), "samples": str(samples[family])})
    return consume(jobs, root)


@pytest.fixture(scope="module")
def fast_round_trips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every family through TorchScript, and ONNX_FAST through ONNX: one consumer process for all."""

    class _Capsys:  # run_cli reads captured output; a module fixture has no capsys, and none is needed here
        def readouterr(self) -> SimpleNamespace:
            return SimpleNamespace(out="", err="")

    pairs = [(f, "torchscript") for f in FAMILIES] + [(f, "onnx") for f in ONNX_FAST]
    return round_trips(_Capsys(), tmp_path_factory.mktemp("export"), pairs)


def check(result: dict, fmt: str) -> None:
    assert result["dtype"] == "float32" and len(result["shape"]) == 4 and result["shape"][0] == 5
    assert -1.0 <= result["min"] <= result["max"] <= 1.0
    assert result["max_diff"] <= LEVELS[fmt], result


@pytest.mark.parametrize("family,fmt", [(f, "torchscript") for f in FAMILIES] + [(f, "onnx") for f in ONNX_FAST])
def test_exported_module_reproduces_the_sample_file(fast_round_trips, family, fmt):
    check(fast_round_trips[f"{family}-{fmt}"], fmt)


@pytest.mark.slow
@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in ONNX_FAST])
def test_onnx_round_trip_of_the_other_families(capsys, tmp_path, family):
    check(round_trips(capsys, tmp_path, [(family, "onnx")])[f"{family}-onnx"], "onnx")


def test_the_json_names_the_inputs_and_the_output(capsys, tmp_path):
    run = cheap_run(tmp_path, "infogan_mnist")
    rc, text = export(capsys, run, "torchscript", tmp_path / "g.pt")
    meta = json.loads((tmp_path / "g.pt.json").read_text())
    assert rc == 0 and meta["format"] == "torchscript" and meta["exported_from"] == "generator_ema"
    assert [(i["name"], i["dtype"], i["shape"]) for i in meta["inputs"]] == [
        ("z", "float32", ["N", 16]),
        ("codes", "int64", ["N"]),
        ("continuous_codes", "float32", ["N", 2]),
    ]
    assert meta["output"]["shape"] == ["N", 1, 32, 32] and meta["output"]["range"] == [-1.0, 1.0]


def test_errors_exit_2_and_write_nothing(capsys, tmp_path):
    run = cheap_run(tmp_path, "dcgan_mnist")
    rc, text = export(capsys, run, "tflite", tmp_path / "g.pt")
    assert rc == 2 and "torchscript" in text and "onnx" in text and not (tmp_path / "g.pt").exists()
    rc, text = export(capsys, run, "onnx", tmp_path / "g.pt")
    assert rc == 2 and "out=" in text and ".onnx" in text and not (tmp_path / "g.pt").exists()
    rc, text = export(capsys, run, "torchscript", tmp_path / "g.pt", "direction=BtoA")
    assert rc == 2 and "direction=" in text and not (tmp_path / "g.pt").exists()
    (tmp_path / "g.pt").write_bytes(b"mine")
    rc, text = export(capsys, run, "torchscript", tmp_path / "g.pt")
    assert rc == 2 and "overwrite=true" in text and (tmp_path / "g.pt").read_bytes() == b"mine"
    assert export(capsys, run, "torchscript", tmp_path / "g.pt", "overwrite=true")[0] == 0
    assert (tmp_path / "g.pt").read_bytes() != b"mine" and (tmp_path / "g.pt.json").is_file()


def test_a_point_game_exits_2_saying_why(capsys, tmp_path):
    run = cheap_run(tmp_path, "wgan_gp_ring8")
    rc, text = export(capsys, run, "torchscript", tmp_path / "g.pt")
    assert rc == 2 and "points" in text and "gan-zoo sample" in text
    assert not (tmp_path / "g.pt").exists() and not (tmp_path / "g.pt.json").exists()


def test_help_lists_the_export_keys(capsys):
    rc, text = run_cli(capsys, "export", "--help")
    assert rc == 0
    for key in ("checkpoint:", "format:", "out:", "overwrite:", "direction:"):
        assert key in text, key
    assert "experiment:" not in text
