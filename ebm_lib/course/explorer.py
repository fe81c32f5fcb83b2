"""The Langevin explorer: sliders over a 2D energy, a particle cloud that answers at once.

``LangevinExplorer`` runs a sampler (ULA, ``ebm_lib.samplers.langevin_sample``, which uses the
toy energies' analytic gradients, or MALA from ``ebm_lib.samplers``) on an
energy of ``ebm_lib.toy2d.energies`` and shows, in one figure, the energy's
contours, the particle cloud, a few trajectories and both marginal histograms against the
true marginals, with the live metrics of ``ebm_lib.toy2d.metrics`` in a table beside it.

Speed is the point: a lecturer drags a slider and the picture must follow. The figure
is built once; a slider change only replaces the data of the moving artists (particles,
trajectories, histograms, title) and re-renders them over a cached picture of the static
parts (contours, axes, true marginals) by blitting on matplotlib's Agg canvas; the
result goes as a PNG into an ``ipywidgets.Image``. Only a change of energy redraws the
whole figure. No ipympl is needed, and the last image is saved with the notebook's
widget state, so the website shows it too.

Use: ``explorer = LangevinExplorer(); explorer`` in a notebook cell (or
``display(explorer.widget)``). ``explorer.update(step_size=0.1)`` does what the slider
does, without a display, and returns the seconds it took (the latency test times it).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from ebm_lib.samplers import langevin_sample, mala_sample, noise_scale_for_temperature
from ebm_lib.toy2d import metrics
from ebm_lib.toy2d.energies import REGISTRY, ToyEnergy
from ebm_lib.utils import torch_threads

INITS = ("gaussian", "uniform", "one point", "exact samples")
SAMPLERS = ("ULA", "MALA")
DEFAULTS: dict[str, Any] = {
    "energy": "mixture",
    "sampler": "ULA",
    "step_size": 0.01,
    "temperature": 1.0,
    "n_steps": 200,
    "n_particles": 1000,
    "init": "gaussian",
}


def initial_points(kind: str, n: int, energy: ToyEnergy, generator: torch.Generator | None = None) -> torch.Tensor:
    """Starting points (n, 2): "gaussian" N(0, I), "uniform" over the energy's extent,
    "one point" (all at one spot near a corner), or "exact samples" (start at stationarity)."""
    x0, x1, y0, y1 = energy.extent
    if kind == "gaussian":
        return torch.randn((n, 2), generator=generator)
    if kind == "uniform":
        u = torch.rand((n, 2), generator=generator)
        return torch.stack([x0 + (x1 - x0) * u[:, 0], y0 + (y1 - y0) * u[:, 1]], dim=1)
    if kind == "one point":
        return torch.tensor([[x0 + 0.2 * (x1 - x0), y0 + 0.2 * (y1 - y0)]]).repeat(n, 1)
    if kind == "exact samples":
        return energy.reference_samples(n, generator)
    raise ValueError(f"unknown initialisation {kind!r}; choose one of {INITS}")


@dataclass
class _EnergyView:
    """Everything about one energy that does not change with the sliders (computed once)."""

    energy: ToyEnergy
    background: Any  # the DensityGrid drawn as the image and contours
    metric_grid: Any  # the coarse DensityGrid for histogram TV and KL
    reference: torch.Tensor
    reference_self: float
    marginals: list[tuple[np.ndarray, np.ndarray]]
    hist_edges: list[np.ndarray]
    contours: Any = None
    floors: dict[int, tuple[float, float]] = field(default_factory=dict)


class LangevinExplorer:
    """Interactive explorer of Langevin sampling on the 2D energies of ``ebm_lib.toy2d.energies``.

    Args:
        energies: name -> constructor (default ``ebm_lib.toy2d.energies.REGISTRY``).
        n_trajectories: how many particles draw their path.
        n_reference: size of the exact reference sample for the distance.
        seed: every update reseeds with it, so the same settings give the same picture
            and a slider change shows only the effect of that slider.
        threads: torch threads used during an update (1 is fastest for these sizes).
        **params: initial settings, see ``DEFAULTS``.
    """

    def __init__(
        self,
        energies: Mapping[str, Callable[[], ToyEnergy]] | None = None,
        n_trajectories: int = 4,
        n_reference: int = 1000,
        seed: int = 0,
        figsize: tuple[float, float] = (8.8, 4.0),
        dpi: int = 80,
        threads: int = 1,
        **params: Any,
    ) -> None:
        self.energies = dict(energies or REGISTRY)
        self.n_trajectories = n_trajectories
        self.n_reference = n_reference
        self.seed = seed
        self.threads = threads
        self.params = dict(DEFAULTS)
        self._check(params)
        self.params.update(params)
        if self.params["energy"] not in self.energies:
            self.params["energy"] = next(iter(self.energies))
        self._views: dict[str, _EnergyView] = {}
        self._active: str | None = None
        self._background = None
        self.metrics: dict[str, float] = {}
        self.last_update_s: float = float("nan")
        self._controls: dict[str, widgets.Widget] = {}
        self._widget: widgets.Widget | None = None
        self._syncing = False
        self.image = widgets.Image(format="jpeg", layout=widgets.Layout(width=f"{int(figsize[0] * dpi)}px"))
        self.table = widgets.HTML()
        with torch_threads(self.threads):
            self._build_figure(figsize, dpi)
            self.update()

    # --- public --------------------------------------------------------------------------
    def update(self, **params: Any) -> float:
        """Apply new settings (like moving sliders), re-sample, re-render; return the seconds taken."""
        start = time.perf_counter()
        self._check(params)
        self.params.update(params)
        with torch_threads(self.threads):
            view = self._view(self.params["energy"])
            if self._active != self.params["energy"]:
                self._show_energy(self.params["energy"])
            result = self._sample(view)
            self._draw(view, result)
        self.last_update_s = time.perf_counter() - start
        self.table.value = self._table_html()
        self._sync_controls()
        return self.last_update_s

    def time_updates(self, settings: list[dict[str, Any]]) -> list[float]:
        """Seconds taken by a sequence of updates (each dict: the sliders that change)."""
        return [self.update(**s) for s in settings]

    @property
    def figure(self) -> Figure:
        return self._fig

    @property
    def widget(self) -> widgets.Widget:
        """The controls, the image and the metrics table (built on first use)."""
        if self._widget is None:
            self._widget = self._build_widget()
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # --- building ------------------------------------------------------------------------
    def _check(self, params: Mapping[str, Any]) -> None:
        unknown = set(params) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        if "energy" in params and params["energy"] not in self.energies:
            raise ValueError(f"unknown energy {params['energy']!r}; choose one of {sorted(self.energies)}")
        if "sampler" in params and params["sampler"] not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}")
        if "init" in params and params["init"] not in INITS:
            raise ValueError(f"init must be one of {INITS}")

    def _build_figure(self, figsize: tuple[float, float], dpi: int) -> None:
        fig = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(fig)
        grid = fig.add_gridspec(2, 2, width_ratios=[1.15, 1], left=0.06, right=0.98, bottom=0.1, top=0.9)
        grid.update(wspace=0.18, hspace=0.5)
        self._ax = fig.add_subplot(grid[:, 0])
        self._ax_m = [fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, 1])]
        ax = self._ax
        self._image_artist = ax.imshow(
            np.zeros((2, 2)), origin="lower", cmap="Blues", aspect="auto", interpolation="bilinear"
        )
        self._mode_marks = ax.scatter([], [], marker="x", s=30, c="black", linewidths=1, zorder=3)
        # moving artists: drawn by blitting over the cached background
        self._cloud = ax.scatter(np.zeros(1), np.zeros(1), s=5, c="#e66100", alpha=0.7, linewidths=0, zorder=4)
        colors = ["tab:red", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "black"]
        self._paths = [
            ax.plot([], [], lw=0.7, color=colors[i % len(colors)], alpha=0.85, zorder=5)[0]
            for i in range(self.n_trajectories)
        ]
        self._starts = ax.scatter(
            np.zeros(1), np.zeros(1), s=16, c="white", edgecolors="black", linewidths=0.8, zorder=6
        )
        self._true_lines, self._tempered_lines, self._hists = [], [], []
        for i, axm in enumerate(self._ax_m):
            (line,) = axm.plot([], [], color="tab:blue", lw=1.5, label="true marginal of p")
            (tempered,) = axm.plot([], [], color="tab:blue", lw=1.0, ls="--", label="p at temperature T")
            hist = axm.stairs(np.zeros(1), np.array([0.0, 1.0]), fill=True, color="tab:orange", alpha=0.55)
            hist.set_label("particles")
            axm.set_xlabel(f"$x_{i + 1}$", fontsize=9, labelpad=1)
            axm.tick_params(labelsize=8)
            axm.set_yticks([])
            self._true_lines.append(line)
            self._tempered_lines.append(tempered)
            self._hists.append(hist)
        self._ax_m[0].legend(fontsize=7, loc="upper right", frameon=False)
        ax.tick_params(labelsize=8)
        self._fig = fig
        self._moving = [self._cloud, *self._paths, self._starts, *self._hists, *self._tempered_lines]

    def _view(self, name: str) -> _EnergyView:
        if name not in self._views:
            energy = self.energies[name]()
            background = energy.density_grid(bins=120)
            metric_grid = energy.density_grid(bins=40)
            reference = energy.reference_samples(self.n_reference)
            fine = energy.density_grid(bins=200)
            marginals = [fine.marginal(0), fine.marginal(1)]
            x0, x1, y0, y1 = energy.extent
            edges = [np.linspace(x0, x1, 61), np.linspace(y0, y1, 61)]
            self._views[name] = _EnergyView(
                energy=energy,
                background=background,
                metric_grid=metric_grid,
                reference=reference,
                reference_self=metrics.mean_pairwise_distance(reference),
                marginals=marginals,
                hist_edges=edges,
            )
        return self._views[name]

    def _show_energy(self, name: str) -> None:
        """Switch the static parts to another energy, redraw everything, cache the background."""
        view = self._view(name)
        energy, ax = view.energy, self._ax
        for other in self._views.values():
            if other.contours is not None:
                other.contours.set_visible(other is view)
        bg = view.background
        self._image_artist.set_data(np.sqrt(bg.density))  # sqrt: faint tails stay visible
        self._image_artist.set_extent(bg.extent)
        self._image_artist.set_clim(0, float(np.sqrt(bg.density.max())))
        if view.contours is None:
            levels = np.quantile(bg.density[bg.density > 0], [0.6, 0.8, 0.9, 0.95, 0.98])
            view.contours = ax.contour(
                bg.x_centers, bg.y_centers, bg.density, levels=np.unique(levels), colors="tab:blue", linewidths=0.5
            )
        self._mode_marks.set_offsets(energy.modes.numpy() if energy.modes is not None else np.zeros((0, 2)))
        ax.set_title(energy.title, fontsize=10)
        ax.set_xlim(energy.extent[0], energy.extent[1])
        ax.set_ylim(energy.extent[2], energy.extent[3])
        for i, axm in enumerate(self._ax_m):
            centres, density = view.marginals[i]
            self._true_lines[i].set_data(centres, density)
            axm.set_xlim(centres[0], centres[-1])
            axm.set_ylim(0, 1.3 * density.max())
        self._active = name
        self._cache_background()

    def _cache_background(self) -> None:
        for artist in self._moving:
            artist.set_visible(False)
        self._fig.canvas.draw()
        self._background = self._fig.canvas.copy_from_bbox(self._fig.bbox)
        for artist in self._moving:
            artist.set_visible(True)

    # --- one update ----------------------------------------------------------------------
    def _sample(self, view: _EnergyView) -> Any:
        p = self.params
        generator = torch.Generator().manual_seed(self.seed)
        x0 = initial_points(p["init"], int(p["n_particles"]), view.energy, generator)
        if p["sampler"] == "MALA":
            return mala_sample(
                view.energy,
                x0,
                int(p["n_steps"]),
                p["step_size"],
                temperature=p["temperature"],
                generator=generator,
                record_trajectory=True,
            )
        noise = noise_scale_for_temperature(p["step_size"], p["temperature"])
        return langevin_sample(
            view.energy, x0, int(p["n_steps"]), p["step_size"], noise, generator=generator, record_trajectory=True
        )

    def _draw(self, view: _EnergyView, result: Any) -> None:
        p = self.params
        samples = result.samples
        # a chain that left to infinity (or to 1e6, on its way there) has diverged
        finite = torch.isfinite(samples).all(dim=1) & (samples.abs().amax(dim=1) < 1e6)
        good = samples[finite]
        self._compute_metrics(view, result, good, int((~finite).sum()))
        self._cloud.set_offsets(samples.numpy())
        traj = result.trajectory[:, : self.n_trajectories].numpy()
        for i, line in enumerate(self._paths):
            line.set_data(traj[:, i, 0], traj[:, i, 1]) if i < traj.shape[1] else line.set_data([], [])
        self._starts.set_offsets(traj[0])
        good_np = good.numpy()
        for i in range(2):
            counts, edges = np.histogram(good_np[:, i], bins=view.hist_edges[i])
            width = edges[1] - edges[0]
            self._hists[i].set_data(counts / max(len(samples), 1) / width, edges)
            if abs(p["temperature"] - 1.0) > 1e-9:
                grid = view.energy.density_grid(bins=80, temperature=p["temperature"], oversample=2)
                self._tempered_lines[i].set_data(*grid.marginal(i))
            else:
                self._tempered_lines[i].set_data([], [])
        canvas = self._fig.canvas
        canvas.restore_region(self._background)
        for artist in self._moving:
            artist.axes.draw_artist(artist) if artist.axes is not None else self._fig.draw_artist(artist)
        rgba = np.asarray(canvas.buffer_rgba())
        out = io.BytesIO()
        # JPEG: 2 ms to encode where PNG takes 10-15 ms, and a smaller message to the browser.
        Image.fromarray(rgba[..., :3]).save(out, format="jpeg", quality=90)
        self.image.value = out.getvalue()

    def _compute_metrics(self, view: _EnergyView, result: Any, good: torch.Tensor, n_bad: int) -> None:
        energy = view.energy
        m: dict[str, float] = {"diverged": float(n_bad)}
        m["energy_distance"] = metrics.energy_distance(good, view.reference, view.reference_self)
        m["histogram_tv"] = metrics.histogram_tv(result.samples, view.metric_grid)
        m["histogram_kl"] = metrics.histogram_kl(good, view.metric_grid) if len(good) else float("nan")
        if energy.mode_weights is not None and len(energy.mode_weights) > 1 and len(good):
            occupancy = metrics.mode_occupancy(energy.assign_modes(good), len(energy.mode_weights))
            m["occupancy_tv"] = metrics.occupancy_tv(occupancy, energy.mode_weights)
        m["accept_rate"] = float("nan") if result.accept_rate is None else result.accept_rate
        m["grad_norm"] = metrics.mean_gradient_norm(energy, good)
        traj = result.trajectory
        half = traj[traj.shape[0] // 2 :, :, 0]
        if half.shape[0] >= 4 and bool(torch.isfinite(half).all()):
            m["ess_per_chain"] = float(metrics.effective_sample_size(half)) / half.shape[1]
        else:
            m["ess_per_chain"] = float("nan")
        n = len(result.samples)
        if n not in view.floors:  # what exact samples of the same size score: the noise floor
            exact = energy.reference_samples(n, torch.Generator().manual_seed(self.seed + 1))
            view.floors[n] = (
                metrics.energy_distance(exact, view.reference, view.reference_self),
                metrics.histogram_tv(exact, view.metric_grid),
            )
        m["energy_distance_floor"], m["histogram_tv_floor"] = view.floors[n]
        self.metrics = m

    def _table_html(self) -> str:
        m, p = self.metrics, self.params

        def fmt(v: float, digits: int = 4) -> str:
            return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}g}"

        rows = [
            (
                "energy distance D² to p",
                f"{fmt(m['energy_distance'])} <small>(exact: {fmt(m['energy_distance_floor'], 2)})</small>",
            ),
            ("histogram TV", f"{fmt(m['histogram_tv'], 3)} <small>(exact: {fmt(m['histogram_tv_floor'], 2)})</small>"),
            ("histogram KL", fmt(m["histogram_kl"], 3)),
            ("mode occupancy TV", fmt(m.get("occupancy_tv", float("nan")), 3)),
            ("acceptance rate", fmt(m["accept_rate"], 3) if p["sampler"] == "MALA" else "1 (ULA accepts all)"),
            ("mean |∇E| at the end", fmt(m["grad_norm"], 3)),
            ("ESS per chain (x₁, 2nd half)", fmt(m["ess_per_chain"], 3)),
            ("diverged particles", f"{int(m['diverged'])}"),
            ("temperature T = s²/(2h)", fmt(p["temperature"], 3)),
            ("update time", f"{1000 * self.last_update_s:.0f} ms"),
        ]
        noise = noise_scale_for_temperature(p["step_size"], p["temperature"])
        head = (
            f"<b>{self._views[p['energy']].energy.title}</b>: {p['sampler']}, "
            f"h = {p['step_size']:.3g}, noise s = {noise:.3g}, {int(p['n_steps'])} steps, "
            f"{int(p['n_particles'])} particles from {p['init']}"
        )
        body = "".join(f"<tr><td style='padding-right:10px'>{k}</td><td><b>{v}</b></td></tr>" for k, v in rows)
        notes = (
            "noise scale s = sqrt(2 h T); T = 1 samples p exactly as h -> 0. "
            "Crosses: modes; white dots: where the drawn paths start; exact: what exact samples of the same size score."
        )
        return (
            f"<div style='font-size:12px'>{head}</div><table style='font-size:12px'>{body}</table>"
            f"<div style='font-size:11px;color:#555'>{notes}</div>"
        )

    # --- controls ------------------------------------------------------------------------
    def _build_widget(self) -> widgets.Widget:
        p = self.params
        c = {
            "energy": widgets.Dropdown(options=list(self.energies), value=p["energy"], description="energy"),
            "sampler": widgets.Dropdown(options=list(SAMPLERS), value=p["sampler"], description="sampler"),
            "init": widgets.Dropdown(options=list(INITS), value=p["init"], description="start"),
            "step_size": widgets.FloatLogSlider(
                value=p["step_size"], base=10, min=-4, max=0, step=0.1, description="step size h", readout_format=".2g"
            ),
            "temperature": widgets.FloatLogSlider(
                value=p["temperature"],
                base=10,
                min=-4,
                max=1,
                step=0.25,
                description="temperature T",
                readout_format=".2g",
            ),
            "n_steps": widgets.IntSlider(value=p["n_steps"], min=0, max=2000, step=10, description="steps"),
            "n_particles": widgets.IntSlider(
                value=p["n_particles"], min=100, max=5000, step=100, description="particles"
            ),
        }
        for control in c.values():
            control.style = {"description_width": "95px"}
            control.layout = widgets.Layout(width="330px")
            if hasattr(control, "continuous_update"):
                control.continuous_update = False  # sample once the slider is released
        for name, control in c.items():
            control.observe(self._on_change(name), names="value")
        self._controls = c
        wrap = widgets.Layout(flex_flow="row wrap", align_items="flex-start")
        choices = widgets.VBox([c["energy"], c["sampler"], c["init"]])
        sliders = widgets.VBox([c["step_size"], c["temperature"], c["n_steps"], c["n_particles"]])
        self.table.layout = widgets.Layout(width="340px", margin="0 0 0 12px")
        return widgets.VBox(
            [widgets.HBox([choices, sliders], layout=wrap), widgets.HBox([self.image, self.table], layout=wrap)]
        )

    def _on_change(self, name: str) -> Callable[[dict], None]:
        def handler(change: dict) -> None:
            if not self._syncing:
                self.update(**{name: change["new"]})

        return handler

    def _sync_controls(self) -> None:
        if not self._controls:
            return
        self._syncing = True
        try:
            for name, control in self._controls.items():
                if control.value != self.params[name]:
                    control.value = self.params[name]
        finally:
            self._syncing = False
