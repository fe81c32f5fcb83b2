"""The self-checks of notebook 5 accept right answers and explain wrong ones."""

import math

import torch
from torch import nn

from ebm_lib.course.exercises import check_auroc, check_noise_for_temperature, check_sign_flip
from ebm_lib.mnist.evaluate import energy_auroc


def verdict(capsys) -> str:
    return capsys.readouterr().out


def pairwise_auroc(e_in, e_out):
    diff = e_out[:, None] - e_in[None, :]
    return ((diff > 0).double().mean() + 0.5 * (diff == 0).double().mean()).item()


def test_auroc_right_answers_pass(capsys):
    assert check_auroc(pairwise_auroc)
    assert check_auroc(energy_auroc)  # the library's own, through scikit-learn
    assert verdict(capsys).count("Correct") == 2


def test_auroc_mistakes_are_explained(capsys):
    cases = {
        "upside down": lambda a, b: 1 - pairwise_auroc(a, b),
        "counts one half": lambda a, b: (b[:, None] > a[None, :]).double().mean().item(),
        "Compare every outlier": lambda a, b: (b > a.mean()).double().mean().item(),
    }
    for hint, fn in cases.items():
        assert not check_auroc(fn)
        assert hint in verdict(capsys)


class Wrapped(nn.Module):
    def __init__(self, net, sign=-1.0):
        super().__init__()
        self.net, self.sign = net, sign

    def forward(self, x):
        return self.sign * self.net(x)


def test_sign_flip(capsys):
    assert check_sign_flip(lambda net: Wrapped(net))
    assert verdict(capsys).startswith("Correct")
    assert not check_sign_flip(lambda net: Wrapped(net, 1.0))
    assert "flip the sign" in verdict(capsys)
    assert not check_sign_flip(lambda net: lambda x: -net(x))
    assert "nn.Module" in verdict(capsys)
    assert not check_sign_flip(lambda net: NotImplemented)
    verdict(capsys)


def test_sign_flip_not_done_yet(capsys):
    def as_energy(net):
        raise NotImplementedError

    assert not check_sign_flip(as_energy)
    assert "Not done yet" in verdict(capsys)


def test_noise_for_temperature(capsys):
    assert check_noise_for_temperature(lambda h, t: math.sqrt(2 * h * t))
    assert verdict(capsys).startswith("Correct")
    for hint, fn in {
        "take the square root": lambda h, t: 2 * h * t,
        "factor 2 is missing": lambda h, t: math.sqrt(h * t),
        "under the square root too": lambda h, t: math.sqrt(2 * h) * t,
    }.items():
        assert not check_noise_for_temperature(fn)
        assert hint in verdict(capsys)


def test_checks_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    check_sign_flip(lambda net: Wrapped(net))
    assert torch.equal(torch.rand(3), before)
