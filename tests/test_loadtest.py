"""The load test (``python -m explorer loadtest``, explorer/tools/): its protocol client against real Streamlit
protobufs, its command line, a 3-student smoke run on a real server, and one check against a real browser.

The smoke run is not a timed test: it asserts that the run happened and every
session advanced. The browser check compares update rates of a headless
Chromium and a protocol client training side by side on the Playground (issue
#13: within 20 %); it uses tests/test_browser.py's server and browser, so it
is skipped without Chromium, and fails instead under CI.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from explorer import settings
from explorer.tools import loadtest
from explorer.tools.bench import free_port
from explorer.tools.st_client import FINISHED, WAITING, MessageCache, Session, Status, rerun_message, stream_url
from tests.test_browser import LOAD_TIMEOUT, chromium, new_page, server  # noqa: F401 -- fixtures

ROOT = Path(__file__).resolve().parent.parent
PLAYGROUND_STATUS = "Epoch 31 of 500 · step 124 · training · 30.6 epochs/s · 5.9 updates/s"


# --- messages, built and read as the server and the front end do ---------------------------

def forward(build) -> bytes:
    msg = ForwardMsg()
    build(msg)
    if msg.HasField("delta") and not msg.metadata.delta_path:
        msg.metadata.delta_path[:] = [0, 0]  # the page's first element (each replaces the last in the page's tree)
    return msg.SerializeToString()


RUN_IDS = itertools.count()


def new_session(fragment: str = "", page: str = "h-page") -> bytes:
    """A run's start: a new run id, as the server gives every run."""
    def build(m):
        m.metadata.run.script_run_id = f"run {next(RUN_IDS)}"
        m.new_session.page_script_hash = page
        m.new_session.config.max_cached_message_age = 2
        if fragment:
            m.metadata.run.fragment_ids.append(fragment)
    return forward(build)


def button(label: str, widget_id: str, disabled: bool = False) -> bytes:
    def build(m):
        m.delta.new_element.button.label = label
        m.delta.new_element.button.id = widget_id
        m.delta.new_element.button.disabled = disabled
    return forward(build)


def caption(text: str) -> bytes:
    return forward(lambda m: setattr(m.delta.new_element.markdown, "body", text))


def finished(status: int, fragment: str = "") -> bytes:
    def build(m):
        m.script_finished = status
        if fragment:
            m.metadata.run.fragment_ids.append(fragment)
    return forward(build)


def auto_rerun(fragment: str, interval: float) -> bytes:
    def build(m):
        m.auto_rerun.fragment_id = fragment
        m.auto_rerun.interval = interval
    return forward(build)


class FakeSocket:
    """Collects what a Session sends, as BackMsgs."""

    def __init__(self) -> None:
        self.sent: list[BackMsg] = []

    async def send(self, data: bytes) -> None:
        msg = BackMsg()
        msg.ParseFromString(data)
        self.sent.append(msg)


def offline_session(path: str = "playground") -> tuple[Session, FakeSocket]:
    session = Session("http://127.0.0.1:1", path)
    session._ws = FakeSocket()
    return session, session._ws


def test_rerun_message_names_the_page_by_path_until_a_hash_is_known():
    first = rerun_message(page_name="playground", query_string="p=0.3", url="http://x/playground")
    assert first.WhichOneof("type") == "rerun_script"
    state = BackMsg.FromString(first.SerializeToString()).rerun_script
    assert (state.page_name, state.page_script_hash, state.query_string) == ("playground", "", "p=0.3")
    assert list(state.widget_states.widgets) == [] and state.fragment_id == "" and not state.is_auto_rerun
    later = rerun_message(page_script_hash="abc", page_name="playground", trigger="$$ID-train", cached_hashes=["h1"])
    assert (later.rerun_script.page_name, later.rerun_script.page_script_hash) == ("", "abc")
    [widget] = later.rerun_script.widget_states.widgets
    assert widget.id == "$$ID-train" and widget.trigger_value
    assert list(later.rerun_script.cached_message_hashes) == ["h1"]
    tick = rerun_message(page_script_hash="abc", fragment_id="f1", is_auto_rerun=True)
    assert tick.rerun_script.fragment_id == "f1" and tick.rerun_script.is_auto_rerun


def test_stream_url():
    assert stream_url("http://127.0.0.1:8501") == "ws://127.0.0.1:8501/_stcore/stream"
    assert stream_url("https://example.org/app/") == "wss://example.org/app/_stcore/stream"


def test_status_caption_of_every_live_page():
    status = Status.parse(PLAYGROUND_STATUS)
    assert (status.epoch, status.epochs, status.step, status.state, status.updates_per_s) == (31, 500, 124, "training", 5.9)
    lab = Status.parse("Epoch 37 of 500 · step 150 · 4 variants · paused")
    assert (lab.step, lab.state, lab.updates_per_s) == (150, "paused", None)
    assert Status.parse("Epoch 20 of 20 · step 1260 · finished").state == "finished"
    assert Status.parse("training accuracy 81% · validation accuracy **74%**") is None
    sweep = Status.parse("30 models (3 seeds per point) · 40% of their steps · 12 s · training")
    assert (sweep.epoch, sweep.epochs, sweep.step, sweep.state) == (40, 100, 40, "training")
    assert Status.parse("30 models (3 seeds per point) · 100% of their steps · 61 s · finished").state == "finished"


def test_session_follows_page_buttons_status_and_query():
    session, sock = offline_session()

    async def scenario():
        for data in (new_session(page="h-main"), forward(lambda m: setattr(m.navigation, "page_script_hash", "h-pg")),
                     button("Train", "id-train"), button("Step", "id-step"), caption(PLAYGROUND_STATUS),
                     forward(lambda m: setattr(m.page_info_changed, "query_string", "epochs=9")),
                     finished(FINISHED.FINISHED_SUCCESSFULLY)):
            session.handle(data)
        assert session.page_script_hash == "h-pg" and session.query == "epochs=9"
        assert set(session.buttons) == {"Train", "Step"} and session.status.step == 124
        await session.press("Train")
        click = sock.sent[-1].rerun_script
        assert click.page_script_hash == "h-pg" and click.query_string == "epochs=9" and click.fragment_id == ""
        assert [(w.id, w.trigger_value) for w in click.widget_states.widgets] == [("id-train", True)]
        session.handle(new_session())  # a full run: the page's elements come anew
        assert session.buttons == {}
        session.handle(button("Train", "id-train", disabled=True))
        with pytest.raises(LookupError):
            await session.press("Train")

    asyncio.run(scenario())


def test_a_frame_counts_as_seen_when_its_charts_arrived_however_its_run_finished():
    """A run cut short for the next one (FINISHED_EARLY_FOR_RERUN) after its charts went out still changed the tab;
    one cut short before any chart went out did not."""
    session, _ = offline_session()
    chart = forward(lambda m: setattr(m.delta.new_element.component_instance, "component_name", "live_chart"))
    for data in (new_session("frag"), caption("Epoch 1"), chart, finished(FINISHED.FINISHED_EARLY_FOR_RERUN, "frag"),
                 new_session("frag"), caption("Epoch 2"), finished(FINISHED.FINISHED_EARLY_FOR_RERUN, "frag"),
                 new_session("frag"), chart, finished(FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY, "frag")):
        session.handle(data)
    assert (len(session.fragment_frames), len(session.fragment_superseded), len(session.fragment_finishes)) == (2, 2, 1)


def test_a_delta_the_browser_would_reject_is_a_page_error():
    """The crash recorded in Chromium (tests/test_page_tree.py): a tab that would have gone blank fails the run."""
    session, _ = offline_session()

    def at(path, fragment="frag", block=False):
        def build(m):
            if block:
                m.delta.add_block.vertical.SetInParent()
            else:
                m.delta.new_element.markdown.body = "text"
            m.delta.fragment_id, m.metadata.delta_path[:] = fragment, path
        return forward(build)

    session.handle(new_session())
    for data in (at([0, 0], ""), at([0, 1], block=True), *(at([0, 1, i]) for i in range(10)),
                 finished(FINISHED.FINISHED_SUCCESSFULLY), new_session("frag"), *(at([0, 1, i]) for i in range(3)),
                 finished(FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY, "frag"), new_session("frag"),
                 at([0, 1], block=True), at([0, 1, 0])):
        session.handle(data)
    assert session.errors == [] and session.blank is None
    session.handle(at([0, 1, 6]))
    assert session.blank.startswith("Bad delta path index 6 (should be between [0, 3])")
    assert session.errors == [f"the tab would go blank: the browser rejects a delta ({session.blank})"]


def test_a_waiting_tabs_queue_line_is_no_screen_update_and_its_wait_is_timed():
    """A tab queued for a seat reruns a fragment without charts (its place in the queue): not an update; the
    seconds its status line read "waiting for a seat" are counted."""
    now = [0.0]
    session, _ = offline_session()
    session.clock = lambda: now[0]
    for now[0], data in ((9.0, new_session()), (10.0, caption("Epoch 0 of 500 · step 0 · waiting for a seat")),
                         (11.0, new_session("queue")), (11.0, finished(FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY, "queue")),
                         (14.0, new_session()), (14.0, caption("Epoch 0 of 500 · step 0 · training"))):
        session.handle(data)
    assert session.fragment_finishes == [] and session.status.state == "training"
    assert session.seconds_in(WAITING, 0.0, 20.0) == pytest.approx(4.0)
    assert session.seconds_in(WAITING, 12.0, 13.0) == pytest.approx(1.0)


def test_a_seated_students_frame_rate_counts_its_seat_until_the_run_finished():
    """A run that finished a third into the window draws no more frames: its rate is over the time it ran."""
    session, _ = offline_session()
    session.states = [(0.0, "waiting for a seat"), (5.0, "training"), (20.0, "finished")]
    session.fragment_frames = [5.0 + i for i in range(15)]  # one a second while training
    student = loadtest.Student("playground", session, trained_at=0.0, window_bytes=[0, 0])
    row = student.row(0.0, 60.0)
    assert row["waited_s"] == pytest.approx(5.0) and row["finished_s"] == pytest.approx(20.0)
    assert row["seated_frames_per_s"] == pytest.approx(1.0) and row["frames_per_s"] == pytest.approx(0.25)


def test_fragment_timer_fires_like_set_interval_and_a_full_run_clears_it():
    session, sock = offline_session()

    async def scenario():
        session.handle(new_session(page="h-pg"))
        session.handle(auto_rerun("frag", 0.05))
        task = session.timers["frag"][1]
        session.handle(auto_rerun("frag", 0.05))  # the same interval again: the same timer goes on
        assert session.timers["frag"][1] is task
        await asyncio.sleep(0.18)
        ticks = [m.rerun_script for m in sock.sent]
        assert len(ticks) >= 2
        assert all(t.fragment_id == "frag" and t.is_auto_rerun and t.page_script_hash == "h-pg" for t in ticks)
        session.handle(new_session("frag"))  # a fragment run leaves the timer alone
        session.handle(forward(lambda m: setattr(m.delta.new_element.component_instance, "component_name", "live_chart")))
        session.handle(finished(FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY, "frag"))
        assert "frag" in session.timers and len(session.fragment_finishes) == 1
        session.handle(new_session())  # a full run (Pause) clears it
        assert session.timers == {}
        await asyncio.sleep(0)
        assert task.cancelled()
        count = len(sock.sent)
        await asyncio.sleep(0.12)
        assert len(sock.sent) == count

    asyncio.run(scenario())


def test_wait_paused_needs_a_full_run_after_the_click_and_no_timer():
    session, _ = offline_session()

    async def scenario():
        session.handle(new_session())
        session.handle(auto_rerun("frag", 10.0))
        session.handle(finished(FINISHED.FINISHED_SUCCESSFULLY))
        clicked = time.monotonic()
        waiter = asyncio.create_task(session.wait_paused(clicked, timeout=5))
        await asyncio.sleep(0.02)
        session.handle(new_session("frag"))  # a fragment run after the click does not count
        session.handle(finished(FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY, "frag"))
        await asyncio.sleep(0.02)
        assert not waiter.done()
        session.handle(new_session())
        session.handle(finished(FINISHED.FINISHED_SUCCESSFULLY))
        assert 0 < await waiter < 5

    asyncio.run(scenario())


def test_a_run_whose_end_the_server_never_reports_ends_when_the_next_starts():
    """A request that reaches a ScriptRunner as it shuts down gets a new one, and the old one's script_finished
    is dropped: the Pause run is over once another run has begun."""
    session, _ = offline_session()

    async def scenario():
        session.handle(new_session())
        session.handle(auto_rerun("frag", 10.0))
        clicked = time.monotonic()
        session.handle(new_session())  # the Pause run: timers cleared, its end never reported
        assert session.paused_at(clicked) is None
        session.handle(new_session("frag"))  # a tick sent before the Pause run began
        assert session.paused_at(clicked) == session.runs[-1].started
        assert 0 <= await session.wait_paused(clicked, timeout=1) < 1

    asyncio.run(scenario())


def test_message_cache_resolves_references_and_ages_like_the_front_end():
    cache = MessageCache()
    big = ForwardMsg()
    big.hash, big.metadata.cacheable = "h-big", True
    big.delta.fragment_id = "frag"
    big.delta.new_element.markdown.body = "x" * 100
    assert cache.resolve(big) is big and cache.hashes() == ["h-big"]
    ref = ForwardMsg()
    ref.ref_hash = "h-big"
    ref.metadata.delta_path.extend([0, 2, 1])
    full = cache.resolve(ref)
    assert full.delta.new_element.markdown.body == "x" * 100 and list(full.metadata.delta_path) == [0, 2, 1]
    missing = ForwardMsg()
    missing.ref_hash = "h-unknown"
    assert cache.resolve(missing) is None and cache.misses == 1
    for _ in range(5):  # runs of another fragment do not age it
        cache.run_finished(2, ["other"])
    assert cache.hashes() == ["h-big"]
    for _ in range(3):
        cache.run_finished(2, [])
    assert cache.hashes() == []


# --- the command line ---------------------------------------------------------------------

def test_default_mix_scales_with_the_class():
    assert sorted(loadtest.allocate(30)) == sorted(
        [p for p, n in settings.LOADTEST_MIX.items() for _ in range(n)])
    assert loadtest.allocate(3) == ["playground", "inside", "lab"]
    assert len(loadtest.allocate(10)) == 10 and loadtest.allocate(1) == ["playground"]
    assert loadtest.allocate(3, ["lab", "theory"]) == ["lab", "theory", "lab"]
    assert loadtest.parse_pages("playground, uncertainty?part=digits") == ["playground", "uncertainty?part=digits"]


def test_default_links_are_runs_of_their_own_and_a_given_link_is_everyones():
    """Identical settings share one run (explorer.core.shared_runs): the default class is the worst case, thirty
    runs; a lesson's link, given with its query, is opened as given by every student."""
    links = [loadtest.link(page, i) for i, page in enumerate(["playground", "inside", "playground", "uncertainty"])]
    assert links == [("playground", "epochs=2000"), ("inside", "epochs=199"), ("playground", "epochs=1998"),
                     ("uncertainty", "")]
    lesson = "inside?train_size=500&epochs=40"
    assert loadtest.link(lesson, 0) == loadtest.link(lesson, 7) == ("inside", "train_size=500&epochs=40")


@pytest.mark.parametrize("args, message", [
    (["--students", "0"], "--students"),
    (["--students", "1000"], "--students"),
    (["--seconds", "0.5"], "--seconds"),
    (["--seconds", "99999"], "--seconds"),
    (["--pages", "playground,nowhere"], "unknown live page 'nowhere'"),
    (["--pages", "lessons"], "unknown live page 'lessons'"),
    (["--settle", "-1"], "--settle"),
    (["--students", "two"], "--students"),
    (["--url", "ftp://example.org"], "--url"),
    (["--workers", "9"], "--workers: must be 0"),
    (["--workers", "2", "--url", "http://127.0.0.1:1"], "--workers: starts its own servers"),
])
def test_bad_arguments_exit_2_with_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        loadtest.main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_unreachable_url_exits_2_without_a_traceback():
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run([sys.executable, "-m", "explorer", "loadtest", "--url", url, "--students", "1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "no Streamlit app answers" in done.stderr and done.stdout == ""


# --- the smoke run: a real server, three students ---------------------------------------------

def test_smoke_run_three_students_ten_seconds():
    done = subprocess.run([sys.executable, "-m", "explorer", "loadtest", "--students", "3", "--seconds", "10",
                           "--settle", "1", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=240,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert set(result) >= {"students", "seconds", "sessions", "late_visitor_s", "pause_s", "rss_mb", "released_s",
                           "server_cpu"}
    assert (result["students"], result["seconds"]) == (3, 10)
    assert [s["page"] for s in result["sessions"]] == ["playground", "inside", "lab"]
    for session in result["sessions"]:
        assert session["error"] is None, session
        assert session["first_frame_s"] > 0 and session["steps"] > 0 and session["received_kb_per_s"] > 0, session
        # Advanced: its fragment reran on the timer. On a busy box most reruns may be superseded (computed, then
        # dropped unsent for the next one), so either kind counts here; the benchmark reports them apart.
        assert session["updates_per_s"] + session["superseded_per_s"] > 0, session
        assert session["pause_s"] is not None and session["pause_s"] > 0, session
        assert session["waited_s"] == 0 and session["seated_frames_per_s"] is not None, session  # conftest: a budget for all
    assert result["late_visitor_s"] > 0 and result["pause_s"] > 0 and result["server_cpu"] > 0
    assert result["pause_one_s"] > 0  # the first student paused alone while the other two trained
    rss = result["rss_mb"]
    assert 0 < rss["cold"] < rss["idle"] <= rss["peak"] and rss["after_close"] > 0
    assert result["server_processes"] == 1


def test_smoke_run_behind_nginx_measures_every_worker():
    """--workers: make serve's processes, each student pinned to one; memory and CPU summed over all of them."""
    done = subprocess.run([sys.executable, "-m", "explorer", "loadtest", "--workers", "2", "--students", "2",
                           "--seconds", "4", "--settle", "1", "--json"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["server_processes"] >= 4  # serve.py, two Streamlit workers, nginx (a master and its workers)
    for session in result["sessions"]:
        assert session["error"] is None and session["steps"] > 0 and session["frames_per_s"] > 0, session
    assert 0 < result["rss_mb"]["idle"] <= result["rss_mb"]["peak"] and result["server_cpu"] > 0


# --- against a real browser ------------------------------------------------------------------

UPDATES = re.compile(r"([\d.]+) updates/s")
CROSS_PAGE = "uncertainty"  # see the test's docstring for why not the Playground
CROSS_SECONDS = 6.0
SETTLE_MS = 3000  # after the first render, before Train (explorer.tools.bench waits too): not the steady state


def _client_on(url: str, path: str, seconds: float) -> dict:
    """One protocol client on ``path``: Train, ``seconds`` of training, the page's own updates/s (over its last
    20 frames, as the browser shows it) and the client's completed and superseded fragment runs per second over
    the second half, then Pause."""
    async def run() -> dict:
        session = Session(url, path)
        await session.open(120)
        await asyncio.sleep(SETTLE_MS / 1000)
        await session.press("Train")
        await asyncio.sleep(seconds)
        end = time.monotonic()
        half = seconds / 2
        result = {"status": session.status,
                  "updates_per_s": sum(t >= end - half for t in session.fragment_finishes) / half,
                  "superseded_per_s": sum(t >= end - half for t in session.fragment_superseded) / half,
                  "errors": session.errors}
        result["pause_s"] = await session.wait_paused(await session.press("Pause"))
        await session.close()
        return result

    return asyncio.run(run())


def test_protocol_client_updates_like_a_browser(server, new_page):
    """One page, one after the other on one server: a headless Chromium, then a protocol client. Each page reports
    its own updates/s in its status line; they must agree within 20 % (issue #13).

    The Uncertainty page (a frame every 0.25 s), not the Playground (every 0.16 s): on this 2-core box a headless
    Chromium renders the Playground's four charts on the cores the server uses, and its timer ticks wait for the
    rendering (measured: 4.3 to 5.1 updates/s against the protocol client's 6.2, whose ticks come on time, as a
    browser's do on a student's own computer). Here the browser keeps up with the page's timer, so what is
    compared is how each drives the server.
    """
    page = new_page(server, "/" + CROSS_PAGE)
    page.get_by_role("button", name="Train", exact=True).wait_for(timeout=LOAD_TIMEOUT)
    page.wait_for_timeout(SETTLE_MS)
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_timeout(CROSS_SECONDS * 1000)
    status = page.locator('[data-testid="stCaptionContainer"]').filter(has_text=UPDATES).first.inner_text()
    page.get_by_role("button", name="Pause", exact=True).click()
    page.get_by_role("button", name="Train", exact=True).wait_for()
    page.context.close()
    browser = float(UPDATES.search(status)[1])
    # Playwright's sync API keeps an event loop of its own on this thread: the client runs on another.
    out: dict = {}
    worker = threading.Thread(target=lambda: out.update(_client_on(server.url, CROSS_PAGE, CROSS_SECONDS)))
    worker.start()
    worker.join(timeout=120)
    assert out and not out["errors"], out
    client = out["status"].updates_per_s
    print(f"\n{CROSS_PAGE} updates/s, the page's own figure: browser {browser:.2f} ({status!r}), protocol client "
          f"{client:.2f}; the client counted {out['updates_per_s']:.2f} completed and {out['superseded_per_s']:.2f} "
          f"superseded fragment runs per second; its Pause took {out['pause_s']:.2f} s")
    assert client is not None and client > 0 and browser > 0
    assert abs(client - browser) <= 0.2 * max(client, browser), (browser, client, status)
