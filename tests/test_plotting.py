"""Plotting helpers: densities, grid layout and curve panels."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ebm_lib.course.plotting import plot_training_curves, show_density, show_images
from ebm_lib.toy2d.energies import Banana


def test_image_grid_layout_and_scaling():
    images = torch.stack([torch.full((1, 3, 2), v) for v in (-1.0, 0.0, 1.0)])
    grid = show_images(images, nrow=2).get_images()[0].get_array()
    assert grid.shape == (2 * 4 + 1, 2 * 3 + 1)
    assert grid[1, 1] == 0.0 and grid[1, 4] == 0.5 and grid[5, 1] == 1.0
    assert np.all(grid[5:8, 4:6] == 1.0) and np.all(grid[0] == 1.0)  # the empty cell and the padding are white
    plt.close("all")


def test_image_grid_rejects_non_image_batches():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        show_images(torch.zeros(3, 28, 28))


def test_figures_draw():
    ax = show_images(torch.rand(10, 1, 8, 8) * 2 - 1, nrow=5, title="digits")
    assert ax.get_title() == "digits"
    history = {k: [0.0, 1.0, 2.0] for k in ("e_data", "e_samples", "gap", "langevin_grad_norm")}
    axes = plot_training_curves(history)
    assert len(axes) == 3 and len(axes[0].lines) == 2  # E(data) and E(samples) share a panel
    plt.close("all")


def test_show_density_as_an_image_or_as_contours():
    grid = Banana().density_grid(bins=30)
    _, (left, right) = plt.subplots(1, 2)
    show_density(left, grid, title="banana")
    image = left.get_images()[0]
    assert np.allclose(image.get_array(), np.sqrt(grid.density)) and list(image.get_extent()) == list(grid.extent)
    assert left.get_title() == "banana" and len(left.get_xticks()) == 0
    show_density(right, grid, contours=True)
    assert not right.get_images() and right.get_xlim() == grid.extent[:2] and right.get_ylim() == grid.extent[2:]
    plt.close("all")
