"""Co-adaptation analyses against references: numpy for correlations and DeCov, hand-computed thinned networks for
removal, numpy.trapezoid for the areas; and the page's state and ``analyze`` on tiny trained networks."""

from __future__ import annotations

import itertools
import time
import json
import math
from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from torch import nn

from explorer.coadaptation import analysis as co
from explorer.coadaptation.state import CoadaptationRuns, analysis_defaults, analysis_problems, analyze
from explorer.core.experiment import make_data

TINY = replace(analysis_defaults("moons"), hidden=(8, 6), train_size=40, val_size=60, epochs=3, batch_size=16)


def _activations(seed: int = 0) -> np.ndarray:
    """30 examples of 6 units: two correlated groups of two, one independent unit, one constant (dead) unit."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, 30))
    acts = np.stack([a, a + 0.3 * rng.standard_normal(30), np.full(30, 2.0), b,
                     -b + 0.2 * rng.standard_normal(30), rng.standard_normal(30)], axis=1)
    return np.maximum(acts + 1.0, 0.0) * np.array([1, 1, 1, 2, 1, 0.5])


# --- correlation and DeCov ------------------------------------------------------

def test_correlation_matrix_matches_numpy_and_leaves_out_the_constant_unit():
    acts = _activations()
    stats = co.correlation_stats(torch.tensor(acts))
    live = [0, 1, 3, 4, 5]
    ref = np.corrcoef(acts[:, live], rowvar=False)
    assert stats["dead_units"] == 1 and stats["n_units"] == 6
    assert sorted(stats["units"].tolist()) == live
    position = {u: live.index(u) for u in live}
    rows = [position[u] for u in stats["units"]]
    np.testing.assert_allclose(stats["corr"], ref[np.ix_(rows, rows)], atol=1e-12)
    off = ~np.eye(len(live), dtype=bool)
    assert stats["mean_abs_r"] == pytest.approx(np.abs(ref[off]).mean(), abs=1e-12)


def test_covariance_and_decov_against_numpy_and_a_double_loop():
    acts = _activations(1)
    cov = np.cov(acts, rowvar=False, bias=True)
    np.testing.assert_allclose(co.covariance(acts), cov, atol=1e-12)
    loop = 0.0
    for i in range(acts.shape[1]):
        for j in range(acts.shape[1]):
            if i != j:
                loop += cov[i, j] ** 2
    assert co.decov(acts) == pytest.approx(0.5 * loop, rel=1e-12)
    assert co.coupling(acts) == pytest.approx(
        {k: co.correlation_stats(acts)[k] for k in ("mean_abs_r", "decov", "dead_units")})


def test_clustering_puts_correlated_units_next_to_each_other():
    stats = co.correlation_stats(_activations(2))
    order = stats["units"].tolist()
    for pair in ((0, 1), (3, 4)):
        assert abs(order.index(pair[0]) - order.index(pair[1])) == 1, order


def test_all_dead_units_give_no_correlation_but_no_error():
    stats = co.correlation_stats(np.zeros((10, 4)))
    assert stats["dead_units"] == 4 and stats["mean_abs_r"] == 0.0 and stats["decov"] == 0.0
    assert stats["corr"].shape == (0, 0)


# --- removing units, by hand on a 3-unit layer ----------------------------------------

FEED = np.array([[1.0, 0.5, 0.0], [0.2, 1.5, 1.0], [0.0, 0.3, 2.0], [1.2, 0.0, 0.4]])
WEIGHT = np.array([[2.0, -1.0, 0.5], [-1.0, 1.5, -0.5]])
BIAS = np.array([0.1, -0.1])
LABELS = np.array([0, 1, 1, 0])


def _out() -> nn.Linear:
    out = nn.Linear(3, 2)
    with torch.no_grad():
        out.weight.copy_(torch.tensor(WEIGHT))
        out.bias.copy_(torch.tensor(BIAS))
    return out.float()


def _thinned_loss(removed: tuple[int, ...]) -> tuple[float, float]:
    """Cross-entropy and accuracy of the network without the ``removed`` units, in plain numpy."""
    kept = [u for u in range(3) if u not in removed]
    logits = FEED[:, kept] @ WEIGHT[:, kept].T + BIAS
    log_z = np.log(np.exp(logits).sum(1))
    loss = np.mean(log_z - logits[np.arange(4), LABELS])
    return float(loss), float(np.mean(logits.argmax(1) == LABELS))


def _tensors() -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    return _out(), torch.tensor(FEED, dtype=torch.float32), torch.tensor(LABELS)


def test_importance_and_interactions_by_hand():
    out, feed, y = _tensors()
    delta, base_loss, base_acc = co.unit_importance(out, feed, y)
    full, full_acc = _thinned_loss(())
    assert base_loss == pytest.approx(full, abs=1e-6) and base_acc == full_acc
    np.testing.assert_allclose(delta, [_thinned_loss((i,))[0] - full for i in range(3)], atol=1e-6)
    inter = co.interactions(out, feed, y, [2, 0, 1], delta, base_loss)
    units = [2, 0, 1]
    for a, b in itertools.combinations(range(3), 2):
        i, j = units[a], units[b]
        expected = (_thinned_loss((i, j))[0] - full) - delta[i] - delta[j]
        assert inter[a, b] == pytest.approx(expected, abs=1e-6) and inter[b, a] == inter[a, b]
    assert np.all(np.diag(inter) == 0)


# Two constructed 3-unit layers feeding a 2-class output (logit margin = Σ c_i h_i): s carries the label,
# z is a nuisance unrelated to it. The sign of Δ_ij − Δ_i − Δ_j tells the two kinds of pair apart.
SIGNAL, NUISANCE = np.array([1.0, -1.0, 1.0, -1.0]), np.array([1.0, 1.0, -1.0, -1.0])
PAIRS = {
    # units 0 and 1 are backups: both carry the signal, either alone still classifies every example
    "backups": ([SIGNAL, SIGNAL, NUISANCE], [1.0, 1.0, 0.25], 0.1924),
    # unit 0 carries the signal plus twice the nuisance; unit 1 exists only to cancel that nuisance
    "leaning": ([SIGNAL + 2 * NUISANCE, NUISANCE, 0.5 * SIGNAL], [1.0, -2.0, 1.0], -0.7166),
}


def _constructed(feed: list[np.ndarray], contribution: list[float]) -> tuple[nn.Linear, torch.Tensor]:
    out = nn.Linear(3, 2)
    with torch.no_grad():
        c = torch.tensor(contribution)
        out.weight.copy_(torch.stack([c / 2, -c / 2]))
        out.bias.zero_()
    return out, torch.tensor(np.stack(feed, axis=1), dtype=torch.float32)


@pytest.mark.parametrize("kind", PAIRS)
def test_interaction_is_positive_for_backups_and_negative_for_units_that_lean_on_each_other(kind):
    feed_columns, contribution, expected = PAIRS[kind]
    out, feed = _constructed(feed_columns, contribution)
    y = torch.tensor([0, 1, 0, 1])

    def loss(*removed: int) -> float:  # the reference: the output layer run on the masked activations
        mask = torch.ones(3)
        mask[list(removed)] = 0.0
        with torch.no_grad():
            return nn.functional.cross_entropy(out(feed * mask), y).item()

    delta, base_loss, _ = co.unit_importance(out, feed, y)
    inter = co.interactions(out, feed, y, [0, 1], delta, base_loss)[0, 1]
    by_hand = (loss(0, 1) - loss()) - (loss(0) - loss()) - (loss(1) - loss())
    assert inter == pytest.approx(by_hand, abs=1e-5) and inter == pytest.approx(expected, abs=1e-3)
    assert (inter > 0) == (kind == "backups")
    report = co.removal_report(out, feed, y, top=3, steps=4, random_orders=1)
    pairs = report["interaction"][np.triu_indices(3, 1)]
    assert report["leaning_share"] == pytest.approx(np.abs(pairs[pairs < 0]).sum() / np.abs(pairs).sum())


def test_masked_losses_equal_running_the_output_layer_on_masked_activations():
    gen = torch.Generator().manual_seed(0)
    out = nn.Linear(16, 5)
    feed, y = torch.rand(20, 16, generator=gen), torch.randint(0, 5, (20,), generator=gen)
    masks = (torch.rand(9, 16, generator=gen) > 0.4).float()
    losses, accs = co.masked_losses(out, feed, y, masks)
    with torch.no_grad():
        for m, loss, acc in zip(masks, losses, accs):
            logits = out(feed * m)
            assert loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), abs=1e-5)
            assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())


def test_robustness_curves_by_hand_and_their_area():
    out, feed, y = _tensors()
    fractions = co.removal_fractions(3)  # 0, 1/3, 2/3: remove 0, 1, 2 units
    np.testing.assert_allclose(fractions, [0, 1 / 3, 2 / 3])
    accs = co.robustness(out, feed, y, [np.array([1, 2, 0]), np.array([0, 1, 2])], fractions)
    assert accs.tolist() == [[_thinned_loss(())[1], _thinned_loss((1,))[1], _thinned_loss((1, 2))[1]],
                             [_thinned_loss(())[1], _thinned_loss((0,))[1], _thinned_loss((0, 1))[1]]]
    assert co.curve_area(fractions, accs[0]) == pytest.approx(np.trapezoid(accs[0], fractions))


def test_removal_report_starts_at_the_networks_accuracy():
    runs = CoadaptationRuns(TINY, make_data(TINY))
    runs.advance(max_steps=10)
    report = runs.analyses()["dropout"]
    _, acc = runs.run.evaluate(runs.probe_x, runs.probe_y)
    assert report["acc_random"][0] == pytest.approx(acc) and report["acc_importance"][0] == pytest.approx(acc)
    assert report["delta"].shape == (6,) and len(report["top_units"]) == 6
    top = report["delta"][report["top_units"]]
    assert np.all(np.diff(top) <= 0), "most important first"
    assert report["auc_random"] == pytest.approx(np.trapezoid(report["acc_random"], report["fractions"]))


def test_top_share():
    assert co.top_share(np.ones(20)) == pytest.approx(0.1)
    assert co.top_share(np.r_[5.0, np.zeros(19)]) == 1.0
    assert co.top_share(np.r_[-1.0, 3.0, 1.0]) == pytest.approx(0.75)  # negative Δ count as 0; top ceil(0.3)=1 unit
    assert co.top_share(np.zeros(5)) == 0.0


def test_last_hidden_feeds_the_output_layer_as_the_network_does():
    for variant in ("standard", "weight-scaling"):
        exp = replace(TINY, variant=variant, p=0.4)
        runs = CoadaptationRuns(exp, make_data(exp))
        model = runs.run.model
        model.train()
        h, feed, out = co.last_hidden(model, runs.probe_x)
        assert model.training, "the mode is restored"
        model.eval()
        with torch.no_grad():
            torch.testing.assert_close(out(feed), model(runs.probe_x))
        scale = 0.6 if variant == "weight-scaling" else 1.0
        torch.testing.assert_close(feed, h * scale)


# --- the page's state and analyze ------------------------------------------------------

def test_looking_never_changes_the_training():
    watched, alone = (CoadaptationRuns(TINY, make_data(TINY)) for _ in range(2))
    for _ in range(6):
        watched.advance(max_steps=1)
        watched.frame()
    alone.advance(max_steps=6)
    for a, b in zip(watched.run.model.parameters(), alone.run.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_tracked_over_training_from_epoch_zero():
    runs = CoadaptationRuns(TINY, make_data(TINY))
    while not runs.done:
        runs.advance(max_steps=50)
    for name, trainer in runs.named_trainers().items():
        assert [r["epoch"] for r in runs.tracked[name]] == [0, 1, 2, 3]
        h, _, _ = co.last_hidden(trainer.model, runs.probe_x)
        assert runs.tracked[name][-1]["decov"] == pytest.approx(co.decov(h.numpy()))


def test_the_analyses_are_cached_by_step_and_refreshed_when_old():
    runs = CoadaptationRuns(TINY, make_data(TINY))
    first = runs.analyses()
    assert runs.analyses() is first
    runs.advance(max_steps=1)
    assert runs.analyses(max_age=60.0) is first, "recent enough while training"
    assert runs.analyses() is not first


def test_while_training_costly_analyses_are_redone_less_often(monkeypatch):
    """An analysis that took c seconds is kept c / COADAPT_ANALYSIS_SHARE seconds while training (a busy server's
    slower analyses come less often), never when paused."""
    runs = CoadaptationRuns(TINY, make_data(TINY))
    first = runs.analyses()
    key, at, _, reports = runs._cache
    runs._cache = (key, at, 0.5, reports)  # as if it had taken 0.5 s: kept 5 s
    runs.advance(max_steps=1)
    monkeypatch.setattr(time, "monotonic", lambda: at + 4.0)
    assert runs.analyses(max_age=1.0) is first
    monkeypatch.setattr(time, "monotonic", lambda: at + 5.5)
    assert runs.analyses(max_age=1.0) is not first
    second = runs.analyses(max_age=1.0)
    runs._cache = (*runs._cache[:2], 0.5, second)
    runs.advance(max_steps=1)
    assert runs.analyses(max_age=0.0) is not second, "paused: the current step's analyses whatever they cost"


def test_every_figure_is_valid_plotly():
    runs = CoadaptationRuns(TINY, make_data(TINY))
    runs.advance(max_steps=5)
    frame = runs.frame()
    assert set(frame) == {"correlation", "interaction", "importance", "robustness", "tracked", "curves"}
    for figure in frame.values():
        go.Figure(figure)
    assert len(frame["robustness"]["data"]) == 4
    assert [t["xaxis"] for t in frame["correlation"]["data"]] == ["x", "x2"]  # dropout, then its twin
    scales = {(t["zmin"], t["zmax"]) for t in frame["interaction"]["data"]}
    assert len(scales) == 1, "one colour scale for both networks"


def test_analysis_problems_name_the_flags():
    assert analysis_problems(analysis_defaults()) == []
    assert analysis_defaults().hidden == (512, 512) and analysis_defaults().dataset == "mnist"
    cases = {"--model": replace(analysis_defaults(), model="cnn"),
             "--variant": replace(TINY, variant="dropconnect"),
             "--dataset": replace(analysis_defaults(), dataset="mnist-full"),
             "--inference": replace(TINY, inference="mc"),
             "--hidden": replace(TINY, hidden=(8, 1))}
    for flag, exp in cases.items():
        problems = analysis_problems(exp)
        assert len(problems) == 1 and str(problems[0]).startswith(flag), problems
        assert problems[0].fields[0] == flag.removeprefix("--"), problems
        with pytest.raises(ValueError):
            CoadaptationRuns(exp, make_data(replace(exp, model="mlp", dataset="moons")))


def test_analyze_trains_to_the_end_and_returns_plain_numbers():
    result = analyze(TINY)
    text = json.dumps(result, allow_nan=False)  # JSON-ready: no numpy types, no NaN
    assert json.loads(text) == result
    keys = {"mean_abs_r", "decov", "dead_units", "auc_random", "auc_importance", "top_share",
            "mean_abs_interaction", "leaning_share", "val_acc", "val_loss"}
    for name in ("dropout", "no_dropout"):
        assert keys <= set(result[name])
        assert 0.0 <= result[name]["auc_random"] <= 1.0 and 0.0 <= result[name]["top_share"] <= 1.0
        assert 0.0 <= result[name]["leaning_share"] <= 1.0
    assert [r["epoch"] for r in result["tracked"]] == [0, 1, 2, 3]
    assert result["layer"] == "hidden 2" and result["units"] == 6 and result["examples"] == 60
    assert result["seconds"] > 0
    again = analyze(TINY)
    assert again["dropout"] == result["dropout"], "deterministic by seed"
    assert not math.isnan(result["dropout"]["decov"])


def test_dropout_spreads_the_work_on_the_mnist_subset():
    """A real run (2 epochs of a smaller reference net): the dropout network survives random removal better."""
    exp = replace(analysis_defaults("mnist"), hidden=(256, 128), train_size=1500, val_size=500, epochs=2)
    result = analyze(exp)
    assert result["dropout"]["auc_random"] > result["no_dropout"]["auc_random"]
    assert result["dropout"]["val_acc"] > 0.7 and result["no_dropout"]["val_acc"] > 0.7
