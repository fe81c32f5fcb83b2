"""Every sampler keeps one contract: energy first, then the starting points; one SampleResult back."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ebm_lib.diffusion.energies import NoisyGaussianMixture
from ebm_lib.diffusion.sampling import annealed_langevin, reverse_diffusion
from ebm_lib.samplers import SAMPLERS, LangevinConfig, SampleResult, langevin_sample, mala_sample, uniform_noise
from ebm_lib.toy2d.energies import GaussianMixture


def quadratic(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x * x).sum(1)


@pytest.mark.parametrize("sampler", [langevin_sample, mala_sample])
def test_zero_steps_return_the_start_and_empty_diagnostics(sampler):
    x0 = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    result = sampler(quadratic, x0, 0, 0.1, record_trajectory=True, record_diagnostics=True)
    assert isinstance(result, SampleResult)
    assert torch.equal(result.samples, x0) and result.samples is not x0
    assert result.trajectory.shape == (1, 5, 2)
    assert result.energy.shape == (0,) and result.grad_norm.shape == (0,)
    assert result.n_evaluations == 0


@pytest.mark.parametrize("sampler", [langevin_sample, mala_sample])
def test_recorded_shapes_and_evaluations(sampler):
    x0 = torch.randn(7, 2, generator=torch.Generator().manual_seed(1))
    result = sampler(quadratic, x0, 4, 0.1, record_trajectory=True, record_diagnostics=True)
    assert result.samples.shape == (7, 2) and not result.samples.requires_grad
    assert result.trajectory.shape == (5, 7, 2) and torch.equal(result.trajectory[0], x0)
    assert result.energy.shape == (4,) and result.grad_norm.shape == (4,)
    assert result.n_evaluations == (4 if sampler is langevin_sample else 5)  # MALA also scores the start


def test_acceptance_only_where_a_metropolis_test_runs():
    x0 = torch.randn(50, 2, generator=torch.Generator().manual_seed(2))
    assert langevin_sample(quadratic, x0, 3, 0.1).accept_rate is None
    mala = mala_sample(quadratic, x0, 3, 0.1)
    assert 0 < mala.accept_rate <= 1 and mala.accept_per_chain.shape == (50,)
    assert torch.isnan(torch.tensor(mala_sample(quadratic, x0, 0, 0.1).accept_rate))


def test_samplers_by_name_take_the_same_arguments():
    energy, x0 = GaussianMixture(), torch.zeros(20, 2)
    for name, sampler in SAMPLERS.items():
        a = sampler(energy, x0, 10, 0.05, temperature=0.5, generator=torch.Generator().manual_seed(3))
        b = SAMPLERS[name](energy, x0, 10, 0.05, temperature=0.5, generator=torch.Generator().manual_seed(3))
        assert torch.equal(a.samples, b.samples), name


def test_temperature_is_the_noise_it_implies():
    x0 = torch.randn(10, 2, generator=torch.Generator().manual_seed(4))
    by_temperature = langevin_sample(quadratic, x0, 5, 0.1, temperature=0.2, generator=torch.Generator().manual_seed(5))
    by_noise = langevin_sample(
        quadratic, x0, 5, 0.1, (2 * 0.1 * 0.2) ** 0.5, generator=torch.Generator().manual_seed(5)
    )
    assert torch.equal(by_temperature.samples, by_noise.samples)
    with pytest.raises(ValueError, match="not both"):
        langevin_sample(quadratic, x0, 1, 0.1, 0.3, temperature=0.2)


def test_the_config_runs_the_sampler_with_its_settings():
    config = LangevinConfig(n_steps=3, step_size=0.05, noise_scale=0.01, grad_clip=1.0, clamp=(-1.0, 1.0))
    x0 = torch.randn(6, 2, generator=torch.Generator().manual_seed(6))
    a = config.run(quadratic, x0, generator=torch.Generator().manual_seed(7))
    b = langevin_sample(quadratic, x0, **dataclasses.asdict(config), generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.samples, b.samples)


def test_diffusion_samplers_return_the_same_result_type():
    noisy, x0 = (
        NoisyGaussianMixture(GaussianMixture()),
        6.0 * torch.randn(30, 2, generator=torch.Generator().manual_seed(8)),
    )
    annealed = annealed_langevin(noisy, x0, [3.0, 1.0, 0.3], 4, record_trajectory=True)
    assert isinstance(annealed, SampleResult) and annealed.trajectory.shape == (3, 30, 2)
    assert annealed.n_evaluations == 3 * 4 + 1 and annealed.accept_rate is None
    reverse = reverse_diffusion(noisy, x0, [3.0, 1.0, 0.3], record_trajectory=True)
    assert isinstance(reverse, SampleResult) and reverse.trajectory.shape == (3, 30, 2)
    assert reverse.n_evaluations == 3


def test_uniform_noise_fills_its_box():
    x = uniform_noise(4000, (2,), (-3.0, 0.0), (1.0, 0.5), torch.Generator().manual_seed(9))
    assert x.shape == (4000, 2) and x.dtype == torch.float32
    assert x[:, 0].min() >= -3 and x[:, 0].max() < 1 and x[:, 1].min() >= 0 and x[:, 1].max() < 0.5
    g1, g2 = torch.Generator().manual_seed(10), torch.Generator().manual_seed(10)
    assert torch.equal(uniform_noise(8, (1, 28, 28), generator=g1), torch.rand(8, 1, 28, 28, generator=g2) * 2 - 1)
    with pytest.raises(ValueError, match="low <= high"):
        uniform_noise(3, (2,), 1.0, -1.0)


@pytest.mark.parametrize("bad", [torch.zeros(4), torch.zeros(4, 2, dtype=torch.int64), "points"])
def test_bad_starting_points_are_named(bad):
    with pytest.raises((TypeError, ValueError), match="x_init"):
        langevin_sample(quadratic, bad, 1, 0.1)
