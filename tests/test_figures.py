"""Plotly figures carry the data they are given, and the decision grid is the inference-mode network."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
import torch

from explorer.core.boundary import decision_grid, extent
from explorer.core.datasets import DataConfig, make_toy
from explorer.core import figures as _figures
from explorer.core.model import MLP, MLPConfig
from explorer.core.training import TrainConfig, Trainer


def _validated(build):
    """The figure functions return plotly's dict form; go.Figure(spec) validates every property of it."""
    return lambda *args, **kwargs: go.Figure(build(*args, **kwargs))


boundary_figure, curves_figure, kept_fraction_figure, network_figure = (
    _validated(f) for f in (_figures.boundary_figure, _figures.curves_figure,
                            _figures.kept_fraction_figure, _figures.network_figure))


def serialises(fig: go.Figure) -> dict:
    assert isinstance(fig, go.Figure)
    text = fig.to_json()
    data = json.loads(text)
    pio.from_json(text)  # plotly can read it back
    return data


def trace_named(fig: go.Figure, name: str):
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, f"expected one trace named {name!r}"
    return found[0]


def points(trace) -> list[tuple[float, float]]:
    return list(zip(np.asarray(trace.x, dtype=float).tolist(), np.asarray(trace.y, dtype=float).tolist()))


# --- network diagram -------------------------------------------------------------

def _check_marks(fig: go.Figure, layer_sizes, keep, max_units):
    kept, dropped = trace_named(fig, "kept"), trace_named(fig, "dropped")
    shown = [min(n, max_units) for n in layer_sizes]
    on = [np.asarray(k, dtype=bool)[:max_units] for k in keep] + [np.ones(shown[-1], dtype=bool)]
    assert len(dropped.x or ()) == sum(int((~m).sum()) for m in on)
    assert len(kept.x or ()) == sum(int(m.sum()) for m in on)
    for li, mask in enumerate(on):
        kept_y = [y for x, y in points(kept) if x == li] if kept.x else []
        drop_y = [y for x, y in points(dropped) if x == li] if dropped.x else []
        ys = kept_y + drop_y
        assert len(ys) == shown[li] and len(set(ys)) == shown[li]  # one distinct dot per shown unit
        # units are laid out in order along the layer; the dropped dots sit at the unmasked-False positions
        order = sorted(ys, reverse=True)
        ranks_down = sorted(order.index(y) for y in drop_y)
        ranks_up = sorted(len(ys) - 1 - order.index(y) for y in drop_y)
        false_at = np.flatnonzero(~mask).tolist()
        assert false_at in (ranks_down, ranks_up), (li, false_at, ranks_down)
    # edges drawn as "on" join two kept units; segments are separated by a gap (NaN)
    edges_on = sum(int(on[i].sum()) * int(on[i + 1].sum()) for i in range(len(on) - 1))
    edges_all = sum(shown[i] * shown[i + 1] for i in range(len(shown) - 1))
    segment_counts = sorted(int(np.isnan(np.asarray(t.x, dtype=float)).sum()) for t in fig.data if t.mode == "lines")
    assert segment_counts == sorted([edges_on, edges_all - edges_on])


def test_network_figure_marks_exactly_the_dropped_units():
    sizes = [2, 5, 4, 2]
    keep = [np.array([True, False]), np.array([True, False, False, True, True]), np.array([False, True, True, True])]
    fig = network_figure(sizes, keep)
    serialises(fig)
    _check_marks(fig, sizes, keep, max_units=10)


def test_network_figure_from_a_real_training_mask():
    model = MLP(MLPConfig(n_in=2, hidden=(8, 6), n_out=2, p=0.5, input_p=0.5, seed=3))
    tr = model.trace(torch.randn(1, 2, generator=torch.Generator().manual_seed(0)), train_mode=True)
    keep = [tr.input_mask[0].numpy(), *[layer.mask[0].numpy() for layer in tr.layers]]
    fig = network_figure(model.layer_sizes, keep)
    _check_marks(fig, model.layer_sizes, keep, max_units=10)


def test_network_figure_caps_units_per_layer():
    sizes = [3, 50, 30, 2]
    rng = np.random.default_rng(0)
    keep = [rng.random(n) < 0.5 for n in sizes[:-1]]
    fig = network_figure(sizes, keep, max_units=10)
    serialises(fig)
    _check_marks(fig, sizes, keep, max_units=10)
    assert len(fig.data[-1].x or ()) + len(fig.data[-2].x or ()) == 3 + 10 + 10 + 2
    labels = list(fig.layout.xaxis.ticktext)
    assert len(labels) == 4
    assert all(str(n) in label for n, label in zip(sizes, labels))  # the true size, not the number drawn


def test_network_figure_all_kept_has_no_dropped_marks():
    sizes = [2, 4, 2]
    fig = network_figure(sizes, [np.ones(2, bool), np.ones(4, bool)])
    assert len(trace_named(fig, "dropped").x or ()) == 0
    assert len(trace_named(fig, "kept").x) == 8


# --- other charts -----------------------------------------------------------------

def _history(n: int, offset: float) -> list[dict]:
    return [{"epoch": e, "train_loss": 1 / e + offset, "val_loss": 1.2 / e + offset,
             "train_acc": 1 - 1 / (e + 1), "val_acc": 0.9 - 1 / (e + 2), "p": 0.5, "input_p": 0.0}
            for e in range(1, n + 1)]


def test_curves_figure_plots_every_run_split_and_metric():
    runs = {"dropout": _history(5, 0.0), "no dropout": _history(5, 0.1)}
    fig = curves_figure(runs)
    serialises(fig)
    assert len(fig.data) == 8
    series = [(list(t.x), [round(v, 12) for v in t.y]) for t in fig.data]
    for history in runs.values():
        epochs = [r["epoch"] for r in history]
        for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
            assert (epochs, [round(r[key], 12) for r in history]) in series, key


def test_kept_fraction_figure_carries_its_numbers():
    fig = kept_fraction_figure(["input", "hidden 1"], [0.78, 0.52], [0.8, 0.5])
    serialises(fig)
    bar = [t for t in fig.data if t.type == "bar"][0]
    assert list(bar.x) == [0.78, 0.52] and list(bar.y) == ["input", "hidden 1"]
    marks = [t for t in fig.data if t.type == "scatter"][0]
    assert list(marks.x) == [0.8, 0.5]


# --- decision boundary ------------------------------------------------------------

@torch.no_grad()
def _eval_probability(model: MLP, point: list[float]) -> float:
    """P(class 1) of the inverted-dropout network at test time, written out with torch ops."""
    h = torch.tensor([point])
    linears = model.linears
    for i, lin in enumerate(linears):
        h = h @ lin.weight.T + lin.bias
        if i < len(linears) - 1:
            h = torch.relu(h)
    e = torch.exp(h[0] - h[0].max())
    return float(e[1] / e.sum())


def _trained_model() -> tuple[MLP, object]:
    data = make_toy(DataConfig("moons", train_size=60, val_size=30, seed=0))
    model = MLP(MLPConfig(n_in=2, hidden=(16, 16), n_out=2, p=0.5, input_p=0.2, seed=1))
    Trainer(model, data, TrainConfig(epochs=3)).run()
    return model, data


def test_decision_grid_is_the_inference_network():
    model, data = _trained_model()
    model.train()
    box = extent(data.x_train)
    res = 9
    first = decision_grid(model, box, res)
    second = decision_grid(model, box, res)
    assert model.training  # mode restored
    assert np.array_equal(first.prob, second.prob)  # dropout off: no randomness
    assert first.prob.shape == (res, res)
    np.testing.assert_allclose(first.xs, np.linspace(box[0], box[1], res), rtol=0, atol=1e-6)
    np.testing.assert_allclose(first.ys, np.linspace(box[2], box[3], res), rtol=0, atol=1e-6)
    assert ((first.prob >= 0) & (first.prob <= 1)).all()
    for i, j in ((0, 0), (0, res - 1), (res - 1, 0), (4, 6), (7, 2)):  # rows follow ys, columns xs
        expected = _eval_probability(model, [float(first.xs[j]), float(first.ys[i])])
        assert first.prob[i, j] == pytest.approx(expected, abs=1e-6)
    model.eval()
    decision_grid(model, box, 3)
    assert not model.training


def test_extent_boxes_the_points_with_a_margin():
    pts = torch.tensor([[0.0, -1.0], [2.0, 3.0], [-1.5, 0.5]])
    assert extent(pts, margin=0.5) == pytest.approx((-2.0, 2.5, -1.5, 3.5))


def test_boundary_figure_shows_the_grid_and_every_point():
    model, data = _trained_model()
    grid = decision_grid(model, extent(torch.cat([data.x_train, data.x_val])), 12)
    x_tr, y_tr, x_va, y_va = (t.numpy() for t in (data.x_train, data.y_train, data.x_val, data.y_val))
    fig = boundary_figure(grid.xs, grid.ys, grid.prob, x_tr, y_tr, x_va, y_va)
    serialises(fig)
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 1 and np.array_equal(np.asarray(heat[0].z), grid.prob)
    scatter = [points(t) for t in fig.data if t.type == "scatter"]
    assert sum(len(s) for s in scatter) == len(y_tr) + len(y_va)
    for x, y in ((x_tr, y_tr), (x_va, y_va)):
        for c in (0, 1):
            expected = [tuple(map(float, p)) for p in x[y == c]]
            assert any(s == expected for s in scatter), f"class {c} points missing"
    # without validation points only the training points are drawn
    fig = boundary_figure(grid.xs, grid.ys, grid.prob, x_tr, y_tr)
    assert sum(len(points(t)) for t in fig.data if t.type == "scatter") == len(y_tr)


def test_a_sweep_before_its_first_epoch_shows_its_axes_not_plotlys_default() -> None:
    """No points yet: the rates (or sizes) span the x axis, the error 0–100 % the y axis, and a note says why."""
    rate = _figures.sweep_figure([], "rate", "t", xs=(0.0, 0.5, 0.9))
    assert rate["layout"]["xaxis"]["range"] == pytest.approx([-0.05, 0.95])
    assert rate["layout"]["yaxis"]["range"] == [0, 1]
    assert "first epoch" in rate["layout"]["annotations"][0]["text"]
    size = _figures.sweep_figure([], "size", "t", xs=(100, 1000))
    assert size["layout"]["xaxis"]["range"] == pytest.approx([1.9, 3.1])
    assert size["layout"]["xaxis"]["tickvals"] == [100, 1000]
    go.Figure(rate)  # plotly accepts both
    go.Figure(size)
    point = {"x": 0.5, "dropout": True, "val_error_mean": 0.2, "val_error_std": 0.0, "train_error_mean": 0.1,
             "train_error_std": 0.0}
    drawn = _figures.sweep_figure([point], "rate", "t", xs=(0.0, 0.5, 0.9))["layout"]
    assert "range" not in drawn["yaxis"] and "annotations" not in drawn


def _point(x: float, variant: str, dropout: bool = True, error: float = 0.2) -> dict:
    return {"x": x, "variant": variant, "dropout": dropout, "val_error_mean": error, "val_error_std": 0.01,
            "train_error_mean": error / 2, "train_error_std": 0.0}


def test_a_sweep_of_several_variants_draws_a_curve_each() -> None:
    """Rates: each variant's validation (solid) and training (dotted) error in its colour; sizes: each variant's
    validation error and the shared no-dropout baseline (dashed). One variant keeps the two-curve figure."""
    names = {"standard": "Standard", "gaussian": "Gaussian"}
    rate = _figures.sweep_figure([_point(q, v) for q in (0.0, 0.5) for v in ("standard", "gaussian")], "rate", "t",
                                 names=names)
    lines = [t for t in rate["data"] if t.get("mode") == "lines+markers"]
    assert [t["name"] for t in lines] == ["Standard", "Standard, training", "Gaussian", "Gaussian, training"]
    assert [t["name"] for t in lines if t.get("showlegend", True)] == ["Standard", "Gaussian"]  # an entry a variant
    assert [t["legendgroup"] for t in lines] == ["Standard", "Standard", "Gaussian", "Gaussian"]
    assert lines[0]["line"]["color"] == lines[1]["line"]["color"] != lines[2]["line"]["color"]
    assert [t["line"]["dash"] for t in lines] == ["solid", "dot"] * 2 and all(len(t["x"]) == 2 for t in lines)
    size = _figures.sweep_figure([_point(n, v) for n in (100, 1000) for v in ("standard", "gaussian")]
                                 + [_point(n, "none", dropout=False) for n in (100, 1000)], "size", "t", names=names)
    assert [t["name"] for t in size["data"] if t.get("showlegend", True)] == ["Standard", "Gaussian", "no dropout"]
    both = _figures.sweep_figure([_point(0.5, v) for v in ("standard", "dropconnect-batch")], "rate", "t",
                                 names={"standard": "Standard (inverted)", "dropconnect": "DropConnect",
                                        "dropconnect-batch": "DropConnect (a mask per batch)"})
    assert [t["name"] for t in both["data"] if t.get("mode") == "lines+markers" and t.get("showlegend", True)] == [
        "Standard", "DropConnect (a mask per batch)"]  # a parenthesis that tells two variants apart stays
    one = _figures.sweep_figure([_point(0.5, "gaussian")], "rate", "t", names=names)
    assert [t["name"] for t in one["data"] if t.get("showlegend", True)] == ["validation error", "training error"]
    go.Figure(rate)
    go.Figure(size)
