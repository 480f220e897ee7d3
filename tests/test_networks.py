"""Shapes and structure of every network."""

import pytest
import torch
import torch.nn as nn

from gan_zoo.errors import ConfigError
from gan_zoo.networks.common import concat_label_maps, has_batchnorm
from gan_zoo.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_zoo.networks.mlp import MLPDiscriminator, MLPGenerator


@pytest.mark.parametrize("size", [8, 32, 64])
@pytest.mark.parametrize("upsample", ["convtranspose", "nearest", "bilinear"])
def test_dcgan_shapes(size, upsample):
    g = DCGANGenerator(16, (3, size, size), base_channels=8, upsample=upsample)
    d = DCGANDiscriminator((3, size, size), base_channels=8)
    x = g(torch.randn(4, 16))
    assert x.shape == (4, 3, size, size) and x.abs().max() <= 1
    assert d(x).shape == (4,)


def test_dcgan_64px_base64_is_the_published_architecture():
    g = DCGANGenerator(100, (1, 64, 64), base_channels=64)
    d = DCGANDiscriminator((1, 64, 64), base_channels=64)
    g_widths = [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    d_widths = [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert g_widths == [512, 256, 128, 64, 1]
    assert d_widths == [64, 128, 256, 512, 1]
    bns = [m for m in d.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 3  # after all but the first conv block
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.bias is None for m in convs[:-1]) and convs[-1].bias is not None  # "no bias" + logit layer
    assert sum(isinstance(m, nn.Dropout) for m in d.modules()) == 4


def test_critic_for_gradient_penalty_has_no_batchnorm():
    d = DCGANDiscriminator((1, 32, 32), base_channels=8, norm="layer", dropout=0.0)
    assert not has_batchnorm(d)
    assert has_batchnorm(DCGANDiscriminator((1, 32, 32), base_channels=8))


def test_conditional_dcgan_inputs():
    g = DCGANGenerator(16, (1, 32, 32), base_channels=8, num_classes=10)
    d = DCGANDiscriminator((1, 32, 32), base_channels=8, num_classes=10)
    first_conv = next(m for m in d.modules() if isinstance(m, nn.Conv2d))
    first_convt = next(m for m in g.modules() if isinstance(m, nn.ConvTranspose2d))
    assert first_conv.in_channels == 11 and first_convt.in_channels == 26
    y = torch.tensor([0, 3, 9])
    assert d(g(torch.randn(3, 16), y), y).shape == (3,)
    with pytest.raises(ConfigError, match="needs labels"):
        g(torch.randn(3, 16))


def test_label_maps_are_one_hot_planes():
    x = torch.zeros(2, 1, 4, 4)
    out = concat_label_maps(x, torch.tensor([2, 0]), 3)
    assert out.shape == (2, 4, 4, 4)
    assert out[0, 3].eq(1).all() and out[0, 1].eq(0).all() and out[1, 1].eq(1).all()


def test_mlp_shapes_and_spectral_norm():
    g = MLPGenerator(2, (2,), hidden=[16, 16], output="linear")
    d = MLPDiscriminator((2,), hidden=[16, 16], spectral_norm=True, dropout=0.0)
    assert g(torch.randn(5, 2)).shape == (5, 2)
    assert d(torch.randn(5, 2)).shape == (5,)
    assert any("parametrizations" in n for n, _ in d.named_parameters())
    gi = MLPGenerator(100, (1, 28, 28))
    assert gi(torch.randn(3, 100)).shape == (3, 1, 28, 28)


def test_spectral_norm_bounds_the_linear_layer():
    d = MLPDiscriminator((8,), hidden=[32], spectral_norm=True, dropout=0.0)
    d.train()
    for _ in range(30):  # power iterations converge
        d(torch.randn(4, 8))
    lin = d.net[0]
    sigma = torch.linalg.matrix_norm(lin.weight.detach(), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=0.05)


def test_bad_sizes_are_config_errors():
    with pytest.raises(ConfigError, match="power of two"):
        DCGANGenerator(16, (1, 28, 28))
    with pytest.raises(ConfigError, match="upsample"):
        DCGANGenerator(16, (1, 32, 32), upsample="pixelshuffle")


def test_maxout_takes_the_max_over_each_units_pieces():
    from gan_zoo.networks.mlp import Maxout

    m = Maxout(2, 3, pieces=2)
    with torch.no_grad():  # unit u's pieces are rows 2u and 2u+1 of the linear layer
        m.linear.weight.copy_(torch.tensor([[1.0, 0], [0, 1], [-1, 0], [0, -1], [1, 1], [0, 0]]))
        m.linear.bias.zero_()
    x = torch.tensor([[2.0, -3.0]])
    assert torch.equal(m(x), torch.tensor([[2.0, 3.0, 0.0]]))  # max(x0, x1), max(-x0, -x1), max(x0 + x1, 0)


def test_maxout_critic_is_pacgans_shape_and_refuses_a_norm():
    d = MLPDiscriminator((8,), hidden=[200, 200, 200], dropout=0.0, activation="maxout", maxout_pieces=5, init_std=0.02)
    assert d(torch.randn(6, 8)).shape == (6,)
    linears = [m for m in d.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [1000, 1000, 1000, 1]
    assert not any(isinstance(m, nn.LeakyReLU) for m in d.modules())
    w = torch.cat([m.weight.detach().flatten() for m in linears])
    assert abs(float(w.std()) - 0.02) < 0.002 and all(float(m.bias.detach().abs().max()) == 0 for m in linears)
    with pytest.raises(ConfigError, match="norm=none"):
        MLPDiscriminator((8,), hidden=[16], activation="maxout", norm="layer")
    with pytest.raises(ConfigError, match="maxout"):
        MLPDiscriminator((8,), hidden=[16], activation="relu")
    sn = MLPDiscriminator((8,), hidden=[16], activation="maxout", spectral_norm=True, init_std=0.02)
    assert sn(torch.randn(3, 8)).shape == (3,)


def test_relu_batchnorm_generator_with_normal_init():
    g = MLPGenerator(2, (2,), hidden=[400] * 4, norm="batch", negative_slope=0.0, output="linear", init_std=0.02)
    assert g(torch.randn(10, 2)).shape == (10, 2)
    acts = [m for m in g.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 4 and all(m.negative_slope == 0.0 for m in acts)
    first = next(m for m in g.modules() if isinstance(m, nn.Linear))
    assert abs(float(first.weight.detach().std()) - 0.02) < 0.005
