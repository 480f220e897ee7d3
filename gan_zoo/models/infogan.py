"""InfoGAN (Chen et al. 2016; docs/references.md §7): latent codes c beside z, and a Q head on D's body.

The game over NoiseGAN's: G reads concat(z, one_hot(c_cat), c_cont); Q (a head on the discriminator's
body features) predicts c from G(z, c). The mutual-information term L_I (as a code NLL, losses/info.py)
is minimised by both players that the paper names:
  * Dmain: D's adversarial loss + lambda * NLL of Q on detached fakes: Q's head and D's shared body learn
    to read the codes (D's optimizer steps D and Q);
  * Greg: lambda * NLL of Q on G's fakes with D and Q frozen: G learns to make the codes readable.
Sampling returns the categorical code of each sample as `codes`; evaluators score how well it aligns
with the digit class under the best permutation (`code_accuracy`).

`q_augment` (off by default, images only): Q reads the codes from a randomly rotated, scaled and shifted copy of
each fake (one differentiable affine warp per sample), in both phases, while D's adversarial loss sees the fakes
as they are. A code that must survive small affine changes cannot be carried by slant, size or position, the
style factors a 10-way code otherwise takes; the idea is IIC's (Ji et al. 2019: cluster assignments invariant
to augmentations), applied to the mutual-information term.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_zoo.augment import random_affine
from gan_zoo.errors import ConfigError, require
from gan_zoo.losses.info import categorical_mi_lower_bound, iic_mutual_information, info_nll
from gan_zoo.models.base import Batch, Logs, eval_mode
from gan_zoo.models.contract import Capabilities
from gan_zoo.models.noise import NoiseGAN
from gan_zoo.networks.infogan import QHead


class InfoGAN(NoiseGAN):
    """NoiseGAN with a categorical code (`code_categories`) and continuous codes (`code_continuous`, U(-1, 1))."""

    # sample() reports codes, not labels: evaluators align them with classes by the best permutation
    CAPABILITIES = Capabilities(codes=True, truncation="z")
    SUPPORTS_ADA = False  # its phases call the critic's body directly, past the augmentation pipeline

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        latent_dim: int,
        code_categories: int = 10,
        code_continuous: int = 2,
        lambda_cat: float = 1.0,
        lambda_cont: float = 0.1,
        q_hidden: int = 128,
        q_augment: float = 0.0,
        lambda_iic: float = 0.0,
        **kwargs: Any,
    ) -> None:
        require(kwargs.get("num_classes", 0) == 0, "InfoGAN learns its own codes: set model.conditional=false")
        require(kwargs.get("pack", 1) == 1, "InfoGAN reads one sample per critic input: set model.pack=1")
        require(
            not kwargs.get("augment"),
            "InfoGAN's critic shares its body with Q, and its phases call it directly: "
            "model.augment is not applied there; set model.augment=null (model.q_augment warps Q's inputs)",
        )
        require(
            isinstance(code_categories, int) and code_categories >= 2,
            f"model.code_categories must be an integer >= 2, got {code_categories!r}",
        )
        require(
            isinstance(code_continuous, int) and code_continuous >= 0,
            f"model.code_continuous must be an integer >= 0, got {code_continuous!r}",
        )
        require(
            all(callable(getattr(discriminator, a, None)) for a in ("features", "head")),
            "InfoGAN's Q head shares the discriminator's body: use a discriminator with features()/head() "
            "(dcgan or mlp)",
        )
        require(0 <= q_augment <= 3, f"model.q_augment must be in [0, 3], got {q_augment!r}")
        super().__init__(generator, discriminator, latent_dim=latent_dim, **kwargs)
        require(lambda_iic >= 0, f"model.lambda_iic must be >= 0, got {lambda_iic!r}")
        require(
            lambda_iic == 0 or q_augment > 0,
            "model.lambda_iic needs model.q_augment > 0 (the augmentation it is invariant to)",
        )
        self.q_augment, self.lambda_iic = float(q_augment), float(lambda_iic)
        self.code_categories, self.code_continuous = code_categories, code_continuous
        self.lambda_cat, self.lambda_cont = lambda_cat, lambda_cont
        with torch.no_grad(), eval_mode(generator, discriminator):  # one dummy pass sizes Q's input
            z = torch.zeros(2, latent_dim + code_categories + code_continuous)
            feats = discriminator.features(generator(z, None))
        self.q_head = QHead(feats[0].numel(), code_categories, code_continuous, hidden=q_hidden)
        # Fixed grid: one z per row, the categorical code along the row, continuous codes at 0.
        rows = max(1, self.schedule_options.num_grid // code_categories)
        self.fixed_z = self.fixed_z[:rows].repeat_interleave(code_categories, dim=0)
        self.fixed_y = torch.arange(len(self.fixed_z)) % code_categories

    @classmethod
    def network_kwargs(cls, model_cfg: Any, facts: dict[str, Any], num_classes: int) -> dict[str, dict[str, Any]]:
        """NoiseGAN's network shapes; q_augment (an image warp) is refused on vector data, where it would do nothing."""
        if float(model_cfg.get("q_augment", 0.0) or 0.0) > 0 and len(facts["shape"]) != 3:
            raise ConfigError(
                f"model.q_augment={model_cfg.q_augment} warps images, but the data's samples have shape "
                f"{list(facts['shape'])}; set model.q_augment=0 (and model.lambda_iic=0)"
            )
        return super().network_kwargs(model_cfg, facts, num_classes)

    @classmethod
    def generator_input_dim(cls, model_cfg: Any) -> int:
        """z, one-hot categorical code and continuous codes, concatenated."""
        return (
            int(model_cfg.latent_dim)
            + int(model_cfg.get("code_categories", 10))
            + int(model_cfg.get("code_continuous", 2))
        )

    @property
    def grid_columns(self) -> int:
        """Sample grids show one categorical code per column."""
        return self.code_categories

    def optimized_networks(self) -> dict[str, list[nn.Module]]:
        """G's optimizer steps G; D's steps D and the Q head (Q shares D's body)."""
        return {"g": [self.generator], "d": [self.discriminator, self.q_head]}

    # ----------------------------------------------------------------------------------- codes and sampling
    def conditions(self, n: int, generator: torch.Generator, **given: Any) -> dict[str, torch.Tensor]:
        """Balanced categorical codes (or all `code=K`) and continuous codes ~ U(-1, 1), the training prior."""
        code = given.get("code")
        require(given.get("label") is None, "InfoGAN is unconditional: use code=K (its categorical code), not label=")
        if code is not None:
            require(
                0 <= int(code) < self.code_categories,
                f"code must be in [0, {self.code_categories - 1}] for this model, got {code}",
            )
            codes = torch.full((n,), int(code), dtype=torch.long, device=self.device)
        else:
            codes = torch.arange(n, device=self.device) % self.code_categories
        cont = torch.rand(n, self.code_continuous, generator=generator, device=self.device) * 2 - 1
        return {"codes": codes, "continuous_codes": cont}

    def random_conditions(self, n: int) -> dict[str, torch.Tensor]:
        """Training codes: c_cat ~ uniform over K, c_cont ~ U(-1, 1)."""
        return {
            "codes": torch.randint(self.code_categories, (n,), device=self.device),
            "continuous_codes": torch.rand(n, self.code_continuous, device=self.device) * 2 - 1,
        }

    def synthesize(self, net: nn.Module, z: torch.Tensor, conds: dict[str, torch.Tensor]) -> torch.Tensor:
        """G(concat(z, one_hot(c_cat), c_cont))."""
        onehot = F.one_hot(conds["codes"], self.code_categories).to(z.dtype)
        return net(torch.cat([z, onehot, conds["continuous_codes"].to(z.dtype)], dim=1), None)

    def fake_batch(self, n: int, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        conds = self.random_conditions(n)
        return self.synthesize(self.generator, self.noise(n), conds), conds

    def fixed_conditions(self) -> dict[str, torch.Tensor]:
        """The categorical code along each row of the grid; continuous codes at 0."""
        return {
            "codes": self.fixed_y,
            "continuous_codes": torch.zeros(len(self.fixed_z), self.code_continuous, device=self.device),
        }

    # ----------------------------------------------------------------------------------- phases
    def q_nll(self, features: torch.Tensor, conds: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(lambda-weighted code NLL, categorical MI lower bound in nats) of Q on body features."""
        logits, mean = self.q_head(features)
        nll = info_nll(logits, conds["codes"], mean, conds["continuous_codes"], self.lambda_cat, self.lambda_cont)
        return nll, categorical_mi_lower_bound(logits.detach(), conds["codes"])

    def q_features(self, fake: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """What Q reads: D's body features of the fakes, or (q_augment > 0) of an affine-warped copy of them."""
        if self.q_augment <= 0:
            return feats
        return self.discriminator.features(random_affine(fake, self.q_augment), None)

    def d_main(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs]:
        x, _ = batch
        with torch.no_grad():
            fake, conds = self.fake_batch(len(x), None)
        state.update(real=x, fake=fake, y=None, conds=conds)
        # Dmain: push D(x) up and D(G(z, c)) down, and train Q (on D's body) to read c from G(z, c).
        real_out = self.discriminator(x, None)
        feats = self.discriminator.features(fake, None)
        fake_out = self.discriminator.head(feats)
        d_adv = self.d_loss(real_out, fake_out)
        q_loss, mi = self.q_nll(self.q_features(fake, feats), conds)
        self.watch("the critic loss", d_adv)
        self.watch("the Q head's code loss", q_loss)
        logs = {
            "train/d_loss": d_adv.detach(),
            "train/d_real": real_out.detach().float().mean(),
            "train/d_fake": fake_out.detach().float().mean(),
            "train/q_loss_d": q_loss.detach(),
            "train/mi_cat_nats": mi,
        }
        loss = d_adv + q_loss
        if self.lambda_iic > 0:
            # Optional (off in the paper's setting): Q's categorical head also clusters the real digits, IIC's way:
            # assignments of x and of an affine-warped x must agree and be balanced. G then makes its codes
            # readable as the data's own clusters (experiments/infogan_mnist).
            both = self.discriminator.features(torch.cat([x, random_affine(x, self.q_augment)]), None)
            probs = self.q_head(both)[0].float().softmax(1)
            iic = iic_mutual_information(*probs.chunk(2))
            loss = loss - self.lambda_iic * iic
            logs["train/iic_nats"] = iic.detach()
        return loss, logs

    def g_main(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs]:
        x, _ = batch
        # Gmain: make D(G(z, c)) look real (D and Q frozen by the update helper).
        fake, conds = self.fake_batch(len(x), None)
        feats = self.discriminator.features(fake, None)
        state.update(features=self.q_features(fake, feats), conds=conds)
        loss = self.g_loss(self.discriminator.head(feats))
        self.watch("the generator loss", loss)
        return loss, {"train/g_loss": loss.detach()}

    def g_reg(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs]:
        # Greg: lambda * NLL of the codes under Q: G makes c recoverable from G(z, c) (maximises L_I).
        q_loss, _ = self.q_nll(state["features"], state["conds"])
        self.watch("the generator's code loss", q_loss)
        return q_loss, {"train/q_loss_g": q_loss.detach()}
