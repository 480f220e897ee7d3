"""`ddp_phase_allreduce`: data parallelism for manual-optimisation GANs without DDP's unused-parameter search.

Lightning's DDP wraps the whole LightningModule in one DistributedDataParallel. A GAN's critic step leaves the
generator's parameters unused (and the generator step the critic's), so that wrapper needs
`find_unused_parameters=True` (Lightning #20328): after every forward DDP walks the autograd graph to mark the
parameters that got no gradient. `find_unused_parameters=False` fails on the first step, and `static_graph`
does not fit either (the used set alternates between phases).

This strategy keeps Lightning's process launch, process group, samplers and collectives, but does not wrap the
module: the base's update helper (`AdversarialModule.update`) all-reduces (mean) the gradients of exactly the
networks the optimizer being stepped owns, as one flattened tensor, between `manual_backward` and `step`. That is
what "separate DDP wrapping of each network" does, with one bucket per phase and no graph walk. Parameters and
buffers start from rank 0's (broadcast at setup). Every rank must produce the same set of gradients in a phase
(true for every game here: the graph depends only on the config and the step counter, never on the data).
Measured against `ddp_find_unused_parameters_true` in benchmarks/ddp_strategies.py (numbers in RESULTS.md).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from lightning.pytorch.overrides.distributed import _sync_module_states
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


class PhaseAllReduceStrategy(DDPStrategy):
    """DDPStrategy without the DistributedDataParallel wrapper; gradients are reduced per optimizer update."""

    strategy_name = "ddp_phase_allreduce"
    reduces_gradients_per_phase = True

    def configure_ddp(self) -> None:
        """No wrapper: broadcast rank 0's parameters and buffers so every rank starts from the same state."""
        _sync_module_states(self.model)


def all_reduce_gradients(params: list[torch.nn.Parameter]) -> None:
    """Average the gradients of `params` (those that have one) over all ranks: one all_reduce of a flat buffer."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads or not dist.is_initialized():
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat.div_(dist.get_world_size())
    for g, reduced in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(reduced)


if PhaseAllReduceStrategy.strategy_name not in StrategyRegistry:
    StrategyRegistry.register(
        PhaseAllReduceStrategy.strategy_name,
        PhaseAllReduceStrategy,
        description="DDP without the module wrapper: per-phase gradient all-reduce (gan_zoo)",
        start_method="popen",
    )
