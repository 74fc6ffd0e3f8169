"""MC dropout on digits (explorer.uncertainty.digits) against references: explicit loops, torch.rot90, mc.predictive_summary."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from explorer import settings
from explorer.uncertainty.digits import figures as figures_mc_digits
from explorer.core.experiment import flag, make_data
from explorer.core.mc import mc_probabilities, predictive_summary
from explorer.uncertainty.digits.analysis import (averaging_analysis, k_matching, mc_error_curve, rotate,
                                                  rotation_analysis, rotation_angles, weight_scaling_error)
from explorer.uncertainty.digits.state import DigitsUncertainty, analysis_defaults, analysis_problems, analyze
from explorer.core.model import MLP, MLPConfig


def _tiny_net(seed: int = 0, n_in: int = 6, p: float = 0.5) -> MLP:
    return MLP(MLPConfig(n_in, (16, 16), 3, "relu", p, 0.2, "standard", seed))


def _tiny_exp(**changes):
    tiny = {"train_size": 300, "val_size": 200, "hidden": (64, 64), "epochs": 2}
    return replace(analysis_defaults(), **tiny | changes)


@pytest.fixture(scope="module")
def tiny_data():
    return make_data(_tiny_exp())


# --- the MC error curve ---------------------------------------------------------

def test_mc_error_curve_equals_an_explicit_loop_over_orderings_and_k():
    torch.manual_seed(0)
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    probs = mc_probabilities(_tiny_net(), x, 12, seed=5).double()
    curve = mc_error_curve(probs, y, orderings=4, seed=9)
    order = torch.Generator().manual_seed(9)  # the orderings the function documents: randperm from a seeded generator
    expected = np.zeros((4, 12))
    for r in range(4):
        perm = torch.randperm(12, generator=order)
        for k in range(1, 13):
            mean = probs[perm[:k]].mean(0)
            expected[r, k - 1] = np.mean((mean.argmax(1) != y).numpy())
    assert curve["k"].tolist() == list(range(1, 13))
    np.testing.assert_allclose(curve["error"], expected.mean(0), atol=1e-12)
    np.testing.assert_allclose(curve["std"], expected.std(0), atol=1e-12)
    assert curve["std"][-1] == 0  # every ordering averages all the passes at k = T
    assert curve["error"][-1] == np.mean((probs.mean(0).argmax(1) != y).numpy())


def test_weight_scaling_error_is_the_inference_networks_and_keeps_the_mode():
    torch.manual_seed(1)
    net, x, y = _tiny_net(), torch.randn(30, 6), torch.randint(0, 3, (30,))
    net.train()
    with torch.no_grad():
        net.eval()
        expected = float(np.mean((net(x).argmax(1) != y).numpy()))
        net.train()
    assert weight_scaling_error(net, x, y) == pytest.approx(expected)
    assert net.training


def test_k_matching_by_hand():
    error = np.array([0.10, 0.06, 0.051, 0.049, 0.05])
    assert k_matching(error, 0.05, 0.0) == 4
    assert k_matching(error, 0.05, 0.002) == 3
    assert k_matching(error, 0.01, 0.002) is None
    assert k_matching(np.array([0.1, 0.04, 0.07, 0.05]), 0.05, 0.0) == 4  # the early dip is no match
    assert k_matching(np.array([0.04, 0.05]), 0.05, 0.0) == 1


def test_many_passes_approach_the_inference_network(tiny_data):
    """Standard dropout on a trained net: the mean of 400 sampled thinned networks predicts nearly as the
    weight-scaled network does (Srivastava Fig. 11), and far closer than one thinned network."""
    state = DigitsUncertainty(_tiny_exp(epochs=20), tiny_data)  # ~100 steps: confident enough to compare
    state.advance()
    model, x = state.run.model, tiny_data.x_val
    probs = mc_probabilities(model, x, 400, seed=0)
    model.eval()
    with torch.no_grad():
        scaled = model(x).softmax(-1)
    agree_mean = (probs.mean(0).argmax(1) == scaled.argmax(1)).float().mean().item()
    agree_one = (probs[0].argmax(1) == scaled.argmax(1)).float().mean().item()
    assert agree_mean >= 0.95 and agree_mean > agree_one  # measured 0.975 and 0.74 (seed 0)
    assert (probs.mean(0) - scaled).abs().mean().item() < 0.05  # measured 0.037 (seed 0)
    result = averaging_analysis(model, x, tiny_data.y_val, 100, 5, seed=0)
    assert abs(result["error"][-1] - result["weight_scaling_error"]) <= 0.03
    assert result["error"][0] > result["error"][-1]  # one thinned network is worse than the average of 100


# --- the rotated digit ----------------------------------------------------------

def test_rotation_by_90_degrees_is_rot90_and_0_is_the_identity():
    images = torch.rand(5, 28, 28)
    np.testing.assert_allclose(rotate(images, 0.0), images, atol=1e-5)
    np.testing.assert_allclose(rotate(images, 90.0), torch.rot90(images, 1, dims=(-2, -1)), atol=1e-5)
    np.testing.assert_allclose(rotate(images, 180.0), torch.rot90(images, 2, dims=(-2, -1)), atol=1e-5)
    np.testing.assert_allclose(rotate(images, -90.0), torch.rot90(images, -1, dims=(-2, -1)), atol=1e-5)
    flat = images.reshape(5, -1)
    np.testing.assert_allclose(rotate(flat, 90.0), torch.rot90(images, 1, dims=(-2, -1)).reshape(5, -1), atol=1e-5)


def test_rotation_turns_counter_clockwise_and_fills_with_background():
    image = torch.zeros(28, 28)
    image[2, 14:26] = 1.0  # a bar along the top, right of centre
    turned = rotate(image[None], 90.0)[0]
    assert turned[2:14, 2].sum() > 10  # counter-clockwise: the right end of the top bar goes to the left edge
    corner = torch.ones(1, 28, 28)
    assert rotate(corner, 45.0)[0, 0, 0] == 0  # what comes from outside the image is the black background


def test_rotation_analysis_entropy_and_mi_equal_predictive_summary_of_the_same_passes(tiny_data):
    state = DigitsUncertainty(_tiny_exp(), tiny_data)
    state.advance(max_steps=5)
    model, image, angles = state.run.model, tiny_data.x_val[0], rotation_angles(5, 120.0)
    result = rotation_analysis(model, image, angles, samples=20, seed=4)
    x = torch.cat([rotate(image[None], float(a)) for a in angles])
    summary = predictive_summary(mc_probabilities(model, x, 20, seed=4))
    np.testing.assert_allclose(result["entropy"], summary["entropy"].numpy(), atol=1e-6)
    np.testing.assert_allclose(result["mutual_information"], summary["mutual_information"].numpy(), atol=1e-6)
    np.testing.assert_allclose(result["mean"], summary["mean"].numpy(), atol=1e-6)
    np.testing.assert_allclose(result["images"][0], image.view(28, 28).numpy(), atol=1e-5)
    assert result["angles"].tolist() == [0.0, 30.0, 60.0, 90.0, 120.0]
    assert model.training  # the inference pass left the run in its mode


# --- the page's state ---------------------------------------------------------------

def test_looking_never_changes_the_run(tiny_data):
    """Frames between steps sample their own masks: the weights after 6 steps are those of a run nobody watched."""
    watched, alone = DigitsUncertainty(_tiny_exp(), tiny_data), DigitsUncertainty(_tiny_exp(), tiny_data)
    for _ in range(3):
        watched.frame()
        watched.advance(max_steps=2)
        alone.advance(max_steps=2)
    for a, b in zip(watched.run.model.parameters(), alone.run.model.parameters()):
        assert torch.equal(a, b)


def test_the_averaging_curve_is_cached_by_step_and_refreshed_at_most_every_refresh_seconds(tiny_data):
    state = DigitsUncertainty(_tiny_exp(), tiny_data)
    first = state.averaging()
    assert state.averaging() is first and first["step"] == 0
    state.select(0, 10, refresh=3600.0)  # training: a stale curve is kept for up to an hour
    state.advance(max_steps=1)
    assert state.averaging() is first
    state.select(0, 10, refresh=0.0)  # paused: the current step
    assert state.averaging()["step"] == 1
    state.run.set_rates(p=0.3)  # a new rate is a new network to average, even at the same step
    assert state.averaging()["step"] == 1 and state.averaging() is not first


def test_while_training_the_curve_is_redone_at_most_a_share_of_the_time(tiny_data, monkeypatch):
    state = DigitsUncertainty(_tiny_exp(), tiny_data)
    state.select(0, 10, refresh=1e-9)  # training, but without a wait of its own: the curve's cost sets it
    first = state.averaging()
    state.advance(max_steps=1)
    monkeypatch.setattr(settings, "MC_DIGITS_ANALYSIS_SHARE", 1e-9)  # its cost over a tiny share: a long wait
    assert state.averaging() is first
    monkeypatch.setattr(settings, "MC_DIGITS_ANALYSIS_SHARE", 1e9)
    assert state.averaging()["step"] == 1


def test_the_rotated_digit_is_analysed_once_a_step_or_a_while_for_each_digit_and_t(tiny_data):
    state = DigitsUncertainty(_tiny_exp(), tiny_data)
    state.select(3, 10, 0.0)
    first = state.rotation()
    assert state.rotation() is first
    state.select(4, 10, 0.0)
    assert state.rotation() is not first and state.rotation()["digit"] == state.probe_y[4]
    state.select(3, 10, 0.0)
    assert state.rotation() is first
    state.select(3, 10, 0.0, look_every=3600.0)  # training, under load: kept for a while, not a step
    state.advance(max_steps=1)
    assert state.rotation() is first
    state.select(3, 10, 0.0)
    assert state.rotation() is not first and state.rotation()["samples"] == 10


def test_select_clamps_and_the_frame_has_every_valid_figure(tiny_data):
    state = DigitsUncertainty(_tiny_exp(), tiny_data)
    assert state.digit_labels == list(range(10)) and state.probe_y[state.digit] == 3
    state.select(99, 1000, 0.0)
    assert state.digit == 9 and state.samples == settings.MAX_MC_SAMPLES
    frame = state.frame()
    assert set(frame) == {"averaging", "rotated", "predictive", "uncertainty"}
    for figure in frame.values():
        go.Figure(figure)
    assert state.numbers["rotation"]["digit"] == 9 and len(state.numbers["averaging"]["k"]) == 100
    assert "computed at step 0" in frame["averaging"]["layout"]["title"]["text"]


def test_the_averaging_figure_marks_the_matching_k():
    result = {"k": np.arange(1, 4), "error": np.array([0.2, 0.1, 0.05]), "std": np.zeros(3),
              "weight_scaling_error": 0.1, "k_matching": 2, "digits": 10, "step": 7}
    figure = figures_mc_digits.averaging_figure(result)
    go.Figure(figure)
    names = [t.get("name", "") for t in figure["data"]]
    assert any("k = 2" in n for n in names) and any("10.0%" in n for n in names)
    assert figures_mc_digits.averaging_figure(result | {"k_matching": None})["layout"]["shapes"] == []


# --- the analyze contract -----------------------------------------------------------

def test_analyze_on_tiny_settings_returns_the_contract_with_finite_numbers():
    result = analyze(_tiny_exp())
    json.dumps(result, allow_nan=False)
    assert {"weight_scaling_error", "mc_error", "k_matching", "rotation", "digit", "val_acc", "seconds"} <= set(result)
    assert [row["k"] for row in result["mc_error"]] == list(range(1, settings.MC_DIGITS_PASSES + 1))
    assert all(0 <= row["error"] <= 1 and row["std"] >= 0 for row in result["mc_error"])
    assert len(result["rotation"]) == settings.MC_DIGITS_ANGLES and result["rotation"][0]["angle"] == 0
    for row in result["rotation"]:
        assert 0 <= row["mutual_information"] <= row["entropy"] + 1e-6 <= math.log(10) + 1e-6
        assert 0 <= row["top_class"] <= 9 and 0 < row["top_prob"] <= 1
    assert result["digit"] == 3 and 0 < result["val_acc"] <= 1 and result["seconds"] > 0
    assert result["k_matching"] is None or 1 <= result["k_matching"] <= 100


def test_analysis_defaults_and_problems():
    exp = analysis_defaults()
    assert (exp.dataset, exp.hidden, exp.p, exp.input_p, exp.epochs) == ("mnist", (512, 512), 0.5, 0.2, 20)
    assert analysis_defaults("fashion-mnist").dataset == "fashion-mnist"
    with pytest.raises(ValueError, match="mnist"):
        analysis_defaults("moons")
    assert analysis_problems(exp) == []
    for change, field in [({"model": "cnn"}, "model"), ({"variant": "dropconnect"}, "variant"),
                          ({"variant": "early"}, "variant"), ({"dataset": "moons"}, "dataset")]:
        problem = analysis_problems(replace(exp, **change))[0]
        assert problem.fields == (field,) and str(problem).startswith(flag(field) + ": ")
    problem = analysis_problems(replace(exp, p=0.0, input_p=0.0))[0]
    assert problem.fields == ("p", "input_p") and "nothing to average" in problem.reason
    with pytest.raises(ValueError, match="--model"):
        analyze(replace(exp, model="cnn"))
