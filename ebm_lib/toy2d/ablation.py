"""The replay-buffer ablation on 2D data, as a script: ``make ablation``.

    python -m ebm_lib.toy2d.ablation --out notebooks/results/buffer_ablation.json [--tiny]

Trains the same MLP energy (``ebm_lib.toy2d.train``, the easy 4-mode mixture, 10 Langevin
steps per training step so that chains from noise are visibly short) under each buffer
setting and several seeds:

    no buffer        every chain starts from fresh uniform noise (re-init probability 1.0;
                     the buffer size then does not matter, so this is one setting),
    buffer           re-init probability in {0, 0.01, 0.05, 0.2} x buffer size in {1000, 10000}.

Outcomes per run: the grid KL(data || model) and TV of the learned density (normalised on
a 60 x 60 grid), the energy distance D^2 between 1,000 long-run model samples (500
Langevin steps from uniform noise) and 1,000 data samples, and the training time.
The JSON file holds every run and, per setting, mean and standard deviation over seeds.
Deterministic: the same numbers on every run on the same machine (training times aside).
``--tiny`` runs 2 settings x 1 seed x 20 steps, for the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import asdict, replace
from pathlib import Path

from ebm_lib.toy2d.train import HEALTHY_CD, Settings2D, evaluate_2d, fit_2d
from ebm_lib.utils import torch_threads

REINIT_PROBS = (0.0, 0.01, 0.05, 0.2)
BUFFER_SIZES = (1000, 10000)
SEEDS = tuple(range(10))
METRICS = ("kl", "tv", "energy_distance", "train_seconds")
BASE = Settings2D(
    n_steps=500, cd=replace(HEALTHY_CD, langevin=replace(HEALTHY_CD.langevin, n_steps=10)), eval_every=100
)
"""The ablation's fixed settings; each buffer setting replaces buffer_size and reinit_prob."""


def settings_grid() -> list[dict[str, object]]:
    """The buffer settings, each {"label", "buffer_size", "reinit_prob"}; "no buffer" first."""
    grid: list[dict[str, object]] = [{"label": "no buffer", "buffer_size": BUFFER_SIZES[0], "reinit_prob": 1.0}]
    for size in BUFFER_SIZES:
        for prob in REINIT_PROBS:
            grid.append({"label": f"buffer {size}, re-init {prob:g}", "buffer_size": size, "reinit_prob": prob})
    return grid


def run_setting(setting: dict[str, object], seed: int, base: Settings2D = BASE) -> dict[str, float]:
    """Train and evaluate one (setting, seed): {"kl", "tv", "energy_distance", "train_seconds"}."""
    settings = replace(base, buffer_size=int(setting["buffer_size"]), reinit_prob=float(setting["reinit_prob"]))
    run = fit_2d(settings, seed=seed)
    return evaluate_2d(run, seed=seed, n_steps=500 if base.n_steps > 100 else 50)


def summarise(values: list[float]) -> dict[str, float]:
    """Mean and sample standard deviation (0 for a single value), ignoring NaNs."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    std = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return {"mean": statistics.fmean(finite), "std": std, "n": len(finite)}


def run_ablation(grid: list[dict[str, object]], seeds: tuple[int, ...], base: Settings2D = BASE) -> dict[str, object]:
    """Every setting of ``grid`` x every seed; returns the JSON-ready results."""
    rows = []
    with torch_threads(1):  # 2D batches are tiny: one thread is fastest
        for setting in grid:
            runs = []
            for seed in seeds:
                start = time.perf_counter()
                scores = run_setting(setting, seed, base)
                runs.append({"seed": seed, **scores})
                print(
                    f"{setting['label']:28s} seed {seed}: KL {scores['kl']:.4f}  TV {scores['tv']:.4f}  "
                    f"D^2 {scores['energy_distance']:.4f}  ({time.perf_counter() - start:.1f} s)",
                    flush=True,
                )
            summary = {m: summarise([r[m] for r in runs]) for m in METRICS}
            rows.append({**setting, "runs": runs, "summary": summary})
    return {"base_settings": asdict(base), "seeds": list(seeds), "settings": rows}


def format_table(results: dict[str, object]) -> str:
    """The results as a text table: mean +- standard deviation over seeds."""
    lines = [f"{'setting':28s} {'KL(data||model)':>17s} {'TV':>17s} {'D^2 long-run':>17s} {'train s':>8s}"]
    for row in results["settings"]:
        s = row["summary"]
        cells = [f"{s[m]['mean']:.4f} ± {s[m]['std']:.4f}" for m in ("kl", "tv", "energy_distance")]
        lines.append(
            f"{row['label']:28s} " + " ".join(f"{c:>17s}" for c in cells) + f" {s['train_seconds']['mean']:8.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="notebooks/results/buffer_ablation.json", help="the JSON file to write")
    parser.add_argument("--tiny", action="store_true", help="2 settings x 1 seed x 20 steps (a smoke test)")
    args = parser.parse_args(argv)
    if args.tiny:
        grid, seeds = settings_grid()[:2], (0,)
        base = replace(BASE, n_steps=20, eval_every=10, n_data=500)
    else:
        grid, seeds, base = settings_grid(), SEEDS, BASE
    start = time.perf_counter()
    results = run_ablation(grid, seeds, base)
    results["total_seconds"] = time.perf_counter() - start
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(format_table(results))
    print(f"wrote {out} ({results['total_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
