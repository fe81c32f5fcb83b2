"""Densities on a grid of cells over a 2D box: the truth of an analytic energy, or a learned one.

In 2D the partition function of any energy can be computed numerically: evaluate E on a
fine grid, exponentiate and sum. Then KL and TV between the model and the true density are
exact up to the grid, with no sampler involved (notebooks 3 and 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

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


# ----------------------------------------------------------------------------------------
# Part 3: a learned 2D energy against the true density, both normalised on a grid
# (notebooks 3 and 4).
#
# In 2D the partition function of a learned energy can be computed numerically: evaluate
# E on a fine grid, exponentiate and sum. Then KL and TV between the model and the true
# density are exact up to the grid, with no sampler involved.
# ----------------------------------------------------------------------------------------


@torch.no_grad()
def model_density_grid(energy_fn, reference, oversample: int = 2, chunk: int = 16384):
    """The density p_theta(x) = exp(-E(x)) / Z of a learned energy on the cells of ``reference``.

    ``reference`` is a ``DensityGrid`` (``ebm_lib.toy2d.energies``) that fixes the cells. Each
    cell's mean of exp(-E) is estimated from ``oversample`` x ``oversample`` points inside
    it (float64 after the network), and Z is the sum over the grid times the cell area,
    so p_theta, like the reference, is normalised over the grid:

        p_theta(cell) = mean_cell exp(-E) / sum_cells (mean_cell exp(-E) * cell_area).

    The network returns the energy E(x): low energy = likely. It is put in eval mode for
    the evaluation and returned to its previous mode.
    """
    nx, ny = len(reference.x_edges) - 1, len(reference.y_edges) - 1
    fx = np.linspace(reference.x_edges[0], reference.x_edges[-1], nx * oversample + 1)
    fy = np.linspace(reference.y_edges[0], reference.y_edges[-1], ny * oversample + 1)
    cx, cy = (fx[:-1] + fx[1:]) / 2, (fy[:-1] + fy[1:]) / 2
    yy, xx = np.meshgrid(cy, cx, indexing="ij")
    points = torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], axis=1)).float()
    training = getattr(energy_fn, "training", None)
    if training is not None:
        energy_fn.eval()
    try:
        energy = torch.cat([energy_fn(part).double() for part in points.split(chunk)])
    finally:
        if training is not None:
            energy_fn.train(training)
    log_p = -energy.view(len(cy), len(cx))
    log_p = torch.nan_to_num(log_p - log_p.max(), nan=-np.inf)
    fine = log_p.exp().view(ny, oversample, nx, oversample).mean(dim=(1, 3)).numpy()
    density = fine / (fine.sum() * reference.cell_area)
    return DensityGrid(density=density, x_edges=reference.x_edges.copy(), y_edges=reference.y_edges.copy())


def grid_kl_tv(model_grid, reference, floor: float = 1e-12) -> dict[str, float]:
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


def learned_density_kl_tv(energy_fn, reference, oversample: int = 2) -> dict[str, float]:
    """``grid_kl_tv`` of a learned energy against the true ``DensityGrid``: {"kl", "tv"}."""
    return grid_kl_tv(model_density_grid(energy_fn, reference, oversample), reference)
