"""The Theory page's exact-averaging part in a real browser: deep link, charts drawn, Train redraws them, Pause.

Reuses the server, browser and helpers of tests/test_browser.py; screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import time

from tests.test_browser import (_drawn_data, _expect, _expect_drawn, _live_charts, _no_exceptions, _pause,  # noqa: F401
                                _shot, _step, _wait_above, _wait_for_heading, chromium, new_page, server)

CHARTS = 4  # the four maps, the difference maps, the MC curve, the training curves


def test_averaging_part_draws_trains_live_and_pauses(server, new_page):
    page = new_page(server, "/theory?part=averaging")
    expect = _expect()
    _wait_for_heading(page, "Theory")
    expect(_live_charts(page)).to_have_count(CHARTS)
    texts = _expect_drawn(page, CHARTS, "Exact mean of all 1,024")
    assert any("MC averaging error against the number of sampled networks k" in t for t in texts), texts
    assert any("Where each approximation departs from the exact mean" in t for t in texts), texts
    assert _step(page)[0] == 0
    expect(page.get_by_text("Geometric mean = weight scaling, exactly")).to_be_visible()
    _shot(page, "theory_averaging.png")
    _no_exceptions(page, server, "the averaging part")

    epochs = page.get_by_label("Epochs", exact=True)  # more than the default 300, which can finish in ~15 s
    epochs.fill("2000")
    epochs.press("Enter")
    expect(page.get_by_text("Epoch 0 of 2000")).to_be_visible()
    before = _drawn_data(page)
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    first, text = _wait_above(_step, page, 0)
    assert "training" in text, text
    deadline = time.monotonic() + 20
    while True:  # the analysis is recomputed about every second while training
        after = _drawn_data(page)
        changed = [a != b for a, b in zip(before, after)]
        if len(after) == CHARTS and all(changed):
            break
        assert time.monotonic() < deadline, f"not every chart was redrawn with new data: {changed}"
        time.sleep(0.5)
    _wait_above(_step, page, first)
    for _ in range(3):  # redrawn in place: never blank while training
        assert len(_drawn_data(page)) == CHARTS, "a live chart blanked out while training"
        time.sleep(0.3)
    _shot(page, "theory_averaging_training.png")
    _no_exceptions(page, server, "the averaging part while training")

    _pause(page, _step)
    _expect_drawn(page, CHARTS)
    page.get_by_text("How close is each shortcut?").scroll_into_view_if_needed()
    _shot(page, "theory_averaging_table.png")
    for index, name in ((1, "difference"), (2, "curve")):
        _live_charts(page).nth(index).scroll_into_view_if_needed()
        time.sleep(0.5)
        _shot(page, f"theory_averaging_{name}.png")
    _no_exceptions(page, server, "the paused averaging part")

    # Input dropout: 2 more droppable units, and the geometric mean parts from weight scaling.
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Input drop rate").get_by_role("slider")
    thumb.focus()
    for _ in range(4):  # 0 → 0.2 in steps of 0.05
        thumb.press("ArrowRight")
        time.sleep(0.3)
    expect(page.get_by_text("Geometric mean ≈ weight scaling, no longer exactly")).to_be_visible()
    _expect_drawn(page, CHARTS, "Exact mean of all 4,096")
    page.get_by_text("Geometric mean ≈ weight scaling").scroll_into_view_if_needed()
    _shot(page, "theory_averaging_input_dropout.png")
    page.get_by_text("Why the geometric mean is exactly weight scaling").click()
    expect(page.locator(".katex").first).to_be_visible()
    page.get_by_text("Why the geometric mean is exactly weight scaling").scroll_into_view_if_needed()
    _shot(page, "theory_averaging_derivation.png")
    _no_exceptions(page, server, "the averaging part with input dropout")
