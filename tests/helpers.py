"""Test-only callbacks injected through Hydra (`+callbacks.x._target_=helpers.Name`)."""

import os
import signal

import lightning as L


class SigkillAfterEpoch(L.Callback):
    """SIGKILL this process at the end of training epoch `epoch` (after that epoch's checkpoint is written)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


def nan_loss(real_logits, fake_logits):
    """A critic loss that is NaN from the start: stands in for a diverging run."""
    return (real_logits.mean() - fake_logits.mean()) * float("nan")
