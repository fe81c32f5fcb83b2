import matplotlib
import pytest

from ebm_lib.utils import torch_threads

matplotlib.use("Agg")  # tests draw figures without a screen


@pytest.fixture(scope="module")
def one_thread():
    """Small 2D batches run fastest (and steadiest on a shared machine) on one thread."""
    with torch_threads(1):
        yield
