"""Energy networks: each maps a batch of inputs of shape (B, *sample_shape) to energies (B,).

Design rules every net here follows (notebook 1 shows why):
  * smooth activations (SiLU by default), because Langevin dynamics follows grad_x E(x)
    and a ReLU net's input-gradient jumps between linear pieces;
  * one scalar per input, because E(x) defines p(x) = exp(-E(x)) / Z;
  * no batch normalisation or other batch-dependent layers, so that an input's energy
    does not depend on which other inputs share its batch.

Cost is reported by ``num_parameters()`` and ``flops_per_input()`` (see ``forward_flops``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm
from torch.utils.flop_counter import FlopCounterMode

from ebm_lib.utils import check_batch, eval_mode

ACTIVATIONS = {"silu": F.silu, "relu": F.relu, "elu": F.elu, "softplus": F.softplus}

# Largest slope of each activation: d/dx [x * sigmoid(x)] peaks at about 1.0998.
ACTIVATION_LIPSCHITZ = {"silu": 1.0998, "relu": 1.0, "elu": 1.0, "softplus": 1.0}
NETS: dict[str, type[EnergyNet]] = {}  # class name -> class of every energy net (checkpoints record the name)


class EnergyNet(nn.Module):
    """Base class: checks the input batch, then calls ``energy``.

    Subclasses define ``energy(x)`` and set ``sample_shape`` and ``arch_kwargs`` (their
    constructor arguments, which checkpoints record so that a saved net can be rebuilt).
    """

    sample_shape: tuple[int | None, ...]
    arch_kwargs: dict[str, object]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        NETS[cls.__name__] = cls  # checkpoints rebuild a net by its class name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch(x, self.sample_shape, dtype=next(self.parameters()).dtype)
        return self.energy(x)

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def flops_per_input(self, sample_shape: Sequence[int] | None = None) -> int:
        """FLOPs of one forward pass on one input (``forward_flops``)."""
        return forward_flops(self, self.example_input(sample_shape))

    def example_input(self, sample_shape: Sequence[int] | None = None) -> torch.Tensor:
        """One input of zeros, shape (1, *sample_shape) (default: the net's, 28 where it
        leaves a size free), on the net's device and dtype."""
        shape = tuple(sample_shape or (28 if s is None else s for s in self.sample_shape))
        param = next(self.parameters())
        return torch.zeros(1, *shape, dtype=param.dtype, device=param.device)


def forward_flops(module: nn.Module, *inputs: object) -> int:
    """FLOPs of ``module(*inputs)`` in eval mode, counted by torch's ``FlopCounterMode``.

    It counts matrix products and convolutions only, 2 x their multiply-accumulates:
    Conv2d 2 * (output elements) * (C_in / groups) * kH * kW, Linear 2 * in * out per row
    (biases and activations, a few percent, are left out).
    """
    with eval_mode(module), torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs)
    return counter.get_total_flops()


def _linear(n_in: int, n_out: int, use_spectral_norm: bool) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    return _spectral_norm(layer) if use_spectral_norm else layer


class ResidualBlock(nn.Module):
    """h -> h + W2 act(W1 act(h)). Its Lipschitz constant is at most 1 + a^2 |W1| |W2|."""

    def __init__(self, width: int, activation: str, use_spectral_norm: bool):
        super().__init__()
        self.act = ACTIVATIONS[activation]
        self.fc1 = _linear(width, width, use_spectral_norm)
        self.fc2 = _linear(width, width, use_spectral_norm)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.fc2(self.act(self.fc1(self.act(h))))


class MLPEnergyNet(EnergyNet):
    """Fully connected energy net with residual blocks, for 2D points or flattened images.

    E(x) = w_out . act(h_L),  h_0 = W_in flatten(x),  h_{l+1} = h_l + W2 act(W1 act(h_l)).

    With ``spectral_norm=True`` every weight matrix is divided by its largest singular
    value (torch's ``spectral_norm`` parametrisation, one power iteration per training
    forward pass), which bounds the Lipschitz constant of E: see ``lipschitz_upper_bound``.
    """

    def __init__(
        self,
        sample_shape: int | Sequence[int] = 2,
        width: int = 128,
        n_blocks: int = 2,
        activation: str = "silu",
        spectral_norm: bool = False,
    ):
        super().__init__()
        self.arch_kwargs = dict(
            sample_shape=sample_shape,
            width=width,
            n_blocks=n_blocks,
            activation=activation,
            spectral_norm=spectral_norm,
        )
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.sample_shape = (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)
        self.activation = activation
        self.act = ACTIVATIONS[activation]
        self.fc_in = _linear(math.prod(self.sample_shape), width, spectral_norm)
        self.blocks = nn.ModuleList(ResidualBlock(width, activation, spectral_norm) for _ in range(n_blocks))
        self.fc_out = _linear(width, 1, spectral_norm)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc_in(x.flatten(1))
        for block in self.blocks:
            h = block(h)
        return self.fc_out(self.act(h)).squeeze(-1)

    @torch.no_grad()
    def lipschitz_upper_bound(self) -> float:
        """An upper bound on the L2 Lipschitz constant of E, from the weights' spectral norms.

        L(E) <= |W_in| * prod_blocks (1 + a^2 |W1| |W2|) * a * |w_out|, where |.| is the
        largest singular value and a the activation's largest slope. With spectral
        normalisation every |W| is 1 and the bound is (1 + a^2)^n_blocks * a, whatever the
        raw weights are, up to the accuracy of the power iteration's estimates (a fresh net
        can read a few percent above). Computed in eval mode, so it does not move the iteration.
        """
        a = ACTIVATION_LIPSCHITZ[self.activation]

        def norm(layer: nn.Linear) -> float:
            return torch.linalg.matrix_norm(layer.weight, ord=2).item()

        with eval_mode(self):
            bound = norm(self.fc_in) * a * norm(self.fc_out)
            for block in self.blocks:
                bound *= 1 + a * a * norm(block.fc1) * norm(block.fc2)
        return bound


class ConvEnergyNet(EnergyNet):
    """Convolutional energy net in the style of Du & Mordatch (2019), for any image size.

    For each channel multiplier m: a 3x3 convolution to ``width * m`` channels and a 4x4
    convolution with stride 2 that halves the resolution, each followed by SiLU. Then
    global average pooling and a linear layer give one scalar per image.
    """

    def __init__(self, in_channels: int = 1, width: int = 32, channel_mults: Sequence[int] = (1, 2)):
        super().__init__()
        self.arch_kwargs = dict(in_channels=in_channels, width=width, channel_mults=tuple(channel_mults))
        self.sample_shape = (in_channels, None, None)
        channels = [in_channels] + [width * mult for mult in channel_mults]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.SiLU()]
            layers += [nn.Conv2d(c_out, c_out, 4, stride=2, padding=1), nn.SiLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels[-1], 1)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3))).squeeze(-1)


class MNISTEnergyNet(EnergyNet):
    """The course's default energy net for 28x28 digits: cheap enough to train on a CPU.

    Four strided convolutions (28 -> 16 -> 8 -> 4 -> 2 pixels, channels c, 2c, 4c, 4c
    for width c) with SiLU, then a two-layer head on the flattened 2x2 map, so the
    energy knows where strokes are. About 1.7 MFLOP per image at the default width 16,
    a twelfth of ``ConvEnergyNet(width=32)``.
    """

    def __init__(self, width: int = 16):
        super().__init__()
        self.arch_kwargs = dict(width=width)
        self.sample_shape = (1, 28, 28)
        c = width
        # (channels in, out, kernel, padding) of the stride-2 convolutions: 28 -> 16 -> 8 -> 4 -> 2 pixels
        convs = [(1, c, 5, 4), (c, 2 * c, 3, 1), (2 * c, 4 * c, 3, 1), (4 * c, 4 * c, 3, 1)]
        layers = [m for i, o, k, p in convs for m in (nn.Conv2d(i, o, k, stride=2, padding=p), nn.SiLU())]
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(nn.Linear(16 * c, 4 * c), nn.SiLU(), nn.Linear(4 * c, 1))

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(-1)


def architecture_of(net: EnergyNet) -> dict[str, object]:
    """{"name": class name, "kwargs": constructor arguments}: enough to rebuild the net."""
    return {"name": type(net).__name__, "kwargs": dict(net.arch_kwargs)}


def build_net(architecture: dict[str, object]) -> EnergyNet:
    """Rebuild a net from ``architecture_of``'s description."""
    name = architecture["name"]
    if name not in NETS:
        raise ValueError(f"unknown energy net {name!r}; known: {sorted(NETS)} (import ebm_lib.diffusion for its nets)")
    return NETS[name](**architecture["kwargs"])
