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
"""

from __future__ import annotations

import functools
from typing import Any

import torch


def plain_partial(obj: Any) -> Any:
    """A Hydra partial of a gan_zoo function as a plain functools.partial (same function, args and keywords);
    anything else unchanged (targets outside gan_zoo keep Hydra's per-call mediation)."""
    if isinstance(obj, functools.partial) and type(obj) is not functools.partial \
            and getattr(obj.func, "__module__", "").startswith("gan_zoo."):
        return functools.partial(obj.func, *obj.args, **obj.keywords)
    return obj


def cache_cuda_device_count() -> None:
    """Fix torch.cuda.device_count() for the rest of the process when CUDA is not initialised (a CPU run), so the
    optimizers' per-step accelerator check stops probing NVML. Uses torch's own cache slot, the one it fills
    after CUDA initialises; a no-op when that slot is gone or already set."""
    cuda = torch.cuda
    if getattr(cuda, "_cached_device_count", 0) is None and not cuda.is_initialized():
        cuda._cached_device_count = cuda.device_count()
