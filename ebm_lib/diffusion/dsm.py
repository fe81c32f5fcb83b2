"""The score of a noise-conditional energy, denoising score matching, and Tweedie's denoiser."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch


class NoiseConditionalEnergy(Protocol):
    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor: ...

    def at(self, sigma: float): ...


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
