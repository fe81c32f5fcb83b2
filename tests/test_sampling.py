"""Langevin sampler: exactness on a Gaussian, temperature, and its promises about gradients."""

import math

import pytest
import torch

from ebm_lib.nets import MLPEnergyNet
from ebm_lib.samplers import exact_noise_scale, langevin_sample, langevin_temperature, noise_scale_for_temperature

pytestmark = pytest.mark.usefixtures("one_thread")  # 2D work: see conftest.py


def quadratic(x: torch.Tensor) -> torch.Tensor:
    """E(x) = |x|^2 / 2, so p = N(0, I)."""
    return 0.5 * (x**2).sum(dim=1)


def ula_gaussian_variance(step_size: float, temperature: float = 1.0) -> float:
    """Stationary variance of ULA on E = |x|^2/2: x' = (1-h) x + s xi gives s^2 / (1 - (1-h)^2) = T / (1 - h/2)."""
    return temperature / (1 - step_size / 2)


def run_chains(step_size, noise_scale=None, n_chains=20_000, n_steps=1500, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.full((n_chains, 2), 3.0)  # far from the mode: the chains must get there
    return langevin_sample(quadratic, x0, n_steps, step_size, noise_scale, generator=g).samples


def test_exact_noise_reproduces_standard_normal():
    x = run_chains(step_size=0.01)
    n = x.numel()
    # Tolerances: 5 standard errors. Mean: 1/sqrt(N) per coordinate; variance: sqrt(2/n).
    assert x.mean(0).abs().max() < 5 / math.sqrt(len(x))
    assert abs(x.var().item() - 1.0) < 5 * math.sqrt(2 / n) + 0.005  # + ULA bias h/2 at h=0.01
    # the two coordinates are independent
    assert abs(torch.corrcoef(x.T)[0, 1].item()) < 5 / math.sqrt(len(x))


def test_decoupled_noise_samples_the_tempered_gaussian():
    step, temperature = 0.01, 0.25
    noise = noise_scale_for_temperature(step, temperature)
    assert langevin_temperature(step, noise) == pytest.approx(temperature)
    x = run_chains(step, noise)
    expected = ula_gaussian_variance(step, temperature)
    assert abs(x.var().item() - expected) < 5 * expected * math.sqrt(2 / x.numel())
    assert x.mean(0).abs().max() < 5 * math.sqrt(temperature / len(x))


@pytest.mark.parametrize("step_size", [0.05, 0.2, 0.5])
def test_finite_step_bias_matches_theory(step_size):
    x = run_chains(step_size, n_steps=300)
    expected = ula_gaussian_variance(step_size)
    assert abs(x.var().item() - expected) < 5 * expected * math.sqrt(2 / x.numel())


def test_noise_scale_helpers():
    assert exact_noise_scale(0.02) == pytest.approx(0.2)
    assert langevin_temperature(0.02, 0.2) == pytest.approx(1.0)
    assert langevin_temperature(10.0, 0.005) == pytest.approx(1.25e-6)
    with pytest.raises(ValueError, match="step_size must be positive"):
        langevin_temperature(0.0, 0.1)


def small_net(seed: int = 0) -> MLPEnergyNet:
    torch.manual_seed(seed)
    return MLPEnergyNet(2, width=16, n_blocks=1)


def test_no_gradient_reaches_the_parameters_and_samples_are_detached():
    net = small_net()
    x0 = torch.randn(32, 2, requires_grad=True)
    out = langevin_sample(net, x0, 10, 0.01)
    assert all(p.grad is None for p in net.parameters())
    assert not out.samples.requires_grad and out.samples.grad_fn is None
    assert x0.grad is None


def test_x_init_is_not_modified():
    x0 = torch.randn(8, 2)
    copy = x0.clone()
    langevin_sample(quadratic, x0, 5, 0.1)
    assert torch.equal(x0, copy)


@pytest.mark.parametrize("training", [True, False])
def test_flags_and_mode_are_restored(training):
    net = small_net()
    net.fc_in.weight.requires_grad_(False)  # a frozen layer must stay frozen
    flags = [p.requires_grad for p in net.parameters()]
    net.train(training)
    langevin_sample(net, torch.randn(4, 2), 3, 0.01)
    assert [p.requires_grad for p in net.parameters()] == flags
    assert net.training is training


def test_flags_and_mode_are_restored_when_the_energy_raises():
    net = small_net().train()
    calls = 0

    class Exploding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = net

        def forward(self, x):
            nonlocal calls
            calls += 1
            if calls == 3:
                raise RuntimeError("boom")
            return self.inner(x)

    wrapper = Exploding().train()
    with pytest.raises(RuntimeError, match="boom"):
        langevin_sample(wrapper, torch.randn(4, 2), 10, 0.01)
    assert all(p.requires_grad for p in wrapper.parameters())
    assert wrapper.training and net.training


def test_energy_with_wrong_output_shape_is_reported():
    with pytest.raises(ValueError, match=r"must return shape \(B,\) = \(4,\).*got \(4, 1\)"):
        langevin_sample(lambda x: x.sum(1, keepdim=True), torch.randn(4, 2), 1, 0.1)


@pytest.mark.parametrize(
    "x0, error, pattern",
    [
        (torch.zeros(4, 2, dtype=torch.long), TypeError, "floating-point"),
        ([[0.0, 1.0]], TypeError, "list"),
        (torch.zeros(4), ValueError, r"\(B, \*sample_shape\)"),
    ],
)
def test_bad_x_init_is_reported(x0, error, pattern):
    with pytest.raises(error, match=pattern):
        langevin_sample(quadratic, x0, 1, 0.1)


def test_bad_settings_are_reported():
    with pytest.raises(ValueError, match="step_size > 0"):
        langevin_sample(quadratic, torch.zeros(2, 2), 1, 0.0)


def test_seeded_runs_repeat_exactly():
    net = small_net()
    x0 = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    a = langevin_sample(net, x0, 20, 0.05, generator=torch.Generator().manual_seed(7)).samples
    b = langevin_sample(net, x0, 20, 0.05, generator=torch.Generator().manual_seed(7)).samples
    c = langevin_sample(net, x0, 20, 0.05, generator=torch.Generator().manual_seed(8)).samples
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_recordings_have_the_documented_shapes():
    out = langevin_sample(quadratic, torch.randn(5, 2), 7, 0.1, record_trajectory=True, record_diagnostics=True)
    assert out.trajectory.shape == (8, 5, 2)
    assert torch.equal(out.trajectory[-1], out.samples)
    assert out.energy.shape == (7,) and out.grad_norm.shape == (7,)
    # for E = |x|^2/2 the gradient is x, so its norm is |x|
    assert out.grad_norm[0].item() == pytest.approx(out.trajectory[0].norm(dim=1).mean().item(), rel=1e-5)
    plain = langevin_sample(quadratic, torch.randn(5, 2), 7, 0.1)
    assert plain.trajectory is None and plain.energy is None and plain.grad_norm is None


def test_clamp_and_gradient_clipping():
    x = langevin_sample(quadratic, torch.full((100, 2), 0.9), 50, 0.5, clamp=(-1.0, 1.0)).samples
    assert x.abs().max() <= 1.0
    # steep energy: without clipping the first step would jump by step_size * 1000
    steep = lambda x: 1000.0 * x.sum(1)  # noqa: E731
    x0 = torch.zeros(10, 2)
    moved = langevin_sample(steep, x0, 1, 0.1, noise_scale=0.0, grad_clip=1.0).samples
    assert moved.norm(dim=1).max().item() == pytest.approx(0.1, rel=1e-5)


def test_analytic_gradients_give_the_same_chain_as_autograd():
    """The toy energies' energy_and_grad skips autograd; the chain must not change."""
    from ebm_lib.toy2d.energies import REGISTRY

    for name in ("mixture", "funnel"):
        energy = REGISTRY[name]()
        x0 = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
        fast = langevin_sample(energy, x0, 50, 0.03, 0.1, generator=torch.Generator().manual_seed(1))
        slow = langevin_sample(lambda x, e=energy: e(x), x0, 50, 0.03, 0.1, generator=torch.Generator().manual_seed(1))
        assert torch.allclose(fast.samples, slow.samples, atol=1e-5)
