"""A shared server's memory (issue #13, part 3): closed tabs released, memory given back, forgotten tabs paused.

Checked against what can be observed: glibc's own answers (mallopt, malloc_trim),
a cycle that only a collection frees, Streamlit's real server closing a session
(its log), and the runs' gradients and caches before and after ``shed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import time
import weakref
from pathlib import Path
from typing import Iterator

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer import settings
from explorer.core import heap
from explorer.core.experiment import Experiment, make_data
from explorer.lab.state import Lab
from explorer.playground.state import Playground
from explorer.sweep.state import Sweep, SweepSpec
from explorer.tools.bench import streamlit_server
from explorer.tools.st_client import Session
from pages.ui import controls
from pages.ui.janitor import Janitor
from pages.ui.state import LiveState

ROOT = Path(__file__).resolve().parent.parent
GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None


# --- giving memory back ----------------------------------------------------------------------

@pytest.mark.skipif(not GLIBC, reason="mallopt and malloc_trim are glibc's")
def test_glibc_takes_the_arena_limit_and_trims() -> None:
    assert heap.limit_arenas(settings.MALLOC_ARENAS) is True
    assert heap.give_back() is True


def test_give_back_collects_cycles() -> None:
    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: reference counting alone never frees it
    gone = weakref.ref(a)
    gc.disable()
    try:
        del a, b
        assert gone() is not None
        heap.give_back()
        assert gone() is None
    finally:
        gc.enable()


# --- which sessions the janitor closes ---------------------------------------------------------

def test_a_session_is_closed_once_it_has_been_gone_long_enough() -> None:
    janitor = Janitor(release_after=45.0)
    assert janitor.due(["a"], now=100.0) == []
    assert janitor.due(["a", "b"], now=140.0) == []
    assert janitor.due(["a", "b"], now=145.0) == ["a"]
    assert janitor.due(["b"], now=150.0) == []  # "a" was closed: not due twice
    assert janitor.due(["b"], now=185.0) == ["b"]


def test_a_tab_that_came_back_starts_the_count_again() -> None:
    janitor = Janitor(release_after=45.0)
    janitor.due(["a"], now=0.0)
    assert janitor.due([], now=30.0) == []  # reconnected
    assert janitor.due(["a"], now=40.0) == []
    assert janitor.due(["a"], now=80.0) == []
    assert janitor.due(["a"], now=85.0) == ["a"]


@contextlib.contextmanager
def serving(tmp_path: Path, **env: str) -> Iterator[tuple[str, Path]]:
    """``streamlit run app.py`` with ``env`` added, up and answering: (its URL, its log file)."""
    log = tmp_path / "server.log"
    with streamlit_server(env=env, log_path=log) as (port, _):
        yield f"http://127.0.0.1:{port}", log


def test_the_server_closes_a_closed_tabs_session(tmp_path: Path) -> None:
    """A real server with a 1 s release: a tab trains, closes, and the janitor closes its session."""
    with serving(tmp_path, EXPLORER_RELEASE_SECONDS="1") as (url, log):
        async def tab() -> None:
            session = Session(url, "playground", "epochs=2000")
            await session.open(60.0)
            await session.press("Train")
            await asyncio.sleep(2.0)
            await session.close()

        asyncio.run(tab())
        deadline = time.monotonic() + 3 * settings.JANITOR_SECONDS + 10
        while "closed 1 session(s) of tabs that went away" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
            time.sleep(0.5)


def test_no_janitor_under_apptest() -> None:
    """AppTest's Runtime is a mock whose event loop runs nothing: a janitor there would time out every look."""
    at = AppTest.from_string("import streamlit as st\nfrom pages.ui import janitor\nst.text(str(janitor.start()))")
    at.run()
    assert not at.exception and at.text[0].value == "False"


# --- what a run drops when its tab is forgotten --------------------------------------------------

def _grads(modules: list[torch.nn.Module]) -> list[bool]:
    return [p.grad is not None for m in modules for p in m.parameters()]


def test_a_live_run_sheds_its_gradients_and_trains_on_the_same() -> None:
    exp = Experiment(epochs=5)
    pg = Playground(exp, make_data(exp))
    pg.advance(max_steps=3)
    assert all(_grads([t.model for t in pg.trainers]))
    weights = [p.detach().clone() for p in pg.run.model.parameters()]
    pg.shed()
    assert not any(_grads([t.model for t in pg.trainers]))
    assert all(torch.equal(a, b) for a, b in zip(weights, pg.run.model.parameters())), "shedding keeps the weights"
    assert pg.advance(max_steps=1) == 1 and all(_grads([pg.run.model]))


def test_the_lab_and_a_sweep_shed_their_gradients() -> None:
    exp = Experiment(epochs=2)
    lab = Lab([exp, Experiment(epochs=2, variant="gaussian")], make_data(exp))
    sweep = Sweep(SweepSpec(base=Experiment(epochs=50), rates=(0.0, 0.5), seeds=1))
    for run in (lab, sweep):
        run.advance(max_seconds=0.2)
    assert sweep.groups[0].trainer is not None  # the stack that trains
    modules = [t.model for t in lab.trainers] + [sweep.groups[0].trainer.model]
    assert any(_grads(modules))
    lab.shed()
    sweep.shed()
    assert not any(_grads(modules))


def test_a_forgotten_tab_pauses_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/playground.py")
    at.run()
    monkeypatch.setattr(settings, "IDLE_PAUSE_SECONDS", -1.0)  # every training frame finds its tab forgotten
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    state: LiveState = at.session_state["pg"]
    assert state.running is False and state.forgotten is True
    assert not any(_grads([t.model for t in state.run.trainers]))
    assert any("paused: no click for" in c.value for c in at.caption)
    controls.set_running(state, True)  # Train again: no longer forgotten
    assert state.running is True and state.forgotten is False
