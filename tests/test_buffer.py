"""Replay buffer: ring semantics, re-initialisation rate, state round trip, errors."""

import math

import pytest
import torch

from ebm_lib.buffer import ReplayBuffer, uniform_init


def constant_init(value: float, shape=(2,)):
    return lambda n, generator=None: torch.full((n, *shape), value)


def test_ring_overwrites_the_oldest():
    buf = ReplayBuffer(5, (2,), reinit_prob=0.0)
    for start in (0, 3, 6):  # batches of 3: values 0..8, the ring keeps the last 5
        buf.push(torch.arange(start, start + 3).float().repeat(2, 1).T)
    assert len(buf) == 5
    assert sorted(buf.storage[:, 0].tolist()) == [4, 5, 6, 7, 8]
    assert buf.next_slot == 9 % 5


def test_a_batch_larger_than_the_ring_keeps_its_newest():
    buf = ReplayBuffer(4, (1,))
    buf.push(torch.arange(10).float().view(-1, 1))
    assert sorted(buf.storage[:, 0].tolist()) == [6, 7, 8, 9]


def test_empty_buffer_draws_from_the_initial_distribution():
    buf = ReplayBuffer(10, (2,), reinit_prob=0.0, init_fn=constant_init(-7.0))
    assert torch.equal(buf.sample(3), torch.full((3, 2), -7.0))


@pytest.mark.parametrize("p", [0.0, 0.05, 0.2, 1.0])
def test_reinit_fraction_matches_its_probability(p):
    buf = ReplayBuffer(1000, (2,), reinit_prob=p, init_fn=constant_init(-1.0))
    buf.push(torch.ones(1000, 2))
    n = 20_000
    x = buf.sample(n, torch.Generator().manual_seed(0))
    fresh = (x[:, 0] == -1).float().mean().item()
    assert abs(fresh - p) <= 5 * math.sqrt(p * (1 - p) / n)  # 5 binomial standard errors (exact at 0 and 1)
    assert torch.equal(x[:, 0], x[:, 1])  # a sample is never a mixture of the two sources


def test_samples_are_drawn_uniformly_from_what_is_stored():
    buf = ReplayBuffer(10, (1,), reinit_prob=0.0)
    buf.push(torch.arange(4).float().view(-1, 1))  # only 4 slots filled: never draw empty ones
    x = buf.sample(4000, torch.Generator().manual_seed(0))[:, 0]
    counts = torch.bincount(x.long(), minlength=4)
    assert counts.numel() == 4 and (counts - 1000).abs().max() < 5 * math.sqrt(4000 * 0.25 * 0.75)


def test_state_dict_round_trip_and_determinism():
    buf = ReplayBuffer(8, (1, 2, 2), reinit_prob=0.3)
    buf.push(torch.randn(6, 1, 2, 2))
    other = ReplayBuffer(8, (1, 2, 2), reinit_prob=0.9)
    other.load_state_dict(buf.state_dict())
    assert len(other) == 6 and other.reinit_prob == 0.3 and other.next_slot == buf.next_slot
    a = buf.sample(16, torch.Generator().manual_seed(3))
    b = other.sample(16, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_loading_a_mismatched_state_is_reported():
    state = ReplayBuffer(8, (2,)).state_dict()
    with pytest.raises(ValueError, match=r"shape \(2,\), this buffer has capacity 8 and expects \(3,\)"):
        ReplayBuffer(8, (3,)).load_state_dict(state)
    with pytest.raises(ValueError, match="state of capacity 8 .* this buffer has capacity 4"):
        ReplayBuffer(4, (2,)).load_state_dict(state)


def test_bad_arguments_are_reported():
    buf = ReplayBuffer(8, (2,))
    with pytest.raises(ValueError, match=r"samples pushed to the buffer must have shape \(B, 2\), got \(3, 3\)"):
        buf.push(torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"reinit_prob in \[0, 1\], got 8 and 1.5"):
        ReplayBuffer(8, (2,), reinit_prob=1.5)
    with pytest.raises(ValueError, match="need capacity >= 1"):
        ReplayBuffer(0, (2,))


def test_uniform_init_is_uniform_noise_in_the_pixel_range():
    u = uniform_init((1, 4, 4))(1000, torch.Generator().manual_seed(0))
    assert u.shape == (1000, 1, 4, 4) and u.min() >= -1 and u.max() <= 1
    # bit for bit the draws chains have always started from
    assert torch.equal(u, torch.empty(1000, 1, 4, 4).uniform_(-1, 1, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(u, torch.rand((1000, 1, 4, 4), generator=torch.Generator().manual_seed(0)) * 2 - 1)


def test_newest_gives_the_samples_pushed_last_oldest_first():
    buf = ReplayBuffer(5, (1,))
    assert buf.newest(3).shape == (0, 1)
    buf.push(torch.arange(3).float().view(-1, 1))  # not yet full: 0, 1, 2
    assert buf.newest(2)[:, 0].tolist() == [1, 2] and buf.newest(9)[:, 0].tolist() == [0, 1, 2]
    buf.push(torch.arange(3, 9).float().view(-1, 1))  # wrapped: the slots hold 6 7 8 4 5, next slot 3
    assert buf.next_slot == 3 and buf.storage[:, 0].tolist() == [6, 7, 8, 4, 5]
    assert buf.newest(3)[:, 0].tolist() == [6, 7, 8]
    assert buf.newest(5)[:, 0].tolist() == [4, 5, 6, 7, 8]
    assert buf.newest(0).shape == (0, 1)
    restored = ReplayBuffer(5, (1,))
    restored.load_state_dict(buf.state_dict())
    assert torch.equal(restored.newest(4), buf.newest(4))
