"""Train the course's MNIST energy model from the command line (``make train-mnist``).

    python -m ebm_lib.mnist.train --out build/mnist_ebm_train.pt --minutes 30 \\
        --ship notebooks/checkpoints/mnist_ebm.pt
    python -m ebm_lib.mnist.train --out build/mnist_ebm_train.pt --resume --minutes 10

Contrastive divergence with Langevin chains started from a replay buffer
(``ebm_lib.training``), on the skeleton of ``ebm_lib.runs``: a progress bar showing live
energies, the full, resumable checkpoint in ``--out`` every few minutes, ``--resume``, a time
and/or step budget, CUDA when present, and ``--ship``: a slim copy to commit (``notebooks/checkpoints/``).
On divergence the run rolls back to the last checkpoint, halves the learning rate and the
Langevin step size (in its settings, which the next checkpoint stores), logs what it did, and
goes on; it gives up at the divergence after ``--max-rollbacks`` rollbacks.
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ebm_lib import runs
from ebm_lib.buffer import ReplayBuffer, uniform_init
from ebm_lib.mnist.data import load_mnist
from ebm_lib.nets import build_net
from ebm_lib.runs import Run
from ebm_lib.samplers import LangevinConfig
from ebm_lib.training import CDConfig, DivergenceError, random_batch, train_step
from ebm_lib.utils import has_fast_bfloat16

SAMPLE_SHAPE = (1, 28, 28)


@dataclass
class EBMSettings(runs.RunSettings):
    """The settings of a run; its checkpoint stores them once, under "settings"."""

    lr: float = 2e-4
    net: str = "MNISTEnergyNet"
    width: int | None = None  # None: the net's own
    buffer_size: int = 8192
    # With 40 steps per training step, a chain restarted with probability 0.2 is on average
    # 40 / 0.2 = 200 steps old: close to the 256 steps used to generate digits from noise.
    reinit_prob: float = 0.2
    cd: CDConfig = field(
        default_factory=lambda: CDConfig(LangevinConfig(n_steps=40, step_size=10.0, noise_scale=0.005), alpha=0.1)
    )


DEFAULTS = EBMSettings()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=runs.HelpFormatter)
    arg, nets = p.add_argument, ["MNISTEnergyNet", "ConvEnergyNet", "MLPEnergyNet"]
    arg(
        "--max-rollbacks",
        type=int,
        default=5,
        help="roll back at most this many times; the next divergence ends the run",
    )
    arg("--net", choices=nets, default=DEFAULTS.net, help="energy network")
    arg("--width", type=int, default=DEFAULTS.width, help="network width (None: the net's own)")
    arg("--buffer-size", type=int, default=DEFAULTS.buffer_size, help="replay buffer capacity")
    arg("--reinit-prob", type=float, default=DEFAULTS.reinit_prob, help="chance that a chain restarts from noise")
    cd, langevin = DEFAULTS.cd, DEFAULTS.cd.langevin  # a dotted dest is a nested setting (runs.open_run)
    arg("--langevin-steps", dest="cd.langevin.n_steps", type=int, default=langevin.n_steps, help="per training step")
    arg("--step-size", dest="cd.langevin.step_size", type=float, default=langevin.step_size, help="Langevin step")
    arg("--noise", dest="cd.langevin.noise_scale", type=float, default=langevin.noise_scale, help="Langevin noise")
    arg("--alpha", dest="cd.alpha", type=float, default=cd.alpha, help="weight of the energy regulariser")
    bf16 = "bfloat16 autocast for the network passes: faster on CPUs with AMX or AVX512-BF16, slower on others"
    arg("--bfloat16", dest="cd.bfloat16", action=argparse.BooleanOptionalAction, default=cd.bfloat16, help=bf16)
    arg("--ship-ema", action="store_true", help="ship the moving average of the weights, not the last ones")
    return runs.parse_args(p, DEFAULTS, Path("build/mnist_ebm_train.pt"), argv)


def new_run(settings: EBMSettings, device: torch.device) -> Run:
    """A fresh run: initial weights from the seed, Adam, an empty replay buffer."""
    torch.manual_seed(settings.seed)
    kwargs: dict[str, object] = {} if settings.width is None else {"width": settings.width}
    if settings.net == "MLPEnergyNet":
        kwargs["sample_shape"] = SAMPLE_SHAPE
    # Channels-last activations make a CPU training step of MNISTEnergyNet about 1.16x faster
    # (measured side by side); the weights' values, and checkpoints, are the same.
    model = build_net({"name": settings.net, "kwargs": kwargs}).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, betas=(0.0, 0.999))
    buffer = ReplayBuffer(
        settings.buffer_size, SAMPLE_SHAPE, settings.reinit_prob, uniform_init(SAMPLE_SHAPE), device=device
    )
    return Run("train-mnist", settings, model, optimizer, torch.Generator().manual_seed(settings.seed), buffer)


def cd_step(run: Run, data: torch.Tensor) -> dict[str, float]:
    """One contrastive-divergence step (``training.train_step``) on a random batch of digits."""
    x_data = random_batch(data, run.settings.batch_size, run.generator)
    return train_step(run.model, run.optimizer, x_data, run.buffer, run.settings.cd, run.generator, run.step)


def roll_back(run: Run, err: DivergenceError, out: Path, max_rollbacks: int, failures: list[DivergenceError]) -> None:
    """Note ``err`` in ``failures`` (this session's), restore the checkpoint in ``out`` (the run's log
    survives), then give up after ``max_rollbacks`` rollbacks, or go on with half the learning rate
    and Langevin step size that diverged (in the settings the next save stores)."""
    failures.append(err)
    events = run.events
    run.restore(out)
    run.events = events
    if len(failures) > max_rollbacks:
        run.log(f"diverged {len(failures)} times; giving up, {out} keeps the last good state. Last: {err}")
        run.save(out)
        raise err
    run.settings.lr *= 0.5
    run.settings.cd.langevin.step_size *= 0.5
    for group in run.optimizer.param_groups:
        group["lr"] = run.settings.lr
    run.log(
        f"divergence ({err}). Rolled back to the checkpoint at step {run.step}; continuing with "
        f"lr {run.settings.lr:g} and Langevin step_size {run.settings.cd.langevin.step_size:g}"
    )


def main(argv: list[str] | None = None) -> Run:
    args = parse_args(argv)
    run = runs.open_run(args, DEFAULTS, new_run)
    if run.settings.cd.bfloat16 and not has_fast_bfloat16(run.device):
        run.log(f"warning: {run.device} has no bfloat16 units, so --bfloat16 makes training slower here, not faster")
    digits = load_mnist(run.settings.source)
    data = digits.train_images.to(run.device)
    run.log(f"training on {len(data)} digits from {digits.source}, device {run.device}")
    recover = functools.partial(roll_back, out=args.out, max_rollbacks=args.max_rollbacks, failures=[])
    runs.train_until_spent(run, args, lambda: cd_step(run, data), recover=recover)
    runs.finish(run, args, "ema_model" if args.ship_ema else "model")
    return run


if __name__ == "__main__":
    main()
