"""Exact model averaging against references: brute force written out by hand, the real network's own masked
passes, the NWGM = weight-scaling identity, MC convergence, the unit limit, and ``analyze``."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import plotly.graph_objects as go
import pytest
import torch

from explorer import settings
from explorer.theory.averaging import analysis as averaging
from explorer.theory.averaging.analysis import exact_averages, inference_logits, mc_curve, thinned_logits, thinned_networks
from explorer.theory.averaging.state import AveragingRuns, analysis_defaults, analysis_problems, analyze
from explorer.dropout import probing
from explorer.core.experiment import Experiment
from explorer.core.model import MLP, MLPConfig

X = torch.tensor([[0.3, -1.2], [1.5, 0.4], [-0.7, 0.9], [0.0, 0.0], [2.0, -2.0]])


def _net(hidden=(3,), p=0.3, input_p=0.0, variant="standard", seed=4) -> MLP:
    model = MLP(MLPConfig(2, hidden, 2, "relu", p, input_p, variant, seed))
    with torch.no_grad():  # sharper weights than the init, so the thinned networks really differ
        for lin in model.linears:
            lin.weight.mul_(3.0)
    return model


def _brute_force_hidden3(model: MLP, x: torch.Tensor, weight_scaling: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """2-3-2 ReLU net, dropout on the 3 hidden units only: the 8 thinned networks written out one by one."""
    (w1, b1), (w2, b2) = [(lin.weight.double(), lin.bias.double()) for lin in model.linears]
    q = model.dropouts[1].p
    k = 1.0 - q
    masks = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1)]
    arithmetic = torch.zeros(len(x), 2, dtype=torch.float64)
    log_geo = torch.zeros(len(x), 2, dtype=torch.float64)
    total = 0.0
    for mask in masks:
        m = torch.tensor(mask, dtype=torch.float64)
        weight = k ** sum(mask) * q ** (3 - sum(mask))
        h = torch.relu(x.double() @ w1.T + b1)
        h = h * m if weight_scaling else h * m / k
        probs = torch.softmax(h @ w2.T + b2, dim=1)
        arithmetic += weight * probs
        log_geo += weight * torch.log(probs)
        total += weight
    assert total == pytest.approx(1.0)
    geo = torch.exp(log_geo)
    return arithmetic, geo / geo.sum(1, keepdim=True)


@pytest.mark.parametrize("variant", ["standard", "weight-scaling"])
def test_enumeration_matches_eight_networks_written_out_by_hand(variant):
    model = _net(variant=variant)
    arithmetic, geometric = _brute_force_hidden3(model, X, weight_scaling=variant == "weight-scaling")
    got = exact_averages(model, X)
    torch.testing.assert_close(got.arithmetic, arithmetic, rtol=0, atol=1e-12)
    torch.testing.assert_close(got.geometric, geometric, rtol=0, atol=1e-12)
    assert thinned_networks(model).count == 8


def test_enumeration_with_input_and_hidden_rates_matches_brute_force():
    """Two inputs at q = 0.2 and one hidden unit at q = 0.6: per-layer probabilities, inputs scaled by 1/k."""
    model = _net(hidden=(1,), p=0.6, input_p=0.2)
    (w1, b1), (w2, b2) = [(lin.weight.double(), lin.bias.double()) for lin in model.linears]
    x = X.double()
    expected = torch.zeros(len(x), 2, dtype=torch.float64)
    for a, b, c in itertools.product((0, 1), repeat=3):
        weight = (0.8 if a else 0.2) * (0.8 if b else 0.2) * (0.4 if c else 0.6)
        h = torch.relu((x * torch.tensor([a, b], dtype=torch.float64) / 0.8) @ w1.T + b1)
        expected += weight * torch.softmax((h * c / 0.4) @ w2.T + b2, dim=1)
    torch.testing.assert_close(exact_averages(model, X).arithmetic, expected, rtol=0, atol=1e-12)


def test_mask_probabilities_sum_to_one_and_follow_the_layer_rates():
    model = _net(hidden=(4, 3), p=0.35, input_p=0.1)
    nets = thinned_networks(model)
    assert (nets.count, nets.units, nets.widths) == (2**9, 9, (2, 4, 3))
    assert float(nets.probability.sum()) == pytest.approx(1.0, abs=1e-12)
    all_kept = nets.bits.sum(1) == nets.units
    assert float(nets.probability[all_kept]) == pytest.approx(0.9**2 * 0.65**7)
    assert len(torch.unique(nets.bits, dim=0)) == nets.count, "every keep/drop pattern exactly once"


@pytest.mark.parametrize("variant", ["standard", "weight-scaling"])
def test_thinned_networks_are_the_real_networks_training_runs(variant):
    """The network's own training-mode pass under recorded masks gives the same logits as the enumeration's."""
    model = _net(hidden=(3, 2), p=0.4, input_p=0.3, variant=variant)
    x = X[:1].repeat(64, 1)
    model.train()
    with probing(model.dropouts, seed=7):
        logits = model(x)
        masks = [d.last_mask.double() for d in model.dropouts]
    bits = torch.cat(masks, dim=1)
    nets = thinned_networks(model)
    ours = thinned_logits(model, X[:1], nets.layers, nets.widths, bits)[:, 0]
    torch.testing.assert_close(ours, logits.double(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("variant", ["standard", "weight-scaling"])
def test_geometric_mean_is_weight_scaling_for_one_hidden_layer(variant):
    model = _net(hidden=(10,), p=0.5, variant=variant)
    got = exact_averages(model, X)
    assert float((got.geometric - got.weight_scaled).abs().max()) < 1e-6
    assert float((got.arithmetic - got.weight_scaled).abs().max()) > 1e-3, "the arithmetic mean is another thing"
    model.eval()
    torch.testing.assert_close(got.weight_scaled, model(X).softmax(1).double(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("change", [dict(input_p=0.3), dict(hidden=(3, 3))])
def test_with_input_dropout_or_two_layers_the_identity_is_only_approximate(change):
    got = exact_averages(_net(**{"hidden": (4,), "p": 0.5, **change}), X)
    assert float((got.geometric - got.weight_scaled).abs().max()) > 1e-4


def test_without_dropout_there_is_one_network_and_every_prediction_is_it():
    model = _net(p=0.0)
    nets = thinned_networks(model)
    assert (nets.count, nets.units, float(nets.probability[0])) == (1, 0, 1.0)
    got = exact_averages(model, X)
    for probs in (got.arithmetic, got.geometric):
        torch.testing.assert_close(probs, got.weight_scaled, rtol=0, atol=1e-12)


def test_mc_average_approaches_the_exact_mean_as_k_grows():
    model = _net(hidden=(6,), p=0.5)
    exact = exact_averages(model, X).arithmetic
    curve = mc_curve(model, X, torch.zeros(len(X), dtype=torch.long), exact, max_k=2000, draws=4, seed=0)
    err = curve.error.mean(0)
    assert err[0] > 3 * err[1999] and err[9] > err[199] > err[1999]
    assert err[1999] < 0.01
    assert curve.at(2000)["agreement"] == pytest.approx(1.0)


def test_inference_logits_follow_each_variants_rule():
    standard, scaled = _net(p=0.5), _net(p=0.5, variant="weight-scaling")
    torch.testing.assert_close(inference_logits(standard, X), standard.eval()(X).double(), rtol=0, atol=1e-6)
    (w1, b1), (w2, b2) = [(lin.weight.double(), lin.bias.double()) for lin in scaled.linears]
    by_hand = (0.5 * torch.relu(X.double() @ w1.T + b1)) @ w2.T + b2
    torch.testing.assert_close(inference_logits(scaled, X), by_hand, rtol=0, atol=1e-12)


def test_too_many_droppable_units_are_refused():
    with pytest.raises(ValueError, match="at most 12 droppable units"):
        thinned_networks(_net(hidden=(13,)))
    assert thinned_networks(_net(hidden=(13,), p=0.0, input_p=0.2)).units == 2, "units at rate 0 are not droppable"
    [problem] = analysis_problems(replace(analysis_defaults(), hidden=(8, 4), input_p=0.1))
    assert problem.fields == ("hidden", "p", "input_p") and str(problem).startswith("--hidden, --p, --input-p:")
    assert "gives 14" in problem.reason
    assert analysis_problems(replace(analysis_defaults(), hidden=(12,))) == []
    assert analysis_problems(replace(analysis_defaults(), hidden=(12,), input_p=0.2)) != []
    with pytest.raises(ValueError, match="droppable units"):
        AveragingRuns(replace(analysis_defaults(), hidden=(20,)))


def test_other_rules_of_the_analysis():
    problems = analysis_problems(replace(analysis_defaults(), variant="gaussian"))
    assert len(problems) == 1 and problems[0].fields == ("variant",) and str(problems[0]).startswith("--variant")
    assert analysis_problems(replace(Experiment(), dataset="mnist", hidden=(10,)))[0].fields == ("dataset",)
    with pytest.raises(ValueError, match="toy"):
        analysis_defaults("mnist")
    assert analysis_defaults().dataset == "moons" and analysis_defaults("xor").dataset == "xor"
    assert analysis_problems(analysis_defaults()) == []


def test_analyze_reports_json_ready_numbers():
    exp = replace(analysis_defaults(), hidden=(4,), epochs=3, train_size=40, val_size=60)
    report = analyze(exp)
    json.dumps(report, allow_nan=False)
    assert report["networks"] == 2**4 and report["units"] == 4 and report["val_points"] == 60
    assert report["geometric_vs_weight_scaling_max_diff"] < 1e-6
    assert set(report["weight_scaling"]) >= {"val_acc", "mean_abs_diff", "max_abs_diff"}
    assert [m["k"] for m in report["mc"]] == list(averaging.ANALYSIS_KS)
    assert all(0 <= m["val_acc"] <= 1 and m["mean_abs_diff"] >= 0 for m in report["mc"])
    assert report["seconds"] > 0


def test_live_state_keeps_its_analysis_until_a_step_and_recomputes_for_new_rates():
    state = AveragingRuns(replace(analysis_defaults(), hidden=(5,), epochs=5))
    first = state.analysis()
    assert state.analysis() is first and first.nets.count == 32
    state.advance(max_steps=1)
    assert state.analysis() is not first
    state.select(7, slow_seconds=60.0)
    kept = state.analysis()
    state.advance(max_steps=1)
    assert state.analysis() is kept, "a slow analysis waits while training moves on"
    assert state.apply(replace(state.exp, input_p=0.2), False)
    assert state.analysis().nets.units == 7, "new rates: recomputed at once"
    assert not state.apply(replace(state.exp, hidden=(5,), input_p=0.2, p=0.5, epochs=5, seed=1), False)
    frame = state.frame()
    assert set(frame) == {"maps", "difference", "mc_curve", "curves"}
    for figure in frame.values():
        go.Figure(figure)  # plotly validates every trace and layout key
    titles = [a["text"] for a in frame["maps"]["layout"]["annotations"]]
    assert titles == ["Exact mean of all 128", "Exact geometric mean", "Weight scaling", "MC average of k = 7"]
    assert settings.AVERAGING_RESOLUTION ** 2 == len(state.grid)
