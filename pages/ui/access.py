"""Accessibility options of the session: a colour-blind-safe palette, and every live chart described in words.

Both are sidebar controls drawn by ``app.py`` on every page and kept for the
session. The palette changes every chart (``prepare``, used by the live charts
and the home page); the description of a live chart is always given to screen
readers (the chart's label) and shown under it when asked.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from explorer.core.accessible import colour_blind
from explorer.core.figures import Figure

PALETTE, WORDS = "palette", "describe_charts"
PALETTES = {"default": "Default", "colour-blind": "Colour-blind safe (shapes too)"}


def choose(place: DeltaGenerator) -> None:
    """The two controls, in ``place``."""
    place.selectbox("Colours", list(PALETTES), key=PALETTE, format_func=PALETTES.get,
                    help="Colour-blind safe: the Okabe–Ito colours, and classes and runs told apart by marker shape "
                         "as well as colour.")
    place.toggle("Describe charts in words", key=WORDS,
                 help="A line under each live chart says what it shows now (screen readers always get it).")


def colour_blind_on() -> bool:
    return st.session_state.get(PALETTE) == "colour-blind"


def words_on() -> bool:
    return bool(st.session_state.get(WORDS, False))


def prepare(fig: Figure) -> Figure:
    """``fig`` in the session's palette."""
    return colour_blind(fig) if colour_blind_on() else fig
