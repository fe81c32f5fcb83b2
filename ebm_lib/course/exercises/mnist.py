"""Self-checks for notebook 5 (an EBM on MNIST: outlier AUROC, the sign convention, temperature)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ebm_lib.course.exercises._core import CheckFailed, CheckResult, run_check
from ebm_lib.mnist.evaluate import energy_auroc

# --- exercise 1: the AUROC of the energy as an outlier score ------------------------------


def _auroc_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [
        ("overlapping Gaussians", torch.randn(300, generator=g), torch.randn(200, generator=g) + 1.0),
        ("perfectly separated", torch.rand(50, generator=g), torch.rand(70, generator=g) + 2.0),
        ("outliers with LOWER energy", torch.randn(100, generator=g) + 2.0, torch.randn(120, generator=g)),
        (
            "many ties",
            torch.randint(0, 4, (200,), generator=g).float(),
            torch.randint(1, 5, (150,), generator=g).float(),
        ),
        ("sets of unequal size", torch.randn(17, generator=g), torch.randn(400, generator=g) + 0.3),
    ]


def check_auroc(auroc: Callable[[torch.Tensor, torch.Tensor], float]) -> CheckResult:
    """Check ``auroc(energy_in, energy_out)``: the probability that an outlier has a higher energy
    than an in-distribution input (ties count one half), compared with the library's
    ``ebm_lib.mnist.evaluate.energy_auroc`` (scikit-learn's ``roc_auc_score``) on five pairs of energy sets."""

    def check() -> str:
        for name, e_in, e_out in _auroc_cases():
            got = float(auroc(e_in.clone(), e_out.clone()))
            want = energy_auroc(e_in, e_out)
            if math.isclose(got, want, abs_tol=1e-6):
                continue
            if math.isclose(got, 1.0 - want, abs_tol=1e-6) and not math.isclose(want, 0.5, abs_tol=1e-6):
                raise CheckFailed(
                    f"on {name!r} you return {got:.4f}, the AUROC is {want:.4f}: your score is upside down. "
                    "The energy is the outlier score: an outlier should get a HIGHER energy than a digit "
                    "(low energy = likely), so count pairs with E(outlier) > E(in)."
                )
            strict = (e_out[:, None] > e_in[None, :]).double().mean().item()
            with_ties = (e_out[:, None] >= e_in[None, :]).double().mean().item()
            if math.isclose(got, strict, abs_tol=1e-6) or math.isclose(got, with_ties, abs_tol=1e-6):
                raise CheckFailed(
                    f"on {name!r} you return {got:.4f}, the AUROC is {want:.4f}: a tie E(outlier) = E(in) "
                    "counts one half, not 0 or 1."
                )
            raise CheckFailed(
                f"on {name!r} ({len(e_in)} in, {len(e_out)} out) you return {got:.4f}, the AUROC is {want:.4f}. "
                "Compare every outlier with every in-distribution input: the mean over all pairs of "
                "[E(out) > E(in)] + 0.5 [E(out) = E(in)]."
            )
        return "your AUROC matches scikit-learn's roc_auc_score on all five cases, ties and unequal sizes included."

    return run_check("outlier AUROC", check)


# --- exercise 2: turning a network that returns -E into an ebm_lib energy ------------------


class _LogDensityNet(nn.Module):
    """A small net in the other convention: it returns a log-density (-E), high = likely."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.SiLU(), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(-1)


def check_sign_flip(as_energy: Callable[[nn.Module], nn.Module]) -> CheckResult:
    """Check ``as_energy(net)``: ``net`` returns -E(x) (a log-density, high = likely); the result
    must be an ``nn.Module`` that returns E(x), shape (B,), differentiable in x, and that
    trains ``net``'s own parameters (no copy)."""

    def check() -> str:
        with torch.random.fork_rng():
            net = _LogDensityNet()
        energy = as_energy(net)
        if not isinstance(energy, nn.Module):
            raise CheckFailed(
                f"return an nn.Module (got {type(energy).__name__}), so that training and the sampler can "
                "switch it to eval mode and find its parameters."
            )
        g = torch.Generator().manual_seed(1)
        x = (torch.rand((6, 1, 28, 28), generator=g) * 2 - 1).requires_grad_(True)
        out = energy(x)
        want = -net(x)
        if not isinstance(out, torch.Tensor) or out.shape != (6,):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CheckFailed(f"6 images must give 6 energies, shape (6,); got {got}.")
        if torch.allclose(out, -want, atol=1e-6):
            raise CheckFailed("your module returns the net's output unchanged: E(x) = -(log-density), flip the sign.")
        if not torch.allclose(out, want, atol=1e-6):
            raise CheckFailed("the energies differ from -net(x); E(x) must be exactly minus the net's output.")
        if not out.requires_grad:
            raise CheckFailed("the energy is not differentiable in x (did you use .detach() or torch.no_grad()?).")
        ours = {id(p) for p in energy.parameters()}
        if not all(id(p) in ours for p in net.parameters()):
            raise CheckFailed(
                "the module does not hold the net's own parameters (store the net as an attribute, "
                "self.net = net, rather than a copy), so an optimiser on it would not train the net."
            )
        (grad,) = torch.autograd.grad(out.sum(), x)
        (want_grad,) = torch.autograd.grad(-net(x).sum(), x)
        if not torch.allclose(grad, want_grad, atol=1e-6):
            raise CheckFailed("grad_x E(x) differs from -grad_x net(x).")
        return (
            "E(x) = -net(x), differentiable in x, with the net's own parameters: ready for langevin_sample and train."
        )

    return run_check("sign-flip adapter", check)


# --- exercise 3: the noise scale for a given temperature ----------------------------------


def check_noise_for_temperature(noise_scale: Callable[[float, float], float]) -> CheckResult:
    """Check ``noise_scale(step_size, temperature)``: the s with T = s^2 / (2 * step_size)."""
    cases = [(10.0, 1.25e-6), (10.0, 1.0), (0.01, 1.0), (1.0, 0.5), (0.1, 0.05), (2.0, 4.0)]

    def check() -> str:
        for h, t in cases:
            got = float(noise_scale(h, t))
            want = math.sqrt(2 * h * t)
            if math.isclose(got, want, rel_tol=1e-6):
                continue
            hint = "solve T = s^2 / (2 h) for s."
            if math.isclose(got, 2 * h * t, rel_tol=1e-6):
                hint = "you returned s^2 = 2 h T: take the square root."
            elif math.isclose(got, math.sqrt(h * t), rel_tol=1e-6):
                hint = "the factor 2 is missing: s = sqrt(2 h T)."
            elif math.isclose(got, math.sqrt(2 * h) * t, rel_tol=1e-6):
                hint = "the temperature goes under the square root too: s = sqrt(2 h T)."
            raise CheckFailed(
                f"for step_size {h:g} and temperature {t:g} you return {got:.6g}, want {want:.6g}; {hint}"
            )
        return "s = sqrt(2 h T) for six step sizes and temperatures."

    return run_check("noise for a temperature", check)
