"""The 1-D regression with a gap and its trainer, against hand computation and closed forms."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer import settings
from explorer.uncertainty.regression.analysis import (RegressionConfig, RegressionData, RegressionTrainer, from_params,
                                                      make_regression_data, sample_x, to_params, true_function)

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
    assert len(problems) == 4 and any(p.fields == ("gap",) and p.message.startswith("gap") for p in problems)
    assert replace(RegressionConfig(), gap=(-5.0, 4.5)).problems(), "leaves almost no data"


def test_true_function():
    x = torch.tensor([0.0, np.pi / 2, np.pi])
    assert torch.allclose(true_function(x), torch.tensor([0.0, np.pi / 2, 0.0]), atol=1e-6)


# --- link parameters -------------------------------------------------------------

def test_link_parameters_round_trip():
    cfg = RegressionConfig(train_size=7, noise=0.1 + 0.2, gap=(-2.25, 0.5), hidden=(32, 32, 8), activation="tanh",
                           p=0.45, lr=3e-4, batch_size=5, epochs=12, seed=9)
    params = to_params(cfg)
    assert params["gap"] == "-2.25,0.5" and params["hidden"] == "32,32,8" and params["lr"] == "0.0003"
    assert set(params) == {f for f in cfg.changed(RegressionConfig())}
    assert from_params(params) == (cfg, [])  # 0.1 + 0.2 comes back bit for bit
    assert to_params(RegressionConfig()) == {} and from_params({}) == (RegressionConfig(), [])


def test_link_parameters_are_relative_to_a_base():
    base = RegressionConfig(p=0.4, seed=2)
    cfg = replace(base, epochs=30)
    assert to_params(cfg, base) == {"epochs": "30"} and from_params({"epochs": "30"}, base) == (cfg, [])


@pytest.mark.parametrize("key, text, reason, kept", [
    ("gap", "1,2,3", "expected two numbers a,b", "1.5,4"),
    ("gap", "4,1", "out of bounds", "1.5,4"),
    ("gap", "-5,5", "out of bounds", "1.5,4"),  # no room left for data
    ("train_size", "2.5", "expected a whole number", "100"),
    ("train_size", str(settings.UNC_REG_MAX_TRAIN + 1), "out of bounds", "100"),
    ("hidden", "0", "between 1 and", "64,64"),
    ("activation", "sigmoid", "one of relu, tanh", "relu"),
    ("p", "1", "below 1", "0.3"),
    ("lr", "-1", "between", "0.01"),
    ("epochs", "0", "between 1 and", "2000"),
    ("seed", "x", "expected a whole number", "0"),
])
def test_a_bad_value_falls_back_with_a_warning_naming_it(key, text, reason, kept):
    base = RegressionConfig(p=0.3)
    cfg, [warning] = from_params({key: text, "batch_size": "5"}, base)
    assert cfg == replace(base, batch_size=5)  # the good parameter is kept
    assert warning.startswith(f"{key}: ") and reason in warning and warning.endswith(f"; using {kept}")


def test_unknown_parameters_are_reported():
    cfg, warnings = from_params({"dataset": "moons", "p": "0.1"})
    assert cfg == replace(RegressionConfig(), p=0.1) and warnings == ["unknown parameter 'dataset' ignored"]
