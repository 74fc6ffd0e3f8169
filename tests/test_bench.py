"""The bench report's shape and its fairness rules; never its speed (timings are not test material)."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import torch

from explorer.tools import bare, bench, bench_cnn
from explorer.tools.bare import bare_cnn
from explorer.core.cnn import CNN, CNNConfig
from explorer.core.datasets import Dataset
from explorer.core.experiment import Experiment
from explorer.core.model import MLP, MLPConfig
from explorer.sweep.state import SWEEP_VARIANTS, SweepSpec
from explorer.core.training import make_optimizer


def _head(data: Dataset, n: int = 128) -> Dataset:
    """A case's data cut short: the bench's code paths at a fraction of its cost."""
    return replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n], x_val=data.x_val[:n], y_val=data.y_val[:n])


def test_run_bench_prints_one_json_object_with_every_number(capsys, monkeypatch):
    small = tuple(replace(case, data=lambda case=case: _head(case.data())) for case in bench.CASES)
    monkeypatch.setattr(bench, "CASES", small)
    for cases in ("BATCHED_CASES", "VARIANT_CASES"):
        monkeypatch.setattr(bench, cases, tuple(replace(case, data=lambda case=case: _head(case.data()))
                                                for case in getattr(bench, cases)))
    monkeypatch.setattr(bench_cnn, "_data", lambda: _head(bench_cnn.make_data(bench_cnn.EXP)))
    sweep = SweepSpec(rates=(0.0, 0.5), seeds=1, base=Experiment(dataset="moons", train_size=40, val_size=20,
                                                                hidden=(8,), epochs=1))
    result = bench.run_bench(repeats=1, as_json=True, app=False, repeat_seconds=0.01, frame_epochs=3, inside_steps=2,
                             sweep=sweep)
    out = capsys.readouterr().out
    assert json.loads(out) == json.loads(json.dumps(result))  # stdout holds the JSON and nothing else
    assert result["threads"] >= 1 and result["repeats"] == 1
    assert [case["name"] for case in result["cases"]] == [case.name for case in bench.CASES]
    for case in result["cases"]:
        assert case["epochs_per_repeat"] >= 1
        runs = case["runs"]
        assert set(runs) == {"bare", "trainer", "trainer_capture"}
        assert all(row["s_per_epoch"] > 0 and row["examples_per_s"] > 0 for row in runs.values())
        for name, target in bench.TARGETS.items():
            assert runs[name]["target"] == target
            assert runs[name]["pass"] == (runs[name]["ratio"] >= target)
    frame = result["frame"]
    assert frame["epochs_trained"] == 3 and frame["frames"] >= 20
    assert frame["pass"] == (frame["frame_ms"] <= frame["target_ms"])
    assert {"boundary build", "twin build", "curves to_json", "kept build", "network to_json"} <= set(frame["parts_ms"])
    assert frame["frame_kb"] > 0
    inside = result["inside_frames"]
    assert set(inside) == {"mlp", "cnn"}
    for row in inside.values():
        assert row["steps_trained"] == 2 and row["frames"] >= 10 and row["frame_ms"] > 0 and row["frame_kb"] > 0
        assert {"inputs build", "mask build", "ensemble to_json", "curves build"} <= set(row["parts_ms"])
    assert {"maps_1 build", "features build"} <= set(inside["cnn"]["parts_ms"]) | set(inside["mlp"]["parts_ms"])
    load = result["subset_load"]
    assert load["repeats"] >= 3 and load["cold_s"] > 0 and load["warm_s"] > 0
    assert result["app"]["status"].startswith("skipped")
    assert [c["name"] for c in result["batched"]] == [c.name for c in (*bench.BATCHED_CASES, *bench.VARIANT_CASES)]
    assert len(bench.VARIANT_CASES) == len(SWEEP_VARIANTS) - 1  # every variant a sweep compares, beside standard
    for case in result["batched"]:
        assert case["batched_s"] > 0 and case["sequential_s"] > 0 and case["pass"] == (case["speedup"] >= case["target"])
    assert result["sweep"]["models"] == 2 and result["sweep"]["pass"] == (result["sweep"]["seconds"] < 60)
    steps = result["dropconnect"]["steps"]
    assert set(steps) == {"bare", "standard", "dropconnect-batch", "dropconnect"} and steps["standard"]["vs_standard"] == 1
    assert all(row["step_ms"] > 0 for row in steps.values())
    assert result["dropconnect"]["pass"] == (steps["dropconnect-batch"]["vs_standard"] <= 5)
    cnn = result["cnn"]
    assert set(cnn["step_ms"]) == {"bare", "trainer", "twin"} and set(cnn["epoch_s"]) == {"today", "issue"}
    assert all(v > 0 for v in [*cnn["step_ms"].values(), *cnn["epoch_s"].values()])
    assert cnn["pass"] == (cnn["speedup"] >= 3)

    report = bench.format_report(result)  # what the command prints without --json
    verdicts = report.count("PASS") + report.count("BELOW")
    # one per Trainer run, one per batched case, one for the sweep, DropConnect, the CNN and the frame
    assert verdicts == len(bench.CASES) * len(bench.TARGETS) + len(result["batched"]) + 4
    assert "Inside page frame (CNN)" in report and "MNIST subset load" in report

    page = {"status_line": "…", "epochs_per_s": 0.5, "updates_per_s": 4.0, "pause_s": 0.3}
    first = {name: 3.0 for name in bench.FIRST_RESULT_PAGES} | {"coadaptation": 6.5}
    result["app"] = {"status": "ok", **page, "target": 5.0, "pass": False, "peak_rss_mb": 900.0,
                     "inside": {**page, "target": 2.0, "pass": True}, "first_result_s": first,
                     "first_result_target_s": bench.FIRST_RESULT_TARGET_S}
    report = bench.format_report(result)  # and with the browser's numbers: one verdict per live page and first result
    assert report.count("PASS") + report.count("BELOW") == verdicts + 2 + len(bench.FIRST_RESULT_PAGES)
    assert "/coadaptation" in report and "6.50 s  BELOW" in report
    assert report.count("0.50 epochs/s") == 2


def test_the_mnist_case_is_the_reference_run_and_the_bare_loop_uses_its_optimiser(monkeypatch):
    """Issue #3's comparison: 784-512-512-10 on the 5,000-digit subset, SGD with momentum on both sides."""
    case = next(case for case in bench.CASES if "MNIST" in case.name)
    assert (case.model.n_in, case.model.hidden, case.model.n_out) == (784, (512, 512), 10)
    assert (case.train.optimizer, case.train.lr, case.train.momentum, case.train.batch_size) == ("sgd", 0.05, 0.9, 64)
    data = case.data()
    assert (len(data.y_train), len(data.y_val)) == (4000, 1000)
    made: list[torch.optim.Optimizer] = []

    def spy(params, cfg):
        made.append(make_optimizer(params, cfg))
        return made[-1]

    monkeypatch.setattr(bare, "make_optimizer", spy)  # the bench's hand-written loop is explorer.tools.bare's
    bench.bare_runner(case, _head(data))
    assert isinstance(made[0], torch.optim.SGD) and made[0].defaults["momentum"] == 0.9


def test_bare_twin_starts_from_the_same_weights():
    model = MLP(MLPConfig(n_in=5, hidden=(7, 3), n_out=2, p=0.5, input_p=0.0, seed=4))
    twin = bench.bare_twin(model)
    assert sum(isinstance(m, torch.nn.Dropout) for m in twin) == 2  # no layer for a zero input rate
    x = torch.randn(4, 5)
    model.eval()
    twin.eval()
    assert torch.equal(model(x), twin(x))


def test_peak_memory_reads_this_process():
    assert bench.peak_rss_mb(os.getpid()) > 1


def test_the_status_parser_reads_the_pages_status_line():
    """The browser part reads what pages.ui.controls.status prints while training."""
    line = "Epoch 3 of 20 · step 190 · training · 0.5 epochs/s · 2.4 updates/s"
    assert bench.STATUS.search(line).groups() == ("0.5", "2.4")
    assert bench.STATUS.search("Epoch 3 of 20 · step 190 · paused") is None


def test_the_bare_cnn_is_the_cnn_in_plain_torch():
    """The CNN bench's reference: the same weights in torch's own layers, so both sides compute the same network."""
    model = CNN(CNNConfig(p=0.5, conv_p=0.2, input_p=0.1, seed=3))
    bare = bare_cnn(model)
    kinds = [type(layer) for layer in bare]
    assert kinds.count(torch.nn.Dropout2d) == 2 and kinds.count(torch.nn.Dropout) == 2
    assert kinds.count(torch.nn.MaxPool2d) == 2 and kinds.count(torch.nn.Conv2d) == 2
    x = torch.rand(6, 784, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(bare.eval()(x), model.eval()(x))
    assert torch.nn.Dropout2d not in map(type, bare_cnn(CNN(CNNConfig(conv_p=0.0))))
