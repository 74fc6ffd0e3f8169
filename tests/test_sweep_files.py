"""A sweep out and back: the file replays to the same numbers (page slices vs one run), its results CSV, bad files."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import numpy as np
import pytest

from explorer.core.export import ConfigError, data_of
from explorer.core.points import read_points
from explorer.sweep.files import read_sweep, results_csv, sweep_json
from explorer.sweep.state import Sweep, SweepSpec, run_sweep, sweep_defaults
from explorer.tools import cli

BASE = replace(sweep_defaults("moons"), train_size=80, val_size=60, hidden=(16, 16), epochs=3)


def _points(result: dict) -> list:
    return [{k: v for k, v in p.items()} for p in result["points"]]


def _sliced(spec: SweepSpec, data=None) -> dict:
    sweep = Sweep(spec, data)
    while not sweep.advance(max_seconds=0.001):  # the page's slices
        pass
    return sweep.results()


@pytest.mark.parametrize("over", ["rate", "size"])
def test_a_sweep_file_replays_the_page_s_numbers(over, tmp_path, capsys):
    spec = SweepSpec(over=over, rates=(0.0, 0.5), sizes=(20, 80), seeds=2, base=BASE)
    page = _sliced(spec)
    spec_back, points = read_sweep(sweep_json(spec))
    assert spec_back == spec and points is None
    assert _points(run_sweep(spec_back)) == _points(page)  # every float equal
    path = tmp_path / "sweep.json"
    path.write_text(sweep_json(spec))
    cli.main(["sweep", "--config", str(path), "--json"])
    assert json.loads(capsys.readouterr().out)["points"] == json.loads(json.dumps(_points(page)))


def test_a_sweep_on_uploaded_points_carries_them():
    rng = np.random.default_rng(0)
    raw = "x1,x2,label\n" + "".join(f"{rng.normal(c)},{rng.normal(-c)},{c}\n" for c in range(3) for _ in range(30))
    points = read_points(raw.encode(), "three.csv")
    train, val = points.default_split()
    base = replace(BASE, dataset="csv", data_file="three.csv", noise=0.0, train_size=train, val_size=val)
    spec = SweepSpec(over="rate", rates=(0.0, 0.5), seeds=1, base=base)
    page = _sliced(spec, data_of(base, points))
    spec_back, points_back = read_sweep(sweep_json(spec, points))
    assert _points(run_sweep(spec_back, data_of(spec_back.base, points_back))) == _points(page)


def test_results_csv_has_a_row_per_model():
    spec = SweepSpec(over="rate", rates=(0.0, 0.5), seeds=2, base=BASE)
    result = run_sweep(spec)
    rows = list(csv.DictReader(io.StringIO(results_csv(result))))
    assert len(rows) == 4 and {r["x"] for r in rows} == {"0.0", "0.5"}
    assert {r["seed"] for r in rows} == {"0", "1"} and rows[0]["hidden"] == "16-16"
    assert float(rows[0]["val_error"]) == result["points"][0]["seeds"][0]["val_error"]


@pytest.mark.parametrize("doc,words", [
    ({"format": "dropout-explorer/experiment", "version": 1}, "not a Dropout Explorer sweep file"),
    ({"format": "dropout-explorer/sweep", "version": 1}, "\"spec\" must be an object"),
    ({"format": "dropout-explorer/sweep", "version": 1, "spec": {"over": "depth", "base": {}}}, "spec.over: unknown value"),
    ({"format": "dropout-explorer/sweep", "version": 1, "spec": {"colour": 1}}, "unknown field colour"),
    ({"format": "dropout-explorer/sweep", "version": 1, "spec": {"rates": [1.5], "base": {}}}, "between 0 and 1"),
    ({"format": "dropout-explorer/sweep", "version": 1, "spec": {"base": {"variant": "gaussian"}}},
     "with --variants, not --variant"),
    ({"format": "dropout-explorer/sweep", "version": 1, "spec": {"variants": ["gaussian", "multisample"], "base": {}}},
     "spec.variants: unknown value 'multisample'"),
])
def test_a_bad_sweep_file_is_explained(doc, words):
    with pytest.raises(ConfigError, match=words):
        read_sweep(json.dumps(doc), "sweep.json")


def test_sweep_config_refuses_other_flags(tmp_path, capsys):
    path = tmp_path / "sweep.json"
    path.write_text(sweep_json(SweepSpec(base=BASE)))
    with pytest.raises(SystemExit):
        cli.main(["sweep", "--config", str(path), "--seeds", "2", "--p", "0.1"])
    assert "leave out --p, --seeds" in capsys.readouterr().err
