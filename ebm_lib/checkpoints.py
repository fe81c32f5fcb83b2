"""Saving and loading training state safely.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and dicts, so it
loads with ``torch.load(weights_only=True)``: opening a file runs no code from it. It
records the network's architecture (class name and constructor arguments), so that
loading builds the right network or says clearly why it cannot. Files are written to a
temporary name and renamed, so an interrupted save never destroys the previous one.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ebm_lib.buffer import ReplayBuffer
from ebm_lib.nets import EnergyNet, architecture_of, build_net

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: corrupt, foreign, or for another architecture."""


def save_checkpoint(path: str | Path, model: EnergyNet, **extra: Any) -> Path:
    """Write the model's weights and architecture, plus ``extra`` entries (optimiser and buffer
    state dicts, config dict, metrics history, step...), atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format_version": FORMAT_VERSION, "architecture": architecture_of(model), "model": model.state_dict()}
    return _save_atomically({**state, **extra}, path)


def _save_atomically(state: dict[str, Any], path: Path) -> Path:
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dictionary with ``weights_only=True``; clear errors for bad files."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path.resolve()}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt, truncated, or not made by ebm_lib): {err}"
        ) from err
    if not isinstance(state, dict) or "architecture" not in state or "model" not in state:
        raise CheckpointError(f"{path} is a torch file but not an ebm_lib checkpoint (no architecture/model entries)")
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {state.get('format_version')}, expected {FORMAT_VERSION}")
    return state


def load_model(path: str | Path) -> EnergyNet:
    """Build the network a checkpoint describes (on the CPU) and load its weights."""
    state = read_checkpoint(path)
    arch = state["architecture"]
    model = build_net(arch)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        args = ", ".join(f"{k}={v!r}" for k, v in arch["kwargs"].items())
        raise CheckpointError(f"{path}: the weights do not fit a {arch['name']}({args}): {err}") from err
    return model


def slim_copy(source: str | Path, target: str | Path, weights: str = "model") -> Path:
    """Write a small copy of a training checkpoint, fit to ship in a repository.

    Keeps the model, its architecture, the settings, the metrics history and the events, and the
    newest 256 replay-buffer samples (oldest first) as a plain tensor under "buffer_samples" (to show
    what the chains held); drops the optimiser and random states, so the copy cannot be resumed:
    resume from the full checkpoint. ``weights``: "model" (the last ones) or "ema_model" (their
    moving average).
    """
    state = read_checkpoint(source)
    if weights not in state:
        raise CheckpointError(f"{source} has no {weights!r} weights to ship; it holds {sorted(state)}")
    slim = {k: v for k, v in state.items() if k not in ("optimizer", "generator", "buffer", "ema_model")}
    slim["model"] = state[weights]
    slim["weights"] = weights
    if "buffer" in state:
        buffer = ReplayBuffer(state["buffer"]["capacity"], state["buffer"]["storage"].shape[1:])
        buffer.load_state_dict(state["buffer"])
        slim["buffer_samples"] = buffer.newest(256)
    return _save_atomically(slim, Path(target))
