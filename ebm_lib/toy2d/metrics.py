"""How far are 2D samples from the truth? Two-sample distances, and sampler diagnostics (notebooks 2-6).

    energy_distance, mean_pairwise_distance    the course's main two-sample distance (below) and
                                               its within-sample term
    mmd_rbf, mean_kernel                       MMD^2 with Gaussian kernels, for comparison
    mode_occupancy, occupancy_tv               the fraction of samples in each mode (labels from
                                               ``ToyEnergy.assign_modes``) against the true weights
    histogram_probabilities, histogram_tv, histogram_kl
                                               a 2D histogram against a density on a grid
                                               (``ebm_lib.toy2d.grid.DensityGrid``)
    autocorrelation, integrated_autocorrelation_time, effective_sample_size
                                               sampler diagnostics: how many independent samples
                                               a set of chains is worth
    mean_gradient_norm                         how steep the energy is where the samples are

The main distance is the energy distance (Szekely & Rizzo, 2004):

    D^2(P, Q) = 2 E|X - Y| - E|X - X'| - E|Y - Y'|,    X, X' ~ P and Y, Y' ~ Q independent.

It is zero exactly when P = Q, needs no bandwidth (unlike MMD with a Gaussian kernel, of
which it is a special case: the MMD^2 of the kernel k(a, b) = |a| + |b| - |a - b|), and is
in squared units of x. We estimate it without bias (U-statistics: the within-sample
means skip the zero diagonal), so for two samples of the same law it averages zero and
can come out slightly negative; its noise is of order 1 / n. Compare distances only
between runs with the same numbers of samples, and against the noise floor: the
distance between two independent exact samples of the same sizes.
"""

from __future__ import annotations

import numpy as np
import torch

from ebm_lib.samplers import Energy, energy_and_grad
from ebm_lib.toy2d.grid import DensityGrid


def _finite_rows(x: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x).detach().double()
    return x[torch.isfinite(x).all(dim=1)]


def energy_distance(x: torch.Tensor, y: torch.Tensor, y_self_term: float | None = None) -> float:
    """Unbiased estimate of the squared energy distance D^2 between samples x (n, d) and y (m, d).

    D^2 = 2 mean_ij |x_i - y_j| - mean_{i != i'} |x_i - x_i'| - mean_{j != j'} |y_j - y_j'|
    (Euclidean norms, float64). Rows of x with NaN or inf are dropped first (a diverged
    chain is not a sample). ``y_self_term`` may pass a precomputed mean_{j != j'} |y_j - y_j'|
    (``mean_pairwise_distance(y)``), which saves the largest product when y is a fixed
    reference set.
    """
    x, y = _finite_rows(x), _finite_rows(y)
    if len(x) < 2 or len(y) < 2:
        return float("nan")
    xy = torch.cdist(x, y).mean()
    if y_self_term is None:
        y_self_term = mean_pairwise_distance(y)
    return float(2 * xy - mean_pairwise_distance(x) - y_self_term)


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """mean over pairs i != j of |x_i - x_j| (the within-sample term of the energy distance)."""
    x = _finite_rows(x)
    n = len(x)
    return float(torch.cdist(x, x).sum() / (n * (n - 1)))


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, bandwidths: list[float], y_self_term: float | None = None) -> float:
    """Unbiased MMD^2 with the kernel k(a, b) = sum_s exp(-|a - b|^2 / (2 s^2)) over bandwidths s.

    MMD^2 = mean_{i != i'} k(x_i, x_i') + mean_{j != j'} k(y_j, y_j') - 2 mean_ij k(x_i, y_j).
    Small bandwidths make it sensitive to fine structure (the width of narrow modes) that
    the energy distance hardly sees. Kernel sums run in float32 (fast; ample for MMD^2 values
    above 1e-6). ``y_self_term`` may pass ``mean_kernel(y, bandwidths)`` for a fixed reference y.
    """
    x, y = _finite_rows(x), _finite_rows(y)
    if y_self_term is None:
        y_self_term = mean_kernel(y, bandwidths)
    cross = _kernel_sum(x, y, bandwidths) / (len(x) * len(y))
    return mean_kernel(x, bandwidths) + y_self_term - 2 * cross


def mean_kernel(x: torch.Tensor, bandwidths: list[float]) -> float:
    """mean over pairs i != j of sum_s exp(-|x_i - x_j|^2 / (2 s^2)) (a within-sample MMD term)."""
    x = _finite_rows(x)
    n = len(x)
    return (_kernel_sum(x, x, bandwidths) - len(bandwidths) * n) / (n * (n - 1))


def _kernel_sum(a: torch.Tensor, b: torch.Tensor, bandwidths: list[float]) -> float:
    d2 = torch.cdist(a.float(), b.float()).square()
    # clamping at exp(-80) keeps exp() out of the denormal range, which is very slow on CPUs
    return sum(float(torch.exp((d2 * (-0.5 / s**2)).clamp_min(-80.0)).sum()) for s in bandwidths)


def mode_occupancy(labels: torch.Tensor, n_modes: int) -> torch.Tensor:
    """Fraction of samples assigned to each of ``n_modes`` modes, shape (n_modes,), float64."""
    counts = torch.bincount(torch.as_tensor(labels).long(), minlength=n_modes).double()
    return counts / counts.sum().clamp_min(1)


def occupancy_tv(occupancy: torch.Tensor, weights: torch.Tensor) -> float:
    """Total variation between mode occupancies and the true mode weights: 1/2 sum_k |o_k - w_k|.

    0 when every mode holds its share; 1 - w_max when all samples sit in the heaviest mode.
    """
    return 0.5 * float((torch.as_tensor(occupancy).double() - torch.as_tensor(weights).double()).abs().sum())


def histogram_probabilities(samples: torch.Tensor, grid: DensityGrid) -> tuple[np.ndarray, float]:
    """Fraction of samples in each cell of ``grid`` (a ``DensityGrid``), and the fraction outside it.

    Returns (probabilities of shape (ny, nx), rows are y; fraction outside). Non-finite
    samples count as outside.
    """
    x = torch.as_tensor(samples).detach().double().numpy()
    n = len(x)
    counts, _, _ = np.histogram2d(x[:, 1], x[:, 0], bins=[grid.y_edges, grid.x_edges])
    inside = counts.sum()
    return counts / max(n, 1), float((n - inside) / max(n, 1))


def histogram_tv(samples: torch.Tensor, grid: DensityGrid) -> float:
    """Total variation between the samples' histogram and the grid's cell probabilities.

    TV = 1/2 (sum_cells |p_hat - p| + p_hat(outside)), treating the grid as holding all of
    p's mass. With n samples and K cells that matter, even exact samples give about
    sqrt(K / (2 pi n)) (the noise floor): use coarse grids (30-50 cells a side) and
    thousands of samples.
    """
    p_hat, outside = histogram_probabilities(samples, grid)
    return 0.5 * (float(np.abs(p_hat - grid.probabilities).sum()) + outside)


def histogram_kl(samples: torch.Tensor, grid: DensityGrid, floor: float = 1e-12) -> float:
    """KL(p_hat || p) = sum_cells p_hat log(p_hat / p) between the histogram and the grid.

    Samples outside the grid are dropped (and p_hat renormalised), cells of p are floored
    at ``floor``. This direction stays finite with empty cells; it is biased upwards by
    about (K_occupied - 1) / (2 n) for exact samples (K_occupied non-empty cells).
    """
    p_hat, outside = histogram_probabilities(samples, grid)
    if outside >= 1:
        return float("nan")
    p_hat = p_hat / (1 - outside)
    p = np.maximum(grid.probabilities, floor)
    mask = p_hat > 0
    return float((p_hat[mask] * np.log(p_hat[mask] / p[mask])).sum())


def autocorrelation(chains: torch.Tensor) -> torch.Tensor:
    """Autocorrelation rho_k of chains (T, C) for lags 0..T-1, pooled over the C chains.

    Centred on the grand mean and normalised by the pooled variance, so chains that sit in
    different modes keep a high autocorrelation (they have not mixed) instead of looking
    independent. Computed by FFT.
    """
    x = torch.as_tensor(chains).detach().double()
    t = x.shape[0]
    centred = x - x.mean()
    var = (centred * centred).mean()
    if var <= 0:
        return torch.ones(t, dtype=torch.float64)
    spectrum = torch.fft.rfft(centred, n=2 * t, dim=0)
    acov = torch.fft.irfft(spectrum * spectrum.conj(), n=2 * t, dim=0)[:t]
    acov = acov.mean(dim=1) / t  # the biased (1/T) estimate, standard for ESS
    return acov / var


def integrated_autocorrelation_time(chains: torch.Tensor) -> float:
    """tau = 1 + 2 sum_k rho_k for chains (T, C), truncated by Geyer's initial positive sequence.

    Pairs rho_{2m} + rho_{2m+1} are summed while they stay positive. tau = 1 for independent
    draws; a chain with tau = 20 needs 20 steps per independent sample.
    """
    rho = autocorrelation(chains)
    pairs = rho[: len(rho) - len(rho) % 2].view(-1, 2).sum(1)
    negative = torch.nonzero(pairs <= 0)
    stop = int(negative[0]) if len(negative) else len(pairs)
    return max(float(2 * pairs[:stop].sum() - 1), 1.0)


def effective_sample_size(chains: torch.Tensor) -> float:
    """Effective number of independent samples in chains (T, C): C * T / tau."""
    t, c = chains.shape
    return t * c / integrated_autocorrelation_time(chains)


def mean_gradient_norm(energy: Energy, samples: torch.Tensor) -> float:
    """Mean L2 norm of grad_x E over the finite samples (the analytic gradient when the energy has one).

    At stationarity it reflects the energy's curvature (for a Gaussian, E|grad E|^2 = trace
    of the precision); a value that keeps growing during a run is an early sign of divergence.
    """
    x = torch.as_tensor(samples).detach()
    x = x[torch.isfinite(x).flatten(1).all(dim=1)]
    if len(x) == 0:
        return float("nan")
    _, grad = energy_and_grad(energy, x)
    return float(grad.flatten(1).norm(dim=1).mean())
