"""Per-step costs that come from libraries, not from the step, and how gan_zoo removes them.

Both were found by profiling `benchmarks/overhead.py` (wgan_gp_ring8, 2-core CPU box; benchmarks/RESULTS.md):

* Hydra's `_partial_: true` objects are `_DeferredTarget`s that re-validate Hydra's target policy on every
  call (a JSON digest of the policy each time): about 120 us per call of a loss function, two or three calls
  per batch. The target was authorised when the config was instantiated; for gan_zoo's own loss functions,
  which return tensors, `plain_partial` rebuilds the same partial as a plain `functools.partial`.
* `import lightning` sets `PYTORCH_NVML_BASED_CUDA_CHECK=1`; with that, every `torch.optim.Adam.step` asks
  `torch.accelerator.is_available()`, which on a CUDA build without an initialised CUDA context (every CPU
  run) probes NVML through ctypes again: about 130 us per optimizer step. `cache_cuda_device_count` stores
  the count once for the rest of the process, as torch itself does after CUDA initialises.
* torch's Adam, AdamW and SGD default to one small kernel sequence per parameter tensor on the CPU (foreach
  and fused are CUDA-only defaults). Their `fused=True` implementation runs on the CPU too and is about twice
  as fast per step (a 4-layer 256-wide MLP: 443 vs 839 us per Adam step); `FusedWhenSupported` asks for it
  when the optimizer class has it and the config did not choose `fused` or `foreach` itself. Results agree
  with the per-tensor loop to float rounding (tests/test_hotpath.py). `trainer.fused_optimizers=false` turns
  it off, on a resumed run too (`AdversarialModule._keep_this_runs_kernels`: torch would bring back the
  checkpoint's flag).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch


def plain_partial(obj: Any) -> Any:
    """A Hydra partial of a gan_zoo function as a plain functools.partial (same function, args and keywords);
    anything else unchanged (targets outside gan_zoo keep Hydra's per-call mediation)."""
    if (
        isinstance(obj, functools.partial)
        and type(obj) is not functools.partial
        and getattr(obj.func, "__module__", "").startswith("gan_zoo.")
    ):
        return functools.partial(obj.func, *obj.args, **obj.keywords)
    return obj


def cache_cuda_device_count() -> None:
    """Fix torch.cuda.device_count() for the rest of the process when CUDA is not initialised (a CPU run), so the
    optimizers' per-step accelerator check stops probing NVML. Uses torch's own cache slot, the one it fills
    after CUDA initialises; a no-op when that slot is gone or already set."""
    cuda = torch.cuda
    if getattr(cuda, "_cached_device_count", 0) is None and not cuda.is_initialized():
        cuda._cached_device_count = cuda.device_count()


class FusedWhenSupported:
    """An optimizer factory (a partial of an optimizer class) that adds `fused=True` where that is supported:
    the class takes `fused`, the config set neither `fused` nor `foreach`, and every parameter is a floating
    tensor on the CPU or a CUDA device. Anything else is built exactly as the factory alone would build it."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory
        cls = getattr(factory, "func", None)
        keywords = getattr(factory, "keywords", {}) or {}
        try:
            takes_fused = cls is not None and "fused" in inspect.signature(cls).parameters
        except (TypeError, ValueError):
            takes_fused = False
        self.may_fuse = takes_fused and not ({"fused", "foreach", "differentiable"} & set(keywords))

    def __call__(self, params: Any, **kwargs: Any) -> torch.optim.Optimizer:
        params = list(params)
        tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
        if (
            self.may_fuse
            and tensors
            and "fused" not in kwargs
            and all(t.is_floating_point() and t.device.type in ("cpu", "cuda") for t in tensors)
        ):
            kwargs["fused"] = True
        return self.factory(params=params, **kwargs)
