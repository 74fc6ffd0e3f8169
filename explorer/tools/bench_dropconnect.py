"""Benchmark of DropConnect's training step beside standard dropout's and a bare torch loop's (issue #16).

Part of ``python -m explorer bench``. On 784-512-512 and the MNIST subset, the
milliseconds of one training step (SGD, batch 64) of: a bare torch loop with
``nn.Dropout``, the ``Trainer`` with standard dropout, with DropConnect's mask
per mini-batch, and with exact DropConnect (a mask per example: far fewer
steps, it is hundreds of times slower). Repeats alternate the order; ratios are
medians of per-repeat ratios to standard dropout's step, so both sides of a
ratio share the machine's noise of the moment.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

from explorer.core.datasets import Dataset
from explorer.core.mnist import make_mnist
from explorer.core.model import MLP, MLPConfig
from explorer.core.training import TrainConfig, Trainer
from explorer.tools.bare import bare_steps, bare_twin

MODEL = MLPConfig(n_in=784, hidden=(512, 512), n_out=10, p=0.5, input_p=0.2)
TRAIN = TrainConfig(optimizer="sgd", lr=0.05, batch_size=64, epochs=10**9)
STEPS = {"bare": 20, "standard": 20, "dropconnect-batch": 20, "dropconnect": 2}  # steps a repeat times
TARGET = 5.0  # DropConnect's step within this many of standard dropout's (issue #16)


def _bare(data: Dataset) -> Callable[[int], None]:
    """The same network by hand (``bare_twin``: torch's Linear, ReLU and nn.Dropout), torch's SGD."""
    return bare_steps(bare_twin(MLP(MODEL)), data, TRAIN)


def _trainer(data: Dataset, variant: str) -> Callable[[int], None]:
    trainer = Trainer(MLP(MLPConfig(**{**MODEL.__dict__, "variant": variant})), data, TRAIN)
    return lambda steps: trainer.run(max_steps=steps)


def measure_dropconnect(repeats: int) -> dict[str, Any]:
    data = make_mnist("mnist", 4000, 1000, 0)
    runners = {"bare": _bare(data), **{v: _trainer(data, v) for v in ("standard", "dropconnect-batch", "dropconnect")}}
    for name, run in runners.items():  # warm up
        run(1)
    ms: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            runners[name](STEPS[name])
            ms[name].append((time.perf_counter() - start) / STEPS[name] * 1000)
    rows = {name: {"step_ms": statistics.median(times),
                   "vs_standard": statistics.median(t / s for t, s in zip(times, ms["standard"]))}
            for name, times in ms.items()}
    batch = rows["dropconnect-batch"]["vs_standard"]
    return {"model": "784-512-512-10", "batch_size": TRAIN.batch_size, "steps": rows, "target": TARGET,
            "pass": batch <= TARGET}


def dropconnect_lines(result: dict[str, Any]) -> list[str]:
    steps = result["steps"]
    lines = [f"DropConnect on {result['model']}, MNIST subset, batch {result['batch_size']}: ms per training step "
             "(medians; × standard dropout's step)"]
    for name, label in (("bare", "bare torch loop, nn.Dropout"), ("standard", "Trainer, standard dropout"),
                        ("dropconnect-batch", "Trainer, DropConnect, a mask per batch"),
                        ("dropconnect", "Trainer, DropConnect, a mask per example")):
        row = steps[name]
        verdict = (f"   target ≤ {result['target']:g}×  {'PASS' if result['pass'] else 'BELOW'}"
                   if name == "dropconnect-batch" else "")
        lines.append(f"  {label:<40} {row['step_ms']:8.1f} ms  {row['vs_standard']:7.2f}×{verdict}")
    return lines + [""]
