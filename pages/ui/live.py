"""Display helpers for pages that redraw several times a second."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import plotly
import plotly.io.json
import streamlit as st
import streamlit.components.v1 as components
from _plotly_utils.utils import convert_to_base64

from explorer.core.figures import Figure

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


def live_chart(fig: Figure, key: str, every: float = 0.0) -> None:
    """Draw a plotly figure that updates in place on every rerun.

    ``st.plotly_chart`` gives a chart a new identity whenever its figure
    changes, so live charts are unmounted and redrawn: they blank out for a
    moment at every frame. This component keeps one chart per ``key`` and
    hands it the new figure, which plotly.js redraws in place.

    ``every`` > 0 sends a new figure at most that often (seconds) and the one
    on screen in between, which the component does not redraw: for panels
    that change slowly but cost the browser as much to redraw as fast ones
    (measured: a live page's redraws keep a browser's main thread busy).

    The figure's numpy arrays are replaced, in place, by plotly's binary
    typed-array form (as ``go.Figure`` would send them): the browser decodes
    them without parsing thousands of numbers from text. (Size barely
    changes: measured ~560 kB instead of ~660 kB for an Inside page frame.)
    """
    memory, now = f"_live_chart_{key}", time.monotonic()
    sent: tuple[float, str] | None = st.session_state.get(memory) if every > 0 else None
    if sent is None or now - sent[0] >= every:
        convert_to_base64(fig)
        sent = (now, plotly.io.json.to_json_plotly(fig))
        if every > 0:  # only a throttled chart resends its last figure: the others keep none in the session
            st.session_state[memory] = sent
    _live_chart(spec=sent[1], height=int(fig["layout"].get("height", 400)), key=key, default=None)
