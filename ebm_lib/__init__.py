"""ebm_lib: the helper library of the hands-on course on neural energy-based models.

Convention used everywhere: a network returns the energy E(x), one scalar per input,
and the model density is p(x) = exp(-E(x)) / Z. Low energy means likely.

The map. The core, at the top level, is what every energy-based model needs:

    utils        seeding, the device (and native bfloat16), the one input check, thread count,
                 eval mode, settings from dicts
    nets         energy networks (MLP, convolutional, the course's MNIST net) and their cost
    samplers     Langevin (ULA) and Metropolis-adjusted Langevin (MALA): one contract, one result
    buffer       the replay buffer of past samples that starts new chains
    training     contrastive divergence: the loss, one step, the loop, divergence detection
    checkpoints  safe saving and loading, architecture checks, slim copies to ship
    runs         the skeleton of the command-line trainers: budget, checkpoints, resume, shipping

Three worlds import the core (and never the course):

    toy2d/       energies (analytic 2D energies with exact samplers), grid (densities on a grid,
                 true or learned), metrics (distances to the truth, mixing), datasets, train
                 (2D contrastive divergence), ablation (the replay-buffer sweep), explore (the
                 explorer's sampling and metrics, without drawing)
    mnist/       data (digits offline), classifier, evaluate (sample quality, outliers), train
    diffusion/   nets (noise-conditional energies), dsm (score matching, Tweedie), sampling
                 (annealed Langevin, reverse diffusion), energies (analytic noisy energies,
                 sums of energies), train; it uses toy2d.energies and mnist.data (shared data)

and the course, which imports any world:

    course/      explorer (the Langevin widget), plotting, exercises/ (the self-checks)

Each notebook and what it uses (besides utils, course.plotting and course.exercises):

    01 energy networks   nets, samplers
    02 Langevin in 2D    samplers, toy2d.energies, toy2d.metrics, toy2d.explore, course.explorer
    03 training in 2D    samplers, toy2d.datasets, toy2d.train, toy2d.metrics (training, buffer,
                         toy2d.grid through toy2d.train)
    04 replay buffer     toy2d.train, toy2d.ablation (and its stored results)
    05 MNIST             nets, samplers, buffer, training, checkpoints, mnist.*
    06 diffusion         diffusion.*, samplers, checkpoints, toy2d.energies, toy2d.metrics,
                         mnist.data, mnist.classifier, mnist.evaluate

The command-line entry points: ``python -m ebm_lib.mnist.train``, ``ebm_lib.mnist.evaluate``,
``ebm_lib.mnist.classifier``, ``ebm_lib.diffusion.train``, ``ebm_lib.toy2d.ablation``.
"""

__version__ = "0.1.0"
