"""The self-checks of notebook 2 accept right answers, explain wrong ones, and never crash."""

import math

import pytest
import torch

from ebm_lib.course.exercises import (
    check_langevin_step,
    check_stationary_variance,
    check_step_size_choice,
    step_size_distance,
)
from ebm_lib.course.exercises.langevin import STEP_BEST, STEP_TARGET

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def right_step(energy_fn, x, step_size, noise_scale, noise):
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(energy_fn(x).sum(), x)
    return (x - step_size * grad + noise_scale * noise).detach()


def test_langevin_step_check(capsys):
    assert check_langevin_step(right_step)
    assert "Correct" in capsys.readouterr().out

    def uphill(energy_fn, x, step_size, noise_scale, noise):
        return right_step(energy_fn, x, -step_size, noise_scale, noise)

    def half(energy_fn, x, step_size, noise_scale, noise):
        return right_step(energy_fn, x, step_size / 2, noise_scale, noise)

    def attached(energy_fn, x, step_size, noise_scale, noise):
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(energy_fn(x).sum(), x)
        return x - step_size * grad + noise_scale * noise

    def todo(*args):
        raise NotImplementedError

    for fn, words in [(uphill, "uphill"), (half, "step_size / 2"), (attached, "detach"), (todo, "Not done yet")]:
        assert not check_langevin_step(fn)
        assert words in capsys.readouterr().out


def test_stationary_variance_check(capsys):
    assert check_stationary_variance(lambda lam, h, s: s**2 / (h * lam * (2 - h * lam)))
    out = capsys.readouterr().out
    assert "Correct" in out and "measured" in out
    assert not check_stationary_variance(lambda lam, h, s: 1 / lam)
    assert "variance of p itself" in capsys.readouterr().out
    assert not check_stationary_variance(lambda lam, h, s: s**2 / (2 * h * lam))
    assert "limit h -> 0" in capsys.readouterr().out


def test_the_best_step_size_is_the_best_on_the_grid():
    h, n = STEP_BEST
    assert step_size_distance(h, n) <= STEP_TARGET
    for other in (0.09, 0.1, 0.11, 0.12, 0.13):  # nothing reaches the target 5 steps sooner
        assert step_size_distance(other, n - 5) > STEP_TARGET


def test_step_size_check_explains_failures(capsys):
    assert check_step_size_choice(lambda: STEP_BEST)
    assert "Correct" in capsys.readouterr().out
    assert not check_step_size_choice(lambda: (0.15, 100))
    assert "bias alone" in capsys.readouterr().out
    assert not check_step_size_choice(lambda: (0.02, 50))
    assert "have not arrived" in capsys.readouterr().out
    assert not check_step_size_choice(lambda: (0.03, 300))
    assert "gradient evaluations" in capsys.readouterr().out
    assert not check_step_size_choice(lambda: (0.3, 10))
    assert "diverges" in capsys.readouterr().out
    assert math.isfinite(step_size_distance(0.05, 0))
