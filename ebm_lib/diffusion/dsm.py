"""The score of a noise-conditional energy, denoising score matching, and Tweedie's denoiser.

Add Gaussian noise of scale sigma to data x ~ p:  x~ = x + sigma * z,  z ~ N(0, I). The noisy
data have the density p_sigma = p * N(0, sigma^2 I) (a convolution), smoother and wider than
p, and its score s(x, sigma) = grad_x log p_sigma(x). A noise-conditional energy E(x, sigma)
has p_sigma(x) proportional to exp(-E(x, sigma)), so its score is -grad_x E(x, sigma): a
diffusion model's score network is the input-gradient of an energy at every noise level
(``score``).

Denoising score matching (Vincent 2011). The score of the noise kernel is -(x~ - x)/sigma^2 =
-z/sigma, and regressing onto it gives the score of p_sigma (up to a constant loss offset):

    L(sigma) = E ||s(x~, sigma) + z / sigma||^2.

With Song and Ermon's (2019) weight sigma^2 all levels count alike:

    L = E_sigma E_{x, z} ||sigma * s(x + sigma z, sigma) + z||^2 / D        (D = dimensions)

``dsm_loss`` computes this; its minimum is not 0 (for N(0, s^2 I) data it is s^2/(s^2+sigma^2)).
For the course's nets it teaches grad_x g to predict the noise z (``ebm_lib.diffusion.nets``).

Tweedie's formula: the best guess of the clean x given x~ is

    E[x | x~] = x~ + sigma^2 * s(x~, sigma) = x~ - sigma^2 * grad_x E(x~, sigma),

one gradient-descent step on the energy with step size sigma^2: denoising is energy descent
(``tweedie_denoise``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch


class NoiseConditionalEnergy(Protocol):
    """What the diffusion world takes: ``energy(x, sigma)`` -> (B,), and ``at(sigma)``, the plain
    energy of one level (a network of ``ebm_lib.diffusion.nets`` or an exact one of ``.energies``)."""

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor: ...

    def at(self, sigma: float): ...


def score(energy: NoiseConditionalEnergy, x: torch.Tensor, sigma: float | torch.Tensor, create_graph: bool = False):
    """s(x, sigma) = -grad_x E(x, sigma), shape of x. ``create_graph`` keeps the graph, for training."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        e = energy(x, sigma)
        (grad,) = torch.autograd.grad(e.sum(), x, create_graph=create_graph)
    return -grad


def dsm_loss(
    energy: NoiseConditionalEnergy,
    x: torch.Tensor,
    sigmas: torch.Tensor | Sequence[float],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Denoising score matching over a ladder of noise levels (Song and Ermon's weighting).

    Each sample gets a level drawn uniformly from ``sigmas``; see ``dsm_loss_at``.
    """
    sigmas = torch.as_tensor(sigmas, dtype=x.dtype, device=x.device)
    index = torch.randint(len(sigmas), (len(x),), generator=generator, device=x.device)
    return dsm_loss_at(energy, x, sigmas[index], generator)


def dsm_loss_at(
    energy: NoiseConditionalEnergy,
    x: torch.Tensor,
    sigma: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean over the batch of ||sigma_b * s(x_b + sigma_b z_b, sigma_b) + z_b||^2 / D, one noise
    level sigma_b per sample (shape (B,)). Differentiable in the model's parameters: the
    input-gradient is taken with ``create_graph=True`` (double backpropagation)."""
    z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    scale = sigma.view(-1, *[1] * (x.dim() - 1))
    s = score(energy, x + scale * z, sigma, create_graph=True)
    return (scale * s + z).flatten(1).pow(2).mean(1).mean()


@torch.no_grad()
def tweedie_denoise(energy: NoiseConditionalEnergy, x_noisy: torch.Tensor, sigma: float) -> torch.Tensor:
    """E[x | x~] = x~ + sigma^2 * s(x~, sigma): one step of energy descent with step size sigma^2."""
    return x_noisy + sigma**2 * score(energy, x_noisy, sigma)
