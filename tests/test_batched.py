"""The batched engine against K separate Trainers, and the sweeps built on it."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import replace

import pytest
import torch

from explorer import settings
from explorer.tools import cli
from explorer.core.batched import StackedMLP, StackedTrainer
from explorer.core.datasets import DataConfig, make_toy
from explorer.core.experiment import Experiment
from explorer.core.model import MLP, MLPConfig
from explorer.sweep.state import Sweep, SweepSpec, kept_widths
from explorer.core.training import TrainConfig, Trainer
from tests.test_dropout import assert_binomial

DATA = make_toy(DataConfig("moons", train_size=100, val_size=50, noise=0.2, seed=0))
CONFIGS = [MLPConfig(hidden=(16, 8), p=0.0, seed=s) for s in range(3)] + [MLPConfig(hidden=(10, 8), p=0.0, seed=7)]
SEEDS = [0, 1, 2, 7]


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_stack_at_rate_zero_is_k_separate_trainers(optimizer):
    """Same initial weights, batch orders and updates (weight decay and max-norm too), the narrow model padded."""
    cfg = TrainConfig(optimizer=optimizer, lr=0.01, epochs=3, batch_size=32, weight_decay=1e-3, max_norm=2.0)
    stack = StackedTrainer(StackedMLP(CONFIGS), DATA, cfg, SEEDS)
    stack.run()
    for k, (model_cfg, seed) in enumerate(zip(CONFIGS, SEEDS)):
        alone = Trainer(MLP(model_cfg), DATA, replace(cfg, seed=seed))
        alone.run()
        for layer, lin in enumerate(alone.model.linears):
            w = stack.model.weights[layer][k, : lin.in_features, : lin.out_features].T
            torch.testing.assert_close(w, lin.weight, rtol=1e-4, atol=1e-6)
        for ours, theirs in zip(stack.histories[k], alone.history):
            assert ours.keys() == theirs.keys()
            for key in ours:
                assert ours[key] == pytest.approx(theirs[key], rel=1e-4, abs=1e-6), key


def test_padding_stays_zero_and_never_reaches_the_output():
    stack = StackedTrainer(StackedMLP(CONFIGS), DATA, TrainConfig(epochs=2, batch_size=16), SEEDS)
    stack.run()
    w0, w1 = stack.model.weights[0][3], stack.model.weights[1][3]
    assert torch.count_nonzero(w0[:, 10:]) == 0 and torch.count_nonzero(w1[10:, :]) == 0


@pytest.mark.parametrize("q", [0.2, 0.5, 0.8])
def test_each_model_drops_at_its_own_rate(q):
    cfgs = [MLPConfig(hidden=(64,), p=rate, input_p=0.0) for rate in (0.0, q)]
    model = StackedMLP(cfgs).train()
    seen = {}
    model.act.register_forward_hook(lambda m, i, out: seen.update(h=out))  # activations before dropout
    hidden = []
    original = model._drop
    model._drop = lambda h, keep: hidden.append(original(h, keep)) or hidden[-1]
    x = torch.randn(2, 500, 2)
    model(x)
    kept = (hidden[-1] != 0) & (seen["h"] != 0)
    positive = seen["h"] != 0
    assert torch.equal(kept[0], positive[0])  # rate 0: nothing dropped
    assert_binomial(int(kept[1].sum()), int(positive[1].sum()), 1 - q)


def test_evaluation_equals_each_mlp_in_inference_mode():
    model = StackedMLP(CONFIGS)
    trainer = StackedTrainer(model, DATA, TrainConfig(), SEEDS)
    losses, accs = trainer.evaluate(DATA.x_val, DATA.y_val)
    for k, cfg in enumerate(CONFIGS):
        alone = Trainer(MLP(cfg), DATA, TrainConfig())
        loss, acc = alone.evaluate(DATA.x_val, DATA.y_val)
        assert losses[k] == pytest.approx(loss, rel=1e-5) and accs[k] == pytest.approx(acc)


def test_the_stack_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="standard dropout only"):
        StackedMLP([MLPConfig(variant="gaussian")])
    with pytest.raises(ValueError, match="share depth"):
        StackedMLP([MLPConfig(hidden=(8,)), MLPConfig(hidden=(8, 8))])


# --- sweeps ------------------------------------------------------------------------

TOY = Experiment(dataset="moons", train_size=120, val_size=60, hidden=(16, 16), epochs=3, batch_size=32)


def test_a_rate_sweep_has_every_rate_and_seed():
    sweep = Sweep(SweepSpec(over="rate", rates=(0.0, 0.3, 0.6), seeds=2, base=TOY))
    assert len(sweep.groups) == 1  # one width: one stack of 6 models
    result = sweep.results()
    assert result["points"] == [] and not result["done"]
    sweep.advance()
    result = sweep.results()
    assert [p["x"] for p in result["points"]] == [0.0, 0.3, 0.6]
    for point in result["points"]:
        assert len(point["seeds"]) == 2 and {r["epoch"] for r in point["seeds"]} == {3}
        errors = [r["val_error"] for r in point["seeds"]]
        assert point["val_error_mean"] == pytest.approx(sum(errors) / 2)
    assert result["done"] and result["progress"] == 1.0


def test_partial_results_while_advancing():
    sweep = Sweep(SweepSpec(over="rate", rates=(0.0, 0.5), seeds=1, base=replace(TOY, epochs=20)))
    sweep.advance(max_seconds=0.0)  # one turn
    assert 0 < sweep.progress < 1 and not sweep.done


def test_advancing_waits_for_another_script_thread_on_the_same_sweep():
    """Streamlit may run a page's fragment and a rerun at once: they must not step the same stacks together."""
    sweep = Sweep(SweepSpec(over="rate", rates=(0.0, 0.5), seeds=1, base=replace(TOY, epochs=20)))
    stepped = threading.Event()
    with sweep.lock:
        other = threading.Thread(target=lambda: (sweep.advance(max_seconds=0.0), stepped.set()))
        other.start()
        assert not stepped.wait(0.3), "advance ran while another thread held the sweep"
    other.join(10)
    assert stepped.is_set() and sweep.progress > 0


def test_fixed_kept_widths():
    assert kept_widths((100, 50), 0.5) == (200, 100)
    assert kept_widths((512,), 0.9) == (settings.MAX_WIDTH,)
    sweep = Sweep(SweepSpec(over="rate", mode="fixed-kept", rates=(0.0, 0.5), seeds=1, base=TOY))
    sweep.advance()
    assert [p["hidden"] for p in sweep.results()["points"]] == [[16, 16], [32, 32]]


def test_a_size_sweep_gives_every_size_the_same_steps():
    sweep = Sweep(SweepSpec(over="size", sizes=(30, 120), seeds=2, base=TOY))
    sweep.advance()
    points = sweep.results()["points"]
    assert [(p["x"], p["dropout"]) for p in points] == [(30, True), (30, False), (120, True), (120, False)]
    steps = [g.step for g in sweep.groups]
    assert steps[0] >= steps[1] == 3 * math.ceil(120 / 32)  # whole epochs at the small size: at least as many
    assert steps == [g.steps for g in sweep.groups]


@pytest.mark.parametrize("spec, words", [
    (SweepSpec(seeds=0, base=TOY), "--seeds"),
    (SweepSpec(over="size", sizes=(500,), base=TOY), "--sizes"),
    (SweepSpec(base=replace(TOY, variant="gaussian")), "standard dropout"),
    (SweepSpec(seeds=10, rates=tuple(i / 20 for i in range(19)), base=TOY), "at most"),
])
def test_sweep_spec_problems(spec, words):
    assert any(words in p.message for p in spec.problems())
    with pytest.raises(ValueError):
        Sweep(spec)


def test_sweep_command_json(capsys):
    cli.main(["sweep", "--dataset", "moons", "--train-size", "60", "--val-size", "30", "--hidden", "8",
              "--epochs", "2", "--rates", "0,0.5", "--seeds", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert [p["x"] for p in out["points"]] == [0.0, 0.5] and out["done"]
    assert out["spec"]["base"]["hidden"] == [8]


def test_sweep_command_table(capsys):
    cli.main(["sweep", "--over", "size", "--dataset", "moons", "--sizes", "20,40", "--hidden", "8", "--epochs", "2",
              "--seeds", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["train", "size"] and len(lines) == 6


@pytest.mark.parametrize("argv, words", [
    (["--rates", "0,x"], "--rates: expected a number"),
    (["--sizes", "0"], "--sizes"),
    (["--seeds", "11"], "--seeds must be between 1 and 10"),
    (["--model", "cnn"], "standard dropout"),
    (["--over", "size", "--sizes", "100,4500"], "holds 5000 digits"),
])
def test_sweep_command_bad_input_is_one_line(argv, words, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["sweep", *argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("explorer: error: ") and words in err and "\n" not in err
