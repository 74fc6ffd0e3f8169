"""Every control reachable by keyboard (issue #14), in a real browser: on every page, Tab from the top of the page
goes through every visible control of the sidebar and the page, and into every live chart, before it comes back.

A control inside a folded expander (the sidebar's Display) counts as reached through the expander's header, which
opens it; a radio group (radio buttons, a segmented control) is one stop, whose arrow keys move within it."""

from __future__ import annotations

import re

import pytest

from pages.ui import site
from tests.test_browser import (  # noqa: F401  (chromium, server, new_page are fixtures)
    _expect, _no_exceptions, _wait_for_heading, chromium, new_page, server,
)

# Mark every visible, enabled control that Tab should reach; return [mark, what it is].
MARK = r"""() => {
  const selector = 'button, input, select, textarea, a[href], [role=slider], [role=switch], [role=combobox], '
                 + '[role=checkbox], [role=radio], [tabindex]:not([tabindex="-1"]), iframe';
  const shown = e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
                       return r.width > 0 && r.height > 0 && s.visibility !== 'hidden'; };
  const folded = e => { const d = e.closest('details'); return d && !d.open && !e.closest('summary'); };
  const groups = [...document.querySelectorAll('[role=radiogroup]')];
  const marks = [];
  [...document.querySelectorAll(selector)].forEach((e, i) => {
    if (!shown(e) || folded(e) || e.disabled || e.getAttribute('aria-disabled') === 'true'
        || e.getAttribute('tabindex') === '-1' || e.tagName === 'MAIN') return;
    const group = e.closest('[role=radiogroup]');
    const mark = group ? 'group ' + groups.indexOf(group) : e.type === 'radio' ? 'radio ' + e.name : 'control ' + i;
    e.setAttribute('data-kb', mark);
    marks.push([mark, (e.getAttribute('aria-label') || e.getAttribute('title') || e.innerText || e.tagName)
                        .replace(/\s+/g, ' ').slice(0, 60)]);
  });
  return marks;
}"""
FOCUSED = "() => { const e = document.activeElement; return e && e.getAttribute('data-kb'); }"
MAX_TABS = 400


PATHS = [("", "Dropout Explorer"), *((info.path, info.title) for info in site.PAGES)]  # Home, then the menu


@pytest.mark.parametrize("path, title", PATHS, ids=[path or "home" for path, _ in PATHS])
def test_tab_reaches_every_control_on_the_page(server, new_page, path, title):
    page = new_page(server, f"/{path}")
    _wait_for_heading(page, title)
    page.wait_for_timeout(3000)  # the live charts and the sidebar's last widgets
    marks = dict(page.evaluate(MARK))
    assert len(marks) > 5, marks
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    reached: set[str] = set()
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused in reached and reached >= set(marks):
            break
        reached.add(focused)
    missed = {mark: name for mark, name in marks.items() if mark not in reached}
    assert not missed, f"not reachable with Tab on /{path}: {sorted(missed.values())}"
    _no_exceptions(page, server, f"/{path} after tabbing through it")


def test_arrows_move_within_a_segmented_control(server, new_page):
    """The part picker of a page of parts is one Tab stop: the arrow keys move within it, Space chooses."""
    page = new_page(server, "/uncertainty")
    _wait_for_heading(page, "Uncertainty")
    picker = page.get_by_role("radiogroup", name="Part")
    picker.get_by_role("radio", checked=True).focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    _expect()(page).to_have_url(re.compile(r"[?&]part=classification(&|$)"))
    _no_exceptions(page, server, "the Uncertainty page after an arrow key on its part picker")
