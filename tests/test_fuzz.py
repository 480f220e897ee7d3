"""Fuzz the commands other than train: bad values, wrong checkpoint kinds, bad paths, truncated files. Every
invocation either succeeds or exits 2 with one message (no traceback), and no file of an existing run changes.

The default suite runs a short list in-process through `gan_zoo.cli.main` on checkpoints with untrained weights
(tests/cheap_runs.py); the `slow` test crosses every command with every checkpoint kind and bad value."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from cheap_runs import QUICK_CLASSIFIER, cheap_run, md5s, run_cli

KINDS = ("dcgan_mnist", "infogan_mnist", "pix2pix_edges_mnist", "wgan_gp_ring8")  # what the short list needs
MORE_KINDS = ("cgan_mnist", "vae_mnist")  # the full fuzz adds these


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run directories of every checkpoint kind, plus broken inputs beside them (outside the runs)."""
    root = tmp_path_factory.mktemp("zoo")
    runs = {kind: cheap_run(root / "runs", kind) for kind in KINDS}
    bad = root / "bad"
    bad.mkdir()
    ckpt = (runs["dcgan_mnist"] / "checkpoints" / "last.ckpt").read_bytes()
    (bad / "truncated.ckpt").write_bytes(ckpt[: len(ckpt) // 2])
    (bad / "empty.ckpt").write_bytes(b"")
    (bad / "no_checkpoints").mkdir()
    np.savez(bad / "samples.npz", images=np.zeros((4, 1, 32, 32), np.uint8))  # a file that is not a checkpoint
    np.savez(bad / "short_labels.npz", images=np.zeros((6, 1, 32, 32), np.uint8), labels=np.arange(4))
    np.savez(bad / "float_images.npz", images=np.zeros((6, 1, 32, 32), np.float32))
    good = (bad / "samples.npz").read_bytes()
    (bad / "truncated.npz").write_bytes(good[: len(good) // 3])
    (bad / "a_file").write_text("not a folder")
    return {"root": root, "runs": runs, "bad": bad}


def _check(capsys, args: list[str], expect: int | None = None) -> tuple[int, str]:
    rc, text = run_cli(capsys, *args)
    assert rc in (0, 2), f"gan-zoo {' '.join(args)} exited {rc}:\n{text[-3000:]}"
    assert "Traceback" not in text and "Error executing job" not in text, f"gan-zoo {' '.join(args)}:\n{text[-3000:]}"
    if rc == 2:
        errors = [line for line in text.splitlines() if "error:" in line]
        assert len(errors) == 1, f"gan-zoo {' '.join(args)} printed {len(errors)} error lines:\n{text[-3000:]}"
    if expect is not None:
        assert rc == expect, f"gan-zoo {' '.join(args)} exited {rc}, expected {expect}:\n{text[-3000:]}"
    return rc, text


def _cases(zoo: dict, out: Path) -> list[tuple[list[str], int, bool]]:
    """(arguments, expected exit code, in the short list): the short ones fail before any slow work, or succeed in
    well under a second."""
    dc, p2p, bad = zoo["runs"]["dcgan_mnist"], zoo["runs"]["pix2pix_edges_mnist"], zoo["bad"]
    s = ["sample", f"checkpoint={dc}", "num=4"]
    short = [
        (s + [f"out={out}/a.npz"], 0),
        (s + [f"out={out}/a.npz"], 2),  # exists
        (s + [f"out={out}/a.npz", "overwrite=true"], 0),
        (s + [f"out={out}/grid.png"], 2),
        (s + [f"out={bad}/a_file/x.npz"], 2),
        (s + ["out=/proc/gan_zoo_fuzz/x.npz"], 2),
        (s + [f"out={out}/b.npz", "code=3"], 2),
        (s + [f"out={out}/b.npz", "seed=abc"], 2),
        (["sample", f"checkpoint={p2p}", f"out={out}/b.npz"], 2),
        (["sample", f"checkpoint={bad}/truncated.ckpt", f"out={out}/b.npz"], 2),
        (["sample", f"checkpoint={bad}/samples.npz", f"out={out}/b.npz"], 2),
        (["sample", f"checkpoint={dc}", "nosuchkey=1"], 2),
        (["translate", f"checkpoint={dc}", f"out={out}/t.npz"], 2),
        (["translate", f"checkpoint={p2p}", f"out={out}/t.png"], 2),
        (["translate", f"checkpoint={p2p}", "resize=huge", f"input={bad}", f"out={out}/t.npz"], 2),
        (["evaluate", f"checkpoint={p2p}"], 2),
        (["evaluate", f"checkpoint={dc}", "out=/proc/gan_zoo_fuzz.json"], 2),
        (["evaluate", f"checkpoint={dc}", f"out={bad}/a_file/e.json"], 2),
        (["evaluate", f"checkpoint={dc}", "metrics=[fid,fidd]"], 2),
        (["evaluate", f"checkpoint={zoo['runs']['wgan_gp_ring8']}", "metrics=[fid]"], 2),
        (["evaluate", f"checkpoint={zoo['runs']['infogan_mnist']}", "metrics=[fid,intra_fid,classes]"], 2),
        (["evaluate", f"samples={bad}/short_labels.npz", "data=mnist_mini"], 2),
        (["evaluate", f"samples={bad}/truncated.npz", "data=mnist_mini"], 2),
        (["analyse", "interpolate", f"checkpoint={dc}", f"out={out}/an", "rows=2", "steps=2"], 0),
        (["analyse", "interpolate", f"checkpoint={dc}", f"out={out}/an", "rows=2", "steps=2"], 2),
        (["analyse", "traverse", f"checkpoint={dc}", f"out={out}/traverse"], 2),
        (["analyse", "interpolate", f"checkpoint={p2p}", f"out={out}/an2"], 2),
        (["analyse", "interpolate", f"checkpoint={dc}", f"out={bad}/a_file"], 2),
        (["analyse", "interpolate", f"checkpoint={dc}", "out=/proc/gan_zoo_fuzz"], 2),
    ]
    more = [
        (s + [f"out={out}/b.npz", "label=3"], 2),
        (s + [f"out={out}/b.npz", "batch_size=0"], 2),
        (s + [f"out={out}/b.npz", "truncation=-1"], 2),
        (["sample", f"checkpoint={dc}", "num=0", f"out={out}/b.npz"], 2),
        (["sample", f"checkpoint={bad}/empty.ckpt", f"out={out}/b.npz"], 2),
        (["sample", f"checkpoint={bad}/no_checkpoints", f"out={out}/b.npz"], 2),
        (["sample", f"checkpoint={bad}/missing", f"out={out}/b.npz"], 2),
        (["translate", f"checkpoint={p2p}", "direction=sideways", f"out={out}/t.npz"], 2),
        (["evaluate"], 2),
        (["evaluate", f"checkpoint={dc}", "extractor=clip"], 2),
        (["evaluate", f"checkpoint={dc}", "num_fake=1"], 2),
        (["evaluate", f"samples={bad}/missing.npz", "data=mnist_mini"], 2),
        (["evaluate", f"samples={bad}/samples.npz"], 2),
        (["analyse", "wobble", f"checkpoint={dc}", f"out={out}/an"], 2),
        (["analyse", "mixing", f"checkpoint={dc}", f"out={out}/mixing"], 2),
        (["analyse", "interpolate", f"checkpoint={dc}", f"out={out}/an3", "rows=0"], 2),
        (["analyse", "truncation", f"checkpoint={dc}", f"out={out}/tr", "thresholds=[-1]"], 2),
    ]
    return [(a, rc, True) for a, rc in short] + [(a, rc, False) for a, rc in more]


def test_short_fuzz_exits_0_or_2_with_one_message_and_runs_stay_intact(zoo, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GAN_ZOO_CACHE", str(zoo["root"] / "cache"))
    before = md5s(zoo["root"] / "runs")
    for args, expect, short in _cases(zoo, tmp_path / "out"):
        if short:
            _check(capsys, args, expect)
    after = md5s(zoo["root"] / "runs")
    assert {k: v for k, v in after.items() if k in before} == before  # new files may appear (eval/), none changed
    # refused commands left no folder behind
    assert not any((tmp_path / "out" / name).exists() for name in ("traverse", "an2"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.npz", "a.png", "an"]


BAD_VALUES = {
    "sample": [
        "num=-3",
        "num=abc",
        "label=-1",
        "label=99",
        "code=99",
        "truncation=0",
        "psi=-1",
        "psi_cutoff=2",
        "noise_mode=fresh",
        "device=cuda:7",
        "ema=maybe",
        "batch_size=-1",
        "seed=1.5",
    ],
    "translate": [
        "num=0",
        "num=x",
        "direction=BtoA",
        "rows=0",
        "batch_size=0",
        "resize=bilinear",
        "device=cuda:7",
        "input=/nonexistent",
    ],
    "evaluate": [
        "num_fake=0",
        "seeds=[0,0]",
        "seeds=[a]",
        "split=test",
        "num_real=1",
        "max_samples=0",
        "metrics=[]",
        "metrics=[is]",
        "extractor=inception",
        "device=cuda:7",
        "noise_mode=const",
        "data=ring8",
    ],
    "analyse": [
        "rows=-1",
        "steps=0",
        "target=99",
        "psis=[-1]",
        "thresholds=[0]",
        "iterations=0",
        "p_steps=1",
        "num=0",
        "noise_mode=x",
        "psi_cutoff=1",
    ],
}
MODES = ("interpolate", "label-sweep", "truncation", "traverse", "steer", "mixing", "augment")


@pytest.mark.slow
def test_full_fuzz_every_command_kind_and_bad_value(zoo, tmp_path, capsys, monkeypatch):
    """Every command on every checkpoint kind and broken input, alone and with each bad value."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GAN_ZOO_CACHE", str(zoo["root"] / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no Inception weights: evaluate must say so
    for kind in MORE_KINDS:
        zoo["runs"][kind] = cheap_run(zoo["root"] / "runs", kind)
    before = md5s(zoo["root"] / "runs")
    for args, expect, _ in _cases(zoo, tmp_path / "listed"):
        _check(capsys, args, expect)
    bad = zoo["bad"]
    sources = [
        *zoo["runs"].values(),
        bad / "truncated.ckpt",
        bad / "empty.ckpt",
        bad / "samples.npz",
        bad / "no_checkpoints",
    ]
    counter = itertools.count()
    for source in sources:
        for cmd, values in BAD_VALUES.items():
            for extra in [None, *values]:
                first = [cmd] if cmd != "analyse" else [cmd, MODES[next(counter) % len(MODES)]]
                small = {
                    "sample": ["num=4"],
                    "translate": ["num=4"],
                    "analyse": [
                        "rows=2",
                        "steps=2",
                        "num=20",
                        "iterations=2",
                        "p_steps=2",
                        "seeds=1",
                        "epochs=1",
                        "thresholds=[1.0]",
                    ],
                    "evaluate": [
                        "num_fake=20",
                        *QUICK_CLASSIFIER,
                        "kid_subsets=2",
                        "kid_subset_size=10",
                    ],
                }[cmd]
                kw = {k.split("=")[0]: k for k in small}
                if extra is not None:
                    kw[extra.split("=")[0]] = extra
                out = (
                    tmp_path
                    / f"o{next(counter)}"
                    / ("an" if cmd == "analyse" else "e.json" if cmd == "evaluate" else "x.npz")
                )
                _check(capsys, [*first, f"checkpoint={source}", f"out={out}", *kw.values()])
    for name in ("short_labels.npz", "float_images.npz", "truncated.npz", "samples.npz", "missing.npz"):
        for data in ("mnist_mini", "ring8", "digits"):
            _check(
                capsys,
                [
                    "evaluate",
                    f"samples={bad / name}",
                    f"data={data}",
                    *QUICK_CLASSIFIER,
                    f"out={tmp_path / f'e{next(counter)}.json'}",
                ],
            )
    after = md5s(zoo["root"] / "runs")
    assert {k: v for k, v in after.items() if k in before} == before
