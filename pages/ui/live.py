"""Display helpers for pages that redraw several times a second."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import plotly
import streamlit as st
import streamlit.components.v1 as components

from explorer.core.figure_json import figure_json
from explorer.core.accessible import describe
from explorer.core.figures import Figure
from pages.ui import access, present

_ASSETS = Path(__file__).resolve().parents[2] / "assets"

# Streamlit fades every element while a run is in progress; on a page whose
# fragment reruns every 150 ms that fade never ends.
_STEADY_CSS = """
<style>
.stElementContainer[data-stale="true"], [data-stale="true"] * { opacity: 1 !important; transition: none !important; }
</style>
"""


def steady_display() -> None:
    """Keep live elements at full opacity between redraws."""
    st.html(_STEADY_CSS)


def _component_dir() -> Path:
    """The live chart's files: our page beside the plotly.js that the plotly package ships (no download).

    Written to a temporary folder, atomically, because the app's own folder
    may be read-only on a hosted instance.
    """
    target = Path(tempfile.gettempdir()) / f"dropout-explorer-live-chart-{plotly.__version__}"
    target.mkdir(exist_ok=True)
    sources = {
        "index.html": _ASSETS / "live_chart.html",
        "plotly.min.js": Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
    }
    for name, source in sources.items():
        destination = target / name
        if name == "index.html" or not destination.exists():
            scratch = target / f".{name}.{os.getpid()}"
            shutil.copyfile(source, scratch)
            os.replace(scratch, destination)
    return target


_live_chart = components.declare_component("live_chart", path=str(_component_dir()))


_SERIALS = itertools.count()  # every figure a live chart takes gets the next


@dataclass
class _Sent:
    """A throttled chart's last figure, kept in the session to be redrawn between new ones."""

    at: float
    spec: bytes  # the figure's JSON (explorer.core.figure_json)
    height: int
    summary: str  # what it shows, in words (explorer.core.accessible.describe)
    skipped: int = 0  # frames that redrew it since
    # Which figure this is: Streamlit hands a component new arguments only when its JSON ones change, not its
    # bytes (the spec), so a new figure comes with a new number.
    serial: int = field(default_factory=lambda: next(_SERIALS))


def due(key: str, every: float, frames: int = 1) -> bool:
    """Whether the live chart ``key``, throttled to ``every`` seconds and ``frames`` frames, takes a new figure
    now: a page builds the figures of throttled charts only when they are due (``live_chart`` redraws the last one
    otherwise). Frames as well as seconds: on a busy server, whose frames come a second or more apart, a panel
    throttled by time alone would be rebuilt every frame."""
    return _new_figure_due(_last_sent(key, every), every, frames)


def _last_sent(key: str, every: float) -> _Sent | None:
    """The figure a throttled chart last took (None for an unthrottled one: it takes one every frame)."""
    return st.session_state.get(_memory(key)) if every > 0 else None


def _memory(key: str) -> str:
    return f"_live_chart_{key}"


def _new_figure_due(sent: _Sent | None, every: float, frames: int) -> bool:
    return sent is None or (time.monotonic() - sent.at >= every and sent.skipped + 1 >= frames)


def live_chart(fig: Figure | None, key: str, every: float = 0.0, frames: int = 1) -> None:
    """Draw a plotly figure that updates in place on every rerun.

    ``st.plotly_chart`` gives a chart a new identity whenever its figure
    changes, so live charts are unmounted and redrawn: they blank out for a
    moment at every frame. This component keeps one chart per ``key`` and
    hands it the new figure, which plotly.js redraws in place.

    ``every`` > 0 sends a new figure at most that often (seconds, and at most
    every ``frames`` frames) and the one on screen in between, which the
    component does not redraw: for panels that change slowly but cost the
    browser as much to redraw as fast ones (measured: a live page's redraws
    keep a browser's main thread busy). ``fig`` may be None when the chart is
    not ``due`` (asked just before): the last figure is redrawn.

    The figure's numpy arrays are sent in plotly's binary typed-array form (as
    ``go.Figure`` would send them, ``explorer.core.figure_json``): the browser
    decodes them without parsing thousands of numbers from text. (Size barely
    changes: measured ~560 kB instead of ~660 kB for an Inside page frame.) The
    JSON goes as bytes, which Streamlit sends beside the component's JSON
    arguments: as a string it was escaped into them at every frame (py-spy
    under a class's load: 2 % of the interpreter's time).
    """
    if not present.shown(key):
        return
    memory, sent = _memory(key), _last_sent(key, every)
    # A page that asked ``due`` a moment ago and built no figure may find the chart due by now: it redraws the
    # last one, and the next frame brings the new one.
    if sent is None or (fig is not None and _new_figure_due(sent, every, frames)):
        if fig is None:
            raise ValueError(f"live chart {key!r} has no figure yet and was given none")
        fig = access.prepare(fig)
        sent = _Sent(time.monotonic(), figure_json(fig), int(fig["layout"].get("height", 400)), describe(fig))
        if every > 0 or memory in st.session_state:  # a chart ever throttled keeps its last figure, no other
            st.session_state[memory] = sent
    else:
        sent.skipped += 1
    _live_chart(spec=sent.spec, serial=sent.serial, height=sent.height,
                scale=present.SCALE if present.presenting() else 1, summary=sent.summary, words=access.words_on(),
                name=_file_name(key), key=key, default=None)


def _file_name(key: str) -> str:
    """A chart's PNG file name from its key: "pg_fig_boundary" → "dropout-explorer-boundary"."""
    return "dropout-explorer-" + key.split("fig_")[-1].replace("_", "-")
