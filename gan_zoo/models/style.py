"""The style-based game (Karras et al. 2019; docs/references.md §9): NoiseGAN's phases with progressive growing,
style mixing and truncation in w.

What this game changes and where
--------------------------------
* Growth: `GrowthSchedule` maps the generator step to (level, alpha): 4 * 2**level px, alpha the fade-in
  of that level's block. It is a pure function of the step counter the base checkpoints, so a run stopped
  mid-fade resumes exactly, with no callback state to restore. The phases read it (`growth`): real
  images are average-pooled to the level's size and faded like the fakes (ProGAN, sec. 3), the critic
  and generator are called at (level, alpha), and each level trains on the first `batch_sizes[level]`
  images of the loader's batch (the loader serves the largest; the data sit in memory, so the cut costs
  nothing but the unused rows).
* Style mixing (Gmain and Dmain's fakes): with probability `style_mixing_prob` a sample takes the styles
  of a second z from a random crossover layer on (drawn per sample, on the device: no host sync).
* Sampling (`synthesize`, used by sample/evaluate/analyse): eval mode, truncation in w (`psi`: towards the
  running mean w, at layers < `psi_cutoff`; z is never truncated here), output upsampled to the data's size while
  training is below it, and clamped to the data range [-1, 1].
* Noise maps when sampling (`noise_mode`): "random" (the default) gives every sample its own per-pixel noise,
  drawn from a per-sample seed that `generate` draws from the sampling seed after z (`noise_seeds`, a
  condition, so chunks are slices and `gan-zoo sample` writes the seeds): the distribution the critic was
  trained against, and what StyleGAN2-ADA's metrics sample (its `noise_mode='random'`). "const" shares the
  generator's one fixed map among all samples (the reference code's `noise_mode='const'`, for pictures):
  every sample then carries the same noise realisation, so the scored samples are not independent draws of
  what the generator makes. (On stylegan_mnist the learned noise scales stay small and both modes score the
  same: experiments/stylegan_mnist.) Grids made from explicit styles (mixing, interpolation,
  steering) keep the fixed map, so a row varies with z or w alone.
The base owns everything else (schedule, updates, EMA: here G_ema also receives w_avg, a buffer).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_zoo.errors import require
from gan_zoo.models.base import Batch, Logs, eval_mode
from gan_zoo.models.contract import Capabilities
from gan_zoo.models.noise import NoiseGAN
from gan_zoo.networks.style import StyleDiscriminator, StyleGenerator

NOISE_MODES = ("random", "const")


class GrowthSchedule:
    """(level, alpha) at a generator step: level 0 (4 px) for stable_steps[0] steps, then fade level 1 in
    over fade_steps[0] steps (alpha 0 -> 1 linearly), hold it for stable_steps[1], ... The last level
    lasts for the rest of training. `growth: null` in the config trains at the final level from step 0."""

    def __init__(
        self,
        levels: int,
        stable_steps: Sequence[int] | None = None,
        fade_steps: Sequence[int] | None = None,
        batch_sizes: Sequence[int] | None = None,
    ) -> None:
        need = levels - 1
        stable, fade = list(stable_steps or []), list(fade_steps or [])
        self.levels = levels
        self.grows = bool(stable or fade)
        if self.grows:
            require(
                len(stable) >= need and len(fade) >= need,
                f"model.growth needs {need} stable_steps and {need} fade_steps for {4 * 2**need} px data (levels "
                f"4 to {4 * 2**need} px; the last level runs to the end of training), got {stable} and {fade}",
            )
            require(
                all(int(s) >= 0 for s in stable[:need]) and all(int(f) >= 1 for f in fade[:need]),
                f"model.growth: stable_steps must be >= 0 and fade_steps >= 1, got {stable} and {fade}",
            )
        self.stable, self.fade = [int(s) for s in stable[:need]], [int(f) for f in fade[:need]]
        sizes = list(batch_sizes or [])
        require(
            not sizes or len(sizes) >= levels,
            f"model.growth.batch_sizes needs one batch size per level ({levels}: 4 to {4 * 2**need} px), got {sizes}",
        )
        require(all(int(b) >= 1 for b in sizes), f"model.growth.batch_sizes must be >= 1, got {sizes}")
        self.batch_sizes = [int(b) for b in sizes[:levels]] or None

    def at(self, g_step: int) -> tuple[int, float]:
        """(level, alpha) in effect for generator step `g_step` (0-based: the step about to be taken)."""
        if not self.grows:
            return self.levels - 1, 1.0
        t = int(g_step)
        for lv in range(self.levels - 1):
            if t < self.stable[lv]:
                return lv, 1.0
            t -= self.stable[lv]
            if t < self.fade[lv]:
                return lv + 1, t / self.fade[lv]
            t -= self.fade[lv]
        return self.levels - 1, 1.0

    def batch_size(self, level: int) -> int | None:
        """Images per step at a level (None: the loader's batch)."""
        return self.batch_sizes[level] if self.batch_sizes else None

    def last_growth_step(self) -> int:
        """The generator step from which the final level is fully faded in."""
        return sum(self.stable) + sum(self.fade)


class StyleGAN(NoiseGAN):
    """NoiseGAN with a style-based generator (StyleGenerator) and a progressive critic (StyleDiscriminator)."""

    CAPABILITIES = Capabilities(w_space=True, truncation="w")

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        latent_dim: int,
        growth: dict[str, Any] | None = None,
        style_mixing_prob: float = 0.9,
        psi: float | None = None,
        psi_cutoff: int | None = None,
        noise_mode: str = "random",
        **kwargs: Any,
    ) -> None:
        require(kwargs.get("num_classes", 0) == 0, "the style-based game is unconditional: set model.conditional=false")
        require(kwargs.get("pack", 1) == 1, "the style-based game reads one sample per critic input: set model.pack=1")
        require(
            isinstance(generator, StyleGenerator),
            "model=stylegan needs the style-based generator (gan_zoo.networks.style.StyleGenerator)",
        )
        require(
            isinstance(discriminator, StyleDiscriminator) and discriminator.levels == generator.levels,
            "model=stylegan needs the progressive discriminator (gan_zoo.networks.style.StyleDiscriminator) "
            "for the generator's resolution",
        )
        require(
            0.0 <= style_mixing_prob <= 1.0, f"model.style_mixing_prob must be in [0, 1], got {style_mixing_prob!r}"
        )
        super().__init__(generator, discriminator, latent_dim=latent_dim, **kwargs)
        self.set_psi(psi, psi_cutoff)
        self.set_noise_mode(noise_mode)
        self.style_mixing_prob = float(style_mixing_prob)
        self.schedule = GrowthSchedule(generator.levels, **(dict(growth) if growth else {}))
        self.resolution = int(generator.out_shape[-1])

    def set_psi(self, psi: float | None, cutoff: int | None = None) -> None:
        """Truncation in w for sampling (`psi=`): w_avg + psi (w - w_avg) at layers < cutoff (None: every layer)."""
        require(psi is None or float(psi) >= 0, f"psi must be >= 0 or null, got {psi!r}")
        n = self.generator.num_layers
        require(
            cutoff is None or 1 <= int(cutoff) <= n,
            f"psi_cutoff must be a style layer count in [1, {n}] or null (all layers), got {cutoff!r}",
        )
        self.psi = None if psi is None else float(psi)
        self.psi_cutoff = None if cutoff is None else int(cutoff)

    def set_noise_mode(self, mode: str) -> None:
        """How samples get their per-pixel noise: "random" (one map per sample, from a seed) or "const" (shared)."""
        require(
            mode in NOISE_MODES,
            f"noise_mode must be one of {list(NOISE_MODES)} (random: each sample its own "
            f"noise maps, as in training; const: one fixed map shared by every sample), got {mode!r}",
        )
        self.noise_mode = mode

    # ----------------------------------------------------------------------------------- growth
    @property
    def growth(self) -> tuple[int, float]:
        """(level, alpha) for the current generator step."""
        return self.schedule.at(self.g_steps)

    def on_train_start(self) -> None:
        super().on_train_start()
        dm = getattr(self.trainer, "datamodule", None)
        sizes = self.schedule.batch_sizes
        if sizes and getattr(dm, "batch_size", None) is not None:
            require(
                int(dm.batch_size) >= max(sizes),
                f"model.growth.batch_sizes goes up to {max(sizes)} images per step "
                f"but data.batch_size is {dm.batch_size}: set data.batch_size={max(sizes)} (the loader serves the "
                "largest batch; each level uses its first batch_sizes[level] images)",
            )

    def real_at(self, x: torch.Tensor, level: int, alpha: float) -> torch.Tensor:
        """Real images at the level's size, faded like the fakes: lerp(upsampled half-size, full-size, alpha)."""
        size = 4 * 2**level
        if x.shape[-1] != size:
            x = F.avg_pool2d(x, x.shape[-1] // size)
        if alpha < 1.0 and level > 0:
            low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
            x = torch.lerp(low, x, alpha)
        return x

    # ----------------------------------------------------------------------------------- phases
    def split_batch(self, batch: Batch) -> tuple[torch.Tensor, None]:
        """The level's share of the batch, at the level's resolution; labels are not used."""
        x = batch[0]
        level, alpha = self.growth
        bs = self.schedule.batch_size(level)
        return self.real_at(x[:bs] if bs else x, level, alpha), None

    def _critic_at(self, x: torch.Tensor, y: torch.Tensor | None, level: int, alpha: float) -> torch.Tensor:
        return self.discriminator(self.augment_critic_input(x), None, level, alpha)

    def critic(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        level, alpha = self.growth
        return self._critic_at(x, y, level, alpha)

    def mixed_styles(self, net: nn.Module, z: torch.Tensor, level: int) -> torch.Tensor:
        """Per-layer styles of a training batch: w = mapping(z) everywhere; with probability style_mixing_prob a
        sample takes w2 = mapping(z2) from a crossover layer drawn uniformly in [1, active layers)."""
        ws = net.broadcast(net.mapping(z))
        active = net.layers_at(level)
        if self.style_mixing_prob <= 0 or active < 2:
            return ws
        n = len(z)
        w2 = net.mapping(self.noise(n))
        cut = torch.randint(1, active, (n, 1), device=z.device)
        cut = torch.where(
            torch.rand(n, 1, device=z.device) < self.style_mixing_prob, cut, torch.full_like(cut, net.num_layers)
        )
        layer = torch.arange(net.num_layers, device=z.device).view(1, -1)
        return torch.where((layer >= cut).unsqueeze(-1), w2.unsqueeze(1), ws)

    def fake_batch(self, n: int, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        level, alpha = self.growth
        ws = self.mixed_styles(self.generator, self.noise(n), level)
        return self.generator.synthesis(ws, level, alpha), {}

    def d_reg(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs] | None:
        """The regulariser (R1 on the reals, or a gradient penalty) through the critic at this step's level."""
        if not self.regularized:
            return None
        level, alpha = self.growth
        return self.penalty([(partial(self._critic_at, level=level, alpha=alpha), state["real"], state["fake"], None)])

    def g_main(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs]:
        loss, logs = super().g_main(batch, state)
        level, alpha = self.growth
        logs.update({"train/resolution": torch.tensor(4.0 * 2**level), "train/alpha": torch.tensor(float(alpha))})
        return loss, logs

    # ----------------------------------------------------------------------------------- sampling
    def eval_noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Plain z: this game truncates in w (synthesize), not z."""
        return self.noise(n, generator)

    def conditions(self, n: int, generator: torch.Generator, **given: Any) -> dict[str, torch.Tensor]:
        """No labels; with noise_mode "random", one noise seed per sample, drawn after z from the sampling seed."""
        conds = super().conditions(n, generator, **given)
        if self.noise_mode == "random":
            conds["noise_seeds"] = torch.randint(0, 2**62, (n,), generator=generator, device=generator.device)
        return conds

    def fixed_conditions(self) -> dict[str, torch.Tensor]:
        """The grid's noise seeds (from eval_seed), so the grid shows samples as the metrics draw them."""
        if self.noise_mode != "random":
            return {}
        g = torch.Generator().manual_seed(self.eval_seed)
        return {"noise_seeds": torch.randint(0, 2**62, (len(self.fixed_z),), generator=g).to(self.device)}

    def finish(self, img: torch.Tensor) -> torch.Tensor:
        """Samples at the data's size (nearest upsampling while training is below it), clamped to [-1, 1]."""
        if img.shape[-1] != self.resolution:
            img = F.interpolate(img, size=self.resolution, mode="nearest")
        return img.clamp(-1.0, 1.0)

    def styles(self, net: nn.Module, z: torch.Tensor) -> torch.Tensor:
        """Sampling styles [N, num_layers, w_dim] of z: mapping, then truncation when set."""
        ws = net.broadcast(net.mapping(z))
        if self.psi is not None:
            ws = net.truncate(ws, self.psi, self.psi_cutoff)
        return ws

    def synthesize(self, net: nn.Module, z: torch.Tensor, conds: dict[str, torch.Tensor]) -> torch.Tensor:
        """One sampling forward: z -> (truncated) w -> images at the current level, finished to the data size."""
        seeds = conds.get("noise_seeds")
        return self.synthesize_styles(net, self.styles(net, z), None if seeds is None else net.noise_maps(seeds))

    def synthesize_styles(
        self, net: nn.Module, ws: torch.Tensor, noise: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Per-layer styles -> finished images at the current level (the entry point of style mixing grids);
        noise: per-layer maps (`noise_maps`), None for the generator's fixed maps in eval."""
        level, alpha = self.growth
        return self.finish(net.synthesis(ws, level, alpha, noise))

    @torch.no_grad()
    def sampling_styles(self, z: torch.Tensor) -> torch.Tensor:
        """Styles of z from the sampling generator in eval mode (truncated when set)."""
        net = self.sampling_generator
        with eval_mode(net):
            return self.styles(net, z)

    @torch.no_grad()
    def images_from_styles(self, ws: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """The sampling generator on explicit per-layer styles, in chunks, eval mode, autocast off."""
        net = self.sampling_generator
        with eval_mode(net), torch.autocast(self.device.type, enabled=False):
            return torch.cat(
                [self.synthesize_styles(net, ws[i : i + batch_size]) for i in range(0, len(ws), batch_size)]
            )
