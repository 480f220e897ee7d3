"""A training run directory as an append-only record, and the rules `gan-zoo train` follows on an existing run_id.

What a run directory keeps (docs/runs.md):

* `.hydra/config.yaml`, `hydra.yaml`, `overrides.yaml`: the config of the run's first segment, never rewritten;
  every later segment (a resume, a larger budget) adds `config.N.yaml`, `hydra.N.yaml`, `overrides.N.yaml`
  beside them (N = 2, 3, ...).
* `csv/metrics.csv`: appended to by every segment (RunCSVLogger); on a resume the rows the interrupted segment
  logged after the resumed checkpoint's step are dropped, no row up to it.
* `summary.json`: written only by a segment that reached its budget.
* `train.log`: appended to by every command given this run_id, refused ones included.

The checks on an existing run_id, in this order, change nothing but `train.log`: the config is compared with
the run's first (only the budget may differ), a fresh start over checkpoints is refused, and a run whose budget
is already reached says so and exits 0.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, OmegaConf

from gan_zoo.errors import ConfigError, require
from gan_zoo.utils.checkpoints import read_checkpoint_file
from gan_zoo.utils.io import atomic_write_text

log = logging.getLogger("gan_zoo")

BUDGET_KEYS = ("trainer.max_epochs", "trainer.max_g_steps", "trainer.max_time")
# Keys that say where and how to continue, not what is trained: they may differ between segments.
NOT_COMPARED = ("resume", "overwrite", "paths")
RECORD_DIR = ".hydra"


# ------------------------------------------------------------------------------------------ the CSV log
class AppendingCSVWriter:
    """The writer behind RunCSVLogger: appends rows to an existing `metrics.csv` (widening its header when new
    columns appear) instead of deleting it, and writes `hparams.yaml` only in the segment that created it."""

    NAME_METRICS_FILE = "metrics.csv"
    NAME_HPARAMS_FILE = "hparams.yaml"

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.metrics_file_path = os.path.join(log_dir, self.NAME_METRICS_FILE)
        self.hparams_file_path = os.path.join(log_dir, self.NAME_HPARAMS_FILE)
        self.metrics: list[dict[str, Any]] = []
        self.hparams: dict[str, Any] = {}
        self._owns_hparams = not os.path.exists(self.hparams_file_path)
        self.metrics_keys: list[str] = self._header()
        os.makedirs(log_dir, exist_ok=True)

    def _header(self) -> list[str]:
        if not os.path.isfile(self.metrics_file_path):
            return []
        with open(self.metrics_file_path, newline="") as f:
            return next(csv.reader(f), [])

    def _rows(self) -> list[dict[str, str]]:
        with open(self.metrics_file_path, newline="") as f:
            return list(csv.DictReader(f))

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        """Write header + rows through the atomic writer (never a torn metrics.csv)."""
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=self.metrics_keys)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(Path(self.metrics_file_path), buf.getvalue())

    def log_hparams(self, params: dict[str, Any]) -> None:
        """Keep the hyperparameters; write hparams.yaml only if this segment created it."""
        from lightning.pytorch.core.saving import save_hparams_to_yaml

        self.hparams.update(params)
        if self._owns_hparams:
            save_hparams_to_yaml(self.hparams_file_path, self.hparams)

    def log_metrics(self, metrics_dict: dict[str, Any], step: int | None = None) -> None:
        """Queue one row (tensors become numbers)."""
        row = {k: v.item() if isinstance(v, torch.Tensor) else v for k, v in metrics_dict.items()}
        row["step"] = len(self.metrics) if step is None else step
        self.metrics.append(row)

    def save(self) -> None:
        """Append the queued rows; a new column rewrites the file once with the wider header."""
        if not self.metrics:
            return
        new_keys = sorted(set().union(*self.metrics) - set(self.metrics_keys))
        exists = os.path.isfile(self.metrics_file_path)
        self.metrics_keys = sorted([*self.metrics_keys, *new_keys])
        if not exists or new_keys:
            self._rewrite([*(self._rows() if exists else []), *self.metrics])
        else:
            with open(self.metrics_file_path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.metrics_keys).writerows(self.metrics)
        self.metrics = []

    def drop_rows_after(self, g_step: int) -> int:
        """Remove rows logged after generator step `g_step` (their `train/g_step` or `val/g_step`): a segment
        resumed from that step logs them again. Returns how many were removed."""
        if not os.path.isfile(self.metrics_file_path):
            return 0

        def after(row: dict[str, str]) -> bool:
            steps = [float(row[k]) for k in ("train/g_step", "val/g_step") if row.get(k) not in (None, "")]
            return any(s > g_step for s in steps)

        rows = self._rows()
        kept = [r for r in rows if not after(r)]
        if len(kept) != len(rows):
            self._rewrite(kept)
        return len(rows) - len(kept)


class RunCSVLogger(CSVLogger):
    """Lightning's CSVLogger, except that a reused run directory's `metrics.csv` is appended to, not deleted."""

    @property
    def experiment(self) -> AppendingCSVWriter:  # type: ignore[override]
        """The appending writer (created on first use)."""
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = AppendingCSVWriter(self.log_dir)
        return self._experiment


# ------------------------------------------------------------------------------------------ the record
def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    """{dotted key: leaf value} of a plain nested dict."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out if out or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def _compared(key: str) -> bool:
    return not any(key == k or key.startswith(k + ".") for k in (*NOT_COMPARED, *BUDGET_KEYS))


def config_differences(cfg: DictConfig, recorded: DictConfig) -> list[str]:
    """`key=new (the run has old)` for every compared key whose value differs from the recorded first config.

    Keys the record does not have (added to gan_zoo after the run started) are not compared: it cannot say.
    """
    new = _flat(OmegaConf.to_container(cfg, resolve=False))
    old = _flat(OmegaConf.to_container(recorded, resolve=False))
    out = []
    for key in sorted(set(new) | set(old)):
        if not _compared(key) or key not in old:
            continue
        if key not in new:
            out.append(f"~{key} (the run has {old[key]})")
        elif new[key] != old[key]:
            out.append(f"{key}={new[key]} (the run has {old[key]})")
    return out


def checkpoints(run_dir: Path) -> list[Path]:
    """The run's checkpoint files (checkpoints/*.ckpt)."""
    return sorted((run_dir / "checkpoints").glob("*.ckpt")) if (run_dir / "checkpoints").is_dir() else []


def first_config(run_dir: Path) -> DictConfig | None:
    """The config the run was started with (`.hydra/config.yaml`), or None for a directory without a record."""
    path = run_dir / RECORD_DIR / "config.yaml"
    return OmegaConf.load(path) if path.is_file() else None


def next_segment(run_dir: Path) -> int:
    """1 for a run without a record, else one more than the highest segment recorded."""
    rec = run_dir / RECORD_DIR
    if not (rec / "config.yaml").is_file():
        return 1
    nums = [int(p.name.split(".")[1]) for p in rec.glob("config.*.yaml") if p.name.split(".")[1].isdigit()]
    return max([1, *nums]) + 1


def write_segment_record(run_dir: Path, cfg: DictConfig, hydra_cfg: DictConfig | None, overrides: list[str]) -> int:
    """Add this segment's config, Hydra config and overrides to `.hydra/` (the first segment's names are Hydra's:
    config.yaml, hydra.yaml, overrides.yaml; later ones config.N.yaml, ...). Returns the segment number."""
    n = next_segment(run_dir)
    suffix = "" if n == 1 else f".{n}"
    rec = run_dir / RECORD_DIR
    atomic_write_text(rec / f"config{suffix}.yaml", OmegaConf.to_yaml(cfg))
    if hydra_cfg is not None:
        atomic_write_text(rec / f"hydra{suffix}.yaml", OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra_cfg})))
    atomic_write_text(rec / f"overrides{suffix}.yaml", OmegaConf.to_yaml(OmegaConf.create(list(overrides))))
    return n


def write_once(path: Path, text: str, segment: int) -> Path:
    """Write `text` to `path` if it is absent (or identical); otherwise beside it as `<stem>.<segment><suffix>`."""
    if path.is_file() and path.read_text() != text:
        path = path.with_name(f"{path.stem}.{segment}{path.suffix}")
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)
    return path


def move_aside(run_dir: Path) -> Path:
    """Rename the run directory to `<run_id>.replaced-<UTC timestamp>` in the same parent (files intact)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}")
    k = 1
    while target.exists():
        k += 1
        target = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}-{k}")
    run_dir.rename(target)
    run_dir.mkdir(parents=True)
    _reopen_log_files(run_dir)
    return target


def _reopen_log_files(run_dir: Path) -> None:
    """Log files open inside a renamed run directory follow it; close them so the next line opens the new one."""
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.FileHandler) and Path(h.baseFilename).parent == run_dir:
            h.close()  # FileHandler reopens baseFilename (now in the new directory) at its next record


def log_to_file(message: str, level: int = logging.ERROR) -> None:
    """Append `message` to the log files (the run's train.log) without printing it a second time."""
    record = log.makeRecord(log.name, level, __file__, 0, message, None, None)
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.FileHandler):
            h.handle(record)


# ------------------------------------------------------------------------------------------ checkpoints
@dataclass
class CheckpointInfo:
    """What the existing-run checks need from a checkpoint: its generator step, epoch and Lightning step."""

    path: Path
    g_steps: int
    epoch: int
    global_step: int


def read_checkpoint(path: Path, key: str = "resume") -> CheckpointInfo:
    """Open a .ckpt (memory-mapped) and read its counters; an unreadable file is a ConfigError naming the fix."""
    blob = read_checkpoint_file(path, key)
    return CheckpointInfo(
        Path(path), int(blob["gan_zoo"].get("g_steps", 0)), int(blob.get("epoch", 0)), int(blob.get("global_step", 0))
    )


# ------------------------------------------------------------------------------------------ budgets
def parse_max_time(value: Any) -> float | None:
    """trainer.max_time in seconds: null, "DD:HH:MM:SS", or {days:, hours:, minutes:, seconds:}."""
    if value in (None, "", "null"):
        return None
    if isinstance(value, (dict, DictConfig)):
        d = dict(value)
        bad = set(d) - {"days", "hours", "minutes", "seconds"}
        require(not bad, f"trainer.max_time: unknown fields {sorted(bad)}; use days, hours, minutes, seconds")
        secs = 86400 * d.get("days", 0) + 3600 * d.get("hours", 0) + 60 * d.get("minutes", 0) + d.get("seconds", 0)
    else:
        parts = str(value).split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            nums = []
        require(
            len(nums) == 4 and all(n >= 0 for n in nums),
            f"trainer.max_time must be DD:HH:MM:SS (e.g. 00:12:00:00 for 12 hours) or null, got {value}",
        )
        secs = nums[0] * 86400 + nums[1] * 3600 + nums[2] * 60 + nums[3]
    require(secs > 0, f"trainer.max_time must be a positive duration or null, got {value}")
    return float(secs)


def budget(cfg: DictConfig) -> dict[str, Any]:
    """The run's budget keys as given ({"trainer.max_epochs": 30, ...}), validated."""
    t = cfg.trainer
    max_g, max_e = t.get("max_g_steps"), t.get("max_epochs")
    require(
        max_g is None or (isinstance(max_g, int) and max_g > 0), f"trainer.max_g_steps must be > 0 or null, got {max_g}"
    )
    require(
        max_e is None or (isinstance(max_e, int) and (max_e > 0 or max_e == -1)),
        f"trainer.max_epochs must be > 0 (or -1 for no limit), got {max_e}",
    )
    parse_max_time(t.get("max_time"))
    return {
        "trainer.max_epochs": max_e,
        "trainer.max_g_steps": max_g,
        "trainer.max_time": OmegaConf.to_container(t.max_time)
        if isinstance(t.get("max_time"), DictConfig)
        else t.get("max_time"),
    }


def _not_larger(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Every budget key of `new` at most the one of `old` (null or -1: no limit)."""
    inf = float("inf")

    def val(b: dict[str, Any], key: str) -> float:
        v = b.get(key)
        if key == "trainer.max_time":
            return parse_max_time(v) or inf
        return inf if v is None or v == -1 else float(v)

    if (new.get("trainer.max_g_steps") is None) != (old.get("trainer.max_g_steps") is None):
        return False  # switched between an epoch and a generator-step budget: let training decide
    return all(val(new, k) <= val(old, k) for k in BUDGET_KEYS)


# ------------------------------------------------------------------------------------------ the checks
@dataclass
class RunState:
    """What the checks found: the checkpoint to resume from (or None), and whether the run is finished."""

    run_dir: Path
    resume: Path | None = None
    resume_info: CheckpointInfo | None = None
    finished: dict[str, Any] | None = None  # the run's summary.json, when its budget is reached
    overwrite: bool = False  # move the existing run aside before starting
    existing: bool = False  # the directory holds a run's record


def check_run_dir(cfg: DictConfig, run_dir: Path) -> RunState:
    """The checks on the run directory, in order; raises ConfigError on a refusal and writes nothing."""
    from gan_zoo.utils.checkpoints import resolve_checkpoint

    run_id = cfg.get("run_id")
    this_budget = budget(cfg)
    overwrite = bool(cfg.get("overwrite", False))
    recorded = first_config(run_dir)
    ckpts = checkpoints(run_dir)
    state = RunState(run_dir, existing=recorded is not None or bool(ckpts))
    resume = cfg.get("resume")
    fresh = resume in (None, "", "null", "never")
    if resume == "auto":
        last = run_dir / "checkpoints" / "last.ckpt"
        path = last if last.is_file() and not overwrite else None
    elif fresh:
        path = None
    else:
        path = resolve_checkpoint(resume, key="resume", prefer=("last",))
    if overwrite:
        state.overwrite = state.existing
        if path is not None and run_dir.resolve() in Path(path).resolve().parents:
            raise ConfigError(
                f"resume={resume} is inside the run that overwrite=true moves aside; copy the checkpoint "
                "elsewhere first, or drop overwrite=true to continue the run."
            )
    elif state.existing:
        if recorded is not None:
            diffs = config_differences(cfg, recorded)
            if diffs:
                raise ConfigError(
                    f"run_id={run_id} already holds a run ({run_dir}) trained with another config: "
                    f"{'; '.join(diffs)}. Only the budget ({', '.join(BUDGET_KEYS)}) may change when a run is "
                    "continued. Drop those overrides to continue it, give a new run_id=<new> to start another run "
                    f"(resume={run_dir} starts it from this run's weights), or add overwrite=true to move this run "
                    "aside and start over."
                )
        inside = path is not None and run_dir.resolve() in Path(path).resolve().parents
        if ckpts and not inside:
            if resume == "auto":
                what = (
                    "it has no checkpoints/last.ckpt to continue from, so resume=auto would start from scratch "
                    f"and replace them (resume={ckpts[0]} continues from that one)"
                )
            elif path is None:
                what = "resume=null starts from scratch and would replace them (resume=auto continues the run)"
            else:
                what = f"resume={resume} starts from another run's checkpoint and would replace them"
            raise ConfigError(
                f"run_id={run_id} already holds a run with checkpoints ({run_dir}); {what}. Give a new "
                f"run_id=<new> for a new run, or add overwrite=true to move this run aside (renamed to "
                f"{run_id}.replaced-<time>) and start over."
            )
    if path is not None:
        state.resume, state.resume_info = Path(path), read_checkpoint(Path(path))
    summary_path = run_dir / "summary.json"
    if state.existing and not overwrite and state.resume_info is not None and summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, ValueError):
            summary = {}
        same_state = summary.get("generator_steps") == state.resume_info.g_steps
        reached = summary.get("budget")
        if not isinstance(reached, dict) and recorded is not None:  # a summary from before budgets were recorded
            reached = {k: OmegaConf.select(recorded, k) for k in BUDGET_KEYS}
        if same_state and isinstance(reached, dict) and _not_larger(this_budget, reached):
            state.finished = summary
    return state


# ------------------------------------------------------------------------------------------ interrupts
class RunInterrupted(BaseException):  # noqa: N818 - not an error: the user asked to stop
    """Ctrl-C (SIGINT) or SIGTERM stopped the run; BaseException so that no `except Exception` swallows it."""

    def __init__(self, signum: int, at_once: bool = False) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.at_once = at_once

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process killed by it (130 SIGINT, 143 SIGTERM)."""
        return 128 + self.signum


class Interrupts:
    """SIGINT/SIGTERM handling for a training command.

    Before training starts (and after it ends) a signal stops at once: nothing would be lost. During training the
    first signal asks the StopAtStepBoundary callback to stop after the current generator step (or validation)
    and write last.ckpt; a second one stops at once.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.training = False
        self._old: dict[int, Any] = {}

    def handler(self, signum: int, frame: Any) -> None:  # noqa: ARG002 - the signal module's signature
        """First signal while training: ask for a stop; otherwise stop now."""
        if self.training and self.signum is None:
            self.signum = signum
            print(
                f"\n{signal.Signals(signum).name}: stopping after the current generator step and writing "
                "last.ckpt (send it again to stop at once)",
                file=sys.stderr,
                flush=True,
            )
            return
        raise RunInterrupted(self.signum or signum, at_once=True)

    def install(self) -> None:
        """Make this object the SIGINT and SIGTERM handler (main thread only)."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        for s in (signal.SIGINT, signal.SIGTERM):
            current = signal.getsignal(s)
            if s not in self._old:
                if current == signal.SIG_IGN:  # e.g. SIGINT for a background job: the parent wants it ignored
                    continue
                self._old[s] = current
            signal.signal(s, self.handler)

    def restore(self) -> None:
        """Put the previous handlers back."""
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old = {}

    def check(self) -> None:
        """Raise RunInterrupted if a stop was asked for."""
        if self.signum is not None:
            raise RunInterrupted(self.signum)


@contextmanager
def handling_interrupts() -> Iterator[Interrupts]:
    """Install an Interrupts for the duration of the block."""
    guard = Interrupts()
    guard.install()
    try:
        yield guard
    finally:
        guard.restore()


class StopAtStepBoundary(L.Callback):
    """Stops training after the generator step (or the validation) during which a signal arrived.

    last.ckpt is written right after that step (or validation), and the stop itself happens at the next hook,
    after Lightning has logged the step's metrics, so the CSV log keeps every row up to the checkpoint.
    """

    def __init__(self, guard: Interrupts, last_ckpt: Path) -> None:
        self.guard = guard
        self.last_ckpt = last_ckpt
        self._g_before = 0
        self.saved_at: int | None = None

    def _save(self, trainer: L.Trainer, pl_module: Any) -> None:
        if self.saved_at is None:
            trainer.save_checkpoint(self.last_ckpt, weights_only=False)
            self.saved_at = pl_module.g_steps

    def _stop_if_saved(self) -> None:
        if self.saved_at is not None:
            self.guard.training = False
            self.guard.check()

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        # Lightning installs its own SIGTERM handler when fit starts (and puts ours back when it ends).
        self.guard.install()
        self.guard.training = True
        self.guard.check()

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self._stop_if_saved()
        self._g_before = pl_module.g_steps

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.guard.signum is not None and pl_module.g_steps != self._g_before:
            self._save(trainer, pl_module)

    def on_validation_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self._stop_if_saved()

    def on_validation_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if self.guard.signum is not None and not trainer.sanity_checking:
            self._save(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        self._stop_if_saved()
