"""`gan-zoo evaluate`: score a checkpoint, an .npz of samples or a folder of images against a reference.

    gan-zoo evaluate checkpoint=outputs/train/dcgan_mnist/RUN metrics=[fid,kid,pr,dc,memorisation]
    gan-zoo evaluate samples=other_framework.npz data=mnist_mini
    gan-zoo evaluate samples=path/to/pngs data=mnist_mini extractor=inception

Prints a table and writes JSON: every value with its protocol (extractor and weights hash, image size and
resize, real/fake counts, reference split, seeds). Samples of any size are brought to the reference
data's size and channels with the data's own resize method (bilinear where padding cannot shrink them; the
protocol records what was done). 2D-mixture checkpoints/samples get the PacGAN statistics (modes, hq_fraction,
reverse_kl); image metric names on 2D data are refused. The default JSON name says the extractor, the sample count
and the metrics, so two metric lists never share a file; an existing file is replaced only with overwrite=true.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from gan_zoo.build import build_image_evaluator, instantiate_checked, load_checkpoint_gan
from gan_zoo.errors import ConfigError, DatasetNotFoundError, exit_on_user_error, require, require_bool, require_int
from gan_zoo.metrics.evaluators import mixture_stats
from gan_zoo.metrics.features import (
    check_npz_labels,
    folder_source,
    generator_source,
    npz_source,
    open_npz,
    prepare_images,
)
from gan_zoo.metrics.suite import IMAGE_METRICS, check_label_range
from gan_zoo.models.contract import capabilities_of
from gan_zoo.sample import apply_noise_mode
from gan_zoo.utils.checkpoints import resolve_checkpoint
from gan_zoo.utils.io import atomic_write_text, check_outputs, code_version, make_parent

log = logging.getLogger(__name__)


def _datamodule(cfg: DictConfig, ckpt_info: dict[str, Any] | None) -> tuple[Any, str]:
    """The reference data: `data=...` if given, else the data the checkpoint was trained on."""
    if cfg.get("data") is not None:
        node, origin = cfg.data, "data= on the command line"
    elif ckpt_info is not None:
        node, origin = OmegaConf.create(ckpt_info["config"]).data, "the checkpoint's training data"
    else:
        raise ConfigError(
            "samples= needs a reference dataset: add data=NAME (e.g. data=mnist_mini; options: "
            "mnist_mini, digits, mnist, image_folder, ring8, grid25)"
        )
    dm = instantiate_checked(node, "data")
    dm.setup("fit")
    return dm, origin


#: what a 2D-mixture source is scored with (gan_zoo.metrics.evaluators.mixture_stats), in place of image metrics
MIXTURE_METRICS = ("modes", "hq_fraction", "reverse_kl")
IMAGE_DEFAULT = ("fid", "kid", "pr", "dc", "classes")


def _default_out(cfg: DictConfig, what: Path, tag: str) -> Path:
    """`out=` if given, else a name beside the source that says what it holds (extractor, count, metrics)."""
    if cfg.get("out"):
        return Path(str(cfg.out))
    if what.suffix == ".ckpt":  # <run dir>/eval/<ckpt>_<tag>.json
        return what.parent.parent / "eval" / f"{what.stem}_{tag}.json"
    return what.parent / f"{what.stem if what.is_file() else what.name}.eval_{tag}.json"


def _sampling_seeds(cfg: DictConfig, gan: Any) -> list[int]:
    """`seeds=[...]`: score that many independent draws of num_fake samples from a checkpoint (a 1,000-sample
    recall moves by 0.01-0.03 from one draw to the next); null: the one draw of `seed`."""
    seeds = cfg.get("seeds")
    if seeds is None:
        return [int(cfg.seed)]
    require(
        gan is not None,
        "seeds= draws new samples from a checkpoint; a samples= file is scored as it is "
        "(drop seeds=, or score a checkpoint)",
    )
    seeds = list(seeds) if not isinstance(seeds, (int, str)) else [seeds]
    require(
        len(seeds) > 0
        and all(isinstance(x, int) and not isinstance(x, bool) for x in seeds)
        and len(set(seeds)) == len(seeds),
        f"seeds must be a list of distinct integers, e.g. seeds=[0,1,2]; got {seeds}",
    )
    return seeds


def _combine_seeds(runs: list[list[dict]], seeds: list[int]) -> list[dict]:
    """One value per metric: the mean over the seeds' draws, with the draws, their std and the 95% interval
    of the mean in its protocol. A single draw is returned as it is."""
    if len(runs) == 1:
        return runs[0]
    from gan_zoo.report import mean_ci

    out = []
    for rows in zip(*runs):
        names = {r["metric"] for r in rows}
        require(len(names) == 1, f"internal: seeds scored different metrics {sorted(names)}")
        vals = [float(r["value"]) for r in rows]
        mean, sd, half = mean_ci(vals)
        proto = {
            **rows[0]["protocol"],
            "seed": seeds,
            "per_seed": vals,
            "std": sd,
            "ci95": [mean - half, mean + half],
            "value_is": f"mean over {len(seeds)} draws",
        }
        out.append({**rows[0], "value": mean, "protocol": proto})
    return out


def _vector_samples(dm: Any, samples_path: Path) -> torch.Tensor:
    """The `samples` array of a 2D-data .npz, checked."""
    blob = open_npz(samples_path)
    require("samples" in blob.files, f"{samples_path} has no `samples` array (float32 [N, 2]) for 2D data")
    x = torch.from_numpy(np.asarray(blob["samples"], dtype=np.float32))
    require(
        x.dim() == 2 and x.shape[1] == dm.dim and len(x) > 0,
        f"`samples` must be [N, {dm.dim}] with N > 0, got {list(x.shape)}",
    )
    return x


def _vector_values(
    cfg: DictConfig, dm: Any, gan: Any, samples: torch.Tensor | None, seed: int, names: list[str]
) -> tuple[list[dict], int]:
    if gan is not None:
        x, _ = gan.sample(cfg.num_fake, seed=seed, batch_size=cfg.batch_size)
    else:
        x = samples
    stats = {k: v for k, v in mixture_stats(x, dm.centers, dm.std).items() if k in names}
    proto = {
        "metric_family": "PacGAN mode coverage",
        "num_fake": len(x),
        "num_modes": len(dm.centers),
        "std": dm.std,
        "high_quality": "within 3 std of the nearest mode",
        "mode_captured": ">= 20% of the fair share",
        "reference": dm.dataset_id,
        "seed": seed,
    }
    return [{"metric": k, "value": float(v), "protocol": proto} for k, v in stats.items()], len(x)


def _metric_names(cfg: DictConfig, dm: Any) -> list[str]:
    """The metrics to score: `metrics=[...]` as given (checked against the data's kind), else the data's default."""
    given = cfg.get("metric_names")
    if given is None:
        return list(MIXTURE_METRICS if dm.kind == "vector" else IMAGE_DEFAULT)
    names = [str(n) for n in ([given] if isinstance(given, str) else given)]
    require(len(names) > 0, "metrics=[] names no metric; drop metrics= for the default list")
    if dm.kind != "vector":
        bad = [n for n in names if n not in IMAGE_METRICS]
        require(not bad, f"unknown metric(s) {bad}; choose from {sorted(IMAGE_METRICS)}")
    if dm.kind == "vector":
        bad = [n for n in names if n not in MIXTURE_METRICS]
        require(
            not bad,
            f"{dm.dataset_id} is 2D data: it is scored with the PacGAN mode statistics "
            f"({', '.join(MIXTURE_METRICS)}), not image metrics such as {', '.join(bad)}. Drop metrics= (all "
            f"three) or pick from those, e.g. metrics=[modes,reverse_kl]",
        )
    return list(dict.fromkeys(names))


def _check_labelled(names: list[str], label_kind: str, has_labels: bool, where: str) -> None:
    """intra_fid needs class labels on the samples: refuse before any extraction when they cannot be there."""
    if "intra_fid" not in names:
        return
    require(
        label_kind != "codes",
        f"metric 'intra_fid' is a per-class FID, but {where} carries InfoGAN codes, "
        "which are unsupervised (code k need not be class k): drop intra_fid; `classes` reports code_accuracy "
        "(codes matched to classes by the best one-to-one map)",
    )
    require(
        has_labels,
        f"metric 'intra_fid' is a per-class FID and needs class labels: {where} has none (a "
        "conditional checkpoint, or an .npz with a `labels` array); drop intra_fid",
    )


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Score the source named by cfg and write the JSON report; returns it."""
    require(
        (cfg.get("checkpoint") is None) != (cfg.get("samples") is None),
        "give exactly one of checkpoint=PATH (a .ckpt or run directory) or samples=FILE.npz|FOLDER",
    )
    overwrite = bool(cfg.get("overwrite", False))
    require(cfg.extractor in ("domain", "inception"), f"extractor must be domain or inception, got {cfg.extractor!r}")
    require(
        cfg.split in (None, "val", "test", "train"),
        f"split must be val (held out, also called test), train or null (the data's default), got {cfg.split!r}",
    )
    require_int(cfg.seed, "seed")
    for key in ("ema", "overwrite"):
        require_bool(cfg.get(key, key == "ema"), key)
    require_int(cfg.batch_size, "batch_size", 1)
    if cfg.get("max_samples") is not None:
        require_int(cfg.max_samples, "max_samples", 1)
    if cfg.get("out"):  # a named file is checked before anything is loaded
        check_outputs([str(cfg.out)], overwrite)
    gan, info, ckpt = None, None, None
    if cfg.get("checkpoint") is not None:
        from gan_zoo.models.image2image import TranslationGame

        ckpt = resolve_checkpoint(cfg.checkpoint)
        gan, info = load_checkpoint_gan(str(ckpt), map_location=cfg.device)
        if isinstance(gan, TranslationGame):
            raise ConfigError(
                f"{ckpt} holds a {type(gan).__name__}, which translates images, it does not sample "
                "noise: use `gan-zoo translate checkpoint=RUN out=t.npz`, then score the translations "
                "with `gan-zoo evaluate samples=t.npz data=NAME`"
            )
        gan.to(cfg.device)
        if not cfg.ema:
            gan.drop_ema()
        apply_noise_mode(gan, cfg.get("noise_mode"))
    else:  # check the file before the (possibly long) extractor set-up
        what = Path(cfg.samples)
        if not what.exists():
            raise DatasetNotFoundError(
                f"samples={what}: no such file or folder. Give an .npz written by `gan-zoo "
                "sample` (`images` uint8 [N, C, H, W] or `samples` float32 [N, D]) or a folder "
                "of images."
            )
        if what.is_file():  # a truncated file or a wrong `labels` array is named before the data is loaded
            check_npz_labels(what)
    given = cfg.get("metric_names")
    if given is not None:  # names no data kind has are refused before the data is loaded
        unknown = [
            n
            for n in ([given] if isinstance(given, str) else given)
            if n not in IMAGE_METRICS and n not in MIXTURE_METRICS
        ]
        require(
            not unknown,
            f"unknown metric(s) {unknown}; images: {', '.join(sorted(IMAGE_METRICS))}; 2D data: "
            f"{', '.join(MIXTURE_METRICS)}",
        )
        if gan is not None:
            _check_labelled([str(n) for n in given], gan.label_kind, capabilities_of(gan).labels, f"checkpoint {ckpt}")
    if gan is not None:
        require(
            isinstance(cfg.num_fake, int) and cfg.num_fake >= 2,
            f"num_fake must be an integer >= 2, got {cfg.num_fake!r}",
        )
    dm, data_origin = _datamodule(cfg, info)
    if info is not None and info["data"]["kind"] != dm.kind:
        raise ConfigError(
            f"the checkpoint makes {info['data']['kind']} data but data={dm.dataset_id} is {dm.kind} "
            "data; drop data= to score against the training data"
        )
    what = ckpt if ckpt is not None else Path(cfg.samples)
    seeds = _sampling_seeds(cfg, gan)
    names = _metric_names(cfg, dm)
    metrics_tag = "-".join(sorted(names))
    seeds_tag = f"_x{len(seeds)}seeds" if len(seeds) > 1 else ""
    if dm.kind == "vector":
        samples = None if gan is not None else _vector_samples(dm, what)
        n = cfg.num_fake if gan is not None else len(samples)
        out = _default_out(cfg, what, f"pacgan_{n}{seeds_tag}_{metrics_tag}")
        check_outputs([out], overwrite)
        runs = [_vector_values(cfg, dm, gan, samples, seed, names) for seed in seeds]
        values = _combine_seeds([v for v, _ in runs], seeds)
    else:
        require(
            isinstance(cfg.num_fake, int) and cfg.num_fake >= 2, f"num_fake must be an integer >= 2, got {cfg.num_fake}"
        )
        source = None
        if gan is not None:  # checked before the extractor is built (that may train a classifier)
            require(
                tuple(info["data"]["shape"]) == tuple(dm.image_shape),
                f"the checkpoint makes {info['data']['shape']} images but data={dm.dataset_id} is "
                f"{list(dm.image_shape)}; score its samples instead (gan-zoo sample, then samples=FILE.npz)",
            )
            _check_labelled(names, gan.label_kind, capabilities_of(gan).labels, f"checkpoint {ckpt}")
            n = cfg.num_fake
        else:
            prepare = functools.partial(prepare_images, channels=dm.channels, size=dm.image_size, resize=dm.resize)
            limit = cfg.get("max_samples")
            source = (
                folder_source(what, cfg.batch_size, prepare, dm.channels, strict=cfg.strict, limit=limit)
                if what.is_dir()
                else npz_source(what, cfg.batch_size, prepare, limit=limit)
            )
            _check_labelled(
                names,
                source.info.get("conditioning") or "labels",
                bool(source.info.get("has_labels")),
                f"samples={what}",
            )
            if "label_range" in source.info and ("intra_fid" in names or "classes" in names):
                check_label_range(
                    *source.info["label_range"], source.info.get("conditioning") == "codes", dm, f"samples={what}"
                )
            n = source.num
        tag = f"{cfg.extractor}_{n}" + ("" if cfg.ema or gan is None else "_noema")
        noise_mode = gan.noise_mode if gan is not None and capabilities_of(gan).w_space else None
        if noise_mode not in (None, "random"):
            tag += f"_{noise_mode}noise"
        if cfg.extractor == "inception" and (cfg.get("inception") or {}).get("precision") == "bf16":
            tag += "_bf16"  # a default file name never mixes bf16 values with fp32 ones
        out = _default_out(cfg, what, f"{tag}{seeds_tag}_{metrics_tag}")
        check_outputs([out], overwrite)
        evaluator = build_image_evaluator(
            cfg, dm, cfg.paths.cache_dir, key_prefix="", device=cfg.device, names=names, keys=""
        )
        if gan is not None:  # features of the reference are computed once and reused for every seed
            values = _combine_seeds(
                [evaluator.score(generator_source(gan, cfg.num_fake, cfg.batch_size, seed=seed)) for seed in seeds],
                seeds,
            )
        else:
            values = evaluator.score(source)
    report = {
        "source": str(what),
        "kind": "checkpoint" if ckpt else "samples",
        "generator_steps": None if info is None else info.get("g_steps"),
        "noise_mode": gan.noise_mode if gan is not None and capabilities_of(gan).w_space else None,
        "reference_data": dm.dataset_id,
        "reference_from": data_origin,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "metrics": names,
        "values": values,
    }
    make_parent(out, f"out={out}")
    atomic_write_text(out, json.dumps(report, indent=2, default=str))
    print(format_table(report) + f"\nwritten: {out}", flush=True)
    report["out"] = str(out)
    return report


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table of the values, with the shared protocol underneath."""

    def shown(v: dict) -> str:
        per = v["protocol"].get("per_seed")
        if not per:
            return f"{v['value']:.6g}"
        draws = " ".join(f"{x:.4g}" for x in per)
        return f"{v['value']:.6g}  (std {v['protocol']['std']:.3g} over {len(per)} draws: {draws})"

    rows = [(v["metric"], shown(v)) for v in report["values"]]
    width = max((len(r[0]) for r in rows), default=6)
    lines = [f"{report['source']}  vs  {report['reference_data']}", f"{'metric':{width}s}  value", "-" * (width + 14)]
    lines += [f"{m:{width}s}  {v}" for m, v in rows]
    if report["values"]:  # the shared protocol: a value not restricted to an equal-count subset
        p = next(
            (v["protocol"] for v in report["values"] if "equal_counts" not in v["protocol"]),
            report["values"][0]["protocol"],
        )
        ext = p.get("extractor", {})
        desc = (
            f"extractor {ext.get('name')} sha256 {str(ext.get('sha256'))[:12]}..., {p.get('image_size')} px "
            f"({p.get('resize')}), {p.get('num_fake')} fake vs {p.get('num_real')} real ({p.get('reference')})"
            if ext
            else f"{p.get('num_fake')} samples, {p.get('metric_family')}"
        )
        lines.append(f"protocol: {desc}")
        if p.get("skipped"):
            lines.append(f"skipped {p['skipped']} unreadable file(s), e.g. {', '.join(p['skipped_examples'])}")
        for warning in dict.fromkeys(
            v["protocol"]["warning"] for v in report["values"] if v["protocol"].get("warning")
        ):
            lines.append(f"warning: {warning}")
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (the `gan-zoo evaluate` command)."""
    exit_on_user_error(evaluate, cfg)


if __name__ == "__main__":
    main()
