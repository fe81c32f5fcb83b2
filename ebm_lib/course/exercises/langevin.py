"""Self-checks for notebook 2 (Langevin dynamics on 2D energies)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ebm_lib.course.exercises._core import CheckFailed, CheckResult, run_check
from ebm_lib.toy2d.energies import Gaussian, GaussianMixture, stationary_variance_ula
from ebm_lib.toy2d.metrics import energy_distance, mean_pairwise_distance

# --- exercise 1: one Langevin step ---------------------------------------------------------


def _reference_step(energy_fn, x: torch.Tensor, step_size: float, noise_scale: float, noise: torch.Tensor):
    xg = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(energy_fn(xg).sum(), xg)
    return (x - step_size * grad + noise_scale * noise).detach(), grad


def check_langevin_step(langevin_step: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``langevin_step(energy_fn, x, step_size, noise_scale, noise)``.

    It must return x - step_size * grad_x E(x) + noise_scale * noise, detached, without
    changing x, for a batch x (B, 2) and a given standard normal ``noise`` (B, 2).
    """

    def check() -> str:
        g = torch.Generator().manual_seed(0)
        energy = GaussianMixture()
        for step_size, noise_scale in [(0.05, math.sqrt(0.1)), (0.01, 0.003), (0.2, 0.0)]:
            x = 4 * torch.rand((16, 2), generator=g) - 2
            noise = torch.randn((16, 2), generator=g)
            x_before = x.clone()
            out = langevin_step(energy, x, step_size, noise_scale, noise)
            want, grad = _reference_step(energy, x_before, step_size, noise_scale, noise)
            if not isinstance(out, torch.Tensor) or out.shape != x.shape:
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise CheckFailed(f"return the new points, a tensor of shape {tuple(x.shape)}; got {got}.")
            if not torch.equal(x, x_before):
                raise CheckFailed("your step changed its input x in place; return a new tensor instead.")
            if out.requires_grad:
                raise CheckFailed(
                    "the result still requires grad: the chain would build a graph through every step. "
                    "Return a detached tensor (e.g. `.detach()`)."
                )
            if torch.allclose(out, want, atol=1e-5):
                continue
            candidates = {
                "you moved uphill: the drift is MINUS step_size * grad E (low energy = likely).": x_before
                + step_size * grad
                + noise_scale * noise,
                "the drift is step_size * grad E, not step_size / 2 * grad E (the course's convention; "
                "some papers write eps / 2 with noise sqrt(eps), which is the same rule with h = eps / 2).": x_before
                - step_size / 2 * grad
                + noise_scale * noise,
                "the noise must be multiplied by noise_scale (you added it unscaled).": x_before
                - step_size * grad
                + noise,
                "use the noise_scale you are given, not sqrt(2 * step_size): here they are decoupled.": x_before
                - step_size * grad
                + math.sqrt(2 * step_size) * noise,
                "you left out the noise: that is gradient descent, not Langevin.": x_before - step_size * grad,
            }
            for message, candidate in candidates.items():
                if torch.allclose(out, candidate, atol=1e-5):
                    raise CheckFailed(message)
            err = float((out - want).abs().max())
            raise CheckFailed(
                f"with step_size={step_size}, noise_scale={noise_scale:.4g} your points differ from "
                f"x - step_size * grad E(x) + noise_scale * noise by up to {err:.3g}. Get grad E with "
                "torch.autograd.grad(energy_fn(x).sum(), x) on a copy of x that requires grad."
            )
        return "x - step_size * grad E(x) + noise_scale * noise, detached, input untouched (3 settings)."

    return run_check("one Langevin step", check)


# --- exercise 2: stationary variance of ULA on a quadratic energy --------------------------


def check_stationary_variance(predicted_variance: Callable[[float, float, float], float], seed: int = 0) -> CheckResult:
    """Check ``predicted_variance(curvature, step_size, noise_scale)``.

    For E(x) = curvature * x^2 / 2, ULA x <- x - h E'(x) + s xi is the AR(1) chain
    x <- (1 - h lam) x + s xi. The check compares your formula with the exact stationary
    variance on several settings, then runs 4,000 chains to show the measured value.
    """
    cases = [(2.0, 0.05, 0.05), (1.0, 0.1, math.sqrt(0.2)), (4.0, 0.2, math.sqrt(0.4)), (10.0, 0.15, 0.3)]

    def check() -> str:
        for lam, h, s in cases:
            answer = float(predicted_variance(lam, h, s))
            truth = stationary_variance_ula(lam, h, s)
            if math.isclose(answer, truth, rel_tol=1e-6):
                continue
            hints = [
                (1 / lam, "that is the variance of p itself (1 / curvature): the discretisation adds a bias."),
                (s**2 / (2 * h * lam), "that is T / curvature, the limit h -> 0 (continuous time); keep the h^2 term."),
                (s**2 / (1 - h * lam), "square the contraction factor: V = (1 - h lam)^2 V + s^2."),
                (s**2 / (1 - (1 - h * lam) ** 2) ** 2, "solve V = (1 - h lam)^2 V + s^2 for V once."),
            ]
            for value, hint in hints:
                if math.isclose(answer, value, rel_tol=1e-6):
                    raise CheckFailed(f"for curvature={lam}, h={h}, s={s:.3g} you gave {answer:.5g}: {hint}")
            raise CheckFailed(
                f"for curvature={lam}, step_size={h}, noise_scale={s:.3g} you gave {answer:.5g}, the "
                f"stationary variance is {truth:.5g}. Write one step as x' = (1 - h lam) x + s xi and ask "
                "that x' and x have the same variance."
            )
        lam, h = 4.0, 0.2
        s = math.sqrt(2 * h)
        g = torch.Generator().manual_seed(seed)
        x = torch.zeros(4000, dtype=torch.float64)
        for _ in range(200):
            x = (1 - h * lam) * x + s * torch.randn(x.shape, generator=g, dtype=torch.float64)
        measured = float(x.var())
        return (
            f"your formula is exact. Example: curvature {lam:g}, h = {h:g}, exact noise: "
            f"predicted {predicted_variance(lam, h, s):.4f}, measured {measured:.4f} on 4,000 chains, "
            f"while p has variance {1 / lam:.4f}."
        )

    return run_check("stationary variance of ULA", check)


# --- exercise 3: the cheapest step size that reaches a target distance --------------------

STEP_TARGET = 0.01  # the energy distance D^2 to reach
STEP_START = (4.0, -2.0)  # every chain starts here
STEP_N_CHAINS = 2000
STEP_N_REFERENCE = 4000
STEP_MAX_STEPS = 2000


def step_size_distance(step_size: float, n_steps: int, seed: int = 0) -> float:
    """The exercise's experiment: D^2 to p after ``n_steps`` of ULA at ``step_size``.

    Energy: ``ebm_lib.toy2d.energies.Gaussian()`` (standard deviations 1.5 and 0.3, so curvatures
    0.44 and 11.1). 2,000 chains all start at (4, -2) and use the exact noise
    sqrt(2 * step_size); the distance is ``energy_distance`` to 4,000 exact samples.
    One step costs one gradient evaluation per chain.
    """
    return step_size_distance_curve(step_size, [n_steps], seed)[0]


def step_size_distance_curve(
    step_size: float, n_steps: list[int], seed: int = 0, stop_below: float | None = None
) -> list[float]:
    """``step_size_distance`` after each number of steps in ``n_steps`` (increasing), from one run.

    The same chains and noise as ``step_size_distance``, so entry i equals
    ``step_size_distance(step_size, n_steps[i])``. With ``stop_below``, the run stops at the
    first distance at or below it (the list is then shorter).
    """
    if not 0 < step_size < 1 or any(not 0 <= int(n) <= STEP_MAX_STEPS for n in n_steps):
        raise ValueError(f"need 0 < step_size < 1 and 0 <= n_steps <= {STEP_MAX_STEPS}")
    if list(n_steps) != sorted(n_steps):
        raise ValueError("n_steps must be increasing")
    energy = _exercise_energy()
    reference = energy.reference_samples(STEP_N_REFERENCE)
    g = torch.Generator().manual_seed(seed)
    x = torch.tensor([STEP_START]).repeat(STEP_N_CHAINS, 1)
    noise_scale = math.sqrt(2 * step_size)
    done, distances = 0, []
    for n in n_steps:
        for _ in range(int(n) - done):
            x = x - step_size * energy.grad(x) + noise_scale * torch.randn(x.shape, generator=g)
        done = int(n)
        distances.append(energy_distance(x, reference, _reference_self(energy)))
        if stop_below is not None and distances[-1] <= stop_below:
            break
    return distances


_CACHE: dict[str, object] = {}


def _exercise_energy() -> Gaussian:
    if "energy" not in _CACHE:
        _CACHE["energy"] = Gaussian()
    return _CACHE["energy"]  # type: ignore[return-value]


def _reference_self(energy: Gaussian) -> float:
    if "self" not in _CACHE:
        _CACHE["self"] = mean_pairwise_distance(energy.reference_samples(STEP_N_REFERENCE))
    return _CACHE["self"]  # type: ignore[return-value]


# The cheapest setting found by a scan (step sizes 0.03..0.14 by 0.01, steps in multiples
# of 5): h = 0.11 or 0.12 with 50 steps; nothing reaches the target in 45. Verified by
# tests/test_exercise_langevin.py.
STEP_BEST = (0.11, 50)


def check_step_size_choice(choose: Callable[[], tuple[float, int]]) -> CheckResult:
    """Check ``choose() -> (step_size, n_steps)``: reach D^2 <= 0.01 with as few steps as you can.

    Passes when the distance is reached with at most 1.5 times the steps of the best
    setting we found. Says whether a failure is a bias floor (the step is too large: more
    steps do not help) or too little time (n_steps * step_size too small).
    """

    def check() -> str:
        step_size, n_steps = choose()
        step_size, n_steps = float(step_size), int(n_steps)
        best_h, best_n = STEP_BEST
        if not 0 < step_size < 1:
            raise CheckFailed(f"step_size must be between 0 and 1, got {step_size}.")
        limit = 2 / float(_exercise_energy().curvatures.max())
        if step_size >= limit:
            raise CheckFailed(
                f"step_size {step_size:g} >= 2 / (largest curvature) = {limit:.3g}: "
                "ULA diverges along the narrow direction."
            )
        if not 1 <= n_steps <= STEP_MAX_STEPS:
            raise CheckFailed(f"n_steps must be between 1 and {STEP_MAX_STEPS}, got {n_steps}.")
        d2 = step_size_distance(step_size, n_steps)
        if d2 > STEP_TARGET:
            # run long enough to forget the start (time 20 >> 1 / smallest curvature = 2.25)
            n_long = min(STEP_MAX_STEPS, max(4 * n_steps, math.ceil(20 / step_size)))
            longer = step_size_distance(step_size, n_long)
            if longer > STEP_TARGET:
                raise CheckFailed(
                    f"D^2 = {d2:.4f} after {n_steps} steps and still {longer:.4f} after {n_long}: at "
                    f"h = {step_size:g} the bias alone is above the target {STEP_TARGET}. Take a smaller step."
                )
            raise CheckFailed(
                f"D^2 = {d2:.4f} > {STEP_TARGET} after {n_steps} steps (time n h = {n_steps * step_size:.3g}); "
                "the chains have not arrived yet. More steps, or a larger step size."
            )
        if n_steps > 1.5 * best_n:
            raise CheckFailed(
                f"D^2 = {d2:.4f} reaches the target, but with {n_steps} gradient evaluations per chain. "
                f"A larger step (still below the bias floor) gets there in about {best_n}."
            )
        return (
            f"D^2 = {d2:.4f} <= {STEP_TARGET} with {n_steps} gradient evaluations per chain "
            f"(our best: h = {best_h:g}, {best_n} steps)."
        )

    return run_check("cheapest step size", check)
