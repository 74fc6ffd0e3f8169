"""A page's run out and back: the experiment file replays every number of its history; its curves and weights."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from explorer.core.experiment import Experiment, defaults_for, make_data
from explorer.core.export import ConfigError, config_json, history_csv, read_config, replay
from explorer.core.live_runs import LiveRuns
from explorer.core.model import MLP
from explorer.core.points import points_dataset, read_points
from explorer.core.weights import Choose, WeightsError, load_weights, read_weights, weights_bytes
from explorer.inside.state import Inspector
from explorer.playground.state import Playground
from explorer.tools import cli

SMALL = Experiment(dataset="moons", train_size=60, val_size=50, hidden=(16, 16), epochs=12, batch_size=16)


def _train(run, slices: float = 0.002) -> None:
    """As the live page does: short slices, a frame drawn between them."""
    while not run.done:
        run.advance(max_seconds=slices)
        run.frame()


def _replayed(run) -> dict[str, list[dict]]:
    config = read_config(config_json("Test", run.records(), getattr(run, "points", None)))
    out = {}
    for name in run.histories():
        trainer = replay(config, name)
        trainer.run()
        out[name] = trainer.history
    return out


def test_a_playground_run_changed_while_it_trained_replays_number_for_number():
    run = Playground(SMALL, compare=True)
    run.advance(max_steps=5)
    run.apply(replace(SMALL, p=0.2, lr=0.003), True)  # slid mid-epoch
    run.advance(max_steps=9)
    run.apply(replace(SMALL, p=0.2, lr=0.003, input_p=0.1, weight_decay=1e-4, max_norm=3.0), True)
    _train(run)
    run.apply(replace(SMALL, p=0.7, lr=0.003, input_p=0.1, weight_decay=1e-4, max_norm=3.0, epochs=16), True)
    _train(run)  # more epochs after it had finished
    histories = run.histories()
    assert [len(h) for h in histories.values()] == [16, 16]
    assert {row["p"] for row in histories["dropout"]} == {0.5, 0.2, 0.7}
    assert _replayed(run) == histories  # every float equal, not close


def test_a_schedule_with_a_rate_slid_mid_run_replays():
    exp = replace(SMALL, variant="early", schedule_cutoff=4)
    run = LiveRuns(exp, make_data(exp), compare=False)
    run.advance(max_steps=7)
    run.apply(replace(exp, p=0.3), False)
    _train(run)
    assert _replayed(run) == run.histories()


def test_a_learned_rate_with_another_rate_slid_replays():
    """Live and replay apply a change alike (``export.take``): sliding the input rate leaves the learned hidden
    rate of concrete dropout where training took it, in both."""
    exp = replace(SMALL, variant="concrete")
    run = Playground(exp, compare=True)
    run.advance(max_steps=9)
    learned = run.run.model.hidden_rate
    run.apply(replace(exp, input_p=0.2), True)
    assert run.run.model.hidden_rate == learned and run.run.model.dropouts[0].p == pytest.approx(0.2)
    _train(run)
    assert _replayed(run) == run.histories()


def test_an_inside_run_replays():
    exp = replace(defaults_for("mnist"), train_size=200, val_size=100, hidden=(32,), epochs=2)
    run = Inspector(exp, make_data(exp))
    run.advance(max_steps=3)
    run.apply(replace(exp, p=0.25), True)
    _train(run, 0.01)
    assert _replayed(run) == run.histories()


def test_a_run_on_uploaded_points_carries_them_and_replays(tmp_path, capsys):
    rng = np.random.default_rng(0)
    raw = "x1,x2,label\n" + "".join(f"{rng.normal(c)},{rng.normal(-c)},{name}\n"
                                    for c, name in enumerate("abc") for _ in range(20))
    points = read_points(raw.encode(), "abc.csv")
    exp = replace(SMALL, dataset="csv", data_file="abc.csv", noise=0.0, train_size=42, val_size=18)
    run = Playground(exp, compare=False, data=points_dataset(points, 42, 18, exp.label_noise, exp.seed))
    _train(run)
    text = config_json("Playground", run.records(), points)
    assert json.loads(text)["data"]["points"][0][2] == "a"
    path = tmp_path / "run.json"
    path.write_text(text)
    cli.main(["train", "--config", str(path), "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["history"] == run.run.history
    assert printed["config"]["dataset"] == "csv"


def test_history_csv_has_a_row_per_epoch_of_every_network():
    run = Playground(replace(SMALL, epochs=3), compare=True)
    _train(run)
    rows = list(csv.DictReader(io.StringIO(history_csv(run.histories()))))
    assert [r["run"] for r in rows] == ["dropout"] * 3 + ["no dropout"] * 3
    assert list(rows[0]) == ["run", "epoch", "step", "train_loss", "val_loss", "train_acc", "val_acc", "p", "input_p"]
    assert float(rows[2]["val_acc"]) == run.run.history[2]["val_acc"]  # written as repr: exact


BAD_CONFIGS = [  # (file text, words the message must hold)
    ("{", ("not JSON",)),
    ('{"format": "other"}', ("not a Dropout Explorer experiment",)),
    ('{"format": "dropout-explorer/experiment", "version": 9, "runs": {}}', ("version 9",)),
    ('{"format": "dropout-explorer/experiment", "version": 1, "runs": {}}', ("no runs",)),
    ('{"format": "dropout-explorer/experiment", "version": 1, "runs": {"a": {"experiment": {"colour": 1}}}}',
     ("run 'a'", "unknown field colour")),
    ('{"format": "dropout-explorer/experiment", "version": 1, "runs": {"a": {"experiment": {"p": 1.5}}}}',
     ("p:", "between 0 and 1, got 1.5")),
    ('{"format": "dropout-explorer/experiment", "version": 1, "runs": {"a": {"experiment": {"hidden": [0]}}}}',
     ("hidden",)),
    ('{"format": "dropout-explorer/experiment", "version": 1, "runs": {"a": {"experiment": {"model": "cnn"}}}}',
     ("CNN", "28×28")),
    ('{"format": "dropout-explorer/experiment", "version": 1, "runs": {"a": {"experiment": {}, '
     '"changes": [{"step": 3, "hidden": [4]}]}}}', ("change 1", "hidden cannot change")),
    ('{"format": "dropout-explorer/experiment", "version": 1, "runs": {"a": {"experiment": {}, '
     '"changes": [{"p": 0.1}]}}}', ("change 1", "step")),
    ('{"format": "dropout-explorer/experiment", "version": 1, "runs": {"a": {"experiment": '
     '{"dataset": "csv", "data_file": "x.csv", "noise": 0}}}}', ("uploaded points", "no \"data\"")),
    ('{"format": "dropout-explorer/experiment", "version": 1, "runs": {"a": {"experiment": {}}}, '
     '"data": {"points": [[0, 0, "a"], [1, 1, "a"]]}}', ("data", "only one class")),
]


@pytest.mark.parametrize("text,words", BAD_CONFIGS, ids=[w[0] for _, w in BAD_CONFIGS])
def test_a_bad_experiment_file_is_named_and_explained(text, words):
    with pytest.raises(ConfigError) as err:
        read_config(text, "run.json")
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_run_the_file_does_not_have():
    config = read_config(config_json("Test", Playground(replace(SMALL, epochs=1), compare=False).records()))
    with pytest.raises(ConfigError, match="no run 'twin'.*'dropout'"):
        replay(config, "twin")


# --- weights ----------------------------------------------------------------------
def _trained(exp: Experiment = SMALL) -> Playground:
    run = Playground(replace(exp, epochs=3), compare=False)
    _train(run)
    return run


def test_weights_load_with_torch_alone_and_back_into_a_page():
    run = _trained()
    raw = weights_bytes({'dropout': run.run.model})
    state = torch.load(io.BytesIO(raw), weights_only=True)
    model = MLP(run.exp.model_config(2, 2))
    model.load_state_dict(state)
    model.eval()
    run.run.model.eval()
    x = run.data.x_val
    assert torch.equal(model(x), run.run.model(x))
    fresh = Playground(replace(SMALL, epochs=3, seed=7), compare=False)
    load_weights(fresh.networks(), raw, "w.pt")
    fresh.run.model.eval()
    assert torch.equal(fresh.run.model(x), model(x))
    assert fresh.run.optimizer.state == {}  # a fresh optimiser: the old moments belonged to other weights


def test_every_bad_weights_file_is_refused_with_a_reason_and_the_network_untouched():
    run = _trained()
    before = {k: v.clone() for k, v in run.run.model.state_dict().items()}
    good = weights_bytes({'dropout': run.run.model})
    wider = weights_bytes({'dropout': _trained(replace(SMALL, hidden=(32,))).run.model})
    nan_state = {k: v.clone() for k, v in before.items()}
    next(iter(nan_state.values()))[0] = float("nan")
    buffer = io.BytesIO()
    torch.save(nan_state, buffer)
    listed = io.BytesIO()
    torch.save([1, 2, 3], listed)
    cases = [
        (b"", "empty"),
        (b"x1,x2,label\n1,2,0\n", "torch cannot read it"),
        (good[: len(good) // 2], "cut short"),
        (wider, "different network: layers 2-32-2, and this page's are 2-16-16-2"),
        (buffer.getvalue(), "NaN"),
        (listed.getvalue(), "no network weights"),
    ]
    for raw, words in cases:
        with pytest.raises(WeightsError) as err:
            load_weights(run.networks(), raw, "w.pt")
        assert words in str(err.value) and str(err.value).startswith("w.pt"), str(err.value)
        assert all(torch.equal(v, before[k]) for k, v in run.run.model.state_dict().items())


def test_weights_refuse_pickled_code():
    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    buffer = io.BytesIO()
    torch.save({"w": Evil()}, buffer)
    with pytest.raises(WeightsError, match="torch cannot read it"):
        read_weights(buffer.getvalue(), "evil.pt")


def test_cli_config_refuses_other_flags_and_bad_files(tmp_path, capsys):
    path = tmp_path / "run.json"
    path.write_text(config_json("Test", _trained().records()))
    for argv, words in [
        (["train", "--config", str(path), "--p", "0.2"], "leave out --p"),
        (["train", "--config", str(tmp_path / "none.json")], "cannot read"),
        (["train", "--config", str(path), "--run", "twin"], "no run 'twin'"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 2 and words in capsys.readouterr().err


def test_a_page_of_one_network_takes_the_one_picked_from_a_file_of_several():
    """A sweep's file ({"standard q=0.5 seed 0": state_dict, …}) into the Playground: the models with its layers
    are offered, the one picked is loaded, to the bit."""
    models = {"q=0.5 seed 0": _trained().run.model, "q=0.2 seed 1": _trained(replace(SMALL, p=0.2, seed=1)).run.model,
              "narrow": _trained(replace(SMALL, hidden=(8,))).run.model}
    raw = weights_bytes(models)
    page = Playground(SMALL, compare=False)
    with pytest.raises(Choose) as err:
        load_weights(page.networks(), raw, "sweep.pt")
    assert err.value.names == ["q=0.5 seed 0", "q=0.2 seed 1"]
    load_weights(page.networks(), raw, "sweep.pt", pick="q=0.2 seed 1")
    assert all(torch.equal(a, b) for a, b in zip(page.run.model.state_dict().values(),
                                                 models["q=0.2 seed 1"].state_dict().values()))
    with pytest.raises(WeightsError, match=r"sweep.pt \(narrow\) holds a different network: layers 2-8-2"):
        load_weights(page.networks(), raw, "sweep.pt", pick="narrow")
    wide = Playground(replace(SMALL, hidden=(32,)), compare=False)
    with pytest.raises(WeightsError, match="holds 3 networks .*, none with this page's layers \\(2-32-2\\)"):
        load_weights(wide.networks(), raw, "sweep.pt")


def test_a_lab_saves_every_lane_and_takes_back_only_a_file_of_its_lanes():
    from explorer.lab.state import Lab, lab_defaults, lane

    base = replace(lab_defaults("moons"), train_size=60, val_size=50, hidden=(16, 16), epochs=2)
    lab = Lab([lane(base, "standard"), lane(base, "gaussian"), lane(base, "dropconnect")], make_data(base))
    _train(lab)
    raw = weights_bytes({name: t.model for name, t in lab.networks().items()})
    state = torch.load(io.BytesIO(raw), weights_only=True)
    assert list(state) == lab.labels
    other = Lab([lane(replace(base, seed=4), k) for k in ("standard", "gaussian", "dropconnect")], make_data(base))
    load_weights(other.networks(), raw, "lab.pt")
    assert all(torch.equal(a.model.linears[0].weight, b.model.linears[0].weight) for a, b in zip(lab.trainers, other.trainers))
    single = _trained()
    with pytest.raises(WeightsError, match="holds one network; this page trains 3"):
        load_weights(lab.networks(), weights_bytes({"dropout": single.run.model}), "one.pt")
    with pytest.raises(Choose, match="holds 3 networks; 2 with this page's layers: choose one"):
        load_weights(single.networks(), raw, "lab.pt")
    fewer = Lab([lane(base, "standard"), lane(base, "gaussian")], make_data(base))
    with pytest.raises(WeightsError, match="this page's are Standard"):
        load_weights(fewer.networks(), raw, "lab.pt")
    assert _replayed(lab) == lab.histories()
