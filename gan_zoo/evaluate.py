"""`gan-zoo evaluate`: score a checkpoint, an .npz of samples or a folder of images against a reference.

    gan-zoo evaluate checkpoint=outputs/train/dcgan_mnist/RUN metrics=[fid,kid,pr,dc,memorisation]
    gan-zoo evaluate samples=other_framework.npz data=mnist_mini
    gan-zoo evaluate samples=path/to/pngs data=mnist_mini extractor=inception

Prints a table and writes JSON: every value with its protocol (extractor and weights hash, image size and
resize, real/fake counts, reference split, seeds). Samples of any size are brought to the reference
data's size and channels with the data's own resize method. 2D-mixture checkpoints/samples get the
PacGAN statistics instead.
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
from gan_zoo.errors import ConfigError, DatasetNotFoundError, exit_on_user_error, require
from gan_zoo.metrics.evaluators import mixture_stats
from gan_zoo.metrics.features import folder_source, generator_source, npz_source, open_npz, prepare_images
from gan_zoo.sample import apply_noise_mode
from gan_zoo.utils.checkpoints import resolve_checkpoint
from gan_zoo.utils.io import code_version

log = logging.getLogger(__name__)


def _datamodule(cfg: DictConfig, ckpt_info: dict[str, Any] | None) -> tuple[Any, str]:
    """The reference data: `data=...` if given, else the data the checkpoint was trained on."""
    if cfg.get("data") is not None:
        node, origin = cfg.data, "data= on the command line"
    elif ckpt_info is not None:
        node, origin = OmegaConf.create(ckpt_info["config"]).data, "the checkpoint's training data"
    else:
        raise ConfigError("samples= needs a reference dataset: add data=NAME (e.g. data=mnist_mini; options: "
                          "mnist_mini, digits, mnist, image_folder, ring8, grid25)")
    dm = instantiate_checked(node, "data")
    dm.setup("fit")
    return dm, origin


def _default_out(cfg: DictConfig, what: Path, tag: str) -> Path:
    if cfg.get("out"):
        return Path(cfg.out)
    if what.suffix == ".ckpt":  # <run dir>/eval/<ckpt>_<tag>.json
        return what.parent.parent / "eval" / f"{what.stem}_{tag}.json"
    return what.parent / f"{what.stem if what.is_file() else what.name}.eval_{tag}.json"


def _sampling_seeds(cfg: DictConfig, gan: Any) -> list[int]:
    """`seeds=[...]`: score that many independent draws of num_fake samples from a checkpoint (a 1,000-sample
    recall moves by 0.01-0.03 from one draw to the next); null: the one draw of `seed`."""
    seeds = cfg.get("seeds")
    if seeds is None:
        return [int(cfg.seed)]
    require(gan is not None, "seeds= draws new samples from a checkpoint; a samples= file is scored as it is "
            "(drop seeds=, or score a checkpoint)")
    seeds = list(seeds) if not isinstance(seeds, (int, str)) else [seeds]
    require(len(seeds) > 0 and all(isinstance(x, int) and not isinstance(x, bool) for x in seeds)
            and len(set(seeds)) == len(seeds), f"seeds must be a list of distinct integers, e.g. seeds=[0,1,2]; got {seeds}")
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
        proto = {**rows[0]["protocol"], "seed": seeds, "per_seed": vals, "std": sd,
                 "ci95": [mean - half, mean + half], "value_is": f"mean over {len(seeds)} draws"}
        out.append({**rows[0], "value": mean, "protocol": proto})
    return out


def _vector_values(cfg: DictConfig, dm: Any, gan: Any, samples_path: Path | None,
                   seed: int) -> tuple[list[dict], int]:
    if gan is not None:
        x, _ = gan.sample(cfg.num_fake, seed=seed, batch_size=cfg.batch_size)
    else:
        blob = open_npz(samples_path)
        require("samples" in blob.files, f"{samples_path} has no `samples` array (float32 [N, 2]) for 2D data")
        x = torch.from_numpy(np.asarray(blob["samples"], dtype=np.float32))
        require(x.dim() == 2 and x.shape[1] == dm.dim, f"`samples` must be [N, {dm.dim}], got {list(x.shape)}")
    stats = mixture_stats(x, dm.centers, dm.std)
    proto = {"metric_family": "PacGAN mode coverage", "num_fake": len(x), "num_modes": len(dm.centers), "std": dm.std,
             "high_quality": "within 3 std of the nearest mode", "mode_captured": ">= 20% of the fair share",
             "reference": dm.dataset_id, "seed": seed}
    return [{"metric": k, "value": float(v), "protocol": proto} for k, v in stats.items()], len(x)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Score the source named by cfg and write the JSON report; returns it."""
    require((cfg.get("checkpoint") is None) != (cfg.get("samples") is None),
            "give exactly one of checkpoint=PATH (a .ckpt or run directory) or samples=FILE.npz|FOLDER")
    gan, info, ckpt = None, None, None
    if cfg.get("checkpoint") is not None:
        ckpt = resolve_checkpoint(cfg.checkpoint)
        gan, info = load_checkpoint_gan(str(ckpt), map_location=cfg.device)
        gan.to(cfg.device)
        if not cfg.ema:
            gan.drop_ema()
        apply_noise_mode(gan, cfg.get("noise_mode"))
    else:  # check the file before the (possibly long) extractor set-up
        what = Path(cfg.samples)
        if not what.exists():
            raise DatasetNotFoundError(f"samples={what}: no such file or folder. Give an .npz written by `gan-zoo "
                                       "sample` (`images` uint8 [N, C, H, W] or `samples` float32 [N, D]) or a folder "
                                       "of images.")
    dm, data_origin = _datamodule(cfg, info)
    if info is not None and info["data"]["kind"] != dm.kind:
        raise ConfigError(f"the checkpoint makes {info['data']['kind']} data but data={dm.dataset_id} is {dm.kind} "
                          "data; drop data= to score against the training data")
    what = ckpt if ckpt is not None else Path(cfg.samples)
    seeds = _sampling_seeds(cfg, gan)
    if dm.kind == "vector":
        runs = [_vector_values(cfg, dm, gan, None if gan is not None else what, seed) for seed in seeds]
        values, n = _combine_seeds([v for v, _ in runs], seeds), runs[0][1]
        tag = f"pacgan_{n}"
    else:
        require(isinstance(cfg.num_fake, int) and cfg.num_fake >= 2, f"num_fake must be an integer >= 2, got {cfg.num_fake}")
        if gan is not None:  # checked before the extractor is built (that may train a classifier)
            require(tuple(info["data"]["shape"]) == tuple(dm.image_shape),
                    f"the checkpoint makes {info['data']['shape']} images but data={dm.dataset_id} is "
                    f"{list(dm.image_shape)}; score its samples instead (gan-zoo sample, then samples=FILE.npz)")
        evaluator = build_image_evaluator(cfg, dm, cfg.paths.cache_dir, key_prefix="", device=cfg.device,
                                          names=list(cfg.metric_names))
        if gan is not None:  # features of the reference are computed once and reused for every seed
            values = _combine_seeds([evaluator.score(generator_source(gan, cfg.num_fake, cfg.batch_size, seed=seed))
                                     for seed in seeds], seeds)
        else:
            prepare = functools.partial(prepare_images, channels=dm.channels, size=dm.image_size, resize=dm.resize)
            limit = cfg.get("max_samples")
            source = (folder_source(what, cfg.batch_size, prepare, dm.channels, strict=cfg.strict, limit=limit)
                      if what.is_dir() else npz_source(what, cfg.batch_size, prepare, limit=limit))
            values = evaluator.score(source)
        n = evaluator.last_counts[0]  # all scored samples (k-NN metrics may use an equal-count subset)
        tag = f"{evaluator.extractor_tag}_{n}" + ("" if cfg.ema or gan is None else "_noema")
        if getattr(gan, "noise_mode", "random") != "random":
            tag += f"_{gan.noise_mode}noise"
    if len(seeds) > 1:
        tag += f"_x{len(seeds)}seeds"
    report = {
        "source": str(what), "kind": "checkpoint" if ckpt else "samples",
        "generator_steps": None if info is None else info.get("g_steps"),
        "noise_mode": getattr(gan, "noise_mode", None),
        "reference_data": dm.dataset_id, "reference_from": data_origin,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "code_version": code_version(),
        "values": values,
    }
    out = _default_out(cfg, what, tag)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str))
    tmp.replace(out)
    print(format_table(report) + f"\nwritten: {out}", flush=True)
    report["out"] = str(out)
    return report


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table of the values, with the shared protocol underneath."""
    def shown(v: dict) -> str:
        per = v["protocol"].get("per_seed")
        if not per:
            return f"{v['value']:.6g}"
        return f"{v['value']:.6g}  (std {v['protocol']['std']:.3g} over {len(per)} draws: {' '.join(f'{x:.4g}' for x in per)})"

    rows = [(v["metric"], shown(v)) for v in report["values"]]
    width = max((len(r[0]) for r in rows), default=6)
    lines = [f"{report['source']}  vs  {report['reference_data']}", f"{'metric':{width}s}  value", "-" * (width + 14)]
    lines += [f"{m:{width}s}  {v}" for m, v in rows]
    if report["values"]:  # the shared protocol: a value not restricted to an equal-count subset
        p = next((v["protocol"] for v in report["values"] if "equal_counts" not in v["protocol"]),
                 report["values"][0]["protocol"])
        ext = p.get("extractor", {})
        desc = (f"extractor {ext.get('name')} sha256 {str(ext.get('sha256'))[:12]}..., {p.get('image_size')} px "
                f"({p.get('resize')}), {p.get('num_fake')} fake vs {p.get('num_real')} real ({p.get('reference')})"
                if ext else f"{p.get('num_fake')} samples, {p.get('metric_family')}")
        lines.append(f"protocol: {desc}")
        if p.get("skipped"):
            lines.append(f"skipped {p['skipped']} unreadable file(s), e.g. {', '.join(p['skipped_examples'])}")
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (the `gan-zoo evaluate` command)."""
    exit_on_user_error(evaluate, cfg)


if __name__ == "__main__":
    main()
