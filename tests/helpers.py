"""Test-only callbacks injected through Hydra (`+callbacks.x._target_=helpers.Name`)."""

import os
import signal

import lightning as L


class SigkillAfterEpoch(L.Callback):
    """SIGKILL this process at the end of training epoch `epoch` (after that epoch's checkpoint is written)."""

    def __init__(self, epoch: int, once_file: str | None = None) -> None:
        self.epoch = epoch
        self.once_file = once_file  # only the first command to get there is killed (it creates the file)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            if self.once_file is not None:
                if os.path.exists(self.once_file):
                    return
                open(self.once_file, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)


class DumpWeightsPerRank(L.Callback):
    """At the end of training, each rank saves its module's state_dict to `<path><rank>.pt` (DDP checks)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        import torch

        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        torch.save(state, f"{self.path}{trainer.global_rank}.pt")


def train_ddp_sim_rank_states(overrides, tmp_path, timeout=900):
    """`gan-zoo train hardware=ddp_sim ...` as a real command (Lightning relaunches it once per rank), with every
    rank dumping its state_dict at the end (DumpWeightsPerRank). Returns (rank 0's state, rank 1's state)."""
    import subprocess
    import sys
    from pathlib import Path

    import torch

    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "GAN_ZOO_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": str(Path(__file__).parent),
    }
    args = [
        sys.executable,
        "-m",
        "gan_zoo.cli",
        "train",
        "hardware=ddp_sim",
        "run_id=r",
        *overrides,
        "+callbacks.dump._target_=helpers.DumpWeightsPerRank",
        f"+callbacks.dump.path={tmp_path}/w",
    ]
    r = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return tuple(torch.load(tmp_path / f"w{k}.pt", weights_only=False) for k in (0, 1))


def nan_loss(real_logits, fake_logits):
    """A critic loss that is NaN from the start: stands in for a diverging run."""
    return (real_logits.mean() - fake_logits.mean()) * float("nan")


def write_standin_inception(path):
    """A file with torch-fidelity's Inception-v3 architecture and random weights (the real file cannot be
    downloaded here). Same tensors, same cost; features are meaningless. Returns its path."""
    import torch
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class _Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, *args, **kwargs):  # skip the weights on construction
            return None

    empty = f"{path}.empty"
    torch.save({}, empty)
    torch.manual_seed(0)
    net = _Unloaded("standin", ["2048"], feature_extractor_weights_path=empty)
    os.remove(empty)
    torch.save(net.state_dict(), path)
    return path


class SignalAt(L.Callback):
    """Send this process `signum` (a name: SIGINT, SIGTERM) `times` times in a row, once: after generator step
    `g_step` (`where=train`) or when the first validation after it starts (`where=validation`). Stands in for a
    user pressing Ctrl-C or a scheduler sending SIGTERM at that moment. With `once_file`, only the first command
    that reaches the moment sends (it creates the file), so the printed resume command can be run as it is."""

    def __init__(
        self, g_step: int, signum: str = "SIGINT", times: int = 1, where: str = "train", once_file: str | None = None
    ) -> None:
        self.g_step, self.signum, self.times, self.where = g_step, getattr(signal, signum), times, where
        self.once_file = once_file
        self.sent = False

    def _send(self, pl_module: L.LightningModule) -> None:
        if not self.sent and pl_module.g_steps >= self.g_step:
            self.sent = True
            if self.once_file is not None:
                if os.path.exists(self.once_file):
                    return
                open(self.once_file, "w").close()
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.where == "train":
            self._send(pl_module)

    def on_validation_start(self, trainer, pl_module) -> None:
        if self.where == "validation":
            self._send(pl_module)
