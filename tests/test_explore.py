"""The explorer's 2D world (ebm_lib.toy2d.explore): settings checked when made, one sampler call, metrics."""

import subprocess
import sys

import pytest
import torch

from ebm_lib.samplers import langevin_sample, mala_sample, noise_scale_for_temperature
from ebm_lib.toy2d.energies import REGISTRY
from ebm_lib.toy2d.explore import ExploreSettings, Target, explore, finite_particles, initial_points, measure


@pytest.fixture(scope="module")
def target():
    return Target(REGISTRY["mixture"](), n_reference=500, seed=0)


def test_the_2d_world_draws_nothing():
    code = "import sys, ebm_lib.toy2d.explore; print(' '.join({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "torch" in loaded and not {"matplotlib", "ipywidgets", "IPython", "PIL"} & set(loaded)


def test_uniform_start_is_the_old_per_coordinate_box_bit_for_bit():
    energy = REGISTRY["banana"]()
    x0, x1, y0, y1 = energy.extent
    u = torch.rand((500, 2), generator=torch.Generator().manual_seed(3))
    old = torch.stack([x0 + (x1 - x0) * u[:, 0], y0 + (y1 - y0) * u[:, 1]], dim=1)
    assert torch.equal(initial_points("uniform", 500, energy, torch.Generator().manual_seed(3)), old)
    with pytest.raises(ValueError, match="choose one of"):
        initial_points("corner", 5, energy)


@pytest.mark.parametrize("sampler", ["ULA", "MALA"])
def test_explore_is_the_sampler_called_directly(target, sampler):
    s = ExploreSettings(sampler=sampler, step_size=0.05, temperature=0.5, n_steps=30, n_particles=200)
    g = torch.Generator().manual_seed(7)
    x_init = torch.randn((200, 2), generator=g)
    if sampler == "ULA":
        noise = noise_scale_for_temperature(0.05, 0.5)
        direct = langevin_sample(target.energy, x_init, 30, 0.05, noise, generator=g, record_trajectory=True)
    else:
        direct = mala_sample(target.energy, x_init, 30, 0.05, temperature=0.5, generator=g, record_trajectory=True)
    result = explore(target, s, seed=7)
    assert torch.equal(result.samples, direct.samples) and torch.equal(result.trajectory, direct.trajectory)
    assert result.accept_rate == direct.accept_rate


def test_metrics_of_exact_samples_sit_at_their_floors(target):
    s = ExploreSettings(init="exact samples", n_steps=0, n_particles=500)
    m = measure(target, explore(target, s))
    assert m["diverged"] == 0 and m["accept_rate"] != m["accept_rate"]  # ULA: NaN
    assert m["energy_distance"] < 0.01 and m["histogram_tv"] < 2 * m["histogram_tv_floor"]
    assert m["occupancy_tv"] < 0.1 and m["ess_per_chain"] != m["ess_per_chain"]  # one state: no ESS
    assert target.floors(500) == (m["energy_distance_floor"], m["histogram_tv_floor"])


def test_diverged_particles_are_dropped_and_counted(target):
    samples = torch.tensor([[0.0, 1.0], [float("nan"), 0.0], [2e6, 0.0], [1.0, float("inf")]])
    assert torch.equal(finite_particles(samples), samples[:1])
    density, edges = target.particle_marginals(samples)[0]
    assert abs(float((density * (edges[1] - edges[0])).sum()) - 0.25) < 1e-12  # 1 of 4 particles is kept


@pytest.mark.parametrize(
    "change, message",
    [
        ({"sampler": "HMC"}, r"sampler must be one of \('ULA', 'MALA'\)"),
        ({"init": "corner"}, "init must be one of"),
        ({"energy": "volcano"}, "energy must be one of"),
        ({"step_size": -0.1}, "step_size must be a positive number"),
        ({"temperature": float("nan")}, "temperature must be a positive number"),
        ({"n_steps": 2.5}, "n_steps must be an integer >= 0"),
        ({"n_particles": 0}, "n_particles must be an integer >= 1"),
        ({"stepsize": 0.1}, r"unknown settings \['stepsize'\]"),
    ],
)
def test_bad_settings_are_refused_and_the_old_ones_kept(change, message):
    settings = ExploreSettings()
    with pytest.raises(ValueError, match=message):
        settings.changed(**change)
    assert settings == ExploreSettings()
    assert settings.changed(step_size=0.5, n_steps=3).step_size == 0.5
