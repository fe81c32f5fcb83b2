"""Self-checks for notebook 1 (energy networks)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ebm_lib.course.exercises._core import CheckFailed, CheckResult, run_check


def check_energy_net(net: nn.Module, sample_shape: Sequence[int], batch_size: int = 8, seed: int = 0) -> CheckResult:
    """Check that ``net`` is a usable energy function on inputs of shape (B, *sample_shape).

    Verifies: one finite scalar per input (shape (B,)); an input's energy does not depend
    on its batch companions, in train mode too; a finite, non-zero input-gradient; and a
    smooth energy, with a non-zero second derivative (a ReLU net's is zero almost
    everywhere, which leaves Langevin with a piecewise-constant gradient).
    """

    def check() -> str:
        g = torch.Generator().manual_seed(seed)
        x = torch.rand((batch_size, *sample_shape), generator=g) * 2 - 1
        was_training = net.training
        net.train()
        try:
            energy = net(x)
            if not isinstance(energy, torch.Tensor) or energy.shape != (batch_size,):
                got = tuple(energy.shape) if isinstance(energy, torch.Tensor) else type(energy).__name__
                raise CheckFailed(
                    f"a batch of {batch_size} inputs must give energies of shape ({batch_size},), got {got}. "
                    "End with a layer of one output unit and .squeeze(-1)."
                )
            if not torch.isfinite(energy).all():
                raise CheckFailed("some energies are not finite (NaN or inf).")
            # the first input again, now among other companions, then alone
            other = net(torch.cat([x[:1], torch.rand((batch_size - 1, *sample_shape), generator=g)]))[0]
            alone = other if not torch.allclose(other, energy[0], atol=1e-5) else net(x[:1])[0]
            if not torch.allclose(alone, energy[0], atol=1e-5):
                raise CheckFailed(
                    "an input's energy changes with the other inputs in its batch. Remove batch "
                    "normalisation (or anything else that mixes samples of a batch)."
                )
            xg = x.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(net(xg).sum(), xg, create_graph=True)
            if not torch.isfinite(grad).all() or grad.abs().sum() == 0:
                raise CheckFailed("the input-gradient grad_x E is zero or not finite; Langevin needs it.")
            direction = torch.randn(xg.shape, generator=g)
            (hvp,) = torch.autograd.grad((grad * direction).sum(), xg)
            if hvp.abs().max() < 1e-7:
                raise CheckFailed(
                    "the energy is piecewise linear (its second derivative is zero), so its gradient "
                    "jumps between flat pieces. Use a smooth activation such as nn.SiLU instead of ReLU."
                )
        finally:
            net.train(was_training)
        return "scalar energies, independent of the batch, with a smooth, non-zero input-gradient."

    return run_check("energy network", check)


def _true_conv_flops(c_in: int, c_out: int, kernel_size: int, h_out: int, w_out: int) -> int:
    return 2 * c_in * c_out * kernel_size * kernel_size * h_out * w_out


def check_conv_flops(conv_flops: Callable[[int, int, int, int, int], int]) -> CheckResult:
    """Check ``conv_flops(c_in, c_out, kernel_size, h_out, w_out)``: FLOPs of one Conv2d on one image.

    Convention of the course: FLOPs = 2 x multiply-accumulates, biases ignored.
    """
    cases = [(1, 16, 5, 16, 16), (16, 32, 3, 8, 8), (3, 64, 4, 14, 7), (32, 32, 1, 28, 28)]

    def check() -> str:
        for case in cases:
            answer, truth = conv_flops(*case), _true_conv_flops(*case)
            if answer == truth:
                continue
            if answer * 2 == truth:
                raise CheckFailed(
                    f"for {case} you gave {answer}, half of {truth}: a multiply-accumulate counts as 2 FLOPs."
                )
            if answer == truth // case[2]:
                raise CheckFailed(f"for {case} you gave {answer}, expected {truth}: the kernel is k x k, not k.")
            raise CheckFailed(
                f"for (c_in, c_out, k, h_out, w_out) = {case} you gave {answer}, expected {truth}. "
                "Each output value needs c_in * k * k multiply-accumulates."
            )
        return f"all {len(cases)} cases match 2 * c_in * c_out * k^2 * h_out * w_out."

    return run_check("FLOPs of a convolution", check)


def check_largest_singular_value(estimate: Callable[[torch.Tensor, int], float | torch.Tensor]) -> CheckResult:
    """Check ``estimate(W, n_iters)``, a power-iteration estimate of W's largest singular value."""

    def check() -> str:
        g = torch.Generator().manual_seed(0)
        for shape in [(5, 5), (64, 16), (3, 40)]:
            w = torch.randn(shape, generator=g)
            truth = torch.linalg.matrix_norm(w, ord=2).item()
            answer = float(estimate(w.clone(), 200))
            if not math.isfinite(answer):
                raise CheckFailed(
                    f"for a random {shape} matrix you returned {answer}: normalise v inside the loop, at every "
                    "iteration, or W^n v overflows."
                )
            if abs(answer - truth) > 1e-3 * truth:
                hint = (
                    " Did you return a squared value (the top eigenvalue of W^T W)?"
                    if abs(answer - truth**2) < 1e-2 * truth**2
                    else ""
                )
                raise CheckFailed(
                    f"for a random {shape} matrix you returned {answer:.5f}, "
                    f"the largest singular value is {truth:.5f}.{hint}"
                )
        return "matches torch.linalg.matrix_norm(W, ord=2) on three matrices to 0.1%."

    return run_check("largest singular value by power iteration", check)
