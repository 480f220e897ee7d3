"""Every game (each model YAML) on tiny tensors without a Trainer: built from its config as `gan-zoo train` builds
it, one training step on one small batch takes one critic and one generator update, moves every network it
optimises and logs finite values; a noise game then samples the data's shape, an image-to-image game translates
to the target's shape."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from cheap_runs import run_cli

from gan_zoo.build import build_gan, data_facts, instantiate_checked

CONF = Path(__file__).parents[1] / "gan_zoo" / "conf"
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
# The data each game is exercised on (the model's own kind of data); every other model runs on the default digits.
DATA = {"mlp": "ring8", "pix2pix": "edges_mnist", "cyclegan": "digits2mnist"}


class NoTrainer:
    """The few Trainer services a training step uses, done with plain torch."""

    def optimizers(self, use_pl_optimizer: bool = True):
        return self._test_optimizers

    def manual_backward(self, loss: torch.Tensor, *args, **kwargs) -> None:
        loss.backward()

    def toggle_optimizer(self, opt) -> None:
        mine = {id(p) for group in opt.param_groups for p in group["params"]}
        self._test_frozen = [p for p in self.parameters() if p.requires_grad and id(p) not in mine]
        for p in self._test_frozen:
            p.requires_grad_(False)

    def untoggle_optimizer(self, opt) -> None:
        for p in self._test_frozen:
            p.requires_grad_(True)

    def log_step(self, logs: dict, batch_size: int) -> None:
        self.test_logs = logs


def game_and_batch(model: str, make_cfg) -> tuple[torch.nn.Module, object, dict]:
    """The game of `model=X debug=tiny` outside a Trainer, one batch of 8 from its data, and the data facts."""
    cfg = make_cfg(
        [f"model={model}", f"data={DATA.get(model, 'mnist_mini')}", "debug=tiny", "data.batch_size=8", "metrics=none"]
    )
    if cfg.model.get("lr_decay_start") is not None:  # the decay spans a Trainer's budget (tested with one)
        cfg.model.lr_decay_start = None
    datamodule = instantiate_checked(cfg.data, "data")
    facts = data_facts(datamodule)
    gan = build_gan(cfg, facts)
    gan.__class__ = type(f"Outside{type(gan).__name__}", (NoTrainer, type(gan)), {})
    gan._test_optimizers = gan.configure_optimizers()
    if isinstance(gan._test_optimizers, tuple):  # (optimizers, schedulers) with lr_decay_start
        gan._test_optimizers = gan._test_optimizers[0]
    batch = next(iter(datamodule.train_dataloader()))
    return gan, datamodule.on_after_batch_transfer(batch, 0), facts


@pytest.mark.parametrize("model", MODELS)
def test_one_training_step_updates_every_network_and_the_game_makes_the_datas_shape(model, make_cfg):
    torch.manual_seed(0)
    gan, batch, facts = game_and_batch(model, make_cfg)
    nets = gan.optimized_networks()
    assert set(nets) >= {"d", "g"} or model == "vae"
    before = {name: [p.detach().clone() for m in ms for p in m.parameters()] for name, ms in nets.items()}
    gan.train()
    gan.training_step(batch, 0)
    assert gan.g_steps == 1
    for name, ms in nets.items():
        after = [p for m in ms for p in m.parameters()]
        assert any(not torch.equal(a, b) for a, b in zip(before[name], after)), f"optimizer {name} moved nothing"
    logs = {k: float(v) for k, v in gan.test_logs.items()}
    assert logs and all(math.isfinite(v) for v in logs.values()), logs
    if facts["kind"] in ("paired", "unpaired"):
        x = batch["a"] if isinstance(batch, dict) else batch[0]
        y = gan.translate(x[:3].float())
        assert y.shape[0] == 3 and torch.isfinite(y).all()
        return
    x, _ = gan.sample(5, seed=0)
    assert list(x.shape) == [5, *facts["shape"]] and torch.isfinite(x).all()
    again, _ = gan.sample(5, seed=0)
    assert torch.equal(x, again)  # a seed names one set of samples


@pytest.mark.parametrize(
    "model,key,right",
    [("stylegan", "model.truncation=0.5", "model.psi"), ("dcgan", "model.psi=0.5", "model.truncation")],
)
def test_a_truncation_key_of_the_other_meaning_exits_2_naming_the_right_one(
    model, key, right, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    rc, text = run_cli(capsys, "train", f"model={model}", key)
    assert rc == 2 and f"'{right}'" in text and not any(tmp_path.iterdir())
