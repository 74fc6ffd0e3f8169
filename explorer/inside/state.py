"""The Inside page's state: a run on MNIST digits, its no-dropout twin, and the figures of one frame.

Every panel looks at the network through a small fixed batch (settings.INSIDE_*),
never the whole set, so a frame stays cheap while training runs. Sampled masks
come from generators of their own seeded by the step (``explorer.inside.analysis``): the
pictures change with every step, and looking never changes the run.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Callable, Hashable

import numpy as np
import torch

from explorer import settings
from explorer.core import figures
from explorer.inside import analysis as inside
from explorer.core.datasets import Dataset
from explorer.core.experiment import Experiment
from explorer.core.figures import Figure
from explorer.core.live_runs import CURVES, LiveRuns
from explorer.core.shared_runs import locked
from explorer.core.training import Trainer


class Fig(StrEnum):
    """The places of a frame's figures (the keys of ``frame()``), as the page reads them."""

    INPUTS = "inputs"
    MASK = "mask"
    PAIR = "pair"
    HIST_VALUES = "hist_values"
    HIST_UNITS = "hist_units"
    ENSEMBLE = "ensemble"
    MAPS_1 = "maps_1"  # the CNN's
    MAPS_2 = "maps_2"
    FEATURES = "features"  # the MLP's
    TWIN_FEATURES = "twin_features"
    CURVES = CURVES


class Inspector(LiveRuns):
    """A run with dropout and its twin on digits, seen through one hidden layer and one digit at a time.

    ``select(layer, digit)`` chooses what the frame shows: ``layer`` indexes
    ``layer_names`` (the layers after the input that take dropout), ``digit``
    the probe digits (one validation digit per class, 0 to 9).
    """

    REBUILDABLE = ("_stats",)

    def __init__(self, exp: Experiment, data: Dataset) -> None:
        super().__init__(exp, data, compare=True)  # every panel compares with the twin
        probes = inside.pick_digits(data.y_val, settings.INSIDE_PROBES)
        self.probe_x, self.probe_y = data.x_val[probes], data.y_val[probes]
        self.stats_x = data.x_val[: settings.INSIDE_STATS]
        self.layer_names = [layer.name for layer in self.run.model.trace(self.probe_x[:1], train_mode=False).layers]
        self.layer, self.digit = 0, 0
        self.numbers: dict[str, Any] = {}  # the figures' numbers, for the page to print: set by each frame
        self._stats: tuple[tuple[Any, ...], dict[str, dict[str, Any]]] | None = None

    def share_key(self) -> Hashable:
        """Tabs training the same settings share one run (``shared_runs``): the data is the settings' too, and
        each tab's layer, digit and numbers are its own."""
        return "inside", self.exp

    @property
    def is_cnn(self) -> bool:
        return self.exp.model == "cnn"

    @locked
    def select(self, layer: int, digit: int) -> None:
        """What the next frame shows; out-of-range choices are clamped (a new network may have fewer layers)."""
        self.layer = min(max(int(layer), 0), len(self.layer_names) - 1)
        self.digit = min(max(int(digit), 0), len(self.probe_y) - 1)

    # --- the current step ------------------------------------------------
    def _step_trace(self) -> tuple[Any, torch.Tensor, bool]:
        """The latest step's trace and mini-batch indices; before any step, a sampled trace of the first batch."""
        trace, idx = self.run.model.last_trace(), self.run.last_batch
        if trace is not None and idx is not None:
            return trace, idx, True
        idx = torch.arange(min(self.exp.batch_size, len(self.data.y_train)))
        return self.run.model.trace(self.data.x_train[idx], train_mode=True, seed=0), idx, False

    def inputs_figure(self) -> Figure:
        trace, idx, stepped = self._step_trace()
        n = settings.INSIDE_INPUTS
        images = inside.input_view(self.data.x_train[idx[:n]], trace.input_mask[:n])
        q = self.run.model.dropouts[0].p
        title = f"This step's digits as the network sees them · input drop rate {q:g}"
        labels = [str(int(y)) for y in self.data.y_train[idx[:n]]]
        return figures.digits_figure(images, title if stepped else "Digits (no step yet: a sampled mask)", labels)

    def mask_figure(self) -> Figure:
        trace, _, stepped = self._step_trace()
        mask = inside.mask_matrix(trace, self.layer)[: settings.INSIDE_MASK_ROWS]
        what = "channels" if self.is_cnn and self.layer < len(self.layer_names) - 1 else "units"
        title = f"Mask of this step's mini-batch · {self.layer_names[self.layer]} ({what})"
        return figures.mask_figure(mask, title if stepped else title + " · no step yet", units_label=what[:-1])

    def pair_figure(self) -> Figure:
        pair = inside.activation_pair(self.run.model, self.probe_x, self.layer, seed=self.run.step)
        return figures.activation_pair_figure(
            pair["train"], pair["infer"], pair["dropped"], labels=[str(int(y)) for y in self.probe_y],
            title=f"Activations of {self.layer_names[self.layer]}: one sampled mask vs the inference network",
        )

    # --- with and without dropout -------------------------------------------
    def layer_stats(self) -> dict[str, dict[str, Any]]:
        """``inside.activation_stats`` of the selected layer for the run and the twin, on the stats digits.

        Inference mode, as Srivastava et al. measured them (Fig. 8). Computed
        once per step, layer and rates (weight scaling's inference depends on
        the rate): both histograms of a frame share them.
        """
        key = (self.run.step, self.layer, *(d.p for d in self.run.model.dropouts))
        if self._stats is None or self._stats[0] != key:
            stats = {}
            for name, trainer in self.named_trainers().items():
                trace = trainer.model.trace(self.stats_x, train_mode=False)
                stats[name] = inside.activation_stats(trace.layers[self.layer].activation)
            self._stats = (key, stats)
            self.numbers["activations"] = {name: {k: s[k] for k in ("mean", "near_zero", "eps")}
                                           for name, s in stats.items()}
        return self._stats[1]

    def histogram_figure(self, field: str) -> Figure:
        stats = self.layer_stats()
        layer = self.layer_names[self.layer]
        if field == "values":
            return figures.activation_histogram_figure(
                {name: s["values"] for name, s in stats.items()}, title=f"Every activation of {layer}",
                log_y=True, height=300, means={name: s["mean"] for name, s in stats.items()})
        return figures.activation_histogram_figure(
            {name: s["unit_means"] for name, s in stats.items()}, title=f"Mean activation of each unit of {layer}",
            xaxis_title="mean activation over digits", height=300)

    def features_figure(self, trainer: Trainer, title: str) -> Figure:
        images = inside.first_layer_features(trainer.model, settings.INSIDE_FEATURES)
        return figures.weights_figure(images, title=title, height=330)

    def maps_figure(self, block: int) -> Figure:
        """The CNN: one conv block's maps of the chosen digit, the channels a sampled mask drops left blank."""
        trace = self.run.model.trace(self.probe_x[self.digit : self.digit + 1], train_mode=True, seed=self.run.step)
        layer = trace.layers[block]
        grid = inside.feature_map_view(layer.activation[0], layer.mask[0])
        kept = int(layer.mask[0].sum())
        return figures.feature_maps_figure(
            grid, title=f"{layer.name} maps of the digit {int(self.probe_y[self.digit])} · "
                        f"{kept} of {len(layer.mask[0])} channels kept", height=330)

    # --- one digit, many thinned networks -------------------------------------
    def ensemble_figure(self) -> Figure:
        result = inside.mask_ensemble(self.run.model, self.probe_x[self.digit], settings.INSIDE_MASKS,
                                      seed=self.run.step)
        probs, mean, scaled = result["probs"], result["mean"], result["weight_scaled"]
        self.numbers["ensemble"] = {
            "digit": int(self.probe_y[self.digit]),
            "masks": settings.INSIDE_MASKS,
            "agreement": result["agreement"],
            "mean_top": int(np.argmax(mean)),
            "scaled_top": int(np.argmax(scaled)),
            "gap": float(np.abs(mean - scaled).max()),
        }
        return figures.ensemble_figure(
            probs, mean, scaled,
            title=f"The digit {int(self.probe_y[self.digit])} under {settings.INSIDE_MASKS} thinned networks")

    def figure_builders(self) -> dict[str, Callable[[], Figure]]:
        builders: dict[str, Callable[[], Figure]] = {
            Fig.INPUTS: self.inputs_figure,
            Fig.MASK: self.mask_figure,
            Fig.PAIR: self.pair_figure,
            Fig.HIST_VALUES: lambda: self.histogram_figure("values"),
            Fig.HIST_UNITS: lambda: self.histogram_figure("unit_means"),
            Fig.ENSEMBLE: self.ensemble_figure,
            **super().figure_builders(),
        }
        if self.is_cnn:
            builders |= {Fig.MAPS_1: lambda: self.maps_figure(0), Fig.MAPS_2: lambda: self.maps_figure(1)}
        else:
            builders |= {Fig.FEATURES: lambda: self.features_figure(self.run, "First-layer features · dropout"),
                         Fig.TWIN_FEATURES: lambda: self.features_figure(self.twin, "First-layer features · no dropout")}
        return builders
