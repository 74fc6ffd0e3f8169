"""Presenter mode in a real browser, on every live page: ``?present=1`` folds the sidebar away and draws the page
larger, Space trains, Space again pauses, S steps; screenshots at a projector's 1280×720."""

from __future__ import annotations

import re

import pytest

from tests.test_browser import (  # noqa: F401  (chromium, server are fixtures)
    _expect, _no_exceptions, _progress, _shot, _step, _wait_above, _wait_for_heading, chromium, server,
)

PAGES = [  # (link, title, the play button's label, how far the run is)
    ("playground", "Playground", "Train", _step),
    ("inside?train_size=500&epochs=200", "Inside the network", "Train", _step),
    ("lab?dataset=moons", "Variants lab", "Train", _step),
    ("sweep?dataset=moons&epochs=200", "Sweeps", "Run", _progress),
    ("coadaptation?dataset=moons", "Co-adaptation", "Train", _step),
    ("uncertainty", "Uncertainty", "Train", _step),
    ("theory", "Theory", "Train", _step),
]


@pytest.fixture
def projector(chromium):
    """A browser page the size of a 1280×720 projector."""
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    yield page
    context.close()


def _button(page, label: str):
    """The button whose label starts with ``label`` (in presenter mode its key is shown beside it)."""
    return page.get_by_role("button", name=re.compile(f"^{label}\\b"))


def _press(page, key: str, shown) -> None:
    """Press ``key`` once and wait for ``shown`` (the page was loaded, ``_wait_for_heading``, before the first)."""
    page.keyboard.press(key)
    _expect()(shown).to_be_visible(timeout=10_000)


@pytest.mark.parametrize("link, title, play, read", PAGES, ids=[p[0].split("?")[0] for p in PAGES])
def test_space_trains_and_pauses_in_presenter_mode(server, projector, link, title, play, read):
    page, expect = projector, _expect()
    page.goto(f"{server.url}/{link}{'&' if '?' in link else '?'}present=1")
    _wait_for_heading(page, title)
    expect(page.locator('[data-testid="stSidebar"]')).to_have_attribute("data-collapsed", "true")
    expect(_button(page, play)).to_be_visible()
    expect(_button(page, play).locator("kbd")).to_have_text("Space")  # the key, shown to the room
    assert "present=1" in page.url

    _press(page, "Space", _button(page, "Pause"))
    _wait_above(read, page, 0, timeout=60.0)
    _press(page, "Space", _button(page, play))
    expect(page.get_by_text(re.compile(r"· paused")).filter(visible=True).first).to_be_visible(timeout=5_000)
    page.wait_for_timeout(1000)  # a frame already on its way when the key was pressed may still arrive
    paused = read(page)[0]
    page.wait_for_timeout(1500)
    assert read(page)[0] == paused, "still training after Space"
    expect(_button(page, play).locator("kbd")).to_have_text("Space")  # still presenting after the key presses
    assert "present=1" in page.url
    _shot(page, f"present_{link.split('?')[0]}.png")  # trained a little: every chart drawn
    _no_exceptions(page, server, f"/{link} in presenter mode")


def test_s_steps_once(server, projector):
    page = projector
    page.goto(f"{server.url}/playground?present=1")
    _wait_for_heading(page, "Playground")
    _expect()(_button(page, "Step")).to_be_visible()
    before = _step(page)[0]
    page.keyboard.press("s")
    _wait_above(_step, page, before, timeout=30.0)
    assert _step(page)[0] == before + 1
