"""Dropout as L2 against references: sklearn's Ridge, the normal equations by numpy, the dropout loss's exact
expectation by enumerating every mask, and weights trained with sampled masks converging to the closed form."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from explorer.theory.l2 import analysis as l2
from explorer.theory.l2.state import DropoutL2, analysis_defaults, analysis_problems, analyze, from_params
from explorer.core.experiment import check, flag, to_params


@pytest.fixture(scope="module")
def data() -> l2.Regression:
    return l2.make_regression(60, noise=0.5, seed=3)


@pytest.mark.parametrize("q", [0.1, 0.5, 0.8])
def test_closed_form_is_sklearn_ridge_on_features_rescaled_by_gamma(data, q):
    """‖y − Xw‖² + (q/k)‖Γw‖² with v = Γw is ordinary ridge on XΓ⁻¹ with alpha = q/k."""
    gamma = np.sqrt((data.x ** 2).sum(0))
    ridge = Ridge(alpha=q / (1 - q), fit_intercept=False, solver="cholesky").fit(data.x / gamma, data.y)
    np.testing.assert_allclose(l2.dropout_ridge(data, q), ridge.coef_ / gamma, rtol=1e-9, atol=1e-12)


def test_the_papers_convention_is_the_same_model_with_weights_divided_by_k(data):
    """No rescaling in training: ‖y − kXw‖² + k(1−k)‖Γw‖², normal equations solved by numpy, gives w = w̃/k."""
    q, k = 0.3, 0.7
    x, y = data.x, data.y
    paper = np.linalg.solve(k ** 2 * x.T @ x + k * (1 - k) * np.diag(np.diag(x.T @ x)), k * x.T @ y)
    np.testing.assert_allclose(paper, l2.dropout_ridge(data, q) / k, rtol=1e-9)


def test_weight_decay_is_sklearn_ridge_with_the_mean_penalty(data):
    q = 0.4
    lam = l2.weight_decay_strength(data, q)
    assert lam == pytest.approx(np.mean(q / (1 - q) * (data.x ** 2).sum(0)))
    ridge = Ridge(alpha=lam, fit_intercept=False, solver="cholesky").fit(data.x, data.y)
    np.testing.assert_allclose(l2.weight_decay(data, q), ridge.coef_, rtol=1e-9)
    np.testing.assert_allclose(l2.ols(data), np.linalg.lstsq(data.x, data.y, rcond=None)[0], rtol=1e-9)


def test_the_expected_dropout_loss_is_the_ridge_objective_exactly_by_enumerating_every_mask():
    small = l2.make_regression(4, noise=0.3, seed=1, d=3)
    q, k = 0.4, 0.6
    w = np.array([0.7, -1.2, 2.0])
    expected = 0.0
    for bits in itertools.product((0, 1), repeat=12):  # every keep-mask of 4 examples × 3 inputs
        mask = np.array(bits, dtype=float).reshape(4, 3)
        weight = k ** mask.sum() * q ** (12 - mask.sum())
        expected += weight * ((small.y - (small.x * mask / k) @ w) ** 2).sum()
    assert expected == pytest.approx(l2.ridge_objective(small, w, q), rel=1e-12)


def test_the_monte_carlo_dropout_loss_agrees_with_the_ridge_objective(data):
    q = 0.5
    w = l2.ols(data)
    masks = np.random.default_rng(0).random((4000, *data.x.shape)) < 1 - q
    per_mask = [l2.dropout_loss(data, w, q, m[None]) for m in masks[:400]]
    estimate, spread = l2.dropout_loss(data, w, q, masks), np.std(per_mask) / np.sqrt(len(masks))
    assert abs(estimate - l2.ridge_objective(data, w, q)) < 4 * spread


def test_dropout_shrinks_features_evenly_and_weight_decay_spares_the_large_scale_ones():
    lab = DropoutL2(analysis_defaults())
    dropout_share, decay_share = lab.closed_form / lab.ols, lab.weight_decay / lab.ols
    assert decay_share[-1] > dropout_share[-1] and decay_share[0] < dropout_share[0]  # largest, smallest scale
    assert np.ptp(np.log(np.abs(dropout_share))) < np.ptp(np.log(np.abs(decay_share)))


def test_weights_trained_with_masks_converge_to_the_closed_form():
    lab = DropoutL2(analysis_defaults())  # 200 examples, 400 epochs of 20 steps, seed 0: ~1 s
    lab.advance()
    result = lab.summary()
    assert result["relative_distance"] < 0.02, result["relative_distance"]
    assert result["relative_distance"] < result["last_iterate_relative_distance"]  # averaging beats the last iterate
    assert result["relative_distance"] < result["ols_relative_distance"] / 10
    assert result["relative_distance"] < result["weight_decay_relative_distance"] / 10
    history = lab.run.history
    at_burn_in = history[lab.run.burn_in]["relative_distance"]
    assert history[-1]["relative_distance"] < at_burn_in / 3  # falling as the average takes in more iterates
    assert lab.run.step == 400 * 20 and lab.run.averaged == (400 - lab.run.burn_in) * 20


def test_masks_are_fresh_per_example_and_step_and_the_rate_is_the_drop_rate():
    exp = replace(analysis_defaults(), input_p=0.3, train_size=40, epochs=2, batch_size=40)
    run = DropoutL2(exp).run
    seen = []
    original = run.model.forward
    run.model.forward = lambda x: (seen.append((x != 0).float()), original(x))[1]
    run.run(max_steps=2)
    first, second = seen
    assert not first.eq(second).all() and not first.eq(first[0]).all()
    assert abs(float(first.mean()) - 0.7) < 0.1


def test_analyze_returns_plain_json_and_the_contract_fields():
    exp = replace(analysis_defaults(), train_size=32, epochs=5)
    result = analyze(exp)
    json.dumps(result, allow_nan=False)
    for key in ("rate", "closed_form", "trained", "ols", "weight_decay", "distance", "relative_distance", "seconds"):
        assert key in result
    assert result["rate"] == 0.5 and len(result["trained"]) == len(result["closed_form"]) == 8
    assert result["steps"] == 5 * 4 and result["seconds"] > 0


def test_analysis_problems_name_the_flag():
    defaults = analysis_defaults()
    assert check(defaults) == [] and analysis_problems(defaults) == []
    for change in ({"dataset": "moons"}, {"train_size": 8}, {"lr": 2.0}):
        [field] = change
        assert any(p.fields[0] == field and str(p).startswith(flag(field))
                   for p in analysis_problems(replace(defaults, **change)))
    with pytest.raises(ValueError, match="--lr"):
        DropoutL2(replace(defaults, lr=2.0))


def test_a_link_round_trips_through_the_fields_the_ridge_problem_reads():
    defaults = analysis_defaults()
    exp = replace(defaults, input_p=0.3, train_size=120, noise=0.5, seed=7, epochs=50, lr=0.2, batch_size=20)
    link = to_params(exp, defaults)
    assert set(link) == set(l2.FIELDS)
    assert from_params(link, defaults) == (exp, [])
    assert from_params({}, exp) == (exp, [])


def test_a_link_refuses_other_fields_and_bad_values_name_the_parameter():
    defaults = analysis_defaults()
    exp, warnings = from_params({"p": "0.2", "dataset": "moons", "bogus": "1", "seed": "x", "input_p": "0.3"},
                                   defaults)
    assert exp == replace(defaults, input_p=0.3)
    assert warnings == ["p: the ridge problem does not use it (a linear model with input dropout)",
                        "dataset: the ridge problem does not use it (a linear model with input dropout)",
                        "unknown parameter 'bogus' ignored",
                        "seed: expected a whole number, got 'x'; using 0"]


def test_a_link_value_the_ridge_rules_refuse_falls_back_to_the_base():
    defaults = analysis_defaults()
    exp, warnings = from_params({"train_size": "5000", "lr": "2", "epochs": "300"}, defaults)
    assert exp == replace(defaults, epochs=300)  # 5000 is a valid size elsewhere (toy sets): the ridge rule says no
    assert warnings == ["train_size: the ridge problem takes 16 to 2000 examples for its 8 features, got 5000; using 200",
                        "lr: the ridge trainer's step is lr × the stable step: at most 1, got 2; using 0.5"]
    exp, [warning] = from_params({"train_size": "30", "batch_size": "50"}, defaults)
    assert (exp.train_size, exp.batch_size) == (30, 10)  # the rule names the batch size first: it goes
    assert warning == "batch_size: at most the 30 examples (--train-size); using 10"


def test_a_new_rate_needs_a_new_run():
    lab = DropoutL2(replace(analysis_defaults(), epochs=2))
    assert lab.apply(lab.exp, False) and not lab.apply(replace(lab.exp, input_p=0.2), False)
    assert set(lab.frame()) == {"weights", "distance"}


def test_a_diverging_run_stops_and_analyze_says_which_flag():
    exp = replace(analysis_defaults(), input_p=0.9, batch_size=1, lr=1.0, train_size=2000, epochs=20, noise=2.0)
    lab = DropoutL2(exp)
    lab.advance()
    assert lab.run.diverged and lab.done and lab.run.epoch < 20
    with pytest.raises(ValueError, match="--lr 1: training diverged"):
        analyze(exp)
