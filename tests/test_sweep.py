"""How often the batched engine evaluates, and the size sweep's use of it (the rest is in tests/test_batched.py)."""

from __future__ import annotations

import gc
import io

import pytest
import torch

from explorer import settings
from explorer.core.batched import StackedMLP, StackedTrainer
from explorer.core.datasets import DataConfig, make_toy
from explorer.core.experiment import Experiment
from explorer.core.model import MLP, MLPConfig
from explorer.sweep.state import Sweep, SweepSpec, pack, run_sweep, weights_of
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
    small, large = (g.histories[0] for g in sweep.groups)
    assert [row["epoch"] for row in small] == [4, 8, 12] and [row["step"] for row in small] == [4, 8, 12]
    assert [row["epoch"] for row in large] == [1, 2, 3] and [row["step"] for row in large] == [4, 8, 12]
    assert all(p["seeds"][0]["epoch"] in (3, 12) for p in sweep.results()["points"])


@pytest.mark.parametrize("over", ["rate", "size"])
def test_a_sweep_evaluated_less_often_gives_the_same_results(over):
    """``evaluations``: the models train the same, only fewer epochs are evaluated (the last always), so the results,
    every seed's last epoch, are the same numbers; a headless sweep (run_sweep, the command line) evaluates once."""
    base = Experiment(dataset="moons", train_size=120, val_size=60, hidden=(16, 16), epochs=6, batch_size=32)
    spec = SweepSpec(over=over, rates=(0.0, 0.5), sizes=(30, 120), seeds=2, base=base, variants=("standard", "early"))
    every, twice = Sweep(spec), Sweep(spec, evaluations=2)
    every.advance()
    twice.advance()
    assert twice.results()["points"] == every.results()["points"]
    last = [g.histories[0][-1]["epoch"] for g in twice.groups]
    assert [[row["epoch"] for row in g.histories[0]] for g in twice.groups] == [[e // 2, e] for e in last]
    assert run_sweep(spec)["points"] == every.results()["points"]
    with pytest.raises(ValueError, match="at least once"):
        Sweep(spec, evaluations=0)


def test_a_sweep_keeps_its_finished_models_weights_on_disk_and_bundles_them():
    """Each stack's models go to the sweep's folder when it is done (its weights leave memory); the bundle names
    every model and each loads into MLP(cfg) as the stack held it; the folder goes with the sweep."""
    spec = SweepSpec(over="rate", rates=(0.0, 0.5), seeds=2, base=TOY, variants=("standard", "gaussian"))
    sweep = Sweep(spec, keep_weights=True)
    assert sweep.weights_problem() == "no model of the sweep has finished yet"
    with pytest.raises(ValueError, match="finished"):
        sweep.weights()
    group = sweep.groups[0]
    group.run(max_steps=group.steps - 1)
    stack = group.trainer.model
    sweep.advance()
    states = torch.load(io.BytesIO(sweep.weights()), weights_only=True)
    names = ["no dropout q=0 seed 0", "no dropout q=0 seed 1", "standard q=0.5 seed 0", "standard q=0.5 seed 1",
             "gaussian q=0.5 seed 0", "gaussian q=0.5 seed 1"]
    assert list(states) == names
    for k, name in enumerate(names):
        model = MLP(stack.configs[k])
        model.load_state_dict(states[name])
        theirs = stack.member(k).state_dict()
        assert all(torch.equal(value, theirs[key]) for key, value in model.state_dict().items())
    assert "MB a page sends" in sweep.weights_problem(limit=100)
    assert Sweep(spec).weights_problem() == "this sweep does not keep its models' weights"
    folder = sweep.saved.folder
    assert folder.is_dir() and group.trainer is None
    del sweep, group
    gc.collect()
    assert not folder.exists()


def test_weights_of_counts_a_models_parameters():
    for cfg in (MLPConfig(n_in=784, hidden=(512, 256), n_out=10), MLPConfig(hidden=(3,))):
        assert weights_of(cfg) == sum(p.numel() for p in MLP(cfg).parameters())


def test_pack_keeps_a_point_in_one_stack_unless_it_alone_is_too_large():
    assert pack([[2, 2], [2, 2], [2, 2]], cap=8) == [[0, 1, 2, 3], [4, 5]]
    assert pack([[2, 2], [5, 5], [1]], cap=8) == [[0, 1], [2], [3, 4]]
    assert pack([[9], [1]], cap=8) == [[0], [1]]  # a model larger than a stack trains alone


def test_a_sweep_holds_one_stack_at_a_time(monkeypatch: pytest.MonkeyPatch):
    """Stacks of two models (one point of two seeds each): built when their turn comes, dropped when done, each
    model trained to its last step, and every point as when the sweep fitted in one stack."""
    spec = SweepSpec(over="rate", rates=(0.0, 0.5, 0.9), seeds=2, base=TOY)
    whole = Sweep(spec)
    whole.advance()
    one = weights_of(TOY.model_config(2, 2))
    monkeypatch.setattr(settings, "SWEEP_STACK_MAX_WEIGHTS", 2 * one)
    split = Sweep(spec)
    assert [len(g.seeds) for g in whole.groups] == [6] and [len(g.seeds) for g in split.groups] == [2, 2, 2]
    built = []
    while not split.advance(max_seconds=0.0):
        built.append(sum(g.trainer is not None for g in split.groups))
    assert max(built) == 1 and all(g.trainer is None for g in split.groups)
    assert [g.step for g in split.groups] == [g.step for g in whole.groups] * 3
    shape = [(p["x"], p["hidden"], p["dropout"], [r["epoch"] for r in p["seeds"]]) for p in whole.results()["points"]]
    assert [(p["x"], p["hidden"], p["dropout"], [r["epoch"] for r in p["seeds"]])
            for p in split.results()["points"]] == shape
    assert split.progress == 1.0


def test_a_bounded_advance_steps_the_stacks_in_order_and_reads_the_clock_after_each_step():
    """A frame's slice may hold less than one step (the page's widest sweep: ~6 s for one step of every stack, when
    they trained at once), so a bounded advance takes at least one step and goes on where the last one stopped."""
    sweep = Sweep(SweepSpec(over="size", sizes=(30, 60, 120), seeds=1, base=TOY))
    for _ in range(4):
        sweep.advance(max_seconds=0.0)
    assert [g.step for g in sweep.groups] == [4, 0, 0]
    assert sweep.groups[0].trainer is not None and sweep.groups[1].trainer is None
