"""Evaluators the GAN module calls during validation. Each names its protocol in its log keys."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torchmetrics.image.fid import FrechetInceptionDistance

from gan_zoo.data.images import to_float_images
from gan_zoo.errors import require
from gan_zoo.metrics.domain import DomainFeatures


def count_tag(n: int) -> str:
    """2000 -> '2k', 1500 -> '1500': the sample count as it appears in metric names."""
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def class_coverage(counts: torch.Tensor, num_classes: int, min_share: float = 0.2) -> tuple[int, float]:
    """From per-class prediction counts: classes holding at least `min_share` of their fair share n/K,
    and the smallest share (least frequent class's fraction divided by 1/K; 1.0 = perfectly balanced).
    """
    counts = counts.float()
    fair = counts.sum().item() / num_classes
    return int((counts >= min_share * fair).sum().item()), float((counts.min() / fair).item())


class DomainImageEvaluator(nn.Module):
    """FID in a domain classifier's feature space (torchmetrics' FID with `feature=<module>`),
    plus class coverage of the samples as judged by the same classifier.

    Real statistics come from the whole reference split at every evaluation; fakes are `num_fake`
    fresh samples with a fixed seed, generated in eval mode from the EMA generator when there is one.
    """

    def __init__(self, classifier: nn.Module, info: dict, num_fake: int, num_classes: int,
                 batch_size: int = 500, floor_images: torch.Tensor | None = None) -> None:
        super().__init__()
        require(num_fake >= 2, f"metrics.num_fake must be >= 2, got {num_fake}")
        self.classifier = classifier.eval().requires_grad_(False)
        self.fid = FrechetInceptionDistance(feature=DomainFeatures(self.classifier), reset_real_features=True)
        self.info, self.num_fake, self.num_classes, self.batch_size = info, num_fake, num_classes, batch_size
        self.fid_key = f"val/fid_domain_{count_tag(num_fake)}"
        self.monitor, self.mode = self.fid_key, "min"
        # Real-vs-real floor: `num_fake` training images in place of the samples, same protocol.
        self.floor_images = floor_images[:num_fake] if floor_images is not None else None
        self.floor: float | None = None

    def reset(self) -> None:
        """Forget the previous evaluation's statistics."""
        self.fid.reset()

    def update_real(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Add a batch of reference images in [-1, 1]."""
        self.fid.update(x.float(), real=True)

    @torch.no_grad()
    def compute(self, gan: Any) -> dict[str, float]:
        """Generate, score, and return the values keyed by protocol-bearing names."""
        preds, labels = [], []
        world, rank = gan.trainer.world_size if gan._trainer else 1, gan.global_rank if gan._trainer else 0
        # Under DDP each rank draws its share of the chunks; torchmetrics sums the states in compute().
        for chunk, start in enumerate(range(0, self.num_fake, self.batch_size)):
            if chunk % world != rank:
                continue
            n = min(self.batch_size, self.num_fake - start)
            y = (torch.arange(start, start + n, device=gan.device) % self.num_classes) if gan.num_classes else None
            x, _ = gan.sample(n, y=y, seed=gan.eval_seed + start)
            self.fid.update(x.float(), real=False)
            preds.append(self.classifier(x.float()).argmax(1))
            if y is not None:
                labels.append(y)
        counts = torch.bincount(torch.cat(preds), minlength=self.num_classes)
        if world > 1:
            counts = gan.all_gather(counts).sum(0)
        covered, min_share = class_coverage(counts, self.num_classes)
        out = {self.fid_key: float(self.fid.compute()), "val/classes_covered": float(covered),
               "val/min_class_share": min_share}
        if self.floor_images is not None:
            if self.floor is None:
                self.floor = self.real_floor(gan.device)
            out[self.fid_key + "_real_floor"] = self.floor
        if labels:  # conditional: does the sample show the digit it was asked for?
            hits = torch.stack([(torch.cat(preds) == torch.cat(labels)).sum(), torch.tensor(sum(map(len, labels)))])
            if world > 1:
                hits = gan.all_gather(hits.to(gan.device)).sum(0)
            out["val/cond_accuracy"] = float(hits[0] / hits[1])
        return out

    def real_floor(self, device: torch.device) -> float:
        """FID of `num_fake` real training images against the reference split (the best a GAN can expect).

        Uses the real statistics already accumulated this evaluation; the fake statistics are restored.
        """
        saved = {k: getattr(self.fid, k).clone() for k in ("fake_features_sum", "fake_features_cov_sum",
                                                          "fake_features_num_samples")}
        for k, v in saved.items():
            setattr(self.fid, k, torch.zeros_like(v))
        for start in range(0, len(self.floor_images), self.batch_size):
            x = self.floor_images[start:start + self.batch_size].to(device)
            self.fid.update(to_float_images(x) if x.dtype == torch.uint8 else x.float(), real=False)
        value = float(self.fid.compute())
        for k, v in saved.items():
            setattr(self.fid, k, v)
        return value

    def protocol(self) -> dict[str, Any]:
        """What every value above was measured with."""
        return {"metric": self.fid_key, "implementation": "torchmetrics.FrechetInceptionDistance(feature=module)",
                "extractor": self.info, "num_fake": self.num_fake, "num_real": "whole reference split",
                "real_floor": f"{self.fid_key}_real_floor: {self.num_fake} training images vs the reference split",
                "fake_sampling": "eval mode, EMA generator if any, seed eval_seed + offset, balanced labels"}


def mixture_stats(samples: torch.Tensor, centers: torch.Tensor, std: float,
                  min_share: float = 0.2) -> dict[str, float]:
    """Mode-collapse statistics for samples of a Gaussian mixture (PacGAN/VEEGAN protocol).

    A sample is high quality if it lies within 3 std of its nearest centre. A mode is captured if it
    holds at least `min_share` of its fair share n/K of high-quality samples (20 of 2,500 samples
    on 25 modes, the count PacGAN uses to call a mode lost). Reverse KL is KL(p_gen || uniform)
    over the modes, from the high-quality samples' assignments (a small floor avoids log 0).
    """
    d = torch.cdist(samples.float(), centers.float())  # [N, K]
    dist, mode = d.min(dim=1)
    hq = dist <= 3.0 * std
    k = len(centers)
    counts = torch.bincount(mode[hq], minlength=k).float()
    captured = int((counts >= min_share * len(samples) / k).sum().item())
    p = (counts + 1e-10) / (counts.sum() + 1e-10 * k)
    reverse_kl = float((p * (p * k).log()).sum().item()) if counts.sum() > 0 else float("inf")
    return {"modes": float(captured), "hq_fraction": float(hq.float().mean().item()), "reverse_kl": reverse_kl}


class MixtureEvaluator(nn.Module):
    """Modes captured, high-quality fraction and reverse KL of `num_samples` generated 2D points."""

    def __init__(self, centers: torch.Tensor, std: float, num_samples: int = 2500) -> None:
        super().__init__()
        self.register_buffer("centers", centers.float())
        self.std, self.num_samples = std, num_samples
        self.tag = count_tag(num_samples)
        self.monitor, self.mode = f"val/hq_fraction_{self.tag}", "max"

    def reset(self) -> None:
        """Nothing accumulates between evaluations."""

    def update_real(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """The reference is the known mixture; real points are not needed."""

    @torch.no_grad()
    def compute(self, gan: Any) -> dict[str, float]:
        """Sample, score, return."""
        x, _ = gan.sample(self.num_samples)
        stats = mixture_stats(x, self.centers, self.std)
        return {f"val/{k}_{self.tag}": v for k, v in stats.items()}

    def protocol(self) -> dict[str, Any]:
        """What the values above were measured with."""
        return {"metric": "mode coverage (PacGAN protocol)", "num_samples": self.num_samples,
                "high_quality": "within 3 std of nearest mode", "mode_captured": ">= 20% of fair share of HQ samples",
                "std": self.std, "num_modes": len(self.centers)}
