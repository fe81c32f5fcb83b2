"""The replay buffer: a memory of past Langevin samples that starts new chains.

Short Langevin runs from noise cannot reach the model's low-energy regions; starting
each chain where an earlier one stopped makes the chains effectively long (persistent
contrastive divergence). A fraction ``reinit_prob`` of chains restarts from the initial
distribution instead, so that the buffer keeps exploring and does not freeze.

Storage is one preallocated tensor used as a ring: new samples overwrite the oldest.
Adding and drawing a batch are single tensor operations, with no per-sample Python loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ebm_lib.samplers import uniform_noise
from ebm_lib.utils import check_batch

InitFn = Callable[[int, torch.Generator | None], torch.Tensor]


def uniform_init(sample_shape: Sequence[int]) -> InitFn:
    """Initial distribution: independent uniform values in the pixel range [-1, 1]
    (``samplers.uniform_noise``; pass your own ``init_fn`` for another box)."""
    return lambda n, generator=None: uniform_noise(n, sample_shape, generator=generator)


class ReplayBuffer:
    """A ring buffer of ``capacity`` samples of shape ``sample_shape``.

    ``push(x)`` writes a batch over the oldest entries. ``sample(n)`` draws n starting points: each
    is, with probability ``reinit_prob``, a fresh draw from ``init_fn`` and otherwise a uniformly
    chosen stored sample (while the buffer is empty, all are fresh draws).
    """

    def __init__(
        self,
        capacity: int,
        sample_shape: Sequence[int],
        reinit_prob: float = 0.05,
        init_fn: InitFn | None = None,
        device: torch.device | str = "cpu",
    ):
        if capacity < 1 or not 0.0 <= reinit_prob <= 1.0:
            raise ValueError(f"need capacity >= 1 and reinit_prob in [0, 1], got {capacity} and {reinit_prob}")
        self.capacity = capacity
        self.sample_shape = tuple(sample_shape)
        self.reinit_prob = reinit_prob
        self.init_fn = init_fn or uniform_init(self.sample_shape)
        self.device = torch.device(device)
        self.storage = torch.empty((capacity, *self.sample_shape), device=self.device)
        self.size = 0  # number of filled slots
        self.next_slot = 0  # where the next sample is written

    def __len__(self) -> int:
        return self.size

    def push(self, x: torch.Tensor) -> None:
        check_batch(x, self.sample_shape, name="samples pushed to the buffer")
        x = x.detach()[-self.capacity :].to(self.device, self.storage.dtype)  # only the newest fit
        first = min(len(x), self.capacity - self.next_slot)  # up to the end of the ring, then wrap
        self.storage[self.next_slot : self.next_slot + first] = x[:first]
        if first < len(x):
            self.storage[: len(x) - first] = x[first:]
        self.next_slot = (self.next_slot + len(x)) % self.capacity
        self.size = min(self.size + len(x), self.capacity)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.size == 0:
            return self.init_fn(n, generator).to(self.device, self.storage.dtype)
        idx = torch.randint(self.size, (n,), generator=generator, device=self.device)
        reinit = torch.rand(n, generator=generator, device=self.device) < self.reinit_prob
        out = self.storage.index_select(0, idx)  # a copy: the buffer itself is untouched
        fresh = reinit.nonzero().squeeze(1)
        if len(fresh):
            out.index_copy_(0, fresh, self.init_fn(len(fresh), generator).to(self.device, self.storage.dtype))
        return out

    def newest(self, n: int) -> torch.Tensor:
        """The n most recently pushed samples (fewer while the buffer holds fewer), oldest first."""
        n = min(n, self.size)
        # Slot next_slot - 1 holds the newest sample; the n before it, going back round the ring.
        slots = torch.arange(self.next_slot - n, self.next_slot, device=self.device) % self.capacity
        return self.storage.index_select(0, slots)

    def state_dict(self) -> dict[str, object]:
        """Everything needed to restore the buffer; plain tensors and numbers only."""
        return {
            "storage": self.storage[: self.size].clone(),
            "capacity": self.capacity,
            "next_slot": self.next_slot,
            "reinit_prob": self.reinit_prob,
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore a buffer saved by ``state_dict`` (same sample shape and capacity)."""
        stored, shape = state["storage"], tuple(state["storage"].shape[1:])
        if shape != self.sample_shape or state["capacity"] != self.capacity:
            raise ValueError(
                f"buffer state of capacity {state['capacity']} holds samples of shape {shape}, "
                f"this buffer has capacity {self.capacity} and expects {self.sample_shape}"
            )
        self.size = len(stored)
        self.storage[: self.size] = stored.to(self.device, self.storage.dtype)
        self.next_slot = int(state["next_slot"])
        self.reinit_prob = float(state["reinit_prob"])
