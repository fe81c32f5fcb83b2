"""The self-checks of notebook 6 accept right answers and explain wrong ones."""

import pytest

from ebm_lib.course.exercises import check_annealed, check_noisy_gaussian_score, check_tweedie
from ebm_lib.samplers import langevin_sample

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def verdict(capsys) -> str:
    return capsys.readouterr().out


def not_done(*args):
    raise NotImplementedError


def test_noisy_gaussian_score(capsys):
    assert check_noisy_gaussian_score(lambda x, m, s, sig: -(x - m) / (s**2 + sig**2))
    assert "Correct" in verdict(capsys)
    mistakes = {
        "points away": lambda x, m, s, sig: (x - m) / (s**2 + sig**2),
        "VARIANCES": lambda x, m, s, sig: -(x - m) / (s + sig) ** 2,
        "clean Gaussian": lambda x, m, s, sig: -(x - m) / s**2,
        "noise kernel alone": lambda x, m, s, sig: -(x - m) / sig**2,
        "shape": lambda x, m, s, sig: (x - m).sum(),
    }
    for hint, fn in mistakes.items():
        assert not check_noisy_gaussian_score(fn)
        assert hint in verdict(capsys)
    assert not check_noisy_gaussian_score(not_done)
    assert "Not done yet" in verdict(capsys)


def test_tweedie(capsys):
    assert check_tweedie(lambda grad, x, sigma: x - sigma**2 * grad(x))
    assert "Correct" in verdict(capsys)
    mistakes = {
        "UP the energy": lambda grad, x, sigma: x + sigma**2 * grad(x),
        "not sigma": lambda grad, x, sigma: x - sigma * grad(x),
        "expected x - sigma^2": lambda grad, x, sigma: x,
    }
    for hint, fn in mistakes.items():
        assert not check_tweedie(fn)
        assert hint in verdict(capsys)


def annealed_right(energy_at, x, sigmas, steps_per_level, step_ratio, generator):
    for sigma in sigmas.tolist():
        x = langevin_sample(energy_at(sigma), x, steps_per_level, step_ratio * sigma**2, generator=generator).samples
    return x


def test_annealed(capsys):
    assert check_annealed(annealed_right)
    assert "Correct" in verdict(capsys)

    def smallest_first(energy_at, x, sigmas, steps, ratio, g):
        return annealed_right(energy_at, x, sigmas.flip(0), steps, ratio, g)

    def last_level_only(energy_at, x, sigmas, steps, ratio, g):
        sigma = sigmas[-1].item()
        return langevin_sample(energy_at(sigma), x, steps * len(sigmas), ratio * sigma**2, generator=g).samples

    for hint, fn in {"LARGEST": smallest_first, "total variation": last_level_only}.items():
        assert not check_annealed(fn)
        assert hint in verdict(capsys)
