"""Figures used across notebooks: 2D densities, image grids and training curves."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

from ebm_lib.toy2d.grid import DensityGrid


def show_density(ax: Axes, grid: DensityGrid, title: str | None = None, contours: bool = False) -> Axes:
    """Draw a ``DensityGrid`` as sqrt(density) in blues (the square root keeps faint tails visible).

    By default an image of the cells, without ticks (notebook 3's small panels); with
    ``contours=True`` 12 filled contour levels on axes fitted to the grid's box, ticks kept
    (notebook 2, where samples are drawn over it).
    """
    if contours:
        ax.contourf(grid.x_centers, grid.y_centers, np.sqrt(grid.density), levels=12, cmap="Blues")
        ax.set_xlim(*grid.extent[:2])
        ax.set_ylim(*grid.extent[2:])
    else:
        ax.imshow(np.sqrt(grid.density), origin="lower", extent=grid.extent, cmap="Blues", aspect="auto")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def make_grid(images: torch.Tensor, nrow: int = 8, pad: int = 1) -> np.ndarray:
    """Tile a batch (B, C, H, W) of images in [-1, 1] into one (H', W', C) array in [0, 1].

    Empty cells and the padding between images are white. ``nrow`` is the number of
    images per row.
    """
    if images.dim() != 4:
        raise ValueError(f"images must have shape (B, C, H, W), got {tuple(images.shape)}")
    b, c, h, w = images.shape
    ncol = min(nrow, b)
    nrows = -(-b // ncol)
    grid = np.ones((nrows * (h + pad) + pad, ncol * (w + pad) + pad, c), dtype=np.float32)
    pixels = ((images.detach().cpu().float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
    for i, img in enumerate(pixels):
        r, col = divmod(i, ncol)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + col * (w + pad) : pad + col * (w + pad) + w] = img
    return grid


def show_images(images: torch.Tensor, nrow: int = 8, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Show a batch of images in [-1, 1] as a grid (grey scale for one channel)."""
    grid = make_grid(images, nrow)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(nrow, len(images)) * 0.6 + 0.5, (-(-len(images) // nrow)) * 0.6 + 0.5))
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_training_curves(
    history: dict[str, Sequence[float]],
    keys: Sequence[str] = ("e_data", "e_samples", "gap", "langevin_grad_norm"),
    axes: Sequence[Axes] | None = None,
    label: str | None = None,
) -> Sequence[Axes]:
    """One panel per metric of a training history (as returned by ``ebm_lib.training.train``).

    E(data) and E(samples) share the first panel when both are asked for.
    """
    panels: list[list[str]] = []
    for key in keys:
        if key == "e_samples" and ["e_data"] in panels:
            panels[panels.index(["e_data"])].append(key)
        else:
            panels.append([key])
    if axes is None:
        _, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3), squeeze=False)
        axes = list(axes[0])
    names = {
        "e_data": "E(data)",
        "e_samples": "E(samples)",
        "gap": "gap E(samples) - E(data)",
        "langevin_grad_norm": "Langevin |grad E|",
        "loss": "loss",
        "param_grad_norm": "parameter grad norm",
    }
    for ax, panel in zip(axes, panels):
        for key in panel:
            name = names.get(key, key)
            ax.plot(history[key], label=f"{label}: {name}" if label else name)
        ax.set_xlabel("training step")
        ax.set_title(" and ".join(names.get(k, k) for k in panel), fontsize=10)
        if len(panel) > 1 or label:
            ax.legend(fontsize=8)
    return axes
