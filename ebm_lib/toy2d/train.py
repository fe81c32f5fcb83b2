"""Training and measuring energy networks on 2D datasets (notebooks 3 and 4, the ablation).

Thin glue around the library: ``fit_2d`` builds an ``MLPEnergyNet`` and a ``ReplayBuffer`` whose
chains start uniformly over the dataset's box, and calls ``ebm_lib.training.train`` with the
settings' ``CDConfig``, measuring every ``eval_every`` steps the grid-normalised KL(data || model)
and TV of the learned density on a grid (``ebm_lib.toy2d.grid``).

The network returns the energy E(x): low energy = likely, p_theta(x) = exp(-E(x)) / Z.

``long_run_samples`` runs long Langevin chains on a trained energy from fresh uniform
noise: what the model *is*, as opposed to the short chains of training, which only show
what the training procedure produces (Nijkamp et al. 2020).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ebm_lib.buffer import ReplayBuffer
from ebm_lib.nets import MLPEnergyNet
from ebm_lib.samplers import LangevinConfig
from ebm_lib.toy2d.datasets import Dataset2D, get_dataset
from ebm_lib.toy2d.grid import DensityGrid, density_on_grid, grid_kl_tv
from ebm_lib.toy2d.metrics import energy_distance
from ebm_lib.training import CDConfig, DivergenceError, History, train

HEALTHY_CD = CDConfig(
    LangevinConfig(n_steps=20, step_size=0.05, noise_scale=None, grad_clip=None, clamp=None),
    alpha=0.01,
    max_grad_norm=1.0,
    max_abs_energy=1e3,
)
"""The course's healthy CD step in 2D: 20 Langevin steps of size 0.05 with the exact noise
sqrt(2 * step_size) (temperature 1), clamped to the dataset's box (``clamp=None`` here: the box
is filled in when a run starts), regulariser alpha = 0.01, the parameter gradient clipped at
norm 1, divergence declared at a mean |E| above 1000."""


@dataclass
class Settings2D:
    """Everything that defines a 2D training run (the defaults are the course's healthy run).

    ``cd``: the contrastive-divergence step (``HEALTHY_CD`` by default; a Langevin ``clamp`` of
    None means the dataset's box). Adam with learning rate ``lr`` decayed linearly to
    ``lr * final_lr_fraction``. Buffer of ``buffer_size`` samples with re-initialisation probability
    ``reinit_prob`` (1.0: fresh noise every step, that is, no buffer). The learned density is
    measured on a ``grid_bins`` x ``grid_bins`` grid every ``eval_every`` training steps.
    """

    dataset: str = "mixture4"
    n_data: int = 5000
    width: int = 64
    n_blocks: int = 2
    n_steps: int = 800
    batch_size: int = 128
    lr: float = 1e-3
    final_lr_fraction: float = 0.1
    cd: CDConfig = field(default_factory=lambda: copy.deepcopy(HEALTHY_CD))
    buffer_size: int = 10000
    reinit_prob: float = 0.05
    grid_bins: int = 60
    eval_every: int = 50


@dataclass
class Run2D:
    """What ``fit_2d`` returns.

    cd: the CD config the run used (the clamp filled in). history: per-step metrics of
    ``train`` (e_data, e_samples, gap, langevin_grad_norm, ...). eval_steps: the step of each
    evaluation; kl, tv: grid KL(data || model) and TV there. snapshots: (step, learned density
    grid, copy of the buffer's contents) at each evaluation, when asked for. diverged: the
    DivergenceError message, or None. seconds: training time without the evaluations.
    """

    model: MLPEnergyNet
    buffer: ReplayBuffer
    dataset: Dataset2D
    reference: DensityGrid
    settings: Settings2D
    cd: CDConfig
    history: History = field(default_factory=dict)
    eval_steps: list[int] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    tv: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, DensityGrid, torch.Tensor]] = field(default_factory=list)
    seconds: float = 0.0
    diverged: str | None = None


def fit_2d(settings: Settings2D, seed: int = 0, snapshots: bool = False) -> Run2D:
    """Train an MLP energy on ``settings.dataset`` by contrastive divergence; deterministic given the seed.

    The data (``settings.n_data`` points), the network's initial weights, the batches,
    the buffer draws and the Langevin noise all come from ``seed``. Training stops early,
    keeping what it has, if ``DivergenceError`` is raised.
    """
    gen = torch.Generator().manual_seed(seed)
    dataset = get_dataset(settings.dataset)
    data = dataset.sample(settings.n_data, gen)
    torch.manual_seed(seed)  # the network's initial weights
    model = MLPEnergyNet(2, width=settings.width, n_blocks=settings.n_blocks)
    buffer = ReplayBuffer(settings.buffer_size, (2,), reinit_prob=settings.reinit_prob, init_fn=dataset.noise)
    reference = dataset.reference_grid(settings.grid_bins)
    cd = settings.cd
    if cd.langevin.clamp is None:  # None: the dataset's box
        cd = replace(cd, langevin=replace(cd.langevin, clamp=(min(dataset.extent), max(dataset.extent))))
    run = Run2D(model, buffer, dataset, reference, settings, cd)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    done = 0
    while done < settings.n_steps:
        n = min(settings.eval_every, settings.n_steps - done)
        fraction = done / settings.n_steps  # linear decay of the learning rate
        for group in optimizer.param_groups:
            group["lr"] = settings.lr * (1 - (1 - settings.final_lr_fraction) * fraction)
        start = time.perf_counter()
        try:
            train(model, data, optimizer, buffer, run.cd, n, settings.batch_size, gen, (), False, run.history, done)
        except DivergenceError as err:
            run.diverged = str(err)
        run.seconds += time.perf_counter() - start
        done = len(run.history.get("gap", []))
        learned = density_on_grid(model, reference.extent, reference.bins, oversample=2)
        scores = grid_kl_tv(learned, reference)
        run.eval_steps.append(done)
        run.kl.append(scores["kl"])
        run.tv.append(scores["tv"])
        if snapshots:
            run.snapshots.append((done, learned, buffer.storage[: len(buffer)].clone()))
        if run.diverged:
            break
    return run


def long_run_samples(
    run: Run2D, n: int = 1000, n_steps: int = 500, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n chains of ``n_steps`` Langevin steps on the learned energy, from uniform noise over the
    dataset's box, with the run's step size, noise and clamp: samples of the model itself."""
    x_init = run.dataset.noise(n, generator)
    return replace(run.cd.langevin, n_steps=n_steps).run(run.model, x_init, generator=generator).samples


def evaluate_2d(run: Run2D, seed: int = 0, n: int = 1000, n_steps: int = 500) -> dict[str, float]:
    """Final scores of a run: grid KL and TV of the learned density, and the energy distance
    D^2 between ``n`` long-run samples (``n_steps`` steps) and ``n`` exact data samples."""
    samples = long_run_samples(run, n, n_steps, torch.Generator().manual_seed(10_000 + seed))
    reference = run.dataset.sample(n, torch.Generator().manual_seed(20_000 + seed))
    finite = np.isfinite(run.kl[-1]) if run.kl else False
    return {
        "kl": float(run.kl[-1]) if finite else float("nan"),
        "tv": float(run.tv[-1]) if finite else float("nan"),
        "energy_distance": energy_distance(samples, reference),
        "train_seconds": run.seconds,
    }
