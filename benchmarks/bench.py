"""Benchmark: the library's Langevin sampler and ring buffer against the naive versions.

Run with ``make bench`` or ``python benchmarks/bench.py [--quick]``. Everything is timed
side by side in one process, interleaved, and the medians are compared; absolute times
on a shared machine are noisy, the ratios much less so.

* Sampler: the bare cost is a loop doing only the forward and input-gradient passes;
  the textbook loop adds the update and noise (as most tutorials write it); ebm_lib's
  ``langevin_sample`` adds input checks and bookkeeping. Target: ebm_lib / bare <= 1.10.
* Buffer: push a batch of 128 samples into a full 10,000-sample buffer and draw 128
  starting points, for the ring buffer and for a Python list that appends per sample,
  pops from the front and draws per sample (as the source chapter does), in blocks of
  20 calls. Target: list / ring >= 10. Beside them, the two copies any tensor buffer must
  make (write the batch, gather 128 random rows): where memory bandwidth bounds those, the
  ratio list / copies is the most any buffer could reach on that machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch

from ebm_lib.buffer import ReplayBuffer
from ebm_lib.nets import ConvEnergyNet, MLPEnergyNet, MNISTEnergyNet
from ebm_lib.samplers import langevin_sample


def bare_passes(net: torch.nn.Module, x: torch.Tensor, n_steps: int) -> None:
    """Only what any sampler must do: forward and input-gradient, n_steps times."""
    for _ in range(n_steps):
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(net(x).sum(), x)


def textbook_langevin(net: torch.nn.Module, x: torch.Tensor, n_steps: int, step_size: float, noise: float) -> None:
    """The loop as tutorials write it: parameters still require grad, net left as it is."""
    for _ in range(n_steps):
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(net(x).sum(), x)
        x = (x - step_size * grad + noise * torch.randn_like(x)).clamp(-1, 1)


class ListBuffer:
    """The naive replay buffer, as the source chapter and many tutorials write it: a Python
    list, one sample at a time, torch's random numbers drawn per sample."""

    def __init__(self, capacity: int):
        self.items: list[torch.Tensor] = []
        self.capacity = capacity

    def push(self, x: torch.Tensor) -> None:
        for sample in x:
            self.items.append(sample.detach().cpu())  # a view into the batch, as the seed does
            if len(self.items) > self.capacity:
                self.items.pop(0)

    def sample(self, n: int, reinit_prob: float) -> torch.Tensor:
        out = []
        for _ in range(n):
            if torch.rand(1) < reinit_prob:
                out.append(torch.rand_like(self.items[0]) * 2 - 1)
            else:
                out.append(self.items[torch.randint(len(self.items), (1,)).item()].clone())
        return torch.stack(out)


def interleaved_medians(
    contenders: dict[str, Callable[[], object]], repeats: int, calls_per_block: int = 1
) -> dict[str, float]:
    """Median time per call of each callable over ``repeats`` rounds (after a warm-up).

    Each round times every contender in turn, as a block of ``calls_per_block``
    consecutive calls: the contenders share whatever the machine is doing, and each is
    measured in its steady state (a short operation timed between calls of another kind
    would mostly measure caches and threads waking up).
    """
    for fn in contenders.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            for _ in range(calls_per_block):
                fn()
            times[name].append((time.perf_counter() - start) / calls_per_block)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_sampler(repeats: int, n_steps: int) -> dict[str, float]:
    """Ratios ebm_lib / bare and textbook / bare for three nets; returns ebm_lib / bare per net."""
    torch.manual_seed(0)
    cases = {
        "MNISTEnergyNet, 128 digits": (MNISTEnergyNet(), torch.rand(128, 1, 28, 28) * 2 - 1),
        "ConvEnergyNet(32), 128 digits": (ConvEnergyNet(width=32), torch.rand(128, 1, 28, 28) * 2 - 1),
        "MLPEnergyNet, 1000 2D points": (MLPEnergyNet(2), torch.randn(1000, 2)),
    }
    print(f"Langevin, {n_steps} steps, median of {repeats} interleaved runs")
    print(
        f"{'net':32s} {'bare ms':>9s} {'textbook':>9s} {'ebm_lib':>9s} {'ebm_lib/bare':>13s} {'ebm_lib/textbook':>17s}"
    )
    ratios = {}
    for name, (net, x) in cases.items():
        t = interleaved_medians(
            {
                "bare": partial(bare_passes, net, x, n_steps),
                "textbook": partial(textbook_langevin, net, x, n_steps, 10.0, 0.005),
                "ebm_lib": partial(langevin_sample, net, x, n_steps, 10.0, 0.005, clamp=(-1.0, 1.0)),
            },
            repeats,
        )
        ratios[name] = t["ebm_lib"] / t["bare"]
        print(
            f"{name:32s} {1e3 * t['bare']:9.1f} {1e3 * t['textbook']:9.1f} {1e3 * t['ebm_lib']:9.1f} "
            f"{ratios[name]:13.3f} {t['ebm_lib'] / t['textbook']:17.3f}"
        )
    return ratios


class BareCopies:
    """The floor for any tensor replay buffer: the two copies it cannot avoid, and nothing else.

    Writing the batch into the storage and gathering n random rows into a new tensor move
    the same bytes as the ring buffer (about 1.2 MB for 128 digits), without re-initialisation,
    checks or bookkeeping. On a machine whose memory bandwidth bounds these copies, no tensor
    buffer can be much faster than this, whatever its code.
    """

    def __init__(self, storage: torch.Tensor):
        self.storage = storage
        self.next_slot = 0

    def push_and_sample(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        end = self.next_slot + len(x)
        self.storage[self.next_slot : end] = x
        self.next_slot = end % (len(self.storage) - len(x))
        return self.storage.index_select(0, torch.randint(len(self.storage), (len(x),), generator=generator))


def bench_buffer(repeats: int, capacity: int = 10_000, batch: int = 128) -> float:
    """Time of push(128) + sample(128) on a full buffer; returns list / ring.

    Also times ``BareCopies``, which bounds what any tensor buffer could reach here.
    """
    shape = (1, 28, 28)
    ring = ReplayBuffer(capacity, shape, reinit_prob=0.05)
    naive = ListBuffer(capacity)
    fill = torch.rand(capacity, *shape) * 2 - 1
    ring.push(fill)
    naive.push(fill)
    bare = BareCopies(fill.clone())
    new = torch.rand(batch, *shape)
    g, g_bare = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)

    def ring_step() -> None:
        ring.push(new)
        ring.sample(batch, g)

    def list_step() -> None:
        naive.push(new)
        naive.sample(batch, 0.05)

    t = interleaved_medians(
        {"ring": ring_step, "list": list_step, "bare": partial(bare.push_and_sample, new, g_bare)},
        repeats,
        calls_per_block=20,
    )
    ratio = t["list"] / t["ring"]
    print(f"\nReplay buffer, push {batch} + sample {batch} into a full {capacity:,}-sample buffer of {shape}")
    print(f"ring buffer {1e3 * t['ring']:.3f} ms, Python list {1e3 * t['list']:.3f} ms, list / ring = {ratio:.1f}x")
    print(
        f"the two unavoidable copies alone {1e3 * t['bare']:.3f} ms: ring / copies = {t['ring'] / t['bare']:.2f}, "
        f"so no tensor buffer could beat the list by more than {t['list'] / t['bare']:.1f}x here"
    )
    return ratio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few repeats, for a smoke test")
    args = parser.parse_args(argv)
    repeats, n_steps = (3, 5) if args.quick else (15, 60)
    ratios = bench_sampler(repeats, n_steps)
    worst = max(ratios.values())
    print(f"worst sampler overhead over bare passes: {100 * (worst - 1):+.1f}% (target <= +10%)")
    buffer_ratio = bench_buffer(repeats)
    print(f"buffer speed-up: {buffer_ratio:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
