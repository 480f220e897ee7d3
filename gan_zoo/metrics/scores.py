"""Metric math on extracted features. Every function takes features, not images.

Where torch-fidelity implements a metric we call its feature-level function, so our values are
torch-fidelity's by construction (FID from statistics, KID, Inception Score, precision/recall).
We write our own only where neither torch-fidelity nor torchmetrics has it, or where theirs needs
every feature in memory:

- `RunningStats`: streamed mean/covariance (Chan et al. pairwise merge, float64), so FID needs
  memory independent of the number of samples; torch-fidelity calls `np.cov` on all features.
- `density_coverage` (Naeem et al. 2020): in neither library.
- `nearest_distances` / `memorisation`: nearest-neighbour copy detection, in neither library.
- `intra_fid`: per-class FID, averaged; composition of the FID above.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch_fidelity.metric_fid import fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from gan_zoo.errors import require


class RunningStats:
    """Mean and covariance of a stream of feature batches, merged pairwise in float64.

    Chan, Golub & LeVeque's update: each batch is centred on its own mean before its scatter matrix
    is added, so no large sum of squares cancels (a naive running sum of x x^T loses digits when the
    mean is large relative to the spread). `covariance()` is unbiased (divides by n - 1), like np.cov.
    """

    def __init__(self, dim: int) -> None:
        self.n = 0
        self.mean = torch.zeros(dim, dtype=torch.float64)
        self.m2 = torch.zeros(dim, dim, dtype=torch.float64)

    def update(self, x: torch.Tensor) -> None:
        """Add a batch [B, dim]."""
        x = x.detach().to("cpu", torch.float64)
        b = len(x)
        if b == 0:
            return
        mean_b = x.mean(0)
        xc = x - mean_b
        self.merge_parts(b, mean_b, xc.T @ xc)

    def merge_parts(self, n_b: int, mean_b: torch.Tensor, m2_b: torch.Tensor) -> None:
        """Merge another stream's (count, mean, scatter matrix)."""
        if n_b == 0:
            return
        n = self.n + n_b
        delta = mean_b.double() - self.mean
        self.m2 += m2_b.double() + torch.outer(delta, delta) * (self.n * n_b / n)
        self.mean += delta * (n_b / n)
        self.n = n

    def merge(self, other: RunningStats) -> None:
        """Fold another RunningStats into this one (e.g. another DDP rank's)."""
        self.merge_parts(other.n, other.mean, other.m2)

    def covariance(self) -> torch.Tensor:
        """Unbiased covariance [dim, dim]."""
        require(self.n >= 2, f"a covariance needs at least 2 samples, got {self.n}")
        return self.m2 / (self.n - 1)

    def as_numpy(self) -> dict[str, np.ndarray]:
        """{'mu', 'sigma'} as torch-fidelity's FID functions take them."""
        return {"mu": self.mean.numpy(), "sigma": self.covariance().numpy()}

    def state_dict(self) -> dict[str, Any]:
        """Plain tensors, for caching on disk."""
        return {"n": self.n, "mean": self.mean, "m2": self.m2}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> RunningStats:
        """Inverse of `state_dict`."""
        out = cls(len(state["mean"]))
        out.n, out.mean, out.m2 = int(state["n"]), state["mean"].double(), state["m2"].double()
        return out

    @classmethod
    def of(cls, x: torch.Tensor) -> RunningStats:
        """Statistics of one tensor [N, dim]."""
        out = cls(x.shape[1])
        out.update(x)
        return out


def fid(stats_a: RunningStats, stats_b: RunningStats) -> float:
    """Frechet distance between two Gaussians fitted to features (torch-fidelity's formula)."""
    return float(
        fid_statistics_to_metric(stats_a.as_numpy(), stats_b.as_numpy(), verbose=False)["frechet_inception_distance"]
    )


def kid(
    fake: torch.Tensor, real: torch.Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 2020
) -> dict[str, float]:
    """Kernel Inception Distance (cubic polynomial kernel, unbiased MMD^2 over random subsets).

    torch-fidelity's defaults: 100 subsets of 1,000; the subset size is capped at the smaller sample
    count (the protocol records the size used).
    """
    size = min(subset_size, len(fake), len(real))
    require(size >= 2, f"KID needs at least 2 samples on each side, got {len(fake)} fake and {len(real)} real")
    out = kid_features_to_metric(
        fake.double().cpu(),
        real.double().cpu(),
        kid_subsets=subsets,
        kid_subset_size=size,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
        rng_seed=seed,
        verbose=False,
    )
    return {
        "kid_mean": out["kernel_inception_distance_mean"],
        "kid_std": out["kernel_inception_distance_std"],
        "kid_subset_size": size,
    }


def inception_score(logits: torch.Tensor, splits: int = 10, seed: int = 2020) -> dict[str, float]:
    """exp(E_x KL(p(y|x) || p(y))) over `splits` shuffled chunks (torch-fidelity's implementation)."""
    require(len(logits) >= splits, f"Inception Score with {splits} splits needs at least {splits} samples")
    out = isc_features_to_metric(logits.cpu(), splits=splits, shuffle=True, rng_seed=seed)
    return {"is_mean": out["inception_score_mean"], "is_std": out["inception_score_std"]}


def precision_recall(fake: torch.Tensor, real: torch.Tensor, k: int = 3, batch_size: int = 10000) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k-NN manifolds.

    Precision: fraction of fakes inside some real sample's k-NN ball; recall: fraction of reals inside
    some fake's ball. torch-fidelity's implementation, in its memory-saving (batched) mode.
    """
    require(min(len(fake), len(real)) > k, f"precision/recall with k={k} needs more than {k} samples on each side")
    out = prc_features_to_metric(
        fake.float().cpu(),
        real.float().cpu(),
        prc_neighborhood=k,
        prc_batch_size=batch_size,
        save_cpu_ram=True,
        verbose=False,
    )
    return {"precision": out["precision"], "recall": out["recall"], "f_score": out["f_score"]}


def kth_neighbour_radius(x: torch.Tensor, k: int, batch_size: int = 4096) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row (self excluded)."""
    out = [torch.cdist(chunk, x).kthvalue(k + 1, dim=1).values for chunk in x.split(batch_size)]
    return torch.cat(out)


def density_coverage(fake: torch.Tensor, real: torch.Tensor, k: int = 5, batch_size: int = 4096) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020). Written here: neither torch-fidelity nor torchmetrics has them.

    With B_i the open ball around real sample i of radius its k-th nearest real neighbour distance (strict
    `<`, as the authors' prdc code; torch-fidelity's precision/recall uses `<=`):
    density = (1 / (k M)) sum_j #{i : fake_j in B_i}  (can exceed 1),
    coverage = (1 / N) #{i : some fake_j in B_i}.
    """
    require(len(real) > k and len(fake) >= 1, f"density/coverage with k={k} needs more than {k} real samples")
    real, fake = real.float().cpu(), fake.float().cpu()
    radius = kth_neighbour_radius(real, k, batch_size)  # [N]
    inside_count = torch.zeros(len(fake))
    covered = torch.zeros(len(real), dtype=torch.bool)
    for start in range(0, len(fake), batch_size):
        inside = torch.cdist(fake[start : start + batch_size], real) < radius[None, :]  # [b, N], open ball as in prdc
        inside_count[start : start + batch_size] = inside.sum(1).float()
        covered |= inside.any(0)
    return {"density": float(inside_count.sum() / (k * len(fake))), "coverage": float(covered.float().mean())}


def nearest_distances(
    query: torch.Tensor, reference: torch.Tensor, p: float = 2.0, batch_size: int = 1024
) -> torch.Tensor:
    """Distance from each query row to its nearest reference row (flattened), p=1 (L1) or 2."""
    q, r = query.flatten(1).float().cpu(), reference.flatten(1).float().cpu()
    out = []
    for chunk in q.split(batch_size):
        best = torch.full((len(chunk),), math.inf)
        for ref in r.split(8192):
            best = torch.minimum(best, torch.cdist(chunk, ref, p=p).min(1).values)
        out.append(best)
    return torch.cat(out)


def memorisation(
    fake_to_train: torch.Tensor, heldout_to_train: torch.Tensor, quantile: float = 0.01
) -> dict[str, float]:
    """Compare generated samples' nearest-training distances with held-out real data's.

    Held-out real images were never trained on, so their distance to the closest training image is
    what "new data" looks like. A generator that copies training images has fakes much closer than
    that: `ratio` (median fake / median held-out) well below 1, and `copy_fraction` (fakes closer than
    the held-out `quantile`, about `quantile` for an honest generator) well above `quantile`.
    """
    threshold = torch.quantile(heldout_to_train.double(), quantile)
    med_fake, med_held = fake_to_train.double().median(), heldout_to_train.double().median()
    return {
        "fake_to_train_median": float(med_fake),
        "heldout_to_train_median": float(med_held),
        "ratio": float(med_fake / med_held) if med_held > 0 else math.inf,
        "copy_fraction": float((fake_to_train.double() < threshold).double().mean()),
    }


def intra_fid(
    fake: torch.Tensor, fake_labels: torch.Tensor, real: torch.Tensor, real_labels: torch.Tensor, num_classes: int
) -> dict[str, float]:
    """FID per class (samples asked for class c vs real images of class c), mean and worst over classes."""
    values = []
    for c in range(num_classes):
        f, r = fake[fake_labels == c], real[real_labels == c]
        require(
            len(f) >= 2 and len(r) >= 2,
            f"intra-class FID: class {c} has {len(f)} fake and {len(r)} real samples "
            "(needs >= 2 each); raise the sample count",
        )
        values.append(fid(RunningStats.of(f), RunningStats.of(r)))
    return {"intra_fid_mean": float(np.mean(values)), "intra_fid_max": float(np.max(values))}


def class_coverage(counts: torch.Tensor, num_classes: int, min_share: float = 0.2) -> tuple[int, float]:
    """From per-class prediction counts: classes holding at least `min_share` of their fair share n/K,
    and the smallest share (least frequent class's fraction divided by 1/K; 1.0 = perfectly balanced).
    """
    counts = counts.float()
    fair = counts.sum().item() / num_classes
    return int((counts >= min_share * fair).sum().item()), float((counts.min() / fair).item())


def code_accuracy(codes: torch.Tensor, preds: torch.Tensor, num_classes: int) -> float:
    """Best-permutation accuracy of unsupervised codes against predicted classes (InfoGAN; ours).

    The code->class map is the one-to-one assignment maximising agreement (scipy's Hungarian solver on
    the confusion matrix); with more codes than classes, the unmatched codes count as wrong.
    """
    from scipy.optimize import linear_sum_assignment

    k = max(int(codes.max().item()) + 1, num_classes)
    confusion = torch.zeros(k, k, dtype=torch.long)
    confusion.index_put_(
        (codes.long().cpu(), preds.long().cpu()), torch.ones(len(codes), dtype=torch.long), accumulate=True
    )
    rows, cols = linear_sum_assignment(-confusion.numpy())
    return float(confusion[rows, cols].sum().item() / max(len(codes), 1))
