"""Seeding, device choice (and whether it computes bfloat16 natively), thread count, eval mode, input checks and
settings from dicts, for the whole library."""

from __future__ import annotations

import dataclasses
import random
import typing
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a fresh ``torch.Generator`` seeded with ``seed``: pass
    it to the functions that draw, so that their results do not depend on what ran before."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def default_device() -> torch.device:
    """The one place that picks the device: CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def has_fast_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AMX or AVX512-BF16 units. Elsewhere bfloat16 is emulated, and slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and (torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch threads, then restore the number. One is right for 2D work: on tiny
    tensors starting threads costs more than it saves, and on a busy 2-core machine a lot more (a
    small operation waits for a thread that the other program holds)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Run a block with ``module`` in eval mode, then restore its training flag."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def check_batch(
    x: object, sample_shape: Sequence[int | None] | None, name: str = "x", dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Check that ``x`` is a floating tensor of shape ``(B, *sample_shape)`` and return it.

    ``None`` in ``sample_shape`` accepts any size along that dimension; ``sample_shape=None``
    accepts any shape with at least one dimension after the batch. Raises ``TypeError`` or
    ``ValueError`` with a message that names what was expected and what came in.
    """
    dims = "*sample_shape" if sample_shape is None else ", ".join("*" if s is None else str(s) for s in sample_shape)
    expected = f"(B, {dims})"
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {expected}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor of shape {expected}, got dtype {x.dtype}; "
            "convert it with x.float() (images scaled to [-1, 1])"
        )
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} (the network's dtype), got {x.dtype}")
    if sample_shape is None:
        shape_ok = x.dim() >= 2
    else:
        shape_ok = x.dim() == len(sample_shape) + 1 and all(s in (None, d) for s, d in zip(sample_shape, x.shape[1:]))
    if not shape_ok:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(x.shape)}")
    return x


T = typing.TypeVar("T")


def from_dict(cls: type[T], data: Mapping[str, object]) -> T:
    """Rebuild a settings dataclass, nested ones included, from ``dataclasses.asdict``'s output
    (as a checkpoint stores it). Lists come back as tuples where the field is a tuple; a key
    the class does not have is an error that names the keys it has."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    if unknown := set(data) - names:
        raise ValueError(f"{cls.__name__} has no settings {sorted(unknown)}; it has {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        kinds = typing.get_args(hints[name]) or (hints[name],)
        nested = next((k for k in kinds if dataclasses.is_dataclass(k)), None)
        if nested is not None and isinstance(value, Mapping):
            value = from_dict(nested, value)
        elif isinstance(value, list) and any(typing.get_origin(k) is tuple for k in kinds):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)
