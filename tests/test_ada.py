"""ADA (gan_zoo/augment.py, models/base.py): the non-leaking geometric ops (known answers, differentiable, the
identity at p = 0), the p controller on a scripted r_t, the config checks, `data.train_limit`, and one tiny run
that logs p and resumes it exactly."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from conftest import assert_same_weights, split_run, tiny_overrides

from gan_zoo.augment import ADA_DEFAULT_POLICY, AdaptiveP, diff_augment, rotate, rotate90, scale, xflip, xint
from gan_zoo.data.base import TensorDataModule, limited_indices, tensor_dataset
from gan_zoo.errors import ConfigError

GEOMETRIC = {"xflip": xflip, "rotate90": rotate90, "xint": xint, "scale": scale, "rotate": rotate}


@pytest.mark.parametrize("name", list(GEOMETRIC))
def test_each_geometric_op_is_the_identity_at_p_zero_and_passes_gradients_to_its_input(name):
    torch.manual_seed(0)
    x = torch.rand(16, 2, 8, 8) * 2 - 1
    assert torch.equal(diff_augment(x, [name], p=0.0), x)  # the per-sample choice: nobody chosen
    assert torch.equal(diff_augment(x, [name], p=torch.tensor(0.0)), x)  # ADA's p as it starts
    assert not torch.equal(diff_augment(x, [name], p=1.0), x)  # and the op does something when applied

    def seeded(inp: torch.Tensor) -> torch.Tensor:  # the same random draw on every call, so gradcheck sees one map
        torch.manual_seed(3)
        return diff_augment(inp, [name], p=0.7)

    inp = torch.rand(4, 1, 6, 6, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(seeded, (inp,), eps=1e-6, atol=1e-5)
    seeded(inp).square().sum().backward()
    assert inp.grad is not None and inp.grad.abs().sum() > 0


def test_xflip_and_rotate90_give_each_image_one_of_its_flips_or_quarter_turns_and_every_one_occurs():
    torch.manual_seed(0)
    x = torch.rand(200, 1, 5, 5)
    for op, candidates in (
        (xflip, lambda a: [a, a.flip(2)]),
        (rotate90, lambda a: [torch.rot90(a, k, dims=(1, 2)) for k in range(4)]),
    ):
        seen = set()
        for a, b in zip(x, op(x)):
            hits = [k for k, c in enumerate(candidates(a)) if torch.equal(c, b)]
            assert len(hits) == 1
            seen.add(hits[0])
        assert seen == set(range(len(candidates(x[0]))))


def test_xint_is_an_integer_shift_with_a_reflected_border():
    torch.manual_seed(0)
    x = torch.rand(300, 1, 16, 16)
    pad = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")  # 16 / 8 = 2 px at most
    seen = set()
    for n, b in enumerate(xint(x)):
        hits = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(pad[n, :, 2 - dy : 18 - dy, 2 - dx : 18 - dx], b)
        ]
        assert len(hits) == 1
        seen.add(hits[0])
    assert len(seen) == 25


def test_scale_and_rotate_keep_a_flat_image_flat_and_rotate_turns_a_ramp():
    torch.manual_seed(0)
    flat = torch.full((8, 3, 16, 16), 0.3)
    for op in (scale, rotate):  # a reflected border adds no constant frame: a flat image stays flat
        assert torch.allclose(op(flat), flat, atol=1e-6)
    ramp = torch.linspace(-1, 1, 16).view(1, 1, 1, 16).expand(400, 1, 16, 16)
    turned = rotate(ramp)
    # a rotated left-to-right ramp no longer increases along every row for most angles (uniform in [-180, 180))
    rising = (turned[:, 0, 8, 12] > turned[:, 0, 8, 3]).float().mean()
    assert 0.3 < float(rising) < 0.7


def test_the_default_policy_applies_each_op_to_about_a_p_share():
    torch.manual_seed(0)
    x = torch.rand(4000, 1, 8, 8)
    for p in (0.1, 0.5):
        changed = (diff_augment(x, ["rotate90"], p=torch.tensor(p)) != x).flatten(1).any(1).float().mean()
        assert abs(float(changed) - p * 0.75) < 0.03  # rotate90 leaves a chosen image as it is 1/4 of the time
    out = diff_augment(x, ADA_DEFAULT_POLICY, p=torch.tensor(0.2))
    untouched = (out == x).flatten(1).all(1).float().mean()
    assert 0.2 < float(untouched) < 0.5  # (1 - 0.2)^6 = 0.26 untouched, plus chosen ops that change nothing


# ----------------------------------------------------------------------------------------------- the controller
def _interval(ada: AdaptiveP, rt: float, batch: int = 40) -> None:
    """One update interval whose reals get r_t = rt exactly: a share (1 + rt) / 2 of positive outputs."""
    for _ in range(ada.interval):
        pos = round(batch * (1 + rt) / 2)
        ada.observe(torch.tensor([1.0] * pos + [-1.0] * (batch - pos)), batch)
    ada.update()


def test_p_rises_when_rt_is_above_the_target_falls_below_it_clamps_and_moves_at_the_ada_kimg_rate():
    ada = AdaptiveP(target=0.6, kimg=0.8, interval=4)  # 4 x 40 = 160 images per update: p moves 0.2 a step
    _interval(ada, 0.2)
    assert float(ada.p) == 0.0 and float(ada.rt) == pytest.approx(0.2)  # below target at p = 0: clamped at 0
    trace = []
    for _ in range(7):
        _interval(ada, 0.9)
        trace.append(float(ada.p))
    assert trace == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0])  # 800 images from 0 to 1, then clamped
    _interval(ada, 0.1)
    _interval(ada, 0.5)
    assert float(ada.p) == pytest.approx(0.6) and float(ada.rt) == pytest.approx(0.5)
    slow = AdaptiveP(target=0.6, kimg=20.0, interval=4)
    _interval(slow, 1.0, batch=64)
    assert float(slow.p) == pytest.approx(4 * 64 / 20_000)  # the default kimg: 0.0128 per update of batch 64


def test_rt_and_the_image_count_are_summed_over_processes_and_the_state_round_trips():
    ada = AdaptiveP(target=0.6, kimg=1.0, interval=2)
    ada.observe(torch.ones(50), 50)
    ada.observe(torch.ones(50), 50)
    ada.update(reduce=lambda t: t * 2)  # two ranks that saw the same: twice the images, the same r_t
    assert float(ada.p) == pytest.approx(0.2) and float(ada.rt) == pytest.approx(1.0)
    ada.observe(-torch.ones(10), 10)  # an open interval: its sums travel with the checkpoint
    again = AdaptiveP(target=0.6, kimg=1.0, interval=2)
    again.load_state_dict(ada.state_dict())
    for a in (ada, again):
        a.observe(torch.ones(10), 10)
        a.update()
    assert float(again.p) == float(ada.p) == pytest.approx(0.18) and float(again.rt) == float(ada.rt) == 0.0


# ----------------------------------------------------------------------------------------------- config checks
def test_ada_settings_are_checked_and_refused_where_they_would_do_nothing(make_cfg):
    from gan_zoo.train import run

    tiny = tiny_overrides("dcgan_mnist")
    with pytest.raises(ConfigError, match="model.augment_p=0.5 and model.ada_target=0.6 both set"):
        run(make_cfg(tiny + ["model.ada_target=0.6", "model.augment_p=0.5"]))
    with pytest.raises(ConfigError, match=r"model.ada_target must be in \(0, 1\)"):
        run(make_cfg(tiny + ["model.ada_target=1.5"]))
    with pytest.raises(ConfigError, match="model.ada_kimg must be > 0"):
        run(make_cfg(tiny + ["model.ada_target=0.6", "model.ada_kimg=0"]))
    with pytest.raises(ConfigError, match=r"model.ada_target=0.6 augments images, but the data's samples"):
        run(make_cfg(tiny_overrides("wgan_gp_ring8") + ["model.ada_target=0.6"]))
    with pytest.raises(ConfigError, match="InfoGAN does not pass its critic inputs"):
        run(make_cfg(tiny_overrides("infogan_mnist") + ["model.ada_target=0.6"]))


# ----------------------------------------------------------------------------------------------- train_limit
class _Labelled(TensorDataModule):
    def __init__(self, labels: np.ndarray, **kw) -> None:
        super().__init__(**kw)
        self.labels = torch.as_tensor(labels)

    def setup(self, stage=None) -> None:
        if self.train_set is None:
            x = torch.arange(len(self.labels)).view(-1, 1).float()
            self.train_set = tensor_dataset(x, self.labels)
            self.val_set = tensor_dataset(x[:5], self.labels[:5])


def test_train_limit_is_a_fixed_class_balanced_choice_the_loader_repeats_to_the_split_length():
    labels = np.repeat(np.arange(10), 40)
    dm = _Labelled(labels, batch_size=16, train_limit=55)
    idx = dm.train_limit_indices()
    assert len(idx) == 55 and len(set(idx.tolist())) == 55
    assert sorted(np.bincount(labels[idx]).tolist()) == [5] * 5 + [6] * 5  # floor or one more per class
    assert np.array_equal(idx, _Labelled(labels, train_limit=55).train_limit_indices())  # seeded: the same again
    served = torch.cat([x for x, _ in dm.train_dataloader()]).flatten().long()
    assert set(served.tolist()) <= set(idx.tolist()) and len(served) == 400 - 400 % 16  # an epoch keeps its length
    assert len(dm.val_set) == 5 and len(dm.train_set) == 400  # reference and full split untouched
    info = dm.train_limit_info()
    assert info["train_limit"] == 55 and info["of"] == 400 and sum(info["per_class"].values()) == 55
    # a class with too few images: its shortfall goes to the others
    skewed = np.array([0] * 3 + [1] * 100)
    assert np.bincount(skewed[limited_indices(103, skewed, 20, 0)]).tolist() == [3, 17]
    plain = limited_indices(100, None, 30, 1)  # unlabelled: a seeded random choice
    assert len(set(plain.tolist())) == 30 and np.array_equal(plain, limited_indices(100, None, 30, 1))


@pytest.mark.parametrize("bad", [0, -3, 401, 2.5, True])
def test_a_bad_train_limit_names_the_problem(bad):
    with pytest.raises(ConfigError, match="data.train_limit"):
        _Labelled(np.repeat(np.arange(10), 40), train_limit=bad).train_limit_indices()


def test_train_limit_is_checked_before_the_run_writes_anything(make_cfg, tmp_path):
    from gan_zoo.train import run

    cfg = make_cfg(tiny_overrides("dcgan_mnist") + ["data.train_limit=1000000"])
    with pytest.raises(ConfigError, match="data.train_limit=1000000 is larger than the training split"):
        run(cfg)
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob("*.ckpt"))


# ----------------------------------------------------------------------------------------------- one tiny run
def test_a_tiny_ada_run_logs_p_and_rt_and_resumes_them_exactly(make_cfg, tmp_path):
    base = [o for o in tiny_overrides("dcgan_mnist") if not o.startswith("metrics.")] + [
        "resume=null",
        "metrics=none",
        "model.ada_target=0.01",
        "model.ada_kimg=0.05",
        "model.ada_interval=3",  # the segment boundary (4 critic steps) falls inside an interval
        "data.train_limit=200",
    ]
    full, resumed = split_run(make_cfg, tmp_path, base, total=2, first=1)
    assert_same_weights(full["last_checkpoint"], resumed["last_checkpoint"])
    states = [torch.load(r["last_checkpoint"], weights_only=False)["gan_zoo"]["ada"] for r in (full, resumed)]
    for key in ("p", "rt", "sign_sum", "images"):
        assert torch.equal(states[0][key], states[1][key]), key
    with open(full["metrics_csv"]) as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/ada_p")]
    assert rows and all(0.0 <= float(r["train/ada_p"]) <= 1.0 and -1 <= float(r["train/ada_rt"]) <= 1 for r in rows)
    assert full["train_limit"]["train_limit"] == 200
