"""Self-checks for notebooks 3 and 4 (training EBMs on 2D data; the replay-buffer ablation)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ebm_lib.course.exercises._core import CheckFailed, CheckResult, run_check
from ebm_lib.training import cd_loss

# --- notebook 3, exercise 1: the contrastive-divergence loss ------------------------------


def check_cd_loss(loss_fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> CheckResult:
    """Check ``loss_fn(e_data, e_samples, alpha)`` against
    mean E(data) - mean E(samples) + alpha * mean(E(data)^2 + E(samples)^2), a scalar
    through which gradients flow to both energy batches."""

    def check() -> str:
        g = torch.Generator().manual_seed(0)
        for alpha in (0.0, 0.1, 1.0):
            e_data = torch.randn(32, generator=g).requires_grad_(True)
            e_samples = (torch.randn(32, generator=g) + 1).requires_grad_(True)
            out = loss_fn(e_data, e_samples, alpha)
            if not isinstance(out, torch.Tensor) or out.dim() != 0:
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise CheckFailed(f"return one number, a 0-dimensional tensor (use .mean()); got {got}.")
            if not out.requires_grad:
                raise CheckFailed("the loss does not depend on the energies through autograd (did you call .item()?).")
            want = cd_loss(e_data, e_samples, alpha)
            if torch.allclose(out, want, atol=1e-5):
                continue
            flipped = cd_loss(e_samples, e_data, alpha)
            if torch.allclose(out, flipped, atol=1e-5):
                raise CheckFailed(
                    "the signs are swapped: training must LOWER the energy of data and RAISE the energy of "
                    "samples (low energy = likely), so E(data) enters with +, E(samples) with -."
                )
            no_reg = e_data.mean() - e_samples.mean()
            if alpha > 0 and torch.allclose(out, no_reg, atol=1e-5):
                raise CheckFailed(
                    f"with alpha={alpha} the regulariser alpha * mean(E_data^2 + E_samples^2) is missing."
                )
            raise CheckFailed(
                f"with alpha={alpha} you gave {float(out):.5f}, expected {float(want):.5f}: "
                "mean E(data) - mean E(samples) + alpha * (mean E(data)^2 + mean E(samples)^2)."
            )
        return "mean E(data) - mean E(samples) + alpha * mean(E_data^2 + E_samples^2), differentiable (3 alphas)."

    return run_check("contrastive-divergence loss", check)


# --- notebook 3, exercise 2: normalise a learned energy on a grid ---------------------------


def check_grid_probabilities(grid_probabilities: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Check ``grid_probabilities(energies)``: energies (ny, nx) at the cell centres of a grid in,
    cell probabilities exp(-E) / sum exp(-E) out, computed stably (energies up to 1e4)."""

    def check() -> str:
        g = torch.Generator().manual_seed(1)
        energies = 3 * torch.randn((20, 30), generator=g, dtype=torch.float64)
        out = torch.as_tensor(grid_probabilities(energies.clone()), dtype=torch.float64)
        want = torch.softmax(-energies.flatten(), 0).view_as(energies)
        if out.shape != energies.shape:
            raise CheckFailed(
                f"return one probability per cell, shape {tuple(energies.shape)}; got {tuple(out.shape)}."
            )
        if not torch.allclose(out, want, atol=1e-8):
            if torch.allclose(out, torch.softmax(energies.flatten(), 0).view_as(energies), atol=1e-8):
                raise CheckFailed("p is proportional to exp(-E), not exp(+E): low energy = likely.")
            if torch.allclose(out / out.sum(), want, atol=1e-8):
                raise CheckFailed(f"your probabilities sum to {float(out.sum()):.4g}; divide by their sum.")
            raise CheckFailed(
                f"the probabilities differ from exp(-E) / sum exp(-E) by up to {float((out - want).abs().max()):.3g}."
            )
        shifted = torch.as_tensor(grid_probabilities(energies + 1e4), dtype=torch.float64)
        if not torch.isfinite(shifted).all() or not torch.allclose(shifted, want, atol=1e-8):
            raise CheckFailed(
                "adding 10,000 to every energy must not change p (Z absorbs it), but yours gives NaN or zeros: "
                "subtract the smallest energy before exponentiating (or use torch.softmax / logsumexp)."
            )
        return "exp(-E) / sum exp(-E) per cell, stable when all energies are large."

    return run_check("grid probabilities", check)


# --- notebook 3, exercise 3: read a training run from its diagnostics ----------------------


def _histories() -> dict[str, dict[str, list[float]]]:
    steps = np.arange(300)
    rng = np.random.default_rng(0)
    healthy_gap = 0.3 + 0.5 * np.exp(-steps / 60) + 0.05 * rng.standard_normal(300)
    collapse_gap = 0.8 * np.exp(-steps / 20) + 0.002 * rng.standard_normal(300)
    diverge = np.exp(steps / 30)
    return {
        "healthy": {"gap": healthy_gap.tolist(), "e_data": (-1 + 0.05 * rng.standard_normal(300)).tolist()},
        "collapsing": {"gap": collapse_gap.tolist(), "e_data": (0.001 * rng.standard_normal(300)).tolist()},
        "diverging": {"gap": (0.1 * diverge).tolist(), "e_data": (-diverge).tolist()},
        "diverging (NaN)": {"gap": [0.5] * 100 + [float("nan")], "e_data": [-1.0] * 100 + [float("nan")]},
    }


def check_diagnosis(diagnose: Callable[[dict[str, list[float]]], str]) -> CheckResult:
    """Check ``diagnose(history)`` -> "healthy", "collapsing" or "diverging" on four made-up
    histories (keys "gap" and "e_data", one value per training step)."""

    def check() -> str:
        for name, history in _histories().items():
            want = name.split(" ")[0]
            got = diagnose({k: list(v) for k, v in history.items()})
            if got != want:
                last = history["gap"][-1]
                raise CheckFailed(
                    f"a run whose gap ends at {last:.4g} and |E(data)| at {abs(history['e_data'][-1]):.4g} is "
                    f"{want!r}, you said {got!r}. Look at the last steps: a gap near 0 (below ~0.01) with "
                    "energies near 0 is a collapse; non-finite or huge (> 100) energies are divergence."
                )
        return "healthy, collapsing and diverging histories (including a NaN) told apart."

    return run_check("diagnose a training run", check)


# --- notebook 4 exercise: is a difference bigger than the spread? -------------------------


def check_welch_t(welch_t: Callable[[list[float], list[float]], float]) -> CheckResult:
    """Check ``welch_t(a, b)``: Welch's t statistic (mean_a - mean_b) / sqrt(s_a^2 / n_a + s_b^2 / n_b),
    with sample variances (divisor n - 1)."""

    def check() -> str:
        cases = [
            ([0.21, 0.25, 0.19, 0.3, 0.22], [0.12, 0.1, 0.15, 0.11, 0.13]),
            ([1.0, 2.0, 3.0], [2.0, 2.5, 1.5, 2.2]),
        ]
        for a, b in cases:
            got = float(welch_t(list(a), list(b)))
            ta, tb = np.asarray(a), np.asarray(b)
            se = math.sqrt(ta.var(ddof=1) / len(a) + tb.var(ddof=1) / len(b))
            want = (ta.mean() - tb.mean()) / se
            if math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9):
                continue
            pop = (ta.mean() - tb.mean()) / math.sqrt(ta.var() / len(a) + tb.var() / len(b))
            if math.isclose(got, pop, rel_tol=1e-6):
                raise CheckFailed("use the sample variance with divisor n - 1 (ddof=1), not n.")
            if math.isclose(got, -want, rel_tol=1e-6):
                raise CheckFailed("the sign is flipped: compute mean(a) - mean(b).")
            raise CheckFailed(f"for a={a}, b={b} you gave {got:.4f}, Welch's t is {want:.4f}.")
        return "Welch's t = (mean_a - mean_b) / sqrt(s_a^2/n_a + s_b^2/n_b) on 2 cases."

    return run_check("Welch's t statistic", check)
