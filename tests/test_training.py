"""Contrastive-divergence training: it learns, it stops on divergence, it repeats exactly."""

import copy
import dataclasses

import pytest
import torch

from ebm_lib.buffer import ReplayBuffer
from ebm_lib.nets import MLPEnergyNet
from ebm_lib.samplers import LangevinConfig
from ebm_lib.training import CDConfig, DivergenceError, cd_loss, train, train_step

pytestmark = pytest.mark.usefixtures("one_thread")  # 2D work: see conftest.py

CONFIG_2D = CDConfig(LangevinConfig(n_steps=20, step_size=0.01, noise_scale=None, clamp=None), alpha=0.1)
CENTRE = torch.tensor([1.0, -0.5])


def gaussian_data(seed=0, n=2000):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed)) * 0.3 + CENTRE


def wide_gaussian(n, generator=None):
    """Chains restart from N(0, 1.5^2 I)."""
    return 1.5 * torch.randn((n, 2), generator=generator)


def setup(seed=0, lr=1e-3):
    torch.manual_seed(seed)
    net = MLPEnergyNet(2, width=32, n_blocks=1)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    buf = ReplayBuffer(1000, (2,), reinit_prob=0.05, init_fn=wide_gaussian)
    return net, opt, buf


def run(seed=0, n_steps=150):
    net, opt, buf = setup(seed)
    g = torch.Generator().manual_seed(seed)
    history = train(net, gaussian_data(seed), opt, buf, CONFIG_2D, n_steps, batch_size=64, generator=g, progress=False)
    return net, history


def test_cd_loss_formula():
    e_data, e_samples = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 4.0])
    # mean 2 - mean 2 + 0.5 * (mean(1, 9) + mean(0, 16)) = 0.5 * (5 + 8)
    assert cd_loss(e_data, e_samples, alpha=0.5).item() == pytest.approx(6.5)


def test_short_run_pushes_data_energy_below_sample_energy():
    net, history = run()
    late_gap = sum(history["gap"][-30:]) / 30
    assert late_gap > 0.5, f"E(samples) - E(data) over the last steps is {late_gap:.3f}"
    net.eval()
    with torch.no_grad():
        at_data = net(CENTRE.view(1, 2)).item()
        far_away = net(torch.tensor([[-2.0, 2.0], [3.0, 2.0], [-2.0, -3.0]])).min().item()
    assert at_data < far_away
    assert set(history) == {"e_data", "e_samples", "gap", "loss", "langevin_grad_norm", "param_grad_norm"}
    assert all(len(v) == 150 for v in history.values())


def test_bfloat16_autocast_still_learns_and_keeps_float32_weights():
    net, opt, buf = setup(0)
    config = dataclasses.replace(CONFIG_2D, bfloat16=True)
    g = torch.Generator().manual_seed(0)
    history = train(net, gaussian_data(0), opt, buf, config, 150, batch_size=64, generator=g, progress=False)
    assert sum(history["gap"][-30:]) / 30 > 0.5
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert buf.storage.dtype == torch.float32
    with torch.no_grad():
        assert net(CENTRE.view(1, 2)).item() < net(torch.tensor([[-2.0, 2.0], [3.0, 2.0]])).min().item()


def test_seeded_runs_repeat_exactly():
    net_a, hist_a = run(seed=3, n_steps=20)
    net_b, hist_b = run(seed=3, n_steps=20)
    assert hist_a == hist_b
    assert all(torch.equal(a, b) for a, b in zip(net_a.state_dict().values(), net_b.state_dict().values()))


@pytest.mark.parametrize("poison", ["nan", "huge"])
def test_divergence_stops_before_the_weights_are_damaged(poison):
    net, opt, buf = setup()
    with torch.no_grad():
        net.fc_out.weight.fill_(float("nan") if poison == "nan" else 1e3)
    before = copy.deepcopy(net.state_dict())
    x = gaussian_data()[:64]
    with pytest.raises(DivergenceError, match="learning rate.*alpha.*step_size") as info:
        train_step(net, opt, x, buf, CONFIG_2D, step=7)
    assert info.value.step == 7
    assert ("non-finite" if poison == "nan" else "max_abs_energy") in str(info.value)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) or before[k].isnan().any() for k in before)


def test_divergence_is_detected_in_a_real_runaway_run():
    """No regulariser, no clipping and a large learning rate: the energies run away."""
    torch.manual_seed(0)
    net, opt, buf = setup(lr=0.5)
    config = CDConfig(
        LangevinConfig(n_steps=10, step_size=0.01, noise_scale=None, clamp=None),
        alpha=0.0,
        max_grad_norm=None,
        max_abs_energy=1e3,
    )
    history: dict[str, list[float]] = {}
    with pytest.raises(DivergenceError) as caught:
        train(
            net,
            gaussian_data(),
            opt,
            buf,
            config,
            500,
            64,
            torch.Generator().manual_seed(0),
            progress=False,
            history=history,
        )
    assert 0 < len(history["gap"]) < 500  # the good steps before divergence are kept
    # the error carries its step and that step's metrics (notebooks 3 and 5 show them)
    assert caught.value.step == len(history["gap"])
    assert abs(caught.value.metrics["e_data"]) > 1e3 or abs(caught.value.metrics["e_samples"]) > 1e3


def test_callbacks_see_every_step_and_can_stop_training():
    net, opt, buf = setup()
    seen = []

    def record(step, metrics):
        seen.append((step, metrics["gap"]))

    def stop_at_five(step, metrics):
        return step == 5

    history = train(net, gaussian_data(), opt, buf, CONFIG_2D, 50, 32, progress=False, callbacks=[record, stop_at_five])
    assert [s for s, _ in seen] == list(range(6)) and len(history["gap"]) == 6


def test_continuing_extends_the_history_and_numbers_steps_from_first_step():
    net, opt, buf = setup()
    history = train(net, gaussian_data(), opt, buf, CONFIG_2D, 5, 32, progress=False)
    steps = []
    record = [lambda step, m: steps.append(step)]
    train(net, gaussian_data(), opt, buf, CONFIG_2D, 3, 32, progress=False, history=history, callbacks=record)
    assert len(history["gap"]) == 8 and steps == [0, 1, 2]  # the history is not the step count
    train(net, gaussian_data(), opt, buf, CONFIG_2D, 2, 32, progress=False, callbacks=record, first_step=8)
    assert steps[3:] == [8, 9]
