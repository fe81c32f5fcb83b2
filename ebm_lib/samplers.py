"""The samplers behind every EBM in the course: Langevin dynamics, and Langevin corrected by Metropolis.

One step of the unadjusted Langevin algorithm (ULA) on an energy E:

    x <- x - step_size * grad_x E(x) + noise_scale * xi,        xi ~ N(0, I).

With noise_scale = sqrt(2 * step_size) this discretises the Langevin diffusion whose
stationary law is p(x) = exp(-E(x)) / Z, so for small steps and many of them the chain
samples p (with a bias that grows with the step size). With any other noise it samples,
approximately, p_T(x) proportional to exp(-E(x) / T) at the temperature

    T = noise_scale^2 / (2 * step_size).

Image EBMs usually take step_size around 10 and noise_scale around 0.005, which is
T of about 1e-6: they sample a very cold version of their own model, almost gradient
descent. Notebook 2 makes this visible.

MALA (Roberts & Tweedie, 1996) uses the same move as a *proposal*,

    x' = x - h * grad E(x) + sqrt(2 h T) * xi,

and accepts it with probability min(1, a), where

    log a = -(E(x') - E(x)) / T + log q(x | x') - log q(x' | x),
    log q(b | a) = -|b - a + h * grad E(a)|^2 / (4 h T)     (+ a constant that cancels).

The proposal is not symmetric (it drifts downhill), hence the two q terms. A rejected
proposal leaves the chain where it was. The chain's stationary law is exactly p_T for
every step size h > 0; the step size only changes how fast the chain moves (large h: most
proposals are rejected and the chain sticks; small h: nearly all are accepted but each
move is tiny). A common rule of thumb aims at an acceptance rate of about 0.57 in high
dimensions (Roberts & Rosenthal, 1998). Each chain has its own accept/reject decision.

The contract every sampler of ebm_lib keeps (the diffusion world's annealed Langevin and
reverse diffusion too): the energy first, then the starting points (B, *shape), which are
not modified; a keyword that two samplers share means the same in both (``n_steps``,
``step_size``, ``noise_scale`` or ``temperature``, ``clamp``, ``generator``,
``record_trajectory``); one ``SampleResult`` back.

Gradients: ``energy.energy_and_grad(x)`` where the energy has that method (the analytic 2D
energies: no autograd), autograd otherwise. A network samples in eval mode with requires_grad=False
on its parameters (no graph to them, nothing in their .grad), both restored afterwards, also on
an error. The samples are detached: the contrastive-divergence loss does not backpropagate
through the chain.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ebm_lib.utils import check_batch, eval_mode

Energy = Callable[[torch.Tensor], torch.Tensor]
Bound = float | Sequence[float]


def exact_noise_scale(step_size: float) -> float:
    """The noise scale sqrt(2 * step_size) for which Langevin samples p at temperature 1."""
    return math.sqrt(2.0 * step_size)


def langevin_temperature(step_size: float, noise_scale: float) -> float:
    """The temperature T = noise_scale^2 / (2 * step_size) sampled by a decoupled noise."""
    if step_size <= 0:
        raise ValueError(f"step_size must be positive, got {step_size}")
    return noise_scale**2 / (2.0 * step_size)


def noise_scale_for_temperature(step_size: float, temperature: float) -> float:
    """The noise scale sqrt(2 * step_size * T) that samples exp(-E / T)."""
    return math.sqrt(2.0 * step_size * temperature)


def uniform_noise(
    n: int, sample_shape: Sequence[int], low: Bound = -1.0, high: Bound = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n starting points (n, *sample_shape), low + (high - low) * U with U ~ U[0, 1): chains from noise.

    ``low`` and ``high`` are numbers (images: -1 and 1) or one bound per coordinate (2D: a box's corners)."""
    low_t = torch.as_tensor(low, dtype=torch.float64)
    span = (torch.as_tensor(high, dtype=torch.float64) - low_t).float()
    if bool((span < 0).any()):
        raise ValueError(f"need low <= high, got low={low} and high={high}")
    return low_t.float() + span * torch.rand((n, *sample_shape), generator=generator)


@dataclass
class SampleResult:
    """What every sampler returns.

    samples:          (B, *shape) final states, detached.
    trajectory:       (n_steps + 1, B, *shape) every state including the start, if recorded
                      (annealed Langevin: the state after each noise level).
    energy:           (n_steps,) mean energy of the batch before each step, if recorded.
    grad_norm:        (n_steps,) mean L2 norm of grad_x E before each step (before clipping), if recorded.
    accept_rate:      MALA: the fraction of all proposals accepted (NaN after 0 steps); None without a Metropolis test.
    accept_per_chain: MALA: (B,) acceptance rate of each chain; None otherwise.
    n_evaluations:    energy-gradient evaluations spent (the cost to compare samplers by).
    """

    samples: torch.Tensor
    trajectory: torch.Tensor | None = None
    energy: torch.Tensor | None = None
    grad_norm: torch.Tensor | None = None
    accept_rate: float | None = None
    accept_per_chain: torch.Tensor | None = None
    n_evaluations: int = 0


def energy_and_grad(energy: Energy, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(E(x), grad_x E(x)), both detached, for x of shape (B, *shape): ``energy.energy_and_grad``
    where the energy has it, autograd otherwise (there checking that E gives one scalar per input)."""
    analytic = getattr(energy, "energy_and_grad", None)
    if analytic is not None:
        e, grad = analytic(x.detach())
        return e.detach(), grad.detach()
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        e = energy(x)
        if not isinstance(e, torch.Tensor) or e.shape != x.shape[:1]:
            got = tuple(e.shape) if isinstance(e, torch.Tensor) else type(e).__name__
            raise ValueError(
                f"the energy function must return shape (B,) = ({x.shape[0]},), one scalar per input, got {got}"
            )
        (grad,) = torch.autograd.grad(e.sum(), x)
    return e.detach(), grad


@contextmanager
def sampling_mode(energy: Energy) -> Iterator[None]:
    """A network in eval mode with requires_grad=False for the block, restored after (see the module
    docstring); plain functions pass through."""
    if not isinstance(energy, nn.Module):
        yield
        return
    flags = [p.requires_grad for p in energy.parameters()]
    with eval_mode(energy):
        try:
            for p in energy.parameters():
                p.requires_grad_(False)
            yield
        finally:
            for p, flag in zip(energy.parameters(), flags):
                p.requires_grad_(flag)


def _check_run(x_init: object, n_steps: int, step_size: float, temperature: float = 1.0) -> None:
    check_batch(x_init, None, name="x_init")
    if n_steps < 0 or not step_size > 0 or not temperature > 0:
        raise ValueError(
            f"need n_steps >= 0, step_size > 0, temperature > 0; got {n_steps}, {step_size}, {temperature}"
        )


def _result(x: torch.Tensor, trajectory: list | None, diagnostics: dict | None, **fields: object) -> SampleResult:
    """The SampleResult of a run, with the trajectory and the recorded per-step means stacked."""
    if diagnostics is not None:
        fields.update({key: torch.stack(v) if v else torch.empty(0) for key, v in diagnostics.items()})
    return SampleResult(x, torch.stack(trajectory) if trajectory is not None else None, **fields)


def langevin_sample(
    energy: Energy,
    x_init: torch.Tensor,
    n_steps: int,
    step_size: float,
    noise_scale: float | None = None,
    grad_clip: float | None = None,
    clamp: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
    record_trajectory: bool = False,
    record_diagnostics: bool = False,
    temperature: float | None = None,
) -> SampleResult:
    """Run ``n_steps`` of Langevin dynamics (ULA) from ``x_init`` (0 steps: a copy of it) on ``energy``.

    ``noise_scale=None`` is the exact sqrt(2 * step_size); ``temperature`` T instead of a noise scale
    gives sqrt(2 h T). ``grad_clip`` rescales each sample's gradient to L2 norm at most this;
    ``clamp`` = (low, high) clamps the states after each step (images: (-1, 1)), which changes the
    stationary law near the box. ``generator`` lives on x_init's device. ``record_trajectory``
    keeps n_steps + 1 copies of the batch.
    """
    _check_run(x_init, n_steps, step_size)
    if temperature is not None and noise_scale is not None:
        raise ValueError("give noise_scale or temperature, not both")
    if noise_scale is None:  # the exact noise sqrt(2 h) at T = 1
        noise_scale = noise_scale_for_temperature(step_size, 1.0 if temperature is None else temperature)
    x = x_init.detach().clone()
    trajectory = [x] if record_trajectory else None
    diagnostics = {"energy": [], "grad_norm": []} if record_diagnostics else None
    with sampling_mode(energy):
        for _ in range(n_steps):
            e, grad = energy_and_grad(energy, x)
            norms = grad.flatten(1).norm(dim=1)
            if diagnostics is not None:
                diagnostics["energy"].append(e.mean())
                diagnostics["grad_norm"].append(norms.mean())
            if grad_clip is not None:
                scale = (grad_clip / norms.clamp_min(1e-12)).clamp(max=1.0)
                grad = grad * scale.view(-1, *([1] * (grad.dim() - 1)))
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            x = x - step_size * grad + noise_scale * noise
            if clamp is not None:
                x = x.clamp(*clamp)
            if trajectory is not None:
                trajectory.append(x)
    return _result(x, trajectory, diagnostics, n_evaluations=n_steps)


def mala_sample(
    energy: Energy,
    x_init: torch.Tensor,
    n_steps: int,
    step_size: float,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    record_trajectory: bool = False,
    record_diagnostics: bool = False,
) -> SampleResult:
    """Run ``n_steps`` of MALA from ``x_init``, targeting p_T(x) proportional to exp(-E(x) / T).

    The arguments are ``langevin_sample``'s, with a temperature T > 0 instead of a free noise scale:
    the Metropolis test must know which law it targets (T = 1 samples p, with the proposal noise
    sqrt(2 * step_size)). The generator draws the proposal noise and the accept/reject uniforms.
    """
    _check_run(x_init, n_steps, step_size, temperature)
    noise_scale = noise_scale_for_temperature(step_size, temperature)
    batch = x_init.shape[0]
    x = x_init.detach().clone()
    accepted = torch.zeros(batch, device=x.device)
    trajectory = [x] if record_trajectory else None
    diagnostics = {"energy": [], "grad_norm": []} if record_diagnostics else None
    with sampling_mode(energy):
        if n_steps > 0:
            e, grad = energy_and_grad(energy, x)
        for _ in range(n_steps):
            if diagnostics is not None:
                diagnostics["energy"].append(e.mean())
                diagnostics["grad_norm"].append(grad.flatten(1).norm(dim=1).mean())
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            proposal = x - step_size * grad + noise_scale * noise
            e_new, grad_new = energy_and_grad(energy, proposal)
            # log q(x' | x) = -|noise|^2 / 2; log q(x | x') from the reverse move.
            reverse = (x - proposal + step_size * grad_new).flatten(1)
            log_q_backward = -(reverse * reverse).sum(1) / (2.0 * noise_scale**2)
            log_q_forward = -0.5 * (noise * noise).flatten(1).sum(1)
            log_accept = -(e_new - e) / temperature + log_q_backward - log_q_forward
            uniform = torch.rand(batch, generator=generator, dtype=x.dtype, device=x.device)
            # NaN log_accept (a proposal that overflowed) compares False: rejected.
            accept = torch.log(uniform) < log_accept
            accepted += accept
            mask = accept.view(-1, *([1] * (x.dim() - 1)))
            x = torch.where(mask, proposal, x)
            e = torch.where(accept, e_new, e)
            grad = torch.where(mask, grad_new, grad)
            if trajectory is not None:
                trajectory.append(x)
    per_chain = accepted / n_steps if n_steps > 0 else torch.full((batch,), math.nan)
    rate, evaluations = float(per_chain.mean()), (n_steps + 1 if n_steps > 0 else 0)
    return _result(x, trajectory, diagnostics, accept_rate=rate, accept_per_chain=per_chain, n_evaluations=evaluations)


@dataclass
class LangevinConfig:
    """The settings of ``langevin_sample`` as one object (see there); the CD config holds one.

    The defaults are the image-EBM practice: 60 steps of size 10 with noise 0.005 (temperature
    about 1e-6), clamped to the pixel range [-1, 1]. ``noise_scale=None`` is the exact noise.
    """

    n_steps: int = 60
    step_size: float = 10.0
    noise_scale: float | None = 0.005
    grad_clip: float | None = None
    clamp: tuple[float, float] | None = (-1.0, 1.0)

    def run(self, energy: Energy, x_init: torch.Tensor, **kwargs: object) -> SampleResult:
        """``langevin_sample(energy, x_init, **these settings, **kwargs)``."""
        return langevin_sample(energy, x_init, **dataclasses.asdict(self), **kwargs)


SAMPLERS: dict[str, Callable[..., SampleResult]] = {"ULA": langevin_sample, "MALA": mala_sample}
"""The two samplers by name; both take (energy, x_init, n_steps, step_size, temperature=...)."""
