"""MALA: Langevin proposals corrected by a Metropolis-Hastings test, so the chain is exact.

The unadjusted Langevin algorithm (``ebm_lib.sampling.langevin_sample``) samples a law
that is slightly wrong at any finite step size. MALA (Roberts & Tweedie, 1996) uses the
same move as a *proposal*,

    x' = x - h * grad E(x) + sqrt(2 h T) * xi,        xi ~ N(0, I),

and accepts it with probability min(1, a), where

    log a = -(E(x') - E(x)) / T + log q(x | x') - log q(x' | x),
    log q(b | a) = -|b - a + h * grad E(a)|^2 / (4 h T)     (+ a constant that cancels).

The proposal is not symmetric (it drifts downhill), hence the two q terms. A rejected
proposal leaves the chain where it was. The chain's stationary law is exactly
p_T(x) proportional to exp(-E(x) / T) for every step size h > 0; the step size only
changes how fast the chain moves (large h: most proposals are rejected and the chain
sticks; small h: nearly all are accepted but each move is tiny). A common rule of thumb
aims at an acceptance rate of about 0.57 in high dimensions (Roberts & Rosenthal, 1998).

The arguments follow ``langevin_sample``: the same (step_size, generator,
record_trajectory) names, with a temperature T instead of a free noise scale, because
the Metropolis test needs to know which law it targets. T = 1 (the default) samples p.
The proposal noise is then sqrt(2 * step_size), exactly as in ``langevin_sample``.

All chains run in parallel (one tensor of shape (B, *shape)); each chain has its own
accept/reject decision. Gradients come from ``energy_fn.energy_and_grad(x)`` when the
energy provides it (the analytic toy energies of ``ebm_lib.toy`` do, which is much
faster than autograd on small problems) and from autograd otherwise. Samples are
detached; a network's parameters are frozen during the run and restored afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ebm_lib.sampling import Energy, check_x_init, energy_and_grad, sampling_mode


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
            ``ebm_lib.toy`` energy (whose analytic gradient is used).
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
