"""Mode coverage, class coverage and the domain FID on cases with known answers."""

import math

import pytest
import torch

from gan_zoo.data import grid25_centers, ring8_centers
from gan_zoo.metrics.evaluators import mixture_stats
from gan_zoo.metrics.scores import class_coverage
from gan_zoo.metrics.suite import count_tag


def test_perfect_samples_capture_every_mode():
    c = grid25_centers()
    x = c.repeat(100, 1) + 0.01 * torch.randn(2500, 2)
    s = mixture_stats(x, c, std=0.05)
    assert s["modes"] == 25 and s["hq_fraction"] == 1.0 and s["reverse_kl"] == pytest.approx(0.0, abs=1e-6)


def test_collapse_to_half_the_modes():
    c = ring8_centers()
    x = c[:4].repeat(250, 1)  # 1000 samples on 4 of 8 modes
    s = mixture_stats(x, c, std=0.01)
    assert s["modes"] == 4
    assert s["reverse_kl"] == pytest.approx(math.log(2), rel=1e-4)  # KL(U(4) || U(8))


def test_far_samples_are_not_high_quality_and_sparse_modes_not_captured():
    c = ring8_centers()
    x = torch.cat([c.repeat(120, 1), torch.full((40, 2), 0.5)])  # 960 on modes + 40 between them
    s = mixture_stats(x, c, std=0.01)
    assert s["hq_fraction"] == pytest.approx(960 / 1000)
    # one mode with only 10 samples (< 20% of the fair share 1000/8 = 125) is not captured
    x2 = torch.cat([c[:7].repeat(140, 1), c[7:].repeat(10, 1)])
    assert mixture_stats(x2, c, std=0.01)["modes"] == 7


def test_class_coverage_and_count_tag():
    counts = torch.tensor([100, 100, 100, 0, 5, 100, 100, 100, 100, 295])
    covered, min_share = class_coverage(counts, 10)
    assert covered == 8 and min_share == 0.0
    assert count_tag(1000) == "1k" and count_tag(2500) == "2500" and count_tag(10000) == "10k"
