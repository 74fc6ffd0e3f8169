"""The chunked trainer: reproducibility, fair no-dropout twins, live rate changes, chunking, max-norm."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from explorer.core.cnn import CNN, CNNConfig
from explorer.core.datasets import DataConfig, Dataset, make_toy
from explorer.core.experiment import Experiment, build
from explorer.core.model import MLP, MLPConfig
from explorer.core.training import TrainConfig, Trainer

Z = 5.0
DATA = make_toy(DataConfig("moons", train_size=100, val_size=60, noise=0.2, seed=0))
STEPS_PER_EPOCH = math.ceil(100 / 32)  # 32, 32, 32, 4


def make_trainer(p: float = 0.5, input_p: float = 0.0, model_seed: int = 0, data=DATA,
                 hidden=(32, 32), variant: str = "standard", **train) -> Trainer:
    cfg = MLPConfig(n_in=2, hidden=hidden, n_out=2, p=p, input_p=input_p, variant=variant, seed=model_seed)
    train.setdefault("epochs", 5)
    return Trainer(MLP(cfg), data, TrainConfig(**train))


def params(trainer: Trainer) -> list[torch.Tensor]:
    return [t.detach().clone() for t in trainer.model.parameters()]


def same_params(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def optimizer_state(trainer: Trainer) -> list[dict]:
    return [copy.deepcopy(trainer.optimizer.state[p]) for p in trainer.model.parameters()]


def same_state(a: list[dict], b: list[dict]) -> bool:
    if len(a) != len(b):
        return False
    for sa, sb in zip(a, b):
        if sa.keys() != sb.keys():
            return False
        for key in sa:
            if not torch.equal(torch.as_tensor(sa[key]), torch.as_tensor(sb[key])):
                return False
    return True


def assert_binomial(kept: int, n: int, k: float) -> None:
    bound = Z * math.sqrt(n * k * (1 - k))
    assert abs(kept - n * k) <= bound, f"kept {kept} of {n}, expected {n * k:.0f} ± {bound:.0f}"


# --- reproducibility ---------------------------------------------------------

@pytest.mark.parametrize("optimizer", ("adam", "sgd"))
def test_same_configs_give_identical_histories(optimizer):
    a = make_trainer(optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 0.01)
    b = make_trainer(optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 0.01)
    a.run()
    b.run()
    assert a.history == b.history
    assert same_params(params(a), params(b))


def test_different_seeds_give_different_runs():
    base = make_trainer()
    base.run()
    other_order = make_trainer(seed=1)       # batch order
    other_model = make_trainer(model_seed=1)  # initial weights and masks
    other_order.run()
    other_model.run()
    assert other_order.history != base.history
    assert other_model.history != base.history
    assert not same_params(params(other_order), params(base))


def _batch_indices(trainer: Trainer) -> list[list[int]]:
    """Which training rows each step saw, read off the model's input (rows of the toy data are distinct)."""
    lookup = {tuple(row.tolist()): i for i, row in enumerate(trainer.data.x_train)}
    assert len(lookup) == len(trainer.data.x_train)
    seen: list[list[int]] = []

    def hook(module, args):
        if module.training:  # evaluation passes run in eval mode
            seen.append([lookup[tuple(row.tolist())] for row in args[0]])

    trainer.model.register_forward_pre_hook(hook)
    return seen


def test_no_dropout_twin_starts_identical_and_sees_the_same_batches():
    exp = Experiment(dataset="moons", train_size=50, val_size=40, hidden=(16, 16), p=0.5, input_p=0.2,
                     batch_size=16, epochs=3, seed=11)
    twin_exp = exp.without_dropout()
    assert (twin_exp.p, twin_exp.input_p) == (0.0, 0.0)
    assert replace(twin_exp, p=exp.p, input_p=exp.input_p) == exp
    run, twin = build(exp), build(twin_exp)
    assert torch.equal(run.data.x_train, twin.data.x_train) and torch.equal(run.data.y_train, twin.data.y_train)
    assert same_params(params(run), params(twin))
    assert [d.p for d in run.model.dropouts] == [0.2, 0.5, 0.5]
    assert [d.p for d in twin.model.dropouts] == [0.0, 0.0, 0.0]

    seen_run, seen_twin = _batch_indices(run), _batch_indices(twin)
    run.run()
    twin.run()
    assert seen_run == seen_twin
    # and the order is torch.randperm with the trainer's seed, one permutation per epoch
    order = torch.Generator().manual_seed(exp.seed)
    expected = []
    for _ in range(exp.epochs):
        expected += [b.tolist() for b in torch.randperm(exp.train_size, generator=order).split(exp.batch_size)]
    assert seen_run == expected
    assert not same_params(params(run), params(twin))  # dropout did change the training


# --- changing the rate mid-training -----------------------------------------

def test_set_rates_mid_training_keeps_weights_and_optimizer_state():
    trainer = make_trainer(p=0.5, input_p=0.0, hidden=(128, 128), epochs=10)
    reference = make_trainer(p=0.5, input_p=0.0, hidden=(128, 128), epochs=10)
    trainer.model.capture(True)
    masks: list[tuple[int, torch.Tensor, list[torch.Tensor]]] = []
    trainer.add_callback("on_step_end", lambda t: masks.append(
        (t.step, t.model.last_trace().input_mask.clone(), [layer.mask.clone() for layer in t.model.last_trace().layers])))

    assert trainer.run(max_steps=6) == 6
    reference.run(max_steps=6)
    before, state_before = params(trainer), optimizer_state(trainer)
    assert same_params(before, params(reference))  # capture does not disturb training

    trainer.set_rates(p=0.1, input_p=0.2)
    assert same_params(before, params(trainer))
    assert same_state(state_before, optimizer_state(trainer))
    assert trainer.step == 6 and trainer.epoch == 1
    assert [d.p for d in trainer.model.dropouts] == pytest.approx([0.2, 0.1, 0.1])

    trainer.run(max_steps=2 * STEPS_PER_EPOCH)
    # Adam's step counter kept counting: the optimiser was not rebuilt
    assert all(float(trainer.optimizer.state[p]["step"]) == 6 + 2 * STEPS_PER_EPOCH
               for p in trainer.model.parameters())

    old = [m for m in masks if m[0] <= 6]
    new = [m for m in masks if m[0] > 6]
    assert len(old) == 6 and len(new) == 2 * STEPS_PER_EPOCH
    assert all(m[1].all() for m in old)  # input rate 0 before the change
    kept_hidden_old = sum(int(h.sum()) for m in old for h in m[2])
    n_hidden_old = sum(h.numel() for m in old for h in m[2])
    assert_binomial(kept_hidden_old, n_hidden_old, 0.5)
    kept_in = sum(int(m[1].sum()) for m in new)
    n_in = sum(m[1].numel() for m in new)
    assert_binomial(kept_in, n_in, 0.8)
    kept_hidden = sum(int(h.sum()) for m in new for h in m[2])
    n_hidden = sum(h.numel() for m in new for h in m[2])
    assert_binomial(kept_hidden, n_hidden, 0.9)

    # history: the rate in effect at the end of each epoch
    assert [(h["epoch"], h["p"], h["input_p"]) for h in trainer.history] == [
        (1, 0.5, 0.0), (2, 0.1, 0.2), (3, 0.1, 0.2)]


# --- chunked running ----------------------------------------------------------

def test_run_takes_exactly_max_steps():
    trainer = make_trainer(epochs=10)
    assert trainer.run(max_steps=5) == 5 and trainer.step == 5
    assert trainer.run(max_steps=3) == 3 and trainer.step == 8
    assert trainer.run(max_steps=0) == 0 and trainer.step == 8
    assert trainer.epoch == 8 // STEPS_PER_EPOCH


def test_run_with_a_time_budget_returns_in_bounded_time():
    trainer = make_trainer(epochs=1_000_000)
    t0 = time.perf_counter()
    taken = trainer.run(max_seconds=0.05)
    elapsed = time.perf_counter() - t0
    assert taken >= 1 and trainer.step == taken
    assert 0.05 <= elapsed < 0.05 + 1.0  # stops at the first step boundary after the budget
    assert trainer.run(max_seconds=0.0) == 1  # always at least one step


def test_two_chunks_equal_one_chunk():
    n = 7  # crosses epoch boundaries (4 steps per epoch) inside both chunks
    a, b = make_trainer(epochs=10), make_trainer(epochs=10)
    a.run(max_steps=n)
    a.run(max_steps=n)
    b.run(max_steps=2 * n)
    assert a.step == b.step == 2 * n
    assert same_params(params(a), params(b))
    assert same_state(optimizer_state(a), optimizer_state(b))
    assert a.history == b.history


def test_time_sliced_run_equals_an_uninterrupted_run():
    """The live page's pattern: many small time slices until done, evaluating in between."""
    a, b = make_trainer(epochs=4), make_trainer(epochs=4)
    slices = 0
    while not a.done:
        a.run(max_seconds=0.0)
        a.evaluate(DATA.x_val, DATA.y_val)  # a redraw between slices leaves the model in eval mode
        slices += 1
    b.run()
    assert slices == 4 * STEPS_PER_EPOCH
    assert a.history == b.history
    assert same_params(params(a), params(b))


def test_full_run_stops_at_the_last_epoch():
    trainer = make_trainer(epochs=3)
    steps_seen = []
    epochs_seen = []
    trainer.add_callback("on_step_end", lambda t: steps_seen.append(t.step))
    trainer.add_callback("on_epoch_end", lambda t: epochs_seen.append(t.epoch))
    assert trainer.run() == 3 * STEPS_PER_EPOCH
    assert trainer.done and trainer.run() == 0
    assert [h["epoch"] for h in trainer.history] == [1, 2, 3]
    assert [h["step"] for h in trainer.history] == [4, 8, 12]
    assert steps_seen == list(range(1, 13)) and epochs_seen == [1, 2, 3]
    assert trainer.final() == {k: trainer.history[-1][k] for k in ("train_loss", "val_loss", "train_acc", "val_acc")}


def test_unknown_optimizer_is_rejected():
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_trainer(optimizer="lbfgs")


# --- max-norm -------------------------------------------------------------------

def test_max_norm_bounds_every_hidden_units_incoming_weights():
    c = 0.4
    trainer = make_trainer(max_norm=c, lr=0.05, epochs=100)
    # the constraint is binding: before training, many rows exceed c
    assert max(lin.weight.norm(dim=1).max().item() for lin in trainer.model.linears[:-1]) > c
    worst = []

    def check(t: Trainer) -> None:
        worst.append(max(lin.weight.norm(dim=1).max().item() for lin in t.model.linears[:-1]))

    trainer.add_callback("on_step_end", check)
    trainer.run(max_steps=20)
    assert len(worst) == 20
    assert max(worst) <= c + 1e-6
    assert max(worst) >= c - 1e-3  # some rows sit on the constraint
    # the same run without max-norm leaves rows above c
    free = make_trainer(lr=0.05, epochs=100)
    free.run(max_steps=20)
    assert max(lin.weight.norm(dim=1).max().item() for lin in free.model.linears[:-1]) > c


# --- metrics --------------------------------------------------------------------

def test_history_metrics_match_a_manual_inference_pass():
    trainer = make_trainer(p=0.5, input_p=0.2, epochs=2)
    trainer.run()
    model = trainer.model
    assert model.training  # run() leaves the model ready to train
    model.eval()
    with torch.no_grad():
        for split in ("train", "val"):
            x, y = getattr(DATA, f"x_{split}"), getattr(DATA, f"y_{split}")
            logits = model(x)
            loss = -(logits.log_softmax(1)[torch.arange(len(y)), y]).mean().item()
            acc = (logits.argmax(1) == y).double().mean().item()
            assert trainer.history[-1][f"{split}_loss"] == pytest.approx(loss, rel=1e-5)
            assert trainer.history[-1][f"{split}_acc"] == pytest.approx(acc, abs=1e-6)
            assert loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)


def test_evaluate_is_in_inference_mode():
    trainer = make_trainer(p=0.5, input_p=0.2)
    trainer.model.train()
    first = trainer.evaluate(DATA.x_val, DATA.y_val)
    second = trainer.evaluate(DATA.x_val, DATA.y_val)
    assert first == second


def _single_pass(model, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).double().mean().item()


def test_chunked_evaluate_equals_a_single_pass():
    """Chunks of any size, the last one short, give the whole set's mean loss and accuracy."""
    trainer = make_trainer(p=0.5, input_p=0.2, epochs=1)
    trainer.run()
    full = _single_pass(trainer.model, DATA.x_train, DATA.y_train)
    for chunk in (1, 7, 32, 99, 100, 4096):
        loss, acc = trainer.evaluate(DATA.x_train, DATA.y_train, chunk=chunk)
        assert loss == pytest.approx(full[0], rel=1e-5) and acc == pytest.approx(full[1], abs=1e-9), chunk


def test_a_cnn_evaluates_a_set_larger_than_the_chunk_as_one_pass():
    gen = torch.Generator().manual_seed(0)
    n = CNN.eval_chunk * 2 + CNN.eval_chunk // 2 + 3   # full chunks and a short one
    x, y = torch.rand(n, 784, generator=gen), torch.randint(10, (n,), generator=gen)
    data = Dataset("noise", x[:8], y[:8], x, y, n_classes=10)
    trainer = Trainer(CNN(CNNConfig(hidden=16, p=0.5, conv_p=0.2)), data, TrainConfig(epochs=1))
    trainer.run(max_steps=1)
    assert trainer.evaluate(x, y) == pytest.approx(_single_pass(trainer.model, x, y), rel=1e-5)


def test_set_rates_reaches_a_cnns_conv_maps_and_refuses_conv_p_for_an_mlp():
    cnn = Trainer(CNN(CNNConfig(hidden=8)), DATA, TrainConfig())
    cnn.set_rates(p=0.3, input_p=0.1)
    assert [d.p for d in cnn.model.dropouts] == [0.1, 0.1, 0.1, 0.3]   # conv_p untouched unless given
    cnn.set_rates(conv_p=0.4)
    assert [d.p for d in cnn.model.dropouts] == [0.1, 0.4, 0.4, 0.3]
    mlp = make_trainer()
    with pytest.raises(ValueError, match="CNN"):
        mlp.set_rates(conv_p=0.2)
    mlp.set_rates(p=0.1)
    assert mlp.model.hidden_rate == 0.1


def test_training_learns_an_easy_dataset():
    data = make_toy(DataConfig("blobs", train_size=200, val_size=200, noise=0.0, seed=1))
    trainer = make_trainer(data=data, p=0.2, epochs=6)
    trainer.run()
    assert trainer.history[-1]["train_loss"] < trainer.history[0]["train_loss"]
    assert trainer.history[-1]["val_acc"] >= 0.95


def test_retune_changes_live_settings_without_touching_weights_or_optimizer_state():
    trainer = make_trainer(lr=0.01, epochs=10)
    trainer.run(max_steps=5)
    before, state = params(trainer), optimizer_state(trainer)
    trainer.retune(lr=0.002, max_norm=0.3)
    assert same_params(before, params(trainer)) and same_state(state, optimizer_state(trainer))
    assert all(group["lr"] == 0.002 for group in trainer.optimizer.param_groups)
    trainer.run(max_steps=1)
    assert max(lin.weight.norm(dim=1).max().item() for lin in trainer.model.linears[:-1]) <= 0.3 + 1e-6
    with pytest.raises(ValueError):
        trainer.retune(batch_size=8)
