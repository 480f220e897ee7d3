"""Train a GAN. Real launch commands:

    gan-zoo train                                          # default: DCGAN on 5,000 offline MNIST digits
    gan-zoo train experiment=wgan_gp_grid25 seed=1         # one experiment, another seed
    gan-zoo train experiment=cgan_mnist hardware=bf16      # bf16 autocast (CPU or GPU)
    gan-zoo train experiment=wgan_gp_mnist hardware=ddp hardware.devices=4      # one node, 4 GPUs
    gan-zoo train experiment=wgan_gp_ring8 hardware=ddp_sim                    # DDP on 2 CPU processes
    gan-zoo train -m experiment=wgan_gp_ring8,wgan_gp_grid25 seed=0,1,2         # Hydra multirun sweep
    gan-zoo train experiment=dcgan_mnist run_id=r1         # kill it, run the same line again: it resumes
    srun --ntasks-per-node=4 gan-zoo train hardware=ddp hardware.devices=4 hardware.num_nodes=2  # SLURM

Budgets: `trainer.max_epochs`, or `trainer.max_g_steps` in generator steps (see gan_zoo.models.base for
how those relate to Lightning's global_step).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import ProgressBar
from omegaconf import DictConfig, OmegaConf, open_dict

from gan_zoo.build import build_evaluator, build_gan, data_facts, instantiate_checked
from gan_zoo.callbacks import AtomicCheckpointIO
from gan_zoo.errors import ConfigError, GanZooError, require
from gan_zoo.runs import (
    Interrupts,
    RunCSVLogger,
    RunInterrupted,
    RunState,
    StopAtStepBoundary,
    budget,
    check_run_dir,
    handling_interrupts,
    log_to_file,
    move_aside,
    write_once,
    write_segment_record,
)
from gan_zoo.utils.io import atomic_write_text, code_version

log = logging.getLogger("gan_zoo")
# The EMA generator is in eval mode on purpose (it is never trained); Lightning warns about it.
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
# Lightning 2.6 internals against torch 2.14: not actionable here.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
# An advertisement Lightning prints at every start.
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(lambda r: "litlogger" not in r.getMessage())


def check_launch(cfg: DictConfig) -> None:
    """Refuse Hydra multirun + a DDP strategy that re-executes the script (each rank would replay the sweep).

    Only a launcher that starts every rank itself (hydra-submitit-launcher: `launcher=slurm`, one SLURM task
    per GPU) is safe; the basic and joblib launchers run the job in a process Lightning would re-launch.
    """
    hc = HydraConfig.get() if HydraConfig.initialized() else None
    if hc is None or hc.mode != RunMode.MULTIRUN:
        return
    strategy = str(cfg.hardware.get("strategy", "auto"))
    procs = int(cfg.hardware.get("devices", 1) or 1) * int(cfg.hardware.get("num_nodes", 1) or 1)
    ranks_started_outside = "submitit" in str(hc.launcher.get("_target_", "")).lower()
    if (
        procs > 1
        and "ddp" in strategy
        and "spawn" not in strategy
        and not ranks_started_outside
        and "LOCAL_RANK" not in os.environ
    ):
        raise ConfigError(
            f"Hydra multirun (-m) with hardware.strategy={strategy} is unsafe: Lightning's DDP launcher re-runs the "
            "command for every rank, so each rank would replay the whole sweep (Lightning #15737). Use "
            "hardware.strategy=ddp_spawn for sweeps, launch ranks outside Lightning (launcher=slurm: the submitit "
            "launcher with tasks_per_node = devices), or run the configs one at a time."
        )


SWEEP_TAG_GROUPS = ("experiment", "data", "model", "loss", "metrics", "hardware", "hparams_search")


def group_sweep_runs(cfg: DictConfig) -> None:
    """In a multirun, group the W&B runs by sweep and tag each with its overrides and config choices, so the
    dashboard compares the jobs of one sweep (a W&B tag holds at most 64 characters)."""
    hc = HydraConfig.get() if HydraConfig.initialized() else None
    wandb_cfg = (cfg.get("logger") or {}).get("wandb")
    if hc is None or hc.mode != RunMode.MULTIRUN or wandb_cfg is None:
        return
    choices = [f"{k}={v}" for k, v in hc.runtime.choices.items() if k in SWEEP_TAG_GROUPS and v not in (None, "null")]
    tags = list(dict.fromkeys(t[:64] for t in [*hc.overrides.task, *choices]))
    sweep = Path(hc.sweep.dir).name
    with open_dict(wandb_cfg):
        wandb_cfg.group = f"sweep/{sweep}"
        wandb_cfg.name = f"{cfg.name}/{sweep}/{hc.job.num}"
        wandb_cfg.tags = tags


def build_trainer(
    cfg: DictConfig, gan: Any, evaluator: Any, loggers: list, output_dir: Path, extra_callbacks: list | None = None
) -> L.Trainer:
    """Trainer from `cfg.trainer` + `cfg.hardware`, with callbacks and budgets in generator steps."""
    t = OmegaConf.to_container(cfg.trainer, resolve=True)
    max_g_steps = t.pop("max_g_steps", None)
    t.pop("compile", None)  # not a Trainer argument: run() compiles the networks (trainer.compile)
    t.pop("fused_optimizers", None)  # not a Trainer argument: build_gan reads it
    require(max_g_steps is None or max_g_steps > 0, f"trainer.max_g_steps must be > 0 or null, got {max_g_steps}")
    require(
        t.get("max_epochs") is None or t["max_epochs"] > 0 or t["max_epochs"] == -1,
        f"trainer.max_epochs must be > 0 (or -1 for no limit), got {t.get('max_epochs')}",
    )
    if max_g_steps:
        # Lightning's global_step counts optimizer steps (e.g. n_critic critic steps + 1 generator step each).
        t["max_steps"] = max_g_steps * gan.optimizer_steps_per_g_step
        t["max_epochs"] = -1  # the generator-step budget replaces the epoch budget
    callbacks = []
    for name, cb_cfg in (cfg.get("callbacks") or {}).items():
        if cb_cfg is None:
            continue
        if name == "checkpoint":
            if evaluator is None:  # no metric, no "best": last.ckpt (the `last` callback) is the checkpoint
                continue
            callbacks.append(hydra.utils.instantiate(cb_cfg, monitor=evaluator.monitor, mode=evaluator.mode))
        else:
            callbacks.append(hydra.utils.instantiate(cb_cfg))
    callbacks += list(extra_callbacks or [])
    if "enable_progress_bar" not in t:  # callbacks.progress=null: no bar at all (Lightning would add its own)
        t["enable_progress_bar"] = any(isinstance(c, ProgressBar) for c in callbacks)
    if t.get("max_time") is not None:
        budget(cfg)  # a readable message for a malformed duration
    hw = OmegaConf.to_container(cfg.hardware, resolve=True)
    if str(hw.get("accelerator")) in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"hardware.accelerator={hw['accelerator']} but no CUDA device is visible; use hardware=cpu, "
            "hardware=bf16 (CPU autocast) or hardware=ddp_sim (DDP on 2 CPU processes)"
        )
    return L.Trainer(
        **hw,
        **t,
        logger=loggers or False,
        callbacks=callbacks,
        default_root_dir=str(output_dir),
        plugins=[AtomicCheckpointIO()],
        num_sanity_val_steps=0,
    )


def run(cfg: DictConfig, interrupts: Interrupts | None = None) -> dict[str, Any]:
    """Train per `cfg`; returns where everything was written and the final metrics.

    The run directory is checked first (gan_zoo.runs.check_run_dir: refusals write nothing), then every value is
    validated by building the data, the GAN, the evaluator and the trainer; only then is anything written.
    """
    check_launch(cfg)
    output_dir = Path(cfg.paths.output_dir)
    state = check_run_dir(cfg, output_dir)
    if state.finished is not None:
        return report_finished(cfg, state)
    interrupts = interrupts or Interrupts()
    progress = {"g_steps": state.resume_info.g_steps if state.resume_info else 0}
    try:
        return _train(cfg, output_dir, state, interrupts, progress)
    except RunInterrupted as e:
        e.g_step = progress["g_steps"]  # type: ignore[attr-defined]
        raise


def report_finished(cfg: DictConfig, state: RunState) -> dict[str, Any]:
    """A run already at its budget: say so (changing nothing) and return its summary."""
    summary = state.finished or {}
    given = ", ".join(f"{k}={v}" for k, v in budget(cfg).items() if v is not None)
    print(
        f"gan-zoo train: run_id={cfg.get('run_id')} is finished: it reached its budget ({given}) at generator step "
        f"{summary.get('generator_steps')} ({state.run_dir / 'summary.json'}). Nothing was changed. To train further, "
        f"give a larger budget, e.g. trainer.max_epochs=<more> or trainer.max_g_steps=<more>.",
        flush=True,
    )
    return summary


def _segment_overrides() -> tuple[DictConfig | None, list[str]]:
    """This command's Hydra config and overrides (None, [] outside Hydra)."""
    if not HydraConfig.initialized():
        return None, []
    hc = HydraConfig.get()
    return hc, list(hc.overrides.task)


def _train(
    cfg: DictConfig, output_dir: Path, state: RunState, interrupts: Interrupts, progress: dict[str, int]
) -> dict[str, Any]:
    """Build (validating every value), then write the segment's record and fit."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate_checked(cfg.data, "data")
    facts = data_facts(datamodule)
    gan = build_gan(cfg, facts)
    evaluator = build_evaluator(cfg, datamodule) if cfg.metrics.kind != "none" else None
    gan.set_evaluator(evaluator)
    gan.run_info = {"config": OmegaConf.to_container(cfg, resolve=True), "data": facts}
    protocol = evaluator.protocol() if evaluator is not None else None
    limit = datamodule.train_limit_info()  # every data module has it (data/base.py); checks N here
    if protocol is not None:
        protocol["code_version"] = code_version()
        if facts.get("source"):  # benchmark copies: which copy the reference came from (docs/data.md)
            protocol["data_source"] = facts["source"]
        if limit is not None:  # trained on a subset; the reference split above is the usual one
            protocol["train_limit"] = limit
    group_sweep_runs(cfg)
    loggers = [hydra.utils.instantiate(lg) for lg in (cfg.get("logger") or {}).values() if lg is not None]
    stopper = StopAtStepBoundary(interrupts, output_dir / "checkpoints" / "last.ckpt")
    trainer = build_trainer(cfg, gan, evaluator, loggers, output_dir, extra_callbacks=[stopper])
    if cfg.trainer.get("compile", False):
        log.info("torch.compile: %s", ", ".join(gan.compile_networks()))
    # Every check passed: from here on the run directory is written.
    if trainer.is_global_zero:
        if state.overwrite:
            moved = move_aside(output_dir)
            log_to_file(f"overwrite=true: the previous run is kept as {moved}", logging.INFO)
            print(f"gan-zoo train: overwrite=true: the previous run is kept as {moved}", flush=True)
        hydra_cfg, overrides = _segment_overrides()
        segment = write_segment_record(output_dir, cfg, hydra_cfg, overrides)
        if protocol is not None:
            write_once(output_dir / "metrics_protocol.json", json.dumps(protocol, indent=2, default=str), segment)
        last = output_dir / "checkpoints" / "last.ckpt"
        if state.resume is not None and state.resume.resolve() == last.resolve() and state.resume_info is not None:
            for lg in loggers:  # the rows an interrupted segment logged after its last checkpoint are repeated now
                if isinstance(lg, RunCSVLogger):
                    lg.experiment.drop_rows_after(state.resume_info.g_steps)
    for lg in loggers:  # the resolved config + data facts, so dashboards can group and filter runs by them
        lg.log_hyperparams({**gan.run_info["config"], "data_facts": facts, "protocol": protocol})
    ckpt_path = str(state.resume) if state.resume is not None else None
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)

    own = state.resume is not None and output_dir.resolve() in state.resume.resolve().parents

    def fit() -> None:
        try:
            with warnings.catch_warnings():
                if own:  # continuing this run: its checkpoints are the ones the restored callbacks keep
                    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
                trainer.fit(gan, datamodule=datamodule, ckpt_path=ckpt_path)
        except RuntimeError as e:
            if ckpt_path and "state_dict" in str(e):
                raise ConfigError(
                    f"resume={ckpt_path}: the checkpoint does not fit this config (the networks "
                    f"differ: {str(e).splitlines()[0]}). Resume it with the config it was trained with "
                    "(its run's .hydra/config.yaml), or drop resume= to start from scratch."
                ) from None
            raise

    try:
        fit()
        progress["g_steps"] = gan.g_steps
        interrupts.check()  # a signal during the last step: stop here, without the final evaluation
        finish_budget(trainer, gan, datamodule)
        interrupts.check()
    except RunInterrupted as e:
        progress["g_steps"] = gan.g_steps
        last = checkpoint_callback(trainer, "last")
        moved_on = gan.g_steps > (state.resume_info.g_steps if state.resume_info else 0)
        if (
            not e.at_once
            and moved_on
            and stopper.saved_at != gan.g_steps
            and last is not None
            and trainer.is_global_zero
        ):
            # a signal during the final evaluation
            trainer.save_checkpoint(Path(last.dirpath) / "last.ckpt", weights_only=False)
        raise
    finally:
        interrupts.training = False
        progress["g_steps"] = gan.g_steps
        _finish_wandb(loggers)
    return summarize(trainer, gan, output_dir, cfg)


def _keep_best(trainer: L.Trainer) -> None:
    """After the final mid-epoch validation: if it beat the best so far, write best.ckpt from these weights (the
    best ModelCheckpoint only acts at epoch ends, so best.ckpt and best_score would otherwise miss a best final
    evaluation that ends a run mid-epoch, as a max_g_steps budget does)."""
    best = checkpoint_callback(trainer, "best")
    if best is None or not best.monitor or best.monitor not in trainer.callback_metrics:
        return
    value = trainer.callback_metrics[best.monitor].detach().float().cpu()
    old = best.best_model_score
    if old is not None and not (value < old if best.mode == "min" else value > old):
        return
    path = Path(best.dirpath) / f"{best.filename}.ckpt"
    trainer.save_checkpoint(path, weights_only=False)
    best.best_model_path, best.best_model_score = str(path), value
    best.best_k_models = {str(path): value}
    best.kth_best_model_path, best.kth_value = str(path), value  # a run resumed from here compares against it


def checkpoint_callback(trainer: L.Trainer, filename: str) -> Any:
    """The ModelCheckpoint writing `<filename>.ckpt` (conf/callbacks: `best` or `last`), or None."""
    return next((c for c in trainer.checkpoint_callbacks if c.filename == filename), None)


def finish_budget(trainer: L.Trainer, gan: Any, datamodule: Any) -> None:
    """A generator-step budget can end mid-epoch, where Lightning neither validates nor checkpoints:
    evaluate the final weights and write them to last.ckpt, so the run's numbers and files agree.
    """
    if trainer.interrupted or gan.g_steps == gan.last_eval_g_step or gan.g_steps == 0:
        return
    if gan.evaluator is not None:
        trainer.validate(gan, datamodule=datamodule, verbose=False)
        _keep_best(trainer)
    last = checkpoint_callback(trainer, "last")
    if last is not None:
        path = Path(last.dirpath) / "last.ckpt"
        trainer.save_checkpoint(path, weights_only=False)
        last.best_model_path = str(path)


def _finish_wandb(loggers: list) -> None:
    """WandbLogger.finalize() does not end the run; without this every multirun job lands in one W&B run."""
    if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
        import wandb

        wandb.finish()


def summarize(trainer: L.Trainer, gan: Any, output_dir: Path, cfg: DictConfig | None = None) -> dict[str, Any]:
    """Collect output paths and final metrics; print them and write summary.json (the run finished) on rank 0."""
    best, last = checkpoint_callback(trainer, "best"), checkpoint_callback(trainer, "last")
    samples = sorted((output_dir / "samples").glob("*.png"))
    wandb_dirs = sorted((output_dir / "wandb").glob("*run-*")) if (output_dir / "wandb").exists() else []
    out = {
        "run_dir": str(output_dir),
        "config": str(output_dir / ".hydra" / "config.yaml"),
        "last_checkpoint": last.best_model_path if last else None,
        "best_checkpoint": best.best_model_path if best else None,
        "best_score": float(best.best_model_score) if best and best.best_model_score is not None else None,
        "samples": str(samples[-1]) if samples else None,
        "metrics_csv": str(output_dir / "csv" / "metrics.csv"),
        "wandb_run": str(wandb_dirs[-1]) if wandb_dirs else None,
        "generator_steps": gan.g_steps,
        "monitor": getattr(gan.evaluator, "monitor", None),
        "final_metrics": {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")},
        "budget": budget(cfg) if cfg is not None else None,  # what `train` compares a rerun's budget with
    }
    dm = getattr(trainer, "datamodule", None)
    limit = dm.train_limit_info() if dm is not None else None
    if limit is not None:
        out["train_limit"] = limit
    if trainer.is_global_zero:
        lines = [f"  {k:16s} {v}" for k, v in out.items() if k not in ("final_metrics", "budget")]
        lines += [f"  {k:16s} {v:.4f}" for k, v in out["final_metrics"].items()]
        print("\ngan_zoo run finished. Outputs:\n" + "\n".join(lines), flush=True)
        atomic_write_text(output_dir / "summary.json", json.dumps(out, indent=2))
    return out


def user_error(e: BaseException) -> GanZooError | None:
    """Our error behind `e` (Hydra wraps errors raised while instantiating a `_target_`), or None."""
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, GanZooError):
            return e
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None


def _is_new_dir(run_dir: Path, log_may_have_lines: bool = False) -> bool:
    """Nothing in the run directory but the train.log Hydra opened for this command (empty, unless
    `log_may_have_lines`: this command's own lines)."""
    if not run_dir.is_dir():
        return True
    return all(
        p.name == "train.log" and p.is_file() and (log_may_have_lines or p.stat().st_size == 0)
        for p in run_dir.iterdir()
    )


def _remove_new_dir(run_dir: Path, log_root: Path | None) -> None:
    """After a refusal: remove the run directory this command created (it holds only an empty train.log), and
    the then-empty folders above it up to the outputs folder."""
    if not run_dir.is_dir():
        return
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.FileHandler) and Path(h.baseFilename).parent == run_dir:
            logging.getLogger().removeHandler(h)
            h.close()
    shutil.rmtree(run_dir, ignore_errors=True)
    stop = log_root.resolve().parent if log_root is not None else None
    parent = run_dir.resolve().parent
    while parent != stop and parent != parent.parent and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
        if stop is None:
            break


def resume_command(cfg: DictConfig) -> str:
    """`gan-zoo train <this command's overrides>` that continues this run: run_id= pinned; resume= and
    overwrite= dropped (resume=auto then picks up last.ckpt; overwrite=true would move the run aside)."""
    hc = HydraConfig.get() if HydraConfig.initialized() else None
    multirun = hc is not None and hc.mode == RunMode.MULTIRUN
    args = [a for a in (sys.argv[1:] if multirun else list(hc.overrides.task) if hc else [])]
    args = [a for a in args if not a.lstrip("+~").startswith(("resume=", "overwrite=", "run_id="))]
    words = [*(["-m"] if multirun and "-m" not in args else []), *args, f"run_id={cfg.get('run_id')}"]
    return " ".join(["gan-zoo train", *(shlex.quote(w) for w in words)])


def main() -> Any:
    """The `gan-zoo train` command: the Hydra app, with Ctrl-C and SIGTERM stopping it cleanly (exit 130 / 143)."""
    with handling_interrupts() as interrupts:
        _INTERRUPTS.append(interrupts)
        try:
            return _hydra_main()
        except RunInterrupted as e:  # before the config was composed
            args = [a for a in sys.argv[1:] if not a.startswith(("resume=", "overwrite="))]
            print(f"interrupted at generator step 0; resume with: gan-zoo train {' '.join(args)}".rstrip(), flush=True)
            raise SystemExit(e.exit_code) from None
        finally:
            _INTERRUPTS.remove(interrupts)


_INTERRUPTS: list[Interrupts] = []


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def _hydra_main(cfg: DictConfig) -> Any:
    """Hydra task function: train, and turn our errors and interrupts into one message and an exit code."""
    run_dir = Path(cfg.paths.output_dir)
    new_dir = _is_new_dir(run_dir)
    interrupts = _INTERRUPTS[-1] if _INTERRUPTS else None
    try:
        out = run(cfg, interrupts)
        return optimized_value(cfg, out)  # the value Hydra sweepers (Optuna) optimise
    except RunInterrupted as e:
        step = getattr(e, "g_step", 0)
        log_to_file(f"interrupted by {signal_name(e.signum)} at generator step {step}", logging.WARNING)
        print(f"interrupted at generator step {step}; resume with: {resume_command(cfg)}", flush=True)
        raise SystemExit(e.exit_code) from None
    except Exception as e:  # noqa: BLE001 - only our own errors are turned into a short message
        err = user_error(e)
        if err is None:
            raise
        if new_dir and err.exit_code == 2 and _is_new_dir(run_dir, log_may_have_lines=True):
            _remove_new_dir(run_dir, Path(cfg.paths.log_dir) if "log_dir" in cfg.paths else None)
        else:
            log_to_file(f"gan-zoo: error: {err}")  # the run's train.log keeps it (the screen gets it once, below)
        print(f"gan-zoo: error: {err}", flush=True)
        raise SystemExit(err.exit_code) from None


def signal_name(signum: int) -> str:
    """SIGINT, SIGTERM, ..."""
    import signal

    return signal.Signals(signum).name


def optimized_value(cfg: DictConfig, out: dict[str, Any]) -> float | None:
    """`cfg.optimized_metric` (or the evaluator's monitor when null) of the last validation, for sweepers."""
    name = cfg.get("optimized_metric") or out.get("monitor")
    if name is None:
        return None
    sweeping = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    if name not in out["final_metrics"] and not cfg.get("optimized_metric") and not sweeping:
        return None  # a single run that never validated (a budget shorter than one validation): nothing to return
    if name not in out["final_metrics"]:
        raise ConfigError(
            f"optimized_metric={name} was not logged by this run (logged: "
            f"{', '.join(sorted(out['final_metrics'])) or 'nothing: metrics=none?'}); pick one of those"
        )
    return out["final_metrics"][name]


if __name__ == "__main__":
    main()
