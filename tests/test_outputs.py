"""What sample, translate, evaluate and analyse do with outputs a user names, and with options they cannot honour:
each test is the user's command (in-process `gan_zoo.cli.main`) and what must remain on disk afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cheap_runs import cheap_run, error_line, md5s
from PIL import Image

KINDS = ("dcgan_mnist", "cgan_mnist", "infogan_mnist", "vae_mnist", "pix2pix_edges_mnist", "wgan_gp_ring8")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A run directory of every checkpoint kind (untrained weights: tests/cheap_runs.py)."""
    root = tmp_path_factory.mktemp("runs")
    return {kind: cheap_run(root, kind) for kind in KINDS}


# ------------------------------------------------------------------------------------------- finding 5: overwrites
def test_sample_keeps_an_existing_npz_and_png_unless_overwrite(runs, gz, tmp_path):
    first = ["sample", f"checkpoint={runs['dcgan_mnist']}", "num=6", "out=s.npz"]
    assert gz(*first)[0] == 0
    kept = md5s(tmp_path)
    assert {"s.npz", "s.png"} <= set(kept)
    rc, text = gz(*first, "seed=1")
    assert rc == 2 and "overwrite=true" in error_line(text)
    assert md5s(tmp_path) == kept  # neither the .npz nor its picture changed
    assert gz(*first, "seed=1", "overwrite=true")[0] == 0
    again = md5s(tmp_path)
    assert again["s.npz"] != kept["s.npz"] and again["s.png"] != kept["s.png"]


def test_evaluate_names_its_json_after_the_metrics_and_keeps_existing_ones(runs, gz):
    run = runs["wgan_gp_ring8"]
    assert gz("evaluate", f"checkpoint={run}", "num_fake=200", "metrics=[modes]")[0] == 0
    assert gz("evaluate", f"checkpoint={run}", "num_fake=200", "metrics=[reverse_kl]")[0] == 0
    files = {p.name: json.loads(p.read_text()) for p in (run / "eval").glob("*.json")}
    assert len(files) == 2  # two metric lists, two files: the first result survives the second command
    assert sorted(v["metric"] for f in files.values() for v in f["values"]) == ["modes", "reverse_kl"]
    kept = md5s(run)
    rc, text = gz("evaluate", f"checkpoint={run}", "num_fake=200", "metrics=[modes]", "seed=3")
    assert rc == 2 and "overwrite=true" in error_line(text) and md5s(run) == kept
    assert gz("evaluate", f"checkpoint={run}", "num_fake=200", "metrics=[modes]", "seed=3", "overwrite=true")[0] == 0
    changed = {k for k, v in md5s(run).items() if kept[k] != v}
    assert len(changed) == 1 and changed.pop().startswith("eval/")


def test_analyse_keeps_a_modes_files_unless_overwrite(runs, gz, tmp_path):
    args = ["analyse", "interpolate", f"checkpoint={runs['dcgan_mnist']}", "out=an", "rows=2", "steps=3"]
    assert gz(*args)[0] == 0
    kept = md5s(tmp_path / "an")
    assert {"interpolate_z.png", "interpolate_z.npz", "summary.json"} <= set(kept)
    rc, text = gz(*args[:-2], "rows=3", "steps=3")
    assert rc == 2 and "overwrite=true" in error_line(text) and md5s(tmp_path / "an") == kept
    assert gz(*args[:-2], "rows=3", "steps=3", "overwrite=true")[0] == 0
    assert np.load(tmp_path / "an" / "interpolate_z.npz")["images"].shape[0] == 9


def test_translate_keeps_an_existing_npz_unless_overwrite(runs, gz, tmp_path):
    folder = _folder(tmp_path / "in", 32)
    args = ["translate", f"checkpoint={runs['pix2pix_edges_mnist']}", f"input={folder}", "out=t.npz"]
    assert gz(*args)[0] == 0
    kept = md5s(tmp_path)
    rc, text = gz(*args)
    assert rc == 2 and "overwrite=true" in error_line(text) and md5s(tmp_path) == kept
    assert gz(*args, "overwrite=true")[0] == 0


# ------------------------------------------------------------------------------------------- finding 6: one message
@pytest.mark.parametrize("place", ["file", "proc"])
def test_outputs_under_a_file_or_proc_are_refused_and_nothing_is_made(runs, gz, tmp_path, place):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    base = "notes.txt/sub" if place == "file" else "/proc/gan_zoo_test"
    dc = runs["dcgan_mnist"]
    kept_run, kept_here = md5s(dc), md5s(tmp_path)
    for args in (
        ["sample", f"checkpoint={dc}", "num=4", f"out={base}/s.npz"],
        ["evaluate", f"checkpoint={dc}", f"out={base}/e.json"],
        ["analyse", "interpolate", f"checkpoint={dc}", f"out={base}/an"],
    ):
        rc, text = gz(*args)
        assert rc == 2 and "out=" in error_line(text), text
    assert md5s(dc) == kept_run and md5s(tmp_path) == kept_here


def test_evaluate_refuses_labels_of_the_wrong_length(gz, tmp_path):
    np.savez(tmp_path / "s.npz", images=np.zeros((8, 1, 32, 32), np.uint8), labels=np.zeros(5, np.int64))
    rc, text = gz("evaluate", "samples=s.npz", "data=mnist_mini")
    assert rc == 2 and "`labels`" in error_line(text)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]


def test_evaluate_on_a_translation_checkpoint_names_translate(runs, gz):
    rc, text = gz("evaluate", f"checkpoint={runs['pix2pix_edges_mnist']}")
    assert rc == 2 and "gan-zoo translate" in error_line(text)
    assert not (runs["pix2pix_edges_mnist"] / "eval").exists()


# ------------------------------------------------------------------------------------------- finding 7: no
# silent ignore
@pytest.mark.parametrize("kind", ["dcgan_mnist", "cgan_mnist", "vae_mnist"])
def test_sample_code_on_a_game_without_codes_is_refused(runs, gz, tmp_path, kind):
    rc, text = gz("sample", f"checkpoint={runs[kind]}", "num=4", "code=3", "out=new/s.npz")
    assert rc == 2 and "code=" in error_line(text)
    assert not (tmp_path / "new").exists()
    assert gz("sample", f"checkpoint={runs['infogan_mnist']}", "num=4", "code=3", "out=i.npz")[0] == 0
    assert (np.load(tmp_path / "i.npz")["codes"] == 3).all()


def test_evaluate_intra_fid_on_infogan_codes_is_refused_not_dropped(runs, gz):
    rc, text = gz("evaluate", f"checkpoint={runs['infogan_mnist']}", "metrics=[fid,intra_fid,classes]")
    assert rc == 2 and "intra_fid" in error_line(text) and "code_accuracy" in error_line(text)
    assert not (runs["infogan_mnist"] / "eval").exists()


def test_evaluate_image_metrics_on_2d_data_are_refused_and_the_default_says_what_it_scores(runs, gz):
    run = runs["wgan_gp_ring8"]
    rc, text = gz("evaluate", f"checkpoint={run}", "metrics=[fid]", "out=fid.json")
    assert rc == 2 and "modes" in error_line(text) and not Path("fid.json").exists()
    assert gz("evaluate", f"checkpoint={run}", "num_fake=100", "out=default.json")[0] == 0
    report = json.loads(Path("default.json").read_text())
    assert report["metrics"] == ["modes", "hq_fraction", "reverse_kl"]
    assert [v["metric"] for v in report["values"]] == report["metrics"]


def test_evaluate_refuses_labels_outside_the_classes(gz, tmp_path):
    np.savez(tmp_path / "s.npz", images=np.zeros((8, 1, 32, 32), np.uint8), labels=np.arange(8, dtype=np.int64) + 5)
    rc, text = gz("evaluate", "samples=s.npz", "data=mnist_mini", "metrics=[fid,classes]")
    assert rc == 2 and "[0, 10)" in error_line(text)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]


def test_the_fid_warning_and_the_resize_record_say_what_was_done():
    """The parts of the record that do not need a trained extractor: the words for each resize, the threshold."""
    from gan_zoo.metrics.features import describe_resize, prepare_images
    from gan_zoo.metrics.suite import fid_sample_warning

    assert describe_resize({(28, 28)}, 32, "pad") == "pad 28x28 -> 32x32"
    squashed = describe_resize({(40, 64)}, 32, "pad")
    assert squashed.startswith("bilinear 40x64 -> 32x32") and "squashed" in squashed and "pad cannot shrink" in squashed
    assert describe_resize({(32, 32)}, 32, "pad").startswith("none")
    x = np.full((1, 1, 40, 64), 200, np.uint8)
    import torch

    assert prepare_images(torch.from_numpy(x), 1, 32, "pad").shape == (1, 1, 32, 32)  # done as recorded: no error
    warning = fid_sample_warning(2, 1000, 128)
    assert warning is not None and "2 fake" in warning and "256" in warning
    assert fid_sample_warning(256, 1000, 128) is None


# ------------------------------------------------------------------------------------------- finding 8: advice works
def _folder(root: Path, size: int, n: int = 3, height: int | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((height or size, size), 40 * i, np.uint8)).save(root / f"{i}.png")
    return root


def test_translate_folder_of_larger_images_names_a_key_that_works(runs, gz, tmp_path):
    folder = _folder(tmp_path / "big", 64)
    args = ["translate", f"checkpoint={runs['pix2pix_edges_mnist']}", f"input={folder}", "out=t.npz"]
    rc, text = gz(*args)
    assert rc == 2 and "resize=bilinear" in error_line(text) and not (tmp_path / "t.npz").exists()
    assert gz(*args, "resize=bilinear")[0] == 0  # the advice, followed
    assert np.load(tmp_path / "t.npz")["sources"].shape == (3, 1, 32, 32)


def test_missing_inception_weights_name_keys_evaluate_accepts(runs, gz, tmp_path, monkeypatch):
    from gan_zoo.cli import check_overrides

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    np.savez(tmp_path / "s.npz", images=np.zeros((4, 3, 32, 32), np.uint8))
    rc, text = gz("evaluate", "samples=s.npz", "data=mnist_mini", "extractor=inception", "metrics=[fid]")
    message = error_line(text)
    assert rc == 2 and "inception.weights_path=" in message
    named = [w.rstrip(".,;") for w in message.split() if w.startswith(("inception.", "extractor="))]
    assert named and all(check_overrides("evaluate", [w.split("=")[0] + "=x"]) is None for w in named), named


def test_vae_messages_agree_and_point_to_what_works(runs, gz, tmp_path):
    vae = runs["vae_mnist"]
    rc, text = gz("translate", f"checkpoint={vae}", "out=t.npz")
    assert rc == 2 and "gan-zoo sample" in error_line(text) and "analyse interpolate" in error_line(text)
    assert gz("sample", f"checkpoint={vae}", "num=4", "out=s.npz")[0] == 0
    assert gz("analyse", "interpolate", f"checkpoint={vae}", "out=an", "rows=2", "steps=3")[0] == 0
    assert (tmp_path / "an" / "interpolate_z.png").is_file()


# ------------------------------------------------------------------------------------------- finding 9 (not train)
@pytest.mark.parametrize("cmd", ["sample", "translate", "analyse"])
def test_help_lists_the_commands_keys_not_the_training_groups(gz, cmd):
    rc, text = gz(cmd, "--help")
    assert rc == 0 and "checkpoint:" in text and "overwrite:" in text
    for group in ("experiment:", "hardware:", "loss:", "hparams_search:", "launcher:"):
        assert group not in text, group


def test_a_printed_out_is_the_file_written_and_refusals_leave_no_folders(runs, gz, tmp_path):
    rc, text = gz("sample", f"checkpoint={runs['dcgan_mnist']}", "num=4", "out=pics/grid.png")
    assert rc == 2 and "out=pics/grid.npz" in error_line(text) and not (tmp_path / "pics").exists()
    rc, text = gz("sample", f"checkpoint={runs['dcgan_mnist']}", "num=4", "out=pics/grid.npz")
    printed = {line.split()[0]: line.split()[1] for line in text.splitlines() if len(line.split()) == 2}
    assert rc == 0 and Path(printed["out"]).is_file() and Path(printed["picture"]).is_file()
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == ["grid.npz", "grid.png"]
    rc, _ = gz("analyse", "traverse", f"checkpoint={runs['dcgan_mnist']}", "out=deep/er/an")
    assert rc == 2 and not (tmp_path / "deep").exists()
