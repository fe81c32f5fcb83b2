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
# # Notebook 3: training an energy-based model on 2D data
#
# Notebook 2 sampled energies that were given. Now we **learn** the energy from data, by contrastive
# divergence (CD), with Langevin dynamics and a replay buffer inside the training loop. In 2D we can do
# something image models never allow: normalise the learned density on a grid and measure exactly how
# far it is from the truth. So every claim below comes with a number.
#
# **Learning objectives.** After this notebook you can
#
# 1. write the contrastive-divergence loss and say which term pushes which energy where;
# 2. read a training run from its diagnostics: the energy gap, the Langevin gradient norm, and the
#    grid-normalised KL(data || model) and TV;
# 3. recognise a healthy, a collapsing and a diverging run, name a setting that causes each, and fix it;
# 4. tell short-run samples (what the training chains produce) from long-run samples (what the learned
#    density is).
#
# **Prerequisites.** Notebooks 1 and 2; maximum likelihood.
#
# **Convention.** The network returns the **energy** $E_\theta(x)$; low energy = likely;
# $p_\theta(x) = \exp(-E_\theta(x)) / Z_\theta$. (Some tutorials' networks return $-E$; here they do not.)
# Langevin: $x \leftarrow x - h\,\nabla_x E(x) + \sqrt{2h}\,\xi$, the exact noise, so the chains sample
# $p_\theta$ at temperature 1.

# %%

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch

import ebm_lib.utils
from ebm_lib.course.exercises import check_cd_loss, check_diagnosis, check_grid_probabilities
from ebm_lib.course.plotting import show_density
from ebm_lib.samplers import langevin_sample
from ebm_lib.toy2d import metrics
from ebm_lib.toy2d.datasets import get_dataset
from ebm_lib.toy2d.train import HEALTHY_CD, Settings2D, fit_2d, long_run_samples

torch.set_num_threads(1)  # 2D batches are tiny: starting threads costs more than it saves
g = ebm_lib.utils.seed_everything(0)  # seeds Python, NumPy and torch; g is our generator for every draw

# %% [markdown]
# ## 1. Datasets in the plane
#
# `ebm_lib.toy2d.datasets.get_dataset(name).sample(n, generator)` gives $n$ points $(n, 2)$, the same for the same
# seed. Two kinds: samples of the analytic energies of notebook 2 (plus `mixture4`, an easy mixture of
# four equal Gaussians), whose density we know exactly; and three classic toy sets, defined only by how
# they are drawn (`two_moons`, `checkerboard`, `swiss_roll`). For those, `reference_grid` is a histogram
# of 400,000 samples, good for pictures; **the KL and TV figures of this course use the analytic
# energies**, where the reference is exact.

# %%
names = ["mixture4", "mixture", "rings", "two_moons", "checkerboard", "swiss_roll"]
datasets = {name: get_dataset(name).sample(2000, g) for name in names}
for name, x in datasets.items():
    print(f"{name:13s} shape {tuple(x.shape)}, mean ({x[:, 0].mean():+.3f}, {x[:, 1].mean():+.3f})")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 6, figsize=(15, 2.9))
for ax, (name, x) in zip(axes, datasets.items()):
    show_density(ax, get_dataset(name).reference_grid(60), name)
    ax.scatter(x[:400, 0], x[:400, 1], s=2, c="#e66100", alpha=0.6, linewidths=0)
fig.suptitle("2D datasets: reference density (blue) and 400 samples (orange)", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Contrastive divergence in one line
#
# Maximum likelihood minimises
# $-\mathbb E_{\text{data}}[\log p_\theta(x)] = \mathbb E_{\text{data}}[E_\theta(x)] + \log Z_\theta$,
# and $\nabla_\theta \log Z_\theta = -\mathbb E_{p_\theta}[\nabla_\theta E_\theta(x)]$. So the gradient is
#
# $$\nabla_\theta \mathcal L = \mathbb E_{\text{data}}[\nabla_\theta E_\theta(x)]
#   - \mathbb E_{x' \sim p_\theta}[\nabla_\theta E_\theta(x')]:$$
#
# **lower the energy of data, raise the energy of model samples**. The samples $x'$ come from Langevin
# chains started in a replay buffer and are **detached**: no gradient flows through the sampler
# (`ebm_lib.training.train_step`). The loss `ebm_lib.training.cd_loss` adds a regulariser
# $\alpha\,(\overline{E(x)^2} + \overline{E(x')^2})$, because adding a constant to $E$ changes nothing else
# and the energies could drift.
#
# Two numbers watch a run as it goes: the **energy gap** $\overline{E(x')} - \overline{E(x)}$ (positive
# while the model can tell its samples from data, near zero at equilibrium *or* when it learns nothing),
# and the **Langevin gradient norm** $|\nabla_x E|$ (how steep the landscape is where the chains run).
# In 2D we add the real score: normalise $\exp(-E_\theta)$ on a 60 x 60 grid
# (`ebm_lib.toy2d.grid.density_on_grid`) and compute $\mathrm{KL}(\text{data}\,\|\,\text{model})$ and TV against
# the exact density (`grid.grid_kl_tv`).
#
# ## 3. A healthy run
#
# The easy mixture, an MLP of width 64 (2 residual blocks), 800 steps of batch 128, 20 Langevin steps of
# size $h = 0.05$ per training step, a buffer of 10,000 with re-initialisation probability 0.05, Adam
# with learning rate $10^{-3}$ decayed linearly to $10^{-4}$, $\alpha = 0.01$. About 15 s on one core.

# %%
healthy = fit_2d(Settings2D(eval_every=100), seed=0, snapshots=True)
print(f"settings: {healthy.settings}")
for step, kl, tv in zip(healthy.eval_steps, healthy.kl, healthy.tv):
    print(f"step {step:4d}: KL(data || model) {kl:.4f}  TV {tv:.4f}  gap {healthy.history['gap'][step - 1]:+.4f}")

# %% tags=["nbval-ignore-output"]
shown = [0, 1, 3, 5, 7]
fig, axes = plt.subplots(1, len(shown) + 1, figsize=(15, 2.9))
show_density(axes[0], healthy.reference, "true density")
for ax, i in zip(axes[1:], shown):
    step, grid, _ = healthy.snapshots[i]
    show_density(ax, grid, f"learned, step {step}\nKL {healthy.kl[i]:.3f}, TV {healthy.tv[i]:.3f}")
fig.suptitle("exp(-E) of the learned energy, normalised on the grid, as training goes", fontsize=10)
fig.tight_layout()
plt.show()


# %% tags=["nbval-ignore-output"]
def plot_diagnostics(runs, axes):
    """Gap, Langevin gradient norm and grid KL of several runs, one colour each."""
    for (label, run), colour in zip(runs.items(), ["tab:green", "tab:orange", "tab:red"]):
        axes[0].plot(run.history["gap"], color=colour, lw=0.8, label=label)
        axes[1].plot(run.history["langevin_grad_norm"], color=colour, lw=0.8, label=label)
        axes[2].plot(run.eval_steps, run.kl, "o-", color=colour, label=label)
    axes[0].set(title="energy gap E(samples) - E(data)", xlabel="training step")
    axes[1].set(title="Langevin |grad E|", xlabel="training step", yscale="log")
    axes[2].set(title="KL(data || model), grid", xlabel="training step", yscale="log")
    for ax in axes:
        ax.legend(fontsize=8)


fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
plot_diagnostics({"healthy": healthy}, axes)
fig.tight_layout()
plt.show()

# %% [markdown]
# The picture to remember: the gap starts positive (samples from noise are easy to tell from data),
# then falls towards zero **while the KL falls too**: the samples have become like the data. The
# Langevin gradient norm grows from nearly zero (a flat random network) to a steady value as wells form
# around the modes. The KL does not fall smoothly: with persistent chains the model keeps correcting the
# weight of one mode against another, and it wobbles; decaying the learning rate calms it.
#
# ## 4. Healthy, collapsing, diverging
#
# Two settings break the run, in opposite directions:
#
# * **collapsing gap**: a regulariser that is far too strong, $\alpha = 20$. Every energy is pulled to
#   zero, the landscape stays flat, the gap collapses to about 0.02 within a few dozen steps and stays there,
#   and the model learns nothing (KL stays at that of a uniform density). A near-zero gap is *not* a sign
#   of success unless the KL (or, without a grid, samples and the gradient norm) agree. Fix: $\alpha = 0.01$.
# * **diverging energies**: no regulariser ($\alpha = 0$), no gradient clipping and a learning rate of
#   0.02. Nothing ties the energies to zero: the large steps push $E(x')$ up much faster than $E(x)$
#   (in this run both rise; only the gap, their difference, runs away). `train` detects the runaway
#   (`DivergenceError`, here at $|E| > 1000$) and stops *before* the bad optimiser step. Fix:
#   $\alpha > 0$, `max_grad_norm`, a smaller learning rate.

# %%
runs = {
    "healthy": healthy,
    "collapsing (alpha=20)": fit_2d(Settings2D(cd=replace(HEALTHY_CD, alpha=20.0), n_steps=300, eval_every=50), seed=0),
    "diverging (alpha=0, lr=0.02, no clip)": fit_2d(
        Settings2D(
            cd=replace(HEALTHY_CD, alpha=0.0, max_grad_norm=None),
            lr=0.02,
            final_lr_fraction=1.0,
            n_steps=300,
            eval_every=50,
        ),
        seed=0,
    ),
}
for label, run in runs.items():
    h = run.history
    print(
        f"{label:38s} steps {len(h['gap']):4d}  final gap {h['gap'][-1]:+.4f}  E(data) {h['e_data'][-1]:+.4f}  "
        f"Langevin |grad E| {h['langevin_grad_norm'][-1]:.4f}  KL {run.kl[-1]:.4f}"
    )
    if run.diverged:
        print("   ", run.diverged.split(". ")[0] + ".")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
plot_diagnostics(runs, axes)
axes[0].set_yscale("symlog", linthresh=0.1)
axes[0].set_yticks([-1, -0.1, 0, 0.1, 1, 10, 100], ["-1", "-0.1", "0", "0.1", "1", "10", "100"])
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Short-run samples and long-run samples
#
# What are "the model's samples"? Three different things:
#
# * **training chains**: the contents of the buffer, the end points of chains that were restarted from
#   earlier end points many times, while the energy changed under them;
# * **short run from noise**: 20 Langevin steps from fresh uniform noise on the *final* energy; the samples
#   a non-convergent training recipe without a buffer would have used;
# * **long run**: 500 steps from noise on the final energy; close to samples of $p_\theta$ itself.
#
# The short run tells us about the sampler, the long run about the learned density. A model trained with
# short chains can make good short-run samples while its density, seen by long chains, is wrong
# (Nijkamp et al., 2019, 2020). We compare each set with exact data samples by the energy distance $D^2$.

# %%
model, dataset, extent = healthy.model, healthy.dataset, healthy.dataset.extent
exact = dataset.sample(1000, g)
noise = dataset.noise(1000, g)
samples = {
    "training chains (buffer)": healthy.buffer.storage[:1000].clone(),
    "short run, 20 steps": langevin_sample(model, noise, 20, healthy.cd.langevin.step_size, generator=g).samples,
    "long run, 500 steps": long_run_samples(healthy, 1000, 500, g),
    "exact samples (noise floor)": dataset.sample(1000, g),
}
for label, x in samples.items():
    print(f"{label:28s} D^2 to data {metrics.energy_distance(x, exact):.4f}")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
final_grid = healthy.snapshots[-1][1]
for ax, (label, x) in zip(axes, samples.items()):
    show_density(ax, final_grid, label)
    ax.scatter(x[:, 0], x[:, 1], s=2, c="#e66100", alpha=0.6, linewidths=0)
    ax.set_xlim(*extent[:2])
    ax.set_ylim(*extent[2:])
fig.suptitle("samples (orange) over the learned density (blue)", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# Read the numbers, not only the pictures. The training chains (the buffer) match the data almost as
# well as exact samples do; 20 steps from noise are already in the wells but a little off; and the
# **long run is the worst of the three**: run long enough, the chains settle into the learned density,
# whose mode weights are wrong (the grid KL of 0.17 said so; in the picture the blue wells are not
# equally dark). The buffer's samples look better than the model they come from, because the training
# keeps correcting exactly those samples. That is the short-run vs long-run lesson: to judge the
# *density*, use long chains or, in 2D, the grid; to judge the training *procedure*, the buffer.
# Notebook 4 measures what the buffer does to the density.
#
# ## 6. Exercises
#
# Replace each `raise NotImplementedError` with your code and run the check below it. The worked
# solution (tagged `solution`) follows each exercise cell; it is removed in the student version.
#
# ### Exercise 1: the contrastive-divergence loss
#
# Write `my_cd_loss(e_data, e_samples, alpha)`: a scalar tensor whose gradient lowers the data's
# energies and raises the samples', plus the regulariser
# $\alpha\,(\overline{E_{\text{data}}^2} + \overline{E_{\text{samples}}^2})$.


# %%
def my_cd_loss(e_data, e_samples, alpha):
    """Contrastive-divergence loss with the energy regulariser."""
    raise NotImplementedError


# %% tags=["solution"]
def my_cd_loss(e_data, e_samples, alpha):
    """Contrastive-divergence loss with the energy regulariser."""
    return e_data.mean() - e_samples.mean() + alpha * ((e_data**2).mean() + (e_samples**2).mean())


# %%
check_cd_loss(my_cd_loss)

# %% [markdown]
# ### Exercise 2: normalise a learned energy on a grid
#
# Write `grid_probabilities(energies)`: given the energies $E$ at the centres of the cells of a grid
# (a tensor of shape (ny, nx)), return each cell's probability $e^{-E} / \sum e^{-E}$. It must not
# overflow or underflow when all energies are large (add 10,000 to all of them: nothing should change).


# %%
def grid_probabilities(energies):
    """Cell probabilities exp(-E) / sum exp(-E), computed stably."""
    raise NotImplementedError


# %% tags=["solution"]
def grid_probabilities(energies):
    """Cell probabilities exp(-E) / sum exp(-E), computed stably."""
    w = torch.exp(-(energies - energies.min()))  # shift: the largest weight is 1
    return w / w.sum()


# %%
check_grid_probabilities(grid_probabilities)

# %% [markdown]
# ### Exercise 3: read a run from its history
#
# Write `diagnose(history)` that returns `"healthy"`, `"collapsing"` or `"diverging"` from a history
# with keys `"gap"` and `"e_data"` (one value per step). Use only the last steps: non-finite or huge
# energies mean divergence; a gap and energies that are both nearly zero mean a collapse.


# %%
def diagnose(history):
    """'healthy', 'collapsing' or 'diverging', from the last steps of a training history."""
    raise NotImplementedError


# %% tags=["solution"]
def diagnose(history):
    """'healthy', 'collapsing' or 'diverging', from the last steps of a training history."""
    gap, e_data = np.array(history["gap"][-20:]), np.array(history["e_data"][-20:])
    if not np.isfinite(gap).all() or not np.isfinite(e_data).all() or np.abs(e_data).max() > 100:
        return "diverging"
    if np.abs(gap).mean() < 0.01 and np.abs(e_data).mean() < 0.05:
        return "collapsing"
    return "healthy"


# %%
check_diagnosis(diagnose)

# %% [markdown]
# ## Key takeaways
#
# * The network returns the energy $E(x)$; $p(x) \propto e^{-E(x)}$; CD lowers $E$ on data and raises it
#   on detached model samples.
# * In 2D, normalise $e^{-E}$ on a grid and measure KL and TV: the gap alone cannot tell convergence
#   from collapse.
# * A gap stuck near zero with a flat energy (tiny Langevin gradient) is a collapse (here: a far too strong
#   regulariser); energies running away are a divergence (here: no regulariser, no clipping, a large
#   learning rate), caught by `DivergenceError` before the bad step.
# * Short-run samples from noise are not samples of the model; long chains are. The buffer makes the
#   training chains long.
#
# **Next:** notebook 4 measures what the buffer, its re-initialisation and its size do, with error bars.
#
# ## References
#
# * Du, Y. & Mordatch, I. (2019). Implicit generation and modeling with energy-based models. *NeurIPS*.
# * Hinton, G. E. (2002). Training products of experts by minimizing contrastive divergence. *Neural Computation* 14(8).
# * Nijkamp, E., Hill, M., Zhu, S.-C. & Wu, Y. N. (2019). Learning non-convergent non-persistent short-run
#   MCMC toward energy-based model. *NeurIPS*.
# * Nijkamp, E., Hill, M., Han, T., Zhu, S.-C. & Wu, Y. N. (2020). On the anatomy of MCMC-based maximum
#   likelihood learning of energy-based models. *AAAI*.
# * Song, Y. & Kingma, D. P. (2021). How to train your energy-based models. *arXiv:2101.03288*.
# * Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the likelihood
#   gradient. *ICML* (persistent contrastive divergence).
