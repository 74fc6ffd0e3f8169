"""The choice of part on a page of several (Uncertainty, Theory): the link's ``part`` in, a picker, the link out.

Such a page's link holds only its part; each part keeps its own settings in the
sidebar and in the session.
"""

from __future__ import annotations

from typing import Mapping

import streamlit as st


def _load(prefix: str, labels: Mapping[str, str], default: str) -> None:
    """When the picker has no state (first visit, or back from another page): the link's part, else the last one.

    A bad part in the link is reported and the default shown; any other parameter is reported and dropped.
    """
    if prefix + "part" in st.session_state:
        return
    params = st.query_params.to_dict()
    wanted = params.pop("part", st.session_state.get(prefix + "last", default)).strip()
    warnings = [f"{key}: this page's link holds only the part; the settings are in the sidebar" for key in params]
    if wanted not in labels:
        warnings.insert(0, f"part: expected one of {', '.join(labels)}, got {wanted!r}; showing {default}")
        wanted = default
    st.session_state[prefix + "part"] = wanted
    st.session_state[prefix + "warnings"] = warnings


def choose_part(prefix: str, labels: Mapping[str, str], default: str) -> str:
    """Warn about the link's bad parameters, draw the picker, write the part to the link; return the part."""
    _load(prefix, labels, default)
    for warning in st.session_state[prefix + "warnings"]:
        st.warning(f"Link parameter not used: {warning}")
    st.segmented_control("Part", list(labels), key=prefix + "part", format_func=labels.get, required=True,
                         label_visibility="collapsed")
    part = st.session_state[prefix + "part"]
    st.session_state[prefix + "last"] = part
    st.query_params.from_dict({"part": part})
    return part
