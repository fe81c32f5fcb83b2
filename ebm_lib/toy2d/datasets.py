"""2D datasets for training EBMs: samples of the analytic energies and three classic toy sets.

``make_dataset(name, n, generator)`` returns n points as a float32 tensor (n, 2), the same
points for the same generator seed. Two kinds of names:

    toy energies   every name of ``ebm_lib.toy2d.energies.REGISTRY`` ("mixture", "double_well",
                   "banana", "rings", "funnel", "gaussian"), plus "mixture4", an easy
                   mixture of 4 equal Gaussians (radius 2, sigma 0.4): exact samples of
                   p(x) = exp(-E(x)) / Z, whose density we know on a grid;
    classic sets   "two_moons", "checkerboard", "swiss_roll": defined by how they are
                   drawn, with no formula for their density.

``reference_grid(name, bins)`` gives each dataset's density on a grid (a
``ebm_lib.toy2d.energies.DensityGrid``), to measure a trained model against with
``ebm_lib.toy2d.metrics.grid_kl_tv``. For the toy energies it is exact (p averaged over each
cell, normalised numerically). For the classic sets it is a histogram of 400,000
samples from a fixed seed, so it carries a little Monte-Carlo noise (about 1% per cell
at 60 x 60 cells): the course's KL and TV figures use the toy energies; the classic sets
are for pictures and for trying things out.

The classic sets, each centred and scaled to fit in about [-4, 4]^2 like the toy energies:

    two_moons      two interleaved half circles of radius 1 (the second shifted by (1, -0.5)),
                   with N(0, 0.1^2) noise, then scaled by 2 and centred;
    checkerboard   uniform on the 8 dark squares of a 4 x 4 board over [-4, 4]^2;
    swiss_roll     the spiral r = t, angle t for t uniform in [1.5 pi, 4.5 pi], scaled by 0.3,
                   with N(0, 0.15^2) noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ebm_lib.toy2d.energies import REGISTRY, GaussianMixture, ToyEnergy, make_energy
from ebm_lib.toy2d.grid import DensityGrid, Extent

Sampler = Callable[[int, torch.Generator | None], torch.Tensor]
REFERENCE_SIZE = 400_000
REFERENCE_SEED = 20240601


def easy_mixture() -> GaussianMixture:
    """The course's easy mixture: 4 equal Gaussians (sigma 0.4) at radius 2; the training tests use it."""
    return GaussianMixture(n_modes=4, radius=2.0, sigma=0.4)


def make_toy_energy(name: str) -> ToyEnergy:
    """The analytic energy behind a toy dataset name (``mixture4`` or a ``toy.REGISTRY`` name)."""
    return easy_mixture() if name == "mixture4" else make_energy(name)


def two_moons(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Two interleaved half circles with Gaussian noise, scaled by 2 and centred (see the module)."""
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
    """A 2D spiral: radius t and angle t for t uniform in [1.5 pi, 4.5 pi], scaled by 0.3, plus noise."""
    t = math.pi * (1.5 + 3 * torch.rand(n, generator=generator))
    points = 0.3 * torch.stack([t * t.cos(), t * t.sin()], dim=1)
    return points + 0.15 * torch.randn((n, 2), generator=generator)


CLASSIC: dict[str, tuple[Sampler, Extent]] = {
    "two_moons": (two_moons, (-4.0, 4.0, -3.0, 3.0)),
    "checkerboard": (checkerboard, (-4.0, 4.0, -4.0, 4.0)),
    "swiss_roll": (swiss_roll, (-4.5, 4.5, -4.5, 4.5)),
}
TOY_NAMES = ("mixture4", *REGISTRY)
NAMES = (*TOY_NAMES, *CLASSIC)
"""Every dataset name ``make_dataset`` accepts."""


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise KeyError(f"unknown dataset {name!r}; choose one of {list(NAMES)}")


def make_dataset(name: str, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n points of the dataset ``name``, a float32 tensor (n, 2); deterministic given the generator."""
    _check_name(name)
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if name in CLASSIC:
        points = CLASSIC[name][0](n, generator)
    else:
        points = make_toy_energy(name).sample(n, generator)
    return points.float().contiguous()


def dataset_extent(name: str) -> Extent:
    """A box (x_min, x_max, y_min, y_max) that holds nearly all of the dataset's mass."""
    _check_name(name)
    if name in CLASSIC:
        return CLASSIC[name][1]
    return make_toy_energy(name).extent


_REFERENCE_CACHE: dict[tuple[str, int], DensityGrid] = {}


def reference_grid(name: str, bins: int = 60) -> DensityGrid:
    """The dataset's density on a bins x bins grid over ``dataset_extent(name)``.

    Exact for toy energies (``ToyEnergy.density_grid``); a histogram of 400,000 samples
    (fixed seed) for the classic sets, whose cells sum to one over the grid.
    """
    _check_name(name)
    if name not in CLASSIC:
        return make_toy_energy(name).density_grid(bins=bins)
    key = (name, bins)
    if key not in _REFERENCE_CACHE:
        extent = dataset_extent(name)
        x = make_dataset(name, REFERENCE_SIZE, torch.Generator().manual_seed(REFERENCE_SEED)).double().numpy()
        x_edges = np.linspace(extent[0], extent[1], bins + 1)
        y_edges = np.linspace(extent[2], extent[3], bins + 1)
        counts, _, _ = np.histogram2d(x[:, 1], x[:, 0], bins=[y_edges, x_edges])
        cell_area = (x_edges[1] - x_edges[0]) * (y_edges[1] - y_edges[0])
        _REFERENCE_CACHE[key] = DensityGrid(counts / (counts.sum() * cell_area), x_edges, y_edges)
    return _REFERENCE_CACHE[key]
