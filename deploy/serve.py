"""``make serve``: one Streamlit process per core behind nginx, each browser pinned to one process.

    python deploy/serve.py [--workers N] [--port 8501] [--address 0.0.0.0] [--first-worker-port 8601] [--run-dir DIR]

Starts N ``streamlit run app.py`` processes on 127.0.0.1:8601, 8602, ... (EXPLORER_THREADS=1: one torch thread
each), waits until each answers ``/_stcore/health``, then runs Debian's nginx in the foreground on ``--port`` with
deploy/nginx.conf.template: a cookie set by nginx pins each browser to one process (README: Hosting). The nginx
config, its pid file and every log (the access log names the worker of each request) are in a temporary directory,
or ``--run-dir``, so nginx runs as the current user and /etc/nginx is left alone. A worker that exits is started
again (its sessions start over); SIGTERM or Ctrl-C stops nginx and every worker. Standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
START_TIMEOUT = 120.0   # seconds for the workers to answer: N processes import torch and the app at once
NGINX_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0     # after SIGTERM, before SIGKILL
MAX_RESTARTS = 5        # per worker; then serve stops rather than restart a crashing app for ever
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # local checks ignore http_proxy

# The main config of this run; the site itself is the template, included.
MAIN_CONF = """\
# Written by deploy/serve.py for one run; the site is explorer.conf, from deploy/nginx.conf.template.
worker_processes 1;
error_log "{run}/nginx-error.log" warn;
pid "{run}/nginx.pid";
events {{
    worker_connections 4096;
}}
http {{
    # Every path in this run's directory: nginx runs as any user and leaves /etc/nginx alone. No temporary
    # files (responses and uploads stream through): run as root, nginx's workers are `nobody`, who may not
    # be allowed into this directory.
    client_body_temp_path "{run}/tmp/client_body";
    proxy_temp_path "{run}/tmp/proxy";
    fastcgi_temp_path "{run}/tmp/fastcgi";
    uwsgi_temp_path "{run}/tmp/uwsgi";
    scgi_temp_path "{run}/tmp/scgi";
    proxy_max_temp_file_size 0;
    proxy_request_buffering off;
    include "{run}/explorer.conf";
    access_log "{run}/access.log" explorer;
}}
"""


class ServeError(Exception):
    """Something serve cannot go on with: said in a line or two, without a traceback."""


class Stop(BaseException):
    """SIGTERM or SIGINT arrived."""


def _stop_on_signal(signum: int, frame: object) -> None:
    raise Stop(signum)


def _die_with_parent() -> None:
    """In a child before exec: SIGTERM when serve dies, even by SIGKILL (Linux), so no worker outlives it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _spawn(command: list[str], log: IO[bytes], env: dict[str, str] | None = None) -> subprocess.Popen:
    # A session of its own: Ctrl-C in the terminal reaches serve only, which then stops the children in order.
    return subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_die_with_parent)


def answers(url: str) -> bool:
    try:
        with _NO_PROXY.open(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def find_nginx(given: str | None) -> str:
    candidates = [given] if given else [shutil.which("nginx"), "/usr/sbin/nginx"]
    for path in candidates:
        if path and os.access(path, os.X_OK) and Path(path).is_file():
            return path
    raise ServeError(f"nginx is not installed{f' at {given}' if given else ''}: "
                     "apt-get install nginx (Debian, Ubuntu), then make serve again")


def check_port(host: str, port: int, hint: str) -> None:
    """Fail now, in plain words, if ``port`` cannot be listened on (nginx and Streamlit set SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ServeError(f"port {port} ({host}) is not free: {err.strerror or err}; {hint}") from None


def render_site(listen: str, upstreams: list[str]) -> str:
    """deploy/nginx.conf.template with its two placeholders filled in."""
    servers = "\n".join(f"    server {address};" for address in upstreams)
    return (TEMPLATE.read_text().replace("${EXPLORER_UPSTREAMS}", servers)
            .replace("${EXPLORER_LISTEN}", listen))


@dataclass
class Worker:
    index: int
    port: int
    log: Path
    process: subprocess.Popen | None = None
    restarts: int = 0

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/_stcore/health"

    def start(self, app: str, env: dict[str, str]) -> None:
        command = [sys.executable, "-m", "streamlit", "run", app, "--server.port", str(self.port),
                   "--server.address", "127.0.0.1", "--server.headless", "true"]
        with open(self.log, "ab") as log:
            self.process = _spawn(command, log, env)

    def describe(self) -> str:
        return f"worker {self.index} (port {self.port})"


def wait_for_workers(workers: list[Worker], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(workers)
    while pending:
        for worker in list(pending):
            status = worker.process.poll()
            if status is not None:
                raise ServeError(f"{worker.describe()} exited with status {status} before it answered; "
                                 f"the end of {worker.log}:\n{tail(worker.log)}")
            if answers(worker.health_url):
                pending.remove(worker)
        if pending and time.monotonic() > deadline:
            worker = pending[0]
            raise ServeError(f"{worker.describe()} did not answer {worker.health_url} within {timeout:g} s; "
                             f"the end of {worker.log}:\n{tail(worker.log)}")
        time.sleep(0.25)


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to all, then SIGKILL to whatever is left after STOP_TIMEOUT."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def say(message: str) -> None:
    print(f"serve: {message}", flush=True)


def serve(args: argparse.Namespace, run: Path, children: list[subprocess.Popen]) -> None:
    """Start the workers and nginx (appended to ``children`` as they start), then watch them until a signal."""
    nginx = find_nginx(args.nginx)
    check_port(args.address, args.port, "choose another with make serve PORT=... (or --port)")
    worker_ports = range(args.first_worker_port, args.first_worker_port + args.workers)
    for port in worker_ports:
        check_port("127.0.0.1", port, "move the workers with --first-worker-port")

    env = dict(os.environ)
    env.setdefault("EXPLORER_THREADS", "1")  # many sessions share the cores (explorer/settings.py)
    env.setdefault("EXPLORER_WORKERS", str(args.workers))  # each worker's turns and seats get its share of the cores
    # One secret for all: the XSRF cookie one worker signs stays valid on another if a session has to move.
    env.setdefault("STREAMLIT_SERVER_COOKIE_SECRET", secrets.token_hex(32))
    workers = [Worker(i + 1, port, run / f"worker-{i + 1}.log") for i, port in enumerate(worker_ports)]
    say(f"starting {len(workers)} Streamlit worker(s) on 127.0.0.1:{worker_ports[0]}-{worker_ports[-1]}")
    for worker in workers:
        worker.start(args.app, env)
        children.append(worker.process)
    wait_for_workers(workers, args.start_timeout)

    (run / "tmp").mkdir(exist_ok=True)
    listen = f"{args.address}:{args.port}" if args.address not in ("", "0.0.0.0") else str(args.port)
    (run / "explorer.conf").write_text(render_site(listen, [f"127.0.0.1:{port}" for port in worker_ports]))
    (run / "nginx.conf").write_text(MAIN_CONF.format(run=run))
    with open(run / "nginx.out", "ab") as out:
        proxy = _spawn([nginx, "-c", str(run / "nginx.conf"), "-g", "daemon off;"], out)
    children.insert(0, proxy)  # stopped first
    local = "127.0.0.1" if args.address in ("", "0.0.0.0") else args.address
    deadline = time.monotonic() + NGINX_TIMEOUT
    while not answers(f"http://{local}:{args.port}/_stcore/health"):
        if proxy.poll() is not None or time.monotonic() > deadline:
            raise ServeError(f"nginx did not start:\n{tail(run / 'nginx.out')}\n{tail(run / 'nginx-error.log')}")
        time.sleep(0.2)
    say(f"Dropout Explorer on http://localhost:{args.port} ({len(workers)} workers, each browser pinned to one); "
        f"logs in {run}; Ctrl-C stops")

    while True:
        status = proxy.poll()
        if status is not None:
            raise ServeError(f"nginx exited with status {status}:\n{tail(run / 'nginx-error.log')}")
        for worker in workers:
            status = worker.process.poll()
            if status is None:
                continue
            if worker.restarts >= MAX_RESTARTS:
                raise ServeError(f"{worker.describe()} exited {MAX_RESTARTS + 1} times, last with status {status}; "
                                 f"the end of {worker.log}:\n{tail(worker.log)}")
            worker.restarts += 1
            say(f"{worker.describe()} exited with status {status}; starting it again (its sessions start over)")
            children.remove(worker.process)
            worker.start(args.app, env)
            children.append(worker.process)
        time.sleep(0.5)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python deploy/serve.py",
                                     description="N Streamlit processes behind nginx, each browser pinned to one "
                                                 "by a cookie (README: Hosting). Needs nginx (apt-get install nginx).")
    parser.add_argument("--workers", type=int, default=usable_cores(),
                        help=f"Streamlit processes (default: the usable cores, {usable_cores()})")
    parser.add_argument("--port", type=int, default=8501, help="nginx's port (default 8501)")
    parser.add_argument("--address", default="0.0.0.0", help="nginx's address (default 0.0.0.0: every interface)")
    parser.add_argument("--first-worker-port", type=int, default=8601,
                        help="worker i listens on 127.0.0.1:(this + i - 1) (default 8601)")
    parser.add_argument("--app", default="app.py", help="the Streamlit script (default app.py)")
    parser.add_argument("--run-dir", type=Path,
                        help="nginx's config, pid and logs and the workers' logs (default: a temporary directory, "
                             "removed when serve is stopped)")
    parser.add_argument("--nginx", help="the nginx binary (default: nginx on PATH, else /usr/sbin/nginx)")
    parser.add_argument("--start-timeout", type=float, default=START_TIMEOUT,
                        help=f"seconds the workers have to answer (default {START_TIMEOUT:g})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if not 1 <= args.workers <= 64:
        print(f"serve: --workers: must be 1 ... 64, got {args.workers}", file=sys.stderr)
        return 2
    for name in ("port", "first_worker_port"):
        if not 1 <= getattr(args, name) <= 65535 - args.workers:
            print(f"serve: --{name.replace('_', '-')}: not a usable port: {getattr(args, name)}", file=sys.stderr)
            return 2
    if args.run_dir is not None:
        args.run_dir.mkdir(parents=True, exist_ok=True)
        run = args.run_dir.resolve()
    else:
        run = Path(tempfile.mkdtemp(prefix="explorer-serve-"))
    children: list[subprocess.Popen] = []
    status = 1
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    try:
        serve(args, run, children)
    except Stop:
        status = 0
    except ServeError as err:
        print(f"serve: {err}", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop(children)
    if status == 0:
        say("stopped nginx and every worker")
    elif children:
        print(f"serve: logs kept in {run}", file=sys.stderr)
    if args.run_dir is None and (status == 0 or not children):
        shutil.rmtree(run, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
