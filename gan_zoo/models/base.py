"""The adversarial base every game shares: schedule, update helper, EMA, counters, checkpoints.

What lives here and what does not
---------------------------------
`AdversarialModule` owns only what every adversarial game needs:
  * manual optimisation, named optimizers (`optimized_networks` says which optimizer steps which
    networks; `configure_optimizers` builds them from the `optimizers` factories);
  * the n_critic schedule: each training batch runs the critic phase (Dmain + Dreg, lazily every
    `reg_every` critic steps and scaled by it); every `n_critic`-th batch also runs the generator
    phase (Gmain + Greg);
  * one helper for an optimizer update, `update(name, closure)`: toggle -> closure (forward) ->
    finite check -> zero_grad -> manual_backward -> step -> untoggle;
  * the finite check without a host sync per step on accelerators (see `watch`);
  * EMA copies of any generator (`add_ema`), updated after each generator step;
  * step counters, every RNG state and the run's config in checkpoints, so resume is exact;
  * logging only on the batches Lightning writes (self.log at every step costs ~20% on an H100);
  * ADA's controller of the critic-input augmentation probability (`enable_ada`, `model.ada_target`): games
    whose critic inputs go through gan_zoo/augment.py report D(real) with `ada_observe`; p moves here.
A game (models/noise.py, models/infogan.py, ...) is one file that overrides the phases
(`d_main`, `d_reg`, `g_main`, `g_reg`), declares its networks and optimizers, and implements
`generate` (the sampling interface `sample`/`evaluate` use).

Evaluation and DDP housekeeping live in base hooks, so every game gets them without copying:
  * `on_validation_epoch_start`: evaluator to device, rank 0's buffers broadcast to every rank
    before sampling (BatchNorm running statistics drift per rank);
  * `on_validation_epoch_end`: the attached evaluator scores `self` and logs;
  * `on_train_start`: the RNG stream offset by rank (different z, eps, label noise per rank).

Step accounting (read this before setting budgets)
--------------------------------------------------
Lightning's `trainer.global_step` counts *optimizer* steps in manual optimisation, so after k
generator steps of a one-critic/one-generator game it reads k * (n_critic + 1). gan_zoo states
budgets in generator steps (`trainer.max_g_steps`) or epochs and converts with
`optimizer_steps_per_g_step`, and logs `train/g_step` for a generator-step x-axis.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch
import torch.nn as nn
from torch.optim.lr_scheduler import LambdaLR

from gan_zoo import strategies  # noqa: F401  (registers hardware.strategy=ddp_phase_allreduce with Lightning)
from gan_zoo.augment import AdaptiveP
from gan_zoo.errors import DivergenceError, require
from gan_zoo.models.contract import Capabilities
from gan_zoo.networks.common import has_batchnorm
from gan_zoo.utils.hotpath import cache_cuda_device_count

OptimizerFactory = Callable[..., torch.optim.Optimizer]
Batch = Any
Logs = dict[str, torch.Tensor]


@contextmanager
def eval_mode(*modules: nn.Module | None) -> Iterator[None]:
    """Put modules in eval mode (BatchNorm running stats, no dropout) and restore their modes after."""
    mods = [m for m in modules if m is not None]
    modes = [m.training for m in mods]
    for m in mods:
        m.eval()
    try:
        yield
    finally:
        for m, was_training in zip(mods, modes):
            m.train(was_training)


class LinearDecay:
    """LR factor: 1 for the first `start` fraction of `total` generator steps, then linearly down to 0 at `total`.

    CycleGAN's schedule (100 epochs constant, 100 decaying) is total = 200 epochs' steps, start = 0.5; here it
    is stepped per generator step rather than per epoch. On the 2D mixtures the decay is what sharpens the
    generator onto modes of std 0.01 (experiments/pacgan). A class, not a lambda, so LambdaLR checkpoints it.
    """

    def __init__(self, total: int, start: float) -> None:
        self.total, self.start = int(total), float(start)

    def __call__(self, step: int) -> float:
        begin = self.start * self.total
        if step < begin:
            return 1.0
        return max(0.0, 1.0 - (step - begin) / max(self.total - begin, 1.0))


@dataclass(frozen=True)
class Schedule:
    """The schedule options every game shares (`model.n_critic`, ...; conf/model/schedule), checked once here.

    build_gan collects them from the composed model and loss nodes into this one object, which every game's
    constructor receives as `schedule` and hands to the base; no game lists them itself.
    """

    n_critic: int = 1  # critic steps per generator step
    reg_every: int = 1  # lazy regularisation: the critic regulariser every reg_every critic steps, scaled by it
    ema_decay: float | None = None  # EMA copies of the generators when set
    eval_seed: int = 2024  # the seed of every evaluation's noise
    finite_check_every: int = 50  # critic steps between reads of the device-side finite flag
    lr_decay_start: float | None = None  # fraction of training at constant LR before the linear decay
    num_grid: int = 64  # samples (or held-out inputs) in the fixed per-validation picture
    ada_target: float | None = None  # ADA's target for r_t = E[sign(D(real))]; None: ADA off
    ada_kimg: float = 20.0  # thousand real images over which ADA's p can move from 0 to 1
    ada_interval: int = 4  # critic steps between ADA's updates of p

    def __post_init__(self) -> None:
        require(
            self.ada_target is None or (isinstance(self.ada_target, (int, float)) and 0.0 < self.ada_target < 1.0),
            f"model.ada_target must be in (0, 1) (ADA's target for E[sign(D(real))], 0.6 in the paper) or null (off), "
            f"got {self.ada_target!r}",
        )
        require(
            isinstance(self.ada_kimg, (int, float)) and self.ada_kimg > 0,
            f"model.ada_kimg must be > 0 (thousand real images for ADA's p to go from 0 to 1), got {self.ada_kimg!r}",
        )
        require(
            isinstance(self.ada_interval, int) and self.ada_interval >= 1,
            f"model.ada_interval must be an integer >= 1 (critic steps between updates of p), "
            f"got {self.ada_interval!r}",
        )
        require(
            self.lr_decay_start is None or 0.0 <= self.lr_decay_start < 1.0,
            "model.lr_decay_start must be in "
            f"[0, 1) (the fraction of training at constant LR) or null, got {self.lr_decay_start!r}",
        )
        require(
            isinstance(self.n_critic, int) and self.n_critic >= 1,
            f"model.n_critic must be an integer >= 1 (critic steps per generator step), got {self.n_critic!r}",
        )
        require(
            isinstance(self.reg_every, int) and self.reg_every >= 1,
            f"model.reg_every must be >= 1, got {self.reg_every!r}",
        )
        require(
            self.ema_decay is None or 0.0 < self.ema_decay < 1.0,
            f"model.ema_decay must be in (0, 1) or null, got {self.ema_decay!r}",
        )
        require(
            isinstance(self.finite_check_every, int) and self.finite_check_every >= 1,
            f"model.finite_check_every must be an integer >= 1, got {self.finite_check_every!r}",
        )
        require(
            isinstance(self.num_grid, int) and self.num_grid >= 1,
            f"model.num_grid must be an integer >= 1, got {self.num_grid!r}",
        )


class AdversarialModule(L.LightningModule):
    """Manual-optimisation base of every game; subclasses override the phases and `generate`."""

    CAPABILITIES: ClassVar[Capabilities] = Capabilities()  # what the game can do (models/contract.py)
    SCHEDULE_OPTIONS: ClassVar[frozenset[str] | None] = None  # the Schedule fields the game honours; None: all

    @property
    def capabilities(self) -> Capabilities:
        """This instance's capabilities: the declared ones, refined by the data where a game needs to."""
        return self.CAPABILITIES

    @classmethod
    def data_kwargs(cls, facts: dict[str, Any]) -> dict[str, Any]:
        """Constructor arguments taken from the data facts (none unless a game needs them)."""
        return {}

    @property
    def grid_columns(self) -> int:
        """Columns of the sample grid; 0 leaves the choice to the caller."""
        return 0

    def __init__(
        self,
        optimizers: dict[str, OptimizerFactory],
        schedule: Schedule | None = None,
        regularizer: Callable[..., torch.Tensor] | None = None,
        reg_weight: float = 0.0,
        critic_weight_clip: float | None = None,
    ) -> None:
        super().__init__()
        require(reg_weight >= 0, f"model.reg_weight must be >= 0, got {reg_weight!r}")
        require(
            critic_weight_clip is None or critic_weight_clip > 0,
            f"model.critic_weight_clip must be > 0 or null, got {critic_weight_clip!r}",
        )
        self.automatic_optimization = False
        self.optimizer_factories = dict(optimizers)
        self.schedule_options = s = schedule or Schedule()
        self.n_critic, self.reg_every = s.n_critic, s.reg_every
        self.ema_decay, self.eval_seed = s.ema_decay, s.eval_seed
        self.finite_check_every = s.finite_check_every
        self.regularizer, self.reg_weight, self.critic_weight_clip = regularizer, reg_weight, critic_weight_clip
        self.lr_decay_start = s.lr_decay_start
        self.ema_names: list[str] = []
        self.d_steps = 0
        self.g_steps = 0
        self.last_eval_g_step = -1  # the generator step of the latest validation
        self._terms: list[str] = []  # names of watched values, indexed by the device-side flag
        self._bad: dict[str, torch.Tensor] | None = None
        self._g_logs: Logs = {}
        self._evaluator: Any = None  # see set_evaluator
        self.run_info: dict[str, Any] = {}  # resolved config + data facts, stored in every checkpoint
        self.ada: AdaptiveP | None = None  # see enable_ada

    # ----------------------------------------------------------------------------------- what a game declares
    def optimized_networks(self) -> dict[str, list[nn.Module]]:
        """{optimizer name: the networks it steps}, in the order Lightning gets them. Names match `optimizers`."""
        raise NotImplementedError

    def d_main(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs]:
        """Dmain: the critic's adversarial loss. `state` carries tensors to Dreg (e.g. the fakes)."""
        raise NotImplementedError

    def d_reg(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs] | None:
        """Dreg: an unweighted-by-schedule critic regulariser (weighted by the game), or None."""
        return None

    def g_main(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs]:
        """Gmain: the generator's adversarial loss (critic frozen)."""
        raise NotImplementedError

    def g_reg(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs] | None:
        """Greg: a generator regulariser or auxiliary term (e.g. InfoGAN's mutual information), or None."""
        return None

    def critics(self) -> list[nn.Module]:
        """The networks that weight clipping and the penalty's BatchNorm check apply to (none by default)."""
        return []

    def after_d_update(self) -> None:
        """Runs after each critic step: WGAN weight clipping (Arjovsky et al. 2017) of every critic, when set."""
        if self.critic_weight_clip is None:
            return
        with torch.no_grad():
            params = [p for net in self.critics() for p in net.parameters()]
            torch._foreach_clamp_min_(params, -self.critic_weight_clip)
            torch._foreach_clamp_max_(params, self.critic_weight_clip)

    # ----------------------------------------------------------------------------------- ADA
    #: True for games whose every critic input (both phases, inside the regulariser) goes through
    #: gan_zoo/augment.py with `ada_probability` and which report D(real) to `ada_observe`.
    SUPPORTS_ADA: ClassVar[bool] = False

    def enable_ada(self, target: float | None, kimg: float = 20.0, interval: int = 4) -> None:
        """Turn on ADA (`model.ada_target`, `model.ada_kimg`, `model.ada_interval`; none when target is None)."""
        self.schedule_options = replace(self.schedule_options, ada_target=target, ada_kimg=kimg, ada_interval=interval)
        if target is None:
            self.ada = None
            return
        require(
            self.SUPPORTS_ADA,
            f"model.ada_target={target}: {type(self).__name__} does not pass its critic inputs through the "
            "augmentation pipeline, so ADA would do nothing; set model.ada_target=null (ADA works on the "
            "noise-to-image games: dcgan, mlp, keras and stylegan models)",
        )
        self.ada = AdaptiveP(target, kimg, interval)

    @property
    def ada_probability(self) -> torch.Tensor | None:
        """ADA's current p (a 0-d tensor), or None when ADA is off."""
        return self.ada.p if self.ada is not None else None

    def ada_observe(self, real_out: torch.Tensor, images: int) -> None:
        """A game's critic phase reports its raw outputs on (augmented) reals; no-op without ADA."""
        if self.ada is not None:
            self.ada.observe(real_out, images)

    def _ada_step(self) -> None:
        """After a critic step: close ADA's interval every `ada_interval` critic steps.

        Under DDP the signs and counts are summed over ranks with Lightning's `strategy.reduce` (an all-reduce),
        so every rank computes the same r_t and p, as the paper's multi-GPU training does.
        """
        if self.ada is None or self.d_steps % self.ada.interval != 0:
            return
        reduce = None
        if self._trainer is not None and self.trainer.world_size > 1:
            strategy = self.trainer.strategy

            def reduce(t: torch.Tensor) -> torch.Tensor:
                return strategy.reduce(t, reduce_op="sum")

        self.ada.update(reduce)

    # ----------------------------------------------------------------------------------- critic regulariser
    @property
    def regularized(self) -> bool:
        """True when a critic regulariser is set with a positive weight."""
        return self.regularizer is not None and self.reg_weight > 0

    def compile_networks(self) -> list[str]:
        """torch.compile every optimised network in place (`nn.Module.compile`: parameters, state_dict keys and
        checkpoints stay as they are); returns their names. Off by default (`trainer.compile`): on the 2-core CPU a
        compiled pacgan_ring8 step was about 2x slower than eager, before the compile time (benchmarks/RESULTS.md).

        Refused under a gradient penalty: AOTAutograd has no double backward ("torch.compile with aot_autograd
        does not currently support double backward"), which the penalty needs through the critic.
        """
        require(
            not self.regularized,
            "trainer.compile=true cannot train a game with a gradient penalty or R1 (torch.compile has no double "
            "backward): set trainer.compile=false, or choose a loss without a regulariser (e.g. loss=hinge)",
        )
        names = []
        for group in self.optimized_networks().values():
            for net in group:
                net.compile()
                names.append(type(net).__name__)
        return names

    def require_penalty_safe_critics(self, fix: str) -> None:
        """Refuse BatchNorm in the critics under a penalty: SyncBatchNorm has no double backward and BatchNorm
        mixes samples, so the per-sample input gradient a penalty constrains is not the critic's (Gulrajani et
        al. 2017, sec. 4). Call once the critics are assigned."""
        if self.regularized:
            require(not any(has_batchnorm(c) for c in self.critics()), fix)

    def penalty(
        self, terms: list[tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor | None]]
    ) -> tuple[torch.Tensor, Logs]:
        """Dreg of (critic, real, fake, y) terms: reg_weight x the summed regulariser, with the fp16 loss scale;
        watched unless a GradScaler is in charge of overflows."""
        grad_scale = self._grad_scale()
        reg = sum(self.regularizer(critic, real, fake, y, grad_scale=grad_scale) for critic, real, fake, y in terms)
        if grad_scale == 1.0:  # under fp16 an overflow is the GradScaler's to handle: it skips the step
            self.watch("the critic regulariser", reg)
        return self.reg_weight * reg, {"train/reg": reg.detach()}

    def generate(
        self,
        n: int,
        seed: int | None = None,
        batch_size: int = 500,
        start: int = 0,
        stop: int | None = None,
        **conditions: Any,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Samples [start, stop) of n, in eval mode from the EMA generator(s), and the conditions used."""
        raise NotImplementedError

    def synthesize(self, net: nn.Module, z: torch.Tensor, conds: dict[str, torch.Tensor]) -> torch.Tensor:
        """One forward of a generator on its input and conditions (class labels by default)."""
        return net(z, conds.get("labels"))

    def fixed_conditions(self) -> dict[str, torch.Tensor]:
        """The conditions of the fixed evaluation grid (`fixed_z`): none by default."""
        return {}

    # ----------------------------------------------------------------------------------- sampling
    @property
    def label_kind(self) -> str:
        """The condition `sample` reports as labels: "labels", or "codes" for games that learn codes."""
        return self.capabilities.conditioning or "labels"

    @property
    def sampling_generator(self) -> nn.Module:
        """The network to sample from: the EMA generator when there is one."""
        return self.averaged("generator")

    @property
    def has_ema(self) -> bool:
        """True when samples come from an EMA copy."""
        return any(getattr(self, f"{name}_ema", None) is not None for name in self.ema_names)

    @torch.no_grad()
    def synthesize_in_chunks(self, z: torch.Tensor, conds: dict[str, torch.Tensor], batch_size: int) -> torch.Tensor:
        """The sampling generator on z (and conditions) in chunks of batch_size: eval mode, autocast off."""
        net = self.sampling_generator
        with eval_mode(net), torch.autocast(self.device.type, enabled=False):
            return torch.cat(
                [
                    self.synthesize(net, z[i : i + batch_size], {k: v[i : i + batch_size] for k, v in conds.items()})
                    for i in range(0, len(z), batch_size)
                ]
            )

    def sample(
        self, n: int, seed: int | None = None, batch_size: int = 500, start: int = 0, stop: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(samples, labels or None): the evaluators' interface; the labels are the `label_kind` condition."""
        x, conds = self.generate(n, seed=seed, batch_size=batch_size, start=start, stop=stop)
        return x, conds.get(self.label_kind)

    def sample_fixed(self) -> torch.Tensor:
        """The fixed evaluation grid (`fixed_z` and `fixed_conditions`) through the sampling generator."""
        return self.synthesize_in_chunks(self.fixed_z, self.fixed_conditions(), len(self.fixed_z))

    # ----------------------------------------------------------------------------------- optimizers
    @property
    def optimizer_steps_per_g_step(self) -> int:
        """Lightning global_step increments per generator step (every optimizer stepped counts)."""
        return self.n_critic + 1

    def configure_optimizers(self) -> Any:
        """One optimizer per entry of `optimized_networks`, from the factory of the same name; with
        `lr_decay_start`, one LinearDecay scheduler per optimizer (stepped per generator step)."""
        groups = self.optimized_networks()
        missing = [k for k in groups if k not in self.optimizer_factories]
        require(not missing, f"no optimizer configured for {missing} (model.<name>_optimizer)")
        optimizers = [
            self.optimizer_factories[name](params=list(chain.from_iterable(m.parameters() for m in nets)))
            for name, nets in groups.items()
        ]
        self._keep_this_runs_kernels(optimizers)
        if self.lr_decay_start is None:
            return optimizers
        decay = LinearDecay(self.total_g_steps(), self.lr_decay_start)
        return optimizers, [LambdaLR(opt, decay) for opt in optimizers]

    def _keep_this_runs_kernels(self, optimizers: list[torch.optim.Optimizer]) -> None:
        """On resume, this run's kernel choice (`fused`/`foreach`, e.g. `trainer.fused_optimizers=false`) wins over
        the one saved in the checkpoint. torch's `Optimizer.load_state_dict` takes every saved param-group value,
        these flags included, so Lightning's restore (after this method) would bring back the old run's choice.
        The saved groups are edited before that load, so torch places the state (Adam's `step`) for the new one."""
        saved = getattr(self, "_resumed_optimizer_states", None)
        self._resumed_optimizer_states = None
        if not saved or len(saved) != len(optimizers):
            return  # a mismatch is Lightning's to report when it loads the states
        for state, opt in zip(saved, optimizers):
            for old, new in zip(state.get("param_groups", []), opt.param_groups):
                for key in ("fused", "foreach"):
                    if key in new:
                        old[key] = new[key]

    def total_g_steps(self) -> int:
        """The run's budget in generator steps (max_g_steps, or epochs x batches / n_critic)."""
        t = self.trainer
        if t.max_steps is not None and t.max_steps > 0:
            return max(1, t.max_steps // self.optimizer_steps_per_g_step)
        batches = t.estimated_stepping_batches
        require(
            batches != float("inf"),
            "model.lr_decay_start needs a finite budget: set trainer.max_epochs or trainer.max_g_steps",
        )
        return max(1, int(batches) // self.n_critic)

    def _point_lr_decay_at_budget(self) -> None:
        """A resumed run restores the schedule's step count with its old budget; a run resumed with a longer
        budget (more epochs) decays over the new one instead of sitting at LR 0, and one resumed with the same
        budget continues exactly."""
        if self.lr_decay_start is None:
            return
        total = self.total_g_steps()
        scheds = self.lr_schedulers()
        for sched in scheds if isinstance(scheds, list) else [scheds]:
            for fn in sched.lr_lambdas:
                fn.total = total
            for group, base_lr, fn in zip(sched.optimizer.param_groups, sched.base_lrs, sched.lr_lambdas):
                group["lr"] = base_lr * fn(sched.last_epoch)

    def optimizer(self, name: str) -> Any:
        """The (Lightning-wrapped) optimizer called `name`."""
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        return opts[list(self.optimized_networks()).index(name)]

    def update(self, name: str, closure: Callable[[], tuple[torch.Tensor, Logs]]) -> Logs:
        """One optimizer update: toggle -> closure (forward, loss) -> finite check -> zero_grad ->
        manual_backward -> step -> untoggle. Toggling first freezes every other network's parameters, so the
        closure's forward does not even accumulate their gradients."""
        opt = self.optimizer(name)
        self.toggle_optimizer(opt)
        try:
            loss, logs = closure()
            self._check_now()  # raises before the step when a watched value is non-finite and it is time to look
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            if self._reduces_per_phase():  # hardware.strategy=ddp_phase_allreduce (gan_zoo/strategies.py)
                strategies.all_reduce_gradients([p for group in opt.param_groups for p in group["params"]])
            opt.step()
        finally:
            self.untoggle_optimizer(opt)
        return logs

    def _reduces_per_phase(self) -> bool:
        """True under a strategy that leaves gradient averaging to the update helper (no DDP wrapper)."""
        return (
            self._trainer is not None
            and getattr(self.trainer.strategy, "reduces_gradients_per_phase", False)
            and self.trainer.world_size > 1
        )

    def _grad_scale(self) -> float:
        """The fp16 loss scale for autograd.grad-based penalties (1 under fp32/bf16, which need no scaler)."""
        scaler = getattr(self.trainer.precision_plugin, "scaler", None) if self._trainer is not None else None
        return float(scaler.get_scale()) if scaler is not None else 1.0

    # ----------------------------------------------------------------------------------- finite check
    def watch(self, what: str, value: torch.Tensor) -> None:
        """Record on the device whether `value` is finite; the flag is read by `_check_now`.

        Reading a GPU flag is a host sync (measured ~4% of DCGAN throughput for three per step on a GPU),
        so on accelerators it is read every `finite_check_every` updates and before every checkpoint; on the
        CPU reading is free and happens at every update, before the optimizer step. Either way a checkpoint is
        never written from non-finite weights.
        """
        if what not in self._terms:
            self._terms.append(what)
        idx = self._terms.index(what)
        if value.device.type == "cpu" and self._bad is not None and self._bad["code"].device.type == "cpu":
            # On the CPU a Python bool costs nothing: one check, no flag arithmetic (the common case is finite).
            if bool(torch.isfinite(value.detach()).all()) or int(self._bad["code"]) >= 0:
                return
        v = value.detach().float().reshape(-1)[:1].reshape(())
        bad = ~torch.isfinite(value.detach()).all()
        if self._bad is None or self._bad["code"].device != v.device:
            self._bad = {
                "code": torch.full((), -1, dtype=torch.long, device=v.device),
                "value": torch.zeros((), device=v.device),
                "g_step": torch.zeros((), dtype=torch.long, device=v.device),
                "d_step": torch.zeros((), dtype=torch.long, device=v.device),
            }
        b = self._bad
        first = bad & (b["code"] < 0)
        b["code"] = torch.where(first, torch.full_like(b["code"], idx), b["code"])
        b["value"] = torch.where(first, v, b["value"])
        b["g_step"] = torch.where(first, torch.full_like(b["g_step"], self.g_steps), b["g_step"])
        b["d_step"] = torch.where(first, torch.full_like(b["d_step"], self.d_steps), b["d_step"])

    def _reading_is_free(self) -> bool:
        """Reading the device flag costs no host sync: it lives in CPU memory."""
        return self._bad is not None and self._bad["code"].device.type == "cpu"

    def _check_now(self, force: bool = False) -> None:
        """Read the flag if it is free (CPU), due (every finite_check_every critic steps) or forced."""
        if self._bad is None:
            return
        due = force or self._reading_is_free() or self.d_steps % self.finite_check_every == 0
        if not due:
            return
        code = int(self._bad["code"])
        bad = code >= 0
        if self._trainer is not None and self.trainer.world_size > 1:
            # decided together, or a rank that raises leaves the others waiting in the next collective
            bad = not self.trainer.strategy.reduce_boolean_decision(not bad, all=True)
        if not bad:
            return
        if code < 0:
            raise DivergenceError(
                f"another process saw a non-finite loss at generator step {self.g_steps}; the last "
                "checkpoint is intact. Lower the learning rates or resume with another seed."
            )
        what, g_step, d_step = self._terms[code], int(self._bad["g_step"]), int(self._bad["d_step"])
        applied = (
            ""
            if (g_step, d_step) == (self.g_steps, self.d_steps)
            else (f" (found at generator step {self.g_steps}; the weights since then are discarded)")
        )
        raise DivergenceError(
            f"{what} became {float(self._bad['value'])} at generator step {g_step} (critic step {d_step}){applied}; "
            "the update was not applied and the last checkpoint is intact. Lower the learning rates, add a "
            "regulariser, or resume from the last checkpoint with another seed."
        )

    # ----------------------------------------------------------------------------------- the schedule
    def prepare(self, batch: Batch, generator_step_follows: bool) -> dict[str, Any]:
        """Per-batch state shared by the critic and generator phases of one batch; empty by default.

        Runs before the critic update, outside any optimizer toggle. Image-to-image games translate here
        once: with gradients when a generator step follows (Gmain reuses the graph, Dmain detaches it), as
        pix2pix and CycleGAN do, instead of a second generator forward per batch.
        """
        return {}

    def training_step(self, batch: Batch, batch_idx: int) -> None:
        """One critic step per batch; one generator step after every n_critic critic steps."""
        shared = self.prepare(batch, (self.d_steps + 1) % self.n_critic == 0)
        logs = self.critic_step(batch, shared)
        if self.d_steps % self.n_critic == 0:
            self._g_logs = self.generator_step(batch, shared)
            self._g_logs["train/g_step"] = torch.tensor(float(self.g_steps))
        if self.ada is not None:
            logs["train/ada_p"], logs["train/ada_rt"] = self.ada.p, self.ada.rt
        self.log_step({**logs, **self._g_logs}, self.batch_size_of(batch))

    def log_step(self, logs: Logs, batch_size: int) -> None:
        """Hand a step's values to Lightning, only on the batches it writes (self.log at every step cost ~20%
        of DCGAN throughput on an H100)."""
        if self._trainer is not None and self._logs_written_now():
            self.log_dict(logs, prog_bar=False, on_step=True, on_epoch=False, batch_size=batch_size)

    def critic_step(self, batch: Batch, shared: dict[str, Any] | None = None) -> Logs:
        """Dmain + Dreg (lazily every reg_every critic steps, scaled by reg_every) as one update."""

        def closure() -> tuple[torch.Tensor, Logs]:
            state: dict[str, Any] = dict(shared or {})
            loss, logs = self.d_main(batch, state)
            if self.d_steps % self.reg_every == 0:
                reg = self.d_reg(batch, state)
                if reg is not None:
                    loss = loss + self.reg_every * reg[0]
                    logs.update(reg[1])
            return loss, logs

        logs = self.update("d", closure)
        self.after_d_update()
        self.d_steps += 1
        self._ada_step()
        return logs

    def generator_step(self, batch: Batch, shared: dict[str, Any] | None = None) -> Logs:
        """Gmain + Greg against a frozen critic as one update; then the EMA update and the LR schedule."""

        def closure() -> tuple[torch.Tensor, Logs]:
            state: dict[str, Any] = dict(shared or {})
            loss, logs = self.g_main(batch, state)
            reg = self.g_reg(batch, state)
            if reg is not None:
                loss = loss + reg[0]
                logs.update(reg[1])
            return loss, logs

        logs = self.update("g", closure)
        self.g_steps += 1
        self.update_ema()
        self.step_lr_schedulers()
        return logs

    def step_lr_schedulers(self) -> None:
        """Step every LR scheduler once per generator step (games that configure one, e.g. CycleGAN's decay)."""
        scheds = self.lr_schedulers() if self._trainer is not None else None
        for sched in scheds if isinstance(scheds, list) else [scheds] if scheds is not None else []:
            sched.step()

    @staticmethod
    def batch_size_of(batch: Batch) -> int:
        """The number of samples in a batch (first tensor's length)."""
        first = batch[0] if isinstance(batch, (list, tuple)) else next(iter(batch.values()))
        return len(first)

    def _logs_written_now(self) -> bool:
        """True on the batches whose step metrics Lightning hands to the loggers (log_every_n_steps)."""
        try:
            return bool(self.trainer._logger_connector.should_update_logs)
        except AttributeError:  # a future Lightning without the property: log every step as before
            return True

    # ----------------------------------------------------------------------------------- EMA
    def add_ema(self, name: str) -> None:
        """Keep `<name>_ema`, a frozen eval-mode copy of the generator `<name>`, when ema_decay is set.

        A registered submodule, so it is checkpointed with the rest; never optimised.
        """
        net = getattr(self, name)
        setattr(self, f"{name}_ema", copy.deepcopy(net).requires_grad_(False).eval() if self.ema_decay else None)
        self.ema_names.append(name)

    def averaged(self, name: str) -> nn.Module:
        """The network to sample from: `<name>_ema` when there is one, else `<name>`."""
        ema = getattr(self, f"{name}_ema", None)
        return ema if ema is not None else getattr(self, name)

    @torch.no_grad()
    def update_ema(self) -> None:
        """G_ema <- beta G_ema + (1 - beta) G, beta warmed up as min(decay, (1 + t) / (10 + t)); buffers copied."""
        if not self.ema_decay:
            return
        beta = min(self.ema_decay, (1 + self.g_steps) / (10 + self.g_steps))
        for name in self.ema_names:
            ema, net = getattr(self, f"{name}_ema"), getattr(self, name)
            if ema is None:
                continue
            ema_p, net_p = list(ema.parameters()), [p.detach() for p in net.parameters()]
            torch._foreach_lerp_(ema_p, net_p, 1.0 - beta)  # one fused kernel per dtype/device, not one per tensor
            for b_ema, b in zip(ema.buffers(), net.buffers()):
                b_ema.copy_(b)

    def drop_ema(self) -> None:
        """Sample from the trained networks instead of their averages (`ema=false` in sample/evaluate)."""
        for name in self.ema_names:
            setattr(self, f"{name}_ema", None)

    # ----------------------------------------------------------------------------------- evaluation hooks
    def set_evaluator(self, evaluator: Any) -> None:
        """Attach the validation evaluator without registering it as a submodule (it stays out of checkpoints)."""
        object.__setattr__(self, "_evaluator", evaluator)

    @property
    def evaluator(self) -> Any:
        """The validation evaluator (or None)."""
        return self._evaluator

    def on_train_start(self) -> None:
        """Under DDP every rank starts from the same seed (and a resumed run from rank 0's RNG state):
        offset the stream by rank, so ranks draw different z, eps and label noise. Point the LR decay at
        this run's budget. On the CPU, stop the optimizers' per-step NVML probe (gan_zoo/utils/hotpath.py)."""
        self._point_lr_decay_at_budget()
        if self.device.type == "cpu":
            cache_cuda_device_count()
        if self.trainer.world_size > 1:
            torch.manual_seed(torch.initial_seed() + 1_000_003 * self.global_rank + self.d_steps)

    def on_validation_epoch_start(self) -> None:
        if self.evaluator is not None and hasattr(self.evaluator, "to"):
            self.evaluator.to(self.device)
        self._sync_buffers()

    def _sync_buffers(self) -> None:
        """Under DDP, give every rank rank 0's buffers before sampling for evaluation.

        Parameters are identical across ranks (gradients are all-reduced), but BatchNorm running
        statistics are updated from each rank's own batches: without this, each rank would generate its
        share of the evaluation samples from a slightly different generator, and the sharded value would
        not be the value of the checkpoint (rank 0's state). Found by comparing a DDP evaluation with
        `gan-zoo evaluate` on its checkpoint (tests/test_slow.py).
        """
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return
        for buf in self.buffers():
            torch.distributed.broadcast(buf.data, src=0)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        """Nothing per batch: the loop only triggers evaluation; evaluators hold their own references."""

    def on_validation_epoch_end(self) -> None:
        """Score fresh samples (fixed seed) against the reference split and log the values."""
        if self.evaluator is None:
            return
        with torch.autocast(self.device.type, enabled=False):
            values = self.evaluator.compute(self)
        self.log_dict(values, prog_bar=True, sync_dist=False)  # evaluator values are already global
        self.log("val/g_step", float(self.g_steps))
        self.last_eval_g_step = self.g_steps

    # ----------------------------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Step counters, every RNG state (Lightning saves none) and the run's config.

        The finite flag is read first: a checkpoint is never written from non-finite weights.
        """
        self._check_now(force=True)
        # Plain types and tensors only, so Lightning's weights_only=True loading accepts the checkpoint.
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        rng = {
            "torch": torch.get_rng_state(),
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
            "python": random.getstate(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        checkpoint["gan_zoo"] = {
            "d_steps": self.d_steps,
            "g_steps": self.g_steps,
            "last_eval_g_step": self.last_eval_g_step,
            "rng": rng,
            **({"ada": self.ada.state_dict()} if self.ada is not None else {}),
            **self.run_info,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore counters and RNG states so a resumed run continues the same random stream."""
        self._resumed_optimizer_states = checkpoint.get("optimizer_states")  # read by configure_optimizers
        state = checkpoint.get("gan_zoo", {})
        self.d_steps = state.get("d_steps", 0)
        self.g_steps = state.get("g_steps", 0)
        self.last_eval_g_step = state.get("last_eval_g_step", -1)
        if self.ada is not None and state.get("ada"):
            self.ada.load_state_dict(state["ada"])
        rng = state.get("rng")
        if rng:
            torch.set_rng_state(rng["torch"])
            name, keys, pos, has_gauss, gauss = rng["numpy"]
            np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
            random.setstate(rng["python"])
            if "cuda" in rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])

    def on_train_epoch_end(self) -> None:
        """Read the finite flag at every epoch end (a checkpoint may follow)."""
        self._check_now(force=True)
