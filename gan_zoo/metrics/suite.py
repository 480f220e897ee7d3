"""The image evaluation suite: one object that scores a source of images against a reference split.

Used by `gan-zoo evaluate` (checkpoints, .npz files, image folders) and during training (the GAN
module calls `compute(gan)` at every validation). Real features are extracted once per protocol and
cached on disk; every value comes back with the protocol it was measured under.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import torch
import torch.nn as nn

from gan_zoo.errors import ConfigError, require
from gan_zoo.metrics import scores
from gan_zoo.metrics.features import (
    FeatureSet,
    Source,
    cached_features,
    describe_resize,
    extract,
    generator_source,
    tensor_source,
)

log = logging.getLogger(__name__)

#: metric name -> what it reports. `classes` needs a labelled dataset; `intra_fid` a conditional source.
IMAGE_METRICS = {
    "fid": "Frechet distance of extractor features (fid) and the real-vs-real floor (fid_real_floor)",
    "kid": "Kernel Inception Distance, cubic kernel, unbiased, mean/std over subsets",
    "is": "Inception Score over 10 splits (needs an extractor with logits)",
    "pr": "improved precision/recall, k=3 (Kynkaanniemi et al. 2019)",
    "dc": "density/coverage, k=5 (Naeem et al. 2020)",
    "memorisation": "nearest-training-image distances of samples vs held-out real images (pixel L1 and feature L2)",
    "intra_fid": "FID per class, mean and max over classes (conditional models)",
    "classes": "classes covered, least class share, conditional accuracy (domain classifier)",
}


#: FID fits a Gaussian (mean and covariance) to each side's features: with fewer samples than the feature
#: dimension the covariance is singular, and the value stays biased well above that; below this many samples per
#: feature dimension a value comes with a warning (128-d domain features: 256 samples; Inception's 2048-d: 4096).
FID_SAMPLES_PER_DIM = 2


def fid_sample_warning(num_fake: int, num_real: int, dim: int) -> str | None:
    """A warning for an FID from fewer than FID_SAMPLES_PER_DIM x dim samples on either side, else None."""
    need = FID_SAMPLES_PER_DIM * dim
    if min(num_fake, num_real) >= need:
        return None
    return (
        f"FID from {num_fake} fake and {num_real} real samples in {dim}-d features: below {need} "
        f"({FID_SAMPLES_PER_DIM} x the feature dimension) on a side the covariance is poorly estimated and the "
        "value is biased upwards; compare it only with FIDs of the same counts, or raise the counts"
    )


def check_label_range(lo: int, hi: int, codes: bool, datamodule: Any, where: str) -> None:
    """Labels scored against classes must be classes of the reference data, [0, K); codes must be >= 0."""
    if codes:
        require(lo >= 0, f"codes must be >= 0 (categorical code indices), got {lo} in {where}")
        return
    k = datamodule.num_classes
    require(
        0 <= lo and hi < k,
        f"labels must be classes in [0, {k}) of {datamodule.dataset_id}, got values from {lo} "
        f"to {hi} in {where}: fix the `labels` array (or remove it to score without labels)",
    )


#: The field's reference protocol per data set (dm.name): split and count used when split/num_real are null.
#: CIFAR-10 tables (StudioGAN, mimicry, torch-fidelity) score against the training images.
REFERENCE_DEFAULTS: dict[str, tuple[str, int | None]] = {"cifar10": ("train", 10000)}


def default_reference(datamodule: Any, split: str | None, num_real: int | None) -> tuple[str, int | None]:
    """(split, num_real) after filling nulls with the data set's protocol (REFERENCE_DEFAULTS), else val / whole split.

    "test" names the held-out split too (the official test split is the datamodules' val split)."""
    d_split, d_num = REFERENCE_DEFAULTS.get(getattr(datamodule, "name", None), ("val", None))
    split = {"test": "val"}.get(split, split) if split is not None else d_split
    if num_real is None and split == d_split:
        num_real = d_num
    return split, num_real


def count_tag(n: int) -> str:
    """2000 -> '2k', 1500 -> '1500': the sample count as it appears in metric names."""
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def _fixed_rows(total: int, n: int, seed: int = 0) -> torch.Tensor:
    """Indices of n of `total` rows chosen by a fixed-seed permutation, in their original order."""
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def _fixed_subset(x: torch.Tensor, y: torch.Tensor, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n rows of (x, y) chosen by `_fixed_rows`."""
    idx = _fixed_rows(len(x), n, seed)
    return x[idx], y[idx]


def _paired(fake: torch.Tensor, real: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Equal-size fake and real feature sets (the larger one subsampled with a fixed seed).

    k-NN manifolds depend on density: with 10x more reals than fakes, real balls shrink and precision
    drops while recall rises. Precision/recall and density/coverage are defined on equal counts
    (Kynkaanniemi et al. and Naeem et al. use 50k vs 50k)."""
    n = min(len(fake), len(real))
    return tuple(t if len(t) == n else t[_fixed_rows(len(t), n, seed)] for t in (fake, real))


class ImageEvaluator(nn.Module):
    """Scores images against the reference split of a datamodule in one extractor's feature space.

    metrics: names from IMAGE_METRICS. num_fake: generated samples per evaluation (for sources that
    generate). split: reference split ("val" = held out, the default; "train"). num_real: cap on the
    reference images (None = the whole split). batch_size: the extraction chunk (fixed: part of the
    protocol, GPU Inception features depend on it). classifier: the domain classifier for `classes`.
    """

    def __init__(
        self,
        datamodule: Any,
        extractor: nn.Module,
        metrics: list[str] | tuple[str, ...],
        num_fake: int,
        *,
        cache_dir: str | None,
        split: str | None = "val",
        num_real: int | None = None,
        batch_size: int = 250,
        classifier: nn.Module | None = None,
        seed: int = 0,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        isc_splits: int = 10,
        pr_k: int = 3,
        dc_k: int = 5,
        key_prefix: str = "val/",
        device: str | torch.device = "cpu",
        floor: bool = True,
    ) -> None:
        super().__init__()
        unknown = [m for m in metrics if m not in IMAGE_METRICS]
        require(not unknown, f"unknown metric(s) {unknown}; choose from {sorted(IMAGE_METRICS)}")
        require(
            split in (None, "val", "test", "train"),
            f"metrics.split must be 'val' (= 'test', held out), 'train' or null (the data's default), got {split!r}",
        )
        split, num_real = default_reference(datamodule, split, num_real)
        require(
            isinstance(num_fake, int) and num_fake >= 2, f"metrics.num_fake must be an integer >= 2, got {num_fake!r}"
        )
        require(isinstance(batch_size, int) and batch_size > 0, f"metrics.batch_size must be > 0, got {batch_size!r}")
        require(
            num_real is None or (isinstance(num_real, int) and num_real >= 2),
            f"metrics.num_real must be null (the whole split) or an integer >= 2, got {num_real!r}",
        )
        if "is" in metrics and not getattr(extractor, "num_logits", 0):
            reason = getattr(extractor, "no_logits_reason", None) or f"extractor {extractor.name} has none"
            raise ConfigError(f"metric 'is' (Inception Score) needs class logits: {reason}")
        if "memorisation" in metrics and split != "val":
            raise ConfigError("metric 'memorisation' compares samples with held-out images: use split=val")
        if "intra_fid" in metrics and datamodule.num_classes < 2:
            raise ConfigError(f"metric 'intra_fid' needs a labelled reference; {datamodule.dataset_id} has no classes")
        if "classes" in metrics and classifier is None:
            raise ConfigError("metric 'classes' needs the domain classifier (a labelled dataset)")
        self.datamodule, self.extractor, self.classifier = datamodule, extractor, classifier
        self.metrics = list(metrics)
        self.num_fake, self.split, self.num_real, self.batch_size = num_fake, split, num_real, batch_size
        self.cache_dir, self.seed, self.key_prefix, self.device_ = cache_dir, seed, key_prefix, device
        self.kid_subsets, self.kid_subset_size, self.isc_splits = kid_subsets, kid_subset_size, isc_splits
        self.pr_k, self.dc_k, self.floor = pr_k, dc_k, floor
        self.extractor_tag = extractor.name.split("-")[0]  # "domain" / "inception", in metric names and files
        self.tag = f"{self.extractor_tag}_{count_tag(num_fake)}"
        self.monitor = f"{key_prefix}fid_{self.tag}" if "fid" in metrics else None
        self.mode = "min"
        self._real: FeatureSet | None = None
        self._train: FeatureSet | None = None
        self._floor: tuple[int, float, int, str] | None = None  # (fake count, value, real images used, split)
        self.cache_info: dict[str, Any] = {}
        self._hashes: dict[str, str] = {}

    # ------------------------------------------------------------------------------------ reference data
    def _split_tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """A split's images and labels; the reference split capped at `num_real`: "the first num_real" by the data's
        own rule where it has one (`first_n`: file order, or the first n/K of each class for class folders), else a
        fixed random subset (splits are stored in class order: a plain prefix would hold only the first classes)."""
        self.datamodule.setup("fit")
        ds = self.datamodule.val_set if split == "val" else self.datamodule.train_set
        x, y = ds.tensors[0], ds.tensors[1]
        if split == self.split and self.num_real is not None:
            require(
                self.num_real <= len(x), f"metrics.num_real={self.num_real} but the {split} split has {len(x)} images"
            )
            if self.num_real < len(x):
                first_n = getattr(self.datamodule, "first_n", None)
                x, y = first_n(self.num_real, split) if first_n is not None else _fixed_subset(x, y, self.num_real)
        return x, y

    def reference_rule(self) -> str:
        """How the reference images were chosen from their split (recorded with every value)."""
        if self.num_real is None:
            return "the whole split"
        if getattr(self.datamodule, "first_n", None) is not None:
            return (
                f"the first {self.num_real} (the data's rule: file order, or the first n/K of each class's "
                f"sorted files)"
            )
        return f"a fixed random subset of {self.num_real} (seed 0)"

    def _content_hash(self, split: str) -> str:
        """sha256 of a split's pixels and labels: a changed dataset never reuses cached features."""
        if split not in self._hashes:
            x, y = self._split_tensors(split)
            h = hashlib.sha256(x.contiguous().numpy().tobytes())
            h.update(y.contiguous().numpy().tobytes())
            self._hashes[split] = h.hexdigest()[:16]
        return self._hashes[split]

    def _real_protocol(self, split: str, n: int) -> dict[str, Any]:
        dm = self.datamodule
        memo = split == "val" and "memorisation" in self.metrics
        return {
            "dataset_id": dm.dataset_id,
            "split": split,
            "num_real": n,
            "content_sha256": self._content_hash(split),
            "train_content_sha256": self._content_hash("train") if memo else None,
            "image_size": dm.image_size,
            "channels": dm.channels,
            "resize": dm.resize,
            "extractor": self.extractor.name,
            "extractor_sha256": self.extractor.protocol().get("sha256"),
            "extractor_input": self.extractor.protocol().get("input"),
            "extractor_implementation": self.extractor.protocol().get("implementation"),
            "reference_images": self.reference_rule() if split == self.split else None,
            "classifier_sha256": None if self.classifier is None else self.classifier.protocol().get("sha256"),
            "chunk": self.batch_size,
            "memorisation": memo,
            "device": torch.device(self.device_).type,
        }

    def _features_of_split(self, split: str, subset: int | None = None) -> FeatureSet:
        """Features of a split (or of a fixed random subset of it), from the cache when possible."""
        x, y = self._split_tensors(split)
        if subset is not None and subset >= len(x):
            subset = None  # the whole split (shares the cache entry with memorisation's)
        if subset is not None:
            x, y = _fixed_subset(x, y, subset)
        protocol = {**self._real_protocol(split, len(x)), "subset_seed": None if subset is None else 0}
        train = self._split_tensors("train")[0] if protocol["memorisation"] else None

        def compute() -> FeatureSet:
            log.info("extracting %s features of %d %s images (cached afterwards)", self.extractor.name, len(x), split)
            return extract(
                tensor_source(x, y, self.batch_size, f"{split} split"),
                self.extractor,
                classifier=self.classifier,
                train_images=train,
                device=self.device_,
            )

        fs, info = cached_features(self.cache_dir, protocol, compute)
        self.cache_info[split if subset is None else f"{split}_subset"] = info
        return fs

    def reference(self) -> FeatureSet:
        """Features of the reference split (cached)."""
        if self._real is None:
            self._real = self._features_of_split(self.split)
        return self._real

    def train_reference(self) -> FeatureSet:
        """Features of the whole training split (cached): memorisation compares against them."""
        if self._train is None:
            self._train = self._features_of_split("train")
        return self._train

    def real_floor(self, n: int) -> tuple[float, int, str]:
        """FID of n real images from the other split (a fixed subset) against the reference split: the best
        a GAN can expect under this protocol, with the fakes' sample count. Train and val are disjoint
        parts of the dataset, so this is the real-vs-real FID of two parts of it.
        Returns (value, images used, their split)."""
        other = "train" if self.split == "val" else "val"
        fs = self._features_of_split(other, subset=n)
        return scores.fid(fs.stats, self.reference().stats), fs.n, other

    # ------------------------------------------------------------------------------------ scoring
    def fake_source(self, gan: Any) -> Source:
        """`num_fake` samples of a GAN module (eval mode, EMA, balanced labels, fixed seed)."""
        return generator_source(gan, self.num_fake, self.batch_size, seed=getattr(gan, "eval_seed", self.seed))

    def score(self, source: Source) -> list[dict[str, Any]]:
        """Extract the source and compute every configured metric. Returns [{metric, value, protocol}]."""
        need_keep = any(m in self.metrics for m in ("kid", "is", "pr", "dc", "memorisation", "intra_fid"))
        train_x = self._split_tensors("train")[0] if "memorisation" in self.metrics else None
        fake = extract(
            source,
            self.extractor,
            keep=need_keep,
            classifier=self.classifier,
            train_images=train_x,
            device=self.device_,
        )
        real = self.reference()
        self.last_counts = (fake.n, real.n)  # before any equal-count subsampling of the k-NN metrics
        info = dict(source.info)
        if "skipped" in info:  # unreadable files of a folder: counted, a few named
            info["skipped"], info["skipped_examples"] = len(info["skipped"]), info["skipped"][:3]
        info.pop("has_labels", None)
        info.pop("label_range", None)
        sizes = info.pop("stored_sizes", None)  # files: what was done to bring them to the protocol's size
        resize = (
            describe_resize(sizes, self.datamodule.image_size, self.datamodule.resize)
            if sizes is not None
            else "none (already at the data's size)"
        )
        base = {
            "extractor": self.extractor.protocol(),
            "image_size": self.datamodule.image_size,
            "channels": self.datamodule.channels,
            "resize": resize,
            "reference_resize": self.datamodule.resize,
            "num_fake": fake.n,
            "num_real": real.n,
            "reference": f"{self.datamodule.dataset_id} {self.split} split",
            "reference_split": self.split,
            "reference_images": self.reference_rule(),
            "chunk": self.batch_size,
            "fake_source": source.description,
            **info,
            "real_cache": self.cache_info.get(self.split, {}).get("cache"),
        }
        out: list[dict[str, Any]] = []

        def put(name: str, value: float, **extra: Any) -> None:
            out.append({"metric": name, "value": float(value), "protocol": {**base, **extra}})

        if "fid" in self.metrics:
            dim = len(fake.stats.mean)
            few = fid_sample_warning(fake.n, real.n, dim)
            if few and few != getattr(self, "_warned", None):  # once per count, not at every validation
                log.warning(few)
                self._warned = few
            put(
                "fid",
                scores.fid(fake.stats, real.stats),
                implementation="torch_fidelity.fid_statistics_to_metric on streamed float64 statistics",
                **({"warning": few} if few else {}),
            )
            if self.floor:
                if self._floor is None or self._floor[0] != fake.n:  # computed once per sample count
                    self._floor = (fake.n, *self.real_floor(fake.n))
                put(
                    "fid_real_floor",
                    self._floor[1],
                    num_fake=self._floor[2],
                    fake_source=f"{self._floor[3]} split subset of {self._floor[2]} real images (fixed seed 0)",
                )
        if "kid" in self.metrics:
            k = scores.kid(
                fake.features, real.features, subsets=self.kid_subsets, subset_size=self.kid_subset_size, seed=self.seed
            )
            extra = {
                "kid_subsets": self.kid_subsets,
                "kid_subset_size": k["kid_subset_size"],
                "kid_seed": self.seed,
                "implementation": "torch_fidelity.kid_features_to_metric (poly kernel, degree 3)",
            }
            put("kid_mean", k["kid_mean"], **extra)
            if k["kid_subset_size"] < max(fake.n, real.n):  # otherwise every subset is the same: no spread to report
                put("kid_std", k["kid_std"], **extra)
        if "is" in self.metrics:
            s = scores.inception_score(fake.logits, splits=self.isc_splits, seed=self.seed)
            extra = {"isc_splits": self.isc_splits, "implementation": "torch_fidelity.isc_features_to_metric"}
            put("is_mean", s["is_mean"], **extra)
            put("is_std", s["is_std"], **extra)
        if "pr" in self.metrics or "dc" in self.metrics:  # k-NN metrics: equal counts on both sides
            knn_fake, knn_real = _paired(fake.features, real.features)
            paired = {
                "num_fake": len(knn_fake),
                "num_real": len(knn_real),
                "equal_counts": "larger side subsampled, seed 0",
            }
        if "pr" in self.metrics:
            s = scores.precision_recall(knn_fake, knn_real, k=self.pr_k)
            extra = {"k": self.pr_k, "implementation": "torch_fidelity.prc_features_to_metric", **paired}
            put("precision", s["precision"], **extra)
            put("recall", s["recall"], **extra)
        if "dc" in self.metrics:
            s = scores.density_coverage(knn_fake, knn_real, k=self.dc_k)
            extra = {"k": self.dc_k, "implementation": "gan_zoo.metrics.scores.density_coverage", **paired}
            put("density", s["density"], **extra)
            put("coverage", s["coverage"], **extra)
        if "memorisation" in self.metrics:
            train = self.train_reference()
            pix = scores.memorisation(fake.nn_l1, real.nn_l1)
            feat = scores.memorisation(
                scores.nearest_distances(fake.features, train.features),
                scores.nearest_distances(real.features, train.features),
            )
            extra = {
                "num_train": train.n,
                "copy_fraction": "share of samples nearer a training image than 99% of held-out real images are",
                "pixel_distance": "mean |a - b| per pixel in [0, 1]",
            }
            for space, m in (("l1", pix), ("feat", feat)):
                for k in ("fake_to_train_median", "heldout_to_train_median", "ratio", "copy_fraction"):
                    put(f"memo_{space}_{k}", m[k], **extra)
        # What the samples' labels are, as the game (or the samples file) declares it: class labels are scored per
        # class (intra_fid, cond_accuracy); learnt codes are unsupervised, matched to classes (code_accuracy).
        codes = info.pop("conditioning", None) == "codes"
        base.pop("conditioning", None)
        if fake.labels is not None and len(fake.labels) and ("intra_fid" in self.metrics or "classes" in self.metrics):
            check_label_range(
                int(fake.labels.min()), int(fake.labels.max()), codes, self.datamodule, source.description
            )
        if "intra_fid" in self.metrics and not codes:
            require(
                fake.labels is not None,
                "metric 'intra_fid' needs labelled samples: a conditional checkpoint, or an .npz with a `labels` array",
            )
            s = scores.intra_fid(fake.features, fake.labels, real.features, real.labels, self.datamodule.num_classes)
            put("intra_fid_mean", s["intra_fid_mean"])
            put("intra_fid_max", s["intra_fid_max"])
        if "classes" in self.metrics:
            k = self.datamodule.num_classes
            covered, min_share = scores.class_coverage(torch.bincount(fake.preds, minlength=k), k)
            extra = {"classifier": self.classifier.protocol(), "covered_if": ">= 20% of the fair share n/K"}
            put("classes_covered", covered, **extra)
            put("min_class_share", min_share, **extra)
            if fake.labels is not None and codes:
                put(
                    "code_accuracy",
                    scores.code_accuracy(fake.labels, fake.preds, k),
                    **{
                        **extra,
                        "code_accuracy": "agreement of the categorical code with the classifier's class under "
                        "the best one-to-one code->class map (Hungarian)",
                    },
                )
            elif fake.labels is not None:
                put("cond_accuracy", (fake.preds == fake.labels).float().mean(), **extra)
        return out

    # ------------------------------------------------------------------------------------ training hook
    @torch.no_grad()
    def compute(self, gan: Any) -> dict[str, float]:
        """Score `num_fake` fresh samples of the module; keys like val/fid_domain_1k."""
        self.device_ = gan.device
        values = self.score(self.fake_source(gan))
        plain = {"classes_covered", "min_class_share", "cond_accuracy", "code_accuracy"}
        out = {}
        for v in values:
            name = v["metric"]
            if name in plain:
                out[f"{self.key_prefix}{name}"] = v["value"]
            elif name == "fid_real_floor":
                out[f"{self.key_prefix}fid_{self.tag}_real_floor"] = v["value"]
            else:
                out[f"{self.key_prefix}{name}_{self.tag}"] = v["value"]
        self.last_values = values
        return out

    def protocol(self) -> dict[str, Any]:
        """What every value above was measured with (also written to metrics_protocol.json)."""
        return {
            "metrics": self.metrics,
            "monitor": self.monitor,
            "extractor": self.extractor.protocol(),
            "num_fake": self.num_fake,
            "reference": f"{self.datamodule.dataset_id} {self.split} split",
            "num_real": self.num_real or "whole split",
            "reference_images": self.reference_rule(),
            "chunk": self.batch_size,
            "seed": self.seed,
            "image_size": self.datamodule.image_size,
            "resize": self.datamodule.resize,
            "real_floor": "FID of num_fake real images of the other split vs the reference split",
            "fake_sampling": "eval mode, EMA generator if any, all noise drawn from the model's eval_seed (z, and "
            "per-sample noise maps for style models with noise_mode=random), balanced labels, "
            "quantised to uint8",
            "kid": {"subsets": self.kid_subsets, "subset_size": self.kid_subset_size},
            "pr_k": self.pr_k,
            "dc_k": self.dc_k,
        }
