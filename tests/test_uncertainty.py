"""MC-dropout uncertainty against references: hand-masked passes, hand-computed entropies, brute-force grids."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from torch import nn

from explorer import settings
from explorer.core.boundary import decision_grid
from explorer.dropout.bernoulli import InvertedDropout
from explorer.core.mc import predictive_summary
from explorer.core.model import MLP, MLPConfig
from explorer.uncertainty.maps.analysis import mc_grid
from explorer.uncertainty.maps.state import MAPS_DEFAULT, MCMapsLive
from explorer.uncertainty.regression.analysis import RegressionConfig, mc_regression, region_std
from explorer.uncertainty.regression.state import RegressionLive

LN2 = math.log(2.0)
TINY_MAPS = replace(MAPS_DEFAULT, train_size=20, val_size=20, hidden=(8, 8), epochs=3)
TINY_REG = RegressionConfig(train_size=20, hidden=(8, 8), epochs=3)


# --- regression passes -------------------------------------------------------------

def test_mc_regression_matches_passes_with_hand_applied_masks():
    """One batch of T copies of x: each row's masks drawn in order from the look's generator, as done by hand."""
    model = MLP(MLPConfig(n_in=1, hidden=(8, 8), n_out=1, p=0.3, seed=3))
    x = torch.linspace(-3, 3, 11)[:, None]
    samples, keep = 7, 0.7
    passes, mean, std = mc_regression(model, x, samples, seed=5)

    gen = torch.Generator().manual_seed(5)
    first, second, out = model.linears
    rows = samples * len(x)
    m1 = torch.empty(rows, 8).bernoulli_(keep, generator=gen)  # layer 1's masks, then layer 2's
    m2 = torch.empty(rows, 8).bernoulli_(keep, generator=gen)
    by_hand = []
    with torch.no_grad():
        for t in range(samples):
            rows_t = slice(t * len(x), (t + 1) * len(x))
            h = torch.relu(first(x)) * m1[rows_t] / keep
            h = torch.relu(second(h)) * m2[rows_t] / keep
            by_hand.append(out(h)[:, 0].numpy())
    by_hand = np.stack(by_hand)
    np.testing.assert_allclose(passes.numpy(), by_hand, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mean.numpy(), by_hand.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std.numpy(), by_hand.std(0), rtol=1e-4, atol=1e-6)  # population std, ddof=0
    assert model.training, "the model's mode is restored"


def test_mc_regression_without_dropout_or_with_one_pass_has_no_spread():
    model = MLP(MLPConfig(n_in=1, hidden=(8,), n_out=1, p=0.0))
    x = torch.linspace(-1, 1, 5)[:, None]
    passes, mean, std = mc_regression(model, x, 4, seed=0)
    model.eval()
    assert torch.allclose(mean, model(x)[:, 0].detach()) and torch.all(std == 0)
    assert torch.all(mc_regression(MLP(MLPConfig(n_in=1, n_out=1, p=0.5)), x, 1, seed=0)[2] == 0)


def test_region_std_by_hand():
    r = settings.UNC_REG_HALF_RANGE
    x = np.array([-r - 1, -1.0, 2.0, 3.0, r + 1])
    std = np.array([5.0, 1.0, 3.0, 4.0, 7.0])
    assert region_std(x, std, (1.5, 4.0)) == {"gap": 3.5, "data": 1.0, "beyond": 6.0}


def test_after_training_the_gap_is_less_certain_than_the_data():
    live = RegressionLive(replace(RegressionConfig(), epochs=500, seed=0))
    live.advance()
    live.frame(50)
    n = live.numbers
    assert n["gap"] > 1.2 * n["data"], n
    assert n["beyond"] > n["data"], n


def test_regression_live_applies_rates_in_place_and_looking_changes_nothing():
    looked, plain = RegressionLive(TINY_REG), RegressionLive(TINY_REG)
    for _ in range(3):
        looked.advance(max_steps=2)
        looked.frame(10)
        plain.advance(max_steps=2)
    assert all(torch.equal(a, b) for a, b in zip(looked.run.model.parameters(), plain.run.model.parameters()))
    trainer = looked.run
    assert looked.apply(replace(TINY_REG, p=0.4, lr=0.003, epochs=8), False)
    assert looked.run is trainer and trainer.model.hidden_rate == 0.4 and looked.exp.epochs == 8
    assert trainer.optimizer.param_groups[0]["lr"] == 0.003 and trainer.cfg.epochs == 8
    assert not looked.apply(replace(looked.exp, gap=(0.0, 2.0)), False)
    assert not looked.apply(looked.exp, True), "no twin on this page"
    figs = looked.frame(10)
    for fig in figs.values():
        go.Figure(fig)
    assert "T = 10 passes" in figs["fit"]["layout"]["title"]["text"]
    assert len(figs["fit"]["data"][0]["x"]) == 10 * (settings.UNC_REG_POINTS + 1)  # 10 curves, NaN between


# --- entropy and mutual information ------------------------------------------------

def test_predictive_summary_on_known_probabilities():
    half = torch.tensor([[[0.5, 0.5]]])
    s = predictive_summary(half.repeat(4, 1, 1))
    assert s["entropy"].item() == pytest.approx(LN2) and s["mutual_information"].item() == pytest.approx(0.0, abs=1e-7)
    opposite = predictive_summary(torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]))
    assert opposite["entropy"].item() == pytest.approx(LN2) and opposite["mutual_information"].item() == pytest.approx(LN2)
    probs = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.6, 0.4], [0.3, 0.7]], [[0.7, 0.3], [0.1, 0.9]]])
    mean = probs.mean(0)
    h_mean = -(mean * np.log(mean)).sum(-1)
    mean_h = (-(probs * np.log(probs)).sum(-1)).mean(0)
    got = predictive_summary(torch.tensor(probs))
    np.testing.assert_allclose(got["entropy"].numpy(), h_mean, rtol=1e-10)
    np.testing.assert_allclose(got["mutual_information"].numpy(), h_mean - mean_h, rtol=1e-10)


class Switch(nn.Module):
    """Logits ±L·(m − 1) from one unit kept (m = 2) or dropped (m = 0): every pass says [1, 0] or [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.drop = InvertedDropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.drop(torch.ones(len(x), 1)) - 1
        return 50.0 * torch.cat([m, -m], dim=1)


def test_mc_grid_of_certain_but_disagreeing_passes_is_all_epistemic():
    box, res = (-1.0, 1.0, -1.0, 1.0), 6
    grid = mc_grid(Switch(), box, res, samples=2, seed=0, x_train=torch.zeros(1, 2))
    f = grid.prob.round(6)  # the share of the two passes that said class 1: 0, ½ or 1 (e^-100 rounds to 0)
    assert set(np.unique(f)) <= {0.0, 0.5, 1.0} and (f == 0.5).any()
    by_hand = np.where((f == 0) | (f == 1), 0.0, -(f * np.log(np.clip(f, 1e-12, 1)) + (1 - f) * np.log(np.clip(1 - f, 1e-12, 1))))
    np.testing.assert_allclose(grid.entropy, by_hand, atol=1e-6)
    np.testing.assert_allclose(grid.mutual_information, by_hand, atol=1e-6)  # each pass is sure: nothing aleatoric
    assert grid.mutual_information[f == 0.5] == pytest.approx(LN2)


def test_mc_grid_without_dropout_is_the_decision_grid_and_has_no_mi():
    model = MLP(MLPConfig(hidden=(8,), p=0.0, seed=1))
    box = (-2.0, 1.0, -1.0, 3.0)
    grid, plain = mc_grid(model, box, 7, samples=3, seed=0, x_train=torch.tensor([[0.0, 0.0]])), decision_grid(model, box, 7)
    np.testing.assert_allclose(grid.prob, plain.prob, rtol=1e-6)
    np.testing.assert_array_equal(grid.xs, plain.xs)
    np.testing.assert_allclose(grid.mutual_information, 0.0, atol=1e-6)
    p = plain.prob
    np.testing.assert_allclose(grid.entropy, -(p * np.log(p) + (1 - p) * np.log(1 - p)), rtol=1e-5)
    # distance to the one training point, per grid point, by brute force
    gx, gy = np.meshgrid(grid.xs, grid.ys)
    np.testing.assert_allclose(grid.distance, np.hypot(gx, gy), rtol=1e-5)


def test_zero_weights_give_ln2_everywhere():
    model = nn.Sequential(nn.Linear(2, 2), InvertedDropout(0.5))
    nn.init.zeros_(model[0].weight), nn.init.zeros_(model[0].bias)
    grid = mc_grid(model, (0.0, 1.0, 0.0, 1.0), 4, samples=5, seed=0, x_train=torch.zeros(1, 2))
    np.testing.assert_allclose(grid.entropy, LN2, rtol=1e-6)
    np.testing.assert_allclose(grid.mutual_information, 0.0, atol=1e-6)


# --- the maps' live state ----------------------------------------------------------

def test_maps_live_caches_throttles_and_never_changes_training():
    looked, plain = MCMapsLive(TINY_MAPS), MCMapsLive(TINY_MAPS)
    assert looked.twin is None and not looked.apply(TINY_MAPS, True)
    first = looked.maps(5)
    assert looked.maps(5) is first, "same step, same T: cached"
    looked.advance(max_steps=1)
    plain.advance(max_steps=1)
    assert looked.maps(5, every=60.0) is first, "a new step within the throttle: the maps on screen stay"
    assert looked.maps(6, every=60.0) is not first, "a new T recomputes at once"
    assert looked.maps(6) is not first
    looked.advance(max_steps=3)
    plain.advance(max_steps=3)
    assert all(torch.equal(a, b) for a, b in zip(looked.run.model.parameters(), plain.run.model.parameters()))
    run = looked.run
    assert looked.apply(replace(TINY_MAPS, p=0.1), False) and looked.run is run and run.model.hidden_rate == 0.1
    figs = looked.frame(4)
    assert set(figs) == {"maps", "curves"}
    for fig in figs.values():
        go.Figure(fig)
    heatmaps = [t for t in figs["maps"]["data"] if t["type"] == "heatmap"]
    assert [h["zmax"] for h in heatmaps[:2]] == [1.0, pytest.approx(LN2)] and len(heatmaps) == 3
    n = looked.numbers
    assert set(n) == {"entropy_data", "mi_data", "entropy_far", "mi_far"} and all(0 <= v <= LN2 + 1e-6 for v in n.values())


def test_trained_maps_are_surer_on_the_data_than_away_from_it():
    live = MCMapsLive(replace(MAPS_DEFAULT, epochs=300))
    live.advance()
    live.maps(30)
    n = live.numbers
    assert live.run.history[-1]["train_acc"] > 0.95
    assert n["mi_far"] > 3 * n["mi_data"] and n["entropy_far"] > n["entropy_data"], n
