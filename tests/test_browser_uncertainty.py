"""The Uncertainty page's regression and classification parts in a real browser.

Deep link to each part, its charts drawn, Train redraws them with new data, Pause stops (how soon the first
charts appear is measured by ``python -m explorer bench``, not here). Uses the server, browser and helpers of tests/test_browser.py;
screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import time

from tests.test_browser import (  # noqa: F401 -- chromium, new_page and server are fixtures
    _drawn_data,
    _expect,
    _expect_drawn,
    _live_charts,
    _no_exceptions,
    _pause,
    _query,
    _shot,
    _step,
    _wait_above,
    _wait_for_heading,
    chromium,
    new_page,
    server,
)

PARTS = {  # part: (live charts, a text one of them shows)
    "regression": (2, "MC dropout, T = 30 passes"),
    "classification": (2, "Mutual information (epistemic)"),
}


def _open(server, new_page, part: str):
    """The part by deep link in a fresh session, once every chart is drawn."""
    charts, text = PARTS[part]
    page = new_page(server, f"/uncertainty?part={part}")
    _wait_for_heading(page, "Uncertainty")
    _expect()(_live_charts(page)).to_have_count(charts)
    _expect_drawn(page, charts, text)
    return page


def _train_redraw_pause(page, server, part: str) -> None:
    charts, _ = PARTS[part]
    assert _step(page)[0] == 0
    before = _drawn_data(page)
    page.get_by_role("button", name="Train", exact=True).click()
    _expect()(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    first, text = _wait_above(_step, page, 0)
    assert "training" in text, text
    _wait_above(_step, page, first)
    time.sleep(2.5)  # the maps are recomputed about once a second while training, the curves every 0.5 s
    for _ in range(3):  # redrawn in place: never blank while training
        assert len(_drawn_data(page)) == charts, "a live chart blanked out while training"
        time.sleep(0.3)
    after = _drawn_data(page)
    changed = [a != b for a, b in zip(before, after)]
    assert len(after) == charts and all(changed), f"charts not redrawn with new data: {changed}"
    _shot(page, f"uncertainty_{part}_training.png")
    _live_charts(page).first.scroll_into_view_if_needed()
    _shot(page, f"uncertainty_{part}_charts.png")  # the charts as a projector shows them, scrolled to
    _live_charts(page).last.scroll_into_view_if_needed()
    _shot(page, f"uncertainty_{part}_numbers.png")  # the numbers, the reading guide and the curves
    page.get_by_role("button", name="Pause", exact=True).scroll_into_view_if_needed()
    _no_exceptions(page, server, f"the Uncertainty page ({part}) while training")
    _pause(page, _step)
    _expect_drawn(page, charts)
    _shot(page, f"uncertainty_{part}_paused.png")
    _no_exceptions(page, server, f"the paused Uncertainty page ({part})")


def test_regression_part_trains_live(server, new_page):
    _train_redraw_pause(_open(server, new_page, "regression"), server, "regression")


def test_classification_part_trains_live(server, new_page):
    _train_redraw_pause(_open(server, new_page, "classification"), server, "classification")


def test_a_bad_part_warns(server, new_page):
    page = new_page(server, "/uncertainty?part=nope")
    _wait_for_heading(page, "Uncertainty")
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="Link parameter not used: part")
    _expect()(warning).to_be_visible()
    _expect_drawn(page, *PARTS["regression"])
    assert "part=regression" in page.url
    _no_exceptions(page, server, "the Uncertainty page with a bad part")


def test_a_link_with_a_setting_opens_it_and_keeps_it(server, new_page):
    page = new_page(server, "/uncertainty?part=classification&p=0.4&passes=12")
    _wait_for_heading(page, "Uncertainty")
    _expect_drawn(page, *PARTS["classification"])
    _expect()(page.get_by_text("T = 12 passes at drop rate q = 0.4")).to_be_visible()
    assert _query(page) == {"part": "classification", "p": "0.4", "passes": "12"}, page.url
    assert page.locator('[data-testid="stAlert"]').count() == 0
    _no_exceptions(page, server, "the Uncertainty page opened by a link with settings")
