"""Analytic 2D energies with known answers: the test bench for samplers.

Every energy here is a ``ToyEnergy``: a callable ``E(x)`` mapping points (B, 2) to
energies (B,), usable directly by ``ebm_lib.samplers.langevin_sample`` and
``ebm_lib.samplers.mala_sample``, with the density p(x) = exp(-E(x)) / Z. Each one also gives

    energy(x) -> (B,)              the energy, E(x) = -log p(x) - log Z,
    grad(x) -> (B, 2)              its analytic gradient grad_x E(x),
    energy_and_grad(x)             both at once (what the samplers call),
    sample(n, generator)           exact samples (every energy here has an exact sampler),
    reference_samples(n)           a fixed, cached set of exact samples of p to compare against,
    density_grid(bins, extent)     p on a grid, normalised numerically, for plots and metrics,
    modes, mode_weights            where the probability mass sits, and how much of it.

Each formula is written once, in ``energy_and_grad``; the samplers call it
(``ebm_lib.samplers.energy_and_grad``), so they build no autograd graph, while ``E(x)`` runs the
same torch formula, so autograd (second derivatives too) works as for any function.

The energies, with what each one teaches:

    GaussianMixture  8 modes on a ring with unequal weights: mode hopping, mode weights.
    DoubleWell       two modes split by a barrier of tunable height: time to hop ~ exp(barrier).
    Banana           a curved ridge: a step size stable along the ridge is not stable across it.
    Rings            concentric rings: mass on curves, not points.
    Funnel           Neal's funnel, badly conditioned: the neck needs tiny steps, the mouth big ones.
    Gaussian         an anisotropic Gaussian: the one case where ULA's bias has a formula.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ebm_lib.toy2d.grid import DensityGrid, Extent, density_on_grid
from ebm_lib.utils import check_batch


class ToyEnergy:
    """Base class of the analytic 2D energies; p(x) = exp(-E(x)) / Z.

    Subclasses implement ``energy_and_grad`` (the formula, once) and ``sample`` (the exact
    sampler), and set ``title`` (for plots), ``extent`` (a box holding nearly all the mass),
    ``modes`` (K, 2) and ``mode_weights`` (K,) (None where there are none).
    """

    title: str = "energy"
    extent: Extent = (-4.0, 4.0, -4.0, 4.0)
    modes: torch.Tensor | None = None
    mode_weights: torch.Tensor | None = None
    reference_seed: int = 20240501
    _chunk: int = 4096

    def __init__(self) -> None:
        self._reference_chunks: list[torch.Tensor] = []
        self._grids: dict[tuple, DensityGrid] = {}

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(E(x), grad_x E(x)) for points (B, 2): shapes (B,) and (B, 2)."""
        raise NotImplementedError

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """E(x), shape (B,)."""
        return self.energy_and_grad(x)[0]

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        """grad_x E(x), shape (B, 2)."""
        return self.energy_and_grad(x)[1]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """E(x) for points (B, 2), differentiable by autograd (the formula is plain torch)."""
        return self.energy(check_batch(x, (2,), name=f"the points of {type(self).__name__}"))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n exact, independent samples of p, shape (n, 2)."""
        raise NotImplementedError(f"{type(self).__name__} has no exact sampler")

    def reference_samples(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n exact samples of p to measure distances against, shape (n, 2).

        Without a generator: the first n points of a fixed set, drawn once (in chunks of
        4,096, each from its own seed) and cached in memory, so the answer does not depend
        on what was asked before. With a generator: fresh samples.
        """
        if generator is not None:
            return self.sample(n, generator)
        while len(self._reference_chunks) * self._chunk < n:
            seed = self.reference_seed + len(self._reference_chunks)
            self._reference_chunks.append(self.sample(self._chunk, torch.Generator().manual_seed(seed)))
        return torch.cat(self._reference_chunks)[:n].clone()

    def assign_modes(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the mode each point belongs to (nearest mode), shape (B,), int64."""
        return torch.cdist(x.to(self.modes.dtype), self.modes).argmin(dim=1)

    def density_grid(
        self,
        bins: int | tuple[int, int] = 100,
        extent: Extent | None = None,
        temperature: float = 1.0,
        oversample: int = 4,
    ) -> DensityGrid:
        """p_T(x) proportional to exp(-E(x) / T) on a grid over ``extent`` (default: the energy's box,
        which holds nearly all the mass): ``ebm_lib.toy2d.grid.density_on_grid``, cached per arguments."""
        extent = tuple(float(v) for v in (extent or self.extent))
        key = (bins, extent, float(temperature), oversample)
        if key not in self._grids:
            self._grids[key] = density_on_grid(self, extent, bins, oversample, temperature)
        return self._grids[key]


def _inverse_cdf_sampler(
    log_density: Callable[[np.ndarray], np.ndarray], low: float, high: float, points: int = 20001
) -> Callable[[int, torch.Generator | None], torch.Tensor]:
    """Sampler of a 1D density on [low, high] by inverting its CDF, the trapezoid integral on ``points``
    grid points, by linear interpolation: on these smooth densities, exact far below Monte Carlo error."""
    t = np.linspace(low, high, points)
    log_p = log_density(t)
    p = np.exp(log_p - log_p.max())
    cdf = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(t))])
    cdf /= cdf[-1]

    def draw(n: int, generator: torch.Generator | None) -> torch.Tensor:
        u = torch.rand(n, generator=generator, dtype=torch.float64).numpy()
        return torch.from_numpy(np.interp(u, cdf, t)).float()

    return draw


class GaussianMixture(ToyEnergy):
    """E(x) = -log sum_k w_k N(x; mu_k, sigma^2 I): K modes on a circle, exactly normalised.

    With |x - mu_k|^2 = |x|^2 - 2 x.mu_k + |mu_k|^2 the log-sum-exp needs one matrix product:
        E(x) = |x|^2 / (2 sigma^2) - logsumexp_k(x.mu_k / sigma^2 + c_k),
        c_k = log w_k - |mu_k|^2 / (2 sigma^2) - log(2 pi sigma^2),
        grad E(x) = (x - sum_k r_k(x) mu_k) / sigma^2,   r_k = responsibilities (softmax).
    Exact sampler: pick k with probability w_k, then mu_k + sigma * N(0, I).
    """

    title = "Gaussian mixture"

    def __init__(
        self, n_modes: int = 8, radius: float = 3.0, sigma: float = 0.3, weights: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        angles = torch.arange(n_modes, dtype=torch.float64) * 2 * math.pi / n_modes
        self.modes = (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()
        if weights is None:  # the course's unequal weights for 8 modes, equal weights otherwise
            weights = (4, 1, 3, 1, 2, 1, 3, 1) if n_modes == 8 else (1,) * n_modes
        w = torch.tensor(weights, dtype=torch.float64)
        if w.shape != (n_modes,) or (w <= 0).any():
            raise ValueError(f"weights must be {n_modes} positive numbers, got {weights}")
        self.mode_weights = (w / w.sum()).float()
        self.sigma = sigma
        half = radius + 5 * sigma
        self.extent = (-half, half, -half, half)
        mu = self.modes.double()
        c = (w / w.sum()).log() - (mu * mu).sum(1) / (2 * sigma**2) - math.log(2 * math.pi * sigma**2)
        self._params = (mu.T / sigma**2, c, mu)  # float64; cast to the points' dtype when used

    def __repr__(self) -> str:
        return f"GaussianMixture(n_modes={len(self.modes)}, sigma={self.sigma})"

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, c, mu = (t.to(x.dtype) for t in self._params)
        logits = torch.addmm(c, x, m)
        top = logits.amax(dim=1, keepdim=True)
        # Clamping keeps exp() out of the denormal range, which is very slow on CPUs.
        weights = torch.exp((logits - top).clamp_min(-80.0))
        total = weights.sum(1, keepdim=True)
        energy = (x * x).sum(1) / (2 * self.sigma**2) - top.squeeze(1) - total.squeeze(1).log()
        grad = (x - (weights / total) @ mu) / self.sigma**2
        return energy, grad

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(self.mode_weights, n, replacement=True, generator=generator)
        return self.modes[k] + self.sigma * torch.randn((n, 2), generator=generator)


class DoubleWell(ToyEnergy):
    """E(x) = barrier * ((x1 / a)^2 - 1)^2 + x2^2 / 2: two modes at (+-a, 0).

    The saddle at the origin is ``barrier`` above the minima, so the time a Langevin chain
    waits before hopping grows like exp(barrier / T) (Kramers' law). Curvature at a
    minimum: 8 * barrier / a^2 along x1, 1 along x2. The two modes weigh 1/2 each.
    Exact sampler: x2 ~ N(0, 1) and x1 from its 1D density by an inverse CDF.
    """

    title = "double well"

    def __init__(self, barrier: float = 3.0, separation: float = 1.5) -> None:
        super().__init__()
        if not (barrier > 0 and separation > 0):
            raise ValueError(f"barrier and separation must be positive, got {barrier} and {separation}")
        self.barrier, self.a = float(barrier), float(separation)
        self.modes = torch.tensor([[-separation, 0.0], [separation, 0.0]])
        self.mode_weights = torch.tensor([0.5, 0.5])
        half = self.a * math.sqrt(1 + math.sqrt(40 / self.barrier))
        self._draw_x1 = _inverse_cdf_sampler(lambda t: -self.barrier * ((t / self.a) ** 2 - 1) ** 2, -half, half)
        width = max(half + 0.3, 3.5)
        self.extent = (-width, width, -3.5, 3.5)

    def __repr__(self) -> str:
        return f"DoubleWell(barrier={self.barrier}, separation={self.a})"

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x1, x2 = x[:, 0], x[:, 1]
        u = (x1 / self.a) ** 2 - 1
        energy = self.barrier * u * u + 0.5 * x2 * x2
        grad = torch.stack([4 * self.barrier * u * x1 / self.a**2, x2], dim=1)
        return energy, grad

    def assign_modes(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, 0] > 0).long()

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        x1 = self._draw_x1(n, generator)
        x2 = torch.randn(n, generator=generator)
        return torch.stack([x1, x2], dim=1)


class Banana(ToyEnergy):
    """A curved ridge (a twisted Gaussian): x1 ~ N(0, a^2), x2 | x1 ~ N(b x1^2 - c, s^2).

        E(x) = x1^2 / (2 a^2) + (x2 - b x1^2 + c)^2 / (2 s^2) + log(2 pi a s)   (exactly normalised).

    Across the ridge the curvature is about (1 + 4 b^2 x1^2) / s^2: it grows towards the
    tips, so a step size that is stable at the bottom of the banana overshoots at its ends.
    Exact sampler: draw x1, then x2 given x1.
    """

    title = "banana"

    def __init__(self, a: float = 1.4, b: float = 0.5, c: float = 1.5, s: float = 0.4) -> None:
        super().__init__()
        self.a, self.b, self.c, self.s = a, b, c, s
        self._log_z = math.log(2 * math.pi * a * s)
        self.extent = (-4.5, 4.5, -3.0, 6.0)

    def __repr__(self) -> str:
        return f"Banana(a={self.a}, b={self.b}, c={self.c}, s={self.s})"

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x1, x2 = x[:, 0], x[:, 1]
        r = x2 - self.b * x1 * x1 + self.c
        energy = x1 * x1 / (2 * self.a**2) + r * r / (2 * self.s**2) + self._log_z
        dr = r / self.s**2
        grad = torch.stack([x1 / self.a**2 - 2 * self.b * x1 * dr, dr], dim=1)
        return energy, grad

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn((n, 2), generator=generator)
        x1 = self.a * z[:, 0]
        return torch.stack([x1, self.b * x1 * x1 - self.c + self.s * z[:, 1]], dim=1)


class Rings(ToyEnergy):
    """Concentric rings: a mixture of radial components, exactly normalised.

        p(x) = sum_k w_k q_k(x),   q_k(x) = exp(-(|x| - r_k)^2 / (2 sigma^2)) / Z_k,
        Z_k = 2 pi [sigma^2 exp(-r_k^2 / (2 sigma^2)) + r_k sigma sqrt(2 pi) Phi(r_k / sigma)],

    so ring k holds probability w_k. grad E(x) = (sum_k r_k(x) (|x| - r_k) / sigma^2) x / |x|
    with responsibilities r_k(x). Exact sampler: ring k with probability w_k, a uniform
    angle, and a radius from the density proportional to r exp(-(r - r_k)^2 / (2 sigma^2)) (inverse CDF).
    The "modes" are the rings: ``assign_modes`` picks the nearest radius.
    """

    title = "concentric rings"

    def __init__(
        self, radii: Sequence[float] = (1.0, 2.5, 4.0), sigma: float = 0.2, weights: Sequence[float] = (1, 2, 3)
    ) -> None:
        super().__init__()
        self.radii = torch.tensor(radii, dtype=torch.float64)
        w = torch.tensor(weights, dtype=torch.float64)
        if w.shape != self.radii.shape or (w <= 0).any() or (self.radii <= 0).any():
            raise ValueError(f"need one positive weight per positive radius, got radii {radii} and weights {weights}")
        self.mode_weights = (w / w.sum()).float()
        self.sigma = sigma
        a = self.radii / sigma
        phi = 0.5 * (1 + torch.erf(a / math.sqrt(2)))
        z = 2 * math.pi * (sigma**2 * torch.exp(-(a**2) / 2) + self.radii * sigma * math.sqrt(2 * math.pi) * phi)
        self._log_c = (w / w.sum()).log() - z.log()
        half = float(self.radii.max()) + 6 * sigma
        self.extent = (-half, half, -half, half)
        self._draw_r = [
            _inverse_cdf_sampler(
                lambda t, rk=float(rk): np.log(np.maximum(t, 1e-300)) - (t - rk) ** 2 / (2 * sigma**2),
                max(0.0, float(rk) - 9 * sigma),
                float(rk) + 9 * sigma,
            )
            for rk in self.radii
        ]

    def __repr__(self) -> str:
        return f"Rings(radii={tuple(self.radii.tolist())}, sigma={self.sigma})"

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = torch.sqrt((x * x).sum(1) + 1e-12)
        dev = r[:, None] - self.radii.to(x.dtype)
        logits = self._log_c.to(x.dtype) - dev * dev / (2 * self.sigma**2)
        top = logits.amax(dim=1, keepdim=True)
        weights = torch.exp((logits - top).clamp_min(-80.0))  # clamped out of the slow denormal range
        total = weights.sum(1)
        energy = -top.squeeze(1) - total.log()
        radial = (weights * dev).sum(1) / (total * self.sigma**2)
        return energy, (radial / r)[:, None] * x

    def assign_modes(self, x: torch.Tensor) -> torch.Tensor:
        r = x.double().norm(dim=1)
        return (r[:, None] - self.radii).abs().argmin(dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(self.mode_weights, n, replacement=True, generator=generator)
        r = torch.empty(n)
        for i, draw in enumerate(self._draw_r):
            r_i = draw(n, generator)  # draw for all, keep those of ring i: same random stream for any n
            r[k == i] = r_i[k == i]
        theta = 2 * math.pi * torch.rand(n, generator=generator)
        return torch.stack([r * theta.cos(), r * theta.sin()], dim=1)


class Funnel(ToyEnergy):
    """Neal's funnel in 2D: v = x2 ~ N(0, sigma_v^2) and x1 | v ~ N(0, exp(v)).

        E(x) = v^2 / (2 sigma_v^2) + x1^2 exp(-v) / 2 + v / 2 + log(2 pi sigma_v)   (exactly normalised).

    The curvature along x1 is exp(-v): about exp(2 sigma_v) = 20 at v = -2 sigma_v (the
    neck), exp(-2 sigma_v) = 0.05 at v = +2 sigma_v (the mouth). No single step size suits
    both; an unadjusted sampler with a step fit for the mouth blows up in the neck.
    Exact sampler: v first, then x1 given v.
    """

    title = "funnel"

    def __init__(self, sigma_v: float = 1.5) -> None:
        super().__init__()
        self.sigma_v = sigma_v
        self._log_z = math.log(2 * math.pi * sigma_v)
        self.extent = (-7.0, 7.0, -4.5, 4.5)

    def __repr__(self) -> str:
        return f"Funnel(sigma_v={self.sigma_v})"

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x1, v = x[:, 0], x[:, 1]
        e = torch.exp(-v)
        half_sq = 0.5 * x1 * x1 * e
        energy = v * v / (2 * self.sigma_v**2) + half_sq + 0.5 * v + self._log_z
        grad = torch.stack([x1 * e, v / self.sigma_v**2 - half_sq + 0.5], dim=1)
        return energy, grad

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn((n, 2), generator=generator)
        v = self.sigma_v * z[:, 1]
        return torch.stack([torch.exp(v / 2) * z[:, 0], v], dim=1)


class Gaussian(ToyEnergy):
    """An anisotropic Gaussian, E(x) = x^T P x / 2 + log(2 pi sqrt(det C)) with P = C^{-1}.

    The one energy where the unadjusted sampler's bias has a closed form: along an
    eigen-direction of P with curvature lam, ULA with step h is an AR(1) chain whose stationary
    variance is too large by a factor 1 / (1 - h lam / 2), and which diverges for h >= 2 / lam
    (``stationary_variance_ula``).
    """

    title = "anisotropic Gaussian"

    def __init__(self, stds: tuple[float, float] = (1.5, 0.3), angle_deg: float = 30.0) -> None:
        super().__init__()
        cos, sin = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
        rot = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)
        self.stds, self.angle_deg, self.rotation = stds, angle_deg, rot
        self.covariance = rot @ torch.diag(torch.tensor(stds, dtype=torch.float64) ** 2) @ rot.T
        self.precision = torch.linalg.inv(self.covariance)
        self.curvatures = 1 / torch.tensor(stds, dtype=torch.float64) ** 2
        self._chol = torch.linalg.cholesky(self.covariance).float()
        self._log_z = math.log(2 * math.pi * stds[0] * stds[1])
        self.modes = torch.zeros(1, 2)
        self.mode_weights = torch.ones(1)
        half = 4.0 * max(stds)
        self.extent = (-half, half, -half, half)

    def __repr__(self) -> str:
        return f"Gaussian(stds={self.stds}, angle_deg={self.angle_deg})"

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grad = x @ self.precision.to(x.dtype)
        return 0.5 * (grad * x).sum(1) + self._log_z, grad

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn((n, 2), generator=generator) @ self._chol.T


def stationary_variance_ula(curvature: float, step_size: float, noise_scale: float | None = None) -> float:
    """Stationary variance of ULA on E(x) = curvature * x^2 / 2 (per eigen-direction).

    ULA with step h and noise s is the AR(1) chain x <- (1 - h lam) x + s xi; its stationary
    variance solves V = (1 - h lam)^2 V + s^2, so V = s^2 / (h lam (2 - h lam)), infinite (the
    chain diverges) when h lam >= 2.
    With the exact noise s = sqrt(2h): 1 / (lam (1 - h lam / 2)), versus 1 / lam for p.
    """
    s2 = 2 * step_size if noise_scale is None else noise_scale**2
    hl = step_size * curvature
    if hl >= 2 or hl <= 0:
        return math.inf
    return s2 / (hl * (2 - hl))


REGISTRY: dict[str, Callable[[], ToyEnergy]] = {
    "mixture": GaussianMixture,
    "double_well": DoubleWell,
    "banana": Banana,
    "rings": Rings,
    "funnel": Funnel,
    "gaussian": Gaussian,
}
"""Short name -> constructor with the course's default settings (the explorer's dropdown)."""


def make_energy(name: str, **kwargs: float) -> ToyEnergy:
    """Build a registered energy by name, e.g. ``make_energy("double_well", barrier=5.0)``."""
    if name not in REGISTRY:
        raise KeyError(f"unknown energy {name!r}; choose one of {sorted(REGISTRY)}")
    return REGISTRY[name](**kwargs)
