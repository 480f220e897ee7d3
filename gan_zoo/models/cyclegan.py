"""CycleGAN (Zhu et al. 2017): unpaired translation A <-> B with cycle consistency.

Networks: G = generator_ab (A -> B), F = generator_ba (B -> A), D_A, D_B (PatchGAN). One optimizer steps
both generators ("g"), one both critics ("d"), as in the reference implementation.
  Dmain: the adversarial loss of D_B on (b, G(a)) and of D_A on (a, F(b)), fakes drawn through a history
         buffer of `pool_size` earlier translations per critic (Shrivastava et al. 2017);
  Gmain: the adversarial loss of G and F against the frozen critics;
  Greg:  lambda_cycle * (|F(G(a)) - a|_1 + |G(F(b)) - b|_1)
         + lambda_identity * lambda_cycle * (|G(b) - b|_1 + |F(a) - a|_1).
lambda_identity is relative to lambda_cycle, as in the paper and its code: 0.5 x 10 = 5 (the course's notes
use 0.1). The loss group gives the adversarial pair (LSGAN in the paper). The paper's halving of the
critic objective is left out: Adam's updates do not change under a constant factor on one loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_zoo.errors import require
from gan_zoo.models.base import Batch, Logs, OptimizerFactory, Schedule
from gan_zoo.models.image2image import TranslationGame

LossFn = Callable[..., torch.Tensor]


class ImageHistory(nn.Module):
    """A buffer of the last `size` generated images (Shrivastava et al. 2017; CycleGAN's ImagePool).

    Until it is full each image is stored and returned as is. Once full, each image is returned with
    p = 0.5, or else swapped for a uniformly chosen stored image (which it replaces), so the critic also
    sees older generator outputs. Images and fill count live in buffers (checkpointed, device-following);
    the coin flips come from the CPU torch RNG, which gan_zoo checkpoints, so resume is exact.
    """

    def __init__(self, size: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        require(isinstance(size, int) and size >= 0, f"model.pool_size must be an integer >= 0, got {size!r}")
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self._filled: int | None = None  # host copy of `count` (no device sync per image)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._filled = None

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The images the critic sees for this batch of new fakes (detached)."""
        x = x.detach()
        if self.size == 0:
            return x
        if self._filled is None:
            self._filled = int(self.count)
        n = len(x)
        coins = torch.rand(n).tolist()
        slots = torch.randint(self.size, (n,)).tolist()
        out = x.clone()
        for i in range(n):
            if self._filled < self.size:
                self.images[self._filled] = x[i]
                self._filled += 1
            elif coins[i] < 0.5:
                out[i] = self.images[slots[i]].to(x.dtype)
                self.images[slots[i]] = x[i]
        self.count.fill_(self._filled)
        return out


class CycleGAN(TranslationGame):
    """Unpaired translation with two generators, two PatchGAN critics and cycle consistency."""

    directions = ("AtoB", "BtoA")

    def __init__(
        self,
        generator_ab: nn.Module,
        generator_ba: nn.Module,
        discriminator_a: nn.Module,
        discriminator_b: nn.Module,
        d_loss: LossFn,
        g_loss: LossFn,
        g_optimizer: OptimizerFactory,
        d_optimizer: OptimizerFactory,
        shape_a: tuple[int, ...],
        shape_b: tuple[int, ...],
        num_classes: int = 0,
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        schedule: Schedule | None = None,
        regularizer: LossFn | None = None,
        reg_weight: float = 0.0,
        critic_weight_clip: float | None = None,
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
        require(
            lambda_cycle >= 0 and lambda_identity >= 0,
            f"model.lambda_cycle and model.lambda_identity must be >= 0, got {lambda_cycle}, {lambda_identity}",
        )
        require(
            lambda_identity == 0 or self.shape_a[0] == self.shape_b[0],
            f"the identity loss compares G(b) with b, so it needs domains with the same channels (A {self.shape_a}, "
            f"B {self.shape_b}): set model.lambda_identity=0",
        )
        self.generator_ab, self.generator_ba = generator_ab, generator_ba
        self.discriminator_a, self.discriminator_b = discriminator_a, discriminator_b
        self.require_penalty_safe_critics(
            "a gradient penalty needs critics without BatchNorm: set model.discriminator_*.norm to instance"
        )
        self.d_loss, self.g_loss = d_loss, g_loss
        self.lambda_cycle, self.lambda_identity = lambda_cycle, lambda_identity
        self.pool_a = ImageHistory(pool_size, self.shape_a)
        self.pool_b = ImageHistory(pool_size, self.shape_b)
        self.add_ema("generator_ab")
        self.add_ema("generator_ba")

    @classmethod
    def network_kwargs(cls, model_cfg: Any, facts: dict[str, Any], num_classes: int) -> dict[str, dict[str, Any]]:
        a, b = tuple(facts["shape_a"]), tuple(facts["shape_b"])
        return {
            "generator_ab": {"in_shape": a, "out_shape": b},
            "generator_ba": {"in_shape": b, "out_shape": a},
            "discriminator_a": {"in_shape": a, "num_classes": 0},
            "discriminator_b": {"in_shape": b, "num_classes": 0},
        }

    def optimized_networks(self) -> dict[str, list[nn.Module]]:
        return {"g": [self.generator_ab, self.generator_ba], "d": [self.discriminator_a, self.discriminator_b]}

    @property
    def sampling_generator(self) -> nn.Module:
        return self.averaged("generator_ab")

    def translator(self, direction: str) -> nn.Module:
        return self.averaged("generator_ab" if direction == "AtoB" else "generator_ba")

    def picture_rows(self) -> list[torch.Tensor]:
        """a, G(a), F(G(a)) then b, F(b), G(F(b)): both translations and both cycles."""
        fake_b = self.translate(self.fixed_a, "AtoB")
        fake_a = self.translate(self.fixed_b, "BtoA")
        return [
            self.fixed_a,
            fake_b,
            self.translate(fake_b, "BtoA"),
            self.fixed_b,
            fake_a,
            self.translate(fake_a, "AtoB"),
        ]

    # ----------------------------------------------------------------------------------- phases
    def prepare(self, batch: Batch, generator_step_follows: bool) -> dict[str, Any]:
        with torch.set_grad_enabled(generator_step_follows):
            return {"fake_b": self.generator_ab(batch["a"]), "fake_a": self.generator_ba(batch["b"])}

    def d_main(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs]:
        a, b = batch["a"], batch["b"]
        fake_b, fake_a = self.pool_b(state["fake_b"]), self.pool_a(state["fake_a"])
        state.update(pooled_a=fake_a, pooled_b=fake_b)
        real_b_out, fake_b_out = self.discriminator_b(b), self.discriminator_b(fake_b)
        real_a_out, fake_a_out = self.discriminator_a(a), self.discriminator_a(fake_a)
        loss_b, loss_a = self.d_loss(real_b_out, fake_b_out), self.d_loss(real_a_out, fake_a_out)
        loss = loss_a + loss_b
        self.watch("the critic loss", loss)
        return loss, {"train/d_loss": loss.detach(), "train/d_a": loss_a.detach(), "train/d_b": loss_b.detach()}

    def d_reg(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs] | None:
        if not self.regularized:
            return None
        return self.penalty(
            [
                (self.discriminator_a, batch["a"], state["pooled_a"], None),
                (self.discriminator_b, batch["b"], state["pooled_b"], None),
            ]
        )

    def critics(self) -> list[nn.Module]:
        return [self.discriminator_a, self.discriminator_b]

    def g_main(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs]:
        adv_b = self.g_loss(self.discriminator_b(state["fake_b"]))
        adv_a = self.g_loss(self.discriminator_a(state["fake_a"]))
        loss = adv_a + adv_b
        self.watch("the generator loss", loss)
        return loss, {"train/g_loss": loss.detach(), "train/g_ab": adv_b.detach(), "train/g_ba": adv_a.detach()}

    def g_reg(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs] | None:
        a, b = batch["a"], batch["b"]
        cycle = cycle_loss(a, self.generator_ba(state["fake_b"])) + cycle_loss(b, self.generator_ab(state["fake_a"]))
        loss, logs = self.lambda_cycle * cycle, {"train/cycle": cycle.detach()}
        if self.lambda_identity > 0:
            identity = cycle_loss(b, self.generator_ab(b)) + cycle_loss(a, self.generator_ba(a))
            loss = loss + self.lambda_identity * self.lambda_cycle * identity
            logs["train/identity"] = identity.detach()
        self.watch("the cycle/identity terms", loss)
        return loss, logs


def cycle_loss(x: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    """Mean absolute error |x - reconstructed|_1 (the cycle and identity terms), in fp32."""
    return F.l1_loss(reconstructed.float(), x.float())
