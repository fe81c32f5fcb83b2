"""Train the course's noise-conditional MNIST energy E(x, sigma) by denoising score matching.

    python -m ebm_lib.diffusion.train --out build/mnist_ncsn_train.pt --minutes 30 \\
        --ship notebooks/checkpoints/mnist_ncsn.pt
    python -m ebm_lib.diffusion.train --out build/mnist_ncsn_train.pt --resume --minutes 10

Each step draws a batch of training digits, a noise level per digit (log-uniform between
--sigma-min and --sigma-max) and noise, and takes an Adam step on ``ebm_lib.diffusion.dsm.dsm_loss_at``.
An exponential moving average (EMA) of the weights is kept beside them: diffusion models
sample from the average, which is smoother than the last iterate. No Langevin chains are run
in training, so there is nothing to diverge the way contrastive divergence does; a
non-finite loss stops the run and leaves the last checkpoint as it was. The run is on the
skeleton of ``ebm_lib.runs`` (checkpoints, ``--resume``, budget); ``--ship`` writes a slim copy
whose model weights *are* the EMA weights.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ebm_lib import runs
from ebm_lib.diffusion.dsm import dsm_loss_at
from ebm_lib.diffusion.nets import NoiseConditionalConvNet
from ebm_lib.mnist.data import load_mnist
from ebm_lib.runs import Run
from ebm_lib.training import random_batch


@dataclass
class DSMSettings(runs.RunSettings):
    """The settings of a run; its checkpoint stores them once, under "settings"."""

    lr: float = 5e-4
    width: int = 12  # of NoiseConditionalConvNet
    sigma_max: float = 1.5  # per pixel, for digits in [-1, 1]: a digit is lost in this much noise
    sigma_min: float = 0.02


DEFAULTS = DSMSettings()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=runs.HelpFormatter)
    p.add_argument("--width", type=int, default=DEFAULTS.width, help="network width")
    p.add_argument("--sigma-max", type=float, default=DEFAULTS.sigma_max, help="largest noise level")
    p.add_argument("--sigma-min", type=float, default=DEFAULTS.sigma_min, help="smallest noise level")
    args = runs.parse_args(p, DEFAULTS, Path("build/mnist_ncsn_train.pt"), argv)
    if not args.sigma_max > args.sigma_min > 0:
        p.error(f"need --sigma-max > --sigma-min > 0, got {args.sigma_max} and {args.sigma_min}")
    return args


def new_run(settings: DSMSettings, device: torch.device) -> Run:
    """A fresh run: initial weights from the seed, Adam, a generator on the device."""
    torch.manual_seed(settings.seed)
    model = NoiseConditionalConvNet(width=settings.width).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    return Run("train-diffusion", settings, model, optimizer, torch.Generator(device).manual_seed(settings.seed))


def dsm_step(run: Run, data: torch.Tensor) -> dict[str, float]:
    """One Adam step on the DSM loss of a random batch."""
    x = random_batch(data, run.settings.batch_size, run.generator)
    log_lo, log_hi = math.log(run.settings.sigma_min), math.log(run.settings.sigma_max)
    u = torch.rand(len(x), generator=run.generator, device=data.device)
    sigma = torch.exp(log_lo + (log_hi - log_lo) * u)  # log-uniform: every scale counts alike
    loss = dsm_loss_at(run.model, x, sigma, generator=run.generator)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"DSM loss is {loss.item()} at step {run.step}; try a smaller --lr")
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    return {"dsm_loss": loss.item()}


def main(argv: list[str] | None = None) -> Run:
    args = parse_args(argv)
    run = runs.open_run(args, DEFAULTS, new_run)
    digits = load_mnist(run.settings.source)
    data = digits.train_images.to(run.device)
    run.log(f"training on {len(data)} digits from {digits.source}, device {run.device}")
    runs.train_until_spent(run, args, lambda: dsm_step(run, data), log_every=200)
    runs.finish(run, args, "ema_model")
    return run


if __name__ == "__main__":
    main()
