"""The Co-adaptation page in a real browser: deep link, every chart drawn, Train redraws them, Pause.

Uses the server, browser and helpers of tests/test_browser.py; screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import time

from tests.test_browser import (  # noqa: F401 -- chromium and server are fixtures
    _drawn_data,
    _epoch,
    _expect,
    _expect_drawn,
    _no_exceptions,
    _pause,
    _shot,
    _step,
    _wait_above,
    _wait_for_heading,
    chromium,
    new_page,
    server,
)

CHARTS = 6


def test_coadaptation_page_opens_with_defaults(server, new_page):
    """The MNIST reference run (784-512-512-10): every chart drawn, untrained. How long that takes is measured by
    ``python -m explorer bench`` (first results), not here: a timed test on a shared box says little."""
    page = new_page(server, "/coadaptation")
    _wait_for_heading(page, "Co-adaptation")
    texts = _expect_drawn(page, CHARTS, "hidden 2 · dropout · 128 of")
    assert any("Validation accuracy as units of hidden 2 are removed" in t for t in texts), texts
    _shot(page, "coadaptation_open.png")
    _no_exceptions(page, server, "the Co-adaptation page")


def test_coadaptation_page_trains_live_and_pauses(server, new_page):
    page = new_page(server, "/coadaptation?train_size=1500&val_size=500&epochs=30")
    expect = _expect()
    _wait_for_heading(page, "Co-adaptation")
    _expect_drawn(page, CHARTS, "Importance of each unit of hidden 2")
    assert _step(page)[0] == 0
    before = _drawn_data(page)

    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    first, text = _wait_above(_step, page, 0)
    assert "training" in text, text
    _wait_above(_epoch, page, 0)  # the tracked numbers and the curves gain a point at each epoch's end
    time.sleep(2.5)  # the analyses are redone at most every second while training
    for _ in range(3):  # redrawn in place: never blank while training
        assert len(_drawn_data(page)) == CHARTS, "a live chart blanked out while training"
        time.sleep(0.3)
    after = _drawn_data(page)
    changed = sum(a != b for a, b in zip(before, after))
    assert changed >= CHARTS - 1, f"only {changed} of {CHARTS} charts were redrawn with new data: {[a != b for a, b in zip(before, after)]}"
    _wait_above(_step, page, first)
    _shot(page, "coadaptation_training.png")
    _no_exceptions(page, server, "the Co-adaptation page while training")

    _pause(page, _step)
    _expect_drawn(page, CHARTS)
    page.mouse.wheel(0, 1400)
    time.sleep(0.5)
    _shot(page, "coadaptation_paused_lower.png")
    _no_exceptions(page, server, "the paused Co-adaptation page")
