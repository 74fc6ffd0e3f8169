"""``make serve`` (deploy/serve.py): nginx in front of two Streamlit workers pins every request of a browser to one.

A session's script state lives in one worker's memory, so a browser's page, its websocket (/_stcore/stream, every
rerun) and everything else it asks for must reach the worker that served its page. nginx names the worker that
answered in ``X-Explorer-Worker`` and in its access log. The launcher runs on free ports (a ``make serve`` on 8501
may be running). Without nginx the tests are skipped, except under CI (``CI`` set; .ci/run installs nginx), where
that is a failure. test_sigterm_stops_every_process stops the launcher the tests before it share: keep it after them.
Last, the other ways to host (deploy/) are checked to pin what requirements.txt pins.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import websockets
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from explorer.tools.st_client import FINISHED, SUBPROTOCOLS, rerun_message

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / "deploy" / "serve.py"
READY_TIMEOUT = 100.0  # two workers import torch and the app at once on a busy 2-core box
COOKIE = "explorer_worker"


def require_nginx() -> None:
    """Skip without nginx, or fail under CI, where a missing nginx must not turn into a green run."""
    if shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK):
        return
    reason = "nginx is not installed (apt-get install nginx; .ci/run installs it)"
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"serve test cannot run: {reason}. CI is set, so this is a failure, not a skip.", pytrace=False)
    pytest.skip(reason)


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports on 127.0.0.1, below Linux's ephemeral range (32768 on), where
    servers that other tests start on port 0 land."""
    for _ in range(200):
        first = random.randrange(20000, 32000)
        try:
            for port in range(first, first + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError("no free ports")


def browser(jar: http.cookiejar.CookieJar | None = None) -> urllib.request.OpenerDirector:
    """A cookie jar's HTTP client (no proxy from the environment)."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                       urllib.request.HTTPCookieProcessor(jar if jar is not None else
                                                                          http.cookiejar.CookieJar()))


def get(client: urllib.request.OpenerDirector, url: str) -> tuple[int, dict[str, list[str]], bytes]:
    with client.open(url, timeout=20) as response:
        headers: dict[str, list[str]] = {}
        for name, value in response.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        return response.status, headers, response.read()


def worker_of(headers: dict[str, list[str]]) -> str:
    return headers["x-explorer-worker"][0]


@dataclass
class Served:
    process: subprocess.Popen
    port: int
    workers: list[str]
    run: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return (self.run / "serve.out").read_text(errors="replace")

    def check_running(self) -> None:
        assert self.process.poll() is None, f"serve exited:\n{self.output()}"


def run_serve(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SERVE), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    require_nginx()
    run = tmp_path_factory.mktemp("serve")
    port, first = free_ports(1), free_ports(2)
    with open(run / "serve.out", "wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(SERVE), "--workers", "2", "--port", str(port), "--address", "127.0.0.1",
             "--first-worker-port", str(first), "--run-dir", str(run)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    served = Served(process, port, [f"127.0.0.1:{first}", f"127.0.0.1:{first + 1}"], run)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while "Dropout Explorer on" not in served.output():
            served.check_running()
            assert time.monotonic() < deadline, f"serve not ready within {READY_TIMEOUT:g} s:\n{served.output()}"
            time.sleep(0.3)
        yield served
    finally:
        if process.poll() is None:
            leftovers = psutil.Process(process.pid).children(recursive=True)
            process.kill()
            process.wait()
            for child in leftovers:
                try:
                    child.kill()  # psutil checks it is still the same process
                except psutil.NoSuchProcess:
                    pass


def test_a_browsers_requests_all_reach_one_worker(served: Served) -> None:
    jar = http.cookiejar.CookieJar()
    client = browser(jar)
    status, headers, page = get(client, served.url + "/")
    assert status == 200
    first = worker_of(headers)
    assert first in served.workers
    assert any(c.startswith(f"{COOKIE}=") and "HttpOnly" in c for c in headers.get("set-cookie", [])), headers
    asset = re.search(rb"(static/js/[\w.-]+\.js)", page)
    assert asset, "no script in the app's page"
    paths = ["/", "/_stcore/health", "/_stcore/host-config", "/" + asset[1].decode()]
    seen = []
    for _ in range(5):
        for path in paths:
            status, headers, _ = get(client, served.url + path)
            assert status == 200, path
            seen.append((path, worker_of(headers)))
            # The cookie is set once: a browser that has it keeps it.
            assert not any(c.startswith(f"{COOKIE}=") for c in headers.get("set-cookie", [])), path
    assert {worker for _, worker in seen} == {first}, seen


async def _open_session(port: int, cookie: str) -> tuple[str, int]:
    """A tab's websocket to /_stcore/stream with the browser's cookie and Origin, and the home page run over it:
    the worker nginx named on the upgrade, and the run's finish status. The tab is on a public name, as on a
    hosted instance (Streamlit lets any origin on localhost in): its websocket is accepted only if the worker
    sees the Host the browser sent, port included."""
    site = f"explorer.example:{port}"
    async with websockets.connect(f"ws://{site}/_stcore/stream", host="127.0.0.1", port=port,
                                  subprotocols=SUBPROTOCOLS, max_size=None, open_timeout=30,
                                  additional_headers={"Cookie": f"{COOKIE}={cookie}", "Origin": f"http://{site}"}) as ws:
        worker = ws.response.headers.get("X-Explorer-Worker", "")
        await ws.send(rerun_message(url=f"http://{site}/").SerializeToString())
        async with asyncio.timeout(60):
            async for data in ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                if msg.WhichOneof("type") == "script_finished":
                    return worker, msg.script_finished
    raise AssertionError("the session closed before its page was sent")


def test_the_websocket_reaches_the_worker_of_its_page(served: Served) -> None:
    jar = http.cookiejar.CookieJar()
    _, headers, _ = get(browser(jar), served.url + "/")
    page_worker = worker_of(headers)
    cookie = next(c.value for c in jar if c.name == COOKIE)
    for _ in range(2):  # a tab, then the same browser reconnecting
        ws_worker, finished = asyncio.run(_open_session(served.port, cookie))
        assert ws_worker == page_worker
        assert finished == FINISHED.FINISHED_SUCCESSFULLY  # the page ran: Host and Origin got through as Streamlit wants
    # nginx's own record: every request of this browser, the websocket's upgrade (101) included, on one worker.
    log = served.run / "access.log"
    deadline = time.monotonic() + 10
    while True:
        mine = [line for line in log.read_text().splitlines() if f"route={cookie}" in line]
        streams = [line for line in mine if '"GET /_stcore/stream ' in line and '" 101 ' in line]
        if len(streams) >= 2 or time.monotonic() > deadline:  # a websocket is logged once it has closed
            break
        time.sleep(0.2)
    assert len(streams) == 2, mine
    assert {re.search(r"worker=(\S+)", line)[1] for line in mine} == {page_worker}, mine


def test_new_browsers_are_spread_over_both_workers(served: Served) -> None:
    workers = [worker_of(get(browser(), served.url + "/_stcore/health")[1]) for _ in range(20)]
    assert set(workers) == set(served.workers), workers


def test_sigterm_stops_every_process(served: Served) -> None:
    served.check_running()
    children = psutil.Process(served.process.pid).children(recursive=True)
    names = " ".join(" ".join(child.cmdline()) for child in children)
    assert names.count("streamlit run") == 2 and "nginx: master" in names, names
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=30) == 0, served.output()
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, alive
    assert "stopped nginx and every worker" in served.output()
    for address in [f"127.0.0.1:{served.port}", *served.workers]:
        host, port = address.split(":")
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect((host, int(port)))


# --- what serve says when it cannot start -------------------------------------------------------

def test_missing_nginx_is_one_line_with_the_install_command() -> None:
    result = run_serve("--nginx", "/nonexistent/nginx", "--port", str(free_ports(1)))
    assert result.returncode == 1
    assert "apt-get install nginx" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_taken_port_is_named() -> None:
    require_nginx()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve("--address", "127.0.0.1", "--port", str(port), "--first-worker-port", str(free_ports(2)))
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "PORT=" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_a_worker_that_fails_to_start_is_reported_with_its_log(tmp_path: Path) -> None:
    require_nginx()
    first = free_ports(2)
    result = run_serve("--address", "127.0.0.1", "--port", str(free_ports(1)), "--first-worker-port", str(first),
                       "--workers", "2", "--app", "no_such_app.py", "--run-dir", str(tmp_path))
    assert result.returncode == 1
    assert f"(port {first}) exited" in result.stderr or f"(port {first + 1}) exited" in result.stderr, result.stderr
    assert "no_such_app.py" in result.stderr and "Traceback" not in result.stderr, result.stderr
    for port in (first, first + 1):  # no worker is left running
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect(("127.0.0.1", port))


# --- the other ways to host ---------------------------------------------------------------------

def _pins(path: Path) -> dict[str, str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return dict(line.split("==", 1) for line in lines if line and not line.startswith("-"))


def test_the_cloud_requirements_and_the_image_pin_what_requirements_txt_pins() -> None:
    pins = _pins(ROOT / "requirements.txt")
    cloud = (ROOT / "deploy" / "requirements-cloud.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in cloud
    assert _pins(ROOT / "deploy" / "requirements-cloud.txt") == {**pins, "torch": pins["torch"] + "+cpu"}
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert f"--index-url https://download.pytorch.org/whl/cpu torch=={pins['torch']}\n" in dockerfile
