"""Training and measuring energy networks on 2D datasets (notebooks 3 and 4, the ablation).

Thin glue around the library: ``fit_2d`` builds an ``MLPEnergyNet``, a ``ReplayBuffer``
that starts chains uniformly over the dataset's box, and a ``CDConfig`` with exact-noise
Langevin (noise_scale = sqrt(2 * step_size), so the chains sample p at temperature 1),
then calls ``ebm_lib.training.train`` in chunks, recording after each chunk the
grid-normalised KL(data || model) and TV of ``ebm_lib.toy2d.metrics``.

The network returns the energy E(x): low energy = likely, p_theta(x) = exp(-E(x)) / Z.

``long_run_samples`` runs long Langevin chains on a trained energy from fresh uniform
noise: what the model *is*, as opposed to the short chains of training, which only show
what the training procedure produces (Nijkamp et al. 2020).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ebm_lib.buffer import InitFn, ReplayBuffer
from ebm_lib.nets import MLPEnergyNet
from ebm_lib.samplers import LangevinConfig, langevin_sample
from ebm_lib.toy2d import datasets as datasets2d
from ebm_lib.toy2d.grid import DensityGrid, Extent, learned_density_kl_tv, model_density_grid
from ebm_lib.toy2d.metrics import energy_distance
from ebm_lib.training import CDConfig, DivergenceError, History, train


def box_init(extent: Extent) -> InitFn:
    """Initial distribution of the chains: uniform over the box (x_min, x_max, y_min, y_max)."""
    low = torch.tensor([extent[0], extent[2]])
    high = torch.tensor([extent[1], extent[3]])

    def init(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return low + (high - low) * torch.rand((n, 2), generator=generator)

    return init


@dataclass
class Settings2D:
    """Everything that defines a 2D training run (the defaults are the course's healthy run).

    Langevin: ``n_langevin_steps`` steps of size ``step_size`` with the exact noise
    sqrt(2 * step_size), clamped to the dataset's box. Loss regulariser ``alpha``,
    Adam with learning rate ``lr`` decayed linearly to ``lr * final_lr_fraction``, the
    parameter gradient clipped at ``max_grad_norm``. Buffer of ``buffer_size`` samples
    with re-initialisation probability ``reinit_prob`` (1.0: fresh noise every step,
    that is, no buffer).
    """

    dataset: str = "mixture4"
    n_data: int = 5000
    width: int = 64
    n_blocks: int = 2
    n_steps: int = 800
    batch_size: int = 128
    lr: float = 1e-3
    final_lr_fraction: float = 0.1
    n_langevin_steps: int = 20
    step_size: float = 0.05
    alpha: float = 0.01
    max_grad_norm: float | None = 1.0
    max_abs_energy: float = 1e3
    buffer_size: int = 10000
    reinit_prob: float = 0.05
    grid_bins: int = 60
    chunk: int = 50

    def config(self) -> CDConfig:
        extent = datasets2d.dataset_extent(self.dataset)
        langevin = LangevinConfig(self.n_langevin_steps, self.step_size, None, clamp=(min(extent), max(extent)))
        return CDConfig(
            langevin,
            alpha=self.alpha,
            max_grad_norm=self.max_grad_norm,
            max_abs_energy=self.max_abs_energy,
        )


@dataclass
class Run2D:
    """What ``fit_2d`` returns.

    history: per-step metrics of ``train`` (e_data, e_samples, gap, langevin_grad_norm, ...).
    checkpoints: the step after each chunk; kl, tv: grid KL(data || model) and TV there.
    snapshots: (step, model density grid, copy of the buffer's contents) after each chunk,
        when asked for. diverged: the DivergenceError message, or None.
    """

    model: MLPEnergyNet
    buffer: ReplayBuffer
    data: torch.Tensor
    reference: DensityGrid
    settings: Settings2D
    history: History
    checkpoints: list[int] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    tv: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, DensityGrid, torch.Tensor]] = field(default_factory=list)
    seconds: float = 0.0
    diverged: str | None = None


def fit_2d(settings: Settings2D, seed: int = 0, snapshots: bool = False) -> Run2D:
    """Train an MLP energy on ``settings.dataset`` by contrastive divergence; deterministic given the seed.

    The data (``settings.n_data`` points), the network's initial weights, the batches,
    the buffer draws and the Langevin noise all come from ``seed``. Training stops early,
    keeping what it has, if ``DivergenceError`` is raised. ``seconds`` is the training
    time without the evaluations.
    """
    gen = torch.Generator().manual_seed(seed)
    data = datasets2d.make_dataset(settings.dataset, settings.n_data, gen)
    torch.manual_seed(seed)  # the network's initial weights
    model = MLPEnergyNet(2, width=settings.width, n_blocks=settings.n_blocks)
    extent = datasets2d.dataset_extent(settings.dataset)
    buffer = ReplayBuffer(settings.buffer_size, (2,), reinit_prob=settings.reinit_prob, init_fn=box_init(extent))
    reference = datasets2d.reference_grid(settings.dataset, settings.grid_bins)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    run = Run2D(model, buffer, data, reference, settings, history={})
    config = settings.config()
    done = 0
    while done < settings.n_steps:
        n = min(settings.chunk, settings.n_steps - done)
        fraction = done / settings.n_steps  # linear decay of the learning rate
        for group in optimizer.param_groups:
            group["lr"] = settings.lr * (1 - (1 - settings.final_lr_fraction) * fraction)
        start = time.perf_counter()
        try:
            train(
                model, data, optimizer, buffer, config, n, settings.batch_size, gen, progress=False, history=run.history
            )
        except DivergenceError as err:
            run.diverged = str(err)
        run.seconds += time.perf_counter() - start
        done = len(run.history.get("gap", []))
        run.checkpoints.append(done)
        grid = model_density_grid(model, reference)
        scores = learned_density_kl_tv(model, reference)
        run.kl.append(scores["kl"])
        run.tv.append(scores["tv"])
        if snapshots:
            run.snapshots.append((done, grid, buffer.storage[: len(buffer)].clone()))
        if run.diverged:
            break
    return run


def long_run_samples(
    model: torch.nn.Module,
    settings: Settings2D,
    n: int = 1000,
    n_steps: int = 500,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """n chains of ``n_steps`` exact-noise Langevin steps on the learned energy, from uniform noise
    over the dataset's box (same step size and clamp as training): samples of the model itself."""
    extent = datasets2d.dataset_extent(settings.dataset)
    x0 = box_init(extent)(n, generator)
    config = settings.config()
    return langevin_sample(
        model, x0, n_steps, settings.step_size, None, clamp=config.langevin.clamp, generator=generator
    ).samples


def evaluate_2d(run: Run2D, seed: int = 0, n: int = 1000, n_steps: int = 500) -> dict[str, float]:
    """Final scores of a run: grid KL and TV of the learned density, and the energy distance
    D^2 between ``n`` long-run samples (``n_steps`` steps) and ``n`` exact data samples."""
    gen = torch.Generator().manual_seed(10_000 + seed)
    samples = long_run_samples(run.model, run.settings, n, n_steps, gen)
    reference = datasets2d.make_dataset(run.settings.dataset, n, torch.Generator().manual_seed(20_000 + seed))
    finite = np.isfinite(run.kl[-1]) if run.kl else False
    return {
        "kl": float(run.kl[-1]) if finite else float("nan"),
        "tv": float(run.tv[-1]) if finite else float("nan"),
        "energy_distance": energy_distance(samples, reference),
        "train_seconds": run.seconds,
    }
