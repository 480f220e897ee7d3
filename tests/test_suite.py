"""The evaluation suite: agreement with torch-fidelity, extractor weights checks, the real-feature cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch_fidelity

from gan_zoo.data import DigitsDataModule
from gan_zoo.metrics.domain import load_or_train_extractor
from gan_zoo.metrics.extractors import DomainExtractor, InceptionExtractor, WeightsNotFoundError
from gan_zoo.metrics.features import extract, tensor_source
from gan_zoo.metrics.fidelity_compat import UInt8Images, register_extractor
from gan_zoo.metrics.suite import ImageEvaluator
from gan_zoo.networks.classifier import SmallCNN


@pytest.fixture(scope="module")
def digits():
    dm = DigitsDataModule(batch_size=64)
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def random_domain_extractor():
    torch.manual_seed(0)
    return DomainExtractor(
        SmallCNN(1, 10, width=8, feature_dim=32).eval(), {"arch": "smallcnn-test", "sha256": "t", "num_classes": 10}
    )


@pytest.fixture(scope="module")
def trained_domain_extractor(digits, tmp_path_factory):
    """A classifier trained on the digits: features and logits at the scale real use sees."""
    model, info = load_or_train_extractor(digits, tmp_path_factory.mktemp("extractor"), epochs=3)
    return DomainExtractor(model, info)


def degraded(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Real digits with noise and a brightness shift: a 'generator' whose scores are far from zero."""
    g = torch.Generator().manual_seed(seed)
    noisy = x.float() * 0.8 + 40 * torch.rand(x.shape, generator=g)
    return noisy.round().clamp(0, 255).to(torch.uint8)


def test_suite_agrees_with_torch_fidelity_on_the_same_extractor(digits, trained_domain_extractor):
    """FID, KID, IS, precision and recall to 1e-4 relative: our streamed pipeline vs
    torch_fidelity.calculate_metrics."""
    n = len(digits.val_set)  # equal counts: our precision/recall would subsample the larger side
    fakes = degraded(digits.train_set.tensors[0][:n], seed=0)
    ev = ImageEvaluator(
        digits,
        trained_domain_extractor,
        ["fid", "kid", "is", "pr"],
        num_fake=n,
        cache_dir=None,
        batch_size=128,
        seed=2020,
        kid_subsets=50,
        kid_subset_size=200,
    )
    ours = {v["metric"]: v["value"] for v in ev.score(tensor_source(fakes, None, 128, "degraded digits"))}
    name = register_extractor(trained_domain_extractor)
    ref = torch_fidelity.calculate_metrics(
        input1=UInt8Images(fakes),
        input2=UInt8Images(digits.val_set.tensors[0]),
        feature_extractor=name,
        cuda=False,
        fid=True,
        kid=True,
        isc=True,
        prc=True,
        kid_subsets=50,
        kid_subset_size=200,
        rng_seed=2020,
        cache=False,
        batch_size=128,
        verbose=False,
        save_cpu_ram=True,
    )
    assert ours["fid"] > 5 * ours["fid_real_floor"]  # far from the floor: relative agreement means something
    assert ours["fid"] == pytest.approx(ref["frechet_inception_distance"], rel=1e-4)
    assert ours["kid_mean"] == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-4)
    assert ours["kid_std"] == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-4)
    assert ours["is_mean"] == pytest.approx(ref["inception_score_mean"], rel=1e-4)
    assert ours["precision"] == pytest.approx(ref["precision"], rel=1e-4)
    assert ours["recall"] == pytest.approx(ref["recall"], rel=1e-4)


def test_torchmetrics_with_our_extractor_gives_the_same_fid_kid_and_is(digits, trained_domain_extractor):
    """torchmetrics' FID, KID and IS with our domain extractor as `feature` agree with our path to 1e-4 relative
    (KID on one full-size subset and IS on one split, so neither side's subset RNG enters)."""
    from torchmetrics.image import FrechetInceptionDistance, InceptionScore, KernelInceptionDistance

    from gan_zoo.metrics.torchmetrics_compat import ExtractorFeatures, ExtractorLogits

    real = digits.val_set.tensors[0]
    n = len(real)
    fakes = degraded(digits.train_set.tensors[0][:n], seed=1)
    ev = ImageEvaluator(
        digits,
        trained_domain_extractor,
        ["fid", "kid", "is"],
        num_fake=n,
        cache_dir=None,
        batch_size=128,
        kid_subsets=1,
        kid_subset_size=n,
        isc_splits=1,
        floor=False,
    )
    ours = {v["metric"]: v["value"] for v in ev.score(tensor_source(fakes, None, 128, "degraded digits"))}
    feats = ExtractorFeatures(trained_domain_extractor)
    fid = FrechetInceptionDistance(feature=feats, reset_real_features=False)
    kid = KernelInceptionDistance(feature=feats, subsets=1, subset_size=n)
    isc = InceptionScore(feature=ExtractorLogits(trained_domain_extractor), splits=1)
    for i in range(0, n, 128):
        for metric in (fid, kid):
            metric.update(real[i : i + 128], real=True)
            metric.update(fakes[i : i + 128], real=False)
        isc.update(fakes[i : i + 128])
    assert ours["fid"] > 1.0
    assert float(fid.compute()) == pytest.approx(ours["fid"], rel=1e-4)
    assert float(kid.compute()[0]) == pytest.approx(ours["kid_mean"], rel=1e-4)
    assert float(isc.compute()[0]) == pytest.approx(ours["is_mean"], rel=1e-4)


def test_every_value_carries_its_protocol(digits, random_domain_extractor):
    ev = ImageEvaluator(digits, random_domain_extractor, ["fid", "dc"], num_fake=200, cache_dir=None, batch_size=100)
    values = ev.score(tensor_source(digits.train_set.tensors[0][:200], None, 100, "train digits"))
    names = [v["metric"] for v in values]
    assert names == ["fid", "fid_real_floor", "density", "coverage"]
    for v in values:
        p = v["protocol"]
        assert p["extractor"]["sha256"] == "t" and p["image_size"] == 8
        assert p["reference_resize"] == "bilinear" and p["resize"].startswith("none")  # 8 px digits: not resized
        assert p["reference"] == f"{digits.dataset_id} val split" and p["chunk"] == 100
        if v["metric"] in ("density", "coverage"):  # k-NN metrics: the larger side subsampled to equal counts
            assert p["num_fake"] == p["num_real"] == 200 and p["k"] == 5
        else:
            assert p["num_real"] == len(digits.val_set) and p["num_fake"] == 200
    assert values[1]["protocol"]["fake_source"].startswith("train split subset of 200 real images")


def test_extraction_without_keeping_features_streams_the_same_statistics(digits, random_domain_extractor):
    x, y = digits.train_set.tensors
    kept = extract(tensor_source(x, y, 100, "train"), random_domain_extractor)
    lean = extract(tensor_source(x, y, 100, "train"), random_domain_extractor, keep=False)
    assert lean.features is None and lean.logits is None and kept.features.shape == (len(x), 32)
    assert torch.allclose(lean.stats.covariance(), kept.stats.covariance())
    assert torch.equal(kept.labels, y)


class CountingExtractor(torch.nn.Module):
    """Wraps an extractor and counts the images it saw."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.name, self.seen = inner, inner.name, 0
        self.num_logits, self.feature_dim = inner.num_logits, inner.feature_dim

    def forward(self, x):
        self.seen += len(x)
        return self.inner(x)

    def protocol(self):
        return self.inner.protocol()


def test_real_features_are_cached_per_protocol(digits, random_domain_extractor, tmp_path):
    fakes = tensor_source(digits.train_set.tensors[0][:100], None, 100, "train")
    counting = CountingExtractor(random_domain_extractor)
    first = ImageEvaluator(digits, counting, ["fid"], num_fake=100, cache_dir=str(tmp_path), batch_size=100)
    a = first.score(fakes)
    assert first.cache_info["val"]["cache"] == "miss"
    seen = counting.seen
    second = ImageEvaluator(digits, counting, ["fid"], num_fake=100, cache_dir=str(tmp_path), batch_size=100)
    b = second.score(fakes)
    assert second.cache_info["val"]["cache"] == "hit" and counting.seen == seen + 100  # only the fakes
    assert a[0]["value"] == b[0]["value"]
    # another protocol (fewer reference images) is another cache entry
    third = ImageEvaluator(
        digits, counting, ["fid"], num_fake=100, cache_dir=str(tmp_path), batch_size=100, num_real=200
    )
    third.score(fakes)
    assert third.cache_info["val"]["cache"] == "miss"
    # a torn cache file is recomputed, not trusted
    path = Path(second.cache_info["val"]["path"])
    path.write_bytes(path.read_bytes()[:100])
    fourth = ImageEvaluator(digits, counting, ["fid"], num_fake=100, cache_dir=str(tmp_path), batch_size=100)
    assert fourth.score(fakes)[0]["value"] == pytest.approx(a[0]["value"])
    assert fourth.cache_info["val"]["cache"] == "miss"


def test_missing_inception_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsNotFoundError) as e:
        InceptionExtractor(cache_dir=tmp_path / "cache")
    msg = str(e.value)
    assert "weights-inception-2015-12-05-6726825d.pth" in msg and "6726825d" in msg
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in msg and "metrics.inception.weights_path" in msg


def test_inception_weights_hash_is_checked_and_a_matching_file_loads(tmp_path):
    from helpers import write_standin_inception

    from gan_zoo.utils.io import sha256_file

    path = write_standin_inception(tmp_path / "standin.pth")
    with pytest.raises(WeightsNotFoundError, match="expected one starting with 6726825d"):
        InceptionExtractor(weights_path=str(path))
    ext = InceptionExtractor(weights_path=str(path), sha256=sha256_file(path)[:12])  # the mocked expected hash
    x = (torch.rand(3, 1, 28, 28) * 255).to(torch.uint8)  # grey digits go in as RGB, resized to 299 inside
    feats, logits = ext(x)
    assert feats.shape == (3, 2048) and logits.shape == (3, 1008) and torch.isfinite(feats).all()
    assert ext.protocol()["sha256"] == sha256_file(path)


def test_domain_extractor_is_trained_once_and_named_by_hash(digits, tmp_path):
    model, info = load_or_train_extractor(digits, tmp_path, epochs=1)
    again, info2 = load_or_train_extractor(digits, tmp_path, epochs=1)
    assert info["sha256"] == info2["sha256"] and 0.0 <= info["val_accuracy"] <= 1.0
    ext = DomainExtractor(model, info)
    assert ext.protocol()["sha256"] == info["sha256"] and ext.protocol()["dataset_id"] == digits.dataset_id


class LinearExtractor(torch.nn.Module):
    """A fixed random projection of the pixels: deterministic features and logits for sharding tests."""

    name, num_logits, feature_dim = "linear", 4, 6

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w, self.v = torch.randn(64, 6, generator=g), torch.randn(6, 4, generator=g)

    def forward(self, x):
        h = x.flatten(1).float() @ self.w / 255
        return h, h @ self.v


def _sharded_worker(rank, world, init_file, out_dir):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        x = (torch.arange(37 * 64) % 251).to(torch.uint8).view(37, 1, 8, 8)
        y = torch.arange(37) % 3
        fs = extract(tensor_source(x, y, 5, "t"), LinearExtractor())  # 8 chunks, the last one short
        torch.save(fs.state_dict(), f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_extraction_shards_across_ranks_and_gathers_in_source_order(tmp_path):
    import torch.multiprocessing as mp

    from gan_zoo.metrics.features import FeatureSet

    # fork, not spawn: the ranks inherit this process's imports instead of importing torch again (seconds each)
    mp.start_processes(
        _sharded_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True, start_method="fork"
    )
    x = (torch.arange(37 * 64) % 251).to(torch.uint8).view(37, 1, 8, 8)
    single = extract(tensor_source(x, torch.arange(37) % 3, 5, "t"), LinearExtractor())
    for rank in range(2):
        fs = FeatureSet.from_state_dict(torch.load(tmp_path / f"rank{rank}.pt"))
        assert fs.n == 37 and torch.equal(fs.labels, single.labels)
        assert torch.allclose(fs.features, single.features) and torch.allclose(fs.logits, single.logits)
        assert torch.allclose(fs.stats.covariance(), single.stats.covariance(), rtol=1e-10)


def test_num_real_takes_a_class_balanced_fixed_subset(digits, random_domain_extractor):
    ev = ImageEvaluator(
        digits, random_domain_extractor, ["fid"], num_fake=50, cache_dir=None, batch_size=50, num_real=100
    )
    ref = ev.reference()
    counts = torch.bincount(ref.labels, minlength=10)
    assert ref.n == 100 and (counts > 0).all()  # the split is stored in class order: a prefix would not be
    again = ImageEvaluator(
        digits, random_domain_extractor, ["fid"], num_fake=50, cache_dir=None, batch_size=50, num_real=100
    ).reference()
    assert torch.equal(again.features, ref.features)


def test_memorisation_through_the_suite_flags_copied_training_images(digits, random_domain_extractor):
    ev = ImageEvaluator(digits, random_domain_extractor, ["memorisation"], num_fake=300, cache_dir=None, batch_size=100)
    train_x = digits.train_set.tensors[0]
    copies = {v["metric"]: v["value"] for v in ev.score(tensor_source(train_x[:300], None, 100, "copies"))}
    assert copies["memo_l1_copy_fraction"] == 1.0 and copies["memo_l1_ratio"] == 0.0
    assert copies["memo_feat_copy_fraction"] == 1.0 and copies["memo_feat_fake_to_train_median"] == 0.0
    # new digits (shifted by one pixel: not in the training split) are not copies
    shifted = torch.roll(train_x[:300], shifts=1, dims=3)
    fresh = {v["metric"]: v["value"] for v in ev.score(tensor_source(shifted, None, 100, "shifted"))}
    assert fresh["memo_l1_copy_fraction"] < 0.2 and fresh["memo_l1_ratio"] > 0.5


def test_metrics_that_need_labels_refuse_unlabelled_references(random_domain_extractor):
    from gan_zoo.errors import ConfigError

    class Unlabelled:
        num_classes, dataset_id = 0, "folder:x"

    with pytest.raises(ConfigError, match="intra_fid' needs a labelled reference"):
        ImageEvaluator(Unlabelled(), random_domain_extractor, ["intra_fid"], num_fake=10, cache_dir=None)
