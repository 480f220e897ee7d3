"""The noise-to-image (or noise-to-point) game: z (+ y) -> x against one critic.

Vanilla GAN, DCGAN, WGAN (clip), WGAN-GP, SN-GAN, LSGAN, hinge and their conditional versions differ
only by networks, loss pair and regulariser: they are configs of this one module. PacGAN packing
(Lin et al. 2018) is a critic-input option (`pack`), not a class: m samples, all real or all fake, are
concatenated along channels (images) or features (vectors) into one critic input. DiffAugment (Zhao et al.
2020) is another (`augment`): every critic input, real or fake, in both phases and inside the regulariser,
goes through the same kind of random differentiable transform (gan_zoo/augment.py). ADA (`model.ada_target`,
Karras et al. 2020) is the same pipeline with its probability p set by the base's controller from D(real).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch
import torch.nn as nn

from gan_zoo.augment import ADA_DEFAULT_POLICY, check_policy, diff_augment
from gan_zoo.errors import ConfigError, require
from gan_zoo.models.base import AdversarialModule, Batch, Logs, OptimizerFactory, Schedule
from gan_zoo.models.contract import Capabilities

LossFn = Callable[..., torch.Tensor]


def pack_samples(x: torch.Tensor, m: int) -> torch.Tensor:
    """[N, C, ...] -> [N / m, m * C, ...]: each group of m consecutive samples becomes one critic input."""
    if m == 1:
        return x
    require(len(x) % m == 0, f"model.pack={m} needs a batch size divisible by {m}, got a batch of {len(x)}")
    return x.reshape(len(x) // m, m * x.shape[1], *x.shape[2:])


PRIORS = ("normal", "uniform")


def draw_prior(
    prior: str,
    shape: tuple[int, ...],
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """z ~ N(0, I) (`normal`) or U(-1, 1)^d (`uniform`, the original GAN's noise; on the 25-mode grid a square
    latent maps onto the square grid of modes more easily than a Gaussian one, experiments/pacgan)."""
    if prior == "uniform":
        return torch.rand(*shape, generator=generator, device=device) * 2 - 1
    return torch.randn(*shape, generator=generator, device=device)


class NoiseGAN(AdversarialModule):
    """Unconditional or conditional GAN; the loss pair and the regulariser decide which GAN it is."""

    CAPABILITIES = Capabilities(labels=True, truncation="z")
    SUPPORTS_ADA = True

    @property
    def capabilities(self) -> Capabilities:
        """Labels only when built conditional (with the data's classes)."""
        return replace(self.CAPABILITIES, labels=self.CAPABILITIES.labels and self.num_classes > 0)

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        d_loss: LossFn,
        g_loss: LossFn,
        g_optimizer: OptimizerFactory,
        d_optimizer: OptimizerFactory,
        latent_dim: int,
        num_classes: int = 0,
        schedule: Schedule | None = None,
        regularizer: LossFn | None = None,
        reg_weight: float = 0.0,
        critic_weight_clip: float | None = None,
        pack: int = 1,
        truncation: float | None = None,
        prior: str = "normal",
        augment: Sequence[str] | None = None,
        augment_p: float = 1.0,
    ) -> None:
        super().__init__(
            {"g": g_optimizer, "d": d_optimizer},
            schedule,
            regularizer=regularizer,
            reg_weight=reg_weight,
            critic_weight_clip=critic_weight_clip,
        )
        require(isinstance(latent_dim, int) and latent_dim >= 1, f"model.latent_dim must be >= 1, got {latent_dim!r}")
        require(isinstance(pack, int) and pack >= 1, f"model.pack must be an integer >= 1, got {pack!r}")
        require(
            pack == 1 or num_classes == 0,
            "model.pack > 1 (PacGAN) is for unconditional models: set model.conditional=false or model.pack=1",
        )
        require(prior in PRIORS, f"model.prior must be one of {PRIORS}, got {prior!r}")
        self.prior = prior
        # DiffAugment of every critic input, real or fake, in every phase and inside the regulariser
        # (gan_zoo/augment.py)
        self.augment, self.augment_p = check_policy(augment, augment_p), float(augment_p)
        self.generator = generator
        self.discriminator = discriminator
        self.require_penalty_safe_critics(
            "a gradient penalty needs a critic without BatchNorm: set "
            "model.discriminator.norm to layer, instance or none"
        )
        self.d_loss, self.g_loss = d_loss, g_loss
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.pack = pack
        self.set_truncation(truncation)
        self.add_ema("generator")
        # Fixed evaluation noise (a buffer, so it survives checkpoints and follows the device).
        # Conditional grids hold one z per row and one class per column: the label's effect at fixed z.
        num_grid = self.schedule_options.num_grid
        g = torch.Generator().manual_seed(self.eval_seed)
        rows = max(1, num_grid // num_classes) if num_classes else num_grid
        fixed_z = draw_prior(prior, (rows, latent_dim), g)
        if num_classes:
            fixed_z = fixed_z.repeat_interleave(num_classes, dim=0)  # [rows * K, latent_dim]
        self.register_buffer("fixed_z", fixed_z)
        self.register_buffer("fixed_y", torch.arange(len(fixed_z)) % max(num_classes, 1))

    @classmethod
    def network_kwargs(cls, model_cfg: Any, facts: dict[str, Any], num_classes: int) -> dict[str, dict[str, Any]]:
        """What build_gan passes to each network node: G makes the data's shape; D reads `pack` samples stacked
        along channels."""
        shape = tuple(facts["shape"])
        pack = int(model_cfg.get("pack", 1) or 1)
        if model_cfg.get("augment") and len(shape) != 3:
            raise ConfigError(
                f"model.augment={list(model_cfg.augment)} transforms images, but the data's samples have "
                f"shape {list(shape)}; set model.augment=null"
            )
        if model_cfg.get("ada_target") is not None and len(shape) != 3:
            raise ConfigError(
                f"model.ada_target={model_cfg.ada_target} augments images, but the data's samples have shape "
                f"{list(shape)}; set model.ada_target=null"
            )
        return {
            "generator": {
                "latent_dim": cls.generator_input_dim(model_cfg),
                "out_shape": shape,
                "num_classes": num_classes,
            },
            "discriminator": {"in_shape": (shape[0] * pack, *shape[1:]), "num_classes": num_classes},
        }

    @classmethod
    def generator_input_dim(cls, model_cfg: Any) -> int:
        """Width of G's input vector (before one-hot labels): the noise size."""
        return int(model_cfg.latent_dim)

    @property
    def grid_columns(self) -> int:
        """Columns of the sample grid: one class per column for conditional models, else 0 (the callback's nrow)."""
        return self.num_classes

    def optimized_networks(self) -> dict[str, list[nn.Module]]:
        """G's optimizer steps the generator, D's the critic."""
        return {"g": [self.generator], "d": [self.discriminator]}

    # ----------------------------------------------------------------------------------- sampling
    def set_truncation(self, threshold: float | None) -> None:
        """Truncation in z for sampling (`truncation=T`): z resampled until every |z_i| <= T; None: off."""
        require(
            threshold is None or float(threshold) > 0,
            f"truncation must be > 0 (a threshold on |z_i|, in std of z) or null, got {threshold!r}",
        )
        self.truncation = None if threshold is None else float(threshold)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z from the prior (N(0, I), or U(-1, 1)^d): [n, latent_dim] on the module's device."""
        return draw_prior(self.prior, (n, self.latent_dim), generator, self.device)

    def eval_noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The noise of evaluation samples: z from the prior, truncated to |z_i| <= truncation when set (resampled)."""
        z = self.noise(n, generator)
        if self.truncation is not None:
            while True:  # resample the out-of-range entries; the stream stays a function of the seed
                out = z.abs() > self.truncation
                if not bool(out.any()):
                    break
                z = torch.where(out, self.noise(n, generator), z)
        return z

    def conditions(self, n: int, generator: torch.Generator, **given: Any) -> dict[str, torch.Tensor]:
        """The conditions of n evaluation samples: balanced labels for conditional models, or `label=K`."""
        label = given.get("label")
        if not self.num_classes:
            require(label is None, "label= was given but this model is unconditional; drop label=")
            return {}
        if label is not None:
            require(
                0 <= int(label) < self.num_classes,
                f"label must be in [0, {self.num_classes - 1}] for this model, got {label}",
            )
            return {"labels": torch.full((n,), int(label), dtype=torch.long, device=self.device)}
        return {"labels": torch.arange(n, device=self.device) % self.num_classes}

    @torch.no_grad()
    def generate(
        self,
        n: int,
        seed: int | None = None,
        batch_size: int = 500,
        start: int = 0,
        stop: int | None = None,
        **given: Any,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Samples [start, stop) of n in eval mode from the sampling generator, with the conditions and z used.

        Uses its own torch.Generator, so it never advances the global RNG (exact resume depends on that).
        All n noise vectors are drawn at once (cheap), so a chunk is exactly the slice of the n samples that
        `gan-zoo sample` writes for the same n and seed.
        """
        g = torch.Generator(device=self.device)
        g.manual_seed(self.eval_seed if seed is None else seed)
        stop = n if stop is None else stop
        z = self.eval_noise(n, g)[start:stop]
        conds = {k: v[start:stop] for k, v in self.conditions(n, g, **given).items()}
        # `latents`: the z the generator read (after truncation), the input of an exported generator (export.py)
        return self.synthesize_in_chunks(z, conds, batch_size), {**conds, "latents": z}

    def fixed_conditions(self) -> dict[str, torch.Tensor]:
        """Balanced labels along the grid's rows for conditional models."""
        return {"labels": self.fixed_y} if self.num_classes else {}

    # ----------------------------------------------------------------------------------- phases
    def split_batch(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(x, y) of a batch; unconditional models ignore the data's labels."""
        x, y = batch
        return x, (y if self.num_classes else None)

    def critic(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """D on (packed, augmented) samples: [N, ...] -> [N / pack] outputs."""
        return self._augmented_critic(pack_samples(x, self.pack), y)

    def _augmented_critic(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """D on critic inputs through `model.augment` (one transform per input: a pack's samples move together)."""
        return self.discriminator(self.augment_critic_input(x), y)

    def augment_critic_input(self, x: torch.Tensor) -> torch.Tensor:
        """DiffAugment of critic inputs when `model.augment` is set and the module trains; x unchanged otherwise.
        With ADA on, the same pipeline (`model.augment`, or ADA's default policy) at ADA's current p."""
        if not self.training:
            return x
        ada_p = self.ada_probability
        if ada_p is not None:
            return diff_augment(x, self.augment or ADA_DEFAULT_POLICY, ada_p)
        return diff_augment(x, self.augment, self.augment_p) if self.augment else x

    def fake_batch(self, n: int, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """n generated samples for training, and the conditions they were made with."""
        conds = {"labels": y} if y is not None else {}
        return self.synthesize(self.generator, self.noise(n), conds), conds

    def d_main(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs]:
        x, y = self.split_batch(batch)
        with torch.no_grad():
            fake, conds = self.fake_batch(len(x), y)
        state.update(real=x, fake=fake, y=y, conds=conds)
        # Dmain: push D(x) up and D(G(z)) down (in the sense of the chosen loss).
        real_out = self.critic(x, y)
        fake_out = self.critic(fake, y)
        d_main = self.d_loss(real_out, fake_out)
        self.watch("the critic loss", d_main)
        self.ada_observe(real_out, len(x))
        return d_main, {
            "train/d_loss": d_main.detach(),
            "train/d_real": real_out.detach().float().mean(),
            "train/d_fake": fake_out.detach().float().mean(),
        }

    def d_reg(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs] | None:
        if not self.regularized:
            return None
        # Dreg: the regulariser (e.g. gradient penalty at x_hat, one eps per critic input), weighted.
        real, fake = pack_samples(state["real"], self.pack), pack_samples(state["fake"], self.pack)
        return self.penalty([(self._augmented_critic, real, fake, state["y"])])

    def critics(self) -> list[nn.Module]:
        return [self.discriminator]

    def g_main(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs]:
        x, y = self.split_batch(batch)
        # Gmain: make D(G(z)) look real; the update helper has frozen D's parameters for this step.
        fake, conds = self.fake_batch(len(x), y)
        state.update(fake=fake, conds=conds, y=y)
        loss = self.g_loss(self.critic(fake, y))
        self.watch("the generator loss", loss)
        return loss, {"train/g_loss": loss.detach()}


# Checkpoints written before the base/game split name `gan_zoo.models.GAN`; it is this game.
GAN = NoiseGAN
