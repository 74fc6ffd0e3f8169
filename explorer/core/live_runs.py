"""A run with dropout and its no-dropout twin, trained in bounded slices: the state behind every live page.

A live page trains for a slice, draws a frame, and lets the person change
settings in between. This class keeps the two runs in step (same data, initial
weights and batch order, so the twin is a fair comparison), applies the
settings that can change mid-run in place, and builds a frame's figures. Pages
subclass it with their own data and figures (``Playground``, ``Inspector``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, Callable, Collection, Protocol, runtime_checkable

from explorer.core import figures
from explorer.core.datasets import Dataset
from explorer.core.experiment import Experiment, build
from explorer.core.export import CHANGING, RunRecord, take, without_rates
from explorer.core.figures import Figure
from explorer.core.shared_runs import Core, Shareable, locked
from explorer.core.training import BoundedRun, Trainer

RUN_NAMES = ("dropout", "no dropout")  # the run, then its twin: the keys of every per-network result
CURVES = "curves"  # the training curves' place in a frame; each state's ``Fig`` names the places its page reads
TWIN_STEPS = 1  # the run and its twin alternate step by step: neither runs ahead, and a frame under load trains no
# more than one step of each (on the Inside page two 784-512-512 networks: ~20 ms a step pair)


@runtime_checkable
class LiveRun(Protocol):
    """A live page's state as its controls drive it (pages/ui/controls.py): ``LiveRuns`` and its subclasses,
    and the states that answer the same way without a twin (``Lab``, ``DropoutL2``, ``RegressionLive``)."""

    compare: bool  # trained next to a no-dropout twin

    @property
    def exp(self) -> Any:
        """What the state was made from, and what a fresh one is made from (an Experiment, a lab's lanes…)."""

    @property
    def done(self) -> bool:
        """Nothing left to train."""

    def advance(self, max_seconds: float | None = None, max_steps: int | None = None) -> int:
        """Train for a bounded slice; the steps taken."""

    def apply(self, exp: Any, compare: bool) -> bool:
        """Take new settings in place if they allow it (a rate, more epochs); False: make a new state."""

    def shed(self) -> None:
        """Drop what the state rebuilds by itself when it next trains or draws (a forgotten tab's memory)."""

    @property
    def sharers(self) -> int:
        """How many other tabs train this run now (``shared_runs.Shareable``; 0 for a ``Private`` one)."""

    def share(self) -> None:
        """Train pressed: join the run of these settings that other tabs train, if it may be shared."""

    def own(self) -> None:
        """Before this tab changes the run (Pause, Step, loaded weights): make it this tab's alone."""

    def show(self) -> None:
        """A new run: show the untrained run of the same settings that other tabs show, if any."""


@runtime_checkable
class LiveTraining(LiveRun, Protocol):
    """A live state with one main run, whose epoch and step the status line shows (all but the lab)."""

    run: BoundedRun


@dataclass(frozen=True)
class Pin:
    """A run kept for a before/after comparison: its label (its settings) and its history."""

    label: str
    history: list[dict[str, float]]


def pin_label(exp: Experiment, data_name: str, epoch: int) -> str:
    """A pinned run's settings in a few words: rates, variant, widths, data, and how far it trained."""
    parts = [f"q={exp.p:g}"] + ([f"input {exp.input_p:g}"] if exp.input_p else [])
    if exp.variant != "standard":
        parts.append(exp.variant)
    parts += ["-".join(map(str, exp.hidden)), f"{data_name} {exp.train_size}", f"epoch {epoch}"]
    return "pinned " + ", ".join(parts)


class LiveRuns(Shareable):
    """A run with dropout and, if ``compare``, a twin without it on the same data, weights and batches.

    The run records the masks of its latest step (``capture``): live pages
    show them. Its networks (``core``) may be shared with other tabs training
    the same settings (``share``, ``explorer.core.shared_runs``); this object
    is one tab's view of them.
    """

    def __init__(self, exp: Experiment, data: Dataset, compare: bool = True) -> None:
        self.exp, self.data, self.compare = exp, data, compare
        run = build(exp, data)
        run.model.capture(True)
        twin = build(exp.without_dropout(), data) if compare else None
        # The networks, how to replay them (where the run started, what changed at which step), and their lock.
        self.hold(Core(run, twin, RunRecord(exp)))
        self.pinned: list[Pin] = []  # earlier runs drawn beside this one's curves; the page hands over its list

    REBUILDABLE: tuple[str, ...] = ()  # attributes holding an analysis that the next frame computes when None

    @property
    def run(self) -> Trainer:
        return self.core.run

    @property
    def twin(self) -> Trainer | None:
        return self.core.twin

    @property
    def record(self) -> RunRecord:
        return self.core.record

    def changed(self) -> bool:
        return bool(self.record.changes or self.record.loaded_weights)

    @property
    def trainers(self) -> list[Trainer]:
        return [self.run] if self.twin is None else [self.run, self.twin]

    @locked
    def shed(self) -> None:
        """Drop the trainers' gradients and the analyses kept for redrawing (of a shared run: a copy's)."""
        self.own()
        for trainer in self.trainers:
            trainer.shed()
        for name in self.REBUILDABLE:
            setattr(self, name, None)

    def named_trainers(self) -> dict[str, Trainer]:
        """The run and (if any) its twin under ``RUN_NAMES``."""
        return dict(zip(RUN_NAMES, self.trainers))

    @property
    def done(self) -> bool:
        return self.run.done

    def train_slice(self, max_seconds: float | None, max_steps: int | None) -> int:
        """Train the run (and its twin, step for step) for a bounded slice; return the run's steps."""
        if self.twin is None:
            return self.run.run(max_steps=max_steps, max_seconds=max_seconds)
        start, taken = time.perf_counter(), 0
        while not self.run.done and (max_steps is None or taken < max_steps):
            if max_seconds is not None and taken and time.perf_counter() - start >= max_seconds:
                break
            chunk = TWIN_STEPS if max_steps is None else min(TWIN_STEPS, max_steps - taken)
            done = self.run.run(max_steps=chunk)
            self.twin.run(max_steps=done)
            taken += done
        return taken

    @locked
    def apply(self, exp: Experiment, compare: bool) -> bool:
        """Adopt new settings in place if possible; False means they need a new instance.

        Drop rates, learning rate, weight decay, max-norm and epochs change in
        place, at the next step; anything else (data, shape, variant, seed…)
        needs a new network, as does switching the twin on or off.
        """
        change = {f.name: getattr(exp, f.name) for f in fields(exp) if getattr(exp, f.name) != getattr(self.exp, f.name)}
        if compare != self.compare or not set(change) <= set(CHANGING):
            return False
        if change:
            self.own()
            self.record.changes.append({"step": self.run.step, **change})
            take(self.run, change)
            if self.twin is not None:
                take(self.twin, without_rates(change))
        self.exp = exp
        return True

    def records(self) -> dict[str, RunRecord]:
        """How to replay each network (``export.replay``): the twin starts without dropout and takes every change
        but the rates'."""
        records = {RUN_NAMES[0]: self.record}
        if self.twin is not None:
            twin_changes = [c for c in map(without_rates, self.record.changes) if len(c) > 1]  # more than a step
            records[RUN_NAMES[1]] = RunRecord(self.record.start.without_dropout(), twin_changes)
        return records

    def networks(self) -> dict[str, Trainer]:
        """The network whose weights the page saves and loads: the one with dropout."""
        return {RUN_NAMES[0]: self.run}

    def note_loaded(self, file: str) -> None:
        self.record.loaded_weights.append({"step": self.run.step, "file": file})

    @locked
    def histories(self) -> dict[str, list[dict[str, float]]]:
        """Each network's history so far, copied under the lock (a download is built on a thread of its own)."""
        return {name: list(trainer.history) for name, trainer in self.named_trainers().items()}

    # --- one frame ---------------------------------------------------------
    def curves_figure(self) -> Figure:
        runs = {f"dropout q={self.run.model.hidden_rate:g}": self.run.history}
        if self.twin is not None:
            runs["no dropout"] = self.twin.history
        return figures.curves_figure(runs, pinned=[(pin.label, pin.history) for pin in self.pinned])

    @locked
    def pin(self) -> Pin:
        """This run's curves as they are now, labelled with its settings, to compare the next run with."""
        return Pin(pin_label(self.exp, self.data.name, self.run.epoch), list(self.run.history))

    def figure_builders(self) -> dict[str, Callable[[], Figure]]:
        """Every figure of the page, keyed by its place, as a function that builds it now."""
        return {CURVES: self.curves_figure}

    @locked
    def frame(self, skip: Collection[str] = ()) -> dict[str, Figure]:
        """Every figure of the page keyed by its place, but those in ``skip`` (charts a page will not redraw now)."""
        return {place: build() for place, build in self.figure_builders().items() if place not in skip}
