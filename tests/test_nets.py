"""Energy networks: shapes, input-gradients, batch independence, cost, spectral normalisation."""

import pytest
import torch

from ebm_lib.diffusion.nets import NoiseConditionalConvNet, NoiseConditionalMLP
from ebm_lib.nets import ACTIVATION_LIPSCHITZ, ConvEnergyNet, MLPEnergyNet, MNISTEnergyNet, forward_flops

NETS = {
    "mnist": (lambda: MNISTEnergyNet(), (1, 28, 28)),
    "conv": (lambda: ConvEnergyNet(width=8), (1, 28, 28)),
    "conv_rgb_32": (lambda: ConvEnergyNet(in_channels=3, width=8), (3, 32, 32)),
    "mlp_2d": (lambda: MLPEnergyNet(2, width=32), (2,)),
    "mlp_image_sn": (lambda: MLPEnergyNet((1, 28, 28), width=32, spectral_norm=True), (1, 28, 28)),
}


@pytest.fixture(params=list(NETS))
def net_and_shape(request):
    torch.manual_seed(0)
    make, shape = NETS[request.param]
    return make(), shape


def test_one_scalar_per_input(net_and_shape):
    net, shape = net_and_shape
    e = net(torch.randn(5, *shape))
    assert e.shape == (5,) and e.dtype == torch.float32 and torch.isfinite(e).all()


def test_differentiable_in_the_input(net_and_shape):
    net, shape = net_and_shape
    x = torch.randn(3, *shape, requires_grad=True)
    (grad,) = torch.autograd.grad(net(x).sum(), x)
    assert grad.shape == x.shape and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_energy_does_not_depend_on_the_batch(net_and_shape):
    net, shape = net_and_shape
    # Batch-dependent layers would show in training mode. Spectral normalisation takes one
    # power-iteration step per training-mode call, which changes the weights between calls,
    # so that net is compared in eval mode.
    net.train(not any("parametrizations" in name for name, _ in net.named_parameters()))
    x = torch.randn(6, *shape)
    alone = net(x[:1])
    with_others = net(torch.cat([x[:1], torch.randn(9, *shape) * 3]))[:1]
    assert torch.allclose(alone, with_others, atol=1e-5)
    assert torch.allclose(net(x)[2:3], net(x[2:3]), atol=1e-5)


@pytest.mark.parametrize(
    "x, error, pattern",
    [
        (torch.zeros(4, 28, 28), ValueError, r"shape \(B, 1, 28, 28\), got \(4, 28, 28\)"),
        (torch.zeros(4, 1, 32, 32), ValueError, r"shape \(B, 1, 28, 28\), got \(4, 1, 32, 32\)"),
        (torch.zeros(4, 1, 28, 28, dtype=torch.uint8), TypeError, "floating-point.*torch.uint8"),
        (torch.zeros(4, 1, 28, 28, dtype=torch.float64), TypeError, "dtype torch.float32"),
        (torch.zeros(4, 784).numpy(), TypeError, "torch.Tensor.*ndarray"),
    ],
)
def test_wrong_inputs_name_what_was_expected(x, error, pattern):
    with pytest.raises(error, match=pattern):
        MNISTEnergyNet()(x)


def test_conv_net_accepts_any_image_size_but_checks_channels():
    net = ConvEnergyNet(in_channels=3, width=4)
    assert net(torch.zeros(2, 3, 16, 24)).shape == (2,)
    with pytest.raises(ValueError, match=r"\(B, 3, \*, \*\), got \(2, 1, 16, 16\)"):
        net(torch.zeros(2, 1, 16, 16))


def test_unknown_activation_is_reported():
    with pytest.raises(ValueError, match="activation must be one of"):
        MLPEnergyNet(2, activation="tanhh")


def test_flop_counts_match_the_formulas():
    conv = torch.nn.Conv2d(3, 8, 5, stride=2, padding=2)  # 32x32 -> 16x16
    assert forward_flops(conv, torch.zeros(1, 3, 32, 32)) == 2 * 16 * 16 * 8 * 3 * 5 * 5
    assert forward_flops(torch.nn.Conv2d(4, 8, 3, groups=2), torch.zeros(1, 4, 10, 10)) == 2 * 8 * 8 * 8 * 2 * 3 * 3
    mlp = MLPEnergyNet(2, width=10, n_blocks=1)
    assert mlp.flops_per_input() == 2 * (2 * 10 + 10 * 10 * 2 + 10)
    assert mlp.num_parameters() == (2 * 10 + 10) + 2 * (10 * 10 + 10) + (10 + 1)


@pytest.mark.parametrize(
    "make, shape, flops",
    [  # the course's counts (2 x MACs of conv and linear layers), as notebooks 1 and 6 print them
        (lambda: MNISTEnergyNet(), None, 1_712_256),
        (lambda: ConvEnergyNet(), None, 20_522_112),
        (lambda: ConvEnergyNet(in_channels=3, width=8), (3, 32, 32), 2_080_800),
        (lambda: MLPEnergyNet(2), None, 131_840),
        (lambda: MLPEnergyNet((1, 28, 28), width=32, spectral_norm=True), None, 58_432),
        (lambda: NoiseConditionalMLP(), None, 328_704),
        (lambda: NoiseConditionalConvNet(), None, 7_870_656),
    ],
)
def test_flop_counts_of_every_net(make, shape, flops):
    assert make().flops_per_input(shape) == flops


def test_flop_count_keeps_the_training_mode_and_the_weights():
    net = MLPEnergyNet(2, spectral_norm=True).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.flops_per_input()  # in eval mode: no power-iteration step
    assert net.training and all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert ConvEnergyNet(in_channels=3, width=4).example_input().shape == (1, 3, 28, 28)  # free sizes: 28


def test_mnist_net_is_cpu_sized():
    net = MNISTEnergyNet()
    assert 1e6 < net.flops_per_input() < 3e6  # the course default: on the order of 2 MFLOP
    assert net.flops_per_input() * 5 < ConvEnergyNet(width=32).flops_per_input()


def max_gradient_norm(net, n=4096, scale=3.0):
    x = (torch.randn(n, 2, generator=torch.Generator().manual_seed(0)) * scale).requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x).sum(), x)
    return grad.norm(dim=1).max().item()


def test_spectral_norm_bounds_the_lipschitz_constant_whatever_the_weights():
    torch.manual_seed(0)
    a = ACTIVATION_LIPSCHITZ["silu"]
    ideal = (1 + a * a) ** 2 * a  # every weight matrix of norm 1, two residual blocks
    sn = MLPEnergyNet(2, width=64, n_blocks=2, spectral_norm=True)
    plain = MLPEnergyNet(2, width=64, n_blocks=2)
    with torch.no_grad():  # blow up the raw weights of both nets
        for p in plain.parameters():
            p.mul_(10)
        for name, p in sn.named_parameters():
            if name.endswith("original"):
                p.mul_(10)
    sn.train()
    for _ in range(100):  # the power iteration converges over training-mode passes
        sn(torch.randn(8, 2))
    sn.eval()
    assert sn.lipschitz_upper_bound() <= ideal * 1.01
    assert max_gradient_norm(sn) <= sn.lipschitz_upper_bound()
    assert max_gradient_norm(plain) <= plain.lipschitz_upper_bound()
    assert plain.lipschitz_upper_bound() > 1000 * ideal
