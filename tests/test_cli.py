"""The command line's contract: ``python -m explorer train`` output formats and its handling of bad input.

Three cases run as real subprocesses (started together: each pays about 3 s
of CPU for importing torch and scikit-learn); the full matrix of invalid inputs goes through the same
``main`` in-process, where an uncaught exception would fail the test just as a
traceback would.
"""

from __future__ import annotations

import gzip
import json
import math
import struct
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from explorer import settings
from explorer.tools import cli
from explorer.core.experiment import Experiment, build, defaults_for

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
    ["train", "--dataset", "imagenet"],
    ["train", "--dataset", "MNIST"],
    ["train", "--model", "rnn"],
    ["train", "--model", "cnn"],                         # the default dataset is a toy one
    ["train", "--model", "cnn", "--dataset", "moons"],
    ["train", "--variant", "spatial"],                   # channel dropout: not for the MLP
    ["train", "--dataset", "mnist", "--model", "cnn", "--variant", "spatial"],
    ["train", "--conv-p", "1"],
    ["train", "--dataset", "mnist", "--train-size", "4500"],     # the subset holds 5,000 digits
    ["train", "--dataset", "mnist-full", "--val-size", str(settings.MAX_MNIST_VAL + 1)],
    ["train", "--dataset", "mnist", "--noise", "0.2"],
    ["train", "--dataset", "mnist", "--label-noise", "0.1"],
    ["train", "--data-dir", "/tmp"],                     # a toy dataset reads no files
    ["train", "--dataset", "mnist", "--data-dir", "/tmp"],
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


@pytest.mark.parametrize("argv,words", [
    (["--model", "cnn", "--dataset", "moons"], ["the CNN needs 28×28 images", "--dataset mnist"]),
    (["--variant", "spatial"], ["--variant spatial", "MLP", "standard"]),
    (["--train-size", str(settings.MAX_TRAIN_SIZE + 1)], ["--train-size", str(settings.MAX_TRAIN_SIZE)]),
])
def test_cross_field_errors_say_what_to_change(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and all(w in err for w in words), err


# --- MNIST and the CNN, in-process (no network: urlopen refuses) ---------------------

@pytest.fixture(scope="module")
def subset_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of the parsed subset for this module's runs, outside the user's cache."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def offline(subset_cache: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No download can happen: every urlopen fails as on a machine without network; returns the URLs tried."""
    tried: list[str] = []

    def refuse(url, *args, **kwargs):
        tried.append(getattr(url, "full_url", url))
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setenv("EXPLORER_CACHE", str(subset_cache))
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    return tried


def _json_run(argv: list[str], capsys) -> dict:
    cli.main(["train", *argv, "--json"])
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 1
    return strict_json(out)


def test_mnist_json_run_applies_the_mnist_defaults(offline, capsys):
    result = _json_run(["--dataset", "mnist", "--train-size", "500", "--val-size", "200", "--epochs", "2",
                        "--hidden", "64"], capsys)
    assert set(result) == {"config", "history", "final", "seconds"}
    expected = replace(defaults_for("mnist"), train_size=500, val_size=200, epochs=2, hidden=(64,))
    assert result["config"] == expected.to_dict()
    config = result["config"]
    assert (config["optimizer"], config["lr"], config["batch_size"], config["input_p"]) == ("sgd", 0.05, 64, 0.2)
    assert [row["epoch"] for row in result["history"]] == [1, 2]
    assert all(HISTORY_KEYS <= set(row) and "conv_p" not in row for row in result["history"])
    assert result["final"] == {k: result["history"][-1][k] for k in METRICS}
    assert result["final"]["val_acc"] > 0.4  # chance is 0.1
    assert offline == []


def test_cnn_on_mnist_runs(offline, capsys):
    result = _json_run(["--dataset", "mnist", "--model", "cnn", "--train-size", "300", "--val-size", "100",
                        "--epochs", "2", "--hidden", "32", "--optimizer", "adam", "--lr", "0.001", "--conv-p", "0.2"],
                       capsys)
    assert (result["config"]["model"], result["config"]["conv_p"]) == ("cnn", 0.2)
    history = result["history"]
    assert len(history) == 2 and all(row["conv_p"] == 0.2 and row["p"] == 0.5 for row in history)
    assert all(math.isfinite(row[k]) for row in history for k in METRICS)
    assert history[-1]["train_loss"] < history[0]["train_loss"] < math.log(10) + 0.1


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_digits(directory: Path, n_train: int = 300, n_test: int = 100) -> None:
    """Four small gz IDX files in the standard names; each label lights its own 7×7 patch, so they can be learnt."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):
            row, col = divmod(int(label), 4)
            images[i, 7 * row:7 * row + 7, 7 * col:7 * col + 7] = 255
        (directory / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
        (directory / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels)))


def test_mnist_full_reads_the_files_in_the_data_directory(offline, tmp_path, capsys):
    write_digits(tmp_path)
    result = _json_run(["--dataset", "mnist-full", "--data-dir", str(tmp_path), "--train-size", "200",
                        "--val-size", "100", "--epochs", "3", "--hidden", "32"], capsys)
    assert result["config"]["dataset"] == "mnist-full" and result["config"]["data_dir"] == str(tmp_path)
    assert result["final"]["val_acc"] > 0.5  # the patches are learnt: images and labels were read together
    assert offline == []  # the files were there: nothing to download


def test_mnist_full_config_names_the_default_data_directory(offline, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path))
    (tmp_path / "fashion-mnist").mkdir()
    write_digits(tmp_path / "fashion-mnist")
    result = _json_run(["--dataset", "fashion-mnist", "--train-size", "100", "--val-size", "50", "--epochs", "1",
                        "--hidden", "16"], capsys)
    assert result["config"]["data_dir"] == str(tmp_path / "fashion-mnist")


def test_missing_files_offline_exit_2_naming_them(offline, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--dataset", "mnist-full", "--data-dir", str(empty), "--json"])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("explorer: error") and "Traceback" not in err, err
    assert str(empty) in lines[0]
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        assert name in lines[0]
    assert offline, "a download was attempted (and refused)"


def test_a_corrupt_file_exits_2_with_one_line(offline, tmp_path, capsys):
    write_digits(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:20])  # a truncated download
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--dataset", "mnist-full", "--data-dir", str(tmp_path), "--train-size", "100",
                  "--val-size", "50"])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "t10k-labels" in lines[0] and "Traceback" not in err, err


# --- analyze: the numbers of the co-adaptation, uncertainty and theory pages --------------

TINY_ANALYSES = {  # tiny runs of each analysis: the shape of what it prints, not its findings
    "coadaptation": ["--dataset", "moons", "--train-size", "60", "--val-size", "60", "--hidden", "16,16",
                     "--epochs", "3"],
    "mc": ["--dataset", "mnist", "--train-size", "200", "--val-size", "100", "--hidden", "32,32", "--epochs", "1"],
    "ridge": ["--train-size", "64", "--epochs", "20"],
    "averaging": ["--dataset", "moons", "--train-size", "40", "--val-size", "40", "--hidden", "4", "--epochs", "3"],
}
ANALYSIS_KEYS = {
    "coadaptation": {"dropout", "no_dropout", "tracked", "layer"},
    "mc": {"weight_scaling_error", "mc_error", "k_matching", "rotation", "val_acc"},
    "ridge": {"rate", "closed_form", "trained", "ols", "weight_decay", "distance", "relative_distance"},
    "averaging": {"networks", "exact_arithmetic", "exact_geometric", "weight_scaling", "mc"},
}


@pytest.mark.parametrize("what", list(TINY_ANALYSES))
def test_analyze_prints_one_strict_json_object(what, offline, capsys):
    cli.main(["analyze", "--what", what, *TINY_ANALYSES[what], "--json"])
    out, _ = capsys.readouterr()
    assert len(out.strip().splitlines()) == 1
    result = strict_json(out)
    assert result["what"] == what and result["seconds"] > 0 and isinstance(result["config"], dict)
    assert ANALYSIS_KEYS[what] <= set(result), sorted(result)


@pytest.mark.parametrize("what", ["coadaptation", "averaging"])
def test_analyze_without_json_prints_named_numbers(what, capsys):
    cli.main(["analyze", "--what", what, *TINY_ANALYSES[what]])
    out, _ = capsys.readouterr()
    assert "seconds: " in out and "config" not in out and "{" not in out


def test_analyze_applies_the_flags_given_over_its_own_defaults(capsys):
    cli.main(["analyze", "--what", "averaging", *TINY_ANALYSES["averaging"], "--p", "0.3", "--json"])
    config = strict_json(capsys.readouterr()[0])["config"]
    assert (config["hidden"], config["p"], config["epochs"], config["dataset"]) == ([4], 0.3, 3, "moons")


BAD_ANALYSES = [
    (["analyze"], "--what"),
    (["analyze", "--what", "nope"], "invalid choice"),
    (["analyze", "--what", "averaging", "--hidden", "20"], "12"),
    (["analyze", "--what", "coadaptation", "--model", "cnn", "--dataset", "mnist"], "--model"),
    (["analyze", "--what", "mc", "--dataset", "moons"], "--dataset"),
    (["analyze", "--what", "ridge", "--input-p", "2"], "--input-p"),
]


@pytest.mark.parametrize("argv,words", BAD_ANALYSES, ids=[" ".join(a) for a, _ in BAD_ANALYSES])
def test_analyze_bad_input_exits_2_with_one_line(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and words in err, err
