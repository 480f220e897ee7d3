"""The game contract: what a game can do, declared by the game and checked in one place.

Every game class declares `CAPABILITIES` (a frozen `Capabilities`); an instance's `capabilities` refines it with
what depends on its data (a conditional NoiseGAN accepts labels only when built with classes). The commands
(`sample`, `evaluate`, `analyse`, `translate`) and the build ask `capabilities_of(game)` or call
`require_capability`, never probe attributes, so a new game is one module that declares what it does.
Whether a noise game makes points or images is a property of its data, not of the game: the samples' rank says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from gan_zoo.errors import ConfigError, require

Truncation = Literal["z", "w"]


@dataclass(frozen=True)
class Capabilities:
    """What a game can do; every field defaults to the plainest game (noise in, no conditions, adversarial)."""

    noise: bool = True  # samples come from a latent prior: `noise`, `synthesize_in_chunks`, `generate`
    labels: bool = False  # `generate(label=K)` picks a class of the data
    codes: bool = False  # learnt categorical + continuous codes (`code_categories`, `code_continuous`)
    w_space: bool = False  # per-layer styles: `sampling_styles`, `images_from_styles`, `set_noise_mode`
    images_to_images: bool = False  # `translate(images, direction)`; built from paired or unpaired data
    adversarial_loss: bool = True  # built with the `loss` group's d_loss/g_loss
    truncation: Truncation | None = None  # "z": |z_i| <= threshold, resampled (`truncation`); "w": `psi` in w
    encoder: bool = False  # an amortised inverse of the generator: `encode(images)` gives the posterior mean z

    @property
    def conditioning(self) -> Literal["labels", "codes"] | None:
        """The condition a game's samples carry for scoring: class labels, InfoGAN codes, or none."""
        return "codes" if self.codes else "labels" if self.labels else None


def capabilities_of(game: Any) -> Capabilities:
    """A game class's declared capabilities, or an instance's (refined by its data)."""
    if isinstance(game, type):
        return game.CAPABILITIES
    return game.capabilities


def require_capability(game: Any, name: str, message: str) -> None:
    """Exit 2 with `message` (the problem and its fix) when `game` lacks capability `name`."""
    require(bool(getattr(capabilities_of(game), name)), message)


# One user-facing name per meaning of truncation: `truncation` (a threshold T on |z_i|, z resampled beyond it),
# `psi` (w -> w_avg + psi (w - w_avg)) with `psi_cutoff` (only the first style layers); analyse's value lists
# `thresholds` and `psis`. Each key's space, and its counterpart in the other space (None: it has none).
TRUNCATION_KEYS: dict[str, tuple[Truncation, str | None]] = {
    "truncation": ("z", "psi"),
    "thresholds": ("z", "psis"),
    "psi": ("w", "truncation"),
    "psis": ("w", "thresholds"),
    "psi_cutoff": ("w", None),
}
_MEANING = {"z": "z resampled until every |z_i| <= the threshold", "w": "w moved towards the mean w by psi"}


def check_truncation_keys(game: Any, given: Iterable[str], prefix: str = "") -> None:
    """Exit 2 when a truncation key in `given` is not the one this game's truncation takes, naming the right key."""
    space = capabilities_of(game).truncation
    name = game.__name__ if isinstance(game, type) else type(game).__name__
    for key in given:
        key_space, other = TRUNCATION_KEYS[key]
        if key_space == space:
            continue
        if space is None:
            raise ConfigError(
                f"{prefix}{key}= truncates the latent, but {name} has no truncation (its noise is used as drawn): "
                f"drop {prefix}{key}="
            )
        fix = f"use {prefix}{other}= instead" if other else f"drop {prefix}{key}="
        raise ConfigError(
            f"{prefix}{key}= means {_MEANING[key_space]}, but {name} truncates "
            f"{'in w' if space == 'w' else 'z'} ({_MEANING[space]}): {fix}"
        )
