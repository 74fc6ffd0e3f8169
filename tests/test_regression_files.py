"""The runs that are not an ``Experiment``, out and back: the Uncertainty page's 1-D regression (changes made while
it trained included) and the Theory page's ridge problem. The file a live run saves replays it number for number,
from the library and from ``train --config``; a bad file is refused with what is wrong."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from explorer.core.export import ConfigError
from explorer.core.weights import WeightsError, load_weights, weights_bytes
from explorer.theory.l2 import files as ridge_files
from explorer.theory.l2.state import DropoutL2, analysis_defaults
from explorer.tools import cli
from explorer.uncertainty.regression.analysis import RegressionConfig
from explorer.uncertainty.regression.files import read_regression, regression_json, replay
from explorer.uncertainty.regression.state import RegressionLive

SMALL = RegressionConfig(train_size=40, hidden=(16, 16), epochs=12, batch_size=8, seed=3)


def _changed_while_training() -> RegressionLive:
    """A run whose rate, learning rate and epochs move while it trains, in uneven slices as a live page's."""
    live = RegressionLive(SMALL)
    live.advance(max_steps=7)
    assert live.apply(replace(SMALL, p=0.5), False)
    live.advance(max_steps=11)
    assert live.apply(replace(SMALL, p=0.5, lr=0.003, epochs=20), False)
    live.advance(max_steps=3)
    assert live.apply(replace(SMALL, p=0.1, lr=0.003, epochs=20), False)
    live.advance()
    return live


def test_a_file_replays_its_run_exactly_changes_and_all():
    live = _changed_while_training()
    assert [c["step"] for c in live.changes] == [7, 18, 21] and live.run.epoch == 20
    start, changes, _ = read_regression(live.experiment_json())
    assert start == SMALL and changes == live.changes
    assert replay(start, changes).history == live.run.history  # every number


def test_epochs_added_after_the_run_finished_are_replayed():
    live = RegressionLive(replace(SMALL, epochs=3))
    live.advance()
    assert live.done and live.apply(replace(SMALL, epochs=5), False)
    live.advance()
    start, changes, _ = read_regression(live.experiment_json())
    assert replay(start, changes).history == live.run.history and len(live.run.history) == 5


def test_train_config_replays_a_regression_file(tmp_path, capsys):
    live = _changed_while_training()
    path = tmp_path / "regression.json"
    path.write_text(live.experiment_json())
    cli.main(["train", "--config", str(path), "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["history"] == live.run.history and printed["changes"] == live.changes
    assert printed["config"]["hidden"] == [16, 16]
    cli.main(["train", "--config", str(path)])
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["epoch", "train_mse", "val_mse", "p"] and out.startswith("     epoch")
    assert f"val_mse {live.run.history[-1]['val_mse']:.4f}" in out.splitlines()[-1]


def _file(**edits) -> str:
    doc = json.loads(regression_json(SMALL, [{"step": 4, "p": 0.3}]))
    for key, value in edits.items():
        if key == "config":
            doc["config"] |= value
        else:
            doc[key] = value
    return json.dumps(doc)


@pytest.mark.parametrize("text, words", [
    ("{", "is not JSON"),
    (json.dumps({"format": "dropout-explorer/experiment", "version": 1}), "is not a Dropout Explorer regression file"),
    (_file(version=2), "version 2"),
    (_file(config={"p": "2"}), "config.p: must be between 0 and 1, got 2"),
    (_file(config={"gap": "4,1"}), "config.gap: out of bounds"),
    (_file(config={"units": "3"}), "\"config\" must be an object with the fields"),
    (_file(changes={"step": 1}), "\"changes\" must be a list"),
    (_file(changes=[{"step": 4, "hidden": "8,8"}]), "changes only p, lr, epochs"),
    (_file(changes=[{"step": 4, "p": 0.3}, {"step": 2, "p": 0.1}]), "not before the last change's"),
    (_file(changes=[{"step": 4, "lr": "fast"}]), "changes[0]: lr:"),
])
def test_a_bad_file_says_what_is_wrong(text, words):
    with pytest.raises(ConfigError) as err:
        read_regression(text, "r.json")
    assert words in str(err.value) and str(err.value).startswith("r.json")


def test_train_config_refuses_a_bad_regression_file_in_one_line(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text(_file(config={"epochs": "0"}))
    for argv, words in [(["train", "--config", str(path)], "config.epochs: must be between 1 and 2000, got 0"),
                        (["train", "--config", str(path), "--run", "dropout"], "this file has one")]:
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and words in err and len(err.strip().splitlines()) == 1


# --- the ridge problem (Theory, dropout as L2) ------------------------------------------------------------------

RIDGE = replace(analysis_defaults(), input_p=0.3, train_size=60, epochs=30, seed=2)


def test_a_ridge_file_replays_the_pages_run_exactly(tmp_path, capsys):
    live = DropoutL2(RIDGE)
    while not live.done:
        live.advance(max_seconds=0.0, max_steps=5)  # the page's slices
    text = ridge_files.ridge_json(RIDGE)
    exp = ridge_files.read_ridge(text)
    assert exp == RIDGE and ridge_files.replay(exp).run.history == live.run.history
    path = tmp_path / "ridge.json"
    path.write_text(text)
    cli.main(["train", "--config", str(path), "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["history"] == live.run.history and printed["config"]["input_p"] == 0.3
    assert printed["summary"]["relative_distance"] == live.summary()["relative_distance"]


@pytest.mark.parametrize("config, words", [
    ({"input_p": "1.5"}, "config.input_p: must be between 0 and"),
    ({"train_size": "5"}, "config.train_size: the ridge problem takes"),
    ({"hidden": "8"}, "\"config\" must be an object with the fields"),
])
def test_a_bad_ridge_file_says_what_is_wrong(config, words):
    doc = json.loads(ridge_files.ridge_json(RIDGE))
    doc["config"] |= config
    with pytest.raises(ConfigError) as err:
        ridge_files.read_ridge(json.dumps(doc), "l2.json")
    assert words in str(err.value) and "using" not in str(err.value)


def test_weights_load_into_the_regression_run_and_its_file_says_so(tmp_path, capsys):
    live, other = RegressionLive(SMALL), RegressionLive(replace(SMALL, seed=9))
    for run in (live, other):
        run.advance(max_steps=5)
    load_weights(live.networks(), weights_bytes({"dropout": other.run.model}), "w.pt")
    live.note_loaded("w.pt")
    assert all(torch.equal(a, b) for a, b in zip(live.run.model.parameters(), other.run.model.parameters()))
    assert not live.run.optimizer.state  # a fresh Adam: the old moments belonged to the old weights
    live.advance()
    narrow = RegressionLive(replace(SMALL, hidden=(8, 8)))
    with pytest.raises(WeightsError, match="different network: layers 1-8-8-1"):
        load_weights(live.networks(), weights_bytes({"dropout": narrow.run.model}), "narrow.pt")
    path = tmp_path / "loaded.json"
    path.write_text(live.experiment_json())
    cli.main(["train", "--config", str(path), "--json"])
    assert "loaded weights from w.pt at step 5; the replay keeps the seed's weights" in capsys.readouterr().err
