"""GPU checks (marker `gpu`; `make test` deselects them, `pytest -m gpu` runs them where CUDA is present).

One short training run per game family on the GPU in fp16 (autocast + GradScaler) and bf16, ending in finite
weights and a validation value; the gradient penalty under fp16 autocast on the GPU matches fp32. Without
CUDA every test here skips with the reason.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import tiny_overrides

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

# One experiment per family on the adversarial base (and the VAE, which shares the sample contract).
FAMILIES = {
    "noise_bce_batchnorm": "dcgan_mnist",
    "noise_wgan_gp_double_backward": "wgan_gp_mnist",
    "noise_spectral_norm_hinge": "sngan_mnist",
    "conditional_gp": "cwgan_gp_mnist",
    "infogan_q_head": "infogan_mnist",
    "packed_mlp_mixture": "pacgan_ring8",
    "style_growth_r1": "stylegan_mnist",
    "pix2pix_paired": "pix2pix_edges_mnist",
    "cyclegan_two_games": "cyclegan_digits_mnist",
    "vae": "vae_mnist",
}
PRECISIONS = {"fp16": ["hardware=fp16"], "bf16": ["hardware=bf16", "hardware.accelerator=gpu"]}


@pytest.mark.parametrize("precision", sorted(PRECISIONS))
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_trains_on_the_gpu(family, precision, make_cfg):
    from gan_zoo.build import load_checkpoint_gan
    from gan_zoo.train import run

    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    out = run(make_cfg(tiny_overrides(FAMILIES[family]) + PRECISIONS[precision]))
    assert out["generator_steps"] >= 1
    assert all(math.isfinite(v) for v in out["final_metrics"].values())
    gan, _ = load_checkpoint_gan(out["last_checkpoint"])
    assert all(torch.isfinite(p).all() for p in gan.parameters())


def test_gradient_penalty_under_fp16_autocast_matches_fp32_on_the_gpu():
    """The scale-before-autograd.grad / unscale recipe on a real fp16 GPU path (the CPU test covers bf16/fp16 maths)."""
    from gan_zoo.losses import gradient_penalty
    from gan_zoo.networks.dcgan import DCGANDiscriminator

    torch.manual_seed(0)
    critic = DCGANDiscriminator((1, 32, 32), base_channels=16, norm="layer", dropout=0.0).cuda()
    real, fake = torch.randn(32, 1, 32, 32, device="cuda"), torch.randn(32, 1, 32, 32, device="cuda")
    eps = torch.rand(32, device="cuda")
    ref = gradient_penalty(critic, real, fake, eps=eps)
    scale = 2.0**16
    with torch.autocast("cuda", dtype=torch.float16):
        half = gradient_penalty(critic, real, fake, eps=eps, grad_scale=scale)
    assert float(half) == pytest.approx(float(ref), rel=2e-2)
