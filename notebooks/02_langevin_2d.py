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
# # Notebook 2: Langevin dynamics on 2D energies
#
# Every neural EBM in this course draws its samples with **Langevin dynamics**: gradient descent on
# the energy plus a little noise. Before we trust it on images, where nobody can check the answer,
# we study it in two dimensions, on energies whose exact distribution we know. There we can *measure*
# how far the samples are from the truth, and see what the step size, the noise, the number of steps
# and gradient clipping each do.
#
# **Learning objectives.** After this notebook you can
#
# 1. write the Langevin update, say where it comes from, and explain why its noise must be
#    $\sqrt{2h}$ for a step size $h$;
# 2. tell apart the two limits it needs (small steps, many steps) and see each one fail;
# 3. compute the temperature a decoupled noise samples at, and explain why image EBMs sample a very
#    cold distribution;
# 4. measure the bias of the unadjusted sampler (ULA) against step size, and remove it with a
#    Metropolis-adjusted one (MALA);
# 5. measure how the time to hop between modes grows with the barrier, and why mode weights are the
#    last thing a sampler gets right;
# 6. say what gradient clipping and clamping fix and what they distort;
# 7. judge samples with numbers: a two-sample distance, mode occupancy, histogram distances,
#    acceptance rate and effective sample size.
#
# **Prerequisites.** Notebook 1 (energies, $p(x) \propto \exp(-E(x))$), PyTorch autograd, and a first
# idea of what a Markov chain is. The exercises are at the end; section 8 has the interactive
# explorer.
#
# **Convention.** As everywhere in the course: the energy $E(x)$ is what a model returns,
# $p(x) = \exp(-E(x)) / Z$, **low energy = likely**, and one Langevin step is
#
# $$x \leftarrow x - h\,\nabla_x E(x) + s\,\xi, \qquad \xi \sim \mathcal{N}(0, I),$$
#
# with step size $h$ (`step_size`) and noise scale $s$ (`noise_scale`). The exact sampler has
# $s = \sqrt{2h}$; any other noise samples $p$ at the temperature $T = s^2 / (2h)$.

# %%
import math
import statistics

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Image as IPImage
from IPython.display import display

import ebm_lib.utils
from ebm_lib.course.exercises import (
    check_langevin_step,
    check_stationary_variance,
    check_step_size_choice,
    step_size_distance_curve,
)
from ebm_lib.course.explorer import LangevinExplorer
from ebm_lib.course.plotting import show_density
from ebm_lib.samplers import (
    exact_noise_scale,
    langevin_sample,
    langevin_temperature,
    mala_sample,
    noise_scale_for_temperature,
)
from ebm_lib.toy2d import energies as toy
from ebm_lib.toy2d import metrics
from ebm_lib.toy2d.explore import initial_points

torch.set_num_threads(1)  # 2D batches are tiny: starting threads costs more than it saves
g = ebm_lib.utils.seed_everything(0)  # seeds Python, NumPy and torch; g is our generator for every draw

# %% [markdown]
# ## 1. A test bench: energies with known answers
#
# `ebm_lib.toy2d.energies` has six analytic energies on the plane. Each one gives its energy and gradient on a
# batch of points $(B, 2)$, **exact samples** of $p$, and $p$ on a grid (normalised numerically),
# so we can always compare a sampler's output with the truth. Each one stresses a sampler in its own
# way:
#
# * `mixture`: 8 Gaussian modes on a circle with **unequal weights**; the barriers between modes are
#   high, so getting the weights right means hopping between modes.
# * `double_well`: two modes split by a barrier whose height we can choose.
# * `banana`: a curved ridge; it is narrow at its tips, where a large step overshoots.
# * `rings`: three concentric rings; the mass sits on curves, not around points.
# * `funnel`: Neal's funnel; very narrow at the bottom, wide at the top: no single step size suits
#   both ends.
# * `gaussian`: an elongated Gaussian (standard deviations 1.5 and 0.3), where everything has a
#   formula.

# %%
energies = {name: toy.make_energy(name) for name in toy.REGISTRY}
for name, energy in energies.items():
    weights = energy.mode_weights
    described = ""
    if weights is not None and len(weights) > 1:
        described = f"{len(weights)} modes, weights " + " ".join(f"{w:.3f}" for w in weights.tolist())
    print(f"{name:12s} {energy!r:45s} {described}")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(2, 3, figsize=(12, 7.4))
for ax, (name, energy) in zip(axes.flat, energies.items()):
    grid = energy.density_grid(bins=150)
    show_density(ax, grid, contours=True)
    x = energy.sample(600, g)
    ax.scatter(x[:, 0], x[:, 1], s=3, c="#e66100", alpha=0.7, linewidths=0)
    ax.set_title(f"{name}: {energy.title}", fontsize=10)
fig.suptitle("The six energies: density p (blue, square-root scale) and 600 exact samples (orange)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. The update rule and where it comes from
#
# Langevin dynamics is the stochastic differential equation
#
# $$dX_t = -\nabla E(X_t)\,dt + \sqrt{2}\,dW_t,$$
#
# a particle that rolls downhill ("drift") while being shaken by Brownian motion $W_t$ ("diffusion").
# Its density $p_t$ obeys the Fokker-Planck equation
# $\partial_t p_t = \nabla \cdot (p_t \nabla E + \nabla p_t)$, and the bracket vanishes for
# $p \propto e^{-E}$ (because then $\nabla p = -p \nabla E$). So $p$ is the stationary law: drift and
# diffusion balance exactly there, and for well-behaved energies the chain converges to it from any
# start.
#
# One Euler-Maruyama step of length $h$ replaces $dt$ by $h$ and the Brownian increment by
# $\sqrt{h}\,\xi$ with $\xi \sim \mathcal N(0, I)$:
#
# $$x_{k+1} = x_k - h\,\nabla E(x_k) + \sqrt{2h}\,\xi_k.$$
#
# That is the **unadjusted Langevin algorithm (ULA)**, `ebm_lib.samplers.langevin_sample`. Why
# $\sqrt{2h}$? The drift moves a particle by $O(h)$ per step, the noise by $O(\sqrt h)$; the factor 2
# is what makes the two balance at $p$ (exercise 2 checks this on a quadratic energy). Papers write
# the same rule in other ways: with a step $\epsilon/2$ on the gradient and a noise $\sqrt{\epsilon}$
# it is our rule with $h = \epsilon / 2$. A step and a noise chosen independently are a different
# rule (section 4).
#
# Here are both parts at work on the banana: noise-free gradient descent ($s = 0$) slides to the
# minimum and stops; Langevin keeps moving and spreads over the whole banana.

# %%
banana = energies["banana"]
starts = torch.tensor([[-3.5, 4.5], [3.5, 4.5], [0.0, 4.0], [-1.0, -2.5]])
x0 = torch.cat([starts, banana.sample(496, g)])  # 4 drawn paths plus 496 particles for the statistics
h = 0.01
descent = langevin_sample(banana, x0, 400, h, noise_scale=0.0, record_trajectory=True)
langevin = langevin_sample(banana, x0, 400, h, generator=g, record_trajectory=True)
print(f"step size h = {h}, exact noise s = sqrt(2h) = {exact_noise_scale(h):.4f}")
print(f"mean energy after 400 steps: gradient descent {banana(descent.samples).mean():.3f}, ", end="")
print(f"Langevin {banana(langevin.samples).mean():.3f}, exact samples {banana(banana.sample(4000, g)).mean():.3f}")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 2, figsize=(10, 4.3), sharey=True)
grid = banana.density_grid(bins=150)
for ax, run, title in [(axes[0], descent, "gradient descent (s = 0)"), (axes[1], langevin, "Langevin (s = sqrt(2h))")]:
    show_density(ax, grid, contours=True)
    for i in range(4):
        path = run.trajectory[:, i]
        ax.plot(path[:, 0], path[:, 1], lw=0.9)
        ax.scatter(path[0, 0], path[0, 1], s=25, c="white", edgecolors="black", zorder=3)
    ax.scatter(run.samples[4:, 0], run.samples[4:, 1], s=3, c="#e66100", alpha=0.6, linewidths=0)
    ax.set_title(f"{title}: 400 steps, h = {h}", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# Samples of $p$ are **not** minima of $E$: their mean energy is well above the minimum, because
# there is far more room at moderate energies than at the bottom. A sampler that ends at the minimum
# has found the mode, not a sample.
#
# ## 3. Two limits: small steps and many steps
#
# The chain is exact only in a double limit. **Many steps** ($n \to \infty$): the chain must forget
# where it started; how long that takes is set by the *time* $t = n h$ the particles travel, not by
# the number of steps. **Small steps** ($h \to 0$): at any finite $h$ the discretised chain
# converges to a slightly wrong law, whose error grows with $h$.
#
# We start 2,000 particles in the wide top of the funnel, around $(0, 2.5)$, and follow the energy distance
# $D^2$ to $p$ (the distance is explained in section 5; 0 means "indistinguishable from exact samples
# of the same size") as a function of the time $t = n h$, for four step sizes.

# %%
funnel = energies["funnel"]
reference = {}


def distance_to_p(samples, energy):
    """Energy distance D^2 between samples and 4,000 exact samples of the energy (a fixed set)."""
    if energy not in reference:
        ref = energy.reference_samples(4000)
        reference[energy] = (ref, metrics.mean_pairwise_distance(ref))
    ref, ref_self = reference[energy]
    return metrics.energy_distance(samples, ref, ref_self)


def noise_floor(values):
    """The largest |distance| between exact samples and p in a few tries: values below it are noise."""
    return float(np.max(np.abs(values)))


times = np.array([0.1, 0.3, 1.0, 2.0, 4.0, 7.0, 10.0, 15.0, 20.0])
x0 = torch.tensor([0.0, 2.5]) + 0.5 * torch.randn(2000, 2, generator=g)
curves, frames = {}, {}
for h in (0.01, 0.03, 0.1, 0.2):
    n_steps = round(times[-1] / h)
    run = langevin_sample(funnel, x0, n_steps, h, generator=g, record_trajectory=True)
    curves[h] = [distance_to_p(run.trajectory[round(t / h)], funnel) for t in times]
    if h == 0.01:
        frames = {t: run.trajectory[round(t / h)] for t in (0.0, 1.0, 4.0, 20.0)}
exact_values = [distance_to_p(funnel.sample(2000, g), funnel) for _ in range(8)]
floor = noise_floor(exact_values)
for h, curve in curves.items():
    print(f"h = {h:<5} D^2 at t = 1: {curve[2]:.4f}   at t = 4: {curve[4]:.4f}   at t = 20: {curve[-1]:.4f}")
print(f"exact samples: {' '.join(f'{v:.4f}' for v in exact_values)}, noise floor {floor:.4f}")

# %% tags=["nbval-ignore-output"]
fig = plt.figure(figsize=(13, 3.9))
grid_spec = fig.add_gridspec(1, 5, width_ratios=[1, 1, 1, 1, 1.6])
fgrid = funnel.density_grid(bins=150)
for i, (t, x) in enumerate(frames.items()):
    ax = fig.add_subplot(grid_spec[0, i])
    show_density(ax, fgrid, contours=True)
    ax.scatter(x[:, 0], x[:, 1], s=2, c="#e66100", alpha=0.5, linewidths=0)
    ax.set_title(f"h = 0.01, t = n h = {t:g}", fontsize=9)
ax = fig.add_subplot(grid_spec[0, 4])
for h, curve in curves.items():
    ax.plot(times, np.maximum(curve, 1e-4), "o-", ms=3, label=f"h = {h}")
ax.axhspan(1e-4, floor, color="grey", alpha=0.25, label="noise floor")
ax.set(xscale="log", yscale="log", xlabel="time t = n h", ylabel="energy distance $D^2$ to p", ylim=(8e-5, 5))
ax.set_title("distance to p: a function of time, down to a floor", fontsize=9)
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Read the right panel in two parts. **Early on** the curves lie on top of each other: the chains
# follow the same continuous-time dynamics, and a step 20 times larger gets there in 20 times fewer
# steps. **Late**, each curve flattens at its own floor, and the floor rises with $h$: that is the
# discretisation bias. Small steps buy accuracy; large steps buy speed; section 5 measures the bias,
# and exercise 3 asks for the cheapest compromise.
#
# ## 4. Temperature, and what a decoupled noise does
#
# Suppose we keep the step $h$ but pick the noise scale $s$ freely. Write $s^2 = 2hT$; then
#
# $$x - h\,\nabla E(x) + \sqrt{2hT}\,\xi \;=\; x - (hT)\,\nabla\!\left(\frac{E}{T}\right)\!(x) + \sqrt{2(hT)}\,\xi,$$
#
# which is the *exact-noise* rule with step $hT$ on the energy $E/T$. So the chain samples
# $p_T(x) \propto \exp(-E(x)/T)$ at the **temperature** $T = s^2/(2h)$ (`langevin_temperature`).
# $T < 1$ sharpens every mode (a Gaussian mode of width $\sigma$ becomes one of width
# $\sigma\sqrt{T}$) and deepens every barrier by $1/T$; $T \to 0$ is gradient descent.

# %%
mixture = energies["mixture"]
x_exact = mixture.sample(2000, g)
h = 0.01
cold_runs = {}
for temperature in (1.0, 0.3, 0.05, 0.005):
    s = noise_scale_for_temperature(h, temperature)
    x = langevin_sample(mixture, x_exact, 500, h, noise_scale=s, generator=g).samples
    cold_runs[temperature] = x
    spread = (x - mixture.modes[mixture.assign_modes(x)]).pow(2).mean().sqrt().item()
    print(
        f"T = {temperature:<6} noise s = {s:.4f}: spread around the modes {spread:.4f} "
        f"(sigma sqrt(T) = {mixture.sigma * math.sqrt(temperature):.4f}), D^2 to p = {distance_to_p(x, mixture):.4f}"
    )

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 4, figsize=(13, 3.5), sharey=True)
for ax, (temperature, x) in zip(axes, cold_runs.items()):
    tgrid = mixture.density_grid(bins=150, temperature=temperature)
    show_density(ax, tgrid, contours=True)
    ax.scatter(x[:, 0], x[:, 1], s=2, c="#e66100", alpha=0.5, linewidths=0)
    ax.set_title(f"T = {temperature}: s = {noise_scale_for_temperature(h, temperature):.3f}, h = {h}", fontsize=9)
fig.suptitle("ULA with a decoupled noise samples exp(-E/T) (blue: the tempered density)", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Image EBMs sample cold.** The settings used to train image EBMs (Du & Mordatch 2019, and in
# notebook 5) take a large step on the gradient and a tiny noise, because with the exact noise the
# images would drown in it. The temperature they sample at:

# %%
for step_size, noise_scale in [(10.0, 0.005), (1.0, 0.01), (0.01, 0.005)]:
    print(f"step {step_size:>5}, noise {noise_scale}: T = {langevin_temperature(step_size, noise_scale):.3g}")

x_cold = langevin_sample(
    mixture,
    torch.randn(2000, 2, generator=g),
    300,
    0.01,
    noise_scale=noise_scale_for_temperature(0.01, 1e-6),
    generator=g,
).samples
occupancy = metrics.mode_occupancy(mixture.assign_modes(x_cold), 8)
print(f"T = 1e-6 from N(0, I): occupancy {' '.join(f'{o:.3f}' for o in occupancy.tolist())}")
print(f"true weights:                    {' '.join(f'{w:.3f}' for w in mixture.mode_weights.tolist())}")
print(f"spread around the modes {(x_cold - mixture.modes[mixture.assign_modes(x_cold)]).pow(2).mean().sqrt():.4f}")

# %% [markdown]
# At $T \approx 10^{-6}$ Langevin is gradient descent with a negligible jitter: every particle ends in
# the nearest mode (its basin of attraction decides, not the mode's weight), and the spread around the
# modes is tiny. That is what image EBMs call "samples": points near local minima of the energy,
# reached from the start by a short run. It works for training (notebooks 3 to 5 show how, and
# Nijkamp et al. 2020 analyse it), but keep in mind that such samples are not draws from $p$. The
# diffusion models of notebook 6 fix this with a schedule of noise levels.
#
# ## 5. The bias of ULA, and MALA's correction
#
# **Measuring "how far from the truth".** Our main distance is the **energy distance**
#
# $$D^2(P, Q) = 2\,\mathbb E|X - Y| - \mathbb E|X - X'| - \mathbb E|Y - Y'|, \qquad X, X' \sim P,\; Y, Y' \sim Q,$$
#
# which is zero exactly when $P = Q$ and needs no bandwidth (it is a maximum mean discrepancy with
# the kernel $|a| + |b| - |a - b|$). `metrics.energy_distance` estimates it without bias, so two
# exact samples give values that scatter around 0, negative ones included: always compare with that
# **noise floor**. `ebm_lib.toy2d.metrics` also has `mmd_rbf` (Gaussian kernel), mode occupancy, and
# histogram TV and KL against `density_grid`.
#
# **MALA.** The Metropolis-adjusted Langevin algorithm uses the Langevin step as a *proposal*
# $x' = x - h\nabla E(x) + \sqrt{2h}\,\xi$ and accepts it with probability $\min(1, a)$,
#
# $$a = \frac{p(x')\, q(x \mid x')}{p(x)\, q(x' \mid x)}, \qquad
#   q(b \mid a) \propto \exp\!\Big(-\frac{|b - a + h\nabla E(a)|^2}{4h}\Big),$$
#
# otherwise the chain stays where it is. The $q$ terms are there because the proposal is not
# symmetric (it drifts downhill). The Metropolis test makes $p$ exactly stationary at **every**
# step size; the price is one energy evaluation per step and rejections when $h$ is large
# (`ebm_lib.samplers.mala_sample`, which reports the acceptance rate).
#
# The experiment: start 2,000 particles **at exact samples**, so the only error left is the
# sampler's own, run 300 steps and measure the distance to $p$. For the mixture we also measure an
# MMD with Gaussian kernels of bandwidths 0.1 and 0.3, the scale of its modes (`metrics.mmd_rbf`).

# %%
BANDWIDTHS = [0.1, 0.3]
mmd_reference = mixture.reference_samples(2000)
mmd_reference_self = metrics.mean_kernel(mmd_reference, BANDWIDTHS)


def mmd_to_p(samples):
    """MMD^2 (Gaussian kernels, bandwidths 0.1 and 0.3) between samples and 2,000 exact mixture samples."""
    return metrics.mmd_rbf(samples, mmd_reference, BANDWIDTHS, mmd_reference_self)


step_sizes = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2]
bias = {}
for name in ("mixture", "funnel"):
    energy = energies[name]
    x0 = energy.sample(2000, g)
    rows = []
    for h in step_sizes:
        ula = langevin_sample(energy, x0, 300, h, generator=g).samples
        mala = mala_sample(energy, x0, 300, h, generator=g)
        row = [distance_to_p(ula, energy), distance_to_p(mala.samples, energy), mala.accept_rate]
        if name == "mixture":
            row += [mmd_to_p(ula), mmd_to_p(mala.samples)]
        rows.append(row)
    exact = [energy.sample(2000, g) for _ in range(16)]
    floors = [noise_floor([distance_to_p(x, energy) for x in exact])]
    if name == "mixture":
        floors.append(noise_floor([mmd_to_p(x) for x in exact]))
    bias[name] = (np.array(rows), floors)
    print(f"{name}: noise floors (largest |value| for 16 exact samples): D^2 {floors[0]:.4f}", end="")
    print(f", MMD^2 {floors[1]:.5f}" if name == "mixture" else "")
    print(
        "   h       ULA D^2   MALA D^2   MALA acceptance" + ("   ULA MMD^2   MALA MMD^2" if name == "mixture" else "")
    )
    for h, row in zip(step_sizes, rows):
        line = f"   {h:<6}  {row[0]:8.4f}  {row[1]:8.4f}   {row[2]:.3f}"
        print(line + (f"          {row[3]:9.5f}   {row[4]:9.5f}" if name == "mixture" else ""))

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 4, figsize=(15, 3.7))
hs = np.array(step_sizes)
panels = [
    (axes[0], "mixture", 0, "energy distance $D^2$", "mixture"),
    (axes[1], "mixture", 3, "MMD$^2$, bandwidths 0.1 and 0.3", "mixture, a local distance"),
    (axes[2], "funnel", 0, "energy distance $D^2$", "funnel"),
]
for ax, name, column, ylabel, title in panels:
    rows, floors = bias[name]
    floor = floors[0 if column == 0 else 1]
    ax.plot(hs, rows[:, column], "o-", color="tab:red", label="ULA")
    ax.plot(hs, rows[:, column + 1 if column == 0 else 4], "s-", color="tab:blue", label="MALA")
    slope = rows[step_sizes.index(0.1), column] * (hs / 0.1) ** 2
    ax.plot(hs[slope > floor], slope[slope > floor], ":", color="grey", label="slope 2: ~ h$^2$")
    ax.axhspan(-floor, floor, color="grey", alpha=0.25, label="noise floor (exact samples)")
    # symlog: linear within the noise floor (where values can be negative), logarithmic above
    ax.set_yscale("symlog", linthresh=floor)
    ax.set_yticks([0.0] + [10.0**k for k in range(math.ceil(math.log10(floor)), 1)])
    ax.yaxis.set_minor_locator(plt.NullLocator())
    ax.set(xscale="log", xlabel="step size h", ylabel=ylabel, ylim=(-1.5 * floor, 1))
    ax.set_title(f"{title}: start at exact samples", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
for name, (rows, _) in bias.items():
    axes[3].plot(hs, rows[:, 2], "o-", label=name)
axes[3].set(xscale="log", xlabel="step size h", ylabel="MALA acceptance rate", ylim=(0, 1.02))
axes[3].set_title("the price of exactness: rejections", fontsize=9)
axes[3].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ULA starts at the truth and walks *away* from it, to its own stationary law, which is further
# from $p$ the larger the step: the error in distribution is of order $h$ (Durmus & Moulines 2017),
# so a squared distance like $D^2$ grows like $h^2$ until the step approaches the stability limit
# ($h \approx 2/\text{curvature}$; the mixture's modes have curvature $1/0.3^2 = 11$) and it explodes.
# MALA stays within the noise floor at every step size; what grows instead is the rejection rate,
# and with it the time the chain needs to move. Exercise 2 derives the bias exactly on a Gaussian.
#
# Two remarks for the rest of the course. First, a distance sees what it is built to see: on the
# mixture the energy distance is dominated by *where* the mass is (its noise floor is set by the
# random mode counts of 2,000 samples), so it notices ULA's too-wide modes only at $h = 0.1$; the
# MMD with kernels as narrow as the modes sees them at $h = 0.05$ already. Second, in EBM *training* the
# energy itself is being learned, so MALA's exactness matters less than ULA's speed; that is why
# training uses ULA.
#
# ## 6. Mixing between modes
#
# Within a mode Langevin is fast; between modes it needs a rare event: the noise has to push the
# particle uphill over the barrier. For a barrier of height $\Delta E$ (above the minimum) the mean
# waiting time follows **Kramers' law**,
#
# $$\tau \approx \frac{2\pi}{\sqrt{E''(x_{\min})\,|E''(x_{\text{saddle}})|}}\; e^{\Delta E / T},$$
#
# exponential in the barrier. We measure it on the double well, whose barrier we set: 400 chains,
# exact noise, $h = 0.02$, counting a hop each time a chain passes from one well ($x_1 < -a/2$) to the
# other ($x_1 > a/2$).

# %%
h, n_chains, n_steps = 0.02, 400, 3000
barriers = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
hop_times, kramers, traces = [], [], {}
for barrier in barriers:
    well = toy.DoubleWell(barrier=barrier)
    a = well.a
    x = well.sample(n_chains, g)
    side = torch.sign(x[:, 0])
    hops, trace = 0, []
    for _ in range(n_steps):
        x = x - h * well.grad(x) + math.sqrt(2 * h) * torch.randn(x.shape, generator=g)
        new_side = torch.where(x[:, 0] > a / 2, 1.0, torch.where(x[:, 0] < -a / 2, -1.0, side))
        hops += int((new_side != side).sum())
        side = new_side
        trace.append(x[0, 0].item())
    traces[barrier] = trace
    hop_times.append(n_chains * n_steps * h / max(hops, 1))  # chain-time per hop
    curvature_min, curvature_saddle = 8 * barrier / a**2, 4 * barrier / a**2
    kramers.append(2 * math.pi / math.sqrt(curvature_min * curvature_saddle) * math.exp(barrier))
    print(f"barrier {barrier:.0f}: {hops:5d} hops, mean time between hops {hop_times[-1]:7.2f}", end="")
    print(f"  (Kramers {kramers[-1]:7.2f})")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 1.6]})
axes[0].semilogy(barriers, hop_times, "o", label="measured (ULA, h = 0.02)")
axes[0].semilogy(barriers, kramers, "-", color="grey", label="Kramers' law")
axes[0].set(xlabel="barrier height $\\Delta E$", ylabel="mean time between hops")
axes[0].set_title("time to hop grows like exp(barrier)", fontsize=10)
axes[0].legend(fontsize=8)
steps = np.arange(1, n_steps + 1) * h
for barrier in (2.0, 5.0):
    axes[1].plot(steps, traces[barrier], lw=0.6, label=f"barrier {barrier:.0f}")
axes[1].set(xlabel="time t = n h", ylabel="$x_1$ of one chain")
axes[1].set_title("one chain on the double well: hops are rare, sudden events", fontsize=10)
axes[1].legend(fontsize=8, loc="upper right")
fig.tight_layout()
plt.show()

# %% [markdown]
# Each unit of barrier multiplies the waiting time by $e \approx 2.7$, and a cold sampler ($T < 1$)
# multiplies the exponent by $1/T$. On the 8-mode mixture the barriers are about 6 units high out of
# a light mode and 7 out of a heavy one, so a chain waits hundreds of time units for a hop. The
# consequence: chains find the *shape* of each mode quickly but inherit the *weights* from where
# they started. We run 2,000 chains for a time $t = 100$ (2,000 steps of $h = 0.05$) from two starts:
# uniform over the box, and all from one point near the light mode at the bottom left.

# %%
true_weights = mixture.mode_weights
occupancies, ess_per_chain = {}, {}
for start in ("uniform", "one point"):
    x0 = initial_points(start, 2000, mixture, g)
    run = langevin_sample(mixture, x0, 2000, 0.05, generator=g, record_trajectory=True)
    occupancies[start] = metrics.mode_occupancy(mixture.assign_modes(run.samples), 8)
    chains = run.trajectory[1000:, :, 0]  # x1 over the second half of the run, shape (1001, 2000)
    ess_per_chain[start] = metrics.effective_sample_size(chains) / chains.shape[1]
exact_occupancy = metrics.mode_occupancy(mixture.assign_modes(mixture.sample(2000, g)), 8)
print("occupancy of the 8 modes                        TV to the weights")
print(f"true weights   {' '.join(f'{w:.3f}' for w in true_weights.tolist())}")
for start, occupancy in [*occupancies.items(), ("exact samples", exact_occupancy)]:
    tv = metrics.occupancy_tv(occupancy, true_weights)
    print(f"{start:14s} {' '.join(f'{o:.3f}' for o in occupancy.tolist())}   {tv:.3f}")
for start, ess in ess_per_chain.items():
    print(f"effective sample size of x1 from {start}: {ess:.2f} per chain (out of 1,001 states)")

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(8, 3))
k = np.arange(8)
ax.bar(k - 0.27, true_weights.numpy(), width=0.27, label="true weight")
ax.bar(k, occupancies["uniform"].numpy(), width=0.27, label="ULA from a uniform start")
ax.bar(k + 0.27, occupancies["one point"].numpy(), width=0.27, label="ULA from one point")
ax.set(xlabel="mode (counter-clockwise from (3, 0))", ylabel="fraction of particles", xticks=k)
ax.set_title("after t = 100: local samplers still carry the weights of their start", fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# From the uniform start the occupancy is not far off: each particle fell into the nearest mode
# (the basins are of similar size, a little larger for heavy modes) and particles in light modes,
# behind the lower barriers, have started to leak to their heavy neighbours. From one point, most
# particles are still in the mode they started next to and its two neighbours: after $t = 100$, the
# weights are still those of the start.
#
# The effective sample size (ESS) says the same in numbers: 2,000 chains of 1,001 states each are
# worth about one independent draw per chain, because each chain stays in its mode
# (`metrics.effective_sample_size` measures the autocorrelation around the mean of *all* chains, so
# chains that have not mixed count as correlated). Remedies come later: the replay buffer of
# notebook 4 keeps chains running across training steps, and the annealed (hot-to-cold) sampling of
# notebook 6 crosses barriers while they are low.
#
# ## 7. Clipping: what it fixes and what it distorts
#
# EBM code often clips, in two different ways (`langevin_sample` has both):
#
# * **gradient clipping** (`grad_clip=c`) rescales $\nabla E$ to norm at most $c$. It keeps a chain
#   alive where the gradient is huge, but it *changes the drift*: where $|\nabla E| > c$, the pull back
#   is weaker than it should be. For a Gaussian well the clipped drift is the gradient of an energy
#   that grows only linearly beyond $|x - \mu| = c\,\sigma^2$, so the tails become exponential and the
#   mode wider.
# * **clamping** (`clamp=(lo, hi)`) forces the state into a box after each step, as image code does to
#   keep pixels in $[-1, 1]$. Every particle that tries to leave lands exactly on the wall, so $p$ gets
#   point masses on the boundary that it never had.

# %%
x_exact = mixture.sample(2000, g)
clipped = {}
for clip in (None, 10.0, 3.0):
    x = langevin_sample(mixture, x_exact, 500, 0.01, grad_clip=clip, generator=g).samples
    radius = (x - mixture.modes[mixture.assign_modes(x)]).norm(dim=1)
    clipped[clip] = (x, radius)
    d2 = distance_to_p(x, mixture)
    print(f"grad_clip {str(clip):5s}: mean distance to the mode {radius.mean():.4f}, D^2 to p {d2:.4f}")
print(f"exact:           mean distance to the mode {mixture.sigma * math.sqrt(math.pi / 2):.4f} (sigma sqrt(pi/2))")

boxed = langevin_sample(mixture, x_exact, 500, 0.01, clamp=(-2.5, 2.5), generator=g).samples
on_wall = ((boxed.abs() == 2.5).any(dim=1)).float().mean().item()
print(f"clamp to [-2.5, 2.5]: {on_wall:.3f} of the particles sit exactly on the walls")

banana_start = banana.sample(2000, g)
for clip in (None, 20.0):
    x = langevin_sample(banana, banana_start, 300, 0.1, grad_clip=clip, generator=g).samples
    alive = torch.isfinite(x).all(dim=1) & (x.abs().amax(dim=1) < 1e3)  # NaN, inf, or on its way there
    print(
        f"banana, h = 0.1, grad_clip {str(clip):5s}: {int((~alive).sum()):4d} of 2000 chains diverged, "
        f"D^2 of the others {distance_to_p(x[alive], banana):.4f}"
    )

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
axes[0].scatter(clipped[3.0][0][:, 0], clipped[3.0][0][:, 1], s=2, c="#e66100", alpha=0.5, linewidths=0)
axes[0].scatter(x_exact[:, 0], x_exact[:, 1], s=2, c="tab:blue", alpha=0.3, linewidths=0)
axes[0].set_title("grad_clip = 3 (orange) vs exact (blue)", fontsize=10)
axes[0].set_aspect("equal")
bins = np.linspace(0, 2, 50)
for clip, (_, radius) in clipped.items():
    axes[1].hist(radius.numpy(), bins=bins, density=True, histtype="step", lw=1.5, label=f"grad_clip = {clip}")
r = np.linspace(0, 2, 200)
sigma = mixture.sigma
axes[1].plot(r, r / sigma**2 * np.exp(-(r**2) / (2 * sigma**2)), "k:", label="exact (Rayleigh)")
axes[1].set(xlabel="distance to the nearest mode", ylabel="density")
axes[1].set_title("clipping weakens the pull: wider modes, heavier tails", fontsize=10)
axes[1].legend(fontsize=8)
centres, marginal = mixture.density_grid(bins=200).marginal(0)
axes[2].hist(
    boxed[:, 0].numpy(), bins=np.linspace(-4, 4, 81), density=True, color="#e66100", alpha=0.6, label="clamped ULA"
)
axes[2].plot(centres, marginal, color="tab:blue", label="true marginal")
axes[2].set(xlabel="$x_1$", xlim=(-4, 4))
axes[2].set_title("clamp to [-2.5, 2.5]: mass piles up on the walls", fontsize=10)
axes[2].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Clipping trades a crash for a bias. On the banana at $h = 0.1$ the chains that wander to the narrow
# tips overshoot and blow up; with the gradient clipped, every chain survives, but the distribution
# is off. Clipping is a safety net, not a fix: if it triggers often, the step is too large. In image
# EBMs clamping to $[-1, 1]$ is harmless when the model keeps its samples inside the box anyway; when
# many pixels sit exactly at $\pm 1$, the sampler is fighting the box.
#
# ## 8. Try it: the Langevin explorer
#
# The explorer runs a sampler on one of the energies above each time you move a slider, and shows the
# contours, the particle cloud, a few trajectories (white dots mark their starts), both marginal
# histograms against the true marginals (dashed: $p$ at your temperature $T$), and the live metrics:
# energy distance and histogram TV (each with the value exact samples of the same size get),
# histogram KL, mode occupancy TV, acceptance rate, mean gradient norm and ESS. Each slider change
# re-samples from the same seed, so what changes is what the slider did.
#
# Things to try:
#
# * `mixture`, ULA, start `exact samples`: raise the step size from 0.01 to 0.2 and watch the modes
#   widen and $D^2$ climb; switch to MALA at 0.2: exact again, at the cost of rejections.
# * `mixture` from `one point`: how many steps until the cloud reaches all 8 modes? Do the weights
#   ever come right?
# * `funnel`, ULA, step 0.3: which end of the funnel goes wrong first? Then MALA.
# * Any energy: lower the temperature to 0.01, then 0.0001, and compare with the dashed marginal.
#
# (On the website the sliders are not live; the figures of sections 2 to 7 carry the same lessons.)

# %% tags=["nbval-ignore-output", "widget"]
explorer = LangevinExplorer(energy="mixture", sampler="ULA", step_size=0.01, n_steps=200, n_particles=1000)
display(explorer)

# %% [markdown]
# How fast is one slider change? We replay a lecturer's moves (1,000 particles, 200 steps: sampling,
# metrics and drawing) and time each one. The figure is never rebuilt: the particles, paths and
# histograms get new data and are drawn over a cached picture of the contours and axes (blitting on
# matplotlib's Agg canvas), then sent as one JPEG to the image widget.

# %% tags=["nbval-ignore-output"]
moves = [{"step_size": v} for v in (0.02, 0.05, 0.1, 0.03)]
moves += [{"sampler": "MALA"}, {"temperature": 0.3}, {"temperature": 1.0}, {"sampler": "ULA"}]
moves += [{"init": "uniform"}, {"init": "gaussian"}, {"step_size": 0.01}]
latencies = explorer.time_updates(moves)
print(
    f"one slider change, 1,000 particles x 200 steps: median {1000 * statistics.median(latencies):.0f} ms, "
    f"max {1000 * max(latencies):.0f} ms over {len(latencies)} changes"
)

# %% [markdown]
# For readers of the static page, two snapshots of the explorer: ULA and MALA at the same large step
# size $h = 0.15$, started at exact samples of the mixture.

# %% tags=["nbval-ignore-output"]
for sampler in ("ULA", "MALA"):
    explorer.update(sampler=sampler, step_size=0.15, init="exact samples")
    m = explorer.metrics
    accepted = "" if sampler == "ULA" else f", acceptance {m['accept_rate']:.2f}"
    print(f"{sampler}, h = 0.15: D^2 = {m['energy_distance']:.4f}, occupancy TV = {m['occupancy_tv']:.3f}{accepted}")
    display(IPImage(data=explorer.image.value, format="jpeg"))
explorer.update(sampler="ULA", step_size=0.01, init="gaussian")  # back to the defaults

# %% [markdown]
# ## 9. Exercises
#
# Each exercise has a cell with `raise NotImplementedError`: replace that line with your code, run the
# cell, then run the check cell below it, which says whether your code is right and, if not, what is
# wrong. Here the worked solutions follow each of those cells (tagged `solution`); the student version
# leaves them out, and the website hides them until you reveal them.
#
# ### Exercise 1: one Langevin step
#
# Write `langevin_step(energy_fn, x, step_size, noise_scale, noise)`, which returns
# $x - h\,\nabla E(x) + s\,\xi$ for a batch `x` of shape $(B, 2)$, where `noise` is the standard normal
# $\xi$ (given, so the check can compare exactly). Get $\nabla E$ with `torch.autograd.grad` on a copy
# of `x` that requires grad, and return a tensor that does **not** require grad (otherwise the next
# step would build its graph on top of this one). Leave `x` itself unchanged.


# %%
def langevin_step(energy_fn, x, step_size, noise_scale, noise):
    """One Langevin step: x - step_size * grad E(x) + noise_scale * noise, detached."""
    raise NotImplementedError


# %% tags=["solution"]
def langevin_step(energy_fn, x, step_size, noise_scale, noise):
    """One Langevin step: x - step_size * grad E(x) + noise_scale * noise, detached."""
    x_grad = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(energy_fn(x_grad).sum(), x_grad)  # sum: one backward for the batch
    return (x.detach() - step_size * grad + noise_scale * noise).detach()


# %%
check_langevin_step(langevin_step)

# %% [markdown]
# ### Exercise 2: predict, then measure, the stationary variance
#
# Take the quadratic energy $E(x) = \lambda x^2 / 2$ in one dimension (curvature $\lambda$). One ULA
# step is then $x' = (1 - h\lambda)\,x + s\,\xi$. Write `predicted_variance(curvature, step_size,
# noise_scale)`, the variance $V$ the chain settles at. Hint: at stationarity $x'$ and $x$ have the same
# variance, and $x$ and $\xi$ are independent. Then read off from your formula: how large is $V$ with the
# exact noise $s^2 = 2h$, compared with the true variance $1/\lambda$? At which step size does the
# chain diverge? The cells after the check measure $V$ on the elongated Gaussian of section 1, whose
# narrow direction has curvature $\lambda = 1/0.3^2 \approx 11.1$, and compare with your prediction.


# %%
def predicted_variance(curvature, step_size, noise_scale):
    """Stationary variance of x <- x - step_size * curvature * x + noise_scale * N(0, 1)."""
    raise NotImplementedError


# %% tags=["solution"]
def predicted_variance(curvature, step_size, noise_scale):
    """Stationary variance of x <- x - step_size * curvature * x + noise_scale * N(0, 1)."""
    # V = (1 - h lam)^2 V + s^2  =>  V = s^2 / (1 - (1 - h lam)^2) = s^2 / (h lam (2 - h lam)).
    # With s^2 = 2h: V = 1 / (lam (1 - h lam / 2)), too large by 1 / (1 - h lam / 2); infinite at h = 2 / lam.
    h_lam = step_size * curvature
    return noise_scale**2 / (h_lam * (2 - h_lam))


# %%
check_stationary_variance(predicted_variance)

# %%
gaussian = energies["gaussian"]
narrow = gaussian.rotation[:, 1].float()  # unit vector along the narrow axis
curvature = float(gaussian.curvatures[1])
variance_steps = [0.01, 0.03, 0.06, 0.09, 0.12, 0.15]
x0 = gaussian.sample(4000, g)
measured_ula, measured_mala = [], []
for h in variance_steps:
    ula = langevin_sample(gaussian, x0, 400, h, generator=g).samples
    mala = mala_sample(gaussian, x0, 400, h, generator=g).samples
    measured_ula.append((ula @ narrow).var().item())
    measured_mala.append((mala @ narrow).var().item())
print(f"curvature of the narrow axis {curvature:.2f}, true variance 1/curvature = {1 / curvature:.4f}")
for h, v_ula, v_mala in zip(variance_steps, measured_ula, measured_mala):
    print(f"h = {h:<5} measured variance: ULA {v_ula:.4f}, MALA {v_mala:.4f}")

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.plot(variance_steps, np.array(measured_ula) * curvature, "o", color="tab:red", label="ULA, measured")
ax.plot(variance_steps, np.array(measured_mala) * curvature, "s", color="tab:blue", label="MALA, measured")
try:
    fine = np.linspace(0.001, 0.155, 100)
    ax.plot(
        fine,
        [predicted_variance(curvature, v, math.sqrt(2 * v)) * curvature for v in fine],
        "-",
        color="tab:red",
        label="your prediction",
    )
except NotImplementedError:
    print("Not done yet: write predicted_variance to see your prediction on this plot.")
ax.axhline(1.0, color="grey", ls=":", label="p")
ax.set(xlabel="step size h", ylabel="variance x curvature (1 = exact)", ylim=(0, 7))
ax.set_title("narrow axis of the Gaussian, 4,000 chains", fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 3: the cheapest step size
#
# The chains of an EBM pay one gradient evaluation per step, so the question in practice is: which
# step size reaches a given accuracy with the fewest steps? A small step has little bias but needs
# many steps to arrive; a large one arrives fast but may never get close enough.
#
# The setting (`step_size_distance` in `ebm_lib.course.exercises`): the elongated Gaussian, 2,000 chains that
# all start at $(4, -2)$, ULA with the exact noise. The target is $D^2 \le 0.01$ to $p$. Write
# `choose_step()` returning `(step_size, n_steps)` that reaches the target with as few steps as you
# can; the check accepts up to 1.5 times the steps of the best setting we found. Use
# `step_size_distance_curve(h, [n1, n2, ...])` (imported above) to explore, and your
# formula from exercise 2 to reason: the slow direction (curvature 0.44) sets how long the chains
# need; the narrow one (curvature 11.1) sets the bias and the stability limit $h < 2/11.1$.


# %%
def choose_step():
    """Return (step_size, n_steps) that reach D^2 <= 0.01 with as few steps as possible."""
    raise NotImplementedError


# %% tags=["solution", "nbval-ignore-output"]
def choose_step():
    """Return (step_size, n_steps) that reach D^2 <= 0.01 with as few steps as possible."""
    # Scan step sizes; for each, the first checkpoint at which the target is reached.
    checkpoints = list(range(20, 100, 10)) + list(range(100, 301, 40))
    cost = {}
    for step in (0.02, 0.04, 0.07, 0.11, 0.14):
        curve = step_size_distance_curve(step, checkpoints, stop_below=0.01)
        cost[step] = checkpoints[len(curve) - 1] if curve[-1] <= 0.01 else None
        print(f"h = {step:<5} steps to reach D^2 <= 0.01: {cost[step] or 'not in 300 (the bias is above the target)'}")
    reached = {k: v for k, v in cost.items() if v}
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot(list(reached), list(reached.values()), "o-", label="steps to reach the target")
    for step in set(cost) - set(reached):
        ax.plot(step, 300, "x", color="tab:red", ms=9, label="never (bias floor)")
    ax.set(xlabel="step size h", ylabel="gradient evaluations per chain", yscale="log")
    ax.set_title("too small is slow, too large never arrives", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
    # Refine around the best step size in steps of 5.
    best = min(reached, key=reached.get)
    n_best = reached[best]
    while step_size_distance_curve(best, [n_best - 5])[0] <= 0.01:
        n_best -= 5
    return best, n_best


# %%
check_step_size_choice(choose_step)

# %% [markdown]
# The solution's scan shows both sides of the trade-off: at small $h$ the cost falls like $1/h$ (the
# chains need a fixed *time* $n h$ to forget the start), around $h \approx 0.11$ it bottoms out at 50
# steps, and from $h \approx 0.13$ on the bias alone is at or above the target, so no number of steps
# suffices. With a stricter
# target, say the variance of the narrow direction within 10%, the formula of exercise 2 gives
# $1/(1 - h\lambda/2) \le 1.1$, that is $h \le 0.016$, and the cost rises sixfold: *what* you measure
# decides which step size is "good".
#
# ## Key takeaways
#
# * **The rule:** $x \leftarrow x - h\nabla E(x) + \sqrt{2h}\,\xi$ samples $p \propto e^{-E}$ in the
#   limit of small steps and many steps; the factor $\sqrt{2h}$ is what makes drift and noise balance
#   at $p$.
# * **Time, not steps:** convergence takes a time $t = nh$ set by the flattest direction of the
#   energy; a larger step gets there in fewer steps, until the bias or instability (at
#   $h \approx 2/\text{largest curvature}$) takes over.
# * **Temperature:** a noise $s$ with step $h$ samples $e^{-E/T}$ with $T = s^2/(2h)$. Image EBMs use
#   $T \approx 10^{-6}$: their "samples" are near local minima reached by a short noisy descent.
# * **Bias:** ULA's stationary law is off by $O(h)$; MALA's Metropolis test removes the bias at any
#   step size, at the cost of an energy evaluation per step and rejections at large steps.
# * **Mixing:** the time to hop a barrier grows like $e^{\Delta E/T}$; local samplers get the shape of
#   each mode quickly and the mode *weights* last (or never). Check occupancy and ESS, not only
#   pictures.
# * **Clipping** keeps chains alive but changes the drift (wider modes, heavier tails); **clamping**
#   adds point masses on the walls. If they trigger often, the step is too large.
# * **Measure:** compare samples with exact samples by a two-sample distance, always next to the noise
#   floor that exact samples of the same size get.
#
# **Next:** notebook 3 trains an EBM on 2D data, with these samplers inside the training loop.
#
# ## References
#
# * Du, Y. & Mordatch, I. (2019). Implicit generation and modeling with energy-based models. *NeurIPS*.
# * Durmus, A. & Moulines, E. (2017). Nonasymptotic convergence analysis for the unadjusted Langevin
#   algorithm. *Annals of Applied Probability* 27(3).
# * Gretton, A., Borgwardt, K. M., Rasch, M. J., Schölkopf, B. & Smola, A. (2012). A kernel
#   two-sample test. *JMLR* 13.
# * Kramers, H. A. (1940). Brownian motion in a field of force and the diffusion model of chemical
#   reactions. *Physica* 7(4).
# * Neal, R. M. (2003). Slice sampling. *Annals of Statistics* 31(3) (the funnel).
# * Nijkamp, E., Hill, M., Han, T., Zhu, S.-C. & Wu, Y. N. (2020). On the anatomy of MCMC-based maximum
#   likelihood learning of energy-based models. *AAAI*.
# * Roberts, G. O. & Tweedie, R. L. (1996). Exponential convergence of Langevin distributions and their
#   discrete approximations. *Bernoulli* 2(4).
# * Song, Y. & Kingma, D. P. (2021). How to train your energy-based models. *arXiv:2101.03288*.
# * Székely, G. J. & Rizzo, M. L. (2004). Testing for equal distributions in high dimension. *InterStat* 5.
