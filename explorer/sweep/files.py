"""A sweep out and back: its results as CSV, and its settings as a file ``python -m explorer sweep --config``
replays to the same numbers (the batched engine draws every mask from seeded generators)."""

from __future__ import annotations

import csv
import io
from dataclasses import fields
from typing import Any, Callable, Mapping

from explorer.core.export import VERSION, ConfigError, dump, experiment_from, load
from explorer.core.parsing import choice, whole
from explorer.core.points import Points
from explorer.core.experiment import PARSERS
from explorer.sweep.state import MODES, OVER, SWEEP_VARIANTS, SweepSpec

FORMAT = "dropout-explorer/sweep"
COLUMNS = ("x", "hidden", "dropout", "seed", "epoch", "train_error", "val_error", "train_loss", "val_loss")


def results_csv(result: Mapping[str, Any]) -> str:
    """One row per model of the sweep (a point's every seed), at its latest epoch; ``x`` is the rate or size."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for point in result["points"]:
        for run in point["seeds"]:
            writer.writerow([point["x"], "-".join(map(str, point["hidden"])), int(point["dropout"]),
                             *(run[c] for c in COLUMNS[3:])])
    return out.getvalue()


def sweep_json(spec: SweepSpec, points: Points | None = None) -> str:
    """The sweep's settings, and an uploaded file's points if it trains on them."""
    return dump({"format": FORMAT, "version": VERSION, "spec": spec.to_dict()}, points)


def _each(parse: Callable[[str], Any]) -> Callable[[Any], tuple]:
    def read(values: Any) -> tuple:
        if not isinstance(values, list):
            raise ValueError(f"expected a list, got {values!r}")
        return tuple(parse(str(v)) for v in values)
    return read


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "over": lambda v: choice(OVER)(str(v)), "mode": lambda v: choice(MODES)(str(v)),
    "rates": _each(PARSERS["p"]), "sizes": _each(PARSERS["train_size"]),
    "seeds": lambda v: whole(1, 10**6)(str(v)),
    "variants": _each(choice(SWEEP_VARIANTS)),
}


def read_sweep(text: str, source: str = "the file") -> tuple[SweepSpec, Points | None]:
    """A sweep file's spec (checked as the command line's flags are) and its points; ``ConfigError`` says what
    is wrong."""
    doc, points = load(text, source, FORMAT)
    values = doc.get("spec")
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: \"spec\" must be an object with over, mode, rates, sizes, seeds and base")
    unknown = sorted(set(values) - {f.name for f in fields(SweepSpec)})
    if unknown:
        raise ConfigError(f"{source}: spec: unknown field{'s' * (len(unknown) > 1)} {', '.join(unknown)}")
    read: dict[str, Any] = {}
    for name, parse in _PARSERS.items():
        if name in values:
            try:
                read[name] = parse(values[name])
            except (TypeError, ValueError) as err:
                raise ConfigError(f"{source}: spec.{name}: {err}") from None
    spec = SweepSpec(**read, base=experiment_from(values.get("base"), f"{source}: spec.base", points))
    problems = spec.problems()
    if problems:
        raise ConfigError(f"{source}: {problems[0]}")
    return spec, points
