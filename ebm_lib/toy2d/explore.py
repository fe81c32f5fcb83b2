"""One exploration of Langevin sampling on a 2D energy: its settings, its run, its metrics.

The part of the Langevin explorer that knows no drawing (``ebm_lib.course.explorer`` draws what
it returns). An exploration (``ExploreSettings``) names an energy of ``ebm_lib.toy2d.energies.REGISTRY``,
a sampler of ``ebm_lib.samplers.SAMPLERS`` ("ULA" or "MALA", called with the same arguments), a
start (``INITS``), a step size h, a temperature T (noise sqrt(2 h T)) and the numbers of steps and
particles. ``explore`` runs it from one seed: the same settings give the same particles, and a
change of one setting shows only what that setting does.

What a run is measured against is computed once per energy (``Target``): density grids, a
fixed exact reference sample, the true marginals, and the noise floors (what exact samples of
the same size score). The metrics of a run (``measure``):

    energy_distance   D^2 to the reference sample, and energy_distance_floor
    histogram_tv      TV between the particles' histogram and p on a 40 x 40 grid, and
                      histogram_tv_floor; histogram_kl, KL(histogram || p) on the same grid
    occupancy_tv      TV between the fractions of particles nearest each mode and the mode
                      weights (energies with more than one mode)
    accept_rate       MALA's fraction of accepted proposals (NaN for ULA, which accepts all)
    grad_norm         mean |grad E| at the final particles
    ess_per_chain     effective sample size of x1 over the second half of the run, per chain
    diverged          particles that left for infinity (non-finite, or beyond 1e6 on their way);
                      the other metrics drop them, but histogram TV counts them as mass outside
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
from ebm_lib.toy2d.energies import REGISTRY, ToyEnergy

INITS = ("gaussian", "uniform", "one point", "exact samples")
Marginal = tuple[np.ndarray, np.ndarray]  # one coordinate: (centres, density), or (density, edges) of a histogram


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
    """The settings of one exploration (the explorer's controls), checked when made."""

    energy: str = "mixture"
    sampler: str = "ULA"
    step_size: float = 0.01
    temperature: float = 1.0
    n_steps: int = 200
    n_particles: int = 1000
    init: str = "gaussian"

    def __post_init__(self) -> None:
        for name, choices in (("energy", tuple(REGISTRY)), ("sampler", tuple(SAMPLERS)), ("init", INITS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        for name in ("step_size", "temperature"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name, least in (("n_steps", 0), ("n_particles", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, numbers.Integral) and value >= least):
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")

    def changed(self, **changes: object) -> ExploreSettings:
        """A checked copy with some settings changed; this one stays as it is."""
        known = sorted(f.name for f in dataclasses.fields(self))
        if set(changes) - set(known):
            raise ValueError(f"unknown settings {sorted(set(changes) - set(known))}; known: {known}")
        return dataclasses.replace(self, **changes)


class Target:
    """What the explorations of one energy are measured against, computed once.

    density (120 x 120 cells) is for the picture, metric_grid (40 x 40) for histogram TV and KL,
    reference the energy's fixed exact sample of size n_reference, marginals the true marginal
    densities of x1 and x2 (a 200 x 200 grid), hist_edges the 60 bins of the particles'
    histograms. The exact samples of the floors are drawn from seed + 1.
    """

    def __init__(self, energy: ToyEnergy, n_reference: int = 1000, seed: int = 0) -> None:
        self.energy, self.seed = energy, seed
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
            distance = metrics.energy_distance(exact, self.reference, self.reference_self)
            self._floors[n] = (distance, metrics.histogram_tv(exact, self.metric_grid))
        return self._floors[n]

    def tempered_marginals(self, temperature: float) -> list[Marginal]:
        """The marginals (centres, density) of p at temperature T (an 80 x 80 grid, cached)."""
        grid = self.energy.density_grid(bins=80, temperature=temperature, oversample=2)
        return [grid.marginal(0), grid.marginal(1)]

    def particle_marginals(self, samples: torch.Tensor) -> list[Marginal]:
        """Histograms (density, edges) of x1 and x2 of the particles that did not diverge,
        as fractions of all particles."""
        kept, out = finite_particles(samples).numpy(), []
        for i in range(2):
            counts, edges = np.histogram(kept[:, i], bins=self.hist_edges[i])
            out.append((counts / max(len(samples), 1) / (edges[1] - edges[0]), edges))
        return out


def finite_particles(samples: torch.Tensor) -> torch.Tensor:
    """The particles that did not diverge: finite, and below 1e6 (a chain on its way to infinity)."""
    return samples[torch.isfinite(samples).all(dim=1) & (samples.abs().amax(dim=1) < 1e6)]


def explore(target: Target, settings: ExploreSettings, seed: int = 0) -> SampleResult:
    """Start the particles and run the chosen sampler from ``seed``, recording every trajectory."""
    s, g = settings, torch.Generator().manual_seed(seed)
    x_init = initial_points(s.init, s.n_particles, target.energy, g)
    return SAMPLERS[s.sampler](
        target.energy, x_init, s.n_steps, s.step_size, temperature=s.temperature, generator=g, record_trajectory=True
    )


def measure(target: Target, result: SampleResult) -> dict[str, float]:
    """The metrics of a run of ``explore`` (see the module's docstring)."""
    energy, kept = target.energy, finite_particles(result.samples)
    m: dict[str, float] = {"diverged": float(len(result.samples) - len(kept))}
    m["energy_distance"] = metrics.energy_distance(kept, target.reference, target.reference_self)
    m["histogram_tv"] = metrics.histogram_tv(result.samples, target.metric_grid)
    m["histogram_kl"] = metrics.histogram_kl(kept, target.metric_grid) if len(kept) else float("nan")
    if energy.mode_weights is not None and len(energy.mode_weights) > 1 and len(kept):
        occupancy = metrics.mode_occupancy(energy.assign_modes(kept), len(energy.mode_weights))
        m["occupancy_tv"] = metrics.occupancy_tv(occupancy, energy.mode_weights)
    m["accept_rate"] = float("nan") if result.accept_rate is None else result.accept_rate
    m["grad_norm"] = metrics.mean_gradient_norm(energy, kept)
    half = result.trajectory[result.trajectory.shape[0] // 2 :, :, 0]  # x1, 2nd half; ESS needs 4 finite states
    ess = metrics.effective_sample_size(half) if half.shape[0] >= 4 and bool(torch.isfinite(half).all()) else math.nan
    m["ess_per_chain"] = float(ess) / half.shape[1]
    m["energy_distance_floor"], m["histogram_tv_floor"] = target.floors(len(result.samples))
    return m
