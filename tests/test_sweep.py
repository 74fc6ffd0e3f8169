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
