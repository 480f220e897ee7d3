"""Metric math against references: scipy FID, torch-fidelity end to end, hand-computed point sets."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from gan_zoo.metrics import scores
from gan_zoo.metrics.scores import RunningStats


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The FID formula of Heusel et al. with scipy's matrix square root (the TTUR reference code)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)  # `disp=False` (a tuple return) is deprecated in SciPy 1.16 and removed later
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def test_running_stats_match_numpy_even_with_a_large_mean():
    g = torch.Generator().manual_seed(0)
    x = 1e4 + torch.randn(1037, 5, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2, 3, 0.5, 0.1])
    s = RunningStats(5)
    for chunk in x.split(100):  # uneven last chunk
        s.update(chunk)
    assert s.n == 1037
    np.testing.assert_allclose(s.mean.numpy(), x.numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(s.covariance().numpy(), np.cov(x.numpy(), rowvar=False), rtol=1e-9, atol=1e-12)
    # merging two streams equals one stream
    a, b = RunningStats.of(x[:300]), RunningStats.of(x[300:])
    a.merge(b)
    np.testing.assert_allclose(a.covariance().numpy(), s.covariance().numpy(), rtol=1e-9, atol=1e-12)


def test_fid_matches_scipy_reference():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(2000, 16, generator=g, dtype=torch.float64)
    b = 0.3 + torch.randn(1500, 16, generator=g, dtype=torch.float64) @ (
        torch.eye(16) + 0.2 * torch.randn(16, 16, generator=g, dtype=torch.float64)
    )
    ours = scores.fid(RunningStats.of(a), RunningStats.of(b))
    assert ours == pytest.approx(scipy_fid(a.numpy(), b.numpy()), rel=1e-6)
    assert scores.fid(RunningStats.of(a), RunningStats.of(a)) == pytest.approx(0.0, abs=1e-8)


def test_fid_of_two_gaussians_has_the_closed_form():
    # 1-D: FID = (mu1 - mu2)^2 + (s1 - s2)^2 with the sample moments
    g = torch.Generator().manual_seed(2)
    a, b = (
        torch.randn(5000, 1, generator=g, dtype=torch.float64),
        3 + 2 * torch.randn(4000, 1, generator=g, dtype=torch.float64),
    )
    expected = (a.mean() - b.mean()) ** 2 + (a.std() - b.std()) ** 2
    assert scores.fid(RunningStats.of(a), RunningStats.of(b)) == pytest.approx(float(expected), rel=1e-9)


def test_precision_recall_on_hand_computed_points():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    fake = torch.tensor([[0.5], [10.0]])
    # k=1: each real ball has radius 1 (nearest other real). Fake 0.5 lies in the balls of 0 and 1; 10 in none.
    # Each fake ball has radius 9.5 (the other fake); every real lies within 9.5 of 0.5.
    pr = scores.precision_recall(fake, real, k=1)
    assert pr["precision"] == pytest.approx(0.5) and pr["recall"] == pytest.approx(1.0)
    # A fake set that sits on half the reals: full precision, recall 2/4 with tight fake balls
    fake2 = torch.tensor([[0.0], [0.1], [3.0], [3.1]])  # fake radii (k=1) 0.1: covers reals 0 and 3 only
    pr2 = scores.precision_recall(fake2, real, k=1)
    assert pr2["precision"] == pytest.approx(1.0) and pr2["recall"] == pytest.approx(0.5)


def test_density_and_coverage_on_hand_computed_points():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0]])
    # k=1 radii: 1, 1, 1, 1, 7 (10's nearest real is 3)
    fake = torch.tensor([[0.5], [20.0], [2.0]])
    # open balls: 0.5 is in the balls of 0 and 1 (2 hits); 20 in none (|20-10| = 10 > 7); 2.0 only in 2's
    # (it lies on the edge of the balls of 1 and 3, which does not count)
    dc = scores.density_coverage(fake, real, k=1)
    assert dc["density"] == pytest.approx((2 + 0 + 1) / (1 * 3))
    assert dc["coverage"] == pytest.approx(3 / 5)  # reals 0, 1, 2 have a fake in their ball; 3 and 10 do not
    # Density can exceed 1 when fakes crowd a dense real region; coverage cannot
    # k=2 radii: 2, 1, 1, 2, 8; 1.5 is inside the balls of 0, 1, 2, 3 (4 hits each) but not 10's (8.5 > 8)
    crowd = scores.density_coverage(torch.full((6, 1), 1.5), real, k=2)
    assert crowd["density"] == pytest.approx(6 * 4 / (2 * 6)) and crowd["coverage"] == pytest.approx(4 / 5)


def test_memorisation_flags_copies_and_not_fresh_data():
    g = torch.Generator().manual_seed(3)
    train, heldout = torch.rand(300, 64, generator=g), torch.rand(200, 64, generator=g)
    fresh = torch.rand(200, 64, generator=g)
    held_d = scores.nearest_distances(heldout, train, p=1)
    honest = scores.memorisation(scores.nearest_distances(fresh, train, p=1), held_d)
    copies = scores.memorisation(scores.nearest_distances(train[:200], train, p=1), held_d)
    assert copies["copy_fraction"] == 1.0 and copies["ratio"] == 0.0
    assert honest["copy_fraction"] < 0.05 and 0.9 < honest["ratio"] < 1.1
    # nearest_distances is exact (brute force) for both norms
    q, r = torch.rand(7, 3, generator=g), torch.rand(11, 3, generator=g)
    for p in (1.0, 2.0):
        expected = torch.cdist(q, r, p=p).min(1).values
        assert torch.allclose(scores.nearest_distances(q, r, p=p), expected)


def test_intra_fid_is_zero_for_class_matched_copies_and_sees_a_swapped_class():
    g = torch.Generator().manual_seed(4)
    real = torch.cat([torch.randn(100, 3, generator=g) + 5 * c for c in range(3)])
    labels = torch.arange(3).repeat_interleave(100)
    assert scores.intra_fid(real, labels, real, labels, 3)["intra_fid_mean"] == pytest.approx(0.0, abs=1e-6)
    swapped = labels.clone()
    swapped[labels == 0], swapped[labels == 1] = 1, 0  # the model draws a 1 when asked for a 0
    out = scores.intra_fid(real, swapped, real, labels, 3)
    assert out["intra_fid_max"] > 50 and out["intra_fid_mean"] > 30
    with pytest.raises(Exception, match="class 2 has 0 fake"):
        scores.intra_fid(real[:200], labels[:200], real, labels, 3)


def test_inception_score_extremes():
    # confident and uniform over K classes -> IS = K; the same class for everything -> 1
    k = 8
    logits = torch.full((800, k), -30.0)
    logits[torch.arange(800), torch.arange(800) % k] = 30.0
    assert scores.inception_score(logits, splits=1)["is_mean"] == pytest.approx(k, rel=1e-4)
    same = torch.zeros(800, k)
    same[:, 0] = 30.0
    assert scores.inception_score(same)["is_mean"] == pytest.approx(1.0, rel=1e-4)
