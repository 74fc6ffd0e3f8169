"""The Lessons page in a real browser: a lesson's link, its question, and its Open button taking the browser to the
page with the lesson's settings, where Train trains."""

from __future__ import annotations

from tests.test_browser import (  # noqa: F401  (chromium, server, new_page are fixtures)
    _epoch, _expect, _no_exceptions, _pause, _query, _shot, _wait_above, _wait_for_heading, chromium, new_page, server,
)


def test_a_lesson_opens_its_page_with_its_settings_and_trains(server, new_page):
    page = new_page(server, "/lessons?lesson=02-dropout-closes-the-gap")
    _wait_for_heading(page, "Lessons")
    _expect()(page.get_by_role("heading", name="2. Dropout closes the gap")).to_be_visible()
    page.locator("label").filter(has_text="The network with dropout: it cannot lean on any one unit").click()
    page.get_by_text("Reveal the answer").click()
    _expect()(page.get_by_text("You predicted it.")).to_be_visible()
    _shot(page, "lessons.png")
    _no_exceptions(page, server, "the Lessons page")

    page.get_by_role("button", name="Open the Playground with this lesson's settings").click()
    _wait_for_heading(page, "Playground")
    _expect()(page.get_by_role("button", name="Train", exact=True)).to_be_visible()
    query = _query(page)
    assert {k: query.get(k) for k in ("dataset", "label_noise", "epochs", "batch_size")} == {
        "dataset": "moons", "label_noise": "0.1", "epochs": "300", "batch_size": "100"}, query
    page.get_by_role("button", name="Train", exact=True).click()
    _wait_above(_epoch, page, 0)
    _shot(page, "lessons_playground.png")
    _pause(page, _epoch)
    _no_exceptions(page, server, "the Playground opened by a lesson")
