"""The analytic 2D energies: gradients, normalisation, exact samplers, grids, caching.

Statistical checks use fixed seeds and tolerances of 4 standard errors computed from the
sample size (a false alarm rate of about 6e-5 per check if the seed were random).
"""

import math

import numpy as np
import pytest
import torch

from ebm_lib.samplers import langevin_sample
from ebm_lib.toy2d import energies as toy
from ebm_lib.toy2d.metrics import histogram_tv

NAMES = sorted(toy.REGISTRY)


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def energies():
    return {name: toy.make_energy(name) for name in NAMES}


def outside_extent(x, extent):
    return (x[:, 0] < extent[0]) | (x[:, 0] > extent[1]) | (x[:, 1] < extent[2]) | (x[:, 1] > extent[3])


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_analytic_gradient_match_autograd(energies, name):
    e = energies[name]
    x = e.sample(64, torch.Generator().manual_seed(0)).double()
    energy, grad = e.energy_and_grad(x)
    assert energy.shape == (64,) and grad.shape == (64, 2)
    assert torch.allclose(e.energy(x), energy) and torch.allclose(e.grad(x), grad)
    xg = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(e.energy(xg).sum(), xg)  # plain autograd through the formula
    assert torch.allclose(auto, grad, rtol=1e-8, atol=1e-8)
    xg = x.clone().requires_grad_(True)
    (via_call,) = torch.autograd.grad(e(xg).sum(), xg)  # E(x) is the same formula, seen by autograd
    assert torch.allclose(via_call, grad, rtol=1e-8, atol=1e-8)
    assert e(x.float()).dtype == torch.float32


@pytest.mark.parametrize("name", NAMES)
def test_energy_is_callable_by_the_foundation_sampler(energies, name):
    e = energies[name]
    x0 = e.sample(32, torch.Generator().manual_seed(1))
    out = langevin_sample(e, x0, n_steps=5, step_size=1e-3, generator=torch.Generator().manual_seed(2))
    assert out.samples.shape == (32, 2) and torch.isfinite(out.samples).all()


@pytest.mark.parametrize("name", NAMES)
def test_second_derivatives_through_autograd_match_the_analytic_gradient(energies, name):
    """Autograd's Hessian of E(x) equals the finite-difference Jacobian of the analytic gradient."""
    e = energies[name]
    x = e.sample(8, torch.Generator().manual_seed(9)).double().requires_grad_(True)
    (grad,) = torch.autograd.grad(e(x).sum(), x, create_graph=True)
    eps = 1e-6
    for j in range(2):
        (row,) = torch.autograd.grad(grad[:, j].sum(), x, retain_graph=True)  # d^2 E / dx_j dx_i
        step = torch.zeros(2, dtype=torch.float64)
        step[j] = eps
        x0 = x.detach()
        finite = (e.grad(x0 + step) - e.grad(x0 - step)) / (2 * eps)
        assert torch.allclose(row, finite, rtol=1e-5, atol=1e-5), (name, j)


def test_hessian_of_the_gaussian_is_its_precision():
    e = toy.Gaussian()
    hessian = torch.autograd.functional.hessian(
        lambda z: e(z[None]).sum(), torch.tensor([0.3, -0.2], dtype=torch.float64)
    )
    assert torch.allclose(hessian, e.precision)


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match=r"Banana.*\(B, 2\).*\(4, 3\)"):
        toy.Banana()(torch.zeros(4, 3))
    with pytest.raises(TypeError, match="floating"):
        toy.Banana()(torch.zeros(4, 2, dtype=torch.long))


def test_an_energy_without_a_sampler_is_built_but_cannot_be_sampled():
    class Wall(toy.ToyEnergy):  # like a soft wall: an energy, but not a distribution on its own
        def energy_and_grad(self, x):
            return x[:, 0], torch.ones_like(x) * torch.tensor([1.0, 0.0])

    wall = Wall()
    assert torch.equal(wall(torch.ones(3, 2)), torch.ones(3))
    with pytest.raises(NotImplementedError, match="Wall has no exact sampler"):
        wall.reference_samples(10)


@pytest.mark.parametrize("name", sorted(set(NAMES) - {"double_well"}))
def test_energy_is_normalised_and_agrees_with_the_exact_sampler(energies, name):
    """Integral of exp(-E) over the extent (Z = 1: exactly normalised) = fraction of exact samples inside (4 SE)."""
    e = energies[name]
    x0, x1, y0, y1 = e.extent
    xs = torch.linspace(x0, x1, 801, dtype=torch.float64)
    ys = torch.linspace(y0, y1, 801, dtype=torch.float64)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    p = torch.exp(-e.energy(torch.stack([xx.flatten(), yy.flatten()], dim=1))).view(yy.shape)
    mass = torch.trapezoid(torch.trapezoid(p, xs, dim=1), ys).item()
    n = 40_000
    inside = 1 - outside_extent(e.sample(n, torch.Generator().manual_seed(3)), e.extent).double().mean().item()
    se = math.sqrt(max(inside * (1 - inside), 1e-4) / n)
    assert abs(mass - inside) < 4 * se + 2e-3, (mass, inside)
    assert inside > 0.98  # the default extent holds nearly all the mass


@pytest.mark.parametrize("name", NAMES)
def test_stein_identities_hold_on_exact_samples(energies, name):
    """For x ~ p: E[grad E(x)] = 0 and E[x . grad E(x)] = 2 (integration by parts), 4 SE each."""
    e = energies[name]
    n = 100_000
    x = e.sample(n, torch.Generator().manual_seed(4)).double()
    grad = e.grad(x)
    for values, target in [(grad[:, 0], 0.0), (grad[:, 1], 0.0), ((x * grad).sum(1), 2.0)]:
        se = values.std().item() / math.sqrt(n)
        assert abs(values.mean().item() - target) < 4 * se, (name, values.mean().item(), target, se)


@pytest.mark.parametrize("name", NAMES)
def test_exact_samples_match_the_density_grid(energies, name):
    """Histogram TV of exact samples vs the grid stays within 1.5x its expected sampling noise."""
    e = energies[name]
    grid = e.density_grid(bins=25)
    assert grid.probabilities.sum() == pytest.approx(1.0)
    for axis in (0, 1):
        centres, density = grid.marginal(axis)
        assert np.sum(density) * (centres[1] - centres[0]) == pytest.approx(1.0)
    n = 20_000
    x = e.sample(n, torch.Generator().manual_seed(5))
    p = grid.probabilities
    expected_noise = 0.5 * np.sqrt(2 * p * (1 - p) / (np.pi * n)).sum()  # E|p_hat - p| per cell, summed
    outside = outside_extent(x, e.extent).double().mean().item()
    assert histogram_tv(x, grid) < 1.5 * expected_noise + outside + 0.005


def test_mode_weights_match_exact_samples(energies):
    for name in ("mixture", "rings", "double_well"):
        e = energies[name]
        n = 20_000
        labels = e.assign_modes(e.sample(n, torch.Generator().manual_seed(6)))
        occupancy = torch.bincount(labels, minlength=len(e.mode_weights)).double() / n
        w = e.mode_weights.double()
        se = torch.sqrt(w * (1 - w) / n)
        assert ((occupancy - w).abs() < 4 * se).all(), (name, occupancy, w)


def test_mixture_weights_are_unequal_and_modes_on_a_ring():
    e = toy.GaussianMixture()
    assert e.mode_weights.sum().item() == pytest.approx(1.0)
    assert e.mode_weights.max() > 2 * e.mode_weights.min()
    assert torch.allclose(e.modes.norm(dim=1), torch.full((8,), 3.0))


def test_double_well_barrier_is_the_energy_at_the_saddle():
    for barrier in (1.0, 4.0):
        e = toy.DoubleWell(barrier=barrier)
        minima = e.energy(e.modes)
        saddle = e.energy(torch.zeros(1, 2))
        assert torch.allclose(minima, torch.zeros(2), atol=1e-6)
        assert saddle.item() == pytest.approx(barrier)


def test_reference_samples_are_cached_and_independent_of_history():
    e = toy.Banana()
    small = e.reference_samples(10)
    big = e.reference_samples(5000)
    assert torch.equal(big[:10], small)
    assert torch.equal(toy.Banana().reference_samples(10), small)  # a fresh instance gives the same set
    fresh = e.reference_samples(10, torch.Generator().manual_seed(0))
    assert not torch.equal(fresh, small)


def test_stationary_variance_formula():
    assert toy.stationary_variance_ula(2.0, 1e-6) == pytest.approx(0.5, rel=1e-5)  # h -> 0: 1 / curvature
    assert toy.stationary_variance_ula(2.0, 0.5) == pytest.approx(1 / (2.0 * (1 - 0.5)))
    assert toy.stationary_variance_ula(2.0, 0.1, noise_scale=0.1) == pytest.approx(0.01 / (0.2 * 1.8))
    assert toy.stationary_variance_ula(2.0, 1.0) == math.inf  # h * curvature >= 2 diverges


def test_registry_and_make_energy():
    assert set(NAMES) >= {"mixture", "double_well", "banana", "rings", "funnel"}
    assert toy.make_energy("double_well", barrier=5.0).barrier == 5.0
    with pytest.raises(KeyError, match="unknown energy"):
        toy.make_energy("nope")


def test_tempered_density_grid_sharpens():
    e = toy.GaussianMixture()
    hot, cold = e.density_grid(bins=60), e.density_grid(bins=60, temperature=0.1)
    assert cold.density.max() > 5 * hot.density.max()
    assert e.density_grid(bins=60) is hot  # cached
