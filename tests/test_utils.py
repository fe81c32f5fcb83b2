"""Seeding, device choice, eval mode and the input checks."""

import pytest
import torch

from ebm_lib.utils import check_batch, default_device, eval_mode, has_fast_bfloat16, seed_everything


def test_seed_everything_repeats_every_source():
    import random

    import numpy as np

    def draw():
        g = seed_everything(5)
        return random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g).item()

    assert draw() == draw()


def test_default_device_is_cpu_without_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert default_device().type == expected


def test_check_batch_accepts_wildcards_and_names_the_problem():
    x = torch.zeros(4, 3, 8, 9)
    assert check_batch(x, (3, None, None)) is x
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1, \*, \*\), got \(4, 3, 8, 9\)"):
        check_batch(x, (1, None, None), name="images")
    with pytest.raises(TypeError, match="dtype torch.float64"):
        check_batch(x, (3, None, None), dtype=torch.float64)


def test_has_fast_bfloat16_follows_the_cpu_flags():
    cpu = torch.device("cpu")
    expected = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    assert has_fast_bfloat16(cpu) is expected
    assert has_fast_bfloat16(torch.device("meta")) is False


def test_eval_mode_restores_the_training_flag_even_after_an_error():
    net = torch.nn.Linear(2, 1).train()
    with eval_mode(net):
        assert not net.training
    assert net.training
    frozen = torch.nn.Linear(2, 1).eval()
    with pytest.raises(RuntimeError), eval_mode(frozen):
        frozen.train()
        raise RuntimeError("inside")
    assert not frozen.training
