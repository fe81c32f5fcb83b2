"""MALA is exact, ULA is biased by its step size: checked against exact samples.

Fixed seeds; tolerances are 4 standard errors computed from the sample sizes
(multinomial SE sqrt(w (1 - w) / n) for mode weights, SE(var) = var sqrt(2 / (n - 1)) for
Gaussian variances, SE of a mean = std / sqrt(n)), or the two-sample Kolmogorov-Smirnov
critical value at level 1e-3, 1.95 sqrt((n + m) / (n m)).
"""

import math

import pytest
import torch
from torch import nn

from ebm_lib.samplers import energy_and_grad, langevin_sample, mala_sample
from ebm_lib.toy2d import energies as toy
from ebm_lib.toy2d.metrics import energy_distance, mean_pairwise_distance

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def gen(seed):
    return torch.Generator().manual_seed(seed)


def ks_statistic(a, b):
    a, b = torch.sort(a.double()).values, torch.sort(b.double()).values
    grid = torch.cat([a, b])
    fa = torch.searchsorted(a, grid, right=True).double() / len(a)
    fb = torch.searchsorted(b, grid, right=True).double() / len(b)
    return float((fa - fb).abs().max())


def test_mala_keeps_the_mixture_exact_at_a_step_where_ula_is_biased():
    """Start at exact samples; after 300 steps at h = 0.15, MALA's mode weights and mode widths
    still match p (4 SE), ULA's modes are visibly too wide."""
    e = toy.GaussianMixture()
    n, h = 4000, 0.15
    x0 = e.sample(n, gen(0))
    mala = mala_sample(e, x0, 300, h, generator=gen(1))
    ula = langevin_sample(e, x0, 300, h, generator=gen(1))
    assert 0.2 < mala.accept_rate < 0.9
    w = e.mode_weights.double()
    labels = e.assign_modes(mala.samples)
    occupancy = torch.bincount(labels, minlength=8).double() / n
    assert ((occupancy - w).abs() < 4 * torch.sqrt(w * (1 - w) / n)).all(), occupancy
    # per-coordinate variance around the assigned mode: sigma^2 for p
    for samples, exact in ((mala.samples, True), (ula.samples, False)):
        lab = e.assign_modes(samples)
        dev = (samples - e.modes[lab]).double()
        var = dev.pow(2).mean().item()  # 2n values, each N(0, sigma^2) under p
        se = e.sigma**2 * math.sqrt(2 / (2 * n - 1))
        if exact:
            assert abs(var - e.sigma**2) < 4 * se, var
        else:
            assert var > e.sigma**2 + 10 * se, var  # ULA: wider than p


def test_mala_matches_exact_ring_radii_and_ring_weights():
    e = toy.Rings()
    n = 4000
    x0 = e.sample(n, gen(2))
    out = mala_sample(e, x0, 300, 0.05, generator=gen(3))
    exact = e.sample(n, gen(4))
    labels = e.assign_modes(out.samples)
    w = e.mode_weights.double()
    occupancy = torch.bincount(labels, minlength=3).double() / n
    assert ((occupancy - w).abs() < 4 * torch.sqrt(w * (1 - w) / n)).all(), occupancy
    critical = 1.95 * math.sqrt(2 / n)  # two-sample KS at level 1e-3
    assert ks_statistic(out.samples.norm(dim=1), exact.norm(dim=1)) < critical
    ula = langevin_sample(e, x0, 300, 0.05, generator=gen(3)).samples
    assert ks_statistic(ula.norm(dim=1), exact.norm(dim=1)) > critical  # ULA's radii are off at this step


def test_mala_converges_from_far_away_on_the_banana_and_a_low_double_well():
    """Not only invariance: from a wrong start MALA reaches p (moments within 4 SE)."""
    n = 2000
    banana = toy.Banana()
    out = mala_sample(banana, torch.zeros(n, 2) + torch.tensor([3.0, -2.0]), 1500, 0.05, generator=gen(5))
    exact = banana.sample(200_000, gen(6)).double()
    x = out.samples.double()
    for stat in (lambda z: z[:, 0], lambda z: z[:, 0] ** 2, lambda z: z[:, 1], lambda z: z[:, 1] ** 2):
        se = stat(exact).std().item() / math.sqrt(n)
        assert abs(stat(x).mean().item() - stat(exact).mean().item()) < 4 * se

    well = toy.DoubleWell(barrier=1.0)
    out = mala_sample(well, torch.tensor([[-1.5, 0.0]]).repeat(n, 1), 1500, 0.1, generator=gen(7))
    right = (out.samples[:, 0] > 0).double().mean().item()
    assert abs(right - 0.5) < 4 * math.sqrt(0.25 / n)
    exact = well.sample(n, gen(8))
    assert ks_statistic(out.samples[:, 0], exact[:, 0]) < 1.95 * math.sqrt(2 / n)


def test_ula_variance_bias_grows_with_step_size_as_the_formula_says():
    """Gaussian, stiff direction (curvature 11.1): ULA variance = 1 / (lam (1 - h lam / 2)) at every h
    (4 SE), so the relative bias grows with h; MALA stays at 1 / lam."""
    e = toy.Gaussian()
    lam = float(e.curvatures[1])
    direction = e.rotation[:, 1].float()  # eigenvector of the narrow axis
    n = 4000
    x0 = e.sample(n, gen(9))
    measured = []
    for i, h in enumerate((0.02, 0.06, 0.12)):
        x = langevin_sample(e, x0, 400, h, generator=gen(30 + i)).samples
        var = (x @ direction).double().var().item()
        theory = toy.stationary_variance_ula(lam, h)
        assert abs(var - theory) < 4 * theory * math.sqrt(2 / (n - 1)), (h, var, theory)
        measured.append(var)
        mala = mala_sample(e, x0, 400, h, generator=gen(40 + i)).samples
        mvar = (mala @ direction).double().var().item()
        assert abs(mvar - 1 / lam) < 4 / lam * math.sqrt(2 / (n - 1)), (h, mvar)
    assert measured[0] < measured[1] < measured[2]


def test_ula_distance_to_truth_grows_with_step_size_while_mala_stays_at_the_floor():
    e = toy.GaussianMixture()
    n = 2000
    ref = e.reference_samples(4000)
    ref_self = mean_pairwise_distance(ref)
    floor = max(abs(energy_distance(e.sample(n, gen(s)), ref, ref_self)) for s in range(11, 14))
    x0 = e.sample(n, gen(15))
    ula, mala = [], []
    for h in (0.02, 0.1, 0.2):
        ula.append(energy_distance(langevin_sample(e, x0, 200, h, generator=gen(16)).samples, ref, ref_self))
        mala.append(energy_distance(mala_sample(e, x0, 200, h, generator=gen(16)).samples, ref, ref_self))
    assert ula[0] < ula[1] < ula[2], ula
    assert abs(ula[0]) < 3 * floor and ula[1] > 2 * floor and ula[2] > 20 * floor, (ula, floor)
    assert all(abs(d) < 3 * floor for d in mala), (mala, floor)


def test_mala_with_temperature_samples_the_tempered_law():
    e = toy.Gaussian()
    n, temperature = 4000, 0.25
    out = mala_sample(e, e.sample(n, gen(17)), 300, 0.05, temperature=temperature, generator=gen(18))
    cov = torch.cov(out.samples.double().T)
    target = temperature * e.covariance
    for i, j in ((0, 0), (1, 1)):
        assert abs(cov[i, j] - target[i, j]) < 4 * target[i, j] * math.sqrt(2 / (n - 1))


def test_acceptance_falls_with_step_size_and_rejections_stay_put():
    e = toy.Banana()
    x0 = e.sample(500, gen(19))
    rates = [mala_sample(e, x0, 50, h, generator=gen(20)).accept_rate for h in (0.01, 0.1, 0.5)]
    assert rates[0] > rates[1] > rates[2]
    out = mala_sample(e, x0, 30, 0.3, generator=gen(21), record_trajectory=True, record_diagnostics=True)
    traj = out.trajectory
    assert traj.shape == (31, 500, 2) and torch.equal(traj[0], x0)
    moved = (traj[1:] != traj[:-1]).any(dim=2).double()  # (steps, chains): 1 where accepted
    assert torch.allclose(moved.mean(0), out.accept_per_chain.double())
    assert out.energy.shape == (30,) and out.grad_norm.shape == (30,)
    assert torch.equal(out.samples, traj[-1])


def test_autograd_path_equals_analytic_path():
    e = toy.GaussianMixture()
    x0 = e.sample(200, gen(22))
    analytic = mala_sample(e, x0, 20, 0.1, generator=gen(23))
    autograd = mala_sample(lambda x: e.energy(x), x0, 20, 0.1, generator=gen(23))
    assert torch.allclose(analytic.samples, autograd.samples, atol=1e-5)
    energy, grad = energy_and_grad(lambda x: e.energy(x), x0)
    assert torch.allclose(grad, e.grad(x0), atol=1e-5)


def test_network_parameters_are_frozen_then_restored():
    net = nn.Sequential(nn.Linear(2, 16), nn.SiLU(), nn.Linear(16, 1), nn.Flatten(0))
    net.train()
    out = mala_sample(net, torch.randn(64, 2, generator=gen(24)), 10, 0.01, generator=gen(25))
    assert not out.samples.requires_grad
    assert all(p.requires_grad and p.grad is None for p in net.parameters())
    assert net.training


def test_bad_arguments():
    e = toy.Banana()
    with pytest.raises(ValueError):
        mala_sample(e, torch.zeros(4, 2), 10, step_size=0.0)
    with pytest.raises(ValueError):
        mala_sample(e, torch.zeros(4, 2), 10, 0.1, temperature=0.0)
    with pytest.raises(TypeError):
        mala_sample(e, torch.zeros(4, 2, dtype=torch.long), 10, 0.1)
    with pytest.raises(ValueError, match="shape"):
        mala_sample(lambda x: x.sum(1, keepdim=True), torch.zeros(4, 2), 1, 0.1)
    assert torch.equal(mala_sample(e, torch.ones(3, 2), 0, 0.1).samples, torch.ones(3, 2))
