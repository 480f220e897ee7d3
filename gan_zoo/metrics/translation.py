"""Held-out metrics of image-to-image games, each beside the trivial baselines it has to beat.

Paired (pix2pix): L1, PSNR and SSIM (torchmetrics) of G(input) against the ground truth, on pixel values
scaled to [0, 1], next to the same numbers for two baselines that need no training: `identity` (the input
itself, grey repeated to RGB or RGB to luma when the channels differ) and `mean_target` (the per-pixel mean
of the training targets). `val/l1_vs_baseline` is the model's L1 over the better baseline's (< 1: better).

Unpaired (CycleGAN): FID of translations against the target domain's held-out images, in the feature
space of a classifier trained on the target domain (the cached domain extractor of gan_zoo.metrics.domain),
and class preservation: how often that classifier gives a translation the class of its source image.
Both next to the `identity` baseline (the untranslated source images scored the same way).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from gan_zoo.data.images import to_float_images
from gan_zoo.data.translation import to_channels
from gan_zoo.metrics.scores import RunningStats, fid


def paired_scores(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """L1, PSNR (mean over images) and SSIM of float images in [-1, 1], measured on the [0, 1] scale."""
    p = ((pred.float() + 1) / 2).clamp(0, 1)
    t = ((target.float() + 1) / 2).clamp(0, 1)
    return {
        "l1": float((p - t).abs().mean()),
        "psnr": float(peak_signal_noise_ratio(p, t, data_range=1.0, dim=(1, 2, 3), reduction="elementwise_mean")),
        "ssim": float(structural_similarity_index_measure(p, t, data_range=1.0)),
    }


class PairedEvaluator(nn.Module):
    """L1 / PSNR / SSIM of translations of the held-out inputs, with the identity and mean-target baselines."""

    monitor, mode = "val/l1", "min"

    def __init__(self, datamodule: Any, num_samples: int | None = None, batch_size: int = 256) -> None:
        super().__init__()
        datamodule.setup("fit")
        held = datamodule.val_set.tensors
        n = len(held["a"]) if num_samples is None else min(num_samples, len(held["a"]))
        self.register_buffer("inputs", held["a"][:n].clone())
        self.register_buffer("targets", held["b"][:n].clone())
        mean = to_float_images(datamodule.train_set.tensors["b"]).mean(0, keepdim=True)
        self.register_buffer("mean_target", mean)
        self.batch_size, self.num = batch_size, n
        self.dataset_id = datamodule.dataset_id
        self._baselines: dict[str, float] | None = None

    def baselines(self) -> dict[str, float]:
        """The identity and mean-target scores (computed once; they do not change with training)."""
        if self._baselines is None:
            target = to_float_images(self.targets)
            identity = to_float_images(to_channels(self.inputs, target.shape[1]))
            out = {}
            for name, pred in (("identity", identity), ("mean_target", self.mean_target.expand_as(target))):
                out.update({f"val/{k}_{name}": v for k, v in paired_scores(pred, target).items()})
            self._baselines = out
        return self._baselines

    @torch.no_grad()
    def compute(self, gan: Any) -> dict[str, float]:
        pred = gan.translate(to_float_images(self.inputs), "AtoB", batch_size=self.batch_size)
        values = {f"val/{k}": v for k, v in paired_scores(pred, to_float_images(self.targets)).items()}
        base = self.baselines()
        values.update(base)
        values["val/l1_vs_baseline"] = values["val/l1"] / max(
            min(base["val/l1_identity"], base["val/l1_mean_target"]), 1e-12
        )
        return values

    def protocol(self) -> dict[str, Any]:
        return {
            "metric": "paired translation: L1, PSNR, SSIM on [0, 1] pixels (torchmetrics, SSIM gaussian 11x11)",
            "dataset_id": self.dataset_id,
            "num_pairs": self.num,
            "split": "held-out pairs",
            "baselines": {
                "identity": "the input (channels matched)",
                "mean_target": "per-pixel mean of training targets",
            },
            "l1_vs_baseline": "model L1 / min(identity L1, mean-target L1)",
        }


class UnpairedEvaluator(nn.Module):
    """FID and class preservation of held-out translations, in the target domain's classifier features."""

    monitor, mode = "val/fid_ab", "min"

    def __init__(
        self, datamodule: Any, classifiers: dict[str, Any], num_samples: int | None = None, batch_size: int = 256
    ) -> None:
        super().__init__()
        datamodule.setup("fit")
        self.batch_size = batch_size
        self.dataset_id = datamodule.dataset_id
        self.classifiers = nn.ModuleDict(classifiers)  # {"A": extractor of domain A, "B": ...}: target-domain judges
        self.counts: dict[str, int] = {}
        for side in ("A", "B"):
            x, y = datamodule.held_out(side)
            n = len(x) if num_samples is None else min(num_samples, len(x))
            self.register_buffer(f"images_{side}", x[:n].clone())
            self.register_buffer(f"labels_{side}", y[:n].clone())
            self.counts[side] = n
        self._real: dict[str, RunningStats] = {}
        self._baselines: dict[str, float] | None = None

    def directions(self) -> list[tuple[str, str, str]]:
        """(name, source, target) for every direction whose target domain has a classifier."""
        return [(name, src, dst) for name, src, dst in (("ab", "A", "B"), ("ba", "B", "A")) if dst in self.classifiers]

    def _features(self, judge: str, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats, logits = [], []
        for i in range(0, len(images), self.batch_size):
            f, lg = self.classifiers[judge](images[i : i + self.batch_size])
            feats.append(f)
            logits.append(lg)
        return torch.cat(feats), torch.cat(logits)

    def _score(self, name: str, src: str, dst: str, images: torch.Tensor) -> dict[str, float]:
        if dst not in self._real:
            self._real[dst] = RunningStats.of(self._features(dst, getattr(self, f"images_{dst}"))[0].double().cpu())
        feats, logits = self._features(dst, images)
        out = {f"fid_{name}": fid(RunningStats.of(feats.double().cpu()), self._real[dst])}
        labels = getattr(self, f"labels_{src}")
        if labels.min() >= 0 and logits.shape[1] > int(labels.max()):
            out[f"class_kept_{name}"] = float((logits.argmax(1) == labels).float().mean())
        return out

    def baselines(self) -> dict[str, float]:
        if self._baselines is None:
            out = {}
            for name, src, dst in self.directions():
                x = getattr(self, f"images_{src}")
                c = getattr(self, f"images_{dst}").shape[1]
                out.update({f"val/{k}_identity": v for k, v in self._score(name, src, dst, to_channels(x, c)).items()})
            self._baselines = out
        return self._baselines

    @torch.no_grad()
    def compute(self, gan: Any) -> dict[str, float]:
        values: dict[str, float] = {}
        for name, src, dst in self.directions():
            fake = gan.translate(
                to_float_images(getattr(self, f"images_{src}")), f"{src}to{dst}", batch_size=self.batch_size
            )
            values.update({f"val/{k}": v for k, v in self._score(name, src, dst, fake).items()})
        values.update(self.baselines())
        return values

    def protocol(self) -> dict[str, Any]:
        return {
            "metric": "unpaired translation: FID and class preservation in the target domain's classifier "
            "features (penultimate layer / argmax)",
            "dataset_id": self.dataset_id,
            "held_out": self.counts,
            "judges": {k: v.protocol() for k, v in self.classifiers.items()},
            "baselines": {"identity": "the untranslated source images, scored the same way"},
        }
