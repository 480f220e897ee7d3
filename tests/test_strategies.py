"""`ddp_phase_allreduce` (gan_zoo/strategies.py): the gradient average across ranks has a known answer, and the
strategy is registered with Lightning under its name. Full training under it: tests/test_slow.py."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gan_zoo.strategies import all_reduce_gradients


def _worker(rank: int, world: int, init_file: str, out: dict) -> None:
    # a file rendezvous under tmp_path: no TCP port for two test processes (pytest-xdist workers) to fight over
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        a, b, unused = (
            torch.nn.Parameter(torch.zeros(3)),
            torch.nn.Parameter(torch.zeros(2, 2)),
            torch.nn.Parameter(torch.zeros(1)),
        )
        a.grad = torch.full((3,), float(rank + 1))  # ranks hold 1 and 2: the mean is 1.5
        b.grad = torch.arange(4.0).view(2, 2) * (rank + 1)  # mean 1.5 x arange
        all_reduce_gradients([a, b, unused])  # a parameter without a gradient is skipped, not zero-filled
        out[rank] = (a.grad.clone(), b.grad.clone(), unused.grad)
    finally:
        dist.destroy_process_group()


def test_all_reduce_gradients_averages_over_ranks(tmp_path):
    with mp.Manager() as manager:
        out = manager.dict()
        # fork, not spawn: the ranks inherit this process's imports instead of importing torch again (seconds each)
        mp.start_processes(_worker, args=(2, str(tmp_path / "init"), out), nprocs=2, join=True, start_method="fork")
        for rank in (0, 1):
            a, b, unused = out[rank]
            assert torch.equal(a, torch.full((3,), 1.5))
            assert torch.equal(b, torch.arange(4.0).view(2, 2) * 1.5)
            assert unused is None


def test_the_strategy_is_registered_by_name():
    from lightning.pytorch.strategies import StrategyRegistry

    import gan_zoo.models  # noqa: F401  (importing the models registers it)
    from gan_zoo.strategies import PhaseAllReduceStrategy

    assert StrategyRegistry["ddp_phase_allreduce"]["strategy"] is PhaseAllReduceStrategy
    strategy = StrategyRegistry.get("ddp_phase_allreduce")
    assert isinstance(strategy, PhaseAllReduceStrategy) and strategy.reduces_gradients_per_phase
