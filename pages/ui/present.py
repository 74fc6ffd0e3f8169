"""Presenter mode: a page for a projector. ``?present=1`` on any page, or the sidebar's toggle.

The sidebar starts collapsed, the main column is drawn larger (type, and the
live charts, ``pages.ui.live``, to be read from the back of a room on a 1280×720 projector), and pages
leave out their long explanations (``explain``); a link's ``focus=boundary,curves`` (a lesson's) keeps only
those live charts. The mode is the session's: it
stays on from page to page, and the address bar keeps ``present=1`` so a link
copied in class opens the same way. The pages never see the parameter: their
links are their own settings.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

KEY = "present"
FOCUS = "focus"  # a link's panels to show while presenting ("boundary,curves": the live charts' names)
_WRITTEN = "_present_in_link"  # the value finish() last left in the address bar
_FOCUSED = "_present_focus"
SCALE = 1.3  # type and charts: at 1280 px a 16 px text reads as 21 px, from the back of a room
_CSS = f"""
<style>
html {{ font-size: {16 * SCALE:.0f}px; }}
[data-testid="stMainBlockContainer"] {{ padding: 3rem 1.5rem 1rem; }}
</style>
"""
# Outside presenter mode the buttons are too narrow for a key beside their label; their help says the key.
_KEYS_HIDDEN = "<style>button kbd { display: none !important; }</style>"


def presenting() -> bool:
    return bool(st.session_state.get(KEY, False))


def setup(page: str) -> None:
    """Before ``page`` (its URL path) runs: take ``present`` and ``focus`` out of the link into the session, then
    collapse the sidebar and enlarge the page.

    Every run carries the address bar's parameters, and a run cut short by a click may have left them out (a
    page rewrites the link, ``finish`` puts these back): so only a value this session did not write there is a
    link's (a new tab, a link followed), and a missing one changes nothing; the toggle's value stands. A focus
    holds on the page it came with.
    """
    s, text = st.session_state, st.query_params.get(KEY)
    if text is not None:
        del st.query_params[KEY]
    if KEY not in s or (text is not None and text != s.get(_WRITTEN)):
        s[KEY] = text is not None and text.strip() == "1"
        if text is not None and text.strip() not in ("0", "1"):
            st.warning(f"Link parameter not used: present: expected 0 or 1, got {text!r}; presenter mode off")
    focus = st.query_params.get(FOCUS)
    if focus is not None:
        del st.query_params[FOCUS]
        s[_FOCUSED] = (page, tuple(dict.fromkeys(name.strip() for name in focus.split(",") if name.strip())))
    elif s.get(_FOCUSED, (page,))[0] != page:
        del s[_FOCUSED]
    if presenting():
        st.set_page_config(initial_sidebar_state="collapsed")
        st.html(_CSS)
    else:
        st.html(_KEYS_HIDDEN)


def shown(key: str) -> bool:
    """Whether the live chart ``key`` (a page's prefix, "fig_", its panel's name) is drawn: every chart, except
    while presenting a link with a ``focus``, which names the panels that matter (a lesson's)."""
    focus = st.session_state.get(_FOCUSED, ("", ()))[1]
    return not (presenting() and focus) or key.partition("fig_")[2] in focus


def finish(place: DeltaGenerator) -> None:
    """After the page ran: the toggle (in ``place``), and ``present=1`` back in the address bar while the mode is
    on."""
    place.toggle("Presenter mode", key=KEY, help="For a projector: the sidebar folded away, larger type and "
                 "charts, no long explanations. `?present=1` on any link turns it on.")
    s = st.session_state
    s[_WRITTEN] = "1" if presenting() else None
    if presenting():
        st.query_params[KEY] = "1"
    if s.get(_FOCUSED, ("", ()))[1]:
        st.query_params[FOCUS] = ",".join(s[_FOCUSED][1])


def explain(text: str) -> None:
    """A page's explanation, left out in presenter mode (the teacher says it)."""
    if not presenting():
        st.markdown(text)
