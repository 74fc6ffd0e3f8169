"""Presenter mode through AppTest: ``?present=1`` turns it on for the session and stays in the link, pages leave out
their long explanations, live charts are drawn larger, the toggle turns it off; the pages never see the parameter."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("streamlit")

from pages.ui import present  # noqa: E402
from tests.test_app import PLAYGROUND, _link, _open, _warnings  # noqa: E402

SWEEP = "pages/sweep.py"


def _live_chart_scales(at) -> set[float]:
    return {json.loads(c.proto.json_args)["scale"] for c in at.get("component_instance")}


def test_present_turns_the_mode_on_and_stays_in_the_link():
    at = _open(PLAYGROUND, present="1", p="0.3")
    assert at.session_state["present"] is True
    assert not _warnings(at)  # the Playground's link is its own settings: present is not one of them
    assert _link(at) == {"p": "0.3", "present": "1"}
    assert at.session_state["pg"].run.exp.p == 0.3
    assert _live_chart_scales(at) == {present.SCALE}
    at.switch_page(SWEEP).run()
    assert at.session_state["present"] is True and _link(at).get("present") == "1"


def test_a_page_leaves_out_its_explanation_while_presenting():
    explanation = "The dropout paper's two classic experiments"
    assert any(explanation in m.value for m in _open(SWEEP).markdown)
    assert not any(explanation in m.value for m in _open(SWEEP, present="1").markdown)


def test_the_toggle_turns_it_off():
    at = _open(PLAYGROUND, present="1")
    at.sidebar.toggle(key="present").set_value(False).run()
    assert "present" not in _link(at)
    assert _live_chart_scales(at) == {1}


def test_a_bad_value_is_reported_and_the_mode_stays_off():
    at = _open(PLAYGROUND, present="yes")
    assert _warnings(at) == ["Link parameter not used: present: expected 0 or 1, got 'yes'; presenter mode off"]
    assert at.session_state["present"] is False and "present" not in _link(at)


def _drawn_panels(at) -> set[str]:
    return {json.loads(c.proto.json_args)["summary"].split(". ")[0].rstrip(".") for c in at.get("component_instance")}


def test_a_links_focus_keeps_only_its_charts_while_presenting():
    everything = _drawn_panels(_open(PLAYGROUND, focus="boundary,curves"))
    assert len(everything) == 5  # not presenting: every chart
    at = _open(PLAYGROUND, present="1", focus="boundary,curves")
    assert _drawn_panels(at) == {"Dropout q = 0.5", "Loss (cross-entropy) and Accuracy"}
    assert _link(at) == {"present": "1", "focus": "boundary,curves"} and not _warnings(at)


def test_a_run_that_lost_the_parameter_keeps_the_mode_and_the_focus():
    """A click can cut a run short after the page rewrote the link and before ``present`` went back into it."""
    at = _open(PLAYGROUND, present="1", focus="curves")
    at.query_params.clear()
    at.run()
    assert at.session_state["present"] is True
    assert _drawn_panels(at) == {"Loss (cross-entropy) and Accuracy"}
    assert _link(at) == {"present": "1", "focus": "curves"}


def test_present_0_turns_it_off_and_a_focus_stays_on_its_page():
    at = _open(PLAYGROUND, present="1", focus="curves")
    at.query_params.clear()  # the menu's links carry no parameters
    at.switch_page(SWEEP).run()
    assert _link(at) == {"present": "1"} and at.session_state["present"] is True
    at.query_params["present"] = "0"
    at.run()
    assert at.session_state["present"] is False and "present" not in _link(at)
