"""Theory: dropout as L2, exact model averaging, and dropout against weight decay and early stopping.

The page draws a title, an introduction and the choice of part; each part is
one function of ``pages.theory_parts`` that draws its own sidebar, buttons and live
fragment. The page owns the link: the part (``?part=…``) and that part's settings (``pages.ui.parts``).
"""

from __future__ import annotations

import importlib

import streamlit as st

from pages.ui import present
from pages.ui.live import steady_display
from pages.ui.parts import PartChoice, Section, show_part
from pages.ui.router import ensure_router
from pages.ui.state import page_state

KEY = "th_"  # prefix of this page's widget keys; its PartChoice is under "th"
PARTS = {"l2": "Dropout as L2", "averaging": "Exact model averaging",
         "regularisers": "Dropout vs weight decay vs early stopping"}
# Each part's module in pages.theory_parts and its drawing function, imported when first shown (a part's backend
# costs up to ~1.5 s to import on a fresh server; the first chart should not wait for the other parts').
SECTIONS = {"l2": ("l2", "dropout_l2_section"), "averaging": ("averaging", "averaging_section"),
            "regularisers": ("regularisers", "regularisers_section")}
DEFAULT_PART = "l2"


def _lazy(module: str, function: str) -> Section:
    """The part's drawing function, its module imported on the first call."""
    def section(link: dict[str, str]) -> dict[str, str]:
        return getattr(importlib.import_module(f"pages.theory_parts.{module}"), function)(link)

    return section


def theory_page() -> None:
    st.title("Theory")
    steady_display()
    present.explain("Three results behind dropout, each shown on models trained here: in expectation over its masks, "
                "input dropout is ridge regression; weight scaling approximates the exact average of all 2ⁿ thinned networks; and dropout, "
                "weight decay and early stopping each tame one overfitting network.")
    show_part(KEY, page_state("th", PartChoice), PARTS, DEFAULT_PART,
              {part: _lazy(*where) for part, where in SECTIONS.items()})


ensure_router()
theory_page()
