"""gan_zoo/utils/hotpath.py: per-step library costs removed (Hydra partial mediation, the NVML probe)."""

from __future__ import annotations

import pytest
import torch


def test_hot_path_helpers_drop_hydra_per_call_mediation_and_the_nvml_probe(monkeypatch):
    """gan_zoo/utils/hotpath.py: the same loss function without Hydra's wrapper; the device count fixed once."""
    import functools

    import hydra
    from omegaconf import OmegaConf

    from gan_zoo.losses import d_bce
    from gan_zoo.utils.hotpath import cache_cuda_device_count, plain_partial

    wrapped = hydra.utils.instantiate(OmegaConf.create({"_target_": "gan_zoo.losses.d_bce", "_partial_": True,
                                                        "label_noise": 0.0}))
    plain = plain_partial(wrapped)
    assert type(plain) is functools.partial and plain.func is d_bce and plain.keywords == {"label_noise": 0.0}
    a, b = torch.randn(8), torch.randn(8)
    assert torch.equal(plain(a, b), wrapped(a, b))
    foreign = hydra.utils.instantiate(OmegaConf.create({"_target_": "torch.nn.functional.relu", "_partial_": True}))
    assert plain_partial(foreign) is foreign  # targets outside gan_zoo keep Hydra's mediation
    if torch.cuda.is_initialized():
        pytest.skip("CUDA is initialised in this process: torch caches the device count itself")
    monkeypatch.setattr(torch.cuda, "_cached_device_count", None)
    count = torch.cuda.device_count()
    cache_cuda_device_count()

    def probe() -> int:
        raise AssertionError("NVML probed again after the count was cached")

    monkeypatch.setattr(torch.cuda, "_device_count_nvml", probe)
    assert torch.cuda.device_count() == count
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], 1e-3).step()  # its accelerator check reads the cache
