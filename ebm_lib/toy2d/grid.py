"""Densities on a grid of cells over a 2D box: the truth of an analytic energy, or a learned one.

In 2D the partition function of any energy can be computed numerically: evaluate E on a
fine grid, exponentiate and sum. Then KL and TV between the model and the true density are
exact up to the grid, with no sampler involved (notebooks 3 and 4).

    DensityGrid       a density on the cells of a grid (cell probabilities, marginals)
    density_on_grid   exp(-E / T) / Z on a grid, for an analytic energy or a network
    grid_kl_tv        KL(data || model) and TV between two densities on the same grid
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

Extent = tuple[float, float, float, float]  # (x_min, x_max, y_min, y_max)


@dataclass
class DensityGrid:
    """A density on a regular grid of cells over ``extent`` (float64 NumPy arrays).

    density[i, j] is the mean density over the cell with y in y_edges[i:i+2] and x in
    x_edges[j:j+2] (rows are y, as ``imshow(origin="lower")`` expects), normalised so that
    the cell probabilities ``density * cell_area`` sum to 1 over the grid.
    """

    density: np.ndarray
    x_edges: np.ndarray
    y_edges: np.ndarray

    @property
    def extent(self) -> Extent:
        return (float(self.x_edges[0]), float(self.x_edges[-1]), float(self.y_edges[0]), float(self.y_edges[-1]))

    @property
    def bins(self) -> tuple[int, int]:
        """(nx, ny): the number of cells along x and along y."""
        return len(self.x_edges) - 1, len(self.y_edges) - 1

    @property
    def x_centers(self) -> np.ndarray:
        return (self.x_edges[:-1] + self.x_edges[1:]) / 2

    @property
    def y_centers(self) -> np.ndarray:
        return (self.y_edges[:-1] + self.y_edges[1:]) / 2

    @property
    def cell_area(self) -> float:
        return float((self.x_edges[1] - self.x_edges[0]) * (self.y_edges[1] - self.y_edges[0]))

    @property
    def probabilities(self) -> np.ndarray:
        """(ny, nx) probability of each cell; sums to 1."""
        return self.density * self.cell_area

    def marginal(self, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """(centres, density) of the marginal of coordinate ``axis`` (0: x1, 1: x2) on the grid."""
        if axis == 0:
            dy = self.y_edges[1] - self.y_edges[0]
            return self.x_centers, self.density.sum(axis=0) * dy
        dx = self.x_edges[1] - self.x_edges[0]
        return self.y_centers, self.density.sum(axis=1) * dx


def _fine_centres(low: float, high: float, n: int) -> torch.Tensor:
    """Centres of n equal sub-cells of [low, high], float64."""
    edges = torch.linspace(low, high, n + 1, dtype=torch.float64)
    return (edges[:-1] + edges[1:]) / 2


@torch.no_grad()
def density_on_grid(
    energy: Callable[[torch.Tensor], torch.Tensor],
    extent: Extent,
    bins: int | tuple[int, int],
    oversample: int = 4,
    temperature: float = 1.0,
    chunk: int = 16384,
) -> DensityGrid:
    """p_T(x) = exp(-E(x) / T) / Z averaged over each cell of a grid over ``extent``, normalised on the grid.

    ``bins`` is the number of cells per axis (or (nx, ny)). Each cell's mean of exp(-E / T)
    is computed from ``oversample`` x ``oversample`` points inside it, so narrow modes are
    not missed by a coarse grid, and Z is the sum over the grid times the cell area:

        p_T(cell) = mean_cell exp(-E / T) / sum_cells (mean_cell exp(-E / T) * cell_area).

    Mass outside ``extent`` is ignored. The same function serves the truth and a model:
    an analytic energy is evaluated at float64 points; a network (an ``nn.Module``, which
    returns the energy E(x): low energy = likely) at points in its parameters' dtype, in
    eval mode (restored afterwards). Energies are evaluated without gradients, ``chunk``
    points at a time, and exponentiated in float64.
    """
    nx, ny = (bins, bins) if isinstance(bins, int) else bins
    cx = _fine_centres(extent[0], extent[1], nx * oversample)
    cy = _fine_centres(extent[2], extent[3], ny * oversample)
    yy, xx = torch.meshgrid(cy, cx, indexing="ij")
    points = torch.stack([xx.flatten(), yy.flatten()], dim=1)
    training = energy.training if isinstance(energy, nn.Module) else None
    if training is not None:
        points = points.to(next(energy.parameters()).dtype)
        energy.eval()
    try:
        values = torch.cat([energy(part).double() for part in points.split(chunk)])
    finally:
        if training is not None:
            energy.train(training)
    log_p = -values.view(len(cy), len(cx)) / temperature
    log_p = torch.nan_to_num(log_p - log_p.max(), nan=-math.inf)
    fine = log_p.exp().view(ny, oversample, nx, oversample).mean(dim=(1, 3)).numpy()
    x_edges = np.linspace(extent[0], extent[1], nx + 1)
    y_edges = np.linspace(extent[2], extent[3], ny + 1)
    cell_area = (x_edges[1] - x_edges[0]) * (y_edges[1] - y_edges[0])
    return DensityGrid(density=fine / (fine.sum() * cell_area), x_edges=x_edges, y_edges=y_edges)


def grid_kl_tv(model_grid: DensityGrid, reference: DensityGrid, floor: float = 1e-12) -> dict[str, float]:
    """KL(data || model) and TV between two densities on the same grid (both ``DensityGrid``).

        KL(p || q) = sum_cells p log(p / q),     TV(p, q) = 1/2 sum_cells |p - q|,

    with p the reference (data) cell probabilities and q the model's, q floored at
    ``floor``. KL in this direction is what maximum likelihood minimises: it is large
    when the model puts too little mass where the data are (a missed mode), and forgives
    mass put where there are no data. TV is in [0, 1], symmetric, and bounded.
    Returns {"kl": ..., "tv": ...}.
    """
    p = np.asarray(reference.probabilities, dtype=np.float64)
    q = np.maximum(np.asarray(model_grid.probabilities, dtype=np.float64), floor)
    if p.shape != q.shape:
        raise ValueError(f"the grids differ in shape: {p.shape} and {q.shape}")
    mask = p > 0
    kl = float((p[mask] * np.log(p[mask] / q[mask])).sum())
    tv = 0.5 * float(np.abs(p - np.asarray(model_grid.probabilities)).sum())
    return {"kl": kl, "tv": tv}
