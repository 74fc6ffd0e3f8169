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
from explorer.core import batched
from explorer.core.batched import StackedMLP, StackedTrainer
from explorer.core.datasets import DataConfig, make_toy
from explorer.core.experiment import Experiment, build, check
from explorer.core.model import MLP, MLPConfig
from explorer.sweep.state import Sweep, SweepSpec, kept_widths
from explorer.core.training import TrainConfig, Trainer
from tests.test_dropout import assert_binomial

DATA = make_toy(DataConfig("moons", train_size=100, val_size=50, noise=0.2, seed=0))
CONFIGS = [MLPConfig(hidden=(16, 8), p=0.0, seed=s) for s in range(3)] + [MLPConfig(hidden=(10, 8), p=0.0, seed=7)]
SEEDS = [0, 1, 2, 7]


def _assert_same_runs(stack: StackedTrainer, alone: list[Trainer], rel: float = 1e-4) -> None:
    """Every model of the stack ended where its Trainer did: weights and every number of its history."""
    for k, trainer in enumerate(alone):
        for layer, lin in enumerate(trainer.model.linears):
            w = stack.model.weights[layer][k, : lin.in_features, : lin.out_features].T
            torch.testing.assert_close(w, lin.weight, rtol=rel, atol=1e-5)
        assert len(stack.histories[k]) == len(trainer.history)
        for ours, theirs in zip(stack.histories[k], trainer.history):
            assert ours.keys() == theirs.keys()
            for key in ours:
                assert ours[key] == pytest.approx(theirs[key], rel=rel, abs=1e-5), (k, key)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_stack_is_k_separate_trainers(optimizer):
    """Same initial weights, batch orders, masks and updates (weight decay and max-norm too), the narrow model
    padded, each model at its own rates."""
    cfg = TrainConfig(optimizer=optimizer, lr=0.01, epochs=3, batch_size=32, weight_decay=1e-3, max_norm=2.0)
    configs = [replace(c, p=q, input_p=q / 2) for c, q in zip(CONFIGS, (0.0, 0.3, 0.5, 0.2))]
    stack = StackedTrainer(StackedMLP(configs), DATA, cfg, SEEDS)
    stack.run()
    alone = [Trainer(MLP(model_cfg), DATA, replace(cfg, seed=seed)) for model_cfg, seed in zip(configs, SEEDS)]
    for trainer in alone:
        trainer.run()
    _assert_same_runs(stack, alone)


# Every variant whose noise is per unit or per weight, and the schedules (issue #16).
STACKED = ["standard", "weight-scaling", "gaussian", "uniform", "alpha", "dropconnect", "dropconnect-batch", "standout",
           "concrete", "early", "late"]
VARIANT_RUN = Experiment(dataset="moons", train_size=100, val_size=50, hidden=(16, 8), epochs=4, batch_size=32,
                         lr=0.01, p=0.3, input_p=0.1)


@pytest.mark.parametrize("variant", STACKED)
def test_every_stacked_variant_is_its_trainer_run(variant):
    """Three models of the variant (two seeds, one narrower, one at another rate) against experiment.build's
    Trainers, schedules included: the stack draws each model's noise from its MLP's own generator."""
    _assert_variant_stacks_as_trainers(variant)


@pytest.mark.parametrize("variant", ["standard", "gaussian", "dropconnect-batch", "early"])
def test_models_draw_on_several_threads_as_on_one(variant, monkeypatch):
    """With torch on several threads the models draw their noise at once, each from its own generator: the runs
    are still their Trainers'."""
    monkeypatch.setattr(batched, "PARALLEL_DRAW_NUMBERS", 0)  # these small models' draws too
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        _assert_variant_stacks_as_trainers(variant)
    finally:
        torch.set_num_threads(threads)


def _assert_variant_stacks_as_trainers(variant: str) -> None:
    base = replace(VARIANT_RUN, variant=variant, activation="selu" if variant == "alpha" else "relu")
    exps = [base, replace(base, seed=1, p=0.5), replace(base, seed=2, hidden=(10, 8))]
    for exp in exps:
        assert check(exp) == [], check(exp)
    stack = StackedTrainer(StackedMLP([e.model_config(2, 2) for e in exps]), DATA, base.train_config(),
                           [e.seed for e in exps], schedules=[e.schedule() for e in exps])
    stack.run()
    alone = [build(e, DATA) for e in exps]
    for trainer in alone:
        trainer.run()
    _assert_same_runs(stack, alone)
    for k, trainer in enumerate(alone):  # taken out of the stack, model k is the Trainer's network (learned rates too)
        ours, theirs = stack.model.member(k).state_dict(), trainer.model.state_dict()
        assert ours.keys() == theirs.keys()
        for key in ours:
            torch.testing.assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-5)


def test_padding_stays_zero_and_never_reaches_the_output():
    configs = [replace(c, p=0.5, input_p=0.2) for c in CONFIGS]
    stack = StackedTrainer(StackedMLP(configs), DATA, TrainConfig(epochs=2, batch_size=16), SEEDS)
    stack.run()
    w0, w1 = stack.model.weights[0][3], stack.model.weights[1][3]
    assert torch.count_nonzero(w0[:, 10:]) == 0 and torch.count_nonzero(w1[10:, :]) == 0


@pytest.mark.parametrize("q", [0.2, 0.5, 0.8])
def test_each_model_drops_at_its_own_rate(q):
    model = StackedMLP([MLPConfig(hidden=(64,), p=rate, input_p=0.0) for rate in (0.0, q)]).train()
    for member in model.drops:
        member[1].record = True
    model(torch.randn(2, 500, 2))
    seen = [(m[1].last_mask, m[1].last_input != 0) for m in model.drops]
    assert bool(seen[0][0].all())  # rate 0: nothing dropped
    mask, positive = seen[1]
    assert_binomial(int((mask & positive).sum()), int(positive.sum()), 1 - q)


def _assert_evaluates_as_each_mlp(configs: list[MLPConfig]) -> None:
    """The stack's inference-mode loss and accuracy are each model's as its MLP, in one pass and in chunks."""
    trainer = StackedTrainer(StackedMLP(configs), DATA, TrainConfig(), SEEDS)
    losses, accs = trainer.evaluate(DATA.x_val, DATA.y_val)
    for k, cfg in enumerate(configs):
        alone = Trainer(MLP(cfg), DATA, TrainConfig())
        loss, acc = alone.evaluate(DATA.x_val, DATA.y_val)
        assert losses[k] == pytest.approx(loss, rel=1e-5) and accs[k] == pytest.approx(acc)
    chunked = trainer.evaluate(DATA.x_val, DATA.y_val, chunk=7)  # in chunks, as one pass
    assert chunked[0] == pytest.approx(losses, rel=1e-5) and chunked[1] == pytest.approx(accs)


def test_evaluation_equals_each_mlp_in_inference_mode():
    _assert_evaluates_as_each_mlp([replace(c, p=0.4, input_p=0.2, variant="weight-scaling")  # inference scales
                                   for c in CONFIGS])


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_dropconnect_evaluation_is_each_models_moment_matching(activation):
    """The stack's batched moment matching (closed form for ReLU, the shared draws for tanh) is each MLP's own,
    a model at rate 0 (a plain network) and a narrower one among them."""
    _assert_evaluates_as_each_mlp([replace(c, p=q, input_p=0.1, variant="dropconnect", activation=activation)
                                   for c, q in zip(CONFIGS, (0.0, 0.3, 0.5, 0.2))])


def test_the_stack_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="multisample"):
        StackedMLP([MLPConfig(variant="multisample")])
    with pytest.raises(ValueError, match="noise in one place"):
        StackedMLP([MLPConfig(variant="gaussian"), MLPConfig(variant="dropconnect")])
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


def test_a_rate_sweep_of_variants_is_each_variants_trainer_runs():
    """A curve per variant on the same seeds and data; each model the Trainer run of its settings, whatever its
    stack (gaussian and the early schedule share units; dropconnect's weights stack alone)."""
    spec = SweepSpec(over="rate", rates=(0.0, 0.5), seeds=2, base=TOY, variants=("gaussian", "dropconnect", "early"))
    assert spec.models() == 8 and spec.problems() == []  # q = 0 once for the three
    sweep = Sweep(spec)
    assert {tuple(sorted(set(g.variants))) for g in sweep.groups} == {("early", "gaussian"), ("dropconnect",)}
    sweep.advance()
    points = sweep.results()["points"]
    assert [(p["x"], p["variant"]) for p in points] == [(0.0, "gaussian"), (0.0, "dropconnect"), (0.0, "early"),
                                                       (0.5, "gaussian"), (0.5, "dropconnect"), (0.5, "early")]
    for point in points:
        for run in point["seeds"]:
            alone = build(replace(TOY, variant=point["variant"], p=point["x"], input_p=0.0, seed=run["seed"]), sweep.data)
            alone.run()
            assert run["val_loss"] == pytest.approx(alone.history[-1]["val_loss"], rel=1e-4), point["variant"]


def test_a_size_sweep_of_variants_shares_one_baseline():
    spec = SweepSpec(over="size", sizes=(30, 120), seeds=1, base=TOY, variants=("standard", "standout"))
    assert spec.models() == 6
    sweep = Sweep(spec)
    sweep.advance()
    points = sweep.results()["points"]
    assert [(p["x"], p["variant"], p["dropout"]) for p in points] == [
        (30, "standard", True), (30, "standout", True), (30, "none", False),
        (120, "standard", True), (120, "standout", True), (120, "none", False)]


@pytest.mark.parametrize("spec, words", [
    (SweepSpec(seeds=0, base=TOY), "--seeds"),
    (SweepSpec(over="size", sizes=(500,), base=TOY), "--sizes"),
    (SweepSpec(base=replace(TOY, variant="gaussian")), "--variants, not --variant"),
    (SweepSpec(base=TOY, variants=("standard", "multisample")), "--variants: each once, of standard"),
    (SweepSpec(base=TOY, variants=("gaussian", "gaussian")), "--variants: each once"),
    (SweepSpec(base=TOY, variants=()), "--variants"),
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


def test_sweep_command_variants(capsys):
    cli.main(["sweep", "--dataset", "moons", "--train-size", "60", "--val-size", "30", "--hidden", "8",
              "--epochs", "2", "--rates", "0.5", "--seeds", "1", "--variants", "uniform,late", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert [p["variant"] for p in out["points"]] == ["uniform", "late"] and out["spec"]["variants"] == ["uniform", "late"]


def test_sweep_command_saves_every_models_weights(tmp_path, capsys):
    out = tmp_path / "sweep.pt"
    cli.main(["sweep", "--dataset", "moons", "--train-size", "60", "--val-size", "30", "--hidden", "8",
              "--epochs", "2", "--rates", "0,0.5", "--seeds", "2", "--save-weights", str(out), "--json"])
    states = torch.load(out, weights_only=True)
    assert list(states) == ["no dropout q=0 seed 0", "no dropout q=0 seed 1", "standard q=0.5 seed 0",
                            "standard q=0.5 seed 1"]
    MLP(MLPConfig(hidden=(8,))).load_state_dict(states["standard q=0.5 seed 1"])
    with pytest.raises(SystemExit) as stop:
        cli.main(["sweep", "--dataset", "moons", "--save-weights", str(tmp_path / "no" / "such.pt")])
    assert stop.value.code == 2 and "--save-weights: no folder" in capsys.readouterr().err


def test_sweep_command_table(capsys):
    cli.main(["sweep", "--over", "size", "--dataset", "moons", "--sizes", "20,40", "--hidden", "8", "--epochs", "2",
              "--seeds", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["train", "size"] and len(lines) == 6


@pytest.mark.parametrize("argv, words", [
    (["--rates", "0,x"], "--rates: expected a number"),
    (["--sizes", "0"], "--sizes"),
    (["--seeds", "11"], "--seeds must be between 1 and 10"),
    (["--model", "cnn"], "sweeps train MLPs"),
    (["--variants", "standard,bogus"], "--variants: unknown value 'bogus'; choose from standard, weight-scaling"),
    (["--over", "size", "--sizes", "100,4500"], "holds 5000 digits"),
])
def test_sweep_command_bad_input_is_one_line(argv, words, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["sweep", *argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("explorer: error: ") and words in err and "\n" not in err
