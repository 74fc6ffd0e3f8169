"""Benchmarks of the batched engine: K models stacked vs the same K trained one after another, and a sweep.

Part of ``python -m explorer bench``. Both sides train the same K models
(same configs, data, batch orders and epochs, with dropout on) in the same
run; repeats alternate which side goes first, and the ratio reported is the
median of the per-repeat ratios, so both sides of a pair share the machine's
noise of the moment.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from explorer.core.batched import StackedMLP, StackedTrainer
from explorer.core.datasets import DataConfig, Dataset, make_toy
from explorer.core.mnist import make_mnist
from explorer.core.experiment import Experiment, build
from explorer.sweep.state import SWEEP_VARIANTS, SweepSpec, run_sweep

MODELS = 8
SWEEP_TARGET_S = 60.0


@dataclass(frozen=True)
class BatchedCase:
    name: str
    data: Callable[[], Dataset]
    base: Experiment  # the models' settings (widths, optimiser, epochs, rates, variant); seeds 0 … MODELS-1
    target: float  # batched speed-up over one after another


TOY = Experiment(hidden=(32, 32), batch_size=32, epochs=10, p=0.5, input_p=0.2)
BATCHED_CASES = (
    BatchedCase("toy 2-32-32-2", lambda: make_toy(DataConfig("moons", train_size=500, val_size=200, noise=0.2)),
                TOY, 3.0),
    BatchedCase("MNIST subset 784-256-256-10", lambda: make_mnist("mnist", 4000, 1000, 0),
                Experiment(hidden=(256, 256), optimizer="sgd", lr=0.05, batch_size=64, epochs=1, p=0.5, input_p=0.2),
                1.5),
)
# Every other variant a sweep compares, on the toy case: each model's noise is its own (a call per model and layer),
# so the stack's gain is what batching the products buys beside that; it must not be slower than one after another.
VARIANT_CASES = tuple(replace(BATCHED_CASES[0], name=f"toy, {v}", base=replace(TOY, variant=v), target=1.0)
                      for v in SWEEP_VARIANTS if v != "standard")


def _models(case: BatchedCase) -> list[Experiment]:
    return [replace(case.base, seed=s) for s in range(MODELS)]


def _batched(case: BatchedCase, data: Dataset) -> float:
    start = time.perf_counter()
    exps = _models(case)
    StackedTrainer(StackedMLP([e.model_config(data.n_features, data.n_classes) for e in exps]), data,
                   case.base.train_config(), [e.seed for e in exps], schedules=[e.schedule() for e in exps]).run()
    return time.perf_counter() - start


def _sequential(case: BatchedCase, data: Dataset) -> float:
    start = time.perf_counter()
    for exp in _models(case):
        build(exp, data).run()
    return time.perf_counter() - start


def measure_batched_case(case: BatchedCase, repeats: int) -> dict[str, Any]:
    data = case.data()
    _batched(case, data), _sequential(case, data)  # warm up both
    batched, sequential = [], []
    for r in range(repeats):
        for side in ((_batched, batched), (_sequential, sequential))[:: 1 if r % 2 == 0 else -1]:
            side[1].append(side[0](case, data))
    ratio = statistics.median(s / b for s, b in zip(sequential, batched))
    return {"name": case.name, "models": MODELS, "epochs": case.base.epochs, "train_examples": len(data.y_train),
            "batched_s": statistics.median(batched), "sequential_s": statistics.median(sequential),
            "speedup": ratio, "target": case.target, "pass": ratio >= case.target}


def measure_sweep(spec: SweepSpec = SweepSpec()) -> dict[str, Any]:
    """The issue's sweep: 10 rates on the MNIST subset, 3 seeds, 10 epochs."""
    result = run_sweep(spec)
    best = min(result["points"], key=lambda p: p["val_error_mean"])
    return {"rates": len(spec.rates), "seeds": spec.seeds, "epochs": spec.base.epochs, "models": spec.models(),
            "hidden": list(spec.base.hidden), "seconds": result["seconds"], "target_s": SWEEP_TARGET_S,
            "pass": result["seconds"] < SWEEP_TARGET_S, "best_rate": best["x"], "best_val_error": best["val_error_mean"],
            "no_dropout_val_error": result["points"][0]["val_error_mean"]}


def batched_lines(cases: list[dict[str, Any]], sweep: dict[str, Any]) -> list[str]:
    lines = [f"Batched engine: {MODELS} models stacked vs the same {MODELS} trained one after another (medians; "
             "dropout on: q = 0.5, inputs 0.2)"]
    for c in cases:
        verdict = "PASS" if c["pass"] else "BELOW"
        lines.append(f"  {c['name']:<30} {c['epochs']} epochs: batched {c['batched_s']:.2f} s, one after another "
                     f"{c['sequential_s']:.2f} s, {c['speedup']:.2f}×   target ≥ {c['target']:g}×  {verdict}")
    verdict = "PASS" if sweep["pass"] else "BELOW"
    lines += [f"Rate sweep: {sweep['rates']} rates × {sweep['seeds']} seeds, {sweep['epochs']} epochs, "
              f"784-{'-'.join(map(str, sweep['hidden']))}-10 on the MNIST subset: {sweep['seconds']:.1f} s   "
              f"target < {sweep['target_s']:g} s  {verdict}",
              f"  best validation error {sweep['best_val_error']:.2%} at q = {sweep['best_rate']:g}; "
              f"without dropout {sweep['no_dropout_val_error']:.2%}", ""]
    return lines
