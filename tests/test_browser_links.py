"""Shared links in a real browser: the Variants lab (each lane's own settings) and the Sweeps page, changed in the
browser, then opened from their address bar in a fresh browser session, show the same settings (issue #16)."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

from tests.test_browser import (  # noqa: F401  (chromium, server, new_page are fixtures)
    _expect, _no_exceptions, _query, _sidebar_text, _wait_for_heading, chromium, new_page, server,
)

SIDEBAR = '[data-testid="stSidebar"]'


def _reopened(new_page, server, page, title: str):
    """``page``'s address opened in a fresh browser session (a new Streamlit session)."""
    parts = urlsplit(page.url)
    again = new_page(server, f"{parts.path}?{parts.query}")
    _wait_for_heading(again, title)
    return again


def _assert_same_sidebar(page, again) -> None:
    """Both sidebars hold the same inputs and values: read until they agree or 10 s pass (a rerun redraws the
    sidebar, so one reading may catch it half drawn)."""
    deadline = time.monotonic() + 10.0
    while (ours := _sidebar_text(page)) != (theirs := _sidebar_text(again)) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert theirs == ours


def _wait_for_query(page, name: str, value: str) -> None:
    _expect()(page).to_have_url(re.compile(rf"[?&]{re.escape(name)}={re.escape(value)}(&|$)"))


def _open_lanes(page, *names: str):
    """Open the sidebar panels of the lanes ``names`` (a closed one draws no controls); returns the last."""
    for name in names:
        lane = page.locator(SIDEBAR).locator('[data-testid="stExpander"]').filter(has_text=name)
        if lane.get_by_role("slider").count() == 0:
            lane.get_by_text(name, exact=True).click()
        _expect()(lane.get_by_role("slider").first).to_be_visible()
    return lane


def test_lab_link_keeps_each_lanes_own_settings(server, new_page):
    page = new_page(server, "/lab?dataset=moons&train_size=200&variants=standard,gaussian,early"
                            "&standard.inference=mc&standard.mc_samples=12")
    _wait_for_heading(page, "Variants lab")
    expect = _expect()
    # One lane's rate, moved in the browser: the Gaussian lane's panel, its drop-rate slider one step right.
    lane = _open_lanes(page, "Gaussian (multiplicative)")
    slider = lane.get_by_role("slider", name="Hidden drop rate q")
    expect(slider).to_be_visible()
    moved = f"{float(slider.get_attribute('aria-valuetext')) + 0.05:g}"
    slider.focus()
    page.keyboard.press("ArrowRight")
    expect(slider).to_have_attribute("aria-valuetext", moved)
    _wait_for_query(page, "gaussian.p", moved)
    query = _query(page)
    assert query["variants"] == "standard,gaussian,early" and query["standard.mc_samples"] == "12", query

    again = _reopened(new_page, server, page, "Variants lab")
    for shown in (page, again):
        _open_lanes(shown, "Standard (inverted)", "Gaussian (multiplicative)")
    expect(again.locator(SIDEBAR).get_by_role("slider", name="Passes T")).to_have_attribute("aria-valuetext", "12")
    assert _query(again) == query, again.url
    _assert_same_sidebar(page, again)
    assert not again.locator('[data-testid="stAlert"]').filter(has_text="Link parameter not used").count()
    _no_exceptions(again, server, "the Variants lab opened from a shared link")


def test_sweep_link_reproduces_the_page(server, new_page):
    page = new_page(server, "/sweep?over=size&seeds=2&hidden=128&epochs=30")
    _wait_for_heading(page, "Sweeps")
    seeds = page.locator(SIDEBAR).get_by_label("Seeds per point")
    _expect()(seeds).to_have_value("2")
    query = _query(page)
    assert query == {"over": "size", "seeds": "2", "hidden": "128", "epochs": "30"}, page.url
    again = _reopened(new_page, server, page, "Sweeps")
    _expect()(again.locator(SIDEBAR).get_by_label("Seeds per point")).to_have_value("2")
    assert _query(again) == query, again.url
    _assert_same_sidebar(page, again)
    _no_exceptions(again, server, "the Sweeps page opened from a shared link")
