"""Noise-conditional energies, DSM, Tweedie and annealed Langevin, against closed forms.

For Gaussian data N(mu, s^2 I) everything is known: the noisy density is N(mu, (s^2 + sigma^2) I),
its score -(x - mu)/(s^2 + sigma^2), the DSM loss of that score s^2/(s^2 + sigma^2) per
coordinate, and Tweedie's denoiser is the posterior mean mu + s^2/(s^2 + sigma^2) (x~ - mu) with
mean squared error s^2 sigma^2/(s^2 + sigma^2) per coordinate. Tolerances are a few standard
errors of the sample sizes used (stated at each test).
"""

import math

import pytest
import torch

from ebm_lib.checkpoints import load_model, save_checkpoint
from ebm_lib.diffusion import dsm, energies, sampling
from ebm_lib.diffusion.nets import NoiseConditionalConvNet, NoiseConditionalMLP
from ebm_lib.samplers import langevin_sample
from ebm_lib.toy2d.energies import GaussianMixture
from ebm_lib.toy2d.metrics import mode_occupancy, occupancy_tv

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

STD = 0.5  # the Gaussian data's standard deviation


def gen(seed):
    return torch.Generator().manual_seed(seed)


def gaussian():
    """N((1, -0.5), STD^2 I) as a one-mode mixture, so its noisy versions are analytic."""
    mixture = GaussianMixture(n_modes=1, radius=0.0, sigma=STD, weights=[1.0])
    mixture.modes = torch.tensor([[1.0, -0.5]])
    return energies.NoisyGaussianMixture(mixture)


def gaussian_noisy_score(x, mean, sigma):
    """The closed form: the score of N(mean, STD^2 I) with noise sigma added, -(x - mean) / (STD^2 + sigma^2)."""
    return -(x - mean) / (STD**2 + sigma**2)


def tv_to_weights(mixture, x, weights):
    return occupancy_tv(mode_occupancy(mixture.assign_modes(x), len(weights)), weights)


def test_geometric_sigmas():
    s = sampling.geometric_sigmas(10.0, 0.01, 4)
    assert torch.allclose(s, torch.tensor([10.0, 1.0, 0.1, 0.01], dtype=torch.float64))
    with pytest.raises(ValueError, match="sigma_max > sigma_min"):
        sampling.geometric_sigmas(0.01, 10.0, 4)


def test_noisy_mixture_energy_matches_the_analytic_toy_energy_and_its_gradient():
    noisy = energies.NoisyGaussianMixture(GaussianMixture())
    x = torch.randn(50, 2, generator=gen(0)) * 3
    for sigma in (0.05, 0.7, 3.0):
        at = noisy.at(sigma)
        assert torch.allclose(noisy(x, sigma), at.energy(x), atol=1e-4)
        assert torch.allclose(dsm.score(noisy, x, sigma), -at.grad(x), atol=1e-4)
    per_point = torch.full((50,), 0.7)
    assert torch.allclose(noisy(x, per_point), noisy(x, 0.7))


def test_score_of_noisy_gaussian_is_closed_form():
    noisy = gaussian()
    x = torch.randn(100, 2, generator=gen(1))
    for sigma in (0.1, 1.0):
        expected = gaussian_noisy_score(x, noisy.mixture.modes[0], sigma)
        assert torch.allclose(dsm.score(noisy, x, sigma), expected, atol=1e-5)


def test_dsm_loss_of_the_true_score_is_its_known_minimum():
    # Per-sample loss has mean s^2/(s^2+sigma^2) and standard deviation below 2 here; 40,000
    # samples give a standard error under 0.01, so 0.03 is 3 standard errors.
    noisy = gaussian()
    x = noisy.mixture.sample(40_000, gen(2))
    for sigma in (0.1, 0.5, 2.0):
        loss = dsm.dsm_loss(noisy, x, [sigma], gen(3)).item()
        assert loss == pytest.approx(STD**2 / (STD**2 + sigma**2), abs=0.03)


def test_dsm_loss_is_larger_for_a_wrong_score():
    noisy = gaussian()
    x = noisy.mixture.sample(20_000, gen(4))

    class Scaled:  # the true energy times 1.3: a score 30% too strong
        def __call__(self, x, sigma):
            return 1.3 * noisy(x, sigma)

    ladder = [0.1, 0.5, 2.0]
    assert dsm.dsm_loss(Scaled(), x, ladder, gen(5)) > dsm.dsm_loss(noisy, x, ladder, gen(5)) + 0.02


def test_learned_noise_conditional_score_matches_the_closed_form():
    """Train the 2D noise-conditional MLP by DSM on Gaussian data; its score at each level
    must match -(x - mu)/(s^2 + sigma^2) on points from that level's noisy density."""
    torch.manual_seed(0)
    noisy = gaussian()
    data = noisy.mixture.sample(4096, gen(6))
    model = NoiseConditionalMLP(dim=2, width=64, n_blocks=2)
    ladder = sampling.geometric_sigmas(2.0, 0.1, 6)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.05, 1000)
    g = gen(7)
    for _ in range(1000):
        batch = data[torch.randint(len(data), (512,), generator=g)]
        loss = dsm.dsm_loss(model, batch, ladder, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    for sigma in reversed(ladder.tolist()):
        x = noisy.at(sigma).sample(2000, gen(8))
        learned = dsm.score(model, x, sigma)
        exact = gaussian_noisy_score(x, noisy.mixture.modes[0], sigma)
        relative = (learned - exact).norm() / exact.norm()
        # measured: 0.14 at sigma = 0.1 (where the DSM target is mostly noise), 0.02 at sigma = 2
        assert relative < 0.2, f"sigma={sigma:.2f}: relative error {relative:.3f}"


def test_tweedie_is_the_posterior_mean_and_reaches_the_bayes_error():
    noisy = gaussian()
    x = noisy.mixture.sample(40_000, gen(9))
    mu = noisy.mixture.modes[0]
    for sigma in (0.2, 1.0):
        x_noisy = x + sigma * torch.randn(x.shape, generator=gen(10))
        denoised = dsm.tweedie_denoise(noisy, x_noisy, sigma)
        shrink = STD**2 / (STD**2 + sigma**2)
        assert torch.allclose(denoised, mu + shrink * (x_noisy - mu), atol=1e-5)
        mse = (denoised - x).pow(2).mean().item()
        bayes = STD**2 * sigma**2 / (STD**2 + sigma**2)
        assert mse == pytest.approx(bayes, rel=0.03)  # SE of a mean of 80,000 chi^2_1 terms: 0.5%
        assert mse < (x_noisy - x).pow(2).mean().item()


def test_tweedie_step_is_a_gradient_step_on_the_energy():
    noisy = energies.NoisyGaussianMixture(GaussianMixture())
    x = torch.randn(20, 2, generator=gen(11)) * 3
    sigma = 0.8
    one_step = langevin_sample(noisy.at(sigma), x, 1, sigma**2, noise_scale=0.0).samples
    assert torch.allclose(dsm.tweedie_denoise(noisy, x, sigma), one_step, atol=1e-5)


def test_annealed_langevin_recovers_mode_weights_where_single_level_langevin_does_not():
    """The course's 8-mode mixture (weights 4:1:3:1:2:1:3:1), 4,000 chains from broad noise.
    Same budget, 200 gradient evaluations: 10 levels x 20 steps, or 200 steps at the lowest level.
    Sampling noise alone gives a TV of about 0.015 here."""
    mixture = GaussianMixture()
    noisy = energies.NoisyGaussianMixture(mixture)
    ladder = sampling.geometric_sigmas(6.0, 0.1, 10)
    g = gen(12)
    x0 = 6.0 * torch.randn(4000, 2, generator=g)
    annealed = sampling.annealed_langevin(noisy, x0, ladder, 20, step_ratio=0.3, generator=g)
    assert annealed.n_evaluations == 201
    single = langevin_sample(noisy.at(0.1), x0, 200, step_size=0.3 * 0.1**2 * 10, generator=g).samples
    tv_annealed = tv_to_weights(mixture, annealed.samples, mixture.mode_weights)
    tv_single = tv_to_weights(mixture, single, mixture.mode_weights)
    assert tv_annealed < 0.05
    assert tv_single > 0.15


def test_annealed_langevin_checks_its_ladder_and_step_ratio():
    noisy = gaussian()
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="largest first"):
        sampling.annealed_langevin(noisy, x, [0.1, 1.0], 2)
    with pytest.raises(ValueError, match="step_ratio"):
        sampling.annealed_langevin(noisy, x, [1.0, 0.1], 2, step_ratio=3.0)


def test_reverse_diffusion_samples_a_single_mixture():
    mixture = GaussianMixture()
    noisy = energies.NoisyGaussianMixture(mixture)
    g = gen(13)
    x0 = 6.0 * torch.randn(4000, 2, generator=g)
    x = sampling.reverse_diffusion(noisy, x0, sampling.geometric_sigmas(6.0, 0.05, 200), g).samples
    assert tv_to_weights(mixture, x, mixture.mode_weights) < 0.05


def test_half_plane_energy_gradient_and_noisy_softness():
    wall = energies.HalfPlane((1.0, 1.0), offset=0.5, softness=0.3)
    x = (torch.randn(64, 2, generator=gen(14)) * 3).requires_grad_(True)
    energy, grad = wall.energy_and_grad(x.detach())
    (auto,) = torch.autograd.grad(-torch.special.log_ndtr((0.5 - x @ wall.normal) / 0.3).sum(), x)
    assert torch.allclose(grad, auto, atol=1e-4)
    noisy = energies.NoisyHalfPlane(wall)
    assert torch.allclose(noisy(x.detach(), 0.4), wall.noisy(0.4).energy(x.detach()), atol=1e-5)
    assert wall.noisy(0.4).softness == pytest.approx(0.5)


def test_product_samples_have_the_product_mode_weights():
    mixture = GaussianMixture()
    wall = energies.HalfPlane((1.0, 0.0), offset=0.0, softness=0.3)
    weights = energies.product_mode_weights(mixture, wall)
    assert weights.sum().item() == pytest.approx(1.0)
    assert weights[0] < 1e-6 and weights[4] > 0.25  # the right-hand mode is walled off, the left one kept
    x = energies.product_samples(mixture, wall, 8000, gen(15))
    assert tv_to_weights(mixture, x, weights) < 0.03
    # The sum of energies is the product's energy: its gradient is the sum of gradients.
    both = energies.SumOfEnergies(mixture, wall)
    energy, grad = both.energy_and_grad(x[:10])
    assert torch.allclose(energy, mixture.energy(x[:10]) + wall.energy_and_grad(x[:10])[0])


def test_noise_conditional_nets_shapes_sigma_checks_and_checkpoints(tmp_path):
    net = NoiseConditionalConvNet(width=4)
    x = torch.randn(3, 1, 28, 28)
    assert net(x, 0.5).shape == (3,)
    assert net(x, torch.tensor([0.1, 0.5, 1.0])).shape == (3,)
    assert net.at(0.5)(x).shape == (3,)
    assert net.flops_per_input() > 0
    with pytest.raises(ValueError, match="sigma must be > 0|every sigma"):
        net(x, 0.0)
    with pytest.raises(ValueError, match="shape"):
        net(x, torch.ones(2))
    # E = g / sigma: the same g at two levels gives energies in the ratio of the levels
    mlp = NoiseConditionalMLP(dim=2, width=16, n_blocks=1)
    assert mlp(torch.randn(4, 2), 1.0).shape == (4,)
    path = save_checkpoint(tmp_path / "ncsn.pt", net)
    loaded = load_model(path)
    assert isinstance(loaded, NoiseConditionalConvNet)
    assert torch.allclose(loaded(x, 0.3), net(x, 0.3))


def test_training_script_runs_resumes_and_ships(tmp_path):
    from ebm_lib.diffusion import train as train_diffusion

    out, shipped = tmp_path / "run.pt", tmp_path / "ship.pt"
    common = ["--out", str(out), "--width", "4", "--batch-size", "16", "--no-progress"]
    run = train_diffusion.main([*common, "--steps", "3"])
    assert run.step == 3 and all(math.isfinite(v) for v in run.history["dsm_loss"])
    with pytest.raises(SystemExit, match="exists"):
        train_diffusion.main([*common, "--steps", "1"])
    resumed = train_diffusion.main([*common, "--steps", "2", "--resume", "--ship", str(shipped)])
    assert resumed.step == 5 and resumed.history["dsm_loss"][:3] == run.history["dsm_loss"]
    model = load_model(shipped)
    for p_model, p_ema in zip(model.parameters(), resumed.ema_model.parameters()):
        assert torch.equal(p_model, p_ema)
