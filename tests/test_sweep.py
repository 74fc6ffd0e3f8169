"""How often the batched engine evaluates, and the size sweep's use of it (the rest is in tests/test_batched.py)."""

from __future__ import annotations

from explorer.core.batched import StackedMLP, StackedTrainer
from explorer.core.datasets import DataConfig, make_toy
from explorer.core.experiment import Experiment
from explorer.core.model import MLPConfig
from explorer.sweep.state import Sweep, SweepSpec
from explorer.core.training import TrainConfig

TOY = Experiment(dataset="moons", train_size=120, val_size=60, hidden=(16, 16), epochs=3, batch_size=32)


def test_eval_every_skips_epochs_but_never_the_last():
    data = make_toy(DataConfig("moons", train_size=64, val_size=32, seed=0))
    model = StackedMLP([MLPConfig(hidden=(8,), p=0.0, seed=s) for s in range(2)])
    trainer = StackedTrainer(model, data, TrainConfig(epochs=7, batch_size=32), [0, 1], eval_every=3)
    trainer.run()
    assert [[row["epoch"] for row in h] for h in trainer.histories] == [[3, 6, 7]] * 2
    assert trainer.histories[0][-1]["step"] == 14


def test_a_small_set_is_evaluated_about_as_often_as_the_largest():
    """30 examples = 1 step per epoch, so 12 epochs for the 12 steps of 120 examples × 3 epochs: 3 evaluations."""
    sweep = Sweep(SweepSpec(over="size", sizes=(30, 120), seeds=1, base=TOY))
    sweep.advance()
    small, large = (g.trainer.histories[0] for g in sweep.groups)
    assert [row["epoch"] for row in small] == [4, 8, 12] and [row["step"] for row in small] == [4, 8, 12]
    assert [row["epoch"] for row in large] == [1, 2, 3] and [row["step"] for row in large] == [4, 8, 12]
    assert all(p["seeds"][0]["epoch"] in (3, 12) for p in sweep.results()["points"])


def test_a_sweeps_weights_are_its_stacks_parameters():
    """What the Sweeps page's memory limit counts, against the parameters the stacks really hold: both kinds of
    sweep, and n·k fixed (wider layers at higher rates, capped at the instance's width)."""
    for spec in (SweepSpec(over="rate", rates=(0.0, 0.5, 0.9), mode="fixed-kept", seeds=2, base=TOY),
                 SweepSpec(over="rate", rates=(0.0, 0.5), seeds=3, base=TOY),
                 SweepSpec(over="size", sizes=(30, 120), seeds=2, base=TOY)):
        sweep = Sweep(spec)
        held = sum(p.numel() for g in sweep.groups for p in g.trainer.model.parameters())
        assert spec.weights(sweep.data.n_features, sweep.data.n_classes) == held


def test_a_bounded_advance_takes_the_stacks_in_turn_one_step_each():
    """A frame's slice may hold less than one step of every stack (the page's widest sweep: ~6 s for one round),
    so a bounded advance steps one stack at a time and goes on where the last one stopped."""
    sweep = Sweep(SweepSpec(over="size", sizes=(30, 60, 120), seeds=1, base=TOY))
    for _ in range(4):
        sweep.advance(max_seconds=0.0)
    assert [g.trainer.step for g in sweep.groups] == [2, 1, 1]
