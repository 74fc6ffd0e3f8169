"""The colour-blind-safe palette and the charts in words, on the app's own figures: every app colour is mapped
to Okabe–Ito, classes and runs differ in shape too, and a chart's description says what a student should read."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from explorer.core import figures
from explorer.core.accessible import OKABE_ITO, colour_blind, describe
from explorer.core.figure_json import figure_json


def _curves():
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_acc": 0.5 + e / 100,
                "val_acc": 0.45 + e / 100} for e in range(1, 41)]
    return figures.curves_figure({"dropout q=0.5": history, "no dropout": history[:-1]})


def _boundary():
    xs = ys = np.linspace(-1, 1, 5)
    x = np.array([[0, 0], [1, 1], [0.5, 0.2]])
    y = np.array([0, 1, 1])
    return figures.boundary_figure(xs, ys, np.full((5, 5), 0.5), x, y, x, y, title="Dropout q = 0.5")


@pytest.mark.parametrize("make", [_curves, _boundary])
def test_every_app_colour_is_replaced_and_the_figure_stays_valid(make):
    fig = make()
    safe = colour_blind(fig)
    text = figure_json(safe).decode().lower()
    assert not any(colour in text for colour in OKABE_ITO), "an app colour is left"
    go.Figure(safe)  # plotly validates it
    assert figure_json(make()) == figure_json(fig), "the original figure is not changed"


def test_runs_differ_by_shape_and_keep_their_dash():
    safe = colour_blind(_curves())
    by_run = {}
    for trace in safe["data"]:
        by_run.setdefault(trace["name"].split(" · ")[0], set()).add(trace["marker"]["symbol"])
        assert "markers" in trace["mode"] and trace["marker"]["maxdisplayed"] == 12
    assert by_run == {"dropout q=0.5": {"circle"}, "no dropout": {"square"}}
    assert [t["line"]["dash"] for t in safe["data"][:2]] == ["solid", "dash"]  # training solid, validation dashed


def test_classes_differ_by_shape():
    safe = colour_blind(_boundary())
    points = [t for t in safe["data"] if t["type"] == "scatter"]
    shape = {t["name"]: t["marker"]["symbol"] for t in points}
    assert shape["training points of class 0"] == shape["validation points of class 0"] == "circle"
    assert shape["training points of class 1"] == shape["validation points of class 1"] == "square"


def test_a_scaffolding_trace_keeps_its_look():
    fig = figures.network_figure([2, 3, 2], [np.array([1, 0], bool), np.array([1, 1, 0], bool)], title="Net")
    edges = [t for t in fig["data"] if not t.get("name")]
    safe_edges = [t for t in colour_blind(fig)["data"] if not t.get("name")]
    assert [t.get("mode") for t in safe_edges] == [t.get("mode") for t in edges]


def test_a_chart_in_words():
    assert describe(_boundary()) == ("Dropout q = 0.5. A map. 1 validation points of class 0, 2 validation points "
                                     "of class 1, 1 training points of class 0, 2 training points of class 1.")
    words = describe(_curves())
    assert words.startswith("Loss (cross-entropy) and Accuracy. Latest: loss (cross-entropy), dropout q=0.5 · "
                            "validation 0.03 at 40; accuracy, dropout q=0.5 · validation 0.85 at 40;")
    assert "no dropout · validation 0.84 at 39" in words and words.endswith("; ….")
    assert describe({"data": [], "layout": {}}) == "Chart."
    json.dumps(words)
