"""The bench report's shape and its fairness rules; never its speed (timings are not test material)."""

from __future__ import annotations

import json
import os

import torch

from explorer import bench
from explorer.model import MLP, MLPConfig


def test_run_bench_prints_one_json_object_with_every_number(capsys):
    result = bench.run_bench(repeats=1, as_json=True, app=False, repeat_seconds=0.01, frame_epochs=3)
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
    assert result["app"]["status"].startswith("skipped")

    report = bench.format_report(result)  # what the command prints without --json
    verdicts = report.count("PASS") + report.count("BELOW")
    assert verdicts == len(bench.CASES) * len(bench.TARGETS) + 1  # one per Trainer run, one for the frame


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
