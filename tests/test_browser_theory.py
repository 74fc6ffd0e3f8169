"""The Theory page in a real browser: the L2 and regularisers parts drawn, trained live, redrawn and paused; a
link's settings opened and kept in the address bar."""

from __future__ import annotations

import re
import time

from tests.test_browser import (  # noqa: F401  (chromium, server, new_page are fixtures)
    _drawn_data, _drawn_live_charts, _epoch, _expect, _expect_drawn, _live_charts, _no_exceptions, _pause, _query,
    _shot, _step, _wait_above, _wait_for_heading, chromium, new_page, server,
)

def _open(new_page, server, path: str, charts: int, containing: str):
    """Open ``path`` and wait for its ``charts`` live charts, one showing ``containing``. How soon they appear is
    measured by ``python -m explorer bench`` (first results), not by a timed test."""
    page = new_page(server, path)
    _wait_for_heading(page, "Theory")
    _expect()(_live_charts(page)).to_have_count(charts)
    _expect_drawn(page, charts, containing)
    return page


def _trains_and_redraws(page, charts: int) -> None:
    page.get_by_role("button", name="Train", exact=True).click()
    first, text = _wait_above(_step, page, 0)
    assert "training" in text, text
    before = _drawn_data(page)
    _wait_above(_epoch, page, _epoch(page)[0])
    for _ in range(3):  # redrawn in place: never blank while training
        assert len(_drawn_live_charts(page)) == charts, "a live chart blanked out while training"
        time.sleep(0.3)
    after = _drawn_data(page)
    assert before != after, "the charts were not redrawn with new data"


def test_dropout_as_l2_trains_towards_the_closed_form(server, new_page):
    page = _open(new_page, server, "/theory", 2, "Distance to the closed form")
    assert _query(page)["part"] == "l2"
    _expect()(page.get_by_text("Trained vs closed form")).to_be_visible()
    _shot(page, "theory_l2_untrained.png")
    _trains_and_redraws(page, 2)
    _shot(page, "theory_l2_training.png")
    _live_charts(page).nth(1).scroll_into_view_if_needed()
    _shot(page, "theory_l2_charts.png")
    _no_exceptions(page, server, "the L2 part while training")
    _pause(page, _step)
    _no_exceptions(page, server, "the paused L2 part")


def test_regularisers_compare_three_runs_live(server, new_page):
    page = _open(new_page, server, "/theory?part=regularisers", 1, "Accuracy")
    _trains_and_redraws(page, 1)
    _wait_above(_epoch, page, 45, timeout=60)  # past the unregularised run's best epoch (38 on the defaults)
    texts = _drawn_live_charts(page)
    assert any("early stopping (epoch" in t for t in texts), texts
    _shot(page, "theory_regularisers_training.png")
    page.locator('[data-testid="stDataFrame"]').scroll_into_view_if_needed()
    _shot(page, "theory_regularisers_table.png")
    _no_exceptions(page, server, "the regularisers part while training")
    _pause(page, _epoch)
    _no_exceptions(page, server, "the paused regularisers part")


def test_a_bad_part_warns_in_the_browser(server, new_page):
    page = new_page(server, "/theory?part=nonsense")
    _wait_for_heading(page, "Theory")
    _expect()(page.get_by_text("got 'nonsense'")).to_be_visible()
    _expect_drawn(page, 2, "Weights per feature")
    _no_exceptions(page, server, "a bad part")


def test_a_link_with_settings_opens_them_and_keeps_them(server, new_page):
    page = _open(new_page, server, "/theory?part=averaging&p=0.3&k=50", 4, "Exact mean of all 1,024")
    _expect()(page.get_by_text("MC average of k = 50 (mean of 20 draws)")).to_be_visible()
    assert _query(page) == {"part": "averaging", "p": "0.3", "k": "50"}, page.url
    assert page.locator('[data-testid="stAlert"]').count() == 0
    _shot(page, "theory_averaging_linked.png")
    page.get_by_role("radio", name="Dropout as L2").click()  # another part: its own settings, none of the link's
    _expect_drawn(page, 2, "Weights per feature")
    _expect()(page).to_have_url(re.compile(r"/theory\?part=l2$"))
    _no_exceptions(page, server, "the Theory page opened by a link with settings")
