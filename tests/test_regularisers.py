"""Dropout vs weight decay vs early stopping: the lanes share weights and batches, weight decay reaches the
optimiser (one SGD step checked by hand), early stopping is the argmin of the unregularised validation loss."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from explorer.core.experiment import make_data
from explorer.lab.state import Lab
from explorer.theory.regularisers.state import Comparison, comparison_defaults, comparison_lanes

TINY = replace(comparison_defaults(), hidden=(16, 16), train_size=60, val_size=80, epochs=12)


@pytest.fixture(scope="module")
def trained() -> Comparison:
    comparison = Comparison(TINY, make_data(TINY))
    comparison.advance()
    return comparison


def _parameters(trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.model.parameters()]


def test_the_lanes_share_initial_weights_and_batches_and_differ_in_their_regulariser():
    comparison = Comparison(TINY, make_data(TINY))
    first = _parameters(comparison.trainers[0])
    for trainer in comparison.trainers[1:]:
        assert all(torch.equal(a, b) for a, b in zip(first, _parameters(trainer)))
    batches: list[list[torch.Tensor]] = [[], [], []]
    for i, trainer in enumerate(comparison.trainers):
        trainer.add_callback("on_step_end", lambda t, i=i: batches[i].append(t.last_batch.clone()))
    comparison.advance(max_steps=7)  # more than an epoch of 60 examples in batches of 32
    assert all(len(b) == 7 for b in batches)
    for other in batches[1:]:
        assert all(torch.equal(a, b) for a, b in zip(batches[0], other))
    assert [t.model.hidden_rate for t in comparison.trainers] == [0.0, TINY.p, 0.0]
    decays = [t.optimizer.param_groups[0]["weight_decay"] for t in comparison.trainers]
    assert decays == [0.0, 0.0, TINY.weight_decay]


def test_one_sgd_step_of_the_decay_lane_adds_minus_lr_lambda_w_by_hand():
    """Same weights, batch and gradient (no dropout in either): w_decay − w_plain = −lr·λ·w₀ after one step."""
    exp = replace(TINY, optimizer="sgd", lr=0.05, weight_decay=0.01)
    comparison = Comparison(exp, make_data(exp))
    start = _parameters(comparison.trainers[0])
    comparison.advance(max_steps=1)
    plain, decayed = _parameters(comparison.trainers[0]), _parameters(comparison.trainers[2])
    for w0, a, b in zip(start, plain, decayed):
        torch.testing.assert_close(b - a, -0.05 * 0.01 * w0, rtol=1e-4, atol=1e-7)


def test_early_stopping_is_the_argmin_of_the_unregularised_validation_loss(trained):
    history = trained.trainers[0].history
    losses = np.array([r["val_loss"] for r in history])
    early = trained.early_stopping()
    assert early["epoch"] == int(np.argmin(losses)) + 1 and early["val_loss"] == losses.min()
    rows = trained.table()
    assert [r["run"] for r in rows][-1].startswith("early stopping") and rows[-1]["epoch"] == early["epoch"]
    assert rows[-1]["final_val_acc"] == history[early["epoch"] - 1]["val_acc"]
    assert [r["epoch"] for r in rows[:3]] == [12, 12, 12]
    for row, trainer in zip(rows, trained.trainers):
        assert row["final_val_loss"] == trainer.history[-1]["val_loss"]
        assert row["best_val_loss"] == min(r["val_loss"] for r in trainer.history)


def test_the_curves_mark_early_stopping_on_both_panels(trained):
    figure = trained.frame()["curves"]
    stars = [t for t in figure["data"] if t.get("marker", {}).get("symbol") == "star"]
    early = trained.early_stopping()
    assert [(s["x"], s["y"]) for s in stars] == [([early["epoch"]], [early["val_loss"]]),
                                                  ([early["epoch"]], [early["val_acc"]])]
    assert [s["x0"] for s in figure["layout"]["shapes"]] == [early["epoch"]] * 2


def test_the_plain_lab_still_refuses_lanes_that_differ_beyond_dropout():
    with pytest.raises(ValueError, match="weight_decay"):
        Lab(comparison_lanes(TINY), make_data(TINY))


def test_apply_keeps_the_same_comparison_only():
    comparison = Comparison(TINY, make_data(TINY))
    assert comparison.apply(TINY) and not comparison.apply(replace(TINY, weight_decay=0.01))
    assert comparison.exp is TINY and comparison.run is comparison.trainers[0]


def test_the_defaults_overfit_and_each_regulariser_helps():
    """The page's default problem, trained to the end (~2 s): every regulariser ends below the plain run."""
    exp = comparison_defaults()
    comparison = Comparison(exp, make_data(exp))
    comparison.advance()
    plain, dropout, decay, early = comparison.table()
    assert plain["best_val_loss"] < 0.6 * plain["final_val_loss"]  # it overfits: its loss turns up
    for better in (dropout, decay, early):
        assert better["final_val_loss"] < plain["final_val_loss"]
