"""Benchmark of the Inside page's CNN (issue #16): its training step beside a bare torch loop's, and an epoch
of the page's run (the CNN and its no-dropout twin) beside the CNN the issue found.

Part of ``python -m explorer bench``. The MNIST defaults with ``model = cnn``
(a dense layer of 512, SGD, batch 64, 4,000 / 1,000 digits of the subset). The
issue's CNN, timed in the same run as the reference of its 3× target, is the
CNN as the issue found it: 16 and 32 channels, torch's pooling kernel in
evaluation too, and its sets evaluated in chunks of 1,024 digits.
Repeats alternate the order; ratios are medians of per-repeat ratios, so both
sides of a ratio share the machine's noise of the moment.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from typing import Any, Callable

import torch
from torch import nn

from explorer.core.cnn import CNN, CNNConfig
from explorer.core.datasets import Dataset
from explorer.core.experiment import Experiment, defaults_for, make_data
from explorer.core.training import Trainer
from explorer.tools.bare import bare_cnn, bare_steps

EXP = replace(defaults_for("mnist"), model="cnn", epochs=10**6)
ISSUE_CHANNELS, ISSUE_EVAL_CHUNK = (16, 32), 1024
STEPS = 20     # training steps a repeat times
TARGET = 3.0   # the page's run with its twin: this many times the issue's epochs a second


def _trainer(exp: Experiment, data: Dataset, as_the_issue_found_it: bool = False) -> Trainer:
    if not as_the_issue_found_it:
        return Trainer(CNN(exp.cnn_config()), data, exp.train_config())
    model = CNN(replace(exp.cnn_config(), channels=ISSUE_CHANNELS))
    model.eval_chunk = ISSUE_EVAL_CHUNK
    for block in model.blocks:
        block[2] = nn.MaxPool2d(2)  # torch's kernel, with or without gradients
    return Trainer(model, data, exp.train_config())


def _bare(data: Dataset) -> Callable[[int], None]:
    """The same CNN by hand (``bare_cnn``: torch's Conv2d, MaxPool2d, Dropout2d and Dropout), torch's SGD."""
    return bare_steps(bare_cnn(CNN(EXP.cnn_config())), data, EXP.train_config())


def _steps(trainer: Trainer) -> Callable[[int], None]:
    def run(steps: int) -> None:
        for _ in range(steps):
            trainer._train_step()
    return run


def _pair_epoch(run: Trainer, twin: Trainer) -> None:
    """One epoch of a run and its twin, as the Inside page trains them: the steps, then each one's evaluation of
    the training and validation digits."""
    for trainer in (run, twin):
        epoch = trainer.epoch
        while trainer.epoch == epoch:
            trainer.run(max_steps=1)


def _data() -> Dataset:
    return make_data(EXP)


def measure_cnn(repeats: int) -> dict[str, Any]:
    data = _data()
    trainers = {"trainer": _trainer(EXP, data), "twin": _trainer(EXP.without_dropout(), data)}
    steps: dict[str, Callable[[int], None]] = {"bare": _bare(data), **{k: _steps(t) for k, t in trainers.items()}}
    pairs = {"today": (trainers["trainer"], trainers["twin"]),
             "issue": (_trainer(EXP, data, as_the_issue_found_it=True),
                       _trainer(EXP.without_dropout(), data, as_the_issue_found_it=True))}
    for step in steps.values():  # warm up
        step(1)
    for pair in pairs.values():  # and start at an epoch's beginning
        _pair_epoch(*pair)
    ms: dict[str, list[float]] = {name: [] for name in steps}
    epoch_s: dict[str, list[float]] = {name: [] for name in pairs}
    for r in range(repeats):
        for name in list(steps)[r % 3:] + list(steps)[: r % 3]:
            start = time.perf_counter()
            steps[name](STEPS)
            ms[name].append((time.perf_counter() - start) / STEPS * 1000)
        for name in list(pairs)[r % 2:] + list(pairs)[: r % 2]:
            start = time.perf_counter()
            _pair_epoch(*pairs[name])
            epoch_s[name].append(time.perf_counter() - start)
    speedup = statistics.median(i / t for i, t in zip(epoch_s["issue"], epoch_s["today"]))
    cfg = CNNConfig()
    return {"model": f"784 → {cfg.channels[0]} → {cfg.channels[1]} maps → {EXP.hidden[0]} → 10",
            "issue_channels": list(ISSUE_CHANNELS), "batch_size": EXP.batch_size, "threads": torch.get_num_threads(),
            "step_ms": {name: statistics.median(times) for name, times in ms.items()},
            "vs_bare": statistics.median(t / b for t, b in zip(ms["trainer"], ms["bare"])),
            "epoch_s": {name: statistics.median(times) for name, times in epoch_s.items()},
            "speedup": speedup, "target": TARGET, "pass": speedup >= TARGET}


def cnn_lines(result: dict[str, Any]) -> list[str]:
    step, epoch = result["step_ms"], result["epoch_s"]
    c1, c2 = result["issue_channels"]
    return [f"The Inside page's CNN, {result['model']}, MNIST subset, batch {result['batch_size']}, "
            f"torch threads: {result['threads']} (medians)",
            f"  training step, bare torch loop (nn.Dropout2d, nn.Dropout) {step['bare']:8.1f} ms",
            f"  training step, Trainer                                   {step['trainer']:8.1f} ms  "
            f"{result['vs_bare']:5.2f}× the bare loop's",
            f"  training step, Trainer, its no-dropout twin              {step['twin']:8.1f} ms",
            f"  an epoch of the run and its twin (steps and evaluation)  {epoch['today']:8.2f} s",
            f"  the same with the issue's CNN ({c1} and {c2} channels)        {epoch['issue']:8.2f} s   "
            f"{result['speedup']:.2f}× faster now, target ≥ {result['target']:g}×  "
            f"{'PASS' if result['pass'] else 'BELOW'}", ""]
