"""The choice of part on a page of several (Uncertainty, Theory), and the link that holds the part and its settings.

Such a page's link is ``?part=KEY&…``: the part, then the settings of that part
(each part reads and writes its own, as the single-experiment pages do). A part
is drawn by ``section(link) -> link``: it gets the link's parameters meant for
it (only on the session's first visit of that part, and only if the link named
it) and returns its current settings as link parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import streamlit as st

Section = Callable[[dict[str, str]], dict[str, str]]


@dataclass
class PartChoice:
    """What a page of parts keeps beside its picker's widget (``prefix + "part"``)."""

    last: str = ""  # the part shown last: shown again when the person comes back without a link's part
    warnings: list[str] = field(default_factory=list)  # the link's bad part and the parameters it leaves unused
    linked: str = ""  # the part the link named
    params: dict[str, str] = field(default_factory=dict)  # that part's link parameters, until it has taken them


def _load(prefix: str, state: PartChoice, labels: Mapping[str, str], default: str) -> None:
    """When the picker has no state (first visit, or back from another page): the link's part, else the last one.

    The link's other parameters are kept for that part, to take once; a bad part is reported and the default shown
    (the parameters then belong to no part, and are reported as well).
    """
    if prefix + "part" in st.session_state:
        return
    params = st.query_params.to_dict()
    wanted = params.pop("part", state.last or default).strip()
    warnings = []
    if wanted not in labels:
        warnings.append(f"part: expected one of {', '.join(labels)}, got {wanted!r}; showing {default}")
        warnings += [f"{key}: it belongs to no part of this page" for key in params]
        wanted, params = default, {}
    st.session_state[prefix + "part"] = wanted
    state.warnings, state.linked, state.params = warnings, wanted, params


def show_part(prefix: str, state: PartChoice, labels: Mapping[str, str], default: str,
              sections: Mapping[str, Section]) -> str:
    """Warn about a bad part, draw the picker (key ``prefix + "part"``) and the chosen part, write the link;
    return the part."""
    _load(prefix, state, labels, default)
    for warning in state.warnings:
        st.warning(f"Link parameter not used: {warning}")
    # The picker can come back without a part (seen in the presenter browser test: a rerun started by a key press
    # while the page redrew, `required` or not): the last part is shown again, not a KeyError.
    if st.session_state.get(prefix + "part") not in labels:
        st.session_state[prefix + "part"] = state.last or default
    st.segmented_control("Part", list(labels), key=prefix + "part", format_func=labels.get, required=True,
                         label_visibility="collapsed")
    part = st.session_state[prefix + "part"]
    state.last = part
    params = state.params if state.linked == part else {}
    if params:  # the link's settings go to their part once
        state.params = {}
    link = sections[part](params)
    st.query_params.from_dict({"part": part, **link})
    return part
