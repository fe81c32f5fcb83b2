"""The Langevin explorer: slider changes update the figure in place, fast enough for a lecture."""

import statistics

import ipywidgets as widgets
import pytest
import torch

from ebm_lib.course.explorer import LangevinExplorer
from ebm_lib.toy2d.energies import REGISTRY
from ebm_lib.toy2d.explore import INITS, initial_points

# A lecturer moving sliders: step size, sampler, temperature, start, each one a real change.
SLIDER_MOVES = [
    {"step_size": 0.02},
    {"step_size": 0.05},
    {"sampler": "MALA"},
    {"step_size": 0.1},
    {"temperature": 0.3},
    {"temperature": 1.0},
    {"sampler": "ULA"},
    {"init": "uniform"},
    {"step_size": 0.01},
    {"init": "gaussian"},
    {"step_size": 0.03},
]


@pytest.fixture(scope="module")
def explorer():
    return LangevinExplorer(energy="mixture", n_particles=1000, n_steps=200)


def test_one_slider_change_rerenders_within_150_ms(explorer):
    """1,000 particles, 200 steps: median of 11 slider changes (sampling, metrics, blit, JPEG) < 150 ms."""
    explorer.update(step_size=0.01)  # warm-up
    times = explorer.time_updates(SLIDER_MOVES)
    median = statistics.median(times)
    print(f"explorer latency: median {1000 * median:.1f} ms, max {1000 * max(times):.1f} ms over {len(times)} changes")
    assert explorer.params["n_particles"] == 1000 and explorer.params["n_steps"] == 200
    assert median < 0.150, [round(1000 * t) for t in times]


def test_updates_reuse_the_figure_and_its_artists(explorer):
    fig, cloud, paths, image = explorer.figure, explorer._cloud, list(explorer._paths), explorer.image
    n_axes = len(fig.axes)
    before = image.value
    explorer.update(step_size=0.07)
    assert explorer.figure is fig and explorer._cloud is cloud and explorer._paths == paths
    assert len(fig.axes) == n_axes and explorer.image is image
    assert image.value != before and image.value[:2] == b"\xff\xd8"  # a new JPEG
    assert len(cloud.get_offsets()) == 1000


def test_every_energy_and_start_renders_with_metrics(explorer):
    for name in REGISTRY:
        explorer.update(energy=name, n_steps=20, sampler="MALA")
        m = explorer.metrics
        keys = {"energy_distance", "histogram_tv", "histogram_kl", "accept_rate", "grad_norm", "ess_per_chain"}
        assert keys <= set(m)
        assert 0 <= m["accept_rate"] <= 1
    for init in INITS:
        assert initial_points(init, 7, REGISTRY["banana"](), torch.Generator().manual_seed(0)).shape == (7, 2)
    explorer.update(energy="mixture", n_steps=200, sampler="ULA", init="gaussian", step_size=0.01)


def test_a_diverging_chain_is_reported_not_a_crash(explorer):
    explorer.update(energy="banana", step_size=0.5, n_steps=50)
    assert explorer.metrics["diverged"] > 0
    assert "diverged particles" in explorer.table.value
    explorer.update(energy="mixture", step_size=0.01, n_steps=200)


def test_controls_drive_the_explorer_and_follow_it(explorer):
    ui = explorer.widget
    assert isinstance(ui, widgets.Widget)
    controls = explorer._controls
    controls["step_size"].value = 0.04
    assert explorer.params["step_size"] == pytest.approx(0.04)
    explorer.update(n_steps=100)
    assert controls["n_steps"].value == 100
    explorer.update(n_steps=200, step_size=0.01)


def test_refused_settings_change_nothing_and_later_updates_work(explorer):
    params, image = explorer.params, explorer.image.value
    refusals = [
        ({"stepsize": 0.1}, "unknown settings"),
        ({"sampler": "HMC"}, "sampler must be one of"),
        ({"energy": "volcano"}, r"energy must be one of \('mixture', .*got 'volcano'"),
        ({"init": "corner"}, "init must be one of"),
        ({"step_size": -0.1}, "step_size must be a positive number"),
        ({"n_steps": 20, "n_particles": 0}, "n_particles must be an integer >= 1"),
    ]
    for change, message in refusals:
        with pytest.raises(ValueError, match=message):
            explorer.update(**change)
        assert explorer.params == params and explorer.image.value == image
    explorer.update(step_size=0.02)
    assert explorer.params == {**params, "step_size": 0.02}
    explorer.update(step_size=0.01)
    with pytest.raises(ValueError, match="energy must be one of"):
        LangevinExplorer(energy="volcano")
