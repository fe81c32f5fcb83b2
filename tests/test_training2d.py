"""Contrastive divergence on an easy 2D mixture reaches a stated KL and TV in a fixed budget.

The easy mixture (4 equal Gaussians, sigma 0.4, radius 2), seed 0, 400 training steps of
the course's healthy settings (``ebm_lib.toy2d.train.Settings2D``): the learned density,
normalised on a 60 x 60 grid, must reach KL(data || model) < 0.3 and TV < 0.3. A flat
(uniform) density scores KL 1.74, TV 0.72 here; exact-but-wrong mode weights score
about KL 0.1, so these thresholds say "found all four modes, roughly right".
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

from ebm_lib.nets import MLPEnergyNet
from ebm_lib.toy2d.datasets import get_dataset
from ebm_lib.toy2d.grid import density_on_grid, grid_kl_tv
from ebm_lib.toy2d.train import HEALTHY_CD, Settings2D, fit_2d, long_run_samples

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

KL_THRESHOLD = 0.3
TV_THRESHOLD = 0.3


def test_healthy_run_reaches_the_kl_and_tv_thresholds():
    run = fit_2d(Settings2D(n_steps=400, eval_every=100), seed=0)
    assert run.diverged is None
    assert run.kl[-1] < KL_THRESHOLD, run.kl
    assert run.tv[-1] < TV_THRESHOLD, run.tv
    assert run.kl[-1] < 0.3 * run.kl[0]  # it learned: far better than after the first evaluation
    assert len(run.history["gap"]) == 400
    assert run.eval_steps == [100, 200, 300, 400]


def test_divergence_is_caught_and_training_stops():
    cd = replace(HEALTHY_CD, alpha=0.0, max_grad_norm=None)
    run = fit_2d(Settings2D(cd=cd, lr=0.02, final_lr_fraction=1.0, n_steps=100, eval_every=50), seed=0)
    assert run.diverged is not None and "diverged" in run.diverged
    assert len(run.history["gap"]) < 100


def test_the_clamp_is_the_dataset_box_unless_set(monkeypatch):
    settings = Settings2D(n_steps=2, eval_every=2, n_data=100, buffer_size=100)
    run = fit_2d(settings, seed=0, snapshots=True)
    assert settings.cd.langevin.clamp is None and HEALTHY_CD.langevin.clamp is None  # left as they were
    assert run.cd.langevin.clamp == (-4.0, 4.0)  # the box of mixture4
    wide = replace(HEALTHY_CD, langevin=replace(HEALTHY_CD.langevin, clamp=(-9.0, 9.0)))
    assert fit_2d(replace(settings, cd=wide), seed=0).cd.langevin.clamp == (-9.0, 9.0)
    # the snapshot's learned density is the one the KL was computed from, evaluated once
    sizes = []
    forward = MLPEnergyNet.forward
    monkeypatch.setattr(MLPEnergyNet, "forward", lambda self, x: sizes.append(len(x)) or forward(self, x))
    step, learned, _ = fit_2d(settings, seed=0, snapshots=True).snapshots[0]
    assert step == 2 and grid_kl_tv(learned, run.reference)["kl"] == run.kl[0]
    assert sizes.count(120 * 120) == 1  # 60 x 60 cells x 2 x 2 points, one pass per evaluation
    x = long_run_samples(run, 50, 30, torch.Generator().manual_seed(1))
    assert x.shape == (50, 2) and x.abs().max() <= 4.0


def test_density_of_the_true_energy_is_the_truth():
    dataset = get_dataset("mixture4")
    reference = dataset.reference_grid(40)
    energy = dataset.energy
    grid = density_on_grid(energy, reference.extent, reference.bins, oversample=4)
    assert abs(grid.probabilities.sum() - 1) < 1e-9
    scores = grid_kl_tv(grid, reference)
    assert scores["kl"] < 1e-6 and scores["tv"] < 1e-3
    shifted = density_on_grid(lambda x: energy(x) + 1e4, reference.extent, reference.bins, oversample=4)
    assert grid_kl_tv(shifted, reference)["tv"] < 1e-3  # Z absorbs a constant


def test_flipped_sign_is_far_from_the_truth():
    dataset = get_dataset("mixture4")
    reference = dataset.reference_grid(40)
    flipped = density_on_grid(lambda x: -dataset.energy(x).clamp(max=50), reference.extent, reference.bins, 2)
    assert grid_kl_tv(flipped, reference)["tv"] > 0.9
    learned = density_on_grid(dataset.energy, reference.extent, reference.bins, 2)
    assert np.isfinite(grid_kl_tv(learned, reference)["kl"])


def test_a_network_is_evaluated_in_its_dtype_in_eval_mode_and_chunks():
    torch.manual_seed(0)
    net = MLPEnergyNet(2, width=16, n_blocks=1).train()
    seen = []
    net.register_forward_hook(lambda module, args, out: seen.append((args[0].dtype, len(args[0]), module.training)))
    grid = density_on_grid(net, (-2.0, 2.0, -1.0, 1.0), (30, 20), oversample=2, chunk=1000)
    assert grid.density.shape == (20, 30) and net.training  # mode restored
    assert [n for _, n, _ in seen] == [1000, 1000, 400]
    assert all(dtype == torch.float32 and not training for dtype, _, training in seen)
