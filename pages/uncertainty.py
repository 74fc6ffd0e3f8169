"""Uncertainty: MC dropout (Gal & Ghahramani 2016) on a 1-D regression, 2-D maps and MNIST digits.

The page owns the link (``?part=...`` and that part's settings: ``pages.ui.parts``)
and the choice of part; each part draws everything of its own (sidebar, buttons, live charts)
from one function in ``pages/uncertainty_parts``.
"""

from __future__ import annotations

import streamlit as st

from pages.uncertainty_parts.digits import digits_section
from pages.uncertainty_parts.maps import maps_section
from pages.uncertainty_parts.regression import regression_section
from pages.ui import present
from pages.ui.live import steady_display
from pages.ui.parts import PartChoice, show_part
from pages.ui.router import ensure_router
from pages.ui.state import page_state

KEY = "un_"  # prefix of this page's widget keys; its PartChoice is under "un"
PARTS = {"regression": "1-D regression", "classification": "2-D classification", "digits": "MNIST digits"}
SECTIONS = {"regression": regression_section, "classification": maps_section, "digits": digits_section}
DEFAULT_PART = "regression"


def uncertainty() -> None:
    st.title("Uncertainty")
    steady_display()
    present.explain(
        "**MC dropout** (Gal & Ghahramani, 2016): keep dropout **on** at test time and run the trained network "
        "**T** times on the same input, each time a different thinned network. The average of the T passes is the "
        "prediction; how much they disagree is the model's **uncertainty**: large where the training data leave "
        "the answer open (a gap in the data, a decision boundary running into empty space), though not at every "
        "point far from the data."
    )
    show_part(KEY, page_state("un", PartChoice), PARTS, DEFAULT_PART, SECTIONS)


ensure_router()
uncertainty()
