"""The 2D world: analytic energies, densities on a grid, metrics, datasets, training, the ablation."""
