"""2D datasets: shapes, dtypes, determinism, and reference grids that sum to one."""

import numpy as np
import pytest
import torch

from ebm_lib.toy2d import datasets as datasets2d
from ebm_lib.toy2d.grid import grid_kl_tv
from ebm_lib.toy2d.metrics import histogram_tv

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.mark.parametrize("name", datasets2d.NAMES)
def test_shape_dtype_and_determinism(name):
    a = datasets2d.make_dataset(name, 300, torch.Generator().manual_seed(3))
    b = datasets2d.make_dataset(name, 300, torch.Generator().manual_seed(3))
    c = datasets2d.make_dataset(name, 300, torch.Generator().manual_seed(4))
    assert a.shape == (300, 2) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.isfinite(a).all()


@pytest.mark.parametrize("name", datasets2d.NAMES)
def test_reference_grid_matches_samples(name):
    grid = datasets2d.reference_grid(name, 30)
    assert np.isclose(grid.probabilities.sum(), 1.0)
    x = datasets2d.make_dataset(name, 20000, torch.Generator().manual_seed(5))
    # 20,000 samples on <= 900 cells: the noise floor of histogram TV is about 0.08.
    assert histogram_tv(x, grid) < 0.12


def test_checkerboard_is_on_the_dark_squares():
    x = datasets2d.make_dataset("checkerboard", 5000, torch.Generator().manual_seed(0))
    cells = torch.floor((x + 4) / 2).long()
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all()


def test_unknown_name_lists_the_choices():
    with pytest.raises(KeyError, match="two_moons"):
        datasets2d.make_dataset("moons", 10)


def test_grid_kl_tv_is_zero_for_the_truth_and_positive_otherwise():
    truth = datasets2d.reference_grid("mixture4", 40)
    assert grid_kl_tv(truth, truth) == pytest.approx({"kl": 0.0, "tv": 0.0}, abs=1e-9)
    flat = type(truth)(np.full_like(truth.density, truth.density.mean()), truth.x_edges, truth.y_edges)
    scores = grid_kl_tv(flat, truth)
    assert scores["kl"] > 0.5 and 0.3 < scores["tv"] < 1
