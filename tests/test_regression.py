"""The 1-D regression with a gap and its trainer, against hand computation and closed forms."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer import settings
from explorer.regression import (RegressionConfig, RegressionData, RegressionTrainer, make_regression_data,
                                 sample_x, true_function)

TINY = RegressionConfig(train_size=30, hidden=(16, 16), epochs=3, batch_size=8)


def test_training_x_avoid_the_gap_and_cover_the_rest_evenly():
    gap, r = (1.5, 4.0), settings.UNC_REG_HALF_RANGE
    x = sample_x(200_000, gap, np.random.default_rng(0))
    assert x.min() >= -r and x.max() <= r and not ((x > gap[0]) & (x < gap[1])).any()
    # uniform on what is left: each side gets its share of the length 2R − (b − a)
    left = (x < gap[0]).mean()
    assert left == pytest.approx((gap[0] + r) / (2 * r - (gap[1] - gap[0])), abs=0.005)


def test_data_follow_x_sin_x_with_the_noise_asked_for():
    cfg = replace(RegressionConfig(), train_size=5000, noise=0.5)
    d = make_regression_data(cfg)
    residual = (d.y_train - d.x_train * torch.sin(d.x_train)).numpy()
    assert residual.mean() == pytest.approx(0.0, abs=0.03) and residual.std() == pytest.approx(0.5, rel=0.03)
    assert d.x_train.shape == (5000, 1) and d.x_val.shape == (settings.UNC_REG_VAL_SIZE, 1)
    again = make_regression_data(cfg)
    assert torch.equal(d.x_train, again.x_train) and torch.equal(d.y_train, again.y_train), "seeded"


def test_the_trainer_fits_an_easy_function():
    """y = 2x − 1 without noise or dropout: the MSE falls to almost nothing."""
    x = torch.linspace(-2, 2, 64)[:, None]
    data = RegressionData(x, 2 * x - 1, x[::3], 2 * x[::3] - 1)
    trainer = RegressionTrainer(RegressionConfig(train_size=64, p=0.0, epochs=150, hidden=(32, 32), seed=0), data)
    trainer.run()
    assert trainer.done and trainer.epoch == 150 and trainer.step == 150 * 4
    assert trainer.history[-1]["val_mse"] < 5e-3 < trainer.history[0]["val_mse"]


def test_history_holds_the_inference_networks_mse_per_epoch():
    trainer = RegressionTrainer(TINY)
    trainer.run()
    assert [r["epoch"] for r in trainer.history] == [1, 2, 3]
    assert [r["step"] for r in trainer.history] == [4, 8, 12]  # ceil(30 / 8) steps an epoch
    model, d = trainer.model, trainer.data
    model.eval()
    with torch.no_grad():
        by_hand = ((model(d.x_val) - d.y_val) ** 2).mean().item()
        train = F.mse_loss(model(d.x_train), d.y_train).item()
    assert trainer.history[-1]["val_mse"] == pytest.approx(by_hand, rel=1e-6)
    assert trainer.history[-1]["train_mse"] == pytest.approx(train, rel=1e-6)
    assert trainer.history[-1]["p"] == TINY.p


def test_bounded_chunks_and_the_same_run_twice():
    a, b = RegressionTrainer(TINY), RegressionTrainer(TINY)
    assert a.run(max_steps=5) == 5 and a.step == 5 and a.epoch == 1
    a.run()
    b.run()
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters())), "chunks change nothing"


def test_rates_and_learning_rate_change_in_place():
    trainer = RegressionTrainer(TINY)
    trainer.run(max_steps=2)
    model, weights = trainer.model, [p.clone() for p in trainer.model.parameters()]
    trainer.set_rates(0.6)
    trainer.retune(lr=0.002, epochs=9)
    assert trainer.model is model and all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))
    assert [d.p for d in model.dropouts] == [0.0, 0.6, 0.6]  # no input dropout; both hidden layers
    assert trainer.optimizer.param_groups[0]["lr"] == 0.002 and trainer.cfg.epochs == 9 and trainer.cfg.p == 0.6
    trainer.run()
    assert trainer.epoch == 9 and trainer.history[-1]["p"] == 0.6


def test_limits_are_reported():
    assert RegressionConfig().problems() == []
    bad = replace(RegressionConfig(), gap=(2.0, 1.0), activation="selu", p=0.99, train_size=0)
    problems = bad.problems()
    assert len(problems) == 4 and any(p.startswith("gap") for p in problems)
    assert replace(RegressionConfig(), gap=(-5.0, 4.5)).problems(), "leaves almost no data"


def test_true_function():
    x = torch.tensor([0.0, np.pi / 2, np.pi])
    assert torch.allclose(true_function(x), torch.tensor([0.0, np.pi / 2, 0.0]), atol=1e-6)
