"""The Variants lab: two to six dropout variants trained side by side, the state behind its page.

Every lane is an ``Experiment`` that differs from the others in its dropout
only (variant, rates, the variant's own parameters, inference): same data,
network shape, initial weights, optimiser and batch order, so differences in
the curves are the variants' doing. Lanes advance in turns of a few steps, so
none runs ahead of the others and a slice ends on time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace
from typing import Hashable, Sequence

import numpy as np
import torch

from explorer import settings
from explorer.core import figures
from explorer.core.datasets import Dataset
from explorer.dropout import VARIANTS, DropoutLayer, probing
from explorer.dropout.dropconnect import DropConnectLinear
from explorer.dropout.multisample import MultiSampleHead
from explorer.dropout.schedules import SCHEDULES
from explorer.dropout.uniform import CAP_RATE, MAX_BETA
from explorer.core.experiment import CSV, PARAMS, Experiment, build, defaults_for
from explorer.core.export import RunRecord
from explorer.core.figures import Figure
from explorer.core.live_runs import CURVES
from explorer.core.shared_runs import Core, Shareable, locked
from explorer.core.training import Trainer

# The fields in which lanes may differ; every other field is shared.
DROPOUT_FIELDS = ("p", "input_p", "conv_p", "variant", "conv_variant", "inference", *PARAMS)
LANE_STEPS = 1  # each lane's turn, in steps: one, so a slow lane (DropConnect on MNIST) delays a frame least
DEFAULT_LANES = ("standard", "gaussian", "dropconnect", "early")


def lab_defaults(dataset: str) -> Experiment:
    """The dataset's defaults; on MNIST with 256-unit layers, where DropConnect's per-example weight masks
    (64 × 784 × 512 draws a step at 512 units) would hold every lane back."""
    exp = defaults_for(dataset)
    return replace(exp, hidden=(256, 256)) if exp.is_mnist else exp


def lane_options(model: str) -> list[str]:
    """What a lane may run: the variants of the model's (input and dense) layers, the schedules, and for the
    CNN the variants of its conv maps."""
    units = [k for k, v in VARIANTS.items() if "mlp" in v.models and (model == "mlp" or "cnn" in v.models)]
    maps = [k for k, v in VARIANTS.items() if v.placement == "maps" and k != "spatial"] if model == "cnn" else []
    return [*units, *maps, *SCHEDULES]


def linked_lanes(text: str, model: str) -> tuple[list[str], list[str]]:
    """A link's ``variants=a,b,…``: the lanes the model can run (in order, each once) and the names it cannot."""
    options = lane_options(model)
    asked = [k.strip() for k in text.split(",") if k.strip()]
    return list(dict.fromkeys(k for k in asked if k in options)), [k for k in asked if k not in options]


def noise_place(index: int) -> str:
    """The place in a frame of lane ``index``'s noise picture (the curves' is ``CURVES``)."""
    return f"noise {index}"


def lane(base: Experiment, key: str, **changes: object) -> Experiment:
    """The experiment of a lane running ``key`` (a variant, a schedule, or a conv-map variant for the CNN)."""
    if key in VARIANTS and VARIANTS[key].placement == "maps":
        return replace(base, conv_variant=key, **changes)
    return replace(base, variant=key, **changes)


def lane_label(exp: Experiment) -> str:
    """A short name for a lane: the variant, its rate and what sets it apart."""
    if exp.variant in SCHEDULES:
        name = f"{SCHEDULES[exp.variant].name} ({VARIANTS[exp.base_variant].name.split(' (')[0].lower()})"
    else:
        name = VARIANTS[exp.variant].name
    rate = f" q={exp.p:g}" if exp.model == "mlp" or exp.conv_variant == "spatial" else f" q={exp.conv_p:g}"
    if exp.model == "cnn" and exp.conv_variant != "spatial":
        name = VARIANTS[exp.conv_variant].name
    elif exp.variant == "uniform" and exp.p > CAP_RATE:
        rate += f" (β capped at {MAX_BETA:g})"
    return name + rate + (f" · MC×{exp.mc_samples}" if exp.inference == "mc" else "")


@dataclass
class Lanes:
    """A lab's trainers, as a shared run (``shared_runs.Core``) sees one: done when every lane is, at the step of
    the furthest, on one dataset."""

    trainers: list[Trainer]
    data: Dataset

    @property
    def done(self) -> bool:
        return all(t.done for t in self.trainers)

    @property
    def step(self) -> int:
        return max(t.step for t in self.trainers)


class Lab(Shareable):
    """Lanes that share everything but their dropout, trained in turns.

    A ``live_runs.LiveRun`` for the pages' controls: ``exp`` is the lanes (what
    a new lab is made from).
    """

    compare = False  # no twin: the lanes compare with each other
    varying_fields: tuple[str, ...] = DROPOUT_FIELDS  # what lanes may differ in (a subclass may allow more)

    def __init__(self, lanes: Sequence[Experiment], data: Dataset) -> None:
        self.check(lanes)
        self.lanes, self.data = list(lanes), data
        self.labels = _unique([lane_label(e) for e in lanes])
        # The lanes and the weights files loaded into them, with the step; tabs on the same lanes share them.
        self.hold(Core(Lanes([build(e, data) for e in lanes], data), None, []))

    @property
    def trainers(self) -> list[Trainer]:
        return self.core.run.trainers

    @property
    def loaded(self) -> list[dict[str, object]]:
        return self.core.record

    def changed(self) -> bool:
        return bool(self.loaded)

    def share_key(self) -> Hashable | None:
        """Tabs on the same lanes share one lab (``shared_runs``), but not on uploaded points (two files of one
        name are two datasets)."""
        return None if self.lanes[0].dataset == CSV else (type(self).__name__, tuple(self.lanes))

    @classmethod
    def check(cls, lanes: Sequence[Experiment]) -> None:
        """``ValueError`` for lanes a lab cannot compare: too few or too many, or differing in more than dropout."""
        if not settings.LAB_MIN_LANES <= len(lanes) <= settings.LAB_MAX_LANES:
            raise ValueError(f"the lab compares {settings.LAB_MIN_LANES} to {settings.LAB_MAX_LANES} variants, "
                             f"got {len(lanes)}")
        first = lanes[0]
        for name in (f.name for f in fields(Experiment) if f.name not in cls.varying_fields):
            if any(getattr(e, name) != getattr(first, name) for e in lanes):
                raise ValueError(f"lanes must share {name}: only their dropout may differ")

    @property
    def done(self) -> bool:
        return self.core.run.done

    @property
    def exp(self) -> list[Experiment]:
        return self.lanes

    @locked
    def shed(self) -> None:
        """Drop the lanes' gradients (the next step makes them anew; of a shared lab: a copy's)."""
        self.own()
        for trainer in self.trainers:
            trainer.shed()

    def apply(self, lanes: Sequence[Experiment], compare: bool = False) -> bool:
        """Settings change nothing in place: True only if they are this lab's."""
        return list(lanes) == self.lanes

    @property
    def epoch(self) -> int:
        return min(t.epoch for t in self.trainers)

    def train_slice(self, max_seconds: float | None, max_steps: int | None) -> int:
        """Train every lane in turns of ``LANE_STEPS`` for a bounded slice; return the steps of one lane."""
        start, taken = time.perf_counter(), 0
        while not self.done and (max_steps is None or taken < max_steps):
            if max_seconds is not None and taken and time.perf_counter() - start >= max_seconds:
                break
            chunk = LANE_STEPS if max_steps is None else min(LANE_STEPS, max_steps - taken)
            taken += max(t.run(max_steps=chunk) for t in self.trainers)
        return taken

    # --- results out (explorer.core.export) ---------------------------------
    @locked
    def histories(self) -> dict[str, list[dict[str, float]]]:
        return {label: list(t.history) for label, t in zip(self.labels, self.trainers)}

    def records(self) -> dict[str, RunRecord]:
        """Each lane replays from its own experiment: nothing in a lab changes while it trains."""
        return {label: RunRecord(exp, loaded_weights=list(self.loaded)) for label, exp in zip(self.labels, self.lanes)}

    def networks(self) -> dict[str, Trainer]:
        return dict(zip(self.labels, self.trainers))

    def note_loaded(self, file: str) -> None:
        self.loaded.append({"step": self.trainers[0].step, "file": file})

    def rows(self) -> list[dict[str, float | str]]:
        """Per lane: the last epoch's losses and accuracies, the generalisation gap and seconds per epoch."""
        rows = []
        for label, t in zip(self.labels, self.trainers):
            last = t.history[-1] if t.history else {}
            rows.append({
                "variant": label, "epoch": t.epoch,
                "train_loss": last.get("train_loss", float("nan")), "val_loss": last.get("val_loss", float("nan")),
                "train_acc": last.get("train_acc", float("nan")), "val_acc": last.get("val_acc", float("nan")),
                "gap": last.get("train_acc", float("nan")) - last.get("val_acc", float("nan")),
                "rate": t.model.hidden_rate,
                "seconds_per_epoch": t.train_seconds / t.epoch if t.epoch else float("nan"),
            })
        return rows

    # --- figures -----------------------------------------------------------
    def curves_figure(self) -> Figure:
        return figures.curves_figure({label: t.history for label, t in zip(self.labels, self.trainers)},
                                     height=340, per_run_legend=True)

    @torch.no_grad()
    def noise(self, index: int, seed: int = 0) -> tuple[np.ndarray, str]:
        """The noise lane ``index`` applies to a fixed batch now, as an image, and what its axes are.

        Drawn from a generator of its own (``probing``): looking never changes the run.
        """
        trainer = self.trainers[index]
        model, exp = trainer.model, self.lanes[index]
        layer = _telling_layer(model, exp)
        batch = self.data.x_train[: settings.LAB_NOISE_ROWS]
        was_training = model.training
        model.train()
        try:
            with probing(model.dropouts, seed):
                model(batch)
                noise = layer.last_noise
        finally:
            model.train(was_training)
        return _as_image(noise, model, exp)

    def noise_figure(self, index: int, seed: int = 0) -> Figure:
        image, (x_label, y_label) = self.noise(index, seed)
        return figures.noise_figure(image, self._now(index), x_label, y_label)

    def _now(self, index: int) -> str:
        """A lane's label, with the rate in effect now where it moves (a schedule, a learned rate)."""
        exp, rate = self.lanes[index], self.trainers[index].model.hidden_rate
        if exp.variant in SCHEDULES or exp.variant == "concrete":
            return f"{self.labels[index]} · now {rate:.2g}" + (" (off: ×1)" if rate == 0 else "")
        return self.labels[index]

    @locked
    def frame(self, seed: int = 0) -> dict[str, Figure]:
        """The curves and every lane's noise picture (masks drawn from ``seed``)."""
        result = {CURVES: self.curves_figure()}
        result.update({noise_place(i): self.noise_figure(i, seed) for i in range(len(self.lanes))})
        return result


def _telling_layer(model: torch.nn.Module, exp: Experiment) -> DropoutLayer:
    """The layer whose noise shows the variant best: conv maps for map variants, the multisample
    head's dropout, DropConnect's last hidden layer (its weights read hidden units when there are two),
    else the first hidden layer's (the CNN's dense one)."""
    drops = model.dropouts
    if exp.model == "cnn":
        return drops[1] if exp.conv_variant != "spatial" else drops[-1]
    if isinstance(drops[-1], DropConnectLinear):
        return drops[-1]
    heads = [m for m in model.modules() if isinstance(m, MultiSampleHead)]
    return heads[0].dropout if heads else drops[1]


def _as_image(noise: torch.Tensor, model: torch.nn.Module, exp: Experiment) -> tuple[np.ndarray, tuple[str, str]]:
    cols = settings.LAB_NOISE_COLUMNS
    if noise.dim() == 3:  # dropconnect: (examples, out, in) weight masks; the first example's
        return noise[0, :cols, :cols].T.numpy(), ("hidden unit (output)", "input of the layer")
    if noise.dim() == 4:  # dropblock: (examples, channels, H, W); the first example's first channels side by side
        maps = noise[0, : settings.LAB_NOISE_CHANNELS]
        return torch.cat(list(maps), dim=1).numpy(), ("channels of the first conv maps, side by side", "row")
    heads = [m for m in model.modules() if isinstance(m, MultiSampleHead)]
    if heads:  # multisample: (M·N, units); the M masks of the first example
        rows = noise.reshape(heads[0].samples, -1, noise.shape[-1])[:, 0, :cols]
        return rows.numpy(), ("unit of the last hidden layer", "mask")
    return noise[:, :cols].numpy(), ("unit", "example")


def _unique(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out
