"""The Playground's state: a run, its optional no-dropout twin, and the figures of one frame.

Kept free of streamlit so the page stays thin and the same frame can be timed
by the benchmark or built in a notebook.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import fields
from typing import Any, Callable, TypeVar

from explorer import figures, settings
from explorer.figures import Figure
from explorer.boundary import decision_grid, extent
from explorer.datasets import make_toy
from explorer.experiment import Experiment, build
from explorer.training import LIVE_FIELDS, Trainer

RATE_FIELDS = ("p", "input_p")
F = TypeVar("F", bound=Callable[..., Any])


def _locked(method: F) -> F:
    """Run under the instance's lock.

    Streamlit starts a new script run on a widget change without waiting for
    the previous one, which may still be inside a training slice: two threads
    would then step the same network at once.
    """

    @functools.wraps(method)
    def wrapper(self: Playground, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


TWIN_STEPS = 4  # the run and its twin alternate in chunks this short, so neither runs ahead


class Playground:
    """A run with dropout and, if ``compare``, a twin without it on the same data, weights and batches."""

    def __init__(self, exp: Experiment, compare: bool = True) -> None:
        self.exp, self.compare = exp, compare
        self.lock = threading.RLock()
        self.data = make_toy(exp.data_config())
        self.box = extent(self.data.x_train)
        self.run = build(exp, self.data)
        self.run.model.capture(True)  # the diagram shows the masks of the latest step
        self.twin: Trainer | None = build(exp.without_dropout(), self.data) if compare else None

    @property
    def trainers(self) -> list[Trainer]:
        return [self.run] if self.twin is None else [self.run, self.twin]

    @property
    def done(self) -> bool:
        return self.run.done

    @_locked
    def advance(self, max_seconds: float | None = None, max_steps: int | None = None) -> int:
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

    @_locked
    def apply(self, exp: Experiment, compare: bool) -> bool:
        """Adopt new settings in place if possible; False means they need a new Playground.

        Drop rates, learning rate, weight decay, max-norm and epochs change in
        place, at the next step; anything else (data, shape, variant, seed…)
        needs a new network, as does switching the twin on or off.
        """
        changed = {f.name for f in fields(exp) if getattr(exp, f.name) != getattr(self.exp, f.name)}
        if compare != self.compare or not changed <= set(RATE_FIELDS) | set(LIVE_FIELDS):
            return False
        live = {name: getattr(exp, name) for name in changed & set(LIVE_FIELDS)}
        if live:
            for trainer in self.trainers:
                trainer.retune(**live)
        if changed & set(RATE_FIELDS):
            self.run.set_rates(p=exp.p, input_p=exp.input_p)
        self.exp = exp
        return True

    # --- one frame ---------------------------------------------------------
    def boundary_figure(self, trainer: Trainer, title: str) -> Figure:
        grid = decision_grid(trainer.model, self.box, settings.BOUNDARY_RESOLUTION)
        d = self.data
        return figures.boundary_figure(grid.xs, grid.ys, grid.prob, d.x_train.numpy(), d.y_train.numpy(),
                                       d.x_val.numpy(), d.y_val.numpy(), title=title)

    def network_figure(self) -> Figure:
        model = self.run.model
        trace = model.last_trace()
        if trace is None:
            keep = [[True] * n for n in model.layer_sizes[:-1]]
            title = "Network (no step yet)"
        else:
            keep = [trace.input_mask[0].numpy()] + [layer.mask[0].numpy() for layer in trace.layers]
            title = "This step's thinned network"
        return figures.network_figure(model.layer_sizes, keep, settings.DIAGRAM_UNITS, title=title)

    def kept_figure(self) -> Figure:
        model = self.run.model
        trace = model.last_trace()
        names = ["input", *[f"hidden {i}" for i in range(1, len(model.cfg.hidden) + 1)]]
        expected = [d.keep for d in model.dropouts]
        if trace is None:
            kept = [1.0] * len(names)
        else:
            masks = [trace.input_mask] + [layer.mask for layer in trace.layers]
            kept = [m.float().mean().item() for m in masks]
        return figures.kept_fraction_figure(names, kept, expected)

    def curves_figure(self) -> Figure:
        runs = {f"dropout q={self.exp.p:g}": self.run.history}
        if self.twin is not None:
            runs["no dropout"] = self.twin.history
        return figures.curves_figure(runs)

    def figure_builders(self) -> dict[str, Callable[[], Figure]]:
        """Every figure of the page, keyed by its place, as a function that builds it now."""
        builders: dict[str, Callable[[], Figure]] = {
            "boundary": lambda: self.boundary_figure(self.run, f"Dropout q = {self.run.model.dropouts[-1].p:g}"),
            "network": self.network_figure,
            "kept": self.kept_figure,
            "curves": self.curves_figure,
        }
        if self.twin is not None:
            builders["twin"] = lambda: self.boundary_figure(self.twin, "No dropout (twin)")
        return builders

    @_locked
    def frame(self) -> dict[str, Figure]:
        """Every figure of the page, keyed by its place."""
        return {place: build() for place, build in self.figure_builders().items()}
