"""`gan-zoo project`: the latent of an image the generator made is found again; the .npz contract; conditions;
refusals. Untrained run directories (tests/cheap_runs.py) stand in for trained runs: a random generator is still a
smooth function of its latent, so an image it made has a known answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cheap_runs import FACTS, MNIST_MINI, cheap_run, error_line

FACTS.setdefault("stylegan_mnist", MNIST_MINI)
KINDS = ("dcgan_mnist", "cgan_mnist", "infogan_mnist", "vae_mnist", "stylegan_mnist", "pix2pix_edges_mnist")
FAST = ["feature=none", "bank=128", "steps=5"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A run directory of every game family projection meets (untrained weights)."""
    root = tmp_path_factory.mktemp("proj_runs")
    return {kind: cheap_run(root, kind) for kind in KINDS}


def _digits(tmp_path: Path, n: int = 6, size: int = 28, labels: bool = False) -> Path:
    """An input .npz of n random-ish uint8 images at `size` px (not the run's 32 px), optionally with labels."""
    g = np.random.default_rng(0)
    arrays = {"images": (g.random((n, 1, size, size)) ** 3 * 255).astype(np.uint8)}
    if labels:
        arrays["labels"] = np.arange(n, dtype=np.int64) % 10
    path = tmp_path / "inputs.npz"
    np.savez(path, **arrays)
    return path


def _spread(run: Path, dest: Path, factor: float = 3.0) -> Path:
    """A copy of an untrained run's checkpoint whose generator weights are scaled up: untrained, its images hardly
    vary with z (grey everywhere); scaled, they span the pixel range, so a found latent has to be the right one."""
    blob = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    blob["state_dict"] = {
        k: v * factor if k.startswith("generator") and k.endswith("weight") and v.dim() >= 2 else v
        for k, v in blob["state_dict"].items()
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(blob, dest)
    return dest


def test_projection_finds_the_latent_of_an_image_the_generator_made(runs, gz, tmp_path):
    run = _spread(runs["dcgan_mnist"], tmp_path / "spread" / "g.ckpt")
    assert gz("sample", f"checkpoint={run}", "num=8", "seed=5", "out=made.npz")[0] == 0
    common = [f"checkpoint={run}", "input=made.npz", "feature=none", "bank=256", "starts=2", "prior_weight=0"]
    assert gz("project", *common, "steps=0", "out=bank_only.npz")[0] == 0
    rc, text = gz("project", *common, "steps=150", "lr=0.1", "out=found.npz")
    assert rc == 0, text[-2000:]
    made = np.load("made.npz")["images"].astype(np.float32)
    found, start = np.load("found.npz"), np.load("bank_only.npz")
    err = np.abs(found["images"].astype(np.float32) - made).mean() / 255
    err0 = np.abs(start["images"].astype(np.float32) - made).mean() / 255
    assert err < 0.01 and err < err0 / 5, (err, err0)
    assert (found["distances"] < start["distances"]).all() and found["distances"].max() < 1e-3
    assert np.array_equal(found["targets"], np.load("made.npz")["images"])  # 32 px inputs are taken as they are


def test_the_npz_holds_every_field_in_input_order_at_the_data_size(runs, gz, tmp_path):
    from gan_zoo.metrics.features import prepare_images

    inputs = _digits(tmp_path, n=6, size=28)
    rc, text = gz("project", f"checkpoint={runs['dcgan_mnist']}", f"input={inputs}", "out=p.npz", "num=5", *FAST)
    assert rc == 0, text[-2000:]
    z = np.load("p.npz")
    assert sorted(z.files) == ["distances", "images", "latents", "targets"]
    assert z["latents"].dtype == np.float32 and z["latents"].shape == (5, 100)
    assert z["images"].dtype == np.uint8 and z["images"].shape == (5, 1, 32, 32)
    assert z["distances"].dtype == np.float32 and z["distances"].shape == (5,) and np.isfinite(z["distances"]).all()
    # the first num inputs, in order, brought to the run's protocol as evaluate brings samples (28 px padded to 32)
    expected = prepare_images(torch.from_numpy(np.load(inputs)["images"][:5]), 1, 32, "pad").numpy()
    assert z["targets"].dtype == np.uint8 and np.array_equal(z["targets"], expected)
    assert Path("p.png").is_file()
    rc, text = gz("project", f"checkpoint={runs['dcgan_mnist']}", f"input={inputs}", "out=all.npz", "num=50", *FAST)
    assert rc == 0 and "capped to 6" in text and len(np.load("all.npz")["images"]) == 6
    # the reconstruction of image i is G(latent i): the latents written are the ones that made the images
    from gan_zoo.build import load_checkpoint_gan
    from gan_zoo.data.images import to_uint8_images

    gan, _ = load_checkpoint_gan(str(runs["dcgan_mnist"] / "checkpoints" / "best.ckpt"))
    again = to_uint8_images(gan.synthesize_in_chunks(torch.from_numpy(z["latents"]), {}, 8)).numpy()
    assert np.abs(again.astype(int) - z["images"].astype(int)).max() <= 1


@pytest.mark.parametrize(
    ("kind", "extra", "latent_shape", "cond_keys"),
    [
        ("infogan_mnist", [], (4, 16), ("codes", "continuous_codes")),
        ("vae_mnist", [], (4, 32), ()),
        ("stylegan_mnist", [], (4, 128), ()),
        ("stylegan_mnist", ["space=wplus"], None, ()),
    ],
)
def test_every_game_family_projects(runs, gz, tmp_path, kind, extra, latent_shape, cond_keys):
    inputs = _digits(tmp_path, n=4, size=32)
    rc, text = gz("project", f"checkpoint={runs[kind]}", f"input={inputs}", "out=p.npz", *FAST, *extra)
    assert rc == 0, text[-2000:]
    z = np.load("p.npz")
    assert z["images"].shape == (4, 1, 32, 32) and z["distances"].shape == (4,)
    if latent_shape is None:  # w+: one style per layer
        assert z["latents"].ndim == 3 and z["latents"].shape[0] == 4 and z["latents"].shape[1] > 1
    else:
        assert z["latents"].shape == latent_shape
    for key in cond_keys:
        assert key in z.files and len(z[key]) == 4


def test_the_vae_starts_from_its_encoders_mean(runs, gz, tmp_path):
    from gan_zoo.build import load_checkpoint_gan
    from gan_zoo.data.images import to_float_images

    inputs = _digits(tmp_path, n=4, size=32)
    assert (
        gz("project", f"checkpoint={runs['vae_mnist']}", f"input={inputs}", "out=p.npz", "feature=none", "steps=0")[0]
        == 0
    )
    gan, _ = load_checkpoint_gan(str(runs["vae_mnist"] / "checkpoints" / "best.ckpt"))
    mean = gan.encode(to_float_images(torch.from_numpy(np.load(inputs)["images"])))
    assert np.allclose(np.load("p.npz")["latents"], mean.numpy(), atol=1e-5)


def test_conditional_labels_come_from_label_then_the_input_then_the_best_of_all(runs, gz, tmp_path):
    run = runs["cgan_mnist"]
    inputs = _digits(tmp_path, n=6, size=28, labels=True)
    assert gz("project", f"checkpoint={run}", f"input={inputs}", "out=k.npz", "label=3", *FAST)[0] == 0
    assert np.load("k.npz")["labels"].tolist() == [3] * 6
    assert gz("project", f"checkpoint={run}", f"input={inputs}", "out=given.npz", *FAST)[0] == 0
    given = np.load("given.npz")["labels"]
    assert given.dtype == np.int64 and given.tolist() == np.load(inputs)["labels"].tolist()
    plain = tmp_path / "plain.npz"
    np.savez(plain, images=np.load(inputs)["images"])
    assert gz("project", f"checkpoint={run}", f"input={plain}", "out=best.npz", *FAST)[0] == 0
    best = np.load("best.npz")
    assert best["labels"].min() >= 0 and best["labels"].max() < 10
    # the best of all labels is at least as close as the labels given for these (unrelated) images
    assert best["distances"].mean() <= np.load("given.npz")["distances"].mean() + 1e-6


def test_projection_is_deterministic_for_a_seed(runs, gz, tmp_path):
    inputs = _digits(tmp_path, n=3, size=32)
    for name in ("a", "b"):
        assert gz("project", f"checkpoint={runs['dcgan_mnist']}", f"input={inputs}", f"out={name}.npz", *FAST)[0] == 0
    assert np.array_equal(np.load("a.npz")["latents"], np.load("b.npz")["latents"])


def test_a_folder_of_images_is_projected_in_sorted_order(runs, gz, tmp_path):
    from PIL import Image

    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, v in enumerate((200, 10, 90)):  # b.png, c.png, a.png: sorted order is a, b, c
        Image.fromarray(np.full((40, 40), v, np.uint8)).save(folder / f"{'bca'[i]}.png")
    rc, text = gz("project", f"checkpoint={runs['dcgan_mnist']}", f"input={folder}", "out=f.npz", *FAST)
    assert rc == 0, text[-2000:]
    t = np.load("f.npz")["targets"]
    assert t.shape == (3, 1, 32, 32) and [int(x[0, 16, 16]) for x in t] == [90, 200, 10]


def test_refusals_name_the_problem_and_the_fix(runs, gz, tmp_path, monkeypatch):
    inputs = _digits(tmp_path, n=2, size=32)
    dc = f"checkpoint={runs['dcgan_mnist']}"
    rc, text = gz("project", dc, "input=nothere.npz", "out=p.npz")
    assert rc == 2 and "input=nothere.npz" in error_line(text) and not Path("p.npz").exists()
    rc, text = gz("project", dc, f"input={inputs}", "out=p.npz", "space=w")
    assert rc == 2 and "space=z" in error_line(text)
    rc, text = gz("project", dc, f"input={inputs}", "out=p.npz", "label=2")
    assert rc == 2 and "unconditional" in error_line(text)
    Path("taken.npz").write_bytes(b"keep")
    rc, text = gz("project", dc, f"input={inputs}", "out=taken.npz")
    assert rc == 2 and "overwrite=true" in error_line(text) and Path("taken.npz").read_bytes() == b"keep"
    rc, text = gz("project", f"checkpoint={runs['pix2pix_edges_mnist']}", f"input={inputs}", "out=p.npz")
    assert rc == 2 and "translate" in error_line(text)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_torch_home"))
    rc, text = gz("project", dc, f"input={inputs}", "out=p.npz", "feature=lpips")
    assert rc == 2 and "feature=domain" in error_line(text) and "alexnet" in error_line(text).lower()
    rc, text = gz("project", f"checkpoint={runs['cgan_mnist']}", f"input={inputs}", "out=p.npz", "label=10")
    assert rc == 2 and "label must be in [0, 9]" in error_line(text)
    assert not Path("p.npz").exists()


def test_help_lists_the_projection_keys(gz):
    rc, text = gz("project", "--help")
    assert rc == 0 and "space:" in text and "steps:" in text and "experiment:" not in text
