"""The app in a real browser: a ``streamlit run`` server and headless Chromium driven by Playwright.

Checks what AppTest cannot: the router on a deep link to a fresh server, live
training driven by the fragment's timer, the address bar, and how the pages
look (screenshots go to tests/artifacts/, which git ignores).

Needs the ``playwright`` package and a Chromium at CHROMIUM (Debian's
``/usr/bin/chromium``; Playwright's own browser download is not used). When
either is missing the tests are skipped, except under CI (``CI`` set), where
they fail so a broken setup cannot pass unnoticed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from explorer.tools.bench import free_port

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 720}
START_TIMEOUT = 60.0     # seconds for `streamlit run` to answer
LOAD_TIMEOUT = 60_000    # ms for the first page of a cold server
TIMEOUT = 30_000         # ms for everything else
EPOCH = re.compile(r"Epoch (\d+) of (\d+)")
STEP = re.compile(r"step (\d+)")
NAV = ["Home", "Lessons", "Playground", "Inside the network", "Variants lab", "Sweeps", "Co-adaptation", "Uncertainty", "Theory"]  # app.py's router, in order
EXCEPTION = '[data-testid="stException"]'


def _unavailable(reason: str) -> None:
    """Skip, or fail under CI, where a missing browser must not turn into a green run."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"browser test cannot run: {reason}. CI is set, so this is a failure, not a skip.", pytrace=False)
    pytest.skip(f"browser test cannot run: {reason}")


# --- the server ---------------------------------------------------------------

class Server:
    """``streamlit run app.py`` on a free port; ``fresh`` until a browser has opened a page on it."""

    def __init__(self, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.fresh = True
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log_path = ARTIFACTS / f"streamlit-{name}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
        )
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"streamlit exited with code {self.proc.returncode}:\n{self.log_tail()}", pytrace=False)
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        pytest.fail(f"streamlit did not answer on {self.url} within {START_TIMEOUT:.0f} s:\n{self.log_tail()}",
                    pytrace=False)

    def log_tail(self, n: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()


@pytest.fixture(scope="module")
def chromium():
    """A headless system Chromium, or skip (fail under CI) with the reason."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        _unavailable(f"the playwright package is not importable ({err}); install requirements-test.txt")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"no Chromium executable at {CHROMIUM} (install Debian's chromium or set CHROMIUM)")
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except Exception as err:
        pw.stop()
        _unavailable(f"Chromium at {CHROMIUM} did not start: {err}")
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture(scope="module")
def server(chromium):
    srv = Server("module")
    yield srv
    srv.stop()


@pytest.fixture
def new_page(chromium):
    """Open pages in a fresh browser context (a fresh Streamlit session); closed after the test."""
    contexts = []

    def open_page(srv: Server, path: str):
        context = chromium.new_context(viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        srv.fresh = False
        page.goto(srv.url + path, timeout=LOAD_TIMEOUT)
        return page

    yield open_page
    for context in contexts:
        context.close()


# --- helpers ------------------------------------------------------------------

def _expect():
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)
    return expect


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def _wait_for_heading(page, text: str) -> None:
    """The page's title shown and its script run ended (``_settled``): ready for a click."""
    _expect()(page.get_by_role("heading", name=text, level=1)).to_be_visible(timeout=LOAD_TIMEOUT)
    _settled(page)


def _settled(page) -> None:
    """Wait until the page's script run has ended, as a person waits for a page to load before using it.

    A click or key while a full run still draws the page starts the next run at once (Streamlit's fast reruns),
    and now and then the front end then holds the widgets that the cut run had not drawn yet at their declared
    defaults and sends those: a slider's lowest value, a toggle off, an empty multiselect (seen here as q = 0,
    batch size 1 and no twin after an upload, and a sweep with no rates after Space)."""
    _expect()(page.locator('[data-testid="stApp"]')).to_have_attribute("data-test-script-state", "notRunning",
                                                                       timeout=LOAD_TIMEOUT)


def _no_exceptions(page, srv: Server, where: str) -> None:
    count = page.locator(EXCEPTION).count()
    assert count == 0, (f"{count} exception box(es) on {where}: {page.locator(EXCEPTION).all_inner_texts()}\n"
                        f"server log:\n{srv.log_tail()}")


def _status(page) -> str:
    """The visible caption "Epoch N of M · step S · state ..."."""
    return (page.locator('[data-testid="stCaptionContainer"]')
            .filter(has_text=EPOCH).filter(visible=True).first).inner_text()


def _epoch(page) -> tuple[int, int, str]:
    """The status caption: (N, M, whole text)."""
    text = _status(page)
    m = EPOCH.search(text)
    assert m, text
    return int(m.group(1)), int(m.group(2)), text


def _step(page) -> tuple[int, str]:
    """The status caption: (step, whole text); an MNIST epoch takes seconds, a step does not."""
    text = _status(page)
    m = STEP.search(text)
    assert m, text
    return int(m.group(1)), text


def _wait_above(read, page, floor: int, timeout: float = 30.0) -> tuple:
    """Poll ``read(page)`` (``_epoch`` or ``_step``) until its first number passes ``floor``."""
    deadline = time.monotonic() + timeout
    while True:
        got = read(page)
        if got[0] > floor:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{read.__name__[1:]} did not pass {floor} within {timeout:.0f} s; caption: {got[-1]!r}; "
                        f"address: {page.url}; sidebar: {_sidebar_text(page)!r}")
        time.sleep(0.25)


def _sidebar_text(page) -> str:
    """The values the sidebar's inputs and sliders hold (a failure says what the run was built from)."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    boxes = [f"{box.get_attribute('aria-label')}={box.input_value()}" for box in sidebar.locator("input").all()
             if box.get_attribute("type") not in ("file", "checkbox")]
    sliders = [f"{s.get_attribute('aria-label')}={s.get_attribute('aria-valuetext')}"
               for s in sidebar.get_by_role("slider").all()]
    return " | ".join(boxes + sliders)


def _wait_epoch_above(page, floor: int, timeout: float = 30.0) -> tuple[int, int, str]:
    return _wait_above(_epoch, page, floor, timeout)


def _pause(page, read) -> int:
    """Press Pause; the status must say "paused" within 5 s and ``read(page)`` stay put. Returns it."""
    expect = _expect()
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.get_by_role("button", name="Train", exact=True)).to_be_visible()
    expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text="paused")
           .filter(visible=True).first).to_be_visible(timeout=5_000)
    paused = read(page)[0]
    time.sleep(1.5)
    still = read(page)
    assert still[0] == paused, f"still training after Pause: {paused} -> {still[-1]!r}"
    return paused


def _nav_labels(page) -> list[str]:
    """The router's page titles in the sidebar."""
    return [t.strip().splitlines()[-1].strip()
            for t in page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]').all_inner_texts()]


LIVE_CHART = 'iframe[title$="live_chart"]'


def _live_charts(page):
    """The Playground's charts: each lives in its own component frame and is redrawn in place."""
    return page.locator(LIVE_CHART).filter(visible=True)


def _drawn_live_charts(page) -> list[str]:
    """The text of every live chart whose frame has a drawn plotly plot (titles, tick labels).

    Read from the main page through each same-origin frame's document: probing
    the frames through Playwright's frame objects made its next click on the
    main page go nowhere, and its frame list went stale across reloads (seen
    with Playwright 1.65 and Chromium 156).
    """
    return page.evaluate(
        """(selector) => Array.from(document.querySelectorAll(selector))
            .map((frame) => frame.contentDocument && frame.contentDocument.querySelector('.js-plotly-plot'))
            .filter((plot) => plot)
            .map((plot) => plot.innerText)""",
        LIVE_CHART,
    )


def _drawn_data(page) -> list[str]:
    """What every drawn live chart plots (its traces' x, y and z), as text: it changes when a chart is redrawn
    with new data, where a heatmap's text (titles, ticks) does not."""
    return page.evaluate(
        """(selector) => Array.from(document.querySelectorAll(selector))
            .map((frame) => frame.contentDocument && frame.contentDocument.querySelector('.js-plotly-plot'))
            .filter((plot) => plot && plot.data)
            .map((plot) => JSON.stringify(plot.data.map((t) => [t.x, t.y, t.z])))""",
        LIVE_CHART,
    )


def _expect_drawn(page, count: int, containing: str = "") -> list[str]:
    """Wait until ``count`` live charts are drawn, one of them showing ``containing``."""
    deadline = time.monotonic() + TIMEOUT / 1000
    while True:
        texts = _drawn_live_charts(page)
        if len(texts) == count and any(containing in t for t in texts):
            return texts
        if time.monotonic() > deadline:
            pytest.fail(f"expected {count} drawn live charts (one showing {containing!r}); got {texts!r}")
        time.sleep(0.25)


def _query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(page.url).query).items()}


# --- tests --------------------------------------------------------------------

def test_deep_link_goes_through_router_and_trains_live(server, new_page):
    """Must be the first page opened on its server: only a fresh server shows the deep-link problem."""
    srv = server if server.fresh else Server("deep-link")
    try:
        page = new_page(srv, "/playground")
        expect = _expect()
        _wait_for_heading(page, "Playground")
        train = page.get_by_role("button", name="Train", exact=True)  # not "Help for Training points"
        expect(train).to_be_enabled()

        # The router (app.py's st.navigation) ran: its page titles, not the legacy file names.
        links = page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
        expect(links).to_have_count(len(NAV))
        labels = _nav_labels(page)
        assert labels == NAV, f"sidebar navigation shows {labels}: app.py's router was skipped"
        assert "playground" in urlsplit(page.url).path
        n, total, _ = _epoch(page)
        assert (n, total) == (0, 500)
        _no_exceptions(page, srv, "the deep-linked Playground")

        # Train: the fragment's timer keeps training and redrawing.
        _expect_drawn(page, 5)
        untrained = _drawn_data(page)
        train.click()
        expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()
        first, total, text = _wait_epoch_above(page, 0)
        assert total == 500 and "training" in text, text

        # More epochs is a live change: the run goes on. Done at once, because 500 epochs
        # can take only ~15 s on an idle machine, less than the rest of this test.
        epochs = page.get_by_label("Epochs", exact=True)
        epochs.fill("2000")
        epochs.press("Enter")
        expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text=re.compile(r"Epoch \d+ of 2000"))
               .filter(visible=True).first).to_be_visible()
        second, total, text = _epoch(page)
        assert total == 2000 and second >= first, f"changing the epochs reset the run: {first} -> {text!r}"
        expect(page).to_have_url(re.compile(r"[?&]epochs=2000(&|$)"))
        time.sleep(2.0)
        before_slider, _, text = _wait_epoch_above(page, second)
        assert "training" in text, text

        # Boundary, twin, network, kept fraction and curves, each redrawn in place.
        expect(_live_charts(page)).to_have_count(5)
        _expect_drawn(page, 5, "Loss (cross-entropy)")

        # Slide the hidden drop rate with the keyboard: 0.5 -> 0.65 -> 0.6.
        slider = page.locator('[data-testid="stSlider"]').filter(has_text="Hidden drop rate q")
        thumb = slider.get_by_role("slider")
        thumb.focus()
        for key in ("ArrowRight", "ArrowRight", "ArrowRight", "ArrowLeft"):
            thumb.press(key)
            time.sleep(0.3)
        expect(page).to_have_url(re.compile(r"[?&]p=0\.6(&|$)"))
        _expect_drawn(page, 5, "Dropout q = 0.6")
        after_slider, _, text = _epoch(page)
        assert after_slider >= before_slider, f"moving the drop rate reset the run: {before_slider} -> {text!r}"
        later, _, text = _wait_epoch_above(page, after_slider)
        assert "training" in text, text
        assert _query(page).get("p") == "0.6", page.url
        # Charts are redrawn in place: sample a few moments while training, all five drawn each time, and each
        # with new data (a chart whose summary in words stays the same too).
        for _ in range(4):
            assert len(_drawn_live_charts(page)) == 5, "a live chart blanked out while training"
            time.sleep(0.3)
        changed = [a != b for a, b in zip(untrained, _drawn_data(page))]
        assert changed == [True] * 5, f"charts not redrawn with the trained run's data: {changed}"
        _shot(page, "playground_training.png")
        _no_exceptions(page, srv, "the Playground while training")

        # Pause: the epoch stops within ~2 s.
        paused = _pause(page, _epoch)
        assert paused >= later
        _expect_drawn(page, 5)
        _shot(page, "playground_paused.png")
        _no_exceptions(page, srv, "the paused Playground")
    finally:
        if srv is not server:
            srv.stop()


# Every page but the Playground (deep-linked above): its URL path and its title, as app.py's router names them.
DEEP_LINKS = {"lessons": "Lessons", "inside": "Inside the network", "lab": "Variants lab", "sweep": "Sweeps",
              "coadaptation": "Co-adaptation", "uncertainty": "Uncertainty", "theory": "Theory"}


def test_every_page_deep_linked_on_a_fresh_server_goes_through_the_router(chromium, new_page):
    """A pages/ folder starts Streamlit in its legacy mode, which would run a deep-linked page without app.py
    (no navigation, no page config) until some run calls st.navigation; pages/ui/router.py leaves that mode.
    Each page is the first one opened on a server of its own; the servers start together."""
    with ThreadPoolExecutor(len(DEEP_LINKS)) as pool:
        servers = dict(zip(DEEP_LINKS, pool.map(lambda path: Server(f"fresh-{path}"), DEEP_LINKS)))
    try:
        for path, title in DEEP_LINKS.items():
            page = new_page(servers[path], "/" + path)
            _wait_for_heading(page, title)
            _expect()(page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')).to_have_count(
                len(NAV))
            assert _nav_labels(page) == NAV, f"/{path}: app.py's router was skipped"
            assert urlsplit(page.url).path.endswith("/" + path), page.url
            _no_exceptions(page, servers[path], f"/{path} deep-linked on a fresh server")
    finally:
        for srv in servers.values():
            srv.stop()


def test_home_page(server, new_page):
    page = new_page(server, "/")
    _wait_for_heading(page, "Dropout Explorer")
    expect = _expect()
    expect(page.locator(".js-plotly-plot").filter(visible=True)).to_have_count(2)
    for name in NAV[1:]:
        expect(page.locator('[data-testid="stPageLink"]').filter(has_text=name)).to_be_visible()
    assert _nav_labels(page) == NAV
    _shot(page, "home.png")
    _no_exceptions(page, server, "the home page")


def test_bad_link_parameters_warn(server, new_page):
    page = new_page(server, "/playground?p=7&dataset=nope")
    _wait_for_heading(page, "Playground")
    expect = _expect()
    warnings = page.locator('[data-testid="stAlert"]').filter(has_text="Link parameter not used")
    expect(warnings).to_have_count(2)
    texts = " ".join(warnings.all_inner_texts())
    assert "p:" in texts and "nope" in texts, texts
    expect(page.get_by_role("button", name="Train", exact=True)).to_be_enabled()
    _expect_drawn(page, 5)
    n, total, _ = _epoch(page)
    assert (n, total) == (0, 500)
    assert "dataset" not in _query(page) and "p" not in _query(page), page.url
    _shot(page, "playground_warning.png")
    _no_exceptions(page, server, "the Playground opened with bad link parameters")


def test_inside_page_trains_live_on_mnist(server, new_page):
    """Deep link, Train, every panel drawn and redrawn in place, the pickers, Pause."""
    page = new_page(server, "/inside?train_size=1000&val_size=500&epochs=50")
    expect = _expect()
    _wait_for_heading(page, "Inside the network")
    assert _nav_labels(page) == NAV
    train = page.get_by_role("button", name="Train", exact=True)  # not "Help for Training digits"
    expect(train).to_be_enabled()
    expect(_live_charts(page)).to_have_count(9)
    texts = _expect_drawn(page, 9, "Every activation of hidden 1")
    assert any("First-layer features · no dropout" in t for t in texts), texts
    assert _step(page)[0] == 0

    train.click()
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    first, text = _wait_above(_step, page, 0)
    assert "training" in text, text
    _expect_drawn(page, 9, "This step's digits as the network sees them")
    later, _ = _wait_above(_step, page, first)
    for _ in range(3):  # redrawn in place: never blank while training
        assert len(_drawn_live_charts(page)) == 9, "a live chart blanked out while training"
        time.sleep(0.3)

    # The pickers choose what the panels show, without stopping the run.
    page.get_by_role("radiogroup", name="Layer").get_by_role("radio", name="hidden 2").click()
    _expect_drawn(page, 9, "Activations of hidden 2")
    page.get_by_role("radiogroup", name="Digit").get_by_role("radio", name="7", exact=True).click()
    _expect_drawn(page, 9, "The digit 7 under 300 thinned networks")
    _wait_above(_step, page, later)
    _shot(page, "inside_training.png")
    _no_exceptions(page, server, "the Inside page while training")

    _pause(page, _step)
    _shot(page, "inside_paused.png")
    _no_exceptions(page, server, "the paused Inside page")


def test_lab_page_trains_every_lane_live(server, new_page):
    """Deep link with four lanes, Train: the curves and every lane's noise drawn and redrawn, then Pause."""
    page = new_page(server, "/lab?dataset=moons&train_size=200&epochs=400&variants=standard,gaussian,dropconnect,late")
    expect = _expect()
    _wait_for_heading(page, "Variants lab")
    assert _nav_labels(page) == NAV
    expect(_live_charts(page)).to_have_count(5)
    texts = _expect_drawn(page, 5, "DropConnect q=0.5")
    assert any("Late dropout (standard) q=0.5 · now 0 (off: ×1)" in t for t in texts), texts
    assert _step(page)[0] == 0

    page.get_by_role("button", name="Train", exact=True).click()
    first, text = _wait_above(_step, page, 0)
    assert "4 variants · training" in text, text
    before = _drawn_data(page)
    later, _ = _wait_above(_step, page, first)
    for _ in range(3):  # redrawn in place: never blank while training
        assert len(_drawn_live_charts(page)) == 5, "a live chart blanked out while training"
        time.sleep(0.3)
    _wait_above(_epoch, page, _epoch(page)[0])  # a new point on the curves
    after = _drawn_data(page)
    # The curves and every noise picture plot new data, but late dropout's, which is off (×1 everywhere) until
    # its cutoff (a quarter of the 400 epochs); the order is the page's: curves, then the lanes.
    changed = [a != b for a, b in zip(before, after)]
    assert len(before) == len(after) == 5 and changed == [True, True, True, True, False], changed
    expect(page.get_by_role("tab", name="DropConnect")).to_be_visible()
    _shot(page, "lab_training.png")
    _no_exceptions(page, server, "the Variants lab while training")
    _pause(page, _step)
    _no_exceptions(page, server, "the paused Variants lab")


PROGRESS = re.compile(r"(\d+)% of their steps")


def _progress(page) -> tuple[int, str]:
    text = page.get_by_text(PROGRESS).first.inner_text()
    return int(PROGRESS.search(text).group(1)), text


def test_sweep_page_runs_live_and_pauses(server, new_page):
    page = new_page(server, "/sweep")
    expect = _expect()
    _wait_for_heading(page, "Sweeps")
    assert _nav_labels(page) == NAV
    _expect_drawn(page, 1, "Error vs drop rate, width fixed")
    assert _progress(page)[0] == 0
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    _wait_above(_progress, page, 0, timeout=60.0)
    _expect_drawn(page, 1, "validation error")
    _shot(page, "sweep_running.png")
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_visible()
    expect(page.get_by_text("paused").first).to_be_visible(timeout=5_000)
    paused = _progress(page)[0]
    time.sleep(1.5)
    assert _progress(page)[0] == paused
    _no_exceptions(page, server, "the Sweeps page")

