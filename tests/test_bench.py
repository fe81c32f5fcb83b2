"""The benchmark runs end to end (its figures are for `make bench` on a quiet machine)."""

import re

from benchmarks import bench


def test_quick_benchmark_prints_its_ratios(capsys):
    bench.main(["--quick"])
    out = capsys.readouterr().out
    assert re.search(r"worst sampler overhead over bare passes: [+-]\d+\.\d%", out)
    assert re.search(r"buffer speed-up: \d+\.\dx", out)
    assert out.count("MNISTEnergyNet") == 1 and "list / ring" in out
    assert re.search(r"no tensor buffer could beat the list by more than \d+\.\dx", out)


def test_the_list_buffer_is_a_working_replay_buffer():
    import torch

    buf = bench.ListBuffer(3)
    buf.push(torch.arange(5.0).view(5, 1))
    assert [x.item() for x in buf.items] == [2.0, 3.0, 4.0]
    assert set(buf.sample(20, reinit_prob=0.0).flatten().tolist()) <= {2.0, 3.0, 4.0}


def test_the_bare_copies_write_the_batch_and_gather_stored_rows():
    import torch

    bare = bench.BareCopies(torch.zeros(10, 1))
    g = torch.Generator().manual_seed(0)
    for k in range(1, 4):
        drawn = bare.push_and_sample(torch.full((4, 1), float(k)), g)
        assert drawn.shape == (4, 1) and set(drawn.flatten().tolist()) <= set(bare.storage.flatten().tolist())
    # slots 0-3 hold 1s, 4-7 hold 2s; the third push wrapped to slot 8 % (10 - 4) = 2
    assert bare.storage.flatten().tolist() == [1, 1, 3, 3, 3, 3, 2, 2, 0, 0]
