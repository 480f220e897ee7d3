"""Turn a composed config into objects: the DataModule, the GAN module, the evaluator.

Shared by `train`, `sample` and the tests, so a checkpoint is always rebuilt the way it was trained.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import hydra
import torch
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from gan_zoo.errors import ConfigError, require

# Keys of the model group that configure the build rather than the GAN module's constructor.
_BUILD_KEYS = ("_target_", "generator", "discriminator", "conditional", "g_optimizer", "d_optimizer")


def instantiate_checked(node: DictConfig, where: str, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, with a key the target does not accept reported as a ConfigError.

    Typical cause: an experiment sets `model.generator.base_channels` (a DCGAN key) and the user
    swaps in `model=mlp`; Hydra would only say "unexpected keyword argument".
    """
    target = hydra.utils.get_object(node._target_) if "_target_" in node else None
    if target is not None:
        params = inspect.signature(target).parameters  # a class's __init__ or a (loss) function
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            valid = list(params)
            unknown = [k for k in node if not str(k).startswith("_") and k not in valid]
            if unknown:
                raise ConfigError(
                    f"{where}.{unknown[0]} is not a parameter of {node._target_} (valid: {', '.join(valid)}). "
                    "If an experiment set it for another network, choose a matching experiment or remove the key "
                    f"with ~{where}.{unknown[0]}.")
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as e:  # **kwargs chains: the key is only known when the call fails
        match = re.search(r"unexpected keyword argument '(\w+)'", str(e.__cause__ or e))
        if match is None:
            raise
        raise ConfigError(f"{where}.{match.group(1)} is not a parameter of {node._target_}. If an experiment set it "
                          f"for another option of this group, remove it with ~{where}.{match.group(1)}.") from None


def data_facts(datamodule: Any) -> dict[str, Any]:
    """What the networks need to know about the data: kind, sample shape, number of classes, id."""
    datamodule.setup("fit")
    shape = list(datamodule.image_shape) if datamodule.kind == "image" else [datamodule.dim]
    return {"kind": datamodule.kind, "shape": shape, "num_classes": datamodule.num_classes,
            "dataset_id": datamodule.dataset_id}


def build_gan(cfg: DictConfig, facts: dict[str, Any]) -> Any:
    """The GAN module for `cfg.model` + `cfg.loss`, shaped by the data facts.

    Conditioning flows from the data: a conditional model gets the data's `num_classes`; an
    unconditional one gets 0 and ignores labels.
    """
    m = cfg.model
    num_classes = facts["num_classes"] if m.get("conditional", False) else 0
    if m.get("conditional", False) and num_classes == 0:
        raise ConfigError(f"model.conditional=true needs labelled data, but data '{facts['dataset_id']}' has no "
                          "classes; pick a labelled dataset or set model.conditional=false")
    shape = tuple(facts["shape"])
    generator = instantiate_checked(m.generator, "model.generator", latent_dim=m.latent_dim, out_shape=shape,
                                    num_classes=num_classes)
    discriminator = instantiate_checked(m.discriminator, "model.discriminator", in_shape=shape,
                                        num_classes=num_classes)
    loss = {k: instantiate_checked(v, f"loss.{k}") if isinstance(v, DictConfig) and "_target_" in v else v
            for k, v in cfg.loss.items()}
    rest = {k: v for k, v in OmegaConf.to_container(m, resolve=True).items() if k not in _BUILD_KEYS}
    cls = hydra.utils.get_class(m._target_)
    return cls(generator=generator, discriminator=discriminator,
               g_optimizer=hydra.utils.instantiate(m.g_optimizer), d_optimizer=hydra.utils.instantiate(m.d_optimizer),
               num_classes=num_classes, **loss, **rest)


def build_evaluator(cfg: DictConfig, datamodule: Any) -> Any:
    """The validation evaluator named by `cfg.metrics`, checked against the data kind."""
    kind = cfg.metrics.kind
    if kind != datamodule.kind:
        raise ConfigError(f"metrics scores {kind} data but the data ({datamodule.dataset_id}) is {datamodule.kind} "
                          f"data; use metrics={'mixture' if datamodule.kind == 'vector' else 'domain_fid'}")
    if kind == "vector":
        from gan_zoo.metrics.evaluators import MixtureEvaluator

        return MixtureEvaluator(datamodule.centers, datamodule.std, num_samples=cfg.metrics.num_samples)
    return build_image_evaluator(cfg.metrics, datamodule, cfg.paths.cache_dir)


def build_extractors(mcfg: DictConfig, datamodule: Any, cache_dir: str | None,
                     need_classifier: bool = True) -> tuple[Any, Any]:
    """(feature extractor, domain classifier or None) named by a metrics config.

    The domain classifier (trained on the labelled data once, then cached) is the extractor for
    `extractor: domain`, and the judge of class coverage under either extractor; with `inception` it
    is only built when need_classifier (the `classes` metric) asks for it.
    """
    from gan_zoo.metrics.domain import load_or_train_extractor
    from gan_zoo.metrics.extractors import DomainExtractor, InceptionExtractor

    require(mcfg.extractor in ("domain", "inception"),
            f"metrics.extractor must be 'domain' or 'inception', got {mcfg.extractor!r}")
    classifier = None
    if datamodule.num_classes >= 2 and (need_classifier or mcfg.extractor == "domain"):
        model, info = load_or_train_extractor(datamodule, cache_dir, epochs=mcfg.extractor_epochs)
        classifier = DomainExtractor(model, info)
    if mcfg.extractor == "inception":
        inc = mcfg.get("inception", {}) or {}
        extractor = InceptionExtractor(inc.get("weights_path"), str(inc.get("sha256") or "6726825d"), cache_dir)
    else:
        if classifier is None:
            raise ConfigError(f"metrics.extractor=domain trains a classifier on the data's labels, but the data "
                              f"({datamodule.dataset_id}) has none; use metrics.extractor=inception (local weights) "
                              "or metrics=none")
        extractor = classifier
    return extractor, classifier


def build_image_evaluator(mcfg: DictConfig, datamodule: Any, cache_dir: str | None, key_prefix: str = "val/",
                          device: str = "cpu", names: list[str] | None = None) -> Any:
    """The image evaluation suite for a metrics config (train-time validation and `gan-zoo evaluate`).

    names: the metrics to compute (default: mcfg.metrics).
    """
    from gan_zoo.metrics.suite import ImageEvaluator

    names = list(mcfg.metrics if names is None else names)
    extractor, classifier = build_extractors(mcfg, datamodule, cache_dir, need_classifier="classes" in names)
    if "classes" in names and classifier is None:
        names.remove("classes")  # unlabelled data: nothing to judge classes by
    return ImageEvaluator(datamodule, extractor.to(device), names, mcfg.num_fake, cache_dir=cache_dir,
                          split=mcfg.split, num_real=mcfg.num_real, batch_size=mcfg.batch_size,
                          classifier=None if classifier is None else classifier.to(device), seed=mcfg.seed,
                          kid_subsets=mcfg.kid_subsets, kid_subset_size=mcfg.kid_subset_size, isc_splits=mcfg.isc_splits,
                          pr_k=mcfg.pr_k, dc_k=mcfg.dc_k, key_prefix=key_prefix, device=device)


def load_checkpoint_gan(path: str, map_location: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """Rebuild the GAN stored in a gan_zoo checkpoint; returns (module in eval mode, run info)."""
    if str(map_location).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={map_location} but no CUDA device is visible; use device=cpu")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same answer
        raise ConfigError(f"cannot read {path} as a checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]}). "
                          "Give a gan_zoo .ckpt file (checkpoints/last.ckpt or best.ckpt) or a run directory.") from None
    info = blob.get("gan_zoo", {}) if isinstance(blob, dict) else {}
    if "config" not in info:
        raise ConfigError(f"{path} is not a gan_zoo checkpoint (no 'gan_zoo.config' entry)")
    cfg = OmegaConf.create(info["config"])
    gan = build_gan(cfg, info["data"])
    gan.load_state_dict(blob["state_dict"])
    gan.g_steps = info.get("g_steps", 0)
    return gan.eval(), info
