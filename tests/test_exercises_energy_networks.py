"""The self-checks of notebook 1 accept right answers and explain wrong ones."""

import torch
from torch import nn

from ebm_lib.course.exercises import check_conv_flops, check_energy_net, check_largest_singular_value
from ebm_lib.nets import MLPEnergyNet


def verdict(capsys) -> str:
    return capsys.readouterr().out


def test_a_good_energy_net_passes(capsys):
    assert check_energy_net(MLPEnergyNet(2, width=16), (2,))
    assert verdict(capsys).startswith("Correct")


class NotYet(nn.Module):
    def forward(self, x):
        raise NotImplementedError


def test_each_design_mistake_gets_its_own_message(capsys):
    cases = {
        "shape (8,), got (8, 1)": nn.Sequential(nn.Linear(2, 8), nn.SiLU(), nn.Linear(8, 1)),
        "changes with the other inputs": nn.Sequential(
            nn.Linear(2, 8), nn.BatchNorm1d(8), nn.SiLU(), nn.Linear(8, 1), nn.Flatten(0)
        ),
        "piecewise linear": MLPEnergyNet(2, width=16, activation="relu"),
        "Not done yet": NotYet(),
    }
    for expected, net in cases.items():
        assert not check_energy_net(net, (2,))
        assert expected in verdict(capsys)


def test_the_check_leaves_the_net_in_its_mode():
    net = MLPEnergyNet(2).eval()
    check_energy_net(net, (2,))
    assert not net.training


def test_conv_flops_check(capsys):
    assert check_conv_flops(lambda ci, co, k, h, w: 2 * ci * co * k * k * h * w)
    assert not check_conv_flops(lambda ci, co, k, h, w: ci * co * k * k * h * w)
    assert "multiply-accumulate counts as 2 FLOPs" in verdict(capsys)
    assert not check_conv_flops(lambda ci, co, k, h, w: 2 * ci * co * k * h * w)
    assert "k x k" in verdict(capsys)


def power_iteration(w: torch.Tensor, n_iters: int) -> float:
    v = torch.ones(w.shape[1])
    for _ in range(n_iters):
        u = w @ v
        u = u / u.norm()
        v = w.T @ u
        v = v / v.norm()
    return (u @ w @ v).item()


def test_singular_value_check(capsys):
    assert check_largest_singular_value(power_iteration)
    assert not check_largest_singular_value(lambda w, n: power_iteration(w, n) ** 2)
    assert "squared" in verdict(capsys)


def test_singular_value_check_rejects_an_overflowed_estimate(capsys):
    def normalised_once(w, n_iters):  # the slip: v normalised after the loop, so W^T W v overflows
        v = torch.ones(w.shape[1])
        for _ in range(n_iters):
            v = w.T @ (w @ v)
        return (w @ v).norm() / v.norm()

    assert not check_largest_singular_value(normalised_once)
    assert "normalise v inside the loop" in verdict(capsys)


def test_a_crash_in_student_code_is_reported_not_raised(capsys):
    assert not check_largest_singular_value(lambda w, n: w @ torch.zeros(1))
    assert "your code raised RuntimeError" in verdict(capsys)
