"""Self-checks for notebook 6 (the diffusion connection: noisy scores, Tweedie, annealed Langevin)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ebm_lib.course.exercises._core import CheckFailed, CheckResult, run_check
from ebm_lib.diffusion.energies import NoisyGaussianMixture
from ebm_lib.diffusion.sampling import geometric_sigmas
from ebm_lib.toy2d.energies import GaussianMixture
from ebm_lib.toy2d.metrics import mode_occupancy, occupancy_tv

# --- exercise 1: the score of a Gaussian with noise added -----------------------------------


def check_noisy_gaussian_score(noisy_score: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``noisy_score(x, mean, std, sigma)``: the score of N(mean, std^2 I) convolved with
    N(0, sigma^2 I), i.e. -(x - mean) / (std^2 + sigma^2), against autograd of the exact log-density."""

    def check() -> str:
        g = torch.Generator().manual_seed(0)
        for mean, std, sigma in [((0.0, 0.0), 1.0, 0.5), ((2.0, -1.0), 0.3, 1.2), ((0.5, 0.5), 0.8, 0.05)]:
            mu = torch.tensor(mean)
            x = torch.randn(64, 2, generator=g) * 2
            variance = std**2 + sigma**2
            want = -(x - mu) / variance
            got = noisy_score(x.clone(), mu.clone(), std, sigma)
            mistakes = [
                (
                    -want,
                    "your score points away from the mean. The score is grad log p = -grad E: it points "
                    "uphill in probability, towards the mean.",
                ),
                (
                    -(x - mu) / (std + sigma) ** 2,
                    "independent noise adds VARIANCES, not standard deviations: std^2 + sigma^2.",
                ),
                (
                    -(x - mu) / std**2,
                    "that is the score of the clean Gaussian; the noise widens it to std^2 + sigma^2.",
                ),
                (
                    -(x - mu) / sigma**2,
                    "that is the score of the noise kernel alone; the data's own spread std^2 adds.",
                ),
            ]
            where = f"for mean {mean}, std {std}, sigma {sigma} your score is"
            _check_answer(got, want, mistakes, "x", where, "-(x - mean) / (std^2 + sigma^2)")
        return "the noisy density of a Gaussian is a Gaussian with the variances added, and you have its score."

    return run_check("score of a noisy Gaussian", check)


# --- exercise 2: Tweedie's denoiser ------------------------------------------------------------


def check_tweedie(tweedie: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``tweedie(energy_grad, x_noisy, sigma)`` = x_noisy - sigma^2 * energy_grad(x_noisy), which
    for Gaussian data is the posterior mean mean + std^2 / (std^2 + sigma^2) * (x_noisy - mean)."""

    def check() -> str:
        mu, std = torch.tensor([1.0, -2.0]), 0.5
        x_noisy = torch.randn(50, 2, generator=torch.Generator().manual_seed(1)) * 2
        for sigma in (0.3, 1.5):
            variance = std**2 + sigma**2

            def energy_grad(x: torch.Tensor, variance: float = variance) -> torch.Tensor:
                return (x - mu) / variance  # gradient of the noisy energy |x - mu|^2 / (2 variance)

            want = mu + std**2 / variance * (x_noisy - mu)
            got = tweedie(energy_grad, x_noisy.clone(), sigma)
            mistakes = [
                (
                    x_noisy + sigma**2 * energy_grad(x_noisy),
                    "you moved UP the energy. The score is MINUS the energy gradient: x - sigma^2 grad E.",
                ),
                (x_noisy - sigma * energy_grad(x_noisy), "the step size is sigma^2 (the noise variance), not sigma."),
            ]
            where = f"at sigma = {sigma} your denoised points are"
            _check_answer(got, want, mistakes, "x_noisy", where, "x - sigma^2 * grad E(x)")
        return "on Gaussian data your one energy-descent step lands exactly on the posterior mean E[x | x~]."

    return run_check("Tweedie's denoiser", check)


# --- exercise 3: annealed Langevin by hand ------------------------------------------------------


def check_annealed(annealed: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``annealed(energy_at, x_init, sigmas, steps_per_level, step_ratio, generator)`` on the course's
    8-mode mixture with its exact noisy energies: the mode weights must come out right (TV < 0.08)."""

    def check() -> str:
        mixture = GaussianMixture()
        noisy = NoisyGaussianMixture(mixture)
        sigmas = geometric_sigmas(6.0, 0.1, 10)
        g = torch.Generator().manual_seed(2)
        x0 = 6.0 * torch.randn(4000, 2, generator=g)
        calls: list[float] = []

        def energy_at(sigma: float):
            calls.append(float(sigma))
            return noisy.at(float(sigma))

        x = annealed(energy_at, x0.clone(), sigmas, 20, 0.3, g)
        if not isinstance(x, torch.Tensor) or x.shape != x0.shape:
            raise CheckFailed(f"return the final points, a tensor of shape {tuple(x0.shape)}; got {_describe(x)}")
        if not torch.isfinite(x).all():
            raise CheckFailed("some points are not finite: is the step size h = step_ratio * sigma^2?")
        if len(calls) == 0:
            raise CheckFailed("call energy_at(sigma) to get the energy of each level")
        if calls[0] < calls[-1]:
            raise CheckFailed("go from the LARGEST sigma to the smallest: broad levels first, sharp ones last.")
        tv = occupancy_tv(mode_occupancy(mixture.assign_modes(x), 8), mixture.mode_weights)
        if tv > 0.08:
            raise CheckFailed(
                f"the mode weights are off by a total variation of {tv:.3f} (annealing reaches about 0.03). "
                "Run steps_per_level Langevin steps at every level, with step size step_ratio * sigma^2, "
                "each level starting from where the previous one stopped."
            )
        return f"your annealed sampler puts the mass where it belongs (mode-weight TV {tv:.3f})."

    return run_check("annealed Langevin", check)


def _check_answer(
    got: object, want: torch.Tensor, mistakes: list[tuple[torch.Tensor, str]], name: str, where: str, expected: str
) -> None:
    """Return when ``got`` is ``want``; else raise CheckFailed: for a wrong shape, with the message of
    the first known mistake that ``got`` equals, or with how far off ``got`` is (``where`` starts it)."""
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        raise CheckFailed(f"return a tensor of the shape of {name}, {tuple(want.shape)}; got {_describe(got)}")
    if torch.allclose(got, want, atol=1e-5):
        return
    for wrong, message in mistakes:
        if torch.allclose(got, wrong, atol=1e-5):
            raise CheckFailed(message)
    raise CheckFailed(f"{where} off by up to {(got - want).abs().max().item():.3g}; expected {expected}.")


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return type(value).__name__
