"""Langevin dynamics: the sampler behind every EBM in the course.

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

Gradients: the sampler asks autograd for grad_x E only. It switches the network's
parameters to requires_grad=False for the duration (so nothing accumulates in their
.grad and no graph to them is built) and the network to eval mode, and restores both
afterwards, also when an error is raised. The returned samples are detached: the
contrastive-divergence loss does not backpropagate through the chain.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

Energy = Callable[[torch.Tensor], torch.Tensor]


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


@dataclass
class LangevinResult:
    """What a Langevin run returns.

    samples:    (B, *shape) final states, detached.
    trajectory: (n_steps + 1, B, *shape) every state including the start, if recorded.
    energy:     (n_steps,) mean energy of the batch before each step, if recorded.
    grad_norm:  (n_steps,) mean L2 norm of grad_x E (before clipping), if recorded.
    """

    samples: torch.Tensor
    trajectory: torch.Tensor | None = None
    energy: torch.Tensor | None = None
    grad_norm: torch.Tensor | None = None


def energy_and_grad(energy_fn: Energy, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (E(x), grad_x E(x)), both detached, for a batch x of shape (B, *shape).

    Uses ``energy_fn.energy_and_grad`` when it exists (the analytic gradients of the 2D
    energies in ``ebm_lib.toy2d.energies``, which skip autograd), autograd otherwise; checks that
    the energy gives one scalar per input.
    """
    analytic = getattr(energy_fn, "energy_and_grad", None)
    if analytic is not None:
        energy, grad = analytic(x.detach())
        return energy.detach(), grad.detach()
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        energy = energy_fn(x)
        if energy.shape != x.shape[:1]:
            raise ValueError(
                f"the energy function must return shape (B,) = ({x.shape[0]},), one scalar per "
                f"input, got {tuple(energy.shape)}"
            )
        (grad,) = torch.autograd.grad(energy.sum(), x)
    return energy.detach(), grad


@contextmanager
def sampling_mode(energy_fn: Energy) -> Iterator[None]:
    """While sampling from a network: eval mode and parameters with requires_grad=False,
    so that no graph to the parameters is built and nothing lands in their .grad. Both
    are restored afterwards, also when the block raises. Plain functions pass through."""
    if not isinstance(energy_fn, nn.Module):
        yield
        return
    flags = [p.requires_grad for p in energy_fn.parameters()]
    training = energy_fn.training
    try:
        energy_fn.eval()
        for p in energy_fn.parameters():
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(energy_fn.parameters(), flags):
            p.requires_grad_(flag)
        energy_fn.train(training)


def check_x_init(x_init: object) -> None:
    """Samplers start from a floating tensor (B, *sample_shape)."""
    if not isinstance(x_init, torch.Tensor) or not x_init.is_floating_point():
        raise TypeError(
            "x_init must be a floating-point tensor of shape (B, *sample_shape), got "
            + (f"dtype {x_init.dtype}" if isinstance(x_init, torch.Tensor) else type(x_init).__name__)
        )
    if x_init.dim() < 2:
        raise ValueError(f"x_init must have shape (B, *sample_shape), got {tuple(x_init.shape)}")


def langevin_sample(
    energy_fn: Energy,
    x_init: torch.Tensor,
    n_steps: int,
    step_size: float,
    noise_scale: float | None = None,
    grad_clip: float | None = None,
    clamp: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
    record_trajectory: bool = False,
    record_diagnostics: bool = False,
) -> LangevinResult:
    """Run ``n_steps`` of Langevin dynamics from ``x_init`` on the energy ``energy_fn``.

    Args:
        energy_fn: a network or function mapping (B, *shape) to energies (B,).
        x_init: starting points, a floating tensor (B, *shape). It is not modified.
        n_steps: number of steps (0 returns a copy of ``x_init``).
        step_size: the factor on the gradient.
        noise_scale: standard deviation of the added Gaussian noise; ``None`` means
            the exact sqrt(2 * step_size). See ``langevin_temperature`` for other values.
        grad_clip: if set, each sample's gradient is rescaled to L2 norm at most this.
        clamp: if set, (low, high) box that states are clamped into after each step,
            e.g. (-1, 1) for images. Clamping changes the stationary law near the box.
        generator: source of the noise, for repeatable runs (on the device of x_init).
        record_trajectory: keep every state (memory: n_steps + 1 copies of the batch).
        record_diagnostics: keep the mean energy and gradient norm of every step.
    """
    check_x_init(x_init)
    if n_steps < 0 or step_size <= 0:
        raise ValueError(f"need n_steps >= 0 and step_size > 0, got {n_steps} and {step_size}")
    if noise_scale is None:
        noise_scale = exact_noise_scale(step_size)

    trajectory = [x_init.detach().clone()] if record_trajectory else None
    energies, grad_norms = [], []
    x = x_init.detach().clone()
    with sampling_mode(energy_fn):
        for _ in range(n_steps):
            energy, grad = energy_and_grad(energy_fn, x)
            if record_diagnostics or grad_clip is not None:
                norms = grad.flatten(1).norm(dim=1)
            if record_diagnostics:
                energies.append(energy.mean())
                grad_norms.append(norms.mean())
            if grad_clip is not None:
                scale = (grad_clip / norms.clamp_min(1e-12)).clamp(max=1.0)
                grad = grad * scale.view(-1, *([1] * (grad.dim() - 1)))
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            x = x - step_size * grad + noise_scale * noise
            if clamp is not None:
                x = x.clamp(*clamp)
            if trajectory is not None:
                trajectory.append(x)
    return LangevinResult(
        samples=x,
        trajectory=torch.stack(trajectory) if trajectory is not None else None,
        energy=_stack(energies) if record_diagnostics else None,
        grad_norm=_stack(grad_norms) if record_diagnostics else None,
    )


def _stack(values: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(values) if values else torch.empty(0)


# --- MALA ------------------------------------------------------------------------------
# MALA: Langevin proposals corrected by a Metropolis-Hastings test, so the chain is exact.
#
# The unadjusted Langevin algorithm (``ebm_lib.samplers.langevin_sample``) samples a law
# that is slightly wrong at any finite step size. MALA (Roberts & Tweedie, 1996) uses the
# same move as a *proposal*,
#
#     x' = x - h * grad E(x) + sqrt(2 h T) * xi,        xi ~ N(0, I),
#
# and accepts it with probability min(1, a), where
#
#     log a = -(E(x') - E(x)) / T + log q(x | x') - log q(x' | x),
#     log q(b | a) = -|b - a + h * grad E(a)|^2 / (4 h T)     (+ a constant that cancels).
#
# The proposal is not symmetric (it drifts downhill), hence the two q terms. A rejected
# proposal leaves the chain where it was. The chain's stationary law is exactly
# p_T(x) proportional to exp(-E(x) / T) for every step size h > 0; the step size only
# changes how fast the chain moves (large h: most proposals are rejected and the chain
# sticks; small h: nearly all are accepted but each move is tiny). A common rule of thumb
# aims at an acceptance rate of about 0.57 in high dimensions (Roberts & Rosenthal, 1998).
#
# The arguments follow ``langevin_sample``: the same (step_size, generator,
# record_trajectory) names, with a temperature T instead of a free noise scale, because
# the Metropolis test needs to know which law it targets. T = 1 (the default) samples p.
# The proposal noise is then sqrt(2 * step_size), exactly as in ``langevin_sample``.
#
# All chains run in parallel (one tensor of shape (B, *shape)); each chain has its own
# accept/reject decision. Gradients come from ``energy_fn.energy_and_grad(x)`` when the
# energy provides it (the analytic toy energies of ``ebm_lib.toy2d.energies`` do, which is much
# faster than autograd on small problems) and from autograd otherwise. Samples are
# detached; a network's parameters are frozen during the run and restored afterwards.


@dataclass
class MALAResult:
    """What a MALA run returns.

    samples:         (B, *shape) final states, detached.
    trajectory:      (n_steps + 1, B, *shape) every state including the start, if recorded.
    accept_rate:     fraction of all proposals (all chains, all steps) that were accepted.
    accept_per_chain: (B,) acceptance rate of each chain.
    energy:          (n_steps,) mean energy of the batch before each step, if recorded.
    grad_norm:       (n_steps,) mean L2 norm of grad_x E before each step, if recorded.
    """

    samples: torch.Tensor
    accept_rate: float
    accept_per_chain: torch.Tensor
    trajectory: torch.Tensor | None = None
    energy: torch.Tensor | None = None
    grad_norm: torch.Tensor | None = None


def mala_sample(
    energy_fn: Energy,
    x_init: torch.Tensor,
    n_steps: int,
    step_size: float,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    record_trajectory: bool = False,
    record_diagnostics: bool = False,
) -> MALAResult:
    """Run ``n_steps`` of MALA from ``x_init``, targeting p_T(x) proportional to exp(-E(x) / T).

    Args:
        energy_fn: maps (B, *shape) to energies (B,); a network, a function, or an
            ``ebm_lib.toy2d.energies`` energy (whose analytic gradient is used).
        x_init: starting points, a floating tensor (B, *shape). It is not modified.
        n_steps: number of proposals per chain (0 returns a copy of ``x_init``).
        step_size: h, the factor on the gradient in the proposal.
        temperature: T > 0; the proposal noise is sqrt(2 * h * T).
        generator: source of the proposal noise and of the accept/reject uniforms.
        record_trajectory: keep every state (n_steps + 1 copies of the batch).
        record_diagnostics: keep the mean energy and gradient norm of every step.
    """
    check_x_init(x_init)
    if n_steps < 0 or step_size <= 0 or temperature <= 0:
        raise ValueError(
            f"need n_steps >= 0, step_size > 0 and temperature > 0, got {n_steps}, {step_size}, {temperature}"
        )
    noise_scale = math.sqrt(2.0 * step_size * temperature)
    batch = x_init.shape[0]
    x = x_init.detach().clone()
    accepted = torch.zeros(batch, device=x.device)
    trajectory = [x.clone()] if record_trajectory else None
    energies, grad_norms = [], []
    with sampling_mode(energy_fn):
        energy, grad = energy_and_grad(energy_fn, x)
        for _ in range(n_steps):
            if record_diagnostics:
                energies.append(energy.mean())
                grad_norms.append(grad.flatten(1).norm(dim=1).mean())
            mean_forward = x - step_size * grad
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            proposal = mean_forward + noise_scale * noise
            energy_new, grad_new = energy_and_grad(energy_fn, proposal)
            # log q(x' | x) = -|noise|^2 / 2; log q(x | x') from the reverse move.
            reverse = (x - proposal + step_size * grad_new).flatten(1)
            log_q_backward = -(reverse * reverse).sum(1) / (2.0 * noise_scale**2)
            log_q_forward = -0.5 * (noise * noise).flatten(1).sum(1)
            log_accept = -(energy_new - energy) / temperature + log_q_backward - log_q_forward
            uniform = torch.rand(batch, generator=generator, dtype=x.dtype, device=x.device)
            # NaN log_accept (a proposal that overflowed) compares False: rejected.
            accept = torch.log(uniform) < log_accept
            accepted += accept
            mask = accept.view(-1, *([1] * (x.dim() - 1)))
            x = torch.where(mask, proposal, x)
            energy = torch.where(accept, energy_new, energy)
            grad = torch.where(mask, grad_new, grad)
            if trajectory is not None:
                trajectory.append(x)
    per_chain = accepted / max(n_steps, 1)
    return MALAResult(
        samples=x,
        accept_rate=float(per_chain.mean()) if n_steps > 0 else float("nan"),
        accept_per_chain=per_chain,
        trajectory=torch.stack(trajectory) if trajectory is not None else None,
        energy=torch.stack(energies) if record_diagnostics and energies else None,
        grad_norm=torch.stack(grad_norms) if record_diagnostics and grad_norms else None,
    )
