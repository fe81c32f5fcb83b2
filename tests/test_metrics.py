"""Distances to the truth and sampler diagnostics on cases with known answers."""

import math

import numpy as np
import pytest
import torch

from ebm_lib.toy2d import energies as toy
from ebm_lib.toy2d import metrics

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_energy_distance_of_point_masses_is_twice_their_distance():
    x = torch.zeros(50, 2)
    y = torch.tensor([[3.0, 4.0]]).repeat(40, 1)
    assert metrics.energy_distance(x, y) == pytest.approx(10.0)
    assert metrics.energy_distance(x, x.clone()) == pytest.approx(0.0)


def test_energy_distance_is_unbiased_for_equal_laws_and_grows_with_a_shift():
    values = [
        metrics.energy_distance(torch.randn(300, 2, generator=gen(s)), torch.randn(400, 2, generator=gen(100 + s)))
        for s in range(20)
    ]
    mean, se = np.mean(values), np.std(values) / math.sqrt(len(values))
    assert abs(mean) < 4 * se  # unbiased: averages to zero, individual values can be negative
    y = torch.randn(2000, 2, generator=gen(1))
    shifts = [
        metrics.energy_distance(torch.randn(2000, 2, generator=gen(2)) + torch.tensor([d, 0.0]), y)
        for d in (0.2, 0.5, 1.0)
    ]
    assert 0 < shifts[0] < shifts[1] < shifts[2]
    # symmetric, and the precomputed reference term gives the same number
    x = torch.randn(500, 2, generator=gen(3))
    assert metrics.energy_distance(x, y) == pytest.approx(metrics.energy_distance(y, x))
    assert metrics.energy_distance(x, y, metrics.mean_pairwise_distance(y)) == pytest.approx(
        metrics.energy_distance(x, y)
    )


def test_non_finite_samples_are_dropped():
    x = torch.randn(100, 2, generator=gen(4))
    y = torch.randn(100, 2, generator=gen(5))
    bad = torch.cat([x, torch.tensor([[math.nan, 0.0], [math.inf, 1.0]])])
    assert metrics.energy_distance(bad, y) == pytest.approx(metrics.energy_distance(x, y))
    assert math.isnan(metrics.energy_distance(torch.full((5, 2), math.nan), y))


def test_mmd_rbf():
    y = torch.randn(800, 2, generator=gen(6))
    same = metrics.mmd_rbf(torch.randn(800, 2, generator=gen(7)), y, [1.665])
    shifted = metrics.mmd_rbf(torch.randn(800, 2, generator=gen(8)) + 1.0, y, [1.665])
    assert abs(same) < 0.01 < shifted
    assert metrics.mmd_rbf(y, y + 1.0, [0.5, 1.0, 2.0]) > 0
    reference_term = metrics.mean_kernel(y, [0.1, 0.3])
    x = torch.randn(500, 2, generator=gen(9))
    assert metrics.mmd_rbf(x, y, [0.1, 0.3], reference_term) == pytest.approx(metrics.mmd_rbf(x, y, [0.1, 0.3]))


def test_mode_occupancy_and_its_tv():
    two_modes = toy.GaussianMixture(n_modes=2, radius=2.5)  # modes at (2.5, 0) and (-2.5, 0)
    samples = torch.tensor([[2.6, 0.0], [-1.5, 1.0], [3.5, 0.0], [0.5, 2.0]])
    labels = two_modes.assign_modes(samples)
    assert labels.tolist() == [0, 1, 0, 0]
    occupancy = metrics.mode_occupancy(labels, 2)
    assert occupancy.tolist() == [0.75, 0.25]
    assert metrics.occupancy_tv(occupancy, torch.tensor([0.5, 0.5])) == pytest.approx(0.25)
    w = torch.tensor([0.1, 0.2, 0.7])
    assert metrics.occupancy_tv(torch.tensor([0.0, 0.0, 1.0]), w) == pytest.approx(1 - 0.7)


def test_histogram_tv_and_kl_separate_right_from_wrong_samples():
    e = toy.GaussianMixture()
    grid = e.density_grid(bins=30)
    n = 20_000
    exact = e.sample(n, gen(9))
    wrong = e.modes[torch.zeros(n, dtype=torch.long)] + 0.3 * torch.randn(n, 2, generator=gen(10))  # one mode only
    assert metrics.histogram_tv(exact, grid) < 0.1
    assert metrics.histogram_tv(wrong, grid) > 0.7  # 1 - w_0 = 0.75 of the mass is missing
    kl_exact, kl_wrong = metrics.histogram_kl(exact, grid), metrics.histogram_kl(wrong, grid)
    occupied = int((metrics.histogram_probabilities(exact, grid)[0] > 0).sum())
    assert 0 <= kl_exact < 3 * (occupied - 1) / (2 * n)  # only the finite-sample bias
    assert kl_wrong > 1.0  # about log(1 / w_0) = 1.39


def test_histogram_counts_samples_outside_and_non_finite():
    grid = toy.Gaussian().density_grid(bins=10)
    x = torch.tensor([[0.0, 0.0], [100.0, 0.0], [math.nan, 0.0], [0.1, 0.1]])
    probs, outside = metrics.histogram_probabilities(x, grid)
    assert probs.sum() == pytest.approx(0.5) and outside == pytest.approx(0.5)


def ar1(phi, t, c, seed):
    g = gen(seed)
    x = torch.zeros(t, c, dtype=torch.float64)
    x[0] = torch.randn(c, generator=g, dtype=torch.float64) / math.sqrt(1 - phi**2)
    for i in range(1, t):
        x[i] = phi * x[i - 1] + torch.randn(c, generator=g, dtype=torch.float64)
    return x


def test_autocorrelation_and_ess_of_an_ar1_chain():
    """AR(1) with coefficient phi: rho_k = phi^k, tau = (1 + phi) / (1 - phi)."""
    phi = 0.8
    chains = ar1(phi, 2000, 50, 11)
    rho = metrics.autocorrelation(chains)[:6]
    assert torch.allclose(rho, torch.tensor([phi**k for k in range(6)], dtype=torch.float64), atol=0.02)
    tau = metrics.integrated_autocorrelation_time(chains)
    assert tau == pytest.approx((1 + phi) / (1 - phi), rel=0.1)
    assert metrics.effective_sample_size(chains) == pytest.approx(2000 * 50 / tau)
    iid = torch.randn(1000, 20, generator=gen(12))
    assert metrics.effective_sample_size(iid) == pytest.approx(20_000, rel=0.1)


def test_stuck_chains_have_a_tiny_ess():
    """Chains that never leave their own mode are worth about one sample each, not T."""
    offsets = torch.tensor([-3.0, 3.0]).repeat(10)
    chains = offsets + 0.1 * torch.randn(500, 20, generator=gen(13))
    assert metrics.effective_sample_size(chains) < 5 * 20


def test_mean_gradient_norm():
    """For the standard Gaussian E = |x|^2 / 2, grad E = x and E|x| = sqrt(pi / 2) in 2D."""
    x = torch.randn(20_000, 2, generator=gen(14))
    value = metrics.mean_gradient_norm(lambda z: 0.5 * (z * z).sum(1), x)
    assert value == pytest.approx(math.sqrt(math.pi / 2), rel=0.02)
    gaussian = toy.Gaussian()
    bad = torch.cat([gaussian.sample(10, gen(15)), torch.full((2, 2), math.nan)])
    assert metrics.mean_gradient_norm(gaussian, bad) == pytest.approx(gaussian.grad(bad[:10]).norm(dim=1).mean().item())
