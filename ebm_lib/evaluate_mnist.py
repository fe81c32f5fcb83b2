"""Measure an MNIST energy model: samples generated from noise, and outlier detection.

    python -m ebm_lib.evaluate_mnist notebooks/checkpoints/mnist_ebm.pt

Samples: chains start from uniform noise in [-1, 1] and run Langevin on the model's
energy (the sampler settings are the checkpoint's training settings unless given); a
digit classifier trained on the training digits (``ebm_lib.classifier``) then measures
them (``ebm_lib.metrics.sample_quality``), next to real held-out digits for scale.

Outlier detection: the energy is the outlier score (high energy = unlikely), and the
AUROC says how well it separates held-out digits from each outlier set:
uniform noise, Gaussian noise, inverted digits (-x), digits flipped upside down, and
scikit-learn's 8x8 digits upscaled to 20x20 and centred in 28x28 like MNIST digits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from ebm_lib.checkpoints import load_model, read_checkpoint
from ebm_lib.classifier import DigitClassifier, accuracy, train_classifier
from ebm_lib.data import Digits, load_mnist
from ebm_lib.metrics import energy_auroc, sample_quality
from ebm_lib.sampling import langevin_sample


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
