"""Throttled live charts (pages.ui.live): a figure is built only when due, and the last one is redrawn between."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page() -> None:
    import time

    import streamlit as st

    from pages.ui.live import due, live_chart

    every, frames = st.session_state.get("every", 0.05), st.session_state.get("frames", 1)
    run = st.session_state["run"] = st.session_state.get("run", -1) + 1
    built = due("chart", every, frames)
    st.session_state.setdefault("built", []).append(built)
    time.sleep(st.session_state.get("pause", 0.0))  # the chart may fall due between the question and the drawing
    live_chart({"data": [{"y": [run]}], "layout": {"height": 200}} if built else None, "chart", every, frames)


def _spec(at: AppTest) -> str:
    """The chart's last figure, as the JSON text it was sent as (bytes)."""
    return at.session_state["_live_chart_chart"].spec.decode()


def test_a_chart_not_due_redraws_its_last_figure_even_if_it_fell_due_meanwhile():
    at = AppTest.from_function(_page)
    # Not due at the second run's question (AppTest's run takes well under 0.5 s), due after its pause.
    at.session_state["every"], at.session_state["pause"] = 0.5, 1.0
    at.run()
    first = _spec(at)
    at.run()
    assert not at.exception and at.session_state["built"] == [True, False]
    assert _spec(at) == first and '"y":[0]' in first
    at.run()  # due now: a new figure
    assert at.session_state["built"][-1] and '"y":[2]' in _spec(at)


def test_frames_as_well_as_seconds():
    at = AppTest.from_function(_page)
    at.session_state["every"], at.session_state["frames"] = 0.0001, 3
    for _ in range(7):
        at.run()
    assert not at.exception
    assert at.session_state["built"] == [True, False, False, True, False, False, True]


def test_an_unthrottled_chart_keeps_nothing_and_a_throttled_one_stays_current_when_paused():
    at = AppTest.from_function(_page)
    at.session_state["every"] = 0.0
    at.run()
    assert "_live_chart_chart" not in at.session_state
    at.session_state["every"] = 60.0  # training: throttled from now on
    at.run()
    at.session_state["every"] = 0.0  # paused: every frame drawn at once, and remembered for the next throttled one
    at.run()
    assert '"y":[2]' in _spec(at)
