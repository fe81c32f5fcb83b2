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


def show_images(images: torch.Tensor, nrow: int = 8, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Show a batch (B, C, H, W) of images in [-1, 1] as a grid of ``nrow`` images per row (grey
    scale for one channel); empty cells and the one-pixel padding between images are white."""
    if images.dim() != 4:
        raise ValueError(f"images must have shape (B, C, H, W), got {tuple(images.shape)}")
    b, c, h, w = images.shape
    ncol, nrows = min(nrow, b), -(-b // min(nrow, b))
    grid = np.ones((nrows * (h + 1) + 1, ncol * (w + 1) + 1, c), dtype=np.float32)
    pixels = ((images.detach().cpu().float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
    for i, img in enumerate(pixels):
        r, col = divmod(i, ncol)
        grid[1 + r * (h + 1) : (r + 1) * (h + 1), 1 + col * (w + 1) : (col + 1) * (w + 1)] = img
    if ax is None:
        _, ax = plt.subplots(figsize=(min(nrow, len(images)) * 0.6 + 0.5, (-(-len(images) // nrow)) * 0.6 + 0.5))
    ax.imshow(grid.squeeze(-1) if c == 1 else grid, cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_training_curves(history: dict[str, Sequence[float]]) -> list[Axes]:
    """Three panels of a training history (``ebm_lib.training.train``): E(data) and E(samples)
    together, the gap E(samples) - E(data), and the Langevin |grad E|."""
    names = {
        "e_data": "E(data)",
        "e_samples": "E(samples)",
        "gap": "gap E(samples) - E(data)",
        "langevin_grad_norm": "Langevin |grad E|",
    }
    _, axes = plt.subplots(1, 3, figsize=(3.6 * 3, 3), squeeze=False)
    for ax, panel in zip(axes[0], (("e_data", "e_samples"), ("gap",), ("langevin_grad_norm",))):
        for key in panel:
            ax.plot(history[key], label=names[key])
        ax.set_xlabel("training step")
        ax.set_title(" and ".join(names[k] for k in panel), fontsize=10)
        if len(panel) > 1:
            ax.legend(fontsize=8)
    return list(axes[0])
