"""ebm_lib: the helper library of the hands-on course on neural energy-based models.

Convention used everywhere: a network returns the energy E(x), one scalar per input,
and the model density is p(x) = exp(-E(x)) / Z. Low energy means likely.

Modules, one job each:
    utils      seeding, device choice, input checks
    nets       energy networks (MLP, convolutional, the course's MNIST net) and their cost
    sampling   Langevin dynamics and the temperature implied by its noise
    mala       Metropolis-adjusted Langevin (MALA): exact at any step size, with its acceptance rate
    toy        analytic 2D energies with exact samplers and densities on a grid
    metrics    distances from samples to the truth (energy distance, MMD, mode occupancy,
               histogram TV/KL) and sampler diagnostics (autocorrelation, ESS)
    widgets    the interactive Langevin explorer (ipywidgets + matplotlib)
    buffer     the replay buffer of past samples that initialises Langevin chains
    training   contrastive-divergence loss, one training step, the training loop
    plotting   image grids and training curves
    exercises  self-checks that students call on their own code
"""

__version__ = "0.1.0"
