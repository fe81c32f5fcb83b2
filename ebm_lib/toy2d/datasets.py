"""2D datasets for training EBMs: samples of the analytic energies and three classic toy sets.

``get_dataset(name)`` returns one ``Dataset2D``, built once and shared, with everything a
2D run needs of its data:

    sample(n, generator)   n points, a float32 tensor (n, 2), the same for the same generator seed;
    extent                 a box (x_min, x_max, y_min, y_max) holding nearly all the mass;
    noise(n, generator)    n points uniform over that box (where chains start from noise);
    reference_grid(bins)   the density on a bins x bins grid over the box (a ``DensityGrid``),
                           to measure a trained model against with ``grid.grid_kl_tv``;
    energy                 the analytic energy behind a toy set (None for a classic set).

The names (``NAMES``): the toy energies, every name of ``ebm_lib.toy2d.energies.REGISTRY`` plus
"mixture4", an easy mixture of 4 equal Gaussians (radius 2, sigma 0.4), whose reference grid is
exact (p averaged over each cell, normalised numerically); and the classic sets "two_moons",
"checkerboard", "swiss_roll", defined by how they are drawn (centred and scaled to fit in about
[-4, 4]^2), with no formula for their density: their reference grid is a histogram of 400,000
samples from a fixed seed, with a little Monte-Carlo noise (about 1% per cell at 60 x 60 cells).
The course's KL and TV figures use the toy energies; the classic sets are for pictures and for
trying things out.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ebm_lib.samplers import uniform_noise
from ebm_lib.toy2d.energies import REGISTRY, GaussianMixture, ToyEnergy
from ebm_lib.toy2d.grid import DensityGrid, Extent

Sampler = Callable[[int, torch.Generator | None], torch.Tensor]
REFERENCE_SIZE = 400_000
REFERENCE_SEED = 20240601


def two_moons(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Two interleaved half circles of radius 1 (the second shifted by (1, -0.5)) with N(0, 0.1^2)
    noise, then scaled by 2 and centred."""
    upper = torch.rand(n, generator=generator) < 0.5
    t = math.pi * torch.rand(n, generator=generator)
    x = torch.where(upper, t.cos(), 1 - t.cos())
    y = torch.where(upper, t.sin(), 0.5 - t.sin())
    points = torch.stack([x, y], dim=1) + 0.1 * torch.randn((n, 2), generator=generator)
    return 2.0 * (points - torch.tensor([0.5, 0.25]))


def checkerboard(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform on the 8 squares (i + j even) of a 4 x 4 board of side-2 squares over [-4, 4]^2."""
    square = torch.randint(8, (n,), generator=generator)
    row = square // 2
    col = 2 * (square % 2) + row % 2  # (row + col) even
    corner = torch.stack([col, row], dim=1).float() * 2 - 4
    return corner + 2 * torch.rand((n, 2), generator=generator)


def swiss_roll(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A 2D spiral: radius t and angle t for t uniform in [1.5 pi, 4.5 pi], scaled by 0.3, plus N(0, 0.15^2) noise."""
    t = math.pi * (1.5 + 3 * torch.rand(n, generator=generator))
    points = 0.3 * torch.stack([t * t.cos(), t * t.sin()], dim=1)
    return points + 0.15 * torch.randn((n, 2), generator=generator)


CLASSIC: dict[str, tuple[Sampler, Extent]] = {
    "two_moons": (two_moons, (-4.0, 4.0, -3.0, 3.0)),
    "checkerboard": (checkerboard, (-4.0, 4.0, -4.0, 4.0)),
    "swiss_roll": (swiss_roll, (-4.5, 4.5, -4.5, 4.5)),
}
TOY_ENERGIES: dict[str, Callable[[], ToyEnergy]] = {
    "mixture4": lambda: GaussianMixture(n_modes=4, radius=2.0, sigma=0.4),
    **REGISTRY,
}
"""The toy datasets' energies: the easy 4-mode mixture and every energy of the registry."""
NAMES = (*TOY_ENERGIES, *CLASSIC)
"""Every dataset name ``get_dataset`` accepts."""


@dataclass
class Dataset2D:
    """One 2D dataset: how it is drawn, the box that holds it, and its density on a grid (see the module)."""

    name: str
    extent: Extent
    draw: Sampler
    energy: ToyEnergy | None = None
    _histograms: dict[int, DensityGrid] = field(default_factory=dict, repr=False)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n points of the dataset, a float32 tensor (n, 2); deterministic given the generator."""
        if n < 0:
            raise ValueError(f"n must be non-negative, got {n}")
        return self.draw(n, generator).float().contiguous()

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n points uniform over the box, (n, 2): the start of chains from noise."""
        x_min, x_max, y_min, y_max = self.extent
        return uniform_noise(n, (2,), (x_min, y_min), (x_max, y_max), generator)

    def reference_grid(self, bins: int = 60) -> DensityGrid:
        """The density on a bins x bins grid over the box (cached).

        Exact for toy energies (``ToyEnergy.density_grid``); a histogram of 400,000 samples
        (fixed seed) for the classic sets, whose cells sum to one over the grid.
        """
        if self.energy is not None:
            return self.energy.density_grid(bins=bins)
        if bins not in self._histograms:
            x = self.sample(REFERENCE_SIZE, torch.Generator().manual_seed(REFERENCE_SEED)).double().numpy()
            x_edges = np.linspace(self.extent[0], self.extent[1], bins + 1)
            y_edges = np.linspace(self.extent[2], self.extent[3], bins + 1)
            counts, _, _ = np.histogram2d(x[:, 1], x[:, 0], bins=[y_edges, x_edges])
            cell_area = (x_edges[1] - x_edges[0]) * (y_edges[1] - y_edges[0])
            self._histograms[bins] = DensityGrid(counts / (counts.sum() * cell_area), x_edges, y_edges)
        return self._histograms[bins]


@functools.cache
def get_dataset(name: str) -> Dataset2D:
    """The dataset ``name`` (one of ``NAMES``), built on first use and then shared."""
    if name in CLASSIC:
        draw, extent = CLASSIC[name]
        return Dataset2D(name, extent, draw)
    if name not in TOY_ENERGIES:
        raise KeyError(f"unknown dataset {name!r}; choose one of {list(NAMES)}")
    energy = TOY_ENERGIES[name]()
    return Dataset2D(name, energy.extent, energy.sample, energy)
