"""Adding a game is one module plus one model YAML: a toy game defined here, its YAML under tmp_path (found
through Hydra's search path, which the CLI honours), trained, sampled and evaluated through `gan_zoo.cli.main`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from cheap_runs import run_cli

from gan_zoo.models import NoiseGAN
from gan_zoo.models.base import Batch, Logs
from gan_zoo.models.contract import Capabilities


class ToyGame(NoiseGAN):
    """A noise game whose generator matches the critic's mean output on real data (a made-up objective)."""

    CAPABILITIES = Capabilities()  # noise in, no conditions, no truncation

    def g_main(self, batch: Batch, state: dict[str, Any]) -> tuple[torch.Tensor, Logs]:
        x, _ = batch
        fake, _ = self.fake_batch(len(x), None)
        loss = (self.critic(fake, None).mean() - self.critic(x, None).mean().detach()).pow(2)
        return loss, {"train/g_loss": loss.detach()}


TOY_YAML = """\
_target_: test_new_game.ToyGame
latent_dim: 4
conditional: false
generator:
  _target_: gan_zoo.networks.mlp.MLPGenerator
  hidden: [16]
  output: linear
discriminator:
  _target_: gan_zoo.networks.mlp.MLPDiscriminator
  hidden: [16]
g_optimizer:
  _target_: torch.optim.Adam
  _partial_: true
  lr: 1.0e-3
d_optimizer:
  _target_: torch.optim.Adam
  _partial_: true
  lr: 1.0e-3
"""


def test_a_game_from_outside_the_package_trains_samples_and_evaluates(tmp_path: Path, capsys) -> None:
    conf = tmp_path / "conf" / "model"
    conf.mkdir(parents=True)
    (conf / "toy.yaml").write_text(TOY_YAML)
    search = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    run = tmp_path / "run"
    rc, text = run_cli(
        capsys,
        "train",
        "model=toy",
        "data=ring8",
        "metrics=mixture",
        "debug=tiny",
        search,
        f"hydra.run.dir={run}",
        f"paths.root_dir={tmp_path}",
    )
    assert rc == 0, text
    assert (run / "checkpoints" / "last.ckpt").is_file()

    rc, text = run_cli(capsys, "sample", f"checkpoint={run}", "num=16", f"out={tmp_path}/toy.npz")
    assert rc == 0, text
    samples = np.load(tmp_path / "toy.npz")["samples"]
    assert samples.shape == (16, 2) and np.isfinite(samples).all()

    rc, text = run_cli(capsys, "evaluate", f"checkpoint={run}", "num_fake=200", f"out={tmp_path}/toy.json")
    assert rc == 0, text
    assert (tmp_path / "toy.json").is_file()

    # The contract is checked in one place: the toy game declared no codes, so code= is refused with the fix.
    rc, text = run_cli(capsys, "sample", f"checkpoint={run}", "num=4", "code=1", f"out={tmp_path}/c.npz")
    assert rc == 2 and "has no codes" in text


def test_a_model_yaml_outside_the_search_path_is_refused(tmp_path: Path, capsys) -> None:
    rc, text = run_cli(capsys, "train", "model=toy", "data=ring8", "debug=tiny", f"hydra.run.dir={tmp_path}/run")
    assert rc == 2 and "toy" in text
