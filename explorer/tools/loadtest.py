"""``python -m explorer loadtest``: a class of N students on the live pages at once, without browsers.

Each student is one ``st_client.Session``: it deep-links its page, waits for
the page to be fully sent, presses Train, lets the page's fragment rerun on its
timer as a browser tab does, and presses Pause when the window ends. A late
visitor opens the home page a third of the way into the window. The server's
memory is sampled throughout, and its CPU time counted over the window.

Built on asyncio and the ``websockets`` package (already installed: Streamlit's
server needs it), not Locust. Locust fits request/response users: a task, a
wait, a timed request, and statistics of those requests. A student here is a
stream, not a request: one websocket whose messages arrive on the server's
schedule, plus the page's own ``setInterval`` timer that must keep firing
while messages are read, and what is measured (fragment runs completed,
seconds to a page fully sent, Pause until the timer stops, server memory and
CPU) is not a request latency. In Locust that would be a gevent greenlet per
timer on a blocking websocket client, and custom events for every figure,
i.e. most of the harness written beside Locust, with gevent's monkey-patching
of the whole process and about a dozen more packages (gevent, greenlet, Flask,
pyzmq, ...) in ``make test``. asyncio's event loop is the browser's own model
(one thread, timers and socket reads as events), so a student is two
coroutines on a well-kept standard loop, and no scheduler is written here.

The limits and the default mix are in ``explorer/settings.py`` with the other limits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from explorer import settings
from explorer.tools.cli import _Parser, fail
from explorer.tools.st_client import WAITING, Session

if TYPE_CHECKING:
    from explorer.tools.proc_stats import ProcessTree

# The live pages (app.py's url paths with a Train button) and the query a student's link has when none is given:
# the page's defaults, with more epochs where the default run would end within a minute or two (alone on this
# machine: Playground 500 epochs in ~30 s, Inside and Co-adaptation 20 MNIST epochs in ~60 s; Playground and
# Inside as explorer.tools.bench links them). Uncertainty's 2000 epochs are its maximum (~45 s alone).
LIVE_PAGES = {"playground": "epochs=2000", "inside": "epochs=200", "lab": "epochs=2000", "coadaptation": "epochs=200",
              "uncertainty": "", "theory": "epochs=2000", "sweep": ""}
PLAY = ("Train", "Run")  # the button that starts a page's run (Run on the Sweeps page)
OPEN_TIMEOUT = 180.0     # a page's first full frame, while the whole class is loading
PAUSE_TIMEOUT = 60.0
LONE_PAUSE_SHARE = 1 / 6  # of the students, press Pause one at a time at the window's end, the rest still training
LONE_PAUSE_SPACING = 1.0  # seconds between two of them
LATE_VISITOR_AT = 1 / 3  # of the window: the late visitor arrives once every student trains
SAMPLE_SECONDS = 0.25    # between memory samples


def _log(message: str) -> None:
    print(f"loadtest: {message}", file=sys.stderr, flush=True)


def allocate(students: int, pages: Sequence[str] | None = None) -> list[str]:
    """The page each student opens: ``pages`` dealt in turn, or the default mix scaled to ``students``."""
    if pages:
        return [pages[i % len(pages)] for i in range(students)]
    total = sum(settings.LOADTEST_MIX.values())
    shares = {page: students * weight / total for page, weight in settings.LOADTEST_MIX.items()}
    counts = {page: int(share) for page, share in shares.items()}
    for page in sorted(shares, key=lambda p: counts[p] - shares[p])[: students - sum(counts.values())]:
        counts[page] += 1
    return [page for page, n in counts.items() for _ in range(n)]


def parse_pages(text: str) -> list[str]:
    """``playground,uncertainty?part=digits``: live pages by URL path, each with an optional query string (without
    one, the page's link in LIVE_PAGES)."""
    pages = [p.strip() for p in text.split(",") if p.strip()]
    if not pages:
        raise ValueError("expected comma-separated page names")
    for page in pages:
        name = page.split("?", 1)[0]
        if name not in LIVE_PAGES:
            raise ValueError(f"unknown live page {name!r} (choose from {', '.join(LIVE_PAGES)})")
    return pages


# --- one student ------------------------------------------------------------------------

def link(page: str, student: int = 0) -> tuple[str, str]:
    """(URL path, query string) the ``student``-th student opens for ``page`` (``name`` or ``name?query``).

    Tabs training identical settings share one run (``explorer.core.shared_runs``), so a page's default link
    asks each student for one epoch fewer than the one before (the window ends long before the last epoch): the
    default class is thirty runs of their own, the worst case. A page given with its query (a lesson's link) is
    opened as given by every student, as a class on one link would."""
    path, _, query = page.partition("?")
    if "?" in page:
        return path, query
    return path, re.sub(r"epochs=(\d+)", lambda m: f"epochs={int(m[1]) - student}", LIVE_PAGES[path])


@dataclass
class Student:
    page: str
    session: Session
    first_frame_s: float | None = None
    pause_s: float | None = None
    trained_at: float | None = None  # when Train was pressed
    error: str | None = None
    window_bytes: list[int] = field(default_factory=list)  # received by the window's start and by its end

    async def start(self) -> None:
        """Open the page and press Train as soon as it is fully sent."""
        try:
            self.first_frame_s = await self.session.open(OPEN_TIMEOUT)
            self.trained_at = await self.session.press(next((b for b in PLAY if b in self.session.buttons), PLAY[0]))
        except Exception as err:  # one broken session must not stop the class; it is reported
            self.error = f"{type(err).__name__}: {err}"

    async def finish(self) -> None:
        """Press Pause (unless the run finished by itself), wait for the timer to stop, close the tab."""
        status = self.session.status
        try:
            if self.error is None and not (status and status.state == "finished"):
                sent = await self.session.press("Pause")
                self.pause_s = await self.session.wait_paused(sent, PAUSE_TIMEOUT)
        except Exception as err:
            self.error = f"{type(err).__name__}: {err}"
        finally:
            await self.session.close()
        if self.error is None and self.session.errors:
            self.error = "the page showed an exception: " + self.session.errors[0]

    def _finished_at(self) -> float | None:
        """When the status line first read "finished", if it did."""
        return next((t for t, state in self.session.states if state == "finished"), None)

    def finished_s(self) -> float | None:
        """Seconds from Train to the run's end, if it ended."""
        done = self._finished_at()
        return None if done is None or self.trained_at is None else done - self.trained_at

    def row(self, start: float, end: float) -> dict[str, Any]:
        """The session's figures over the training window [start, end]."""
        updates = sum(start <= t <= end for t in self.session.fragment_finishes)
        cut = sum(start <= t <= end for t in self.session.fragment_superseded)
        frames = sum(start <= t <= end for t in self.session.fragment_frames)
        status = self.session.status
        waited = self.session.seconds_in(WAITING, start, end)
        # Seated: the window's time with a seat, until the run finished (a finished run draws no more frames).
        done = self._finished_at()
        stop = min(end, done) if done is not None and done > start else end
        seated = stop - start - self.session.seconds_in(WAITING, start, stop)
        seen = sum(start <= t <= stop for t in self.session.fragment_frames)
        return {
            "page": self.page,
            "first_frame_s": _round(self.first_frame_s),
            "updates_per_s": _round(updates / (end - start)),
            "superseded_per_s": _round(cut / (end - start)),
            "frames_per_s": _round(frames / (end - start)),
            "seated_frames_per_s": _round(seen / seated) if seated >= 1.0 else None,
            "received_kb_per_s": _round((self.window_bytes[1] - self.window_bytes[0]) / 1024 / (end - start)),
            "steps": status.step if status else 0,
            "waited_s": _round(waited),
            "pause_s": _round(self.pause_s),
            "finished": bool(status and status.state == "finished"),
            "finished_s": _round(self.finished_s()),
            "error": self.error,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# --- the class ---------------------------------------------------------------------------

@dataclass
class Measures:
    """What is read off the server while the class runs (stays None without a local server)."""

    cold: float | None = None
    idle: float | None = None
    peak: float | None = None
    after_close: float | None = None
    released_s: float | None = None
    server_cpu: float | None = None
    client_cpu: float | None = None
    late_visitor_s: float | None = None
    processes: int | None = None
    samples: list[tuple[float, float]] = field(default_factory=list)  # (monotonic time, MiB)

    def release(self, closed_at: float) -> None:
        """The peak, and the seconds after ``closed_at`` until memory came within LOADTEST_RELEASED_MB of idle."""
        self.peak = max(mb for _, mb in self.samples)
        self.released_s = next((t - closed_at for t, mb in self.samples
                                if t >= closed_at and mb <= self.idle + settings.LOADTEST_RELEASED_MB), None)


async def _sample_memory(tree: ProcessTree, into: Measures) -> None:
    while True:
        into.samples.append((time.monotonic(), tree.rss_mb()))
        await asyncio.sleep(SAMPLE_SECONDS)


async def _late_visit(base_url: str, delay: float) -> float:
    """A new tab on the home page ``delay`` s from now: seconds from connecting to the page fully sent."""
    await asyncio.sleep(delay)
    visitor = Session(base_url, "")
    try:
        return await visitor.open(OPEN_TIMEOUT)
    finally:
        await visitor.close()


async def run_class(base_url: str, pages: list[str], seconds: float, settle: float,
                    tree: ProcessTree | None, worker_urls: Sequence[str] = ()) -> dict[str, Any]:
    """Warm the server with one home-page visit, then the whole class: connect, Train, ``seconds`` of training,
    Pause, close; returns the result object (see the module's command line). ``worker_urls``: the processes
    behind ``base_url``'s proxy, each warmed on its own."""
    measures = Measures()
    if tree is not None:
        measures.cold = tree.rss_mb()
    # The first visit to a fresh server imports torch and the app, and the first visit to a page its modules
    # (seconds of CPU, ~140 MB): a teacher's check of the links, one tab at a time, not part of any student's
    # first frame. The server is idle after it, with what no session's leaving can give back.
    # Behind nginx, every worker gets the teacher's check, straight on its own port (nginx would route at random).
    for url in worker_urls or [base_url]:
        for path, query in [("", ""), *dict.fromkeys(link(page) for page in pages)]:
            warm = Session(url, path, query)
            try:
                await warm.open(OPEN_TIMEOUT)
            except (OSError, asyncio.TimeoutError) as err:  # SessionClosed is an OSError
                raise LoadTestFailed(f"the app at {url} did not serve /{path}: {err}") from None
            finally:
                await warm.close()
    if tree is not None:
        measures.idle, measures.processes = tree.rss_mb(), tree.count()
        measures.samples.append((time.monotonic(), measures.idle))  # the peak is at least the idle reading
        sampler = asyncio.create_task(_sample_memory(tree, measures))

    students = [Student(page, Session(base_url, *link(page, i))) for i, page in enumerate(pages)]
    _log(f"{len(students)} students connecting")
    await asyncio.gather(*(s.start() for s in students))
    start, cpu_start, client_start = time.monotonic(), tree.cpu_seconds() if tree else None, time.process_time()
    for s in students:
        s.window_bytes.append(s.session.bytes_received)
    _log(f"all pressed Train; training for {seconds:g} s")
    late = asyncio.create_task(_late_visit(base_url, seconds * LATE_VISITOR_AT))
    await asyncio.sleep(seconds)
    end = time.monotonic()
    for s in students:
        s.window_bytes.append(s.session.bytes_received)
    if tree is not None:
        measures.server_cpu = (tree.cpu_seconds() - cpu_start) / (end - start)
    measures.client_cpu = (time.process_time() - client_start) / (end - start)
    # A student's Pause while the class trains: a few, spread over the pages, one at a time; then the rest at once.
    alone = max(1 if len(students) > 1 else 0, int(len(students) * LONE_PAUSE_SHARE))  # a class keeps training
    lone = students[::round(1 / LONE_PAUSE_SHARE)][:alone]
    _log(f"Pause: {len(lone)} one at a time, then the other {len(students) - len(lone)} at once")
    for s in lone:
        await s.finish()
        await asyncio.sleep(LONE_PAUSE_SPACING)
    rest = [s for s in students if all(s is not t for t in lone)]
    await asyncio.gather(*(s.finish() for s in rest))
    try:
        measures.late_visitor_s = await late
    except Exception as err:
        _log(f"the late visitor failed: {type(err).__name__}: {err}")
    if tree is not None:
        _log(f"all closed; memory after {settle:g} s")
        closed_at = time.monotonic()
        await asyncio.sleep(settle)
        sampler.cancel()
        measures.after_close = tree.rss_mb()
        measures.release(closed_at)
    pauses = [s.pause_s for s in rest if s.pause_s is not None]
    lone_pauses = [s.pause_s for s in lone if s.pause_s is not None]
    return {
        "students": len(students),
        "seconds": seconds,
        "sessions": [s.row(start, end) for s in students],
        "late_visitor_s": _round(measures.late_visitor_s),
        "pause_s": _round(statistics.median(pauses)) if pauses else None,
        "pause_one_s": _round(statistics.median(lone_pauses)) if lone_pauses else None,
        "rss_mb": {k: _round(getattr(measures, k)) for k in ("cold", "idle", "peak", "after_close")},
        "released_s": _round(measures.released_s),
        "server_cpu": _round(measures.server_cpu),
        "server_processes": measures.processes,
        "client_cpu": _round(measures.client_cpu),
    }


# --- command line ------------------------------------------------------------------------

def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m explorer loadtest",
                     description="N students on the live pages at once, over Streamlit's websocket protocol (no "
                                 "browser): each opens its page, presses Train, lets the page rerun on its timer, "
                                 "and presses Pause at the end. Default mix for 30: "
                                 + ", ".join(f"{p} {n}" for p, n in settings.LOADTEST_MIX.items()) + ".")
    parser.add_argument("--students", type=int, default=30,
                        help=f"clients (1 … {settings.LOADTEST_MAX_STUDENTS}; default 30)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help=f"training window once every student pressed Train ({settings.LOADTEST_MIN_SECONDS:g} … "
                             f"{settings.LOADTEST_MAX_SECONDS:g}; default 60)")
    parser.add_argument("--pages", help="live pages to deal the students over, in turn: " + ", ".join(LIVE_PAGES)
                        + "; a page may bring its link's query, e.g. uncertainty?part=digits, which every student "
                          "dealt that page opens as given (a lesson's link: tabs on identical settings train one run; "
                          "commas in the query as %%2C) (default: the mix above, scaled; a page's link asks for more "
                          "epochs where its default run would end within a minute or two, one fewer for each student "
                          "so that no two runs are the same)")
    parser.add_argument("--url", help="a running app to load (default: start one on a free port); its memory and CPU "
                                      "are then not measured")
    parser.add_argument("--workers", type=int, default=0,
                        help="start make serve's nginx in front of this many Streamlit processes (deploy/serve.py, "
                             "sticky sessions) instead of one process; memory and CPU are summed over all of them "
                             f"(0 … {settings.LOADTEST_MAX_WORKERS}; default 0: one process, no nginx)")
    parser.add_argument("--settle", type=float, default=settings.LOADTEST_SETTLE,
                        help="seconds after the last client closed before the after_close memory "
                             f"(default {settings.LOADTEST_SETTLE:g})")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return parser


def _check_url(url: str) -> str:
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        fail(f"--url: expected http://HOST:PORT, got {url!r}")
    try:
        with urllib.request.urlopen(base + "/_stcore/health", timeout=5) as response:
            if response.status == 200:
                return base
    except (OSError, ValueError) as err:
        fail(f"--url: no Streamlit app answers at {base} ({err})")
    fail(f"--url: no Streamlit app answers at {base}")


@contextlib.contextmanager
def _server(url: str | None, workers: int) -> Iterator[tuple[str, ProcessTree | None, list[str]]]:
    """The app to load, its process tree and its workers' own addresses: ``url`` as given (no tree, no workers),
    or a server started for the run (one Streamlit process, or ``workers`` of them behind nginx)."""
    if url is not None:
        yield url, None, []
        return
    from explorer.tools.bench import free_port, streamlit_server
    from explorer.tools.proc_stats import ProcessTree

    _log(f"starting {workers} workers behind nginx" if workers else "starting streamlit")
    first = free_port() if workers else 0
    with contextlib.ExitStack() as stack:
        try:
            port, process = stack.enter_context(streamlit_server(workers=workers, first_worker_port=first))
        except RuntimeError as err:
            raise LoadTestFailed(str(err)) from None
        yield (f"http://127.0.0.1:{port}", ProcessTree(process.pid),
               [f"http://127.0.0.1:{first + i}" for i in range(workers)])


class LoadTestFailed(RuntimeError):
    """The class could not start: no server, or one that does not serve the app."""


def format_table(result: dict[str, Any]) -> str:
    """The result for people: a row per session, then the class's figures."""
    lines = [f"{result['students']} students, {result['seconds']:g} s of training",
             f"{'page':<24} {'first frame s':>13} {'updates/s':>9} {'superseded/s':>12} {'frames/s':>8} {'seated':>6} "
             f"{'kB/s':>6} "
             f"{'steps':>7} {'waited s':>8} {'pause s':>7}  note"]
    for row in result["sessions"]:
        note = row["error"] or ("" if not row["finished"] else "run finished" if row["finished_s"] is None
                                else f"run finished in {row['finished_s']:.0f} s")
        lines.append(f"{row['page']:<24} {_shown(row['first_frame_s']):>13} {_shown(row['updates_per_s']):>9} "
                     f"{_shown(row['superseded_per_s']):>12} {_shown(row['frames_per_s']):>8} "
                     f"{_shown(row['seated_frames_per_s']):>6} "
                     f"{_shown(row['received_kb_per_s']):>6} {row['steps']:>7} {_shown(row['waited_s']):>8} "
                     f"{_shown(row['pause_s']):>7}  {note}")
    rss = result["rss_mb"]
    lines += [f"late visitor (home page, while training): {_shown(result['late_visitor_s'])} s",
              f"Pause until the timer stops (median): {_shown(result['pause_one_s'])} s one student at a time while "
              f"the class trains, {_shown(result['pause_s'])} s the rest of the class at once",
              f"server CPU: {_shown(result['server_cpu'])} cores (this client: {_shown(result['client_cpu'])}), "
              f"{_shown(result['server_processes'])} processes",
              f"server memory MiB: cold {_shown(rss['cold'])}, idle {_shown(rss['idle'])}, peak {_shown(rss['peak'])}, "
              f"after close {_shown(rss['after_close'])}",
              f"back within {settings.LOADTEST_RELEASED_MB:g} MiB of idle: "
              + (f"{_shown(result['released_s'])} s after the last tab closed" if result["released_s"] is not None
                 else "not within the settle time")]
    return "\n".join(lines)


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def main(argv: Sequence[str]) -> None:
    """``python -m explorer loadtest ...``: bad arguments exit 2 with one line, an app that cannot be started or
    reached 1; sessions that fail (an exception on the page, a Pause not taken within PAUSE_TIMEOUT) are reported
    in the result, with a line on stderr, and the exit status stays 0."""
    args = make_parser().parse_args(argv)
    if not 1 <= args.students <= settings.LOADTEST_MAX_STUDENTS:
        fail(f"--students: must be 1 … {settings.LOADTEST_MAX_STUDENTS}, got {args.students}")
    if not settings.LOADTEST_MIN_SECONDS <= args.seconds <= settings.LOADTEST_MAX_SECONDS:
        fail(f"--seconds: must be {settings.LOADTEST_MIN_SECONDS:g} … {settings.LOADTEST_MAX_SECONDS:g}, "
             f"got {args.seconds:g}")
    if not 0 <= args.settle <= settings.LOADTEST_MAX_SETTLE:
        fail(f"--settle: must be 0 … {settings.LOADTEST_MAX_SETTLE:g}, got {args.settle:g}")
    try:
        pages = allocate(args.students, parse_pages(args.pages) if args.pages is not None else None)
    except ValueError as err:
        fail(f"--pages: {err}")
    if not 0 <= args.workers <= settings.LOADTEST_MAX_WORKERS:
        fail(f"--workers: must be 0 … {settings.LOADTEST_MAX_WORKERS}, got {args.workers}")
    if args.workers and args.url is not None:
        fail("--workers: starts its own servers; leave out --url")
    url = _check_url(args.url) if args.url is not None else None
    if url is None:
        try:
            import psutil  # noqa: F401  (the server's memory and CPU)
        except ImportError:
            fail("loadtest needs psutil to measure the server: pip install -r requirements-test.txt")
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the server this run started is stopped with it.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        with _server(url, args.workers) as (base_url, tree, worker_urls):
            result = asyncio.run(run_class(base_url, pages, args.seconds, args.settle, tree, worker_urls))
    except LoadTestFailed as err:
        print(f"explorer: loadtest: {' '.join(str(err).split())[:300]}", file=sys.stderr)
        raise SystemExit(1) from None
    print(json.dumps(result) if args.json else format_table(result))
    failed = [row for row in result["sessions"] if row["error"]]
    if failed:  # a result, not a crash: an overloaded server is what the benchmark is there to show
        _log(f"{len(failed)} of {result['students']} sessions did not go through; first: "
             f"{failed[0]['page']}: {failed[0]['error']}")
