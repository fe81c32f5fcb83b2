"""The MNIST world: digits, the digit classifier, evaluation of samples and outliers, the trainer."""
