"""The 2D-mixture evaluator (PacGAN protocol). Image evaluation lives in gan_zoo.metrics.suite."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from gan_zoo.metrics.suite import count_tag


def mixture_stats(samples: torch.Tensor, centers: torch.Tensor, std: float, min_share: float = 0.2) -> dict[str, float]:
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

    @torch.no_grad()
    def compute(self, gan: Any) -> dict[str, float]:
        """Sample, score, return."""
        x, _ = gan.sample(self.num_samples)
        stats = mixture_stats(x, self.centers, self.std)
        return {f"val/{k}_{self.tag}": v for k, v in stats.items()}

    def protocol(self) -> dict[str, Any]:
        """What the values above were measured with."""
        return {
            "metric": "mode coverage (PacGAN protocol)",
            "num_samples": self.num_samples,
            "high_quality": "within 3 std of nearest mode",
            "mode_captured": ">= 20% of fair share of HQ samples",
            "std": self.std,
            "num_modes": len(self.centers),
        }
