"""Turn a composed config into objects: the DataModule, the GAN module, the evaluator.

Shared by `train`, `sample` and the tests, so a checkpoint is always rebuilt the way it was trained.
"""

from __future__ import annotations

import inspect
import logging
import re
from dataclasses import fields
from typing import Any

import hydra
import torch
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from gan_zoo.errors import ConfigError, require
from gan_zoo.models.base import Schedule
from gan_zoo.models.contract import TRUNCATION_KEYS, capabilities_of, check_truncation_keys
from gan_zoo.utils.checkpoints import read_checkpoint_file
from gan_zoo.utils.hotpath import FusedWhenSupported, plain_partial

log = logging.getLogger("gan_zoo")


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
                    f"with ~{where}.{unknown[0]}."
                )
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as e:  # **kwargs chains: the key is only known when the call fails
        match = re.search(r"unexpected keyword argument '(\w+)'", str(e.__cause__ or e))
        if match is None:
            raise
        raise ConfigError(
            f"{where}.{match.group(1)} is not a parameter of {node._target_}. If an experiment set it "
            f"for another option of this group, remove it with ~{where}.{match.group(1)}."
        ) from None


def data_facts(datamodule: Any) -> dict[str, Any]:
    """What the networks need to know about the data: kind, sample shape, number of classes, id."""
    datamodule.setup("fit")
    if hasattr(datamodule, "facts"):  # paired/unpaired data: both sides' shapes
        return datamodule.facts()
    shape = list(datamodule.image_shape) if datamodule.kind == "image" else [datamodule.dim]
    facts = {
        "kind": datamodule.kind,
        "shape": shape,
        "num_classes": datamodule.num_classes,
        "dataset_id": datamodule.dataset_id,
    }
    if hasattr(datamodule, "source_info"):  # benchmark copies: layout, folder and sha256 of the decoded arrays
        facts["source"] = datamodule.source_info()
    return facts


def _accepted_params(cls: type) -> set[str] | None:
    """Constructor parameter names of cls, following **kwargs up the MRO; None if anything goes."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        names |= {k for k, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and k != "self"}
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return names
    return None


def _optimizer_factory(node: DictConfig, where: str) -> Any:
    """A partial optimizer. Keys set to null are left out, so a config can switch the optimizer class
    (Hydra merges dicts: `_target_: torch.optim.RMSprop` plus `betas: null` drops Adam's betas)."""
    kept = OmegaConf.create({k: v for k, v in node.items() if v is not None})
    return instantiate_checked(kept, where)


def _critic_norm(cfg: DictConfig, cls: type) -> DictConfig:
    """cfg.model, with a BatchNorm critic switched to `loss.critic_norm` when the loss names one (WGAN-GP).

    So `gan-zoo train loss=wgan_gp` trains the default DCGAN with a LayerNorm critic instead of failing; the
    switch is logged. The module still refuses a BatchNorm critic under a gradient penalty (a safety net).
    """
    m = cfg.model
    norm = cfg.get("loss", {}).get("critic_norm") if capabilities_of(cls).adversarial_loss else None
    if norm and "discriminator" in m and m.discriminator.get("norm") == "batch":
        log.info("loss.critic_norm=%s: the critic is built with %s normalisation instead of BatchNorm", norm, norm)
        m = OmegaConf.create(OmegaConf.to_container(m, resolve=True))
        m.discriminator.norm = norm
    return m


def build_gan(cfg: DictConfig, facts: dict[str, Any]) -> Any:
    """The module for `cfg.model` (+ `cfg.loss` for adversarial games), shaped by the data facts.

    The game class says which networks it needs and with which shapes (`network_kwargs`); every
    `*optimizer` key becomes a partial optimizer. Conditioning flows from the data: a conditional model
    gets the data's `num_classes`; an unconditional one gets 0 and ignores labels.
    """
    m = cfg.model
    cls = hydra.utils.get_class(m._target_)
    num_classes = facts["num_classes"] if m.get("conditional", False) else 0
    if m.get("conditional", False) and num_classes == 0:
        raise ConfigError(
            f"model.conditional=true needs labelled data, but data '{facts['dataset_id']}' has no "
            "classes; pick a labelled dataset or set model.conditional=false"
        )
    if facts.get("kind") in ("paired", "unpaired") and not capabilities_of(cls).images_to_images:
        raise ConfigError(
            f"data '{facts['dataset_id']}' is {facts['kind']} image-to-image data but {m._target_} makes "
            f"images from noise; use model={'pix2pix' if facts['kind'] == 'paired' else 'cyclegan'} "
            "(or an experiment such as pix2pix_edges_mnist / cyclegan_digits_mnist)"
        )
    data_kwargs = cls.data_kwargs(facts)
    m = _critic_norm(cfg, cls)
    net_kwargs = cls.network_kwargs(m, facts, num_classes)
    for name in net_kwargs:
        if name not in m:
            raise ConfigError(f"model.{name} is missing: {m._target_} needs a `{name}` network node with a _target_")
    nets = {name: instantiate_checked(m[name], f"model.{name}", **kw) for name, kw in net_kwargs.items()}
    optims = {k: _optimizer_factory(v, f"model.{k}") for k, v in m.items() if str(k).endswith("optimizer")}
    if cfg.get("trainer", {}).get("fused_optimizers", True):  # fused Adam/SGD steps where torch has them (hotpath.py)
        optims = {k: FusedWhenSupported(f) for k, f in optims.items()}
    loss = {}
    if capabilities_of(cls).adversarial_loss:
        loss = {
            k: plain_partial(instantiate_checked(v, f"loss.{k}"))
            if isinstance(v, DictConfig) and "_target_" in v
            else v
            for k, v in cfg.loss.items()
            if k != "critic_norm"
        }  # plain_partial: no per-call Hydra policy
    skip = {"_target_", "conditional", *nets, *optims}
    rest = {k: v for k, v in OmegaConf.to_container(m, resolve=True).items() if k not in skip}
    check_truncation_keys(cls, [k for k in TRUNCATION_KEYS if rest.get(k) is not None], prefix="model.")
    ada = _ada_options(rest)
    accepted = _accepted_params(cls)
    if accepted is not None:  # the schedule arrives as one object: its fields are the game's settings
        honoured = SCHEDULE_FIELDS if cls.SCHEDULE_OPTIONS is None else cls.SCHEDULE_OPTIONS
        accepted = (accepted - {"schedule"}) | (honoured if "schedule" in accepted else set())
        for where, keys in (("model", rest), ("loss", loss)):
            unknown = [k for k in keys if k not in accepted]
            if unknown:
                raise ConfigError(
                    f"{where}.{unknown[0]} is not a setting of {m._target_} (valid: "
                    f"{', '.join(sorted(k for k in accepted if k not in nets and k not in optims))}). "
                    f"Remove it with ~{where}.{unknown[0]}, or pick the model/loss that has it."
                )
    schedule = Schedule(**{k: src.pop(k) for src in (rest, loss) for k in list(src) if k in SCHEDULE_FIELDS})
    gan = cls(**nets, **optims, num_classes=num_classes, **data_kwargs, **loss, **rest, schedule=schedule)
    if ada:
        gan.enable_ada(ada["ada_target"], ada.get("ada_kimg", 20.0), ada.get("ada_interval", 4))
    return gan


SCHEDULE_FIELDS = frozenset(f.name for f in fields(Schedule))  # model.n_critic, loss.reg_every, ...


def _ada_options(rest: dict[str, Any]) -> dict[str, Any]:
    """Take ADA's schedule options (`model.ada_*`, conf/model/schedule) out of the constructor arguments: the
    base module gets them through `enable_ada` after construction. `model.augment_p` null means 1 (the
    constructors' default); with ADA on it must stay null, since ADA sets the probability itself."""
    ada = {k: rest.pop(k) for k in ("ada_target", "ada_kimg", "ada_interval") if k in rest}
    if ada.get("ada_target") is not None and rest.get("augment_p") is not None:
        raise ConfigError(
            f"model.augment_p={rest['augment_p']} and model.ada_target={ada['ada_target']} both set the "
            "augmentation probability: with ADA on, p is adjusted during training. Remove model.augment_p (or set "
            "it to null), or set model.ada_target=null for a fixed p"
        )
    if "augment_p" in rest and rest["augment_p"] is None:
        del rest["augment_p"]
    return ada if ada.get("ada_target") is not None else {}


def build_evaluator(cfg: DictConfig, datamodule: Any) -> Any:
    """The validation evaluator named by `cfg.metrics`, checked against the data kind."""
    kind = cfg.metrics.kind
    if kind == "translation" or datamodule.kind in ("paired", "unpaired"):
        return build_translation_evaluator(cfg.metrics, datamodule, cfg.paths.cache_dir)
    if kind != datamodule.kind:
        raise ConfigError(
            f"metrics scores {kind} data but the data ({datamodule.dataset_id}) is {datamodule.kind} "
            f"data; use metrics={'mixture' if datamodule.kind == 'vector' else 'domain_fid'}"
        )
    if kind == "vector":
        from gan_zoo.metrics.evaluators import MixtureEvaluator

        return MixtureEvaluator(datamodule.centers, datamodule.std, num_samples=cfg.metrics.num_samples)
    return build_image_evaluator(cfg.metrics, datamodule, cfg.paths.cache_dir)


def build_translation_evaluator(mcfg: DictConfig, datamodule: Any, cache_dir: str | None) -> Any:
    """Held-out metrics of an image-to-image game (gan_zoo.metrics.translation), checked against the data kind."""
    from gan_zoo.metrics.domain import extractor_options, load_or_train_extractor
    from gan_zoo.metrics.extractors import DomainExtractor
    from gan_zoo.metrics.translation import PairedEvaluator, UnpairedEvaluator

    if mcfg.kind != "translation" or datamodule.kind not in ("paired", "unpaired"):
        raise ConfigError(
            f"metrics={mcfg.kind} does not fit {datamodule.kind} data ({datamodule.dataset_id}): image-to-image "
            "data takes metrics=translation, other data metrics=domain_fid, mixture or none"
        )
    num = mcfg.get("num_samples")
    if datamodule.kind == "paired":
        return PairedEvaluator(datamodule, num_samples=num, batch_size=mcfg.batch_size)
    datamodule.setup("fit")
    judges = {}
    for side, dm in (("A", datamodule.domain_a), ("B", datamodule.domain_b)):
        if dm.num_classes >= 2:  # a classifier per labelled domain (cached like the domain extractor)
            model, info = load_or_train_extractor(dm, cache_dir, **extractor_options(mcfg))
            judges[side] = DomainExtractor(model, info)
    if "B" not in judges:
        raise ConfigError(
            f"metrics=translation on unpaired data needs class labels in domain B to train its judge "
            f"({datamodule.domain_b.dataset_id} has none); use metrics=none"
        )
    return UnpairedEvaluator(datamodule, judges, num_samples=num, batch_size=mcfg.batch_size)


def build_extractors(
    mcfg: DictConfig, datamodule: Any, cache_dir: str | None, need_classifier: bool = True, keys: str = "metrics."
) -> tuple[Any, Any]:
    """(feature extractor, domain classifier or None) named by a metrics config.

    The domain classifier (trained on the labelled data once, then cached) is the extractor for
    `extractor: domain`, and the judge of class coverage under either extractor; with `inception` it
    is only built when need_classifier (the `classes` metric) asks for it. keys: how the command names these
    settings in messages ("metrics." under train, "" for evaluate's top-level keys).
    """
    from gan_zoo.metrics.domain import extractor_options, load_or_train_extractor
    from gan_zoo.metrics.extractors import DomainExtractor, InceptionExtractor

    require(
        mcfg.extractor in ("domain", "inception"),
        f"{keys}extractor must be 'domain' or 'inception', got {mcfg.extractor!r}",
    )
    classifier = None
    if datamodule.num_classes >= 2 and (need_classifier or mcfg.extractor == "domain"):
        model, info = load_or_train_extractor(datamodule, cache_dir, **extractor_options(mcfg))
        classifier = DomainExtractor(model, info)
    if mcfg.extractor == "inception":
        inc = mcfg.get("inception", {}) or {}
        extractor = InceptionExtractor(
            inc.get("weights_path"),
            inc.get("sha256"),
            cache_dir,
            resize=str(inc.get("resize") or "tf1"),
            keys=keys,
            precision=str(inc.get("precision") or "fp32"),
        )
    else:
        if classifier is None:
            raise ConfigError(
                f"{keys}extractor=domain trains a classifier on the data's labels, but the data "
                f"({datamodule.dataset_id}) has none; use {keys}extractor=inception (local weights)"
                + (" or metrics=none" if keys else "")
            )
        extractor = classifier
    return extractor, classifier


def build_image_evaluator(
    mcfg: DictConfig,
    datamodule: Any,
    cache_dir: str | None,
    key_prefix: str = "val/",
    device: str = "cpu",
    names: list[str] | None = None,
    keys: str = "metrics.",
) -> Any:
    """The image evaluation suite for a metrics config (train-time validation and `gan-zoo evaluate`).

    names: the metrics to compute (default: mcfg.metrics). keys: the settings' prefix in messages.
    """
    from gan_zoo.metrics.suite import ImageEvaluator

    names = list(mcfg.metrics if names is None else names)
    extractor, classifier = build_extractors(mcfg, datamodule, cache_dir, need_classifier="classes" in names, keys=keys)
    if "classes" in names and classifier is None:
        names.remove("classes")  # unlabelled data: nothing to judge classes by
    return ImageEvaluator(
        datamodule,
        extractor.to(device),
        names,
        mcfg.num_fake,
        cache_dir=cache_dir,
        split=mcfg.split,
        num_real=mcfg.num_real,
        batch_size=mcfg.batch_size,
        classifier=None if classifier is None else classifier.to(device),
        seed=mcfg.seed,
        kid_subsets=mcfg.kid_subsets,
        kid_subset_size=mcfg.kid_subset_size,
        isc_splits=mcfg.isc_splits,
        pr_k=mcfg.pr_k,
        dc_k=mcfg.dc_k,
        key_prefix=key_prefix,
        device=device,
    )


def upgrade_run_config(cfg: DictConfig) -> DictConfig:
    """A checkpoint's stored config in today's keys: style-based games kept psi under model.truncation(_cutoff)."""
    m = cfg.model
    if capabilities_of(hydra.utils.get_class(m._target_)).truncation == "w":
        for old, new in (("truncation", "psi"), ("truncation_cutoff", "psi_cutoff")):
            if old in m:
                value = m.pop(old)
                if new not in m:
                    m[new] = value
    return cfg


def load_checkpoint_gan(path: str, map_location: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """Rebuild the GAN stored in a gan_zoo checkpoint; returns (module in eval mode, run info)."""
    if str(map_location).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={map_location} but no CUDA device is visible; use device=cpu")
    blob = read_checkpoint_file(path, map_location=map_location)
    info = blob["gan_zoo"]
    cfg = upgrade_run_config(OmegaConf.create(info["config"]))
    gan = build_gan(cfg, info["data"])
    gan.load_state_dict(blob["state_dict"])
    gan.d_steps = info.get("d_steps", 0)
    gan.g_steps = info.get("g_steps", 0)
    return gan.eval(), info
