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

    wrapped = hydra.utils.instantiate(
        OmegaConf.create({"_target_": "gan_zoo.losses.d_bce", "_partial_": True, "label_noise": 0.0})
    )
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


def test_fused_optimizers_where_torch_has_them_match_the_per_tensor_loop():
    """FusedWhenSupported adds fused=True to Adam/AdamW/SGD (not RMSprop, not when the config chose foreach or
    fused); the fused steps agree with torch's per-tensor loop to float rounding."""
    import hydra
    from omegaconf import OmegaConf

    from gan_zoo.utils.hotpath import FusedWhenSupported

    def factory(target: str, **kw):
        return hydra.utils.instantiate(OmegaConf.create({"_target_": target, "_partial_": True, "lr": 1e-2, **kw}))

    torch.manual_seed(0)
    for target, fused in [
        ("torch.optim.Adam", True),
        ("torch.optim.AdamW", True),
        ("torch.optim.SGD", True),
        ("torch.optim.RMSprop", False),
    ]:
        a, b = torch.nn.Linear(6, 5), torch.nn.Linear(6, 5)
        b.load_state_dict(a.state_dict())
        plain, fast = factory(target)(params=a.parameters()), FusedWhenSupported(factory(target))(params=b.parameters())
        assert bool(fast.param_groups[0].get("fused")) is fused, target
        assert not plain.param_groups[0].get("fused")
        for _ in range(20):
            x = torch.randn(4, 6)
            for net, opt in ((a, plain), (b, fast)):
                opt.zero_grad()
                net(x).pow(2).mean().backward()
                opt.step()
        for p, q in zip(a.parameters(), b.parameters()):
            assert torch.allclose(p, q, atol=1e-6, rtol=0), target
        assert not torch.equal(a.weight, torch.nn.Linear(6, 5).weight)
    chose = FusedWhenSupported(factory("torch.optim.Adam", foreach=False))(params=[torch.nn.Parameter(torch.zeros(2))])
    assert not chose.param_groups[0]["fused"] and chose.param_groups[0]["foreach"] is False  # the config's choice


def test_build_gan_fuses_the_optimizers_unless_turned_off(tmp_path):
    from conftest import compose_cfg

    from gan_zoo.build import build_gan

    facts = {"kind": "image", "shape": [1, 32, 32], "num_classes": 10, "dataset_id": "mnist_mini"}
    for flag in (True, False):
        gan = build_gan(compose_cfg([f"trainer.fused_optimizers={str(flag).lower()}"], tmp_path), facts)
        opts = gan.configure_optimizers()
        assert len(opts) == 2 and all(bool(o.param_groups[0].get("fused")) is flag for o in opts)


def test_resume_takes_this_runs_fused_choice_not_the_checkpoints(make_cfg, tmp_path, ring8_first_epoch):
    """torch's load_state_dict restores a saved param group's `fused` flag; a run resumed with
    trainer.fused_optimizers=false from a fused checkpoint steps unfused (and the reverse)."""
    from conftest import ring8_resume_overrides

    from gan_zoo.train import run

    base = ring8_resume_overrides()  # 6 batches an epoch

    def fused_flags(ckpt: str, epochs: int) -> list[bool]:
        blob = torch.load(ckpt, map_location="cpu", weights_only=False)
        assert blob["gan_zoo"]["d_steps"] == 6 * epochs  # resumed, not restarted: one critic step per batch
        return [bool(g.get("fused")) for s in blob["optimizer_states"] for g in s["param_groups"]]

    head = {"last_checkpoint": str(ring8_first_epoch / "checkpoints" / "last.ckpt")}  # the session's fused epoch
    assert fused_flags(head["last_checkpoint"], 1) == [True, True]
    for flag, epochs in ((False, 2), (True, 3)):  # each a new run (run_id) started from the previous one's state
        cfg = make_cfg(
            base
            + [
                f"trainer.max_epochs={epochs}",
                f"resume={head['last_checkpoint']}",
                f"trainer.fused_optimizers={str(flag).lower()}",
            ]
        )
        cfg.paths.output_dir = str(tmp_path / f"run{epochs}")
        head = run(cfg)
        assert fused_flags(head["last_checkpoint"], epochs) == [flag, flag]
