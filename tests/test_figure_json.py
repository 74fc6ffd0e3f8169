"""A figure's JSON for the live charts, checked against plotly's own path (convert_to_base64 + to_json_plotly)."""

from __future__ import annotations

import base64
import copy
import json
import math
from dataclasses import replace

import numpy as np
import plotly.io.json
import pytest
from _plotly_utils.utils import convert_to_base64

from explorer.coadaptation.state import CoadaptationRuns, analysis_defaults
from explorer.core.experiment import Experiment, defaults_for, make_data
from explorer.core.figure_json import figure_json, typed_array
from explorer.inside.state import Inspector
from explorer.playground.state import Playground

_DTYPES = {"i1": np.int8, "u1": np.uint8, "i2": np.int16, "u2": np.uint16, "i4": np.int32, "u4": np.uint32,
           "f4": np.float32, "f8": np.float64}


def plotlys_json(fig: dict) -> str:
    """The reference: what plotly sends for a figure (it converts the arrays in place, hence the copy)."""
    fig = copy.deepcopy(fig)
    convert_to_base64(fig)
    return plotly.io.json.to_json_plotly(fig)


def decoded(value):
    """Parsed JSON with every typed array decoded to a list of numbers (NaN as None), for comparing two JSONs."""
    if isinstance(value, dict) and set(value) >= {"dtype", "bdata"}:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=_DTYPES[value["dtype"]])
        if "shape" in value:
            array = array.reshape([int(n) for n in value["shape"].split(",")])
        return decoded(array.tolist())
    if isinstance(value, dict):
        return {k: decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decoded(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _figures():
    yield from Playground(Experiment(train_size=40, val_size=40, hidden=(16, 16), epochs=5)).frame().items()
    small = replace(defaults_for("mnist"), train_size=200, val_size=100, hidden=(32, 16), batch_size=32, epochs=2)
    inspector = Inspector(small, make_data(small))
    inspector.advance(max_steps=3)
    yield from inspector.frame().items()
    tiny = replace(analysis_defaults("moons"), hidden=(8, 6), train_size=40, val_size=60, epochs=3, batch_size=16)
    runs = CoadaptationRuns(tiny, make_data(tiny))
    runs.advance(max_steps=5)
    yield from runs.frame().items()


def assert_same(ours, theirs, where="figure"):
    """Equal, but float arrays, which we send as float32: to its precision."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), where
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(theirs, float) and isinstance(ours, float):
        assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-30), where
    else:
        assert ours == theirs, where


@pytest.mark.parametrize("place, fig", list(_figures()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_live_figure_decodes_to_what_plotly_itself_sends(place, fig):
    assert_same(decoded(json.loads(figure_json(fig))), decoded(json.loads(plotlys_json(fig))))


def test_arrays_become_typed_arrays_as_plotly_makes_them():
    fig = {"data": [{"z": np.arange(6, dtype=np.float64).reshape(2, 3), "x": np.array([1, 2, 300]),
                     "y": np.array([2**40, 1]), "text": np.array(["a", "b"]), "marker": {"size": np.array([], float)},
                     "customdata": np.arange(12.0).reshape(3, 4)[:, ::2]}],
           "layout": {"xaxis": {"range": np.array([0.0, 1.0])}, "width": np.float64(3.5), "n": np.int64(2)}}
    ours = json.loads(figure_json(fig))
    assert_same(decoded(ours), decoded(json.loads(plotlys_json(fig))))
    trace = ours["data"][0]
    assert trace["z"]["dtype"] == "f4" and trace["z"]["shape"] == "2, 3"  # float64 sent as float32
    assert trace["x"]["dtype"] == "i2"  # int64 narrowed to the smallest type that holds 1…300
    assert trace["y"] == [2**40, 1]  # too large for int32: plain numbers
    assert ours["layout"]["xaxis"]["range"] == [0.0, 1.0]  # plotly.js reads ranges as plain lists
    assert decoded(trace["customdata"]) == [[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]]  # a strided view, in order
    assert isinstance(fig["data"][0]["z"], np.ndarray), "the figure itself is left as it was"


def test_non_finite_numbers_become_null_as_in_plotly():
    fig = {"data": [{"y": [1.0, float("nan"), float("inf")], "x": np.array([np.nan, 1.0])}], "layout": {}}
    ours = json.loads(figure_json(fig))
    assert ours["data"][0]["y"] == [1.0, None, None] == json.loads(plotlys_json(fig))["data"][0]["y"]
    assert np.isnan(np.frombuffer(base64.b64decode(ours["data"][0]["x"]["bdata"]), dtype=np.float32)[0])


def test_a_value_json_cannot_hold_is_named():
    with pytest.raises(TypeError, match="set"):
        figure_json({"data": [{"x": {1, 2}}], "layout": {}})


def test_empty_and_boolean_arrays_stay_plain():
    assert typed_array(np.array([], dtype=float)).size == 0
    assert json.loads(figure_json({"data": [{"visible": np.array([True, False])}]})) == {
        "data": [{"visible": [True, False]}]}
