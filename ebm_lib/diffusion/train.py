"""Train the course's noise-conditional MNIST energy E(x, sigma) by denoising score matching.

    python -m ebm_lib.diffusion.train --out build/mnist_ncsn_train.pt --minutes 30 \\
        --ship notebooks/checkpoints/mnist_ncsn.pt
    python -m ebm_lib.diffusion.train --out build/mnist_ncsn_train.pt --resume --minutes 10

Each step draws a batch of training digits, a noise level per digit (log-uniform between
--sigma-min and --sigma-max) and noise, and takes an Adam step on ``ebm_lib.diffusion.dsm.dsm_loss``.
An exponential moving average (EMA) of the weights is kept beside them: diffusion models
sample from the average, which is smoother than the last iterate. No Langevin chains are run
in training, so there is nothing to diverge the way contrastive divergence does; a
non-finite loss stops the run and leaves the last checkpoint as it was.

Checkpoints (every few minutes and at the end) hold the model, the EMA weights, the optimiser,
the random state, the settings and the loss history; ``--resume`` continues them.
``--ship`` writes a small copy whose model weights *are* the EMA weights.
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ebm_lib.checkpoints import read_checkpoint, save_checkpoint, slim_copy
from ebm_lib.diffusion.dsm import dsm_loss_at
from ebm_lib.mnist.data import load_mnist
from ebm_lib.mnist.train import add_run_arguments, check_budget
from ebm_lib.nets import build_net
from ebm_lib.training import update_ema
from ebm_lib.utils import default_device

DEFAULTS: dict[str, Any] = {
    "net": {"name": "NoiseConditionalConvNet", "kwargs": {"width": 12}},
    "sigma_max": 1.5,  # per pixel, for digits in [-1, 1]: a digit is lost in this much noise
    "sigma_min": 0.02,
    "lr": 5e-4,
    "batch_size": 128,
    "ema": 0.999,
    "seed": 0,
    "source": "auto",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p, Path("build/mnist_ncsn_train.pt"), "also write a small copy with the EMA weights")
    p.add_argument("--width", type=int, default=DEFAULTS["net"]["kwargs"]["width"])
    p.add_argument("--sigma-max", type=float, default=DEFAULTS["sigma_max"])
    p.add_argument("--sigma-min", type=float, default=DEFAULTS["sigma_min"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--ema", type=float, default=DEFAULTS["ema"], help="EMA decay of the weights")
    args = p.parse_args(argv)
    check_budget(p, args)
    if not args.sigma_max > args.sigma_min > 0:
        p.error(f"need --sigma-max > --sigma-min > 0, got {args.sigma_max} and {args.sigma_min}")
    if not 0 <= args.ema < 1:
        p.error(f"--ema must be in [0, 1), got {args.ema}")
    return args


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "net": {"name": "NoiseConditionalConvNet", "kwargs": {"width": args.width}},
        "sigma_max": args.sigma_max,
        "sigma_min": args.sigma_min,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "ema": args.ema,
        "seed": args.seed,
        "source": args.source,
    }


class DSMRun:
    """A training run's state, and how to save it to and restore it from a checkpoint."""

    def __init__(self, config: dict[str, Any], device: torch.device):
        self.config = config
        torch.manual_seed(config["seed"])
        self.model = build_net(config["net"]).to(device)
        self.ema_model = copy.deepcopy(self.model).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config["lr"])
        self.generator = torch.Generator(device).manual_seed(config["seed"])
        self.losses: list[float] = []
        self.seconds = 0.0

    @property
    def step(self) -> int:
        return len(self.losses)

    def train_step(self, data: torch.Tensor) -> float:
        """One Adam step on the DSM loss of a random batch, then the EMA update."""
        index = torch.randint(len(data), (self.config["batch_size"],), generator=self.generator, device=data.device)
        log_lo, log_hi = math.log(self.config["sigma_min"]), math.log(self.config["sigma_max"])
        u = torch.rand(len(index), generator=self.generator, device=data.device)
        sigma = torch.exp(log_lo + (log_hi - log_lo) * u)  # log-uniform: every scale counts alike
        loss = dsm_loss_at(self.model, data[index], sigma, generator=self.generator)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"DSM loss is {loss.item()} at step {self.step}; try a smaller --lr")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        update_ema(self.ema_model, self.model, self.config["ema"])
        self.losses.append(loss.item())
        return self.losses[-1]

    def save(self, path: Path) -> None:
        save_checkpoint(
            path,
            self.model,
            ema_model=self.ema_model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            generator=self.generator.get_state(),
            config=self.config,
            history={"dsm_loss": self.losses},
            seconds=self.seconds,
        )

    def restore(self, path: Path) -> None:
        state = read_checkpoint(path, map_location=next(self.model.parameters()).device)
        self.model.load_state_dict(state["model"])
        self.ema_model.load_state_dict(state["ema_model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.losses = list(state["history"]["dsm_loss"])
        self.seconds = float(state["seconds"])


def main(argv: list[str] | None = None) -> DSMRun:
    args = parse_args(argv)
    device = torch.device(args.device) if args.device else default_device()
    if args.resume:
        if not args.out.exists():
            raise SystemExit(f"--resume: no checkpoint at {args.out}; run once without --resume first")
        run = DSMRun(read_checkpoint(args.out)["config"], device)
        run.restore(args.out)
    else:
        if args.out.exists():
            raise SystemExit(f"{args.out} exists: pass --resume to continue it, or choose another --out")
        run = DSMRun(config_from_args(args), device)
    digits = load_mnist(run.config["source"])
    data = digits.train_images.to(device)
    print(f"[train-diffusion] step {run.step}: {len(data)} digits from {digits.source}, device {device}", flush=True)

    total_steps = run.step + args.steps if args.steps is not None else None
    start, seconds_at_start = time.monotonic(), run.seconds
    deadline = start + 60 * args.minutes if args.minutes is not None else float("inf")
    last_save = start
    bar = tqdm(total=total_steps, initial=run.step, disable=args.no_progress, desc="DSM")
    while (total_steps is None or run.step < total_steps) and time.monotonic() < deadline:
        loss = run.train_step(data)
        run.seconds = seconds_at_start + time.monotonic() - start
        bar.update(1)
        if run.step % 20 == 0:
            recent = sum(run.losses[-20:]) / 20
            bar.set_postfix(loss=f"{recent:.4f}")
            if args.no_progress and run.step % 200 == 0:
                minutes = run.seconds / 60
                print(f"[train-diffusion] step {run.step}: DSM loss {recent:.4f}, {minutes:.1f} min", flush=True)
        if time.monotonic() - last_save > 60 * args.checkpoint_minutes:
            run.save(args.out)
            last_save = time.monotonic()
        del loss
    bar.close()
    run.save(args.out)
    print(f"[train-diffusion] saved {args.out}: {run.step} steps, {run.seconds / 60:.1f} min in all", flush=True)
    if args.ship is not None:
        slim_copy(args.out, args.ship, weights="ema_model")
        print(f"[train-diffusion] wrote {args.ship} ({args.ship.stat().st_size / 1e6:.2f} MB)", flush=True)
    return run


if __name__ == "__main__":
    main()
