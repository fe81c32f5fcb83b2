"""Noise-conditional energy networks E(x, sigma): one energy per noise level.

    NoiseConditionalNet       the base: E(x, sigma) = g(x, sigma) / sigma, ``at(sigma)`` for the samplers
    NoiseConditionalMLP       for 2D points (notebook 6)
    NoiseConditionalConvNet   for 28x28 digits (the shipped notebooks/checkpoints/mnist_ncsn.pt)
    sigma_column              noise levels, a number or one per input, as a checked (B, 1) column

They are ``ebm_lib.nets.EnergyNet`` subclasses, so checkpoints rebuild them by class name
once this module is imported (``import ebm_lib.diffusion`` does it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ebm_lib.nets import EnergyNet, ResidualBlock, forward_flops
from ebm_lib.utils import check_batch


class NoiseConditionalNet(EnergyNet):
    """Base class of noise-conditional energies E(x, sigma): one energy per noise level.

    ``forward(x, sigma)`` takes inputs (B, *sample_shape) and noise levels sigma > 0, a
    number or a tensor (B,), and returns energies (B,). The energy is parameterised as

        E(x, sigma) = g(x, sigma) / sigma,   so   sigma * score = -sigma * grad_x E = -grad_x g,

    and the denoising score matching loss (``ebm_lib.diffusion.dsm.dsm_loss``) asks grad_x g to
    predict the noise that was added: the same target as Ho et al.'s (2020) noise predictor,
    with the extra promise that it is the gradient of a scalar, i.e. an energy.
    """

    def forward(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        check_batch(x, self.sample_shape, dtype=next(self.parameters()).dtype)
        sigma = sigma_column(sigma, len(x), x)
        return self.g(x, sigma.log()) / sigma.squeeze(1)

    def g(self, x: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The network proper: (B, *shape) and log sigma (B, 1) -> (B,)."""
        raise NotImplementedError

    def at(self, sigma: float) -> EnergyAtLevel:
        """The energy x -> E(x, sigma) at one noise level, as a one-argument module."""
        return EnergyAtLevel(self, sigma)

    def flops_per_input(self, sample_shape: Sequence[int] | None = None) -> int:
        """FLOPs of one forward pass on one input at one noise level, the sigma embedding included."""
        return forward_flops(self, self.example_input(sample_shape), 1.0)


class EnergyAtLevel(nn.Module):
    """x -> E(x, sigma) for a fixed sigma: a noise-conditional energy seen as a plain energy."""

    def __init__(self, net: NoiseConditionalNet, sigma: float):
        super().__init__()
        self.net = net
        self.sigma = float(sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.sigma)


def sigma_column(sigma: float | torch.Tensor, batch: int, like: torch.Tensor) -> torch.Tensor:
    """Noise levels as a (B, 1) tensor on ``like``'s device and dtype; checks they are > 0."""
    sigma = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    if sigma.dim() == 0:
        sigma = sigma.expand(batch)
    if sigma.shape != (batch,):
        raise ValueError(f"sigma must be a number or a tensor of shape ({batch},), got shape {tuple(sigma.shape)}")
    if not bool((sigma > 0).all()):
        raise ValueError("every sigma must be > 0")
    return sigma.unsqueeze(1)


class SigmaEmbedding(nn.Module):
    """log sigma (B, 1) -> a (B, width) vector that tells each layer the noise level."""

    def __init__(self, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, log_sigma: torch.Tensor) -> torch.Tensor:
        return self.net(log_sigma)


class NoiseConditionalMLP(NoiseConditionalNet):
    """E(x, sigma) for points (B, dim): residual MLP whose every layer is shifted by an
    embedding of log sigma, h <- h + W2 silu(W1 silu(h + e_l(sigma)))."""

    def __init__(self, dim: int = 2, width: int = 128, n_blocks: int = 3):
        super().__init__()
        self.arch_kwargs = dict(dim=dim, width=width, n_blocks=n_blocks)
        self.sample_shape = (dim,)
        self.fc_in = nn.Linear(dim, width)
        self.embed = SigmaEmbedding(width)
        self.shifts = nn.ModuleList(nn.Linear(width, width) for _ in range(n_blocks))
        self.blocks = nn.ModuleList(ResidualBlock(width, "silu", use_spectral_norm=False) for _ in range(n_blocks))
        self.fc_out = nn.Linear(width, 1)

    def g(self, x: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
        e = F.silu(self.embed(log_sigma))
        h = self.fc_in(x)
        for shift, block in zip(self.shifts, self.blocks):
            h = block(h + shift(e))
        return self.fc_out(F.silu(h)).squeeze(-1)


class NoiseConditionalConvNet(NoiseConditionalNet):
    """E(x, sigma) for 28x28 images: five convolutions (28 -> 14 -> 7 pixels, channels c,
    2c, 2c, 4c, 4c for width c), each input shifted per channel by an embedding of log
    sigma, then a linear layer on the 7x7 map (so the energy knows where strokes are)."""

    def __init__(self, width: int = 12, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        self.arch_kwargs = dict(width=width, in_channels=in_channels, image_size=image_size)
        self.sample_shape = (in_channels, image_size, image_size)
        c = width
        channels = [in_channels, c, 2 * c, 2 * c, 4 * c, 4 * c]
        kernels, strides = [3, 4, 3, 4, 3], [1, 2, 1, 2, 1]  # 28 -> 28 -> 14 -> 14 -> 7 -> 7 pixels
        layers = zip(channels, channels[1:], kernels, strides)
        self.convs = nn.ModuleList(nn.Conv2d(i, o, k, stride=s, padding=1) for i, o, k, s in layers)
        self.embed = SigmaEmbedding(4 * c)
        self.shifts = nn.ModuleList(nn.Linear(4 * c, conv.out_channels) for conv in self.convs)
        self.head = nn.Linear(4 * c * (image_size // 4) ** 2, 1)

    def g(self, x: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
        e = F.silu(self.embed(log_sigma))
        h = x
        for conv, shift in zip(self.convs, self.shifts):
            h = F.silu(conv(h) + shift(e)[:, :, None, None])
        return self.head(h.flatten(1)).squeeze(-1)
