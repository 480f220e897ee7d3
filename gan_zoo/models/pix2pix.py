"""Pix2Pix (Isola et al. 2017): a conditional GAN from an input image to its aligned target image.

G: U-Net with skips; its only noise is dropout. D: PatchGAN on the (input, output) pair stacked along
channels. Objective: the adversarial loss (the loss group: BCE in the paper) + l1_weight * ||y - G(x)||_1
(lambda = 100). The translation runs once per batch (`prepare`) with gradients; Dmain uses it detached,
Gmain backpropagates through it, the order of the reference implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_zoo.errors import require
from gan_zoo.models.base import Batch, Logs, OptimizerFactory, Schedule, eval_mode
from gan_zoo.models.image2image import TranslationGame

LossFn = Callable[..., torch.Tensor]


class Pix2Pix(TranslationGame):
    """Paired image-to-image translation A -> B."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        d_loss: LossFn,
        g_loss: LossFn,
        g_optimizer: OptimizerFactory,
        d_optimizer: OptimizerFactory,
        shape_a: tuple[int, ...],
        shape_b: tuple[int, ...],
        num_classes: int = 0,
        l1_weight: float = 100.0,
        schedule: Schedule | None = None,
        regularizer: LossFn | None = None,
        reg_weight: float = 0.0,
        critic_weight_clip: float | None = None,
        inference_dropout: bool = False,
    ) -> None:
        super().__init__(
            {"g": g_optimizer, "d": d_optimizer},
            shape_a,
            shape_b,
            schedule=schedule,
            regularizer=regularizer,
            reg_weight=reg_weight,
            critic_weight_clip=critic_weight_clip,
        )
        require(l1_weight >= 0, f"model.l1_weight must be >= 0, got {l1_weight!r}")
        self.generator, self.discriminator = generator, discriminator
        self.require_penalty_safe_critics(
            "a gradient penalty needs a critic without BatchNorm: set "
            "model.discriminator.norm to instance, layer or none"
        )
        self.d_loss, self.g_loss = d_loss, g_loss
        self.l1_weight = l1_weight
        self.inference_dropout = inference_dropout
        self.add_ema("generator")

    @classmethod
    def network_kwargs(cls, model_cfg: Any, facts: dict[str, Any], num_classes: int) -> dict[str, dict[str, Any]]:
        """G maps A's shape to B's; D reads the pair (A and B stacked along channels)."""
        a, b = tuple(facts["shape_a"]), tuple(facts["shape_b"])
        return {
            "generator": {"in_shape": a, "out_shape": b},
            "discriminator": {"in_shape": (a[0] + b[0], *b[1:]), "num_classes": 0},
        }

    def optimized_networks(self) -> dict[str, list[nn.Module]]:
        return {"g": [self.generator], "d": [self.discriminator]}

    def translator(self, direction: str) -> nn.Module:
        return self.averaged("generator")

    @contextmanager
    def inference_mode_for(self, net: nn.Module) -> Iterator[None]:
        """Eval mode; with inference_dropout=true dropout stays on, as in the paper's test-time noise."""
        with eval_mode(net):
            drops = [m for m in net.modules() if isinstance(m, nn.Dropout)] if self.inference_dropout else []
            for m in drops:
                m.train()
            yield

    def picture_rows(self) -> list[torch.Tensor]:
        return [self.fixed_a, self.translate(self.fixed_a), self.fixed_b]

    # ----------------------------------------------------------------------------------- phases
    def critic(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """PatchGAN logits of the pair (a, b)."""
        return self.discriminator(torch.cat([a, b], dim=1))

    def prepare(self, batch: Batch, generator_step_follows: bool) -> dict[str, Any]:
        with torch.set_grad_enabled(generator_step_follows):
            fake = self.generator(batch["a"])
        return {"fake": fake}

    def d_main(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs]:
        a, b, fake = batch["a"], batch["b"], state["fake"].detach()
        real_out, fake_out = self.critic(a, b), self.critic(a, fake)
        loss = self.d_loss(real_out, fake_out)
        self.watch("the critic loss", loss)
        return loss, {
            "train/d_loss": loss.detach(),
            "train/d_real": real_out.detach().float().mean(),
            "train/d_fake": fake_out.detach().float().mean(),
        }

    def d_reg(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs] | None:
        if not self.regularized:
            return None
        a = batch["a"]
        real, fake = torch.cat([a, batch["b"]], 1), torch.cat([a, state["fake"].detach()], 1)
        return self.penalty([(self.discriminator, real, fake, None)])

    def critics(self) -> list[nn.Module]:
        return [self.discriminator]

    def g_main(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs]:
        loss = self.g_loss(self.critic(batch["a"], state["fake"]))
        self.watch("the generator loss", loss)
        return loss, {"train/g_loss": loss.detach()}

    def g_reg(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs] | None:
        """lambda * L1(G(x), y): the reconstruction term that makes G follow the target."""
        l1 = F.l1_loss(state["fake"].float(), batch["b"].float())
        self.watch("the L1 term", l1)
        return self.l1_weight * l1, {"train/l1": l1.detach()}
