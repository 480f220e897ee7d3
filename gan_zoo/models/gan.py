"""The shared adversarial schedule: manual optimisation, n_critic, named phases, EMA, fixed eval noise.

Step accounting (read this before setting budgets)
--------------------------------------------------
Each training batch runs one critic step (Dmain + Dreg); every `n_critic`-th batch also runs one
generator step (Gmain). Critic steps therefore walk across batches instead of pulling extra batches
inside one step. Lightning's `trainer.global_step` counts *optimizer* steps in manual optimisation,
so after k generator steps it reads k * (n_critic + 1). gan_zoo states budgets in generator steps
(`trainer.max_g_steps`) or epochs and converts, and logs `train/g_step` so curves can use a
generator-step x-axis. Lightning's logger x-axis (`log_every_n_steps`) counts batches.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn as nn

from gan_zoo.errors import DivergenceError, require
from gan_zoo.networks.common import has_batchnorm

LossFn = Callable[..., torch.Tensor]


@contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Put modules in eval mode (BatchNorm running stats, no dropout) and restore their modes after."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, was_training in zip(modules, modes):
            m.train(was_training)


class GAN(L.LightningModule):
    """Unconditional or conditional GAN; the loss pair and the regulariser decide which GAN it is."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        d_loss: LossFn,
        g_loss: LossFn,
        g_optimizer: Callable[..., torch.optim.Optimizer],
        d_optimizer: Callable[..., torch.optim.Optimizer],
        latent_dim: int,
        num_classes: int = 0,
        n_critic: int = 1,
        regularizer: LossFn | None = None,
        reg_weight: float = 0.0,
        reg_every: int = 1,
        critic_weight_clip: float | None = None,
        ema_decay: float | None = None,
        num_grid: int = 64,
        eval_seed: int = 2024,
    ) -> None:
        super().__init__()
        require(isinstance(n_critic, int) and n_critic >= 1,
                f"model.n_critic must be an integer >= 1 (critic steps per generator step), got {n_critic!r}")
        require(isinstance(latent_dim, int) and latent_dim >= 1, f"model.latent_dim must be >= 1, got {latent_dim!r}")
        require(isinstance(reg_every, int) and reg_every >= 1, f"model.reg_every must be >= 1, got {reg_every!r}")
        require(reg_weight >= 0, f"model.reg_weight must be >= 0, got {reg_weight!r}")
        require(ema_decay is None or 0.0 < ema_decay < 1.0, f"model.ema_decay must be in (0, 1) or null, got {ema_decay!r}")
        require(critic_weight_clip is None or critic_weight_clip > 0,
                f"model.critic_weight_clip must be > 0 or null, got {critic_weight_clip!r}")
        if regularizer is not None and reg_weight > 0:
            # SyncBatchNorm has no double backward and BatchNorm mixes samples, so the per-sample
            # input gradient a penalty constrains is not the critic's (Gulrajani et al. 2017, sec. 4).
            require(not has_batchnorm(discriminator),
                    "a gradient penalty needs a critic without BatchNorm: set model.discriminator.norm to "
                    "layer, instance or none")
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.d_loss, self.g_loss = d_loss, g_loss
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.n_critic = n_critic
        self.regularizer, self.reg_weight, self.reg_every = regularizer, reg_weight, reg_every
        self.critic_weight_clip = critic_weight_clip
        self.ema_decay = ema_decay
        # G_ema is a registered, frozen submodule: checkpointed with the rest, never optimised.
        self.generator_ema = copy.deepcopy(generator).requires_grad_(False).eval() if ema_decay else None
        self.d_steps = 0
        self.g_steps = 0
        self.last_eval_g_step = -1  # the generator step of the latest validation
        # Fixed evaluation noise (a buffer, so it survives checkpoints and follows the device).
        # Conditional grids hold one z per row and one class per column: the label's effect at fixed z.
        g = torch.Generator().manual_seed(eval_seed)
        rows = max(1, num_grid // num_classes) if num_classes else num_grid
        fixed_z = torch.randn(rows, latent_dim, generator=g)
        if num_classes:
            fixed_z = fixed_z.repeat_interleave(num_classes, dim=0)  # [rows * K, latent_dim]
        self.register_buffer("fixed_z", fixed_z)
        self.register_buffer("fixed_y", torch.arange(len(fixed_z)) % max(num_classes, 1))
        self.eval_seed = eval_seed
        self._evaluator: Any = None  # see set_evaluator
        self.run_info: dict[str, Any] = {}  # resolved config + data facts, stored in every checkpoint

    def set_evaluator(self, evaluator: nn.Module | None) -> None:
        """Attach the validation evaluator without registering it as a submodule.

        Its feature network would otherwise land in every checkpoint and in `parameters()`.
        """
        object.__setattr__(self, "_evaluator", evaluator)

    @property
    def evaluator(self) -> Any:
        """The validation evaluator (or None)."""
        return self._evaluator

    # ----------------------------------------------------------------------------------- sampling
    @property
    def sampling_generator(self) -> nn.Module:
        """The network to sample from: the EMA generator when there is one."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I): [n, latent_dim] on the module's device."""
        return torch.randn(n, self.latent_dim, generator=generator, device=self.device)

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, seed: int | None = None,
               batch_size: int = 500, start: int = 0, stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """n samples in eval mode from the sampling generator (EMA if any); labels balanced if not given.

        Uses its own torch.Generator, so it never advances the global RNG (exact resume depends on that).
        start/stop: return only samples [start, stop) of those n (the noise of all n is drawn, which is
        cheap; the images of the others are not made), so streamed evaluation in chunks scores exactly
        the samples `gan-zoo sample` writes for the same n and seed.
        """
        g = torch.Generator(device=self.device)
        g.manual_seed(self.eval_seed if seed is None else seed)
        if self.num_classes and y is None:
            y = torch.arange(n, device=self.device) % self.num_classes
        stop = n if stop is None else stop
        net = self.sampling_generator
        z = self.noise(n, g)[start:stop]  # drawn at once: the samples do not depend on batch_size
        y = None if y is None else y[start:stop]
        out = []
        with eval_mode(net), torch.autocast(self.device.type, enabled=False):
            for i in range(0, len(z), batch_size):
                out.append(net(z[i:i + batch_size], None if y is None else y[i:i + batch_size]))
        return torch.cat(out), y

    @torch.no_grad()
    def sample_fixed(self) -> torch.Tensor:
        """The fixed evaluation noise (and balanced labels) through the sampling generator, eval mode."""
        net = self.sampling_generator
        with eval_mode(net), torch.autocast(self.device.type, enabled=False):
            return net(self.fixed_z, self.fixed_y if self.num_classes else None)

    # ----------------------------------------------------------------------------------- training
    def on_train_start(self) -> None:
        """Under DDP every rank starts from the same seed (and a resumed run from rank 0's RNG state):
        offset the stream by rank, so ranks draw different z, eps and label noise."""
        if self.trainer.world_size > 1:
            torch.manual_seed(torch.initial_seed() + 1_000_003 * self.global_rank + self.d_steps)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """[G optimizer, D optimizer]."""
        return [self.g_optimizer(params=self.generator.parameters()),
                self.d_optimizer(params=self.discriminator.parameters())]

    def _grad_scale(self) -> float:
        """The fp16 loss scale for autograd.grad-based penalties (1 under fp32/bf16, which need no scaler)."""
        scaler = getattr(self.trainer.precision_plugin, "scaler", None) if self._trainer is not None else None
        return float(scaler.get_scale()) if scaler is not None else 1.0

    def _check_finite(self, name: str, value: torch.Tensor) -> None:
        finite = bool(torch.isfinite(value))
        if self._trainer is not None and self.trainer.world_size > 1:
            # decided together, or a rank that raises leaves the others waiting in the all-reduce
            finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        if not finite:
            raise DivergenceError(
                f"{name} became {value.item()} at generator step {self.g_steps} (critic step {self.d_steps}); "
                "the update was not applied and the last checkpoint is intact. Lower the learning rates, "
                "add a regulariser, or resume from the last checkpoint with another seed.")

    def critic_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Dmain (+ Dreg): one critic update; returns the values to log."""
        _, opt_d = self.optimizers()
        with torch.no_grad():
            fake = self.generator(self.noise(len(x)), y)
        self.toggle_optimizer(opt_d)
        # Dmain: push D(x) up and D(G(z)) down (in the sense of the chosen loss).
        real_out = self.discriminator(x, y)
        fake_out = self.discriminator(fake, y)
        d_main = self.d_loss(real_out, fake_out)
        logs = {"train/d_loss": d_main, "train/d_real": real_out.float().mean(), "train/d_fake": fake_out.float().mean()}
        self._check_finite("the critic loss", d_main)
        loss = d_main
        # Dreg: the regulariser (e.g. gradient penalty at x_hat), lazily every reg_every steps, scaled by it.
        if self.regularizer is not None and self.reg_weight > 0 and self.d_steps % self.reg_every == 0:
            grad_scale = self._grad_scale()
            reg = self.regularizer(self.discriminator, x, fake, y, grad_scale=grad_scale)
            loss = loss + self.reg_weight * self.reg_every * reg
            logs["train/reg"] = reg
            if grad_scale == 1.0:  # under fp16 an overflow is the GradScaler's to handle: it skips the step
                self._check_finite("the critic regulariser", reg)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)
        if self.critic_weight_clip is not None:  # WGAN (Arjovsky et al. 2017): keep the critic K-Lipschitz
            with torch.no_grad():
                for p in self.discriminator.parameters():
                    p.clamp_(-self.critic_weight_clip, self.critic_weight_clip)
        self.d_steps += 1
        return logs

    def generator_step(self, n: int, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Gmain: one generator update against a frozen critic; then the EMA update."""
        opt_g, _ = self.optimizers()
        # Gmain: make D(G(z)) look real; toggle_optimizer freezes D's parameters for this step.
        self.toggle_optimizer(opt_g)
        fake = self.generator(self.noise(n), y)
        fake_out = self.discriminator(fake, y)
        loss = self.g_loss(fake_out)
        self._check_finite("the generator loss", loss)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)
        self.g_steps += 1
        self.update_ema()
        return {"train/g_loss": loss}

    @torch.no_grad()
    def update_ema(self) -> None:
        """G_ema <- beta G_ema + (1 - beta) G, with beta warmed up as min(decay, (1 + t) / (10 + t)).

        Buffers (BatchNorm running statistics) are copied, not averaged.
        """
        if self.generator_ema is None:
            return
        beta = min(self.ema_decay, (1 + self.g_steps) / (10 + self.g_steps))
        for p_ema, p in zip(self.generator_ema.parameters(), self.generator.parameters()):
            p_ema.lerp_(p.detach(), 1.0 - beta)
        for b_ema, b in zip(self.generator_ema.buffers(), self.generator.buffers()):
            b_ema.copy_(b)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """One critic step per batch; one generator step after every n_critic critic steps."""
        x, y = batch
        y = y if self.num_classes else None  # unconditional models ignore the data's labels
        logs = self.critic_step(x, y)
        if self.d_steps % self.n_critic == 0:
            logs.update(self.generator_step(len(x), y))
            logs["train/g_step"] = torch.tensor(float(self.g_steps))
        self.log_dict(logs, prog_bar=False, on_step=True, on_epoch=False, batch_size=len(x))

    # ----------------------------------------------------------------------------------- validation
    def on_validation_epoch_start(self) -> None:
        if self.evaluator is not None:
            self.evaluator.to(self.device)
        self._sync_generator_buffers()

    def _sync_generator_buffers(self) -> None:
        """Under DDP, give every rank rank 0's generator buffers before sampling for evaluation.

        Parameters are identical across ranks (gradients are all-reduced), but BatchNorm running
        statistics are updated from each rank's own batches after DDP's per-forward buffer broadcast
        (and SyncBatchNorm is unavailable on CPU): without this, each rank would generate its share
        of the evaluation samples from a slightly different generator, and the sharded value would
        not be the value of the checkpoint (rank 0's state). Found by comparing a DDP evaluation
        with `gan-zoo evaluate` on its checkpoint (tests/test_slow.py).
        """
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return
        for net in (self.generator, self.generator_ema):
            for buf in net.buffers() if net is not None else ():
                torch.distributed.broadcast(buf.data, src=0)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Nothing per batch: the loop is what triggers evaluation. The image suite reads its real features
        from its cache and the mixture evaluator knows its reference, so neither needs these batches."""

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
        """Step counters, every RNG state (Lightning saves none) and the run's config."""
        # Plain types and tensors only, so Lightning's weights_only=True loading accepts the checkpoint.
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        rng = {"torch": torch.get_rng_state(), "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                         gauss], "python": random.getstate()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        checkpoint["gan_zoo"] = {"d_steps": self.d_steps, "g_steps": self.g_steps,
                                 "last_eval_g_step": self.last_eval_g_step, "rng": rng, **self.run_info}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore counters and RNG states so a resumed run continues the same random stream."""
        state = checkpoint.get("gan_zoo", {})
        self.d_steps = state.get("d_steps", 0)
        self.g_steps = state.get("g_steps", 0)
        self.last_eval_g_step = state.get("last_eval_g_step", -1)
        rng = state.get("rng")
        if rng:
            torch.set_rng_state(rng["torch"])
            name, keys, pos, has_gauss, gauss = rng["numpy"]
            np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
            random.setstate(rng["python"])
            if "cuda" in rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
