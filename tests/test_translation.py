"""Image-to-image games: network shapes, PatchGAN receptive fields, the image history, the cycle/identity and L1
terms, the LR schedule, the data layouts, the metrics' baselines, `gan-zoo translate` and exact resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from cheap_runs import run_cli
from conftest import assert_same_weights, split_run, tiny_overrides, write_paired_folder, write_unpaired_folder

from gan_zoo.data.translation import (
    EdgesMNISTDataModule,
    PairedFolderDataModule,
    UnpairedFolderDataModule,
    outer_edges,
    to_channels,
)
from gan_zoo.errors import ConfigError, CorruptDataError, DatasetNotFoundError
from gan_zoo.losses import d_lsgan, g_lsgan
from gan_zoo.metrics.translation import PairedEvaluator, paired_scores
from gan_zoo.models.base import LinearDecay
from gan_zoo.models.cyclegan import CycleGAN, ImageHistory, cycle_loss
from gan_zoo.models.pix2pix import Pix2Pix
from gan_zoo.networks.translation import (
    PatchDiscriminator,
    ResnetGenerator,
    UNetGenerator,
    default_resnet_blocks,
    patch_receptive_field,
)


# ----------------------------------------------------------------------------------------------- networks
@pytest.mark.parametrize("size,c_in,c_out", [(16, 1, 1), (32, 1, 3), (64, 3, 3), (128, 3, 1)])
def test_unet_maps_input_to_output_shape_at_several_sizes(size, c_in, c_out):
    g = UNetGenerator((c_in, size, size), (c_out, size, size), base_channels=4)
    assert len(g.down) == int(np.log2(size))  # down to a 1x1 bottleneck by default
    y = g(torch.randn(2, c_in, size, size))
    assert y.shape == (2, c_out, size, size) and y.abs().max() <= 1  # tanh
    assert sum(isinstance(m, nn.Dropout) for m in g.modules()) == 3  # the first three decoder layers


def test_unet_skips_carry_the_input():
    """With the bottleneck's activations zeroed, the output still depends on the input: the skips carry it."""
    g = UNetGenerator((1, 16, 16), (1, 16, 16), base_channels=4, dropout=0.0).eval()
    x = torch.randn(1, 1, 16, 16, requires_grad=True)
    g.up[0].register_forward_hook(lambda m, i, o: torch.zeros_like(o))
    g(x).sum().backward()
    assert x.grad.abs().sum() > 0


def test_unet_rejects_sizes_its_depth_cannot_divide():
    with pytest.raises(ConfigError, match="num_downs"):
        UNetGenerator((1, 24, 24), (1, 24, 24), num_downs=4)


@pytest.mark.parametrize("size", [32, 64])
def test_resnet_generator_shapes_and_block_default(size):
    g = ResnetGenerator((1, size, size), (3, size, size), base_channels=4)
    assert g.num_blocks == 6 and g(torch.randn(2, 1, size, size)).shape == (2, 3, size, size)
    assert any(isinstance(m, nn.ReflectionPad2d) for m in g.modules())
    assert any(isinstance(m, nn.InstanceNorm2d) for m in g.modules())


def test_resnet_blocks_follow_the_paper_by_size():
    assert default_resnet_blocks(128) == 6 and default_resnet_blocks(256) == 9
    assert ResnetGenerator((3, 256, 256), (3, 256, 256), base_channels=2).num_blocks == 9


@pytest.mark.parametrize("rf,size", [(16, 32), (34, 64), (70, 128)])
def test_patchgan_output_size_and_measured_receptive_field(rf, size):
    """The gradient of one central output logit reaches exactly an rf x rf window of the input."""
    assert patch_receptive_field({16: 1, 34: 2, 70: 3}[rf]) == rf
    torch.manual_seed(0)
    d = PatchDiscriminator((1, size, size), base_channels=4, receptive_field=rf, norm="none").double()
    x = torch.randn(1, 1, size, size, dtype=torch.double, requires_grad=True)
    out = d(x)
    k = size // 2 ** {16: 1, 34: 2, 70: 3}[rf] - 2
    assert out.shape == (1, 1, k, k) and d.output_size == k
    out[0, 0, k // 2, k // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(0)).flatten()
    assert rows.max() - rows.min() + 1 == rf and cols.max() - cols.min() + 1 == rf


def test_patchgan_names_the_sizes_that_fit():
    with pytest.raises(ConfigError, match="receptive_field <= 70"):
        PatchDiscriminator((1, 32, 32), receptive_field=142)
    with pytest.raises(ConfigError, match="16, 34, 70, 142, 286"):
        PatchDiscriminator((1, 32, 32), receptive_field=50)


# ----------------------------------------------------------------------------------------------- image history
def test_image_history_stores_until_full_then_returns_the_newest_half_the_time():
    torch.manual_seed(0)
    pool = ImageHistory(50, (1, 2, 2))
    first = torch.arange(50.0).view(50, 1, 1, 1).expand(50, 1, 2, 2)
    assert torch.equal(pool(first[:20]), first[:20]) and torch.equal(pool(first[20:]), first[20:])  # filling
    assert int(pool.count) == 50 and torch.equal(pool.images, first)
    newest = 0
    trials = 4000
    for t in range(trials):
        x = torch.full((1, 1, 2, 2), 1000.0 + t)
        y = pool(x)
        if torch.equal(y, x):
            newest += 1
        else:  # an older image, which the new one replaced in the buffer
            assert y[0, 0, 0, 0] < 1000.0 + t and (pool.images == 1000.0 + t).all(dim=(1, 2, 3)).any()
    share = newest / trials
    assert abs(share - 0.5) < 3 * (0.25 / trials) ** 0.5 + 0.005, share


def test_image_history_size_zero_is_a_passthrough_and_state_round_trips():
    x = torch.randn(3, 1, 2, 2)
    assert torch.equal(ImageHistory(0, (1, 2, 2))(x), x)
    pool = ImageHistory(4, (1, 2, 2))
    pool(x)
    other = ImageHistory(4, (1, 2, 2))
    other.load_state_dict(pool.state_dict())
    assert int(other.count) == 3 and torch.equal(other.images, pool.images)
    other(x)  # continues from the restored fill count
    assert int(other.count) == 4


# ----------------------------------------------------------------------------------------------- losses
class Scale(nn.Module):
    """x -> s x (with a parameter so optimizers have something to hold)."""

    def __init__(self, s: float) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.tensor(float(s)))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.s * x


def _cyclegan(g_ab: float, g_ba: float, **kw) -> CycleGAN:
    adam = lambda params: torch.optim.Adam(params)  # noqa: E731
    return CycleGAN(
        Scale(g_ab),
        Scale(g_ba),
        Scale(1),
        Scale(1),
        d_lsgan,
        g_lsgan,
        adam,
        adam,
        (1, 2, 2),
        (1, 2, 2),
        pool_size=0,
        **kw,
    )


def test_cycle_loss_is_the_mean_absolute_error():
    x = torch.zeros(2, 1, 2, 2)
    assert float(cycle_loss(x, x + 0.5)) == pytest.approx(0.5)
    assert float(cycle_loss(x, x - 0.25)) == pytest.approx(0.25)


@pytest.mark.parametrize(
    "g_ab,g_ba,expected",
    [
        # F(G(a)) = a, G(F(b)) = b: no cycle loss; identity |G(b) - b| = |b| = 0.2, |F(a) - a| = 0.5 |a| = 0.2
        (2.0, 0.5, 10 * 0.0 + 0.5 * 10 * (0.2 + 0.2)),
        # F(G(a)) = 2a: |a| = 0.4; G(F(b)) = 2b: |b| = 0.2; identity: |2b - b| = 0.2, |a - a| = 0
        (2.0, 1.0, 10 * (0.4 + 0.2) + 0.5 * 10 * (0.2 + 0.0)),
    ],
)
def test_cyclegan_cycle_and_identity_terms_on_known_tensors(g_ab, g_ba, expected):
    gan = _cyclegan(g_ab, g_ba)
    batch = {"a": torch.full((3, 1, 2, 2), 0.4), "b": torch.full((3, 1, 2, 2), 0.2)}
    state = gan.prepare(batch, generator_step_follows=True)
    loss, logs = gan.g_reg(batch, state)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-6)
    assert "train/cycle" in logs and "train/identity" in logs


def test_identity_weight_is_relative_to_the_cycle_weight():
    batch = {"a": torch.full((1, 1, 2, 2), 0.4), "b": torch.full((1, 1, 2, 2), 0.2)}
    gan = _cyclegan(2.0, 0.5, lambda_cycle=4.0, lambda_identity=0.0)
    loss, logs = gan.g_reg(batch, gan.prepare(batch, True))
    assert float(loss.detach()) == pytest.approx(0.0) and "train/identity" not in logs


def test_identity_loss_needs_matching_channels():
    adam = lambda params: torch.optim.Adam(params)  # noqa: E731
    with pytest.raises(ConfigError, match="lambda_identity=0"):
        CycleGAN(Scale(1), Scale(1), Scale(1), Scale(1), d_lsgan, g_lsgan, adam, adam, (1, 2, 2), (3, 2, 2))


def test_pix2pix_l1_term_is_weighted_by_lambda():
    adam = lambda params: torch.optim.Adam(params)  # noqa: E731
    gan = Pix2Pix(Scale(0.0), Scale(1), d_lsgan, g_lsgan, adam, adam, (1, 2, 2), (1, 2, 2), l1_weight=100.0)
    batch = {"a": torch.ones(2, 1, 2, 2), "b": torch.full((2, 1, 2, 2), 0.3)}
    loss, logs = gan.g_reg(batch, gan.prepare(batch, True))
    assert float(loss.detach()) == pytest.approx(30.0) and float(logs["train/l1"]) == pytest.approx(0.3)


def test_linear_decay_schedule():
    f = LinearDecay(total=100, start=0.5)
    assert [f(s) for s in (0, 49, 50)] == [1.0, 1.0, 1.0]
    assert f(75) == pytest.approx(0.5) and f(90) == pytest.approx(0.2) and f(100) == 0.0 and f(150) == 0.0
    assert LinearDecay(total=10, start=0.0)(5) == pytest.approx(0.5)


# ----------------------------------------------------------------------------------------------- data
def test_outer_edges_of_a_square_is_its_surrounding_ring():
    x = torch.zeros(1, 1, 7, 7, dtype=torch.uint8)
    x[..., 2:5, 2:5] = 255
    e = outer_edges(x)
    assert int((e > 0).sum()) == 5 * 5 - 3 * 3 and int(e[0, 0, 3, 3]) == 0 and int(e[0, 0, 1, 1]) == 255


def test_to_channels_uses_luma_and_repeats_grey():
    rgb = torch.tensor([255, 0, 0], dtype=torch.uint8).view(1, 3, 1, 1)
    assert int(to_channels(rgb, 1)) == round(0.299 * 255)
    grey = torch.full((1, 1, 2, 2), 7, dtype=torch.uint8)
    assert to_channels(grey, 3).shape == (1, 3, 2, 2) and int(to_channels(grey, 3).min()) == 7


def test_edges_mnist_pairs_share_the_mnist_split():
    dm = EdgesMNISTDataModule(batch_size=8)
    dm.setup()
    t = dm.val_set.tensors
    assert len(t["a"]) == 1000 and len(dm.train_set) == 4000 and dm.num_classes == 10
    assert t["a"].shape[1:] == (1, 32, 32) and t["b"].dtype == torch.uint8
    assert bool(((t["a"] > 0) & (t["b"] >= 128)).sum() == 0)  # outlines lie outside the strokes
    batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert batch["a"].min() >= -1 and batch["b"].max() <= 1 and batch["labels"].dtype == torch.long


@pytest.mark.parametrize("layout", ["side_by_side", "folders"])
def test_paired_folder_layouts(tmp_path, layout):
    root = write_paired_folder(tmp_path / "p", size=16, n=12, layout=layout)
    dm = PairedFolderDataModule(root=str(root), image_size=16, channels_a=1, channels_b=1, batch_size=2)
    dm.setup()
    a, b = dm.val_set.tensors["a"].int(), dm.val_set.tensors["b"].int()
    assert len(dm.val_set) == (4 if layout == "side_by_side" else 1) and len(dm.train_set) + len(dm.val_set) == 12
    assert (a + b - 255).abs().max() <= 2  # B is A's negative: the halves were not swapped or shifted
    swapped = PairedFolderDataModule(root=str(root), image_size=16, channels_a=1, channels_b=1, direction="BtoA")
    swapped.setup()
    assert torch.equal(swapped.val_set.tensors["a"], dm.val_set.tensors["b"])


def test_paired_folder_skips_or_refuses_corrupt_files_and_names_missing_roots(tmp_path):
    root = write_paired_folder(tmp_path / "p", size=16, n=12)
    (root / "train" / "broken.png").write_bytes(b"not an image")
    dm = PairedFolderDataModule(root=str(root), image_size=16, channels_a=1, channels_b=1)
    dm.setup()
    assert len(dm.skipped) == 1 and len(dm.train_set) == 8
    with pytest.raises(CorruptDataError, match="broken.png"):
        PairedFolderDataModule(root=str(root), image_size=16, strict=True).setup()
    with pytest.raises(DatasetNotFoundError, match="side-by-side"):
        PairedFolderDataModule(root=str(tmp_path / "nowhere")).setup()


def test_unpaired_folder_uses_test_folders_as_held_out(tmp_path):
    root = write_unpaired_folder(tmp_path / "u", size=16, n=12)
    dm = UnpairedFolderDataModule(root=str(root), image_size=16, channels=1, batch_size=3)
    dm.setup()
    assert len(dm.held_out("A")[0]) == 3 and len(dm.held_out("B")[0]) == 3 and len(dm.train_set) == 9
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"a", "labels_a", "b", "labels_b"} and batch["a"].shape == (3, 1, 16, 16)
    (root / "trainB").rename(root / "elsewhere")
    with pytest.raises(DatasetNotFoundError, match="trainA/ and trainB/"):
        UnpairedFolderDataModule(root=str(root), image_size=16, channels=1).setup()


# ----------------------------------------------------------------------------------------------- metrics
class Oracle(nn.Module):
    """A 'game' whose translation is a fixed function of the input, to check the evaluator's arithmetic."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def translate(self, x, direction="AtoB", batch_size=256):
        return self.fn(x)


def test_paired_scores_known_values():
    t = torch.zeros(2, 1, 16, 16)  # 0.5 on the [0, 1] scale
    s = paired_scores(t + 0.2, t)  # off by 0.1 everywhere: L1 0.1, MSE 0.01 -> PSNR 20 dB
    assert s["l1"] == pytest.approx(0.1, rel=1e-5) and s["psnr"] == pytest.approx(20.0, rel=1e-4)
    assert paired_scores(t, t)["ssim"] == pytest.approx(1.0)


def test_paired_evaluator_reports_the_model_beside_its_baselines():
    dm = EdgesMNISTDataModule(batch_size=8)
    ev = PairedEvaluator(dm, num_samples=200)
    targets = dm.val_set.tensors["b"][:200]
    perfect = ev.compute(Oracle(lambda x: targets.float() / 127.5 - 1))
    assert (
        perfect["val/l1"] == 0.0 and perfect["val/ssim"] == pytest.approx(1.0) and perfect["val/l1_vs_baseline"] == 0.0
    )
    copy = ev.compute(Oracle(lambda x: x))  # the model that returns its input is the identity baseline
    assert copy["val/l1"] == pytest.approx(copy["val/l1_identity"]) and copy["val/psnr"] == pytest.approx(
        copy["val/psnr_identity"]
    )
    assert copy["val/l1_mean_target"] < copy["val/l1_identity"]  # on outlines, the mean digit is the better baseline
    assert copy["val/l1_vs_baseline"] == pytest.approx(copy["val/l1"] / copy["val/l1_mean_target"])


# ----------------------------------------------------------------------------------------------- end to end
def _translate_in_process(make_cfg, args: list[str]) -> dict:
    from gan_zoo.translate import translate_to_npz

    return translate_to_npz(make_cfg(args, config_name="translate"))


def test_translate_paired_writes_the_npz_contract(i2i_runs, tmp_path, capsys, monkeypatch):
    """The command line once (exit code, printed summary), the rest through translate_to_npz."""
    monkeypatch.chdir(tmp_path)
    run_dir = i2i_runs["pix2pix_edges_mnist"]["run_dir"]
    rc, out = run_cli(capsys, "translate", f"checkpoint={run_dir}", "num=5000", "out=t.npz")
    assert rc == 0, out
    assert "capped to 1000" in out
    z = np.load(tmp_path / "t.npz")
    assert set(z.files) == {"images", "sources", "labels", "targets"}
    assert (
        z["images"].dtype == np.uint8
        and z["images"].shape == (1000, 1, 32, 32) == z["targets"].shape == z["sources"].shape
    )
    assert z["labels"].dtype == np.int64 and sorted(np.bincount(z["labels"])) == [100] * 10
    assert (tmp_path / "t.png").is_file()


def test_translate_refuses_what_it_cannot_do(i2i_runs, cgan_run, make_cfg, tmp_path):
    p2p = i2i_runs["pix2pix_edges_mnist"]["run_dir"]
    with pytest.raises(ConfigError, match="data.direction=BtoA"):
        _translate_in_process(make_cfg, [f"checkpoint={p2p}", "direction=BtoA", f"out={tmp_path}/u.npz"])
    with pytest.raises(ConfigError, match="gan-zoo sample"):
        _translate_in_process(make_cfg, [f"checkpoint={cgan_run['run_dir']}", f"out={tmp_path}/u.npz"])
    from gan_zoo.sample import sample_to_npz

    with pytest.raises(ConfigError, match="gan-zoo translate"):
        sample_to_npz(make_cfg([f"checkpoint={p2p}", f"out={tmp_path}/s.npz"], config_name="sample"))


def test_translate_unpaired_both_directions_and_a_folder(i2i_runs, make_cfg, tmp_path):
    run_dir = i2i_runs["cyclegan_digits_mnist"]["run_dir"]
    out = _translate_in_process(make_cfg, [f"checkpoint={run_dir}", "num=50", f"out={tmp_path}/ab.npz"])
    z = np.load(tmp_path / "ab.npz")
    assert set(z.files) == {"images", "sources", "labels"} and z["images"].shape == (50, 1, 32, 32)
    assert out["translated_with"] == "EMA generator" and not out["capped"]
    _translate_in_process(make_cfg, [f"checkpoint={run_dir}", "direction=BtoA", "num=7", f"out={tmp_path}/ba.npz"])
    assert np.load(tmp_path / "ba.npz")["images"].shape == (7, 1, 32, 32)
    folder = write_unpaired_folder(tmp_path / "u", size=20) / "trainA"
    _translate_in_process(make_cfg, [f"checkpoint={run_dir}", f"input={folder}", f"out={tmp_path}/f.npz"])
    z = np.load(tmp_path / "f.npz")
    assert z["images"].shape == (len(list(folder.iterdir())), 1, 32, 32) and "labels" not in z.files


@pytest.mark.slow
def test_cyclegan_resume_is_exact_and_the_lr_decays(make_cfg, tmp_path):
    """History buffers, LR schedules and RNG state all come back: 2 + 2 steps end where 4 steps do."""
    import torch as t

    base = [o for o in tiny_overrides("cyclegan_digits_mnist") if not o.startswith("metrics.")] + [
        "model.pool_size=3",
        "resume=null",
        "metrics=none",
        "trainer.limit_train_batches=2",
        "data.batch_size=2",
    ]
    full, resumed = split_run(make_cfg, tmp_path, base, total=2, first=1)
    assert_same_weights(full["last_checkpoint"], resumed["last_checkpoint"])
    wa = t.load(full["last_checkpoint"], map_location="cpu", weights_only=False)
    wb = t.load(resumed["last_checkpoint"], map_location="cpu", weights_only=False)
    assert int(wa["state_dict"]["pool_a.count"]) == 3  # 4 steps x 2 images filled the 3-image history
    sched = wb["lr_schedulers"][0]
    assert sched["last_epoch"] == 4 and sched["_last_lr"][0] == pytest.approx(0.0)  # decayed to 0 at the end


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["pix2pix_edges_mnist", "cyclegan_digits_mnist"])
def test_image_to_image_games_train_under_ddp_with_rank_identical_weights(experiment, tmp_path):
    """Two CPU processes (gloo): the per-batch `prepare` forward, both optimizers and the history buffers
    under DDP; afterwards every rank holds the same generator weights (gradients were all-reduced)."""
    from helpers import train_ddp_sim_rank_states

    w0, w1 = train_ddp_sim_rank_states(
        ["metrics=none", *[o for o in tiny_overrides(experiment) if not o.startswith("metrics.")]],
        tmp_path,
        timeout=600,
    )
    assert w0.keys() == w1.keys() and any("generator" in k for k in w0)
    for k in w0:
        if "generator" in k and w0[k].is_floating_point():
            assert torch.allclose(w0[k], w1[k], atol=1e-6), k


def test_pix2pix_gradient_penalty_on_the_pair_and_no_batchnorm_critic():
    from gan_zoo.losses import d_wasserstein, g_wasserstein, gradient_penalty

    adam = lambda params: torch.optim.Adam(params)  # noqa: E731
    g = UNetGenerator((1, 16, 16), (1, 16, 16), base_channels=4)
    d = PatchDiscriminator((2, 16, 16), base_channels=4, receptive_field=16, norm="instance")
    gan = Pix2Pix(
        g,
        d,
        d_wasserstein,
        g_wasserstein,
        adam,
        adam,
        (1, 16, 16),
        (1, 16, 16),
        regularizer=gradient_penalty,
        reg_weight=10.0,
    )
    batch = {"a": torch.randn(4, 1, 16, 16), "b": torch.randn(4, 1, 16, 16)}
    state = gan.prepare(batch, generator_step_follows=False)
    reg, logs = gan.d_reg(batch, state)
    assert torch.isfinite(reg) and float(reg) == pytest.approx(10.0 * float(logs["train/reg"]))
    with pytest.raises(ConfigError, match="without BatchNorm"):
        Pix2Pix(
            g,
            PatchDiscriminator((2, 16, 16), base_channels=4, receptive_field=16, norm="batch"),
            d_wasserstein,
            g_wasserstein,
            adam,
            adam,
            (1, 16, 16),
            (1, 16, 16),
            regularizer=gradient_penalty,
            reg_weight=10.0,
        )


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["pix2pix_edges_mnist", "cyclegan_digits_mnist"])
def test_image_to_image_games_train_under_bf16_autocast(experiment, make_cfg):
    from gan_zoo.train import run

    cfg = make_cfg(
        [o for o in tiny_overrides(experiment) if not o.startswith("metrics.")]
        + ["hardware=bf16", "metrics=none", "trainer.limit_train_batches=2", "data.batch_size=4"]
    )
    out = run(cfg)
    assert out["generator_steps"] == 2 and Path(out["last_checkpoint"]).is_file()


def test_weight_clipping_reaches_both_cyclegan_critics_and_no_generator():
    gan = _cyclegan(2.0, 0.5, critic_weight_clip=0.25)
    gan.after_d_update()
    assert float(gan.discriminator_a.s) == 0.25 and float(gan.discriminator_b.s) == 0.25
    assert float(gan.generator_ab.s) == 2.0 and float(gan.generator_ba.s) == 0.5
