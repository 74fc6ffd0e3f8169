"""Figures for everyone: a colour-blind-safe version of any figure, and a one-line description of what it shows.

Both work on plotly's dict form (``explorer.core.figures``), after the figure
is built, so every chart of every page gets them without a palette argument
threaded through each builder.

- ``colour_blind(fig)``: the app's colours mapped to the Okabe–Ito palette,
  which people with any common colour-vision deficiency tell apart (Okabe & Ito
  2008), and traces told apart by **shape** as well: each colour gets its own
  marker symbol, so the classes of a map and the runs of a curve differ without
  colour (lines get a few markers; their dash, e.g. training solid and
  validation dashed, is kept).
- ``describe(fig)``: the title and, for each curve, its latest value; for each
  set of points, how many; for a map or an image, what it is. For a screen
  reader, and for students who cannot see the projector.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import numpy as np

from explorer.core.figures import CLASS_COLORS, Figure, lighter

# The app's colours (explorer.core.figures and the pages' figure modules) → Okabe–Ito.
OKABE_ITO = {
    "#1a73e8": "#0072b2",  # blue: class 1, the dropout run, the first lane
    "#6fa8dc": "#56b4e9",  # light blue: the decision map's class 1 side
    "#e8710a": "#e69f00",  # orange: class 0
    "#f6b26b": "#f0c571",  # light orange: the map's class 0 side
    "#d93025": "#d55e00",  # red: the twin, the second lane
    "#188038": "#009e73",  # green: third lane
    "#9334e6": "#cc79a7",  # purple: fourth lane
    "#e37400": "#f0e442",  # amber: fifth lane
    "#12858a": "#000000",  # teal: sixth lane
    "#f4511e": "#d55e00",  # a dropped input pixel
    "#795548": "#56b4e9",  # the further classes of an uploaded file: brown, pink, grey, olive
    "#e52592": "#f0e442",
    "#80868b": "#999999",
    "#9e9d24": "#666666",
}
# Their light shades on a map of many classes (figures.lighter), each to the light shade of its replacement.
OKABE_ITO |= {lighter(c): lighter(OKABE_ITO[c]) for c in CLASS_COLORS[2:]}
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross", "triangle-down")
LINE_MARKERS = 12  # markers drawn along a line at most: enough to tell its shape, few enough to read the line
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _recolour(value: Any) -> Any:
    if isinstance(value, str) and _COLOUR.match(value):
        return OKABE_ITO.get(value.lower(), value)
    if isinstance(value, dict):
        return {k: _recolour(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_recolour(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_recolour(v) for v in value)
    return value


def _trace_colour(trace: dict[str, Any]) -> str | None:
    for part in ("line", "marker"):
        colour = trace.get(part, {}).get("color")
        if isinstance(colour, str):
            return colour
    return None


def colour_blind(fig: Figure) -> Figure:
    """A copy of ``fig`` in the Okabe–Ito palette, each colour of its scatter traces with its own marker shape."""
    out = {"data": [_recolour(t) for t in fig["data"]], "layout": _recolour(copy.deepcopy(fig["layout"]))}
    shapes: dict[str, str] = {}
    for trace in out["data"]:
        if trace.get("type", "scatter") != "scatter":
            continue
        colour = _trace_colour(trace)
        if colour is None or not trace.get("name"):  # unnamed: scaffolding (a network's edges), not a class or run
            continue
        symbol = shapes.setdefault(colour, SYMBOLS[len(shapes) % len(SYMBOLS)])
        marker = dict(trace.get("marker", {}))
        mode = trace.get("mode", "lines+markers")
        if "markers" in mode:
            marker.setdefault("symbol", symbol)
        elif "lines" in mode:
            trace["mode"] = mode + "+markers"
            marker.update(symbol=symbol, size=8, maxdisplayed=LINE_MARKERS, color=colour)
        trace["marker"] = marker
    return out


def _plain(text: Any) -> str:
    return re.sub(r"<[^>]+>", " ", str(text or "")).replace("  ", " ").strip()


def _last(values: Any) -> float | None:
    if values is None:
        return None
    array = np.asarray(values, dtype=float).ravel()
    array = array[np.isfinite(array)]
    return float(array[-1]) if len(array) else None


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _panels(layout: dict[str, Any]) -> dict[str, str]:
    """The title of each panel of a figure of side-by-side panels, by its x axis ("x", "x2"…): the annotation
    above the axis's domain."""
    titles = {}
    for name, axis in layout.items():
        if re.fullmatch(r"xaxis\d*", name) and isinstance(axis, dict) and "domain" in axis:
            lo, hi = axis["domain"]
            for note in layout.get("annotations", []):
                if note.get("xref") == "paper" and note.get("text") and lo <= note.get("x", -1) <= hi:
                    titles["x" + name[5:]] = _plain(note["text"])
    return titles


def describe(fig: Figure, most: int = 4) -> str:
    """One line: the title, then what the traces show now (at most ``most`` curves by their latest value)."""
    layout = fig.get("layout", {})
    panels = _panels(layout)
    curves, points, pictures = [], [], 0
    for trace in fig.get("data", []):
        kind, name = trace.get("type", "scatter"), _plain(trace.get("name"))
        panel = panels.get(trace.get("xaxis", "x"))
        if kind in ("heatmap", "contour", "image"):
            pictures += kind != "contour"
        elif kind == "bar":
            y = trace.get("x") if trace.get("orientation") == "h" else trace.get("y")
            last = _last(y)
            if last is not None:
                curves.append(f"{name or 'bars'}: {len(np.asarray(y).ravel())} bars, the last {_number(last)}")
        elif "lines" in trace.get("mode", "lines"):
            y, x = _last(trace.get("y")), _last(trace.get("x"))
            if y is not None and name:
                curves.append((f"{panel.lower()}, " if panel else "") + f"{name} {_number(y)}"
                              + (f" at {_number(x)}" if x is not None else ""))
        else:
            n = len(np.asarray(trace.get("x", [])).ravel())
            if n and name:
                points.append(f"{n} {name}")
    title = layout.get("title", {})
    text = _plain(title.get("text") if isinstance(title, dict) else title) or " and ".join(dict.fromkeys(
        panels.values())) or "Chart"
    parts = ["a map" if pictures == 1 else f"{pictures} maps"] if pictures else []
    if points:
        parts.append(", ".join(points[:most]))
    if curves:
        curves.sort(key=lambda c: "validation" not in c)  # the numbers a class talks about first
        parts.append("latest: " + "; ".join(curves[:most]) + ("; …" if len(curves) > most else ""))
    return ". ".join([text, *(p[0].upper() + p[1:] for p in parts)]) + "."
