"""A page's run, out and back: its curves as CSV, and its experiment as a JSON file that replays it exactly.

A live run starts from an ``Experiment`` and may be changed while it trains
(a drop rate slid, more epochs): ``LiveRuns`` records each change with the
step it took effect at. The JSON file holds the starting experiment of every
network on the page, their changes, and an uploaded dataset's points (a
replay needs them, and they are in no link). ``replay`` builds the network
from the seed and applies each change before the step it came at: every number
of the page's history comes out the same (tests/test_export.py).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Protocol, Sequence

from explorer.core.cnn import CNN
from explorer.core.datasets import Dataset
from explorer.core.experiment import CSV, PARSERS, Experiment, build, check, format_field, parse_field
from explorer.core.points import Points, points_dataset, read_points
from explorer.core.training import LIVE_FIELDS, Trainer

FORMAT = "dropout-explorer/experiment"
VERSION = 1
RATE_FIELDS = ("p", "input_p", "conv_p")
CHANGING = (*RATE_FIELDS, *LIVE_FIELDS)  # what may change while a run trains


class ConfigError(ValueError):
    """An experiment file that cannot be replayed; the message says why."""


def config_values(doc: Mapping[str, Any], source: str, names: Sequence[str]) -> dict[str, str]:
    """A file's ``"config"`` object, every one of ``names`` and nothing else, as the text a link's parser reads."""
    values = doc.get("config")
    if not isinstance(values, dict) or set(values) != set(names):
        raise ConfigError(f"{source}: \"config\" must be an object with the fields {', '.join(names)}")
    return {k: str(v) for k, v in values.items()}


def refuse(where: str, warnings: Sequence[str]) -> None:
    """A file's values read by a link's parser: the first one the link would have replaced is an error, named
    (``where`` starts it; the warning's "; using …" goes: a file's bad value is not replaced)."""
    if warnings:
        raise ConfigError(where + warnings[0].rsplit("; using ", 1)[0])


@dataclass
class RunRecord:
    """How to train one network again: the experiment it started from and each change with the step it came at."""

    start: Experiment
    changes: list[dict[str, Any]] = field(default_factory=list)  # {"step": s, "p": 0.3, ...}, in order
    loaded_weights: list[dict[str, Any]] = field(default_factory=list)  # {"step": s, "file": name}: not replayable


class Exportable(Protocol):
    """A live page's state that can be saved (``LiveRuns`` and the lab): its networks by name, and its data."""

    data: Dataset

    def histories(self) -> dict[str, list[dict[str, float]]]:
        """Each network's history so far, copied under the state's lock."""

    def records(self) -> dict[str, RunRecord]:
        """How to replay each network."""

    def networks(self) -> dict[str, Trainer]:
        """The networks whose weights are saved and loaded, by name."""

    def note_loaded(self, file: str) -> None:
        """Record that a weights file was loaded into ``networks()`` now: a replay cannot follow it."""


def history_csv(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """One row per epoch of every run (``run`` names it), with the history's columns (the command line's)."""
    columns: list[str] = []
    for history in runs.values():
        for row in history:
            columns += [c for c in row if c not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, ["run", *columns], lineterminator="\n")
    writer.writeheader()
    for name, history in runs.items():
        for row in history:
            writer.writerow({"run": name, **row})
    return out.getvalue()


def config_json(page: str, runs: Mapping[str, RunRecord], points: Points | None = None) -> str:
    """The experiment file of a page: every network's start and changes, and the uploaded points if any."""
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION, "page": page, "runs": {}}
    for name, record in runs.items():
        entry = {"experiment": record.start.to_dict(), "changes": record.changes}
        if record.loaded_weights:
            entry["loaded_weights"] = record.loaded_weights
        doc["runs"][name] = entry
    return dump(doc, points)


def dump(doc: dict[str, Any], points: Points | None) -> str:
    """A file's JSON text, with an uploaded file's points under "data" (a replay needs them; no link has them)."""
    if points is not None:
        rows = [[a, b, points.classes[c]] for (a, b), c in zip(points.x.tolist(), points.y.tolist())]
        doc["data"] = {"name": points.name, "sha256": points.digest, "points": rows}
    return json.dumps(doc, indent=1, allow_nan=False)


def load(text: str, source: str, kind: str = FORMAT) -> tuple[dict[str, Any], Points | None]:
    """A file's JSON object of ``kind`` (its "format"), checked for its version, and its points if it has them."""
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise ConfigError(f"{source} is not JSON: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != kind:
        raise ConfigError(f"{source} is not a Dropout Explorer {kind.split('/')[-1]} file (its \"format\" is not "
                          f"{kind!r})")
    if doc.get("version") != VERSION:
        raise ConfigError(f"{source} is version {doc.get('version')!r}; this Dropout Explorer reads version {VERSION}")
    return doc, _read_points(doc["data"], source) if "data" in doc else None


@dataclass
class Config:
    """A read experiment file: its page, its runs, and the points of an uploaded dataset."""

    page: str
    runs: dict[str, RunRecord]
    points: Points | None


def read_config(text: str, source: str = "the file") -> Config:
    """Read and check an experiment file; ``ConfigError`` names what is wrong in it."""
    doc, points = load(text, source)
    runs = doc.get("runs")
    if not isinstance(runs, dict) or not runs:
        raise ConfigError(f"{source} has no runs")
    records = {}
    for name, entry in runs.items():
        where = f"{source}: run {name!r}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected an object with experiment and changes")
        start = experiment_from(entry.get("experiment"), where, points)
        records[name] = RunRecord(start, _changes(entry.get("changes", []), where),
                                  list(entry.get("loaded_weights", [])))
    return Config(str(doc.get("page", "")), records, points)


def experiment_from(values: Any, where: str, points: Points | None) -> Experiment:
    """An experiment of a file: every field through its parser, as a link's or a flag's (the same ranges and
    rules); one on uploaded points needs the file's ``points``."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: \"experiment\" must be an object of fields")
    unknown = sorted(set(values) - set(PARSERS))
    if unknown:
        raise ConfigError(f"{where}: unknown field{'s' * (len(unknown) > 1)} {', '.join(unknown)}")
    parsed = {}
    for name, value in values.items():
        try:
            parsed[name] = _parsed(name, value)
        except ValueError as err:
            raise ConfigError(f"{where}: {name}: {err}") from None
    exp = Experiment(**{f.name: parsed.get(f.name, getattr(Experiment, f.name)) for f in fields(Experiment)})
    problems = check(exp)
    if problems:
        raise ConfigError(f"{where}: {problems[0]}")
    if exp.dataset == CSV and points is None:
        raise ConfigError(f"{where}: trains on uploaded points, but the file holds no \"data\"")
    return exp


def _parsed(name: str, value: Any) -> Any:
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, bool) or not isinstance(value, (str, int, float, tuple)):
        raise ValueError(f"unexpected value {value!r}")
    return parse_field(name, format_field(value))


def _changes(changes: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(changes, list):
        raise ConfigError(f"{where}: \"changes\" must be a list")
    read = []
    for i, change in enumerate(changes, start=1):
        if not isinstance(change, dict) or not isinstance(change.get("step"), int) or change["step"] < 0:
            raise ConfigError(f"{where}: change {i} needs a \"step\" (a whole number ≥ 0)")
        unknown = sorted(set(change) - {"step", *CHANGING})
        if unknown:
            raise ConfigError(f"{where}: change {i}: {', '.join(unknown)} cannot change while a run trains")
        try:
            read.append({"step": change["step"], **{k: _parsed(k, v) for k, v in change.items() if k != "step"}})
        except ValueError as err:
            raise ConfigError(f"{where}: change {i}: {err}") from None
    return read


def _read_points(data: Any, source: str) -> Points:
    if not isinstance(data, dict) or not isinstance(data.get("points"), list):
        raise ConfigError(f"{source}: \"data\" must hold the uploaded file's \"points\" as [x1, x2, label] rows")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["x1", "x2", "label"])
    for row in data["points"]:
        if not isinstance(row, list) or len(row) != 3:
            raise ConfigError(f"{source}: \"data\": every point is [x1, x2, label], got {row!r}")
        writer.writerow([repr(v) if isinstance(v, float) else v for v in row])
    try:
        return read_points(out.getvalue().encode(), str(data.get("name", "data.csv")))
    except ValueError as err:
        raise ConfigError(f"{source}: \"data\": {err}") from None


def take(trainer: Trainer, change: Mapping[str, Any]) -> None:
    """Apply a change of ``CHANGING`` fields to a trainer, from its next step on: what a live page does when a
    setting moves (``LiveRuns.apply``) and what a replay does before the step it came at, so both agree. Only
    the rates named change (a learned rate, concrete dropout's, keeps its value when another moves)."""
    live = {k: v for k, v in change.items() if k in LIVE_FIELDS}
    if live:
        trainer.retune(**live)
    rates = {k: v for k, v in change.items() if k in RATE_FIELDS}
    if not isinstance(trainer.model, CNN):
        rates.pop("conv_p", None)  # an MLP has no conv layers
    if rates:
        trainer.set_rates(**rates)


def without_rates(change: Mapping[str, Any]) -> dict[str, Any]:
    """A change as a no-dropout twin takes it: everything but the rates (its own stay 0)."""
    return {k: v for k, v in change.items() if k not in RATE_FIELDS}


class _Changes:
    """A trainer callback that applies each recorded change before the step it came at, as the page did."""

    def __init__(self, changes: list[dict[str, Any]]) -> None:
        self.pending = sorted(changes, key=lambda c: c["step"])  # stable: changes of one step in their order

    def __call__(self, trainer: Trainer) -> None:
        while self.pending and self.pending[0]["step"] <= trainer.step:
            take(trainer, {k: v for k, v in self.pending.pop(0).items() if k != "step"})


def replay(config: Config, run: str) -> Trainer:
    """A trainer that trains ``run`` of ``config`` as its page did (call ``run()`` on it); ``ConfigError`` for a
    run the file does not have."""
    if run not in config.runs:
        raise ConfigError(f"no run {run!r} in the file; it has {', '.join(map(repr, config.runs))}")
    record = config.runs[run]
    exp = record.start
    trainer = build(exp, data_of(exp, config.points))
    # Epochs added after the run had finished: it must not stop before the step that added them.
    trainer.retune(epochs=max([exp.epochs] + [c["epochs"] for c in record.changes if "epochs" in c]))
    changes = _Changes(record.changes)
    changes(trainer)  # those of step 0: made before the first step
    trainer.add_callback("on_step_begin", changes, first=True)
    return trainer


def data_of(exp: Experiment, points: Points | None) -> Dataset | None:
    """The uploaded points' split for an experiment on them (``csv``); None: ``build`` makes the data."""
    if exp.dataset != CSV or points is None:
        return None
    return points_dataset(points, exp.train_size, exp.val_size, exp.label_noise, exp.seed)


def finite(value: Any) -> Any:
    """Strict JSON has no NaN or Infinity: a diverged run's non-finite numbers become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
