"""2D datasets: shapes, dtypes, determinism, their boxes, and reference grids that sum to one."""

import numpy as np
import pytest
import torch

from ebm_lib.toy2d.datasets import NAMES, get_dataset
from ebm_lib.toy2d.grid import grid_kl_tv
from ebm_lib.toy2d.metrics import histogram_tv

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_and_determinism(name):
    dataset = get_dataset(name)
    a = dataset.sample(300, torch.Generator().manual_seed(3))
    b = dataset.sample(300, torch.Generator().manual_seed(3))
    c = dataset.sample(300, torch.Generator().manual_seed(4))
    assert a.shape == (300, 2) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.isfinite(a).all()
    with pytest.raises(ValueError, match="non-negative"):
        dataset.sample(-1)


@pytest.mark.parametrize("name", NAMES)
def test_reference_grid_matches_samples(name):
    dataset = get_dataset(name)
    grid = dataset.reference_grid(30)
    assert np.isclose(grid.probabilities.sum(), 1.0)
    assert grid.extent == pytest.approx(dataset.extent)
    assert dataset.reference_grid(30) is grid  # cached
    x = dataset.sample(20000, torch.Generator().manual_seed(5))
    # 20,000 samples on <= 900 cells: the noise floor of histogram TV is about 0.08.
    assert histogram_tv(x, grid) < 0.12


@pytest.mark.parametrize("name", NAMES)
def test_noise_is_uniform_over_the_box(name):
    dataset = get_dataset(name)
    x0, x1, y0, y1 = dataset.extent
    noise = dataset.noise(20_000, torch.Generator().manual_seed(6))
    low, high = torch.tensor([x0, y0]), torch.tensor([x1, y1])
    old_box_init = low + (high - low) * torch.rand((20_000, 2), generator=torch.Generator().manual_seed(6))
    assert torch.equal(noise, old_box_init)  # the same bits as the chains' start always had
    assert ((noise >= low) & (noise <= high)).all()
    assert torch.allclose(noise.mean(0), (low + high) / 2, atol=4 * (high - low).max().item() / np.sqrt(12 * 20_000))


def test_one_dataset_object_per_name():
    mixture = get_dataset("mixture4")
    assert get_dataset("mixture4") is mixture
    assert len(mixture.energy.modes) == 4 and mixture.extent == mixture.energy.extent
    assert get_dataset("two_moons").energy is None


def test_checkerboard_is_on_the_dark_squares():
    x = get_dataset("checkerboard").sample(5000, torch.Generator().manual_seed(0))
    cells = torch.floor((x + 4) / 2).long()
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all()


def test_unknown_name_lists_the_choices():
    with pytest.raises(KeyError, match="two_moons"):
        get_dataset("moons")


def test_grid_kl_tv_is_zero_for_the_truth_and_positive_otherwise():
    truth = get_dataset("mixture4").reference_grid(40)
    assert grid_kl_tv(truth, truth) == pytest.approx({"kl": 0.0, "tv": 0.0}, abs=1e-9)
    flat = type(truth)(np.full_like(truth.density, truth.density.mean()), truth.x_edges, truth.y_edges)
    scores = grid_kl_tv(flat, truth)
    assert scores["kl"] > 0.5 and 0.3 < scores["tv"] < 1
