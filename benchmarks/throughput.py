"""Training throughput of an experiment through the real Trainer (generator steps/s and images/s).

    python benchmarks/throughput.py experiment=dcgan_mnist hardware=cpu
    python benchmarks/throughput.py experiment=dcgan_mnist hardware=bf16 hardware.accelerator=cpu
    python benchmarks/throughput.py experiment=pacgan_ring8 trainer.compile=true   # torch.compile (no penalty games)

Times `trainer.limit_train_batches` batches after one warm-up epoch, validation off, logger off.
Results are recorded by hand in benchmarks/RESULTS.md with the command and the machine.
"""

from __future__ import annotations

import sys
import tempfile
import time

import hydra
import lightning as L
import torch
from hydra import compose, initialize_config_module
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from gan_zoo.build import build_gan, data_facts


class Timer(L.Callback):
    """Wall time, batches run and generator steps of each training epoch, counted, not assumed: an epoch can
    hold fewer batches than `limit_train_batches` (a count larger than the epoch is capped by Lightning), which
    made this script over-report 164k img/s where 26k were true (issue 10)."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.t0, self.batches, self.g0 = time.perf_counter(), 0, pl_module.g_steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batches += 1

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.epochs.append(
            {"seconds": time.perf_counter() - self.t0, "batches": self.batches, "g_steps": pl_module.g_steps - self.g0}
        )


def main(overrides: list[str]) -> None:
    """Compose the config, train 2 epochs of `limit_train_batches` batches, report the second."""
    with initialize_config_module("gan_zoo.conf", version_base="1.3"):
        cfg = compose("train", overrides=["trainer.limit_train_batches=50", *overrides], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.paths.output_dir = tempfile.mkdtemp()
    L.seed_everything(0, verbose=False)
    dm = hydra.utils.instantiate(cfg.data)
    gan = build_gan(cfg, data_facts(dm))
    if cfg.trainer.get("compile"):  # the first epoch (warm-up) pays the compilation; reported separately
        gan.compile_networks()
    timer = Timer()
    hw = dict(cfg.hardware)
    trainer = L.Trainer(
        **hw,
        max_epochs=2,
        limit_train_batches=cfg.trainer.limit_train_batches,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[timer],
        enable_model_summary=False,
    )
    trainer.fit(gan, datamodule=dm)
    last = timer.epochs[-1]
    t, batches, g_steps = last["seconds"], int(last["batches"]), int(last["g_steps"])
    bs = dm.batch_size
    if batches < float(cfg.trainer.limit_train_batches):
        print(
            f"note: the epoch holds {batches} batches, fewer than "
            f"limit_train_batches={cfg.trainer.limit_train_batches}; "
            "the figures below count the batches that ran"
        )
    print(
        f"{cfg.name} precision={cfg.hardware.precision} threads={torch.get_num_threads()} batch={bs}: "
        f"{batches / t:.1f} batches/s, {g_steps / t:.1f} generator steps/s, {batches * bs / t:.0f} real images/s, "
        f"{t / batches * 1000:.1f} ms/batch; a {len(dm.train_set)}-image epoch takes "
        f"{len(dm.train_set) / bs * t / batches:.1f} s; warm-up epoch {timer.epochs[0]['seconds']:.1f} s"
        f"{' (includes torch.compile)' if cfg.trainer.get('compile') else ''}"
    )


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):  # Hydra overrides only: say so instead of a parse error
        print(
            __doc__.strip() + "\n\nArguments are Hydra overrides of the train config (gan-zoo train --help lists them)."
        )
        sys.exit(0)
    main(sys.argv[1:])
