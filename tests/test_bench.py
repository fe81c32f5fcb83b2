"""The benchmark runs end to end (its figures are for `make bench` on a quiet machine)."""

import re

from ebm_lib import bench


def test_quick_benchmark_prints_its_ratios(capsys):
    bench.main(["--quick"])
    out = capsys.readouterr().out
    assert re.search(r"worst sampler overhead over bare passes: [+-]\d+\.\d%", out)
    assert re.search(r"buffer speed-up: \d+\.\dx", out)
    assert out.count("MNISTEnergyNet") == 1 and "list / ring" in out


def test_the_list_buffer_is_a_working_replay_buffer():
    import torch

    buf = bench.ListBuffer(3)
    buf.push(torch.arange(5.0).view(5, 1))
    assert [x.item() for x in buf.items] == [2.0, 3.0, 4.0]
    assert set(buf.sample(20, reinit_prob=0.0).flatten().tolist()) <= {2.0, 3.0, 4.0}
