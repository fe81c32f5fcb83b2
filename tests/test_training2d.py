"""Contrastive divergence on an easy 2D mixture reaches a stated KL and TV in a fixed budget.

The easy mixture (4 equal Gaussians, sigma 0.4, radius 2), seed 0, 400 training steps of
the course's healthy settings (``ebm_lib.toy2d.train.Settings2D``): the learned density,
normalised on a 60 x 60 grid, must reach KL(data || model) < 0.3 and TV < 0.3. A flat
(uniform) density scores KL 1.74, TV 0.72 here; exact-but-wrong mode weights score
about KL 0.1, so these thresholds say "found all four modes, roughly right".
"""

import pytest
import torch

from ebm_lib.toy2d import datasets as datasets2d
from ebm_lib.toy2d.grid import learned_density_kl_tv, model_density_grid
from ebm_lib.toy2d.train import Settings2D, fit_2d

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

KL_THRESHOLD = 0.3
TV_THRESHOLD = 0.3


def test_healthy_run_reaches_the_kl_and_tv_thresholds():
    run = fit_2d(Settings2D(n_steps=400, chunk=100), seed=0)
    assert run.diverged is None
    assert run.kl[-1] < KL_THRESHOLD, run.kl
    assert run.tv[-1] < TV_THRESHOLD, run.tv
    assert run.kl[-1] < 0.3 * run.kl[0]  # it learned: far better than after the first chunk
    assert len(run.history["gap"]) == 400


def test_divergence_is_caught_and_training_stops():
    settings = Settings2D(alpha=0.0, lr=0.02, final_lr_fraction=1.0, max_grad_norm=None, n_steps=100, chunk=50)
    run = fit_2d(settings, seed=0)
    assert run.diverged is not None and "diverged" in run.diverged
    assert len(run.history["gap"]) < 100


def test_model_density_of_the_true_energy_is_the_truth():
    energy = datasets2d.easy_mixture()
    reference = datasets2d.reference_grid("mixture4", 40)
    grid = model_density_grid(energy, reference, oversample=4)
    assert abs(grid.probabilities.sum() - 1) < 1e-9
    scores = learned_density_kl_tv(energy, reference, oversample=4)
    assert scores["kl"] < 1e-6 and scores["tv"] < 1e-3
    shifted = learned_density_kl_tv(lambda x: energy(x) + 1e4, reference, oversample=4)
    assert shifted["tv"] < 1e-3  # Z absorbs a constant


def test_flipped_sign_is_far_from_the_truth():
    energy = datasets2d.easy_mixture()
    reference = datasets2d.reference_grid("mixture4", 40)
    assert learned_density_kl_tv(lambda x: -energy(x).clamp(max=50), reference)["tv"] > 0.9
    assert torch.isfinite(torch.tensor(learned_density_kl_tv(energy, reference)["kl"]))
