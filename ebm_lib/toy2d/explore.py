"""One exploration of Langevin sampling on a 2D energy: its settings, its run, its metrics.

This is the part of the Langevin explorer that knows no drawing: ``ebm_lib.course.explorer``
draws what it returns, and a browser version can reuse it as it is.

An exploration (``ExploreSettings``) picks an energy of ``ebm_lib.toy2d.energies`` by name,
a sampler of ``ebm_lib.samplers.SAMPLERS`` ("ULA" or "MALA", both called with the same
arguments), a start (``INITS``), a step size h, a temperature T (the noise sqrt(2 h T)), a
number of steps and of particles. ``explore`` runs it from one seed, so the same settings
give the same particles and a change of one setting shows only what that setting does.

What a run is measured against is computed once per energy (``Target``): density grids, a
fixed exact reference sample, the true marginals, and the noise floors, what exact samples
of the same size score. The metrics of a run (``measure``):

    energy_distance     D^2 to the reference sample (``metrics.energy_distance``), with
                        energy_distance_floor
    histogram_tv        TV between the particles' histogram and p on a 40 x 40 grid, with
                        histogram_tv_floor (diverged particles count as mass outside the grid)
    histogram_kl        KL(histogram || p) on the same grid
    occupancy_tv        TV between the fraction of particles nearest each mode and the mode
                        weights (energies with more than one mode)
    accept_rate         MALA's fraction of accepted proposals (NaN for ULA, which accepts all)
    grad_norm           mean |grad E| at the final particles
    ess_per_chain       effective sample size of x1 over the second half of the run, per chain
                        (NaN with fewer than 4 states or a non-finite one)
    diverged            particles that left for infinity (non-finite, or beyond 1e6 on their
                        way there); every other metric but histogram TV drops them
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from ebm_lib.samplers import SAMPLERS, SampleResult, uniform_noise
from ebm_lib.toy2d import metrics
from ebm_lib.toy2d.energies import ToyEnergy

INITS = ("gaussian", "uniform", "one point", "exact samples")
Marginal = tuple[np.ndarray, np.ndarray]  # (cell centres, density) or (density, edges) of one coordinate


def initial_points(kind: str, n: int, energy: ToyEnergy, generator: torch.Generator | None = None) -> torch.Tensor:
    """Starting points (n, 2): "gaussian" N(0, I), "uniform" over the energy's extent,
    "one point" (all at one spot near a corner), or "exact samples" (start at stationarity)."""
    x0, x1, y0, y1 = energy.extent
    if kind == "gaussian":
        return torch.randn((n, 2), generator=generator)
    if kind == "uniform":
        return uniform_noise(n, (2,), (x0, y0), (x1, y1), generator)
    if kind == "one point":
        return torch.tensor([[x0 + 0.2 * (x1 - x0), y0 + 0.2 * (y1 - y0)]]).repeat(n, 1)
    if kind == "exact samples":
        return energy.reference_samples(n, generator)
    raise ValueError(f"unknown initialisation {kind!r}; choose one of {INITS}")


@dataclass(frozen=True)
class ExploreSettings:
    """The settings of one exploration (the explorer's controls), checked when made.

    The energy is a name of the registry the explorer was given; it checks that name.
    """

    energy: str = "mixture"
    sampler: str = "ULA"
    step_size: float = 0.01
    temperature: float = 1.0
    n_steps: int = 200
    n_particles: int = 1000
    init: str = "gaussian"

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {tuple(SAMPLERS)}, got {self.sampler!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        for name in ("step_size", "temperature"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name, least in (("n_steps", 0), ("n_particles", 1)):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= least):
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")

    def changed(self, **changes: object) -> ExploreSettings:
        """A copy with some settings changed (checked; this one is left as it is)."""
        known = [f.name for f in dataclasses.fields(self)]
        unknown = set(changes) - set(known)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(known)}")
        return dataclasses.replace(self, **changes)


class Target:
    """What the explorations of one energy are measured against, computed once.

    density (120 x 120 cells) is for the picture, metric_grid (40 x 40) for histogram TV and
    KL, reference is the energy's fixed exact sample of size n_reference, marginals are the
    true marginal densities of x1 and x2 (from a 200 x 200 grid), hist_edges the 60 bins of
    the particles' marginal histograms. The floors are drawn with seed + 1.
    """

    def __init__(self, energy: ToyEnergy, n_reference: int = 1000, seed: int = 0) -> None:
        self.energy = energy
        self.seed = seed
        self.density = energy.density_grid(bins=120)
        self.metric_grid = energy.density_grid(bins=40)
        self.reference = energy.reference_samples(n_reference)
        self.reference_self = metrics.mean_pairwise_distance(self.reference)
        fine = energy.density_grid(bins=200)
        self.marginals: list[Marginal] = [fine.marginal(0), fine.marginal(1)]
        x0, x1, y0, y1 = energy.extent
        self.hist_edges = [np.linspace(x0, x1, 61), np.linspace(y0, y1, 61)]
        self._floors: dict[int, tuple[float, float]] = {}

    def floors(self, n: int) -> tuple[float, float]:
        """(energy distance, histogram TV) of n exact samples: the noise floors at size n."""
        if n not in self._floors:
            exact = self.energy.reference_samples(n, torch.Generator().manual_seed(self.seed + 1))
            self._floors[n] = (
                metrics.energy_distance(exact, self.reference, self.reference_self),
                metrics.histogram_tv(exact, self.metric_grid),
            )
        return self._floors[n]

    def tempered_marginals(self, temperature: float) -> list[Marginal]:
        """The marginals (centres, density) of p at temperature T (an 80 x 80 grid, cached)."""
        grid = self.energy.density_grid(bins=80, temperature=temperature, oversample=2)
        return [grid.marginal(0), grid.marginal(1)]

    def particle_marginals(self, kept: torch.Tensor, n_particles: int) -> list[Marginal]:
        """Histograms (density, edges) of the kept particles' x1 and x2, as fractions of all particles."""
        out = []
        for i in range(2):
            counts, edges = np.histogram(kept[:, i].numpy(), bins=self.hist_edges[i])
            out.append((counts / max(n_particles, 1) / (edges[1] - edges[0]), edges))
        return out


@dataclass
class Exploration:
    """One run: the sampler's result (with every particle's trajectory), the particles that
    did not diverge, and the metrics of ``measure``."""

    result: SampleResult
    kept: torch.Tensor
    metrics: dict[str, float]


def explore(target: Target, settings: ExploreSettings, seed: int = 0) -> Exploration:
    """Start the particles and run the chosen sampler from ``seed``, then measure the run."""
    generator = torch.Generator().manual_seed(seed)
    x_init = initial_points(settings.init, settings.n_particles, target.energy, generator)
    sampler = SAMPLERS[settings.sampler]
    result = sampler(
        target.energy,
        x_init,
        settings.n_steps,
        settings.step_size,
        temperature=settings.temperature,
        generator=generator,
        record_trajectory=True,
    )
    samples = result.samples
    finite = torch.isfinite(samples).all(dim=1) & (samples.abs().amax(dim=1) < 1e6)
    kept = samples[finite]
    return Exploration(result, kept, measure(target, result, kept))


def measure(target: Target, result: SampleResult, kept: torch.Tensor) -> dict[str, float]:
    """The metrics of a run (see the module's docstring); ``kept``: its samples that did not diverge."""
    energy = target.energy
    m: dict[str, float] = {"diverged": float(len(result.samples) - len(kept))}
    m["energy_distance"] = metrics.energy_distance(kept, target.reference, target.reference_self)
    m["histogram_tv"] = metrics.histogram_tv(result.samples, target.metric_grid)
    m["histogram_kl"] = metrics.histogram_kl(kept, target.metric_grid) if len(kept) else float("nan")
    if energy.mode_weights is not None and len(energy.mode_weights) > 1 and len(kept):
        occupancy = metrics.mode_occupancy(energy.assign_modes(kept), len(energy.mode_weights))
        m["occupancy_tv"] = metrics.occupancy_tv(occupancy, energy.mode_weights)
    m["accept_rate"] = float("nan") if result.accept_rate is None else result.accept_rate
    m["grad_norm"] = metrics.mean_gradient_norm(energy, kept)
    half = result.trajectory[result.trajectory.shape[0] // 2 :, :, 0]
    if half.shape[0] >= 4 and bool(torch.isfinite(half).all()):
        m["ess_per_chain"] = float(metrics.effective_sample_size(half)) / half.shape[1]
    else:
        m["ess_per_chain"] = float("nan")
    m["energy_distance_floor"], m["histogram_tv_floor"] = target.floors(len(result.samples))
    return m
