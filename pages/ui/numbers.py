"""A row of numbers under a live chart, drawn as one element: st.metric's look at a tenth of its cost.

A live frame redraws its numbers every time. ``st.metric`` is an element apiece,
and a row of them a column apiece: under a class's load (py-spy on the server,
`python -m explorer loadtest`) the Co-adaptation page's sixteen metrics were half
of its frame's drawing, and its frames the costliest of the class mix. One HTML
block a row costs what one caption does.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Sequence

import streamlit as st

_ROW = "display:grid;grid-template-columns:repeat({},minmax(0,1fr));gap:0.25rem 1rem;margin:0 0 0.5rem;padding:0"
_LABEL = "margin:0;font-size:0.875rem;line-height:1.3;opacity:0.8;overflow-wrap:anywhere"
_VALUE = "margin:0;font-size:1.75rem;line-height:1.4;white-space:nowrap;overflow:hidden;text-overflow:ellipsis"
_NOTE = "font-size:0.8rem;opacity:0.7"


@dataclass(frozen=True)
class Number:
    """One cell: what it is, its value as shown, a note under it, and a longer why on hover."""

    label: str
    value: str
    note: str = ""
    why: str = ""


def row_html(numbers: Sequence[Number]) -> str:
    """The row as a definition list (label, value): a screen reader reads each pair together."""
    cells = []
    for n in numbers:
        why = f' title="{html.escape(n.why)}" style="{_LABEL};text-decoration:underline dotted"' if n.why else \
            f' style="{_LABEL}"'
        note = f'<div style="{_NOTE}">{html.escape(n.note)}</div>' if n.note else ""
        cells.append(f"<div><dt{why}>{html.escape(n.label)}</dt>"
                     f'<dd style="{_VALUE}">{html.escape(n.value)}</dd>{note}</div>')
    return f'<dl data-testid="explorer-numbers" style="{_ROW.format(len(cells))}">{"".join(cells)}</dl>'


def number_row(numbers: Sequence[Number]) -> None:
    """Draw the row: its cells side by side in equal columns, in the order given (a two-network row's halves sit
    under a two-panel chart's)."""
    st.html(row_html(numbers))
