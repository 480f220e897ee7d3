"""What the image-to-image games (models/pix2pix.py, models/cyclegan.py) share on top of the adversarial base.

* `translate(x, direction)`: the sampling interface of these games (used by `gan-zoo translate` and the
  translation metrics), in eval mode from the EMA generators when there are any; `generate` (noise ->
  image) does not apply and says so;
* fixed held-out inputs (`fixed_a`, `fixed_b`, buffers filled from the data's held-out split at fit
  start) for the per-validation picture of input | output (| target) rows;
* the paper's linear learning-rate decay (`lr_decay_start`, the base's), on by default in CycleGAN.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from gan_zoo.data.images import to_float_images
from gan_zoo.errors import ConfigError, require
from gan_zoo.models.base import AdversarialModule, OptimizerFactory, eval_mode
from gan_zoo.models.contract import Capabilities

DIRECTIONS = ("AtoB", "BtoA")


def spread(n: int, k: int) -> torch.Tensor:
    """k indices evenly spaced over range(n) (repeating when k > n): a picture that shows every class."""
    return torch.linspace(0, max(n - 1, 0), k).round().long()


def matched_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Float images with `channels` channels for side-by-side pictures (grey repeated to RGB)."""
    return x if x.shape[1] == channels else x.expand(-1, channels, -1, -1)


class TranslationGame(AdversarialModule):
    """Base of games whose generator input is an image (batches are dicts with "a" and "b")."""

    CAPABILITIES = Capabilities(noise=False, images_to_images=True)
    directions: tuple[str, ...] = ("AtoB",)

    def __init__(
        self,
        optimizers: dict[str, OptimizerFactory],
        shape_a: tuple[int, ...],
        shape_b: tuple[int, ...],
        **base: Any,
    ) -> None:
        super().__init__(optimizers, **base)
        self.shape_a, self.shape_b = tuple(shape_a), tuple(shape_b)
        num_grid = self.schedule_options.num_grid
        self.register_buffer("fixed_a", torch.zeros(num_grid, *self.shape_a))
        self.register_buffer("fixed_b", torch.zeros(num_grid, *self.shape_b))

    @classmethod
    def data_kwargs(cls, facts: dict[str, Any]) -> dict[str, Any]:
        """Constructor arguments taken from the data: both sides' shapes."""
        require(
            facts.get("kind") in ("paired", "unpaired"),
            f"{cls.__name__} translates images and needs paired or unpaired image data, got {facts.get('kind')} "
            f"data ({facts.get('dataset_id')}); use data=edges_mnist, photos, paired_folder, digits2mnist or "
            f"unpaired_folder",
        )
        return {"shape_a": tuple(facts["shape_a"]), "shape_b": tuple(facts["shape_b"])}

    # ----------------------------------------------------------------------------------- what a game provides
    def translator(self, direction: str) -> nn.Module:
        """The (EMA when there is one) generator for a direction."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------------- sampling
    def check_direction(self, direction: str) -> None:
        require(direction in DIRECTIONS, f"direction must be AtoB or BtoA, got {direction!r}")
        require(
            direction in self.directions,
            f"this {type(self).__name__} model translates {'/'.join(self.directions)} only; to go the other way "
            "train one with data.direction=BtoA",
        )

    def inference_mode_for(self, net: nn.Module) -> Any:
        """The context translations run in: eval mode (BatchNorm running statistics, no dropout)."""
        return eval_mode(net)

    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str = "AtoB", batch_size: int = 256) -> torch.Tensor:
        """Float images in [-1, 1] of the source domain -> the target domain, in chunks, autocast off."""
        self.check_direction(direction)
        net = self.translator(direction)
        x = x.to(self.device)
        with self.inference_mode_for(net), torch.autocast(self.device.type, enabled=False):
            return torch.cat([net(x[i : i + batch_size].float()) for i in range(0, len(x), batch_size)])

    def generate(
        self,
        n: int,
        seed: int | None = None,
        batch_size: int = 500,
        start: int = 0,
        stop: int | None = None,
        **conditions: Any,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise ConfigError(
            f"{type(self).__name__} translates images, it does not sample noise: use `gan-zoo translate "
            "checkpoint=RUN out=FILE.npz` (sample/evaluate take noise-to-image checkpoints)"
        )

    @property
    def grid_columns(self) -> int:
        """One held-out example per column in the validation picture."""
        return len(self.fixed_a)

    def sample_fixed(self) -> torch.Tensor:
        """Rows of the validation picture: input, output, target (paired) or the cycle (unpaired)."""
        rows = self.picture_rows()
        c = max(r.shape[1] for r in rows)
        return torch.cat([matched_channels(r.float(), c) for r in rows])

    def picture_rows(self) -> list[torch.Tensor]:
        raise NotImplementedError

    # ----------------------------------------------------------------------------------- fit-time plumbing
    def setup(self, stage: str) -> None:
        """Fixed held-out inputs for the picture; a checkpoint loaded afterwards restores its own."""
        dm = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        if dm is None or stage != "fit":
            return
        dm.setup(stage)
        k = len(self.fixed_a)
        held = getattr(dm.val_set, "tensors", None)
        held = held if isinstance(held, dict) else {}
        if "a" in held:
            self.fixed_a.copy_(to_float_images(held["a"][spread(len(held["a"]), k)]))
        if "b" in held:  # paired: the targets of the same inputs
            self.fixed_b.copy_(to_float_images(held["b"][spread(len(held["b"]), k)]))
        elif hasattr(dm, "held_out"):  # unpaired: B's own held-out images
            b = dm.held_out("B")[0]
            self.fixed_b.copy_(to_float_images(b[spread(len(b), k)]))
