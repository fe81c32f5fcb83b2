"""The diffusion world: noise-conditional energies, denoising score matching, annealed Langevin, the trainer."""

from ebm_lib.diffusion import nets  # noqa: F401  (registers the noise-conditional nets for checkpoints)
