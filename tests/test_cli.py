"""The command line's contract: ``python -m explorer train`` output formats and its handling of bad input.

Three cases run as real subprocesses (started together: each pays about 3 s
of CPU for importing torch and scikit-learn); the full matrix of invalid inputs goes through the same
``main`` in-process, where an uncaught exception would fail the test just as a
traceback would.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from explorer import cli, settings
from explorer.experiment import Experiment, build

ROOT = Path(__file__).resolve().parent.parent
HISTORY_KEYS = {"epoch", "train_loss", "val_loss", "train_acc", "val_acc"}
METRICS = ("train_loss", "val_loss", "train_acc", "val_acc")

JSON_ARGS = ["--dataset", "blobs", "--train-size", "40", "--val-size", "30", "--hidden", "8,8", "--epochs", "3",
             "--batch-size", "16", "--p", "0.2", "--input-p", "0.1", "--seed", "3"]
JSON_EXPERIMENT = Experiment(dataset="blobs", train_size=40, val_size=30, hidden=(8, 8), epochs=3, batch_size=16,
                             p=0.2, input_p=0.1, seed=3)
TABLE_ARGS = ["--dataset", "moons", "--train-size", "30", "--val-size", "20", "--hidden", "8", "--epochs", "20"]

SUBPROCESS_CASES = {
    "json": ["train", *JSON_ARGS, "--json"],
    "table": ["train", *TABLE_ARGS],
    "bad_rate": ["train", "--p", "1.5", "--json"],
}


def strict_json(text: str):
    """Exactly one JSON object, in the strict sense (no NaN or Infinity), and nothing after it."""
    def reject(constant: str):
        raise ValueError(f"not strict JSON: {constant}")

    decoder = json.JSONDecoder(parse_constant=reject)
    obj, end = decoder.raw_decode(text)
    assert text[end:].strip() == "", "more than one JSON value on stdout"
    return obj


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess]:
    procs = {
        name: subprocess.Popen([sys.executable, "-m", "explorer", *args], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        for name, args in SUBPROCESS_CASES.items()
    }
    done = {}
    try:
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=120)
            done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    return done


# --- subprocesses ------------------------------------------------------------

def test_json_mode_prints_exactly_one_object(runs):
    r = runs["json"]
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert len(r.stdout.strip().splitlines()) == 1
    result = strict_json(r.stdout)
    assert set(result) == {"config", "history", "final", "seconds"}
    assert result["config"] == JSON_EXPERIMENT.to_dict()
    history = result["history"]
    assert isinstance(history, list) and len(history) == 3
    for i, row in enumerate(history, start=1):
        assert HISTORY_KEYS <= set(row)
        assert row["epoch"] == i
        assert all(isinstance(row[k], float) for k in METRICS)
        assert 0.0 <= row["train_acc"] <= 1.0 and 0.0 <= row["val_acc"] <= 1.0
        assert row["train_loss"] > 0 and row["val_loss"] > 0
    assert result["final"] == {k: history[-1][k] for k in METRICS}
    assert isinstance(result["seconds"], float) and result["seconds"] >= 0


def test_json_history_is_the_in_process_run(runs):
    """Same experiment, same numbers: seeds fix data, weights, batch order and masks across processes."""
    expected = build(JSON_EXPERIMENT)
    expected.run()
    got = strict_json(runs["json"].stdout)["history"]
    assert len(got) == len(expected.history)
    for a, b in zip(got, expected.history):
        assert a["epoch"] == b["epoch"]
        for k in METRICS:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-7)


def test_table_mode_prints_a_table_and_a_final_line(runs):
    r = runs["table"]
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # no progress bar when stderr is not a terminal
    lines = r.stdout.strip().splitlines()
    header, rows, final = lines[0].split(), lines[1:-1], lines[-1]
    assert header == list(cli.ProgressTable.COLUMNS)
    assert [int(row.split()[0]) for row in rows] == list(range(2, 21, 2))  # a row every tenth of 20 epochs
    for row in rows:
        cells = row.split()
        assert len(cells) == len(header)
        assert all(math.isfinite(float(c)) for c in cells)
    assert final.startswith("final:") and "val acc" in final and "train loss" in final
    assert "{" not in r.stdout


def test_invalid_input_exits_2_with_one_line(runs):
    r = runs["bad_rate"]
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert lines[0].startswith("explorer: error")
    assert "--p" in lines[0]


# --- the same entry point, in-process, for every kind of bad input ----------------

INVALID = [
    ["train", "--p", "1.5"],
    ["train", "--p", "1"],
    ["train", "--p", "-0.1"],
    ["train", "--p", f"{settings.MAX_RATE + 0.02:g}"],
    ["train", "--input-p", "2"],
    ["train", "--p", "nan"],
    ["train", "--dataset", "mnist"],
    ["train", "--variant", "no-such-variant"],
    ["train", "--activation", "gelu"],
    ["train", "--optimizer", "lbfgs"],
    ["train", "--epochs", "0"],
    ["train", "--epochs", "-3"],
    ["train", "--train-size", "0"],
    ["train", "--val-size", "0"],
    ["train", "--batch-size", "0"],
    ["train", "--hidden", "0"],
    ["train", "--hidden", "8,-1"],
    ["train", "--lr", "0"],
    ["train", "--hidden", str(settings.MAX_WIDTH + 1)],
    ["train", "--hidden", ",".join(["4"] * (settings.MAX_DEPTH + 1))],
    ["train", "--epochs", str(settings.MAX_EPOCHS + 1)],
    ["train", "--train-size", str(settings.MAX_TRAIN_SIZE + 1)],
    ["train", "--batch-size", str(settings.MAX_BATCH_SIZE + 1)],
    ["train", "--lr", f"{settings.MAX_LR * 10:g}"],
    ["train", "--seed", str(settings.MAX_SEED + 1)],
    ["train", "--lr", "abc"],
    ["train", "--epochs", "ten"],
    ["train", "--epochs", "2.5"],
    ["train", "--seed", "1e3"],
    ["train", "--bogus"],
    ["train", "--bogus", "3"],
    ["train", "--epochs"],          # missing value
    ["train", "extra"],             # stray positional
    ["fly"],                        # unknown command
    [],                             # no command
]


@pytest.mark.parametrize("argv", INVALID, ids=[" ".join(a) or "<none>" for a in INVALID])
def test_invalid_input_in_process(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("explorer: error") and "Traceback" not in err


def test_a_diverging_run_still_prints_strict_json(capsys):
    """lr is allowed up to MAX_LR; a run that blows up to nan must not print NaN (not JSON)."""
    cli.main(["train", "--optimizer", "sgd", "--lr", f"{settings.MAX_LR:g}", "--train-size", "50",
              "--val-size", "20", "--hidden", "64,64", "--epochs", "6", "--json"])
    out, _ = capsys.readouterr()
    result = strict_json(out)
    assert len(result["history"]) == 6
    losses = [row["val_loss"] for row in result["history"]]
    assert any(v is None or v > 1e3 for v in losses)  # it did diverge; non-finite values become null
