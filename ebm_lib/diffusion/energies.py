"""Analytic noise-conditional energies, the test bench of the diffusion world, and sums of energies.

A noise-conditional energy (``ebm_lib.diffusion.dsm.NoiseConditionalEnergy``) is callable as
``energy(x, sigma)`` and gives, with ``at(sigma)``, the plain energy of one level for ebm_lib's
samplers. The networks of ``ebm_lib.diffusion.nets`` are such energies, learned; the ones here
are exact, because noise acts on them in closed form:

    NoisyGaussianMixture   the ring mixture of ``ebm_lib.toy2d.energies`` with noise: variances add
    HalfPlane              a soft wall, a factor for products (not normalisable on its own)
    NoisyHalfPlane         the wall with noise: it only grows softer
    SumOfEnergies          E_1 + E_2 + ...: the product of experts p_1 p_2 ..., plain or noisy
    product_samples, product_mode_weights
                           exact samples and mode weights of mixture * wall, for checking samplers
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ebm_lib.diffusion.nets import sigma_column
from ebm_lib.samplers import energy_and_grad
from ebm_lib.toy2d.energies import GaussianMixture, ToyEnergy


class NoisyGaussianMixture:
    """The ring mixture of ``ebm_lib.toy2d.energies.GaussianMixture`` with noise of scale sigma added.

    Noise adds variances: p_sigma = sum_k w_k N(mu_k, (s^2 + sigma^2) I), so every noisy
    density, its energy and its score are known exactly.
    """

    def __init__(self, mixture: GaussianMixture):
        self.mixture = mixture

    def at(self, sigma: float) -> GaussianMixture:
        """p_sigma as an analytic toy energy (exact gradients, exact samples, density grids)."""
        m = self.mixture
        radius = m.modes.norm(dim=1)[0].item()
        return GaussianMixture(len(m.modes), radius, math.sqrt(m.sigma**2 + sigma**2), m.mode_weights.tolist())

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """E(x, sigma) = -log p_sigma(x), differentiable (also twice) by autograd; sigma may vary per point."""
        var = self.mixture.sigma**2 + sigma_column(sigma, len(x), x) ** 2  # (B, 1)
        sq = torch.cdist(x, self.mixture.modes.to(x)).pow(2)  # (B, K)
        log_terms = self.mixture.mode_weights.to(x).log() - sq / (2 * var) - torch.log(2 * math.pi * var)
        return -torch.logsumexp(log_terms, dim=1)


class HalfPlane(ToyEnergy):
    """A soft wall: p(x) proportional to Phi((offset - n.x) / softness), Phi the normal CDF.

    Mass on the side n.x < offset, fading out over a width ``softness``. Not normalisable on
    its own, fine as a factor of a product. Noise only softens the wall:
    Phi(./softness) convolved with N(0, sigma^2) is Phi(./sqrt(softness^2 + sigma^2)).
    """

    title = "half-plane"

    def __init__(self, normal: Sequence[float] = (1.0, 0.0), offset: float = 0.0, softness: float = 0.3):
        super().__init__()
        n = torch.tensor(normal, dtype=torch.float32)
        self.normal = n / n.norm()
        self.offset = offset
        self.softness = softness

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        energy, u = self.energy_with_softness(x, self.softness)
        # d/du log Phi(u) = phi(u) / Phi(u) = exp(log phi(u) - log Phi(u)), stable for u << 0
        ratio = torch.exp(-0.5 * u * u - 0.5 * math.log(2 * math.pi) + energy)
        return energy, (ratio / self.softness).unsqueeze(1) * self.normal.to(x)

    def energy_with_softness(
        self, x: torch.Tensor, softness: float | torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """E = -log Phi(u) and u = (offset - n.x) / softness, for a softness per point (B,) or one for all."""
        u = (self.offset - x @ self.normal.to(x)) / softness
        return -torch.special.log_ndtr(u), u

    def noisy(self, sigma: float) -> HalfPlane:
        return HalfPlane(self.normal.tolist(), self.offset, math.sqrt(self.softness**2 + sigma**2))


class NoisyHalfPlane:
    """E(x, sigma) of ``HalfPlane`` with noise sigma: the same wall, softness sqrt(t^2 + sigma^2)."""

    def __init__(self, wall: HalfPlane):
        self.wall = wall

    def at(self, sigma: float) -> HalfPlane:
        return self.wall.noisy(sigma)

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        softness = (self.wall.softness**2 + sigma_column(sigma, len(x), x).squeeze(1) ** 2).sqrt()
        return self.wall.energy_with_softness(x, softness)[0]


class SumOfEnergies:
    """E(x) = E_1(x) + E_2(x) + ...: the product of experts p proportional to p_1 p_2 ...

    Works for plain energies (``energy_and_grad``) and for noise-conditional ones (called as
    ``E(x, sigma)``, with ``at(sigma)`` summing the experts at that level). Summing noisy
    experts gives p_1,sigma * p_2,sigma, which is *not* the noisy product (p_1 p_2)_sigma.
    """

    def __init__(self, *experts):
        self.experts = experts

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [energy_and_grad(e, x) for e in self.experts]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)

    def __call__(self, x: torch.Tensor, *sigma: float | torch.Tensor) -> torch.Tensor:
        return sum(e(x, *sigma) for e in self.experts)

    def at(self, sigma: float) -> SumOfEnergies:
        return SumOfEnergies(*(e.at(sigma) for e in self.experts))


def product_samples(
    mixture: GaussianMixture, wall: HalfPlane, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Exact samples of p proportional to mixture * wall, by rejection: draw from the mixture,
    keep each point with probability Phi((offset - n.x)/softness) <= 1."""
    kept: list[torch.Tensor] = []
    total = 0
    while total < n:
        x = mixture.sample(max(2 * n, 1024), generator)
        keep_prob = torch.exp(-wall.energy_and_grad(x)[0])
        keep = torch.rand(len(x), generator=generator) < keep_prob
        kept.append(x[keep])
        total += int(keep.sum())
    return torch.cat(kept)[:n]


def product_mode_weights(mixture: GaussianMixture, wall: HalfPlane) -> torch.Tensor:
    """Mode weights of mixture * wall: w_k * E[Phi(.) under mode k], normalised. For a Gaussian
    mode N(mu, s^2 I), E[Phi((b - n.x)/t)] = Phi((b - n.mu) / sqrt(t^2 + s^2))."""
    u = (wall.offset - mixture.modes @ wall.normal) / math.sqrt(wall.softness**2 + mixture.sigma**2)
    w = mixture.mode_weights * torch.special.ndtr(u)
    return w / w.sum()
