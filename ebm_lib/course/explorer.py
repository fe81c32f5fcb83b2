"""The Langevin explorer: sliders over a 2D energy, a particle cloud that answers at once.

``LangevinExplorer`` draws and wires the controls; what it shows comes from ``ebm_lib.toy2d.explore``
(the settings, the run of ULA or MALA on an energy of ``ebm_lib.toy2d.energies``, the metrics). One
figure holds the energy's density and contours, the particle cloud, a few trajectories and both
marginal histograms against the true marginals (dashed: p at the temperature T), with the metrics
in an HTML table beside it.

Speed is the point: a lecturer drags a slider and the picture must follow. The figure is built
once; a slider change only replaces the data of the moving artists (particles, trajectories,
histograms, tempered marginals) and re-renders them over a cached picture of the static parts
(density, contours, axes, true marginals) by blitting on matplotlib's Agg canvas; the picture
goes as a JPEG (2 ms to encode where a PNG takes 10-15 ms, and a smaller message to the browser)
into an ``ipywidgets.Image``. Only a change of energy redraws the whole figure. No ipympl is
needed, and the last image is saved with the notebook's widget state, so the website shows it.

Use: ``explorer = LangevinExplorer(); explorer`` in a notebook cell; ``explorer.update(step_size=0.1)``
does what the slider does, without a display. A refused setting (an unknown name, or a value out
of range) raises ValueError and changes nothing.
"""

from __future__ import annotations

import dataclasses
import io
import math
import time
from collections.abc import Mapping
from functools import partial
from typing import Any

import ipywidgets as widgets
import numpy as np
from IPython.display import display
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.contour import QuadContourSet
from matplotlib.figure import Figure
from PIL import Image

from ebm_lib.samplers import SAMPLERS, SampleResult, noise_scale_for_temperature
from ebm_lib.toy2d.energies import REGISTRY
from ebm_lib.toy2d.explore import INITS, ExploreSettings, Target, explore, measure
from ebm_lib.utils import torch_threads

PATH_COLORS = ("tab:red", "tab:green", "tab:purple", "tab:brown")  # one per drawn trajectory
FIGSIZE, DPI = (8.8, 4.0), 80


class LangevinExplorer:
    """Interactive explorer of Langevin sampling on the energies of ``ebm_lib.toy2d.energies.REGISTRY``.

    ``params``: the initial settings, fields of ``ebm_lib.toy2d.explore.ExploreSettings``. Every
    update reseeds with 0, so the same settings give the same picture and a slider change shows
    only the effect of that slider; it runs on one torch thread (the fastest at these sizes).
    """

    def __init__(self, **params: Any) -> None:
        self.settings = ExploreSettings().changed(**params)
        self.metrics: dict[str, float] = {}
        self._targets: dict[str, Target] = {}
        self._contours: dict[str, QuadContourSet] = {}
        self._active: str | None = None
        self._controls: dict[str, widgets.ValueWidget] = {}
        self._widget: widgets.Widget | None = None
        self._syncing = False
        self.image = widgets.Image(format="jpeg", layout=widgets.Layout(width=f"{int(FIGSIZE[0] * DPI)}px"))
        self.table = widgets.HTML()
        self._build_figure()
        self.update()

    def update(self, **params: Any) -> float:
        """Apply new settings (like moving sliders), re-sample, re-render; return the seconds taken."""
        start = time.perf_counter()
        settings = self.settings.changed(**params)  # checked before anything is stored
        with torch_threads(1):
            if settings.energy not in self._targets:
                self._targets[settings.energy] = Target(REGISTRY[settings.energy]())
            target = self._targets[settings.energy]
            if self._active != settings.energy:
                self._show_energy(settings.energy)
            result = explore(target, settings)
            metrics = measure(target, result)
            self._draw(target, result, settings.temperature)
        self.settings, self.metrics = settings, metrics
        seconds = time.perf_counter() - start
        self.table.value = metrics_table(metrics, settings, target.energy.title, seconds)
        self._sync_controls()
        return seconds

    def time_updates(self, settings: list[dict[str, Any]]) -> list[float]:
        """Seconds taken by a sequence of updates (each dict: the sliders that change)."""
        return [self.update(**s) for s in settings]

    @property
    def params(self) -> dict[str, Any]:
        """The current settings as a dict (a copy: change them with ``update``)."""
        return dataclasses.asdict(self.settings)

    @property
    def widget(self) -> widgets.Widget:
        """The controls, the image and the metrics table (built on first use)."""
        if self._widget is None:
            self._widget = self._build_widget()
        return self._widget

    def _ipython_display_(self) -> None:
        display(self.widget)

    def _build_figure(self) -> None:
        fig = self.figure = Figure(figsize=FIGSIZE, dpi=DPI)
        FigureCanvasAgg(fig)
        grid = fig.add_gridspec(2, 2, width_ratios=[1.15, 1], left=0.06, right=0.98, bottom=0.1, top=0.9)
        grid.update(wspace=0.18, hspace=0.5)
        ax = self._ax = fig.add_subplot(grid[:, 0])
        self._ax_m = [fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, 1])]
        self._image_artist = ax.imshow(np.zeros((2, 2)), origin="lower", cmap="Blues", aspect="auto")
        self._image_artist.set_interpolation("bilinear")
        self._mode_marks = ax.scatter([], [], marker="x", s=30, c="black", linewidths=1, zorder=3)
        ax.tick_params(labelsize=8)
        # moving artists: drawn by blitting over the cached background
        self._cloud = ax.scatter(np.zeros(1), np.zeros(1), s=5, c="#e66100", alpha=0.7, linewidths=0, zorder=4)
        self._paths = [ax.plot([], [], lw=0.7, color=color, alpha=0.85, zorder=5)[0] for color in PATH_COLORS]
        self._starts = ax.scatter([0], [0], s=16, c="white", edgecolors="black", linewidths=0.8, zorder=6)
        self._true_lines, self._tempered_lines, self._hists = [], [], []
        for i, axm in enumerate(self._ax_m):
            self._true_lines += axm.plot([], [], color="tab:blue", lw=1.5, label="true marginal of p")
            self._tempered_lines += axm.plot([], [], color="tab:blue", lw=1.0, ls="--", label="p at temperature T")
            self._hists.append(
                axm.stairs([0.0], [0.0, 1.0], fill=True, color="tab:orange", alpha=0.55, label="particles")
            )
            axm.set_xlabel(f"$x_{i + 1}$", fontsize=9, labelpad=1)
            axm.tick_params(labelsize=8)
            axm.set_yticks([])
        self._ax_m[0].legend(fontsize=7, loc="upper right", frameon=False)
        self._moving = [self._cloud, *self._paths, self._starts, *self._hists, *self._tempered_lines]

    def _show_energy(self, name: str) -> None:
        """Switch the static parts to another energy, redraw everything, cache the background."""
        target, ax = self._targets[name], self._ax
        energy, bg = target.energy, target.density
        for other, contours in self._contours.items():
            contours.set_visible(other == name)
        self._image_artist.set_data(np.sqrt(bg.density))  # sqrt: faint tails stay visible
        self._image_artist.set_extent(bg.extent)
        self._image_artist.set_clim(0, float(np.sqrt(bg.density.max())))
        if name not in self._contours:
            levels = np.unique(np.quantile(bg.density[bg.density > 0], [0.6, 0.8, 0.9, 0.95, 0.98]))
            self._contours[name] = ax.contour(
                bg.x_centers, bg.y_centers, bg.density, levels=levels, colors="tab:blue", linewidths=0.5
            )
        self._mode_marks.set_offsets(energy.modes.numpy() if energy.modes is not None else np.zeros((0, 2)))
        ax.set_title(energy.title, fontsize=10)
        ax.set(xlim=energy.extent[:2], ylim=energy.extent[2:])
        for line, axm, (centres, density) in zip(self._true_lines, self._ax_m, target.marginals):
            line.set_data(centres, density)
            axm.set_xlim(centres[0], centres[-1])
            axm.set_ylim(0, 1.3 * density.max())
        self._active = name
        for artist in self._moving:
            artist.set_visible(False)
        self.figure.canvas.draw()
        self._background = self.figure.canvas.copy_from_bbox(self.figure.bbox)
        for artist in self._moving:
            artist.set_visible(True)

    def _draw(self, target: Target, result: SampleResult, temperature: float) -> None:
        """Give the moving artists the run's data, blit them over the background, send a JPEG."""
        self._cloud.set_offsets(result.samples.numpy())
        traj = result.trajectory[:, : len(self._paths)].numpy()
        for i, line in enumerate(self._paths):
            line.set_data(traj[:, i, 0], traj[:, i, 1]) if i < traj.shape[1] else line.set_data([], [])
        self._starts.set_offsets(traj[0])
        for hist, (density, edges) in zip(self._hists, target.particle_marginals(result.samples)):
            hist.set_data(density, edges)
        tempered = target.tempered_marginals(temperature) if abs(temperature - 1.0) > 1e-9 else [([], [])] * 2
        for line, (centres, density) in zip(self._tempered_lines, tempered):
            line.set_data(centres, density)
        canvas = self.figure.canvas
        canvas.restore_region(self._background)
        for artist in self._moving:
            artist.axes.draw_artist(artist)
        out = io.BytesIO()
        Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3]).save(out, format="jpeg", quality=90)
        self.image.value = out.getvalue()

    def _build_widget(self) -> widgets.Widget:
        log = {"base": 10, "readout_format": ".2g"}
        c = self._controls = {
            "energy": widgets.Dropdown(options=list(REGISTRY), description="energy"),
            "sampler": widgets.Dropdown(options=list(SAMPLERS), description="sampler"),
            "init": widgets.Dropdown(options=list(INITS), description="start"),
            "step_size": widgets.FloatLogSlider(min=-4, max=0, step=0.1, description="step size h", **log),
            "temperature": widgets.FloatLogSlider(min=-4, max=1, step=0.25, description="temperature T", **log),
            "n_steps": widgets.IntSlider(min=0, max=2000, step=10, description="steps"),
            "n_particles": widgets.IntSlider(min=100, max=5000, step=100, description="particles"),
        }
        self._sync_controls()  # the current settings, before anything observes the controls
        for name, control in c.items():
            control.style = {"description_width": "95px"}
            control.layout = widgets.Layout(width="330px")
            if hasattr(control, "continuous_update"):
                control.continuous_update = False  # sample once the slider is released
            control.observe(partial(self._on_change, name), names="value")
        wrap = widgets.Layout(flex_flow="row wrap", align_items="flex-start")
        choices = widgets.VBox([c["energy"], c["sampler"], c["init"]])
        sliders = widgets.VBox([c["step_size"], c["temperature"], c["n_steps"], c["n_particles"]])
        self.table.layout = widgets.Layout(width="340px", margin="0 0 0 12px")
        return widgets.VBox(
            [widgets.HBox([choices, sliders], layout=wrap), widgets.HBox([self.image, self.table], layout=wrap)]
        )

    def _on_change(self, name: str, change: dict) -> None:
        if not self._syncing:
            self.update(**{name: change["new"]})

    def _sync_controls(self) -> None:
        params, self._syncing = self.params, True
        try:
            for name, control in self._controls.items():
                if control.value != params[name]:
                    control.value = params[name]
        finally:
            self._syncing = False


def _fmt(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}g}"


def metrics_table(m: Mapping[str, float], s: ExploreSettings, title: str, seconds: float) -> str:
    """The HTML beside the figure: a line of settings, the metrics with their floors, a note."""

    def with_floor(key: str, digits: int) -> str:
        return f"{_fmt(m[key], digits)} <small>(exact: {_fmt(m[key + '_floor'], 2)})</small>"

    rows = {
        "energy distance D² to p": with_floor("energy_distance", 4),
        "histogram TV": with_floor("histogram_tv", 3),
        "histogram KL": _fmt(m["histogram_kl"], 3),
        "mode occupancy TV": _fmt(m.get("occupancy_tv", math.nan), 3),
        "acceptance rate": _fmt(m["accept_rate"], 3) if s.sampler == "MALA" else "1 (ULA accepts all)",
        "mean |∇E| at the end": _fmt(m["grad_norm"], 3),
        "ESS per chain (x₁, 2nd half)": _fmt(m["ess_per_chain"], 3),
        "diverged particles": f"{int(m['diverged'])}",
        "temperature T = s²/(2h)": _fmt(s.temperature, 3),
        "update time": f"{1000 * seconds:.0f} ms",
    }
    noise = noise_scale_for_temperature(s.step_size, s.temperature)
    head = f"<b>{title}</b>: {s.sampler}, h = {s.step_size:.3g}, noise s = {noise:.3g}, {s.n_steps} steps, "
    head += f"{s.n_particles} particles from {s.init}"
    body = "".join(f"<tr><td style='padding-right:10px'>{k}</td><td><b>{v}</b></td></tr>" for k, v in rows.items())
    notes = "noise scale s = sqrt(2 h T); T = 1 samples p exactly as h -> 0. Crosses: modes; white dots: where the "
    notes += "drawn paths start; exact: what exact samples of the same size score."
    return (
        f"<div style='font-size:12px'>{head}</div><table style='font-size:12px'>{body}</table>"
        f"<div style='font-size:11px;color:#555'>{notes}</div>"
    )
