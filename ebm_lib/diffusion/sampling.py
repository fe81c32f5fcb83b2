"""Sampling a noise-conditional energy: the noise ladder, annealed Langevin, reverse diffusion.

Noise of scale sigma turns the data density p into p_sigma = p * N(0, sigma^2 I), smooth and
broad for a large sigma, close to p for a small one; its score is -grad_x E(x, sigma)
(``ebm_lib.diffusion.dsm``, with denoising score matching and Tweedie's formula). The samplers
take a noise-conditional energy (``ebm_lib.diffusion.dsm.NoiseConditionalEnergy``) and walk down
a ladder sigma_1 > ... > sigma_L (``geometric_sigmas``):

    annealed_langevin   (Song and Ermon 2019) a few Langevin steps on each E(., sigma_i) in turn:
                        the broad early levels move samples between modes in the right
                        proportions, the late ones sharpen them;
    reverse_diffusion   one ancestral step of the variance-exploding diffusion per level, then a
                        Tweedie step: right only when every level's score is that of the noised
                        data, as for a trained diffusion model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ebm_lib.diffusion.dsm import NoiseConditionalEnergy, score, tweedie_denoise
from ebm_lib.samplers import SampleResult, langevin_sample


def geometric_sigmas(sigma_max: float, sigma_min: float, n_levels: int) -> torch.Tensor:
    """n_levels noise scales from sigma_max down to sigma_min with a constant ratio (float64)."""
    if not (sigma_max > sigma_min > 0) or n_levels < 2:
        raise ValueError(f"need sigma_max > sigma_min > 0 and n_levels >= 2, got {sigma_max}, {sigma_min}, {n_levels}")
    return torch.logspace(math.log10(sigma_max), math.log10(sigma_min), n_levels, dtype=torch.float64)


def annealed_langevin(
    energy: NoiseConditionalEnergy,
    x_init: torch.Tensor,
    sigmas: torch.Tensor | Sequence[float],
    n_steps: int,
    step_ratio: float = 0.1,
    clamp: tuple[float, float] | None = None,
    denoise: bool = True,
    generator: torch.Generator | None = None,
    record_trajectory: bool = False,
) -> SampleResult:
    """Langevin dynamics on E(., sigma_1), then E(., sigma_2), ... (largest sigma first).

    Level i runs ``n_steps`` steps of exact Langevin (noise sqrt(2 h_i)) with step size
    h_i = step_ratio * sigma_i^2 (Song and Ermon's alpha_i / 2 with step_ratio = epsilon / (2 sigma_L^2)),
    starting where level i-1 stopped. The noisy density at level i varies on a length scale of
    about sigma_i, so steps in proportion to sigma_i^2 make every level equally hard; on a
    Gaussian of variance sigma_i^2 Langevin is stable for step_ratio < 2. With ``denoise``, a final
    Tweedie step removes the noise of the last level (sigma_L) and counts as one evaluation.
    ``record_trajectory`` keeps the state after each level: a trajectory of shape (L, B, *shape).
    """
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
    if sigmas.dim() != 1 or len(sigmas) == 0 or not bool((sigmas[:-1] >= sigmas[1:]).all()):
        raise ValueError("sigmas must be a non-empty 1D ladder, largest first")
    if not 0 < step_ratio < 2:
        raise ValueError(f"step_ratio must be in (0, 2) (0.05-0.5 is typical), got {step_ratio}")
    steps = step_ratio * sigmas**2
    x = x_init.detach().clone()
    levels = []
    for sigma, h in zip(sigmas.tolist(), steps.tolist()):
        x = langevin_sample(energy.at(sigma), x, n_steps, h, clamp=clamp, generator=generator).samples
        if record_trajectory:
            levels.append(x)
    n_evaluations = n_steps * len(sigmas)
    if denoise:
        x = tweedie_denoise(energy, x, sigmas[-1].item())
        n_evaluations += 1
        if clamp is not None:
            x = x.clamp(*clamp)
    return SampleResult(x, torch.stack(levels) if record_trajectory else None, n_evaluations=n_evaluations)


@torch.no_grad()
def reverse_diffusion(
    energy: NoiseConditionalEnergy,
    x_init: torch.Tensor,
    sigmas: torch.Tensor | Sequence[float],
    generator: torch.Generator | None = None,
    record_trajectory: bool = False,
) -> SampleResult:
    """The reverse of the variance-exploding diffusion, one ancestral step per level:

        x <- x + (sigma_i^2 - sigma_{i+1}^2) s(x, sigma_i) + sqrt(sigma_i^2 - sigma_{i+1}^2) z,

    then a last Tweedie step. It trusts s(., sigma_i) to be the score of the *noised data*
    at every level: right for a trained diffusion model, wrong for a sum of experts' scores.
    ``record_trajectory`` keeps the start and the state after each step, (L, B, *shape).
    """
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64).tolist()
    x = x_init.detach().clone()
    trajectory = [x] if record_trajectory else None
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        variance = sigma**2 - sigma_next**2
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = x + variance * score(energy, x, sigma) + math.sqrt(variance) * noise
        if trajectory is not None:
            trajectory.append(x)
    x = tweedie_denoise(energy, x, sigmas[-1])
    return SampleResult(x, torch.stack(trajectory) if trajectory else None, n_evaluations=len(sigmas))
