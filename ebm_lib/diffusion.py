"""The diffusion connection: noise-conditional energies, denoising score matching, annealed Langevin.

Add Gaussian noise of scale sigma to data x ~ p:  x~ = x + sigma * z,  z ~ N(0, I). The noisy
data have the density p_sigma = p * N(0, sigma^2 I) (a convolution), smoother and wider than
p, and its score s(x, sigma) = grad_x log p_sigma(x). A noise-conditional energy E(x, sigma)
has p_sigma(x) proportional to exp(-E(x, sigma)), so its score is -grad_x E(x, sigma): a
diffusion model's score network is the input-gradient of an energy at every noise level.

Denoising score matching (Vincent 2011). The score of the noise kernel is -(x~ - x)/sigma^2 =
-z/sigma, and regressing onto it gives the score of p_sigma (up to a constant loss offset):

    L(sigma) = E ||s(x~, sigma) + z / sigma||^2.

With Song and Ermon's (2019) weight sigma^2 all levels count alike:

    L = E_sigma E_{x, z} ||sigma * s(x + sigma z, sigma) + z||^2 / D        (D = dimensions)

``dsm_loss`` computes this; its minimum is not 0 (for N(0, s^2 I) data it is s^2/(s^2+sigma^2)).
With the course's parameterisation E = g(x, sigma)/sigma (``ebm_lib.nets.NoiseConditionalNet``)
sigma * s = -grad_x g, so grad_x g learns to predict the noise z: Ho et al.'s (2020) target.

Tweedie's formula: the best guess of the clean x given x~ is

    E[x | x~] = x~ + sigma^2 * s(x~, sigma) = x~ - sigma^2 * grad_x E(x~, sigma),

one gradient-descent step on the energy with step size sigma^2: denoising is energy descent
(``tweedie_denoise``).

Annealed Langevin (Song and Ermon 2019): for sigma_1 > ... > sigma_L run a few Langevin
steps on E(., sigma_i) with step size h_i = step_ratio * sigma_i^2, each level starting
where the previous one stopped. The broad early levels move samples between modes in the
right proportions; the late ones sharpen them (``annealed_langevin``).

Everything takes a noise-conditional energy: a network from ``ebm_lib.nets`` or an analytic
one from here (``NoisyGaussianMixture``, ``NoisyHalfPlane``), each callable as
``energy(x, sigma)`` and with ``at(sigma)`` giving a plain energy for ebm_lib's samplers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from ebm_lib.nets import sigma_column
from ebm_lib.sampling import energy_and_grad, langevin_sample
from ebm_lib.toy import GaussianMixture, ToyEnergy


class NoiseConditionalEnergy(Protocol):
    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor: ...

    def at(self, sigma: float): ...


def geometric_sigmas(sigma_max: float, sigma_min: float, n_levels: int) -> torch.Tensor:
    """n_levels noise scales from sigma_max down to sigma_min with a constant ratio (float64)."""
    if not (sigma_max > sigma_min > 0) or n_levels < 2:
        raise ValueError(f"need sigma_max > sigma_min > 0 and n_levels >= 2, got {sigma_max}, {sigma_min}, {n_levels}")
    return torch.logspace(math.log10(sigma_max), math.log10(sigma_min), n_levels, dtype=torch.float64)


def score(model: NoiseConditionalEnergy, x: torch.Tensor, sigma: float | torch.Tensor, create_graph: bool = False):
    """s(x, sigma) = -grad_x E(x, sigma), shape of x. ``create_graph`` keeps the graph, for training."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        energy = model(x, sigma)
        (grad,) = torch.autograd.grad(energy.sum(), x, create_graph=create_graph)
    return -grad


def dsm_loss(
    model: NoiseConditionalEnergy,
    x: torch.Tensor,
    sigmas: torch.Tensor | Sequence[float],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Denoising score matching over a ladder of noise levels (Song and Ermon's weighting).

    Each sample gets a level drawn uniformly from ``sigmas``; see ``dsm_loss_at``.
    """
    sigmas = torch.as_tensor(sigmas, dtype=x.dtype, device=x.device)
    if sigmas.dim() != 1 or len(sigmas) == 0:
        raise ValueError(f"sigmas must be a 1D list of noise levels, got shape {tuple(sigmas.shape)}")
    index = torch.randint(len(sigmas), (len(x),), generator=generator, device=x.device)
    return dsm_loss_at(model, x, sigmas[index], generator)


def dsm_loss_at(
    model: NoiseConditionalEnergy,
    x: torch.Tensor,
    sigma: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean over the batch of ||sigma_b * s(x_b + sigma_b z_b, sigma_b) + z_b||^2 / D, one noise
    level sigma_b per sample (shape (B,)). Differentiable in the model's parameters: the
    input-gradient is taken with ``create_graph=True`` (double backpropagation)."""
    if sigma.shape != (len(x),):
        raise ValueError(f"sigma must have one level per sample, shape ({len(x)},), got {tuple(sigma.shape)}")
    z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    scale = sigma.view(-1, *[1] * (x.dim() - 1))
    s = score(model, x + scale * z, sigma, create_graph=True)
    return (scale * s + z).flatten(1).pow(2).mean(1).mean()


@torch.no_grad()
def tweedie_denoise(model: NoiseConditionalEnergy, x_noisy: torch.Tensor, sigma: float) -> torch.Tensor:
    """E[x | x~] = x~ + sigma^2 * s(x~, sigma): one step of energy descent with step size sigma^2."""
    return x_noisy + sigma**2 * score(model, x_noisy, sigma)


@dataclass
class AnnealedResult:
    samples: torch.Tensor  # after the last level (and the final denoising step, if asked)
    per_level: torch.Tensor | None  # (L, B, *shape): the state after each level, if recorded
    n_evaluations: int  # gradient evaluations spent (the final denoising step counts one)


def level_step_sizes(sigmas: torch.Tensor, step_ratio: float) -> torch.Tensor:
    """Step sizes h_i = step_ratio * sigma_i^2 (Song and Ermon's alpha_i / 2 with
    step_ratio = epsilon / (2 sigma_L^2)). The noisy density at level i varies on a length
    scale of about sigma_i, so steps in proportion to sigma_i^2 make every level equally hard;
    on a Gaussian of variance sigma_i^2 Langevin is stable for step_ratio < 2."""
    if not 0 < step_ratio < 2:
        raise ValueError(f"step_ratio must be in (0, 2) (0.05-0.5 is typical), got {step_ratio}")
    return step_ratio * sigmas**2


def annealed_langevin(
    model: NoiseConditionalEnergy,
    x_init: torch.Tensor,
    sigmas: torch.Tensor | Sequence[float],
    steps_per_level: int,
    step_ratio: float = 0.1,
    clamp: tuple[float, float] | None = None,
    denoise: bool = True,
    generator: torch.Generator | None = None,
    record_levels: bool = False,
) -> AnnealedResult:
    """Langevin dynamics on E(., sigma_1), then E(., sigma_2), ... (largest sigma first).

    Level i runs ``steps_per_level`` steps of exact Langevin (noise sqrt(2 h_i)) with step
    size h_i = step_ratio * sigma_i^2, starting where level i-1 stopped. With ``denoise``, a
    final Tweedie step removes the noise of the last level (sigma_L).
    """
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
    if sigmas.dim() != 1 or len(sigmas) == 0 or not bool((sigmas[:-1] >= sigmas[1:]).all()):
        raise ValueError("sigmas must be a non-empty 1D ladder, largest first")
    steps = level_step_sizes(sigmas, step_ratio)
    x = x_init.detach().clone()
    snapshots = []
    for sigma, h in zip(sigmas.tolist(), steps.tolist()):
        x = langevin_sample(model.at(sigma), x, steps_per_level, h, clamp=clamp, generator=generator).samples
        if record_levels:
            snapshots.append(x)
    n_evaluations = steps_per_level * len(sigmas)
    if denoise:
        x = tweedie_denoise(model, x, sigmas[-1].item())
        n_evaluations += 1
        if clamp is not None:
            x = x.clamp(*clamp)
    return AnnealedResult(x, torch.stack(snapshots) if record_levels else None, n_evaluations)


@torch.no_grad()
def reverse_diffusion(
    model: NoiseConditionalEnergy,
    x_init: torch.Tensor,
    sigmas: torch.Tensor | Sequence[float],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The reverse of the variance-exploding diffusion, one ancestral step per level:

        x <- x + (sigma_i^2 - sigma_{i+1}^2) s(x, sigma_i) + sqrt(sigma_i^2 - sigma_{i+1}^2) z,

    then a last Tweedie step. It trusts s(., sigma_i) to be the score of the *noised data*
    at every level: right for a trained diffusion model, wrong for a sum of experts' scores.
    """
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64).tolist()
    x = x_init.clone()
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        variance = sigma**2 - sigma_next**2
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = x + variance * score(model, x, sigma) + math.sqrt(variance) * noise
    return tweedie_denoise(model, x, sigmas[-1])


# --- analytic noise-conditional energies ---------------------------------------------------------


class NoisyGaussianMixture:
    """The ring mixture of ``ebm_lib.toy.GaussianMixture`` with noise of scale sigma added.

    Noise adds variances: p_sigma = sum_k w_k N(mu_k, (s^2 + sigma^2) I), so every noisy
    density, its energy and its score are known exactly; the test bench for everything above.
    """

    def __init__(self, mixture: GaussianMixture):
        self.mixture = mixture
        self.modes = mixture.modes
        self.mode_weights = mixture.mode_weights

    def at(self, sigma: float) -> GaussianMixture:
        """p_sigma as an analytic toy energy (exact gradients, exact samples, density grids)."""
        m = self.mixture
        radius = m.modes.norm(dim=1)[0].item()
        return GaussianMixture(len(m.modes), radius, math.sqrt(m.sigma**2 + sigma**2), m.mode_weights.tolist())

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """E(x, sigma) = -log p_sigma(x), differentiable (also twice) by autograd; sigma may vary per point."""
        var = self.mixture.sigma**2 + sigma_column(sigma, len(x), x) ** 2  # (B, 1)
        mu = self.modes.to(x)
        sq = torch.cdist(x, mu).pow(2)  # (B, K)
        log_terms = self.mode_weights.to(x).log() - sq / (2 * var) - torch.log(2 * math.pi * var)
        return -torch.logsumexp(log_terms, dim=1)


def gaussian_noisy_score(x: torch.Tensor, mean: torch.Tensor, std: float, sigma: float) -> torch.Tensor:
    """Score of N(mean, std^2 I) with noise sigma added: -(x - mean) / (std^2 + sigma^2)."""
    return -(x - mean) / (std**2 + sigma**2)


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

    def __repr__(self) -> str:
        return f"HalfPlane(normal={self.normal.tolist()}, offset={self.offset}, softness={self.softness})"

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.normal.to(x)
        u = (self.offset - x @ n) / self.softness
        energy = -torch.special.log_ndtr(u)
        # d/du log Phi(u) = phi(u) / Phi(u) = exp(log phi(u) - log Phi(u)), stable for u << 0
        ratio = torch.exp(-0.5 * u * u - 0.5 * math.log(2 * math.pi) + energy)
        return energy, (ratio / self.softness).unsqueeze(1) * n

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
        return -torch.special.log_ndtr((self.wall.offset - x @ self.wall.normal.to(x)) / softness)


class SumOfEnergies:
    """E(x) = E_1(x) + E_2(x) + ...: the product of experts p proportional to p_1 p_2 ...

    Works for plain energies (``energy_and_grad``) and for noise-conditional ones (called as
    ``E(x, sigma)``, with ``at(sigma)`` summing the experts at that level). Summing noisy
    experts gives p_1,sigma * p_2,sigma, which is *not* the noisy product (p_1 p_2)_sigma.
    """

    def __init__(self, *experts):
        if len(experts) < 2:
            raise ValueError("a product of experts needs at least two energies")
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
