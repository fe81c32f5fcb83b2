"""The replay-buffer ablation script runs end to end on its tiny setting, deterministically."""

import json

import pytest

from ebm_lib.toy2d import ablation
from ebm_lib.toy2d.train import Settings2D
from ebm_lib.utils import from_dict

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def test_tiny_ablation_end_to_end(tmp_path, capsys):
    out = tmp_path / "ablation.json"
    ablation.main(["--tiny", "--out", str(out)])
    results = json.loads(out.read_text())
    assert [row["label"] for row in results["settings"]] == ["no buffer", "buffer 1000, re-init 0"]
    for row in results["settings"]:
        assert len(row["runs"]) == 1
        for metric in ablation.METRICS:
            assert row["summary"][metric]["n"] == 1
        assert 0 <= row["summary"]["tv"]["mean"] <= 1
    assert "KL(data||model)" in capsys.readouterr().out
    tiny = from_dict(Settings2D, results["base_settings"])  # the settings are stored once, nested, and come back
    assert tiny.n_steps == 20 and tiny.eval_every == 10 and tiny.cd == ablation.BASE.cd
    assert tiny.cd.langevin.n_steps == 10 and tiny.cd.langevin.clamp is None  # the box is set when a run starts
    again = tmp_path / "again.json"
    ablation.main(["--tiny", "--out", str(again)])
    rerun = json.loads(again.read_text())
    for a, b in zip(results["settings"], rerun["settings"]):
        assert a["runs"][0]["kl"] == b["runs"][0]["kl"]
        assert a["runs"][0]["energy_distance"] == b["runs"][0]["energy_distance"]


def test_grid_has_no_buffer_and_every_size_and_probability():
    grid = ablation.settings_grid()
    assert grid[0]["reinit_prob"] == 1.0
    pairs = {(s["buffer_size"], s["reinit_prob"]) for s in grid[1:]}
    assert pairs == {(n, p) for n in ablation.BUFFER_SIZES for p in ablation.REINIT_PROBS}


def test_summarise_ignores_nan():
    s = ablation.summarise([1.0, 3.0, float("nan")])
    assert s == {"mean": 2.0, "std": pytest.approx(2**0.5), "n": 2}
