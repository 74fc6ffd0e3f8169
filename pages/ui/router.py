"""Make every page go through app.py's router, even a deep link on a fresh server."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_router() -> None:
    """Call first in every page script.

    Because a ``pages/`` folder exists, Streamlit starts in its old multipage
    mode and runs a deep-linked page script directly, skipping ``app.py`` (and
    with it the navigation, page config and shared sidebar), until some
    session's run has called ``st.navigation``. Leaving that mode and rerunning
    sends this same URL through ``app.py``, whose ``st.Page`` has the same URL
    path and therefore the same page.

    No public API does this: Streamlit sets the flag from the existence of
    ``pages/`` beside the main script, and only ``st.navigation`` clears it,
    after a run has got that far (checked in Streamlit 1.67:
    runtime/pages_manager.py, commands/navigation.py); the folder's name is
    fixed by the product's layout. tests/test_browser.py deep-links every page
    on a fresh server.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
