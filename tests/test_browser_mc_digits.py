"""The Uncertainty page's MNIST part in a real browser: deep link, charts drawn, Train, redrawn, Pause.

How soon the first charts appear is measured by ``python -m explorer bench`` (first results), not here.
"""

from __future__ import annotations

import re
import time

from tests.test_browser import (_drawn_data, _drawn_live_charts, _expect, _expect_drawn,  # noqa: F401
                                _no_exceptions, _pause, _shot, _step, _wait_above, _wait_for_heading, chromium,
                                new_page, server)

LINK = "/uncertainty?part=digits"
CHARTS = 4
CURVE = "Validation error vs thinned networks averaged"
COMPUTED_AT = re.compile(r"computed at step (\d+)")




def _curve_step(page) -> int:
    """The step the MC-averaging chart was computed at, read from its title; -1 while it is not drawn."""
    for text in _drawn_live_charts(page):
        m = COMPUTED_AT.search(text)
        if m:
            return int(m.group(1))
    return -1


def _wait_curve_step(page, done, timeout: float = 30.0) -> int:
    """Poll the MC-averaging chart's step until ``done(step)``."""
    deadline = time.monotonic() + timeout
    while not done(step := _curve_step(page)):
        assert time.monotonic() < deadline, f"the MC chart stayed at step {step}: {_drawn_live_charts(page)!r}"
        time.sleep(0.25)
    return step


def test_uncertainty_digits_part_trains_live(server, new_page):
    page = new_page(server, LINK)
    _wait_for_heading(page, "Uncertainty")
    _expect_drawn(page, CHARTS, CURVE)
    expect = _expect()
    assert _step(page)[0] == 0 and _wait_curve_step(page, lambda step: step == 0) == 0
    texts = _drawn_live_charts(page)
    assert any("The digit 3, rotated step by step" in t for t in texts), texts
    assert any("Uncertainty vs rotation" in t for t in texts), texts
    _shot(page, "uncertainty_digits_opened.png")

    epochs = page.get_by_label("Epochs")  # more than the test can watch: Pause comes before the end
    epochs.fill("200")
    epochs.press("Enter")
    expect(page.get_by_text("Epoch 0 of 200")).to_be_visible()
    before = _drawn_data(page)
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    first_step, text = _wait_above(_step, page, 0)
    assert "training" in text, text
    _wait_curve_step(page, lambda step: step > 0)  # the costly chart: recomputed every few seconds while training
    _expect_drawn(page, CHARTS, CURVE)  # the run that starts training mounts the live fragment's charts anew
    assert _drawn_data(page) != before
    for _ in range(3):  # redrawn in place: never blank while training
        assert len(_drawn_live_charts(page)) == CHARTS, "a live chart blanked out while training"
        time.sleep(0.3)
    _shot(page, "uncertainty_digits_training.png")
    _no_exceptions(page, server, "the Uncertainty page's digits part while training")

    paused = _pause(page, _step)
    _wait_curve_step(page, lambda step: step == paused)  # paused: computed once more, for the step on screen
    _shot(page, "uncertainty_digits_paused.png")
    page.get_by_role("heading", name="A digit rotated out of the training distribution").scroll_into_view_if_needed()
    time.sleep(0.5)
    _shot(page, "uncertainty_digits_rotation.png")
    _no_exceptions(page, server, "the paused Uncertainty page's digits part")
