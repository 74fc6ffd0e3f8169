"""The 1-D regression run, out and back: its settings and live changes as a file that replays it exactly.

The page's run starts from a ``RegressionConfig`` and may be changed while it
trains (the drop rate slid, the learning rate, more epochs): ``RegressionLive``
records each change with the step it took effect at. ``replay`` trains a new run
from the same seed and makes each change before that step, so every number of
the page's history comes out the same (tests/test_regression_files.py);
``python -m explorer train --config FILE`` does it from the command line.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, Mapping

from explorer.core.export import VERSION, ConfigError, config_values, dump, load, refuse
from explorer.uncertainty.regression.analysis import (LIVE_REGRESSION_FIELDS, REGRESSION_PARSERS, RegressionConfig,
                                                      RegressionTrainer, as_text, from_params)

FORMAT = "dropout-explorer/regression"
Change = dict[str, Any]  # {"step": s, "p": 0.3, ...}: the fields that changed, from that step on


def regression_json(start: RegressionConfig, changes: list[Change], loaded: list[dict[str, Any]] = ()) -> str:
    """The run's starting settings (every field, as the link writes them), its changes, and the weights files
    loaded into it ({"step", "file"}: a replay cannot follow those, and says so)."""
    config = {f.name: as_text(getattr(start, f.name)) for f in fields(RegressionConfig)}
    return dump({"format": FORMAT, "version": VERSION, "config": config, "changes": changes,
                 "loaded_weights": list(loaded)}, None)


def read_regression(text: str, source: str = "the file") -> tuple[RegressionConfig, list[Change], list[Any]]:
    """A regression file's settings, changes and loaded weights files, checked as the page's link is;
    ``ConfigError`` says what is wrong (nothing falls back to a default, unlike a link)."""
    doc, _ = load(text, source, FORMAT)
    cfg, warnings = from_params(config_values(doc, source, list(REGRESSION_PARSERS)))
    refuse(f"{source}: config.", warnings)
    loaded = doc.get("loaded_weights", [])
    if not isinstance(loaded, list):
        raise ConfigError(f"{source}: \"loaded_weights\" must be a list")
    return cfg, _changes(doc.get("changes", []), cfg, source), loaded


def _changes(raw: Any, start: RegressionConfig, source: str) -> list[Change]:
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: \"changes\" must be a list")
    changes, last = [], 0
    for i, change in enumerate(raw):
        where = f"{source}: changes[{i}]"
        if not isinstance(change, dict) or not isinstance(change.get("step"), int) or change["step"] < last:
            raise ConfigError(f"{where}: expected {{\"step\": a whole number, not before the last change's, and "
                              f"the fields that changed}}")
        fields_ = {k: v for k, v in change.items() if k != "step"}
        if not fields_ or not set(fields_) <= set(LIVE_REGRESSION_FIELDS):
            raise ConfigError(f"{where}: a run changes only {', '.join(LIVE_REGRESSION_FIELDS)} while it trains")
        _, warnings = from_params({k: str(v) for k, v in fields_.items()}, start)
        refuse(f"{where}: ", warnings)
        last = change["step"]
        changes.append({"step": last, **fields_})
    return changes


def take(trainer: RegressionTrainer, change: Mapping[str, Any]) -> None:
    """Make a change from the trainer's next step on: what the page does when a setting moves, and a replay
    before the step it came at, so both agree."""
    if "p" in change:
        trainer.set_rates(float(change["p"]))
    if "lr" in change or "epochs" in change:
        trainer.retune(lr=float(change.get("lr", trainer.cfg.lr)), epochs=int(change.get("epochs", trainer.cfg.epochs)))


def replay(start: RegressionConfig, changes: list[Change]) -> RegressionTrainer:
    """The page's run trained again: from the seed, each change made before the step it came at."""
    # Epochs added after the run had finished: it must not stop before the step that added them.
    most = max([start.epochs] + [int(c["epochs"]) for c in changes if "epochs" in c])
    trainer = RegressionTrainer(replace(start, epochs=most))
    for change in changes:
        trainer.run(max_steps=change["step"] - trainer.step)
        take(trainer, change)
    trainer.run()
    return trainer
