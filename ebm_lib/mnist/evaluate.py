"""Measure an MNIST energy model: samples generated from noise, and outlier detection.

    python -m ebm_lib.mnist.evaluate notebooks/checkpoints/mnist_ebm.pt

Samples: chains start from uniform noise in [-1, 1] and run Langevin on the model's
energy (the sampler settings are the checkpoint's training settings unless given); a
digit classifier trained on the training digits (``ebm_lib.mnist.classifier``) then measures
them (``ebm_lib.toy2d.metrics.sample_quality``), next to real held-out digits for scale.

Outlier detection: the energy is the outlier score (high energy = unlikely), and the
AUROC says how well it separates held-out digits from each outlier set:
uniform noise, Gaussian noise, inverted digits (-x), digits flipped upside down, and
scikit-learn's 8x8 digits upscaled to 20x20 and centred in 28x28 like MNIST digits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ebm_lib.checkpoints import load_model, read_checkpoint
from ebm_lib.mnist.classifier import DigitClassifier, accuracy, train_classifier
from ebm_lib.mnist.data import Digits, load_mnist
from ebm_lib.samplers import langevin_sample

# ----------------------------------------------------------------------------------------
# Part 2: generated digits, measured with a classifier trained on real ones
# (``ebm_lib.mnist.classifier``), and outlier detection by energy.
# ----------------------------------------------------------------------------------------


def mean_confidence(probs: torch.Tensor) -> float:
    """Mean over samples of the top class probability: near 1 when every sample is a clear digit."""
    return probs.max(dim=1).values.mean().item()


def class_coverage(probs: torch.Tensor) -> float:
    """Entropy of the mean class distribution over log(number of classes), in [0, 1].

    1 when the samples spread evenly over all classes, 0 when they are all one class.
    """
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


def sample_quality(classifier, samples: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """Mean confidence, class coverage and Frechet distance to ``reference`` digits."""
    probs = classifier.predict_proba(samples)
    return {
        "mean_confidence": mean_confidence(probs),
        "class_coverage": class_coverage(probs),
        "frechet_distance": frechet_distance(classifier.features_of(samples), classifier.features_of(reference)),
    }


def energy_auroc(energy_in: torch.Tensor, energy_out: torch.Tensor) -> float:
    """AUROC of the energy as an outlier score: the probability that an outlier gets a
    higher energy than an in-distribution input (1 = perfect separation, 0.5 = chance)."""
    from sklearn.metrics import roc_auc_score

    scores = torch.cat([energy_in, energy_out]).detach().cpu().numpy()
    is_outlier = np.r_[np.zeros(len(energy_in)), np.ones(len(energy_out))]
    return float(roc_auc_score(is_outlier, scores))


def sklearn_digits_28() -> torch.Tensor:
    """scikit-learn's 1,797 8x8 digits (values 0-16), upscaled to 20x20, centred in 28x28, in [-1, 1]."""
    from sklearn.datasets import load_digits

    small = torch.from_numpy(load_digits().images).float().unsqueeze(1) / 16.0  # (N, 1, 8, 8) in [0, 1]
    big = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
    return F.pad(big, (4, 4, 4, 4)) * 2 - 1


def outlier_sets(test_images: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The five outlier sets, each as large as the held-out set (the sklearn digits: all of them)."""
    n = len(test_images)
    return {
        "uniform noise": torch.rand((n, 1, 28, 28), generator=generator) * 2 - 1,
        "Gaussian noise": (0.5 * torch.randn((n, 1, 28, 28), generator=generator)).clamp(-1, 1),
        "inverted digits": -test_images,
        "upside-down digits": test_images.flip(2),
        "sklearn 8x8 digits": sklearn_digits_28(),
    }


@torch.no_grad()
def energies(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def outlier_aurocs(model: torch.nn.Module, digits: Digits, generator: torch.Generator) -> dict[str, float]:
    """AUROC of the energy, held-out digits against each outlier set."""
    e_in = energies(model, digits.test_images)
    return {
        name: energy_auroc(e_in, energies(model, x)) for name, x in outlier_sets(digits.test_images, generator).items()
    }


def generate_from_noise(
    model: torch.nn.Module,
    n: int,
    n_steps: int,
    step_size: float,
    noise_scale: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """n digits from Langevin chains started in uniform noise, clamped to [-1, 1]."""
    x0 = torch.rand((n, 1, 28, 28), generator=generator) * 2 - 1
    return langevin_sample(model, x0, n_steps, step_size, noise_scale, clamp=(-1.0, 1.0), generator=generator).samples


def evaluate(
    checkpoint: Path,
    n_samples: int = 500,
    n_steps: int = 256,
    classifier: DigitClassifier | None = None,
    seed: int = 0,
) -> dict[str, object]:
    """Sample quality (model and real digits) and outlier AUROCs of a checkpoint."""
    state = read_checkpoint(checkpoint)
    model = load_model(checkpoint)
    digits = load_mnist(state["config"]["source"])
    generator = torch.Generator().manual_seed(seed)
    if classifier is None:  # a fresh one, trained on the checkpoint's training digits
        classifier = train_classifier(digits.train_images, digits.train_labels)
    cd = state["cd"]
    samples = generate_from_noise(model, n_samples, n_steps, cd["step_size"], cd["noise_scale"], generator)
    reference = digits.train_images[:2000]
    return {
        "classifier_accuracy": accuracy(classifier, digits.test_images, digits.test_labels),
        "samples": sample_quality(classifier, samples, reference),
        "real": sample_quality(classifier, digits.test_images, reference),
        "auroc": outlier_aurocs(model, digits, generator),
        "n_steps": n_steps,
        "images": samples,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--steps", type=int, default=256, help="Langevin steps from noise")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    result = evaluate(args.checkpoint, args.samples, args.steps, seed=args.seed)
    print(f"classifier accuracy on held-out digits: {result['classifier_accuracy']:.3f}")
    print(f"{'':28s} {'confidence':>10s} {'coverage':>9s} {'Frechet':>9s}")
    for name in ("samples", "real"):
        q = result[name]
        label = f"samples ({args.steps} steps)" if name == "samples" else "real held-out digits"
        print(f"{label:28s} {q['mean_confidence']:10.3f} {q['class_coverage']:9.3f} {q['frechet_distance']:9.2f}")
    for name, value in result["auroc"].items():
        print(f"AUROC held-out vs {name:20s} {value:.3f}")
    return result


if __name__ == "__main__":
    main()
