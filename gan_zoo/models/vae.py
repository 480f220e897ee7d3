"""The VAE baseline (docs/references.md §1): the notebook compares GAN samples with a VAE of similar size.

It is not a game, but it rides on the same base module so it gets everything `train`, `sample` and
`evaluate` rely on (counters, RNG state and config in checkpoints, exact resume, the evaluator hook,
the finite check, `generate`): one update per batch of -ELBO over encoder + decoder. Its decoder is
called `generator`, so sampling and evaluation treat it like any generator: z ~ N(0, I) -> decoder.
Budgets in generator steps count its updates.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from gan_zoo.errors import require
from gan_zoo.losses.vae import negative_elbo
from gan_zoo.models.base import AdversarialModule, Batch, Logs, OptimizerFactory, Schedule, eval_mode
from gan_zoo.models.contract import Capabilities


class VAE(AdversarialModule):
    """Encoder q(z | x), decoder p(x | z) (`generator`); trained on -ELBO = NLL + beta * KL."""

    CAPABILITIES = Capabilities(adversarial_loss=False, encoder=True)  # no truncation: z goes to the decoder as drawn
    prior = "normal"  # z ~ N(0, I), as NoiseGAN's `prior` names it (export.py describes it)
    # no critic: n_critic and the LR decay do not apply (model.n_critic is refused at build time)
    SCHEDULE_OPTIONS = frozenset({"ema_decay", "num_grid", "eval_seed", "finite_check_every"})

    def __init__(
        self,
        generator: nn.Module,
        encoder: nn.Module,
        optimizer: OptimizerFactory,
        latent_dim: int,
        beta: float = 1.0,
        num_classes: int = 0,
        schedule: Schedule | None = None,
    ) -> None:
        super().__init__({"vae": optimizer}, schedule)
        require(num_classes == 0, "the VAE baseline is unconditional: set model.conditional=false")
        require(beta > 0, f"model.beta must be > 0, got {beta!r}")
        self.generator, self.encoder = generator, encoder
        self.latent_dim, self.num_classes, self.beta = latent_dim, 0, beta
        self.add_ema("generator")
        g = torch.Generator().manual_seed(self.eval_seed)
        self.register_buffer("fixed_z", torch.randn(self.schedule_options.num_grid, latent_dim, generator=g))

    @classmethod
    def network_kwargs(cls, model_cfg: Any, facts: dict[str, Any], num_classes: int) -> dict[str, dict[str, Any]]:
        """The decoder (`generator`) makes the data's shape from latent_dim; the encoder reads it."""
        shape = tuple(facts["shape"])
        return {
            "generator": {"latent_dim": int(model_cfg.latent_dim), "out_shape": shape, "num_classes": 0},
            "encoder": {"in_shape": shape, "latent_dim": int(model_cfg.latent_dim)},
        }

    @property
    def optimizer_steps_per_g_step(self) -> int:
        return 1

    def optimized_networks(self) -> dict[str, list[nn.Module]]:
        return {"vae": [self.encoder, self.generator]}

    def training_step(self, batch: Batch, batch_idx: int) -> None:
        x, _ = batch

        def closure() -> tuple[torch.Tensor, Logs]:
            # -ELBO: reconstruct x through z ~ q(z | x) (reparameterised) and keep q close to the prior.
            mu, logvar = self.encoder(x)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            loss, nll, kl = negative_elbo(self.generator(z, None), x, mu, logvar, self.beta)
            self.watch("the negative ELBO", loss)
            return loss, {"train/neg_elbo": loss.detach(), "train/recon_nll": nll.detach(), "train/kl": kl.detach()}

        logs = self.update("vae", closure)
        self.d_steps += 1
        self.g_steps += 1
        self.update_ema()
        self.log_step({**logs, "train/g_step": torch.tensor(float(self.g_steps))}, len(x))

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z from the prior N(0, I): [n, latent_dim] (what `gan-zoo analyse` interpolates and steers)."""
        return torch.randn(n, self.latent_dim, generator=generator, device=self.device)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """The posterior mean E[z | x] of images in [-1, 1] (eval mode, in chunks): where projection starts."""
        with eval_mode(self.encoder):
            return torch.cat([self.encoder(x[i : i + batch_size])[0] for i in range(0, len(x), batch_size)])

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
        """Samples [start, stop) of n: z ~ N(0, I) (all n drawn from the seed) through the decoder, eval mode; and z."""
        require(given.get("label") is None, "label= was given but the VAE is unconditional; drop label=")
        g = torch.Generator(device=self.device)
        g.manual_seed(self.eval_seed if seed is None else seed)
        stop = n if stop is None else stop
        z = torch.randn(n, self.latent_dim, generator=g, device=self.device)[start:stop]
        return self.synthesize_in_chunks(z, {}, batch_size), {"latents": z}
