"""Plotly figures built from plain data (numpy arrays, lists, dicts): no model, no streamlit.

Each function returns a figure in plotly's dict form (``{"data": [...],
"layout": {...}}``), which plotly.js, ``st.plotly_chart`` and
``plotly.io.to_json`` all take as it is; ``go.Figure(spec)`` gives the object
API and validates it, as the tests do for every figure. The live pages rebuild
every figure several times a second, and building ``go.Figure`` objects (their
validation and deep copies) cost nearly half of each frame.

Pages call these with what the backend computed, so every chart can also be
built in a notebook or a test. Sizes and fonts are chosen to stay readable on
a projector at 1280×720.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

# class 0 orange, class 1 blue; an uploaded file's further classes (up to settings.UPLOAD_MAX_CLASSES)
CLASS_COLORS = ("#e8710a", "#1a73e8", "#188038", "#9334e6", "#d93025", "#12858a", "#795548", "#e52592",
                "#80868b", "#9e9d24")
BOUNDARY_SCALE = [[0.0, "#f6b26b"], [0.5, "#ffffff"], [1.0, "#6fa8dc"]]
UNSURE_VEIL = [[0.0, "rgba(255,255,255,0.9)"], [1.0, "rgba(255,255,255,0)"]]  # over a map of many classes
RUN_COLORS = ("#1a73e8", "#d93025", "#188038", "#9334e6", "#e37400", "#12858a")
DROPPED = "#c7c7c7"
FONT = dict(size=14)

Figure = dict[str, Any]  # plotly's dict form of a figure: {"data": [...], "layout": {...}}


def make_figure(traces: list[dict[str, Any]], layout: dict[str, Any]) -> Figure:
    return {"data": traces, "layout": layout}


def base_layout(title: str, height: int, **axes: Any) -> dict[str, Any]:
    """The look every figure shares, plus its own axes.

    Every axis gets ``automargin``: the margins are tight, and without it
    (plotly's templates switch it on, dict figures have none) tick labels such
    as "0.8" are clipped to "8".
    """
    layout = dict(
        title=dict(text=title, x=0.01, font=dict(size=16)),
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        font=FONT,
        plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="top", y=-0.08, xanchor="left", x=0),
        uirevision="keep",  # keep zoom and legend clicks across live updates
    ) | axes
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            axis.setdefault("automargin", True)
    return layout


def lighter(colour: str, share: float = 0.55) -> str:
    """``colour`` mixed with ``share`` of white: a class's shade on a map, under its darker points."""
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * share):02x}" for c in rgb)


def boundary_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    prob: np.ndarray,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    title: str = "Decision boundary",
    height: int = 340,
    class_names: Sequence[str] = (),
) -> Figure:
    """The network's map, training points solid and validation points faint.

    ``prob`` is P(class 1) (rows follow ``ys``) or every class's probability,
    (classes, rows, columns). Two classes: P(class 1) shaded from orange to
    blue with the 0.5 contour. More: each point of the map in its likeliest
    class's colour, veiled white where the network is unsure. No legend or
    colour bar: they would squeeze a square map in a narrow column; the page
    says in one line what the shades and dots mean.
    """
    probs = np.asarray(prob)
    k = 2 if probs.ndim == 2 else probs.shape[0]
    names = list(class_names) or [str(c) for c in range(k)]
    traces = _binary_map(xs, ys, probs if probs.ndim == 2 else probs[1]) if k == 2 else classes_map(xs, ys, probs, names)
    if x_val is not None and y_val is not None:
        for c in range(k):
            pts = x_val[y_val == c]
            traces.append(dict(
                type="scatter", x=pts[:, 0], y=pts[:, 1], mode="markers", showlegend=False, hoverinfo="skip",
                name=f"validation points of class {names[c]}", marker=dict(size=5, color=CLASS_COLORS[c], opacity=0.35),
            ))
    for c in range(k):
        pts = x_train[y_train == c]
        traces.append(dict(
            type="scatter", x=pts[:, 0], y=pts[:, 1], mode="markers", showlegend=False, hoverinfo="skip",
            name=f"training points of class {names[c]}", marker=dict(size=8, color=CLASS_COLORS[c],
                                                                     line=dict(color="white", width=1)),
        ))
    bare = dict(showgrid=False, zeroline=False, showticklabels=False)
    return make_figure(traces, base_layout(title, height, xaxis=dict(bare, range=[xs[0], xs[-1]]),
                                     yaxis=dict(bare, range=[ys[0], ys[-1]], scaleanchor="x", scaleratio=1)))


def _binary_map(xs: np.ndarray, ys: np.ndarray, prob: np.ndarray) -> list[dict[str, Any]]:
    return [
        dict(
            type="heatmap", x=xs, y=ys, z=prob, zmin=0, zmax=1, colorscale=BOUNDARY_SCALE, showscale=False,
            hovertemplate="P(blue) = %{z:.2f}<extra></extra>",
        ),
        dict(
            type="contour", x=xs, y=ys, z=prob, contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
            line=dict(color="#333333", width=2), showscale=False, hoverinfo="skip", showlegend=False,
        ),
    ]


def classes_map(xs: np.ndarray, ys: np.ndarray, probs: np.ndarray, names: Sequence[str],
                **on: str) -> list[dict[str, Any]]:
    """The likeliest class in its light colour (a step colour scale over class indices), and a white veil that
    fades from a toss-up (1/k) to certainty."""
    k = len(probs)
    bands = []
    for c in range(k):
        colour = lighter(CLASS_COLORS[c])
        bands += [[c / k, colour], [(c + 1) / k, colour]]
    likeliest, confidence = probs.argmax(0), probs.max(0)
    return [
        dict(type="heatmap", x=xs, y=ys, z=likeliest, zmin=-0.5, zmax=k - 0.5, colorscale=bands, showscale=False,
             hoverinfo="skip", **on),
        dict(type="heatmap", x=xs, y=ys, z=confidence, zmin=1 / k, zmax=1, colorscale=UNSURE_VEIL, showscale=False,
             customdata=np.asarray(names, dtype=object)[likeliest],
             hovertemplate="class %{customdata}: P = %{z:.2f}<extra></extra>", **on),
    ]


PIN_COLORS = ("#5f6368", "#b06000", "#7b1fa2")  # pinned runs: grey, brown, violet, thinner than the live runs


def curves_figure(runs: Mapping[str, Sequence[Mapping[str, float]]], height: int = 320,
                  per_run_legend: bool = False,
                  pinned: Sequence[tuple[str, Sequence[Mapping[str, float]]]] = ()) -> Figure:
    """Loss and accuracy per epoch; each run a colour, training solid and validation dashed.

    ``pinned``: (label, history) of earlier runs kept for a before/after
    comparison, each in a colour of its own, thinner, training dotted and
    validation dashed.

    Two panels side by side, laid out as make_subplots(1, 2, horizontal_spacing=0.08)
    would; the series go to plotly as numpy arrays, which it copies and encodes
    far faster than lists. ``per_run_legend``: one legend entry per run (a click
    hides both its lines), for many runs whose line styles a caption explains.
    """
    traces: list[dict[str, Any]] = []
    styles = [(name, history, RUN_COLORS[i % len(RUN_COLORS)], ("solid", "dash"), 2)
              for i, (name, history) in enumerate(runs.items())]
    styles += [(name, history, PIN_COLORS[i % len(PIN_COLORS)], ("dot", "dash"), 1.5)
               for i, (name, history) in enumerate(pinned)]
    for name, history, color, dashes, width in styles:
        epochs = np.array([r["epoch"] for r in history])
        for panel, metric in (("", "loss"), ("2", "acc")):
            for split, dash in zip(("train", "val"), dashes):
                traces.append(dict(
                    type="scatter", mode="lines+markers" if len(history) <= 30 else "lines",  # one epoch shows
                    x=epochs, y=np.array([r[f"{split}_{metric}"] for r in history], dtype=float),
                    name=name if per_run_legend else f"{name} · {'training' if split == 'train' else 'validation'}",
                    legendgroup=name if per_run_legend else f"{name}{split}",
                    showlegend=not panel and (split == "val" or not per_run_legend),
                    line=dict(color=color, dash=dash, width=width), xaxis=f"x{panel}", yaxis=f"y{panel}",
                ))
    panel_title = dict(font=dict(size=16), showarrow=False, xanchor="center", xref="paper",
                       y=1.0, yanchor="bottom", yref="paper")
    layout = base_layout(
        "", height,
        xaxis=dict(anchor="y", domain=[0.0, 0.46], title=dict(text="epoch"), gridcolor="#eeeeee"),
        yaxis=dict(anchor="x", domain=[0.0, 1.0], gridcolor="#eeeeee", rangemode="tozero"),
        xaxis2=dict(anchor="y2", domain=[0.54, 1.0], title=dict(text="epoch"), gridcolor="#eeeeee"),
        yaxis2=dict(anchor="x2", domain=[0.0, 1.0], gridcolor="#eeeeee"),
        annotations=[dict(panel_title, text="Loss (cross-entropy)", x=0.23), dict(panel_title, text="Accuracy", x=0.77)],
    )
    layout["margin"]["t"], layout["legend"]["y"] = 30, -0.3  # below the "epoch" titles
    if per_run_legend:
        layout["legend"] |= dict(orientation="v", x=1.02, xanchor="left", y=1.0, yanchor="top")
    return make_figure(traces, layout)


def network_figure(
    layer_sizes: Sequence[int],
    keep: Sequence[np.ndarray],
    max_units: int = 10,
    title: str = "This step's thinned network",
    height: int = 320,
) -> Figure:
    """Units as dots, dropped ones grey with a cross; edges only between units that are both on.

    ``keep`` holds one bool vector per droppable layer (inputs, then each
    hidden layer); the output layer is never dropped. Wide layers show their
    first ``max_units`` units, marked with * after their size.
    """
    n_layers = len(layer_sizes)
    on: list[np.ndarray] = [np.asarray(k[:max_units], dtype=bool) for k in keep]
    on.append(np.ones(min(layer_sizes[-1], max_units), dtype=bool))
    ys = [np.linspace(1, -1, min(n, max_units)) if min(n, max_units) > 1 else np.zeros(1) for n in layer_sizes]

    edge_on: dict[str, list] = {"x": [], "y": []}
    edge_off: dict[str, list] = {"x": [], "y": []}
    for li in range(n_layers - 1):
        for a, ya in enumerate(ys[li]):
            for b, yb in enumerate(ys[li + 1]):
                target = edge_on if on[li][a] and on[li + 1][b] else edge_off
                target["x"] += [li, li + 1, np.nan]  # nan breaks the line between segments
                target["y"] += [ya, yb, np.nan]
    # numpy arrays travel as one binary block; a list is walked value by value
    edge_on = {axis: np.array(v, dtype=float) for axis, v in edge_on.items()}
    edge_off = {axis: np.array(v, dtype=float) for axis, v in edge_off.items()}

    edge = dict(type="scatter", mode="lines", hoverinfo="skip", showlegend=False)
    traces: list[dict[str, Any]] = [
        dict(edge, **edge_off, line=dict(color="#eeeeee", width=1)),
        dict(edge, **edge_on, line=dict(color="#9aa0a6", width=1)),
    ]
    kept_x, kept_y, drop_x, drop_y = [], [], [], []
    for li in range(n_layers):
        for u, y in enumerate(ys[li]):
            (kept_x if on[li][u] else drop_x).append(li)
            (kept_y if on[li][u] else drop_y).append(y)
    traces.append(dict(type="scatter", x=kept_x, y=kept_y, mode="markers", name="kept",
                       marker=dict(size=16, color="#1a73e8", line=dict(color="white", width=2))))
    traces.append(dict(type="scatter", x=drop_x, y=drop_y, mode="markers", name="dropped",
                       marker=dict(size=16, color=DROPPED, symbol="x", line=dict(color="#9aa0a6", width=1))))
    names = ["input", *[f"h{i}" for i in range(1, n_layers - 1)], "output"]
    labels = [f"{name}<br>{n}" + ("*" if n > max_units else "") for name, n in zip(names, layer_sizes)]
    return make_figure(traces, base_layout(
        title, height,
        xaxis=dict(tickvals=list(range(n_layers)), ticktext=labels, tickangle=0, showgrid=False, zeroline=False,
                   range=[-0.4, n_layers - 0.6], ticklabeloverflow="allow"),  # "output" may reach into the margin
        yaxis=dict(visible=False, range=[-1.2, 1.2]),
        showlegend=False,  # blue = kept, grey cross = dropped: said beside the chart
        margin=dict(l=10, r=10, t=40, b=50),  # room for the two-line layer labels
    ))


def kept_fraction_figure(
    layer_names: Sequence[str], kept: Sequence[float], expected: Sequence[float], height: int = 230
) -> Figure:
    """Fraction of units kept in this step's batch, per layer, against the keep probability 1 − q."""
    return make_figure([
        dict(type="bar", x=list(kept), y=list(layer_names), orientation="h", name="kept this step",
             marker=dict(color="#1a73e8"), text=[f"{k:.0%}" for k in kept], textposition="inside"),
        dict(type="scatter", x=list(expected), y=list(layer_names), mode="markers", name="expected",
             marker=dict(symbol="line-ns", size=26, line=dict(width=3, color="#d93025"))),
    ], base_layout("Units kept per layer", height, xaxis=dict(range=[0, 1], tickformat=".0%", gridcolor="#eeeeee"),
               yaxis=dict(autorange="reversed"),
               legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0)))  # below the % ticks


# --- "Inside the network" (images are assembled in numpy: one heatmap each) ----------

KEPT = "#1a73e8"
DROPPED_PIXEL = "#f4511e"   # a dropped input pixel, distinct from any grey level
GAP_COLOR = "#5f6368"       # between tiles of a diverging (white-centred) image
WEIGHT_SCALE = [[0.0, "#2166ac"], [0.5, "#f7f7f7"], [1.0, "#b2182b"]]  # blue < 0 < red
GRAY_SCALE = [[0.0, "#000000"], [1.0, "#ffffff"]]  # MNIST look: white strokes on black


def tile_images(images: np.ndarray, cols: int, gap: int = 1, col_gap: int | None = None) -> np.ndarray:
    """(n, h, w) images as one grid image, row by row, ``cols`` wide, NaN between tiles and in empty cells.

    float32: half the bytes of float64 on the wire (plotly sends numpy arrays
    as typed binary blocks), more precision than a colour scale shows.
    """
    n, h, w = images.shape
    col_gap = gap if col_gap is None else col_gap
    rows = -(-n // cols)
    grid = np.full((rows * (h + gap) - gap, cols * (w + col_gap) - col_gap), np.nan, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * (h + gap): r * (h + gap) + h, c * (w + col_gap): c * (w + col_gap) + w] = images[i]
    return grid


def _where_set(marks: np.ndarray) -> np.ndarray:
    """1 where ``marks`` is 1, NaN elsewhere: an overlay heatmap that paints only the marked cells."""
    return np.where(marks == 1.0, np.float32(1.0), np.float32(np.nan))


def image_axes(shape: tuple[int, ...], **x_extra: Any) -> dict[str, Any]:
    """Axes for an image: pixels square, row 0 on top, no grid, the plot area shrunk to the image."""
    h, w = shape[:2]
    bare = dict(showgrid=False, zeroline=False, showticklabels=False, ticks="", constrain="domain")
    return dict(
        xaxis=dict(bare, range=[-0.5, w - 0.5]) | x_extra,
        yaxis=dict(bare, range=[h - 0.5, -0.5], scaleanchor="x", scaleratio=1),
    )


def colorbar(title: str, **extra: Any) -> dict[str, Any]:
    return dict(title=dict(text=title, side="right"), thickness=14, len=0.9, outlinewidth=0) | extra


def legend_swatch(name: str, color: str, symbol: str = "square") -> dict[str, Any]:
    """A legend entry with no data: says what a colour in a heatmap means."""
    return dict(type="scatter", x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                marker=dict(symbol=symbol, size=12, color=color))


TOP_LEGEND = dict(orientation="h", x=1.0, xanchor="right", y=1.0, yanchor="bottom", bgcolor="rgba(0,0,0,0)")


def digits_figure(
    images: np.ndarray, title: str = "Input as the network sees it", labels: Sequence[str] | None = None,
    height: int = 140,
) -> Figure:
    """A row of digits (n, 28, 28) in grey levels 0–1; NaN pixels (dropped) in a colour of their own.

    ``inside.input_view`` gives the images. Two heatmaps share the canvas: the
    pixels, and over them the dropped ones; ``labels`` go under the digits.
    """
    images = np.asarray(images, dtype=float)
    n, h, w = images.shape
    pixels = tile_images(images, n, gap=2)
    dropped = _where_set(tile_images(np.isnan(images).astype(np.float32), n, gap=2))
    axes = image_axes(pixels.shape)
    if labels is not None:
        axes["xaxis"] |= dict(showticklabels=True, tickvals=np.arange(n) * (w + 2) + (w - 1) / 2,
                              ticktext=list(labels), tickfont=dict(size=16))
    traces = [
        dict(type="heatmap", z=pixels, zmin=0, zmax=1, colorscale=GRAY_SCALE, showscale=False,
             hovertemplate="pixel %{z:.2f}<extra></extra>"),
        dict(type="heatmap", z=dropped, zmin=0, zmax=1, colorscale=[[0, DROPPED_PIXEL], [1, DROPPED_PIXEL]],
             showscale=False, hovertemplate="dropped<extra></extra>"),
        legend_swatch("dropped pixel", DROPPED_PIXEL),
    ]
    return make_figure(traces, base_layout(title, height, **axes, showlegend=True, legend=TOP_LEGEND,
                                   margin=dict(l=10, r=10, t=40, b=30 if labels is not None else 10)))


def mask_figure(mask: np.ndarray, title: str = "This step's mask", height: int = 260, units_label: str = "unit") -> Figure:
    """One layer's keep-mask for a mini-batch: examples down, units (or channels) across, kept blue and dropped grey."""
    mask = np.asarray(mask, dtype=bool)
    two_colours = [[0.0, DROPPED], [0.5, DROPPED], [0.5, KEPT], [1.0, KEPT]]
    heat = dict(
        type="heatmap", z=mask.astype(np.uint8), zmin=0, zmax=1, colorscale=two_colours,
        colorbar=colorbar("", tickvals=[0.25, 0.75], ticktext=["dropped", "kept"], len=0.6),
        hovertemplate="example %{y}, " + units_label + " %{x}<extra></extra>",
    )
    axis = dict(showgrid=False, zeroline=False)
    return make_figure([heat], base_layout(
        title, height,
        xaxis=dict(axis, title=dict(text=units_label), range=[-0.5, mask.shape[1] - 0.5]),
        yaxis=dict(axis, title=dict(text="example"), range=[mask.shape[0] - 0.5, -0.5]),
        margin=dict(l=10, r=10, t=40, b=10),
    ))


def activation_histogram_figure(
    values_by_run: Mapping[str, np.ndarray], title: str = "Hidden activations",
    xaxis_title: str = "activation", bins: int = 40, log_y: bool = False, height: int = 300,
    means: Mapping[str, float] | None = None,
) -> Figure:
    """Overlaid histograms (share of values per bin) on shared bins, each run's mean as a dashed line.

    Binned here with numpy: a few dozen bars travel to the browser instead of
    thousands of values, every frame. The bins span the smallest value to the
    99.9th percentile of the largest run; the few values above land in the
    last bin, so one outlier cannot squash the picture. ``log_y`` shows the
    tail next to a ReLU network's tall bar at zero. ``means`` gives each run's
    mean when the values are a sample of more (``inside.activation_stats``),
    so the legend agrees with the number the page prints.
    """
    runs = {name: np.asarray(v, dtype=float).ravel() for name, v in values_by_run.items()}
    runs = {name: v[np.isfinite(v)] for name, v in runs.items()}
    runs = {name: v for name, v in runs.items() if v.size}
    lo = min((float(v.min()) for v in runs.values()), default=0.0)
    hi = max((float(np.percentile(v, 99.9)) for v in runs.values()), default=1.0)
    hi = hi if hi > lo else lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    traces, shapes = [], []
    for i, (name, v) in enumerate(runs.items()):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        counts, _ = np.histogram(np.clip(v, lo, hi), bins=edges)
        mean = float(v.mean()) if means is None else float(means[name])
        traces.append(dict(
            type="bar", x=centres, y=counts / v.size, width=width, name=f"{name} · mean {mean:.2f}",
            marker=dict(color=color, line=dict(width=0)), opacity=0.55,
            hovertemplate="%{x:.2f}: %{y:.1%}<extra>" + name + "</extra>",
        ))
        shapes.append(dict(type="line", xref="x", yref="paper", x0=mean, x1=mean, y0=0, y1=1,
                           line=dict(color=color, width=2, dash="dash")))
    decades = [10.0 ** e for e in range(-5, 1)]
    yaxis = (dict(type="log", tickvals=decades, ticktext=[f"{100 * d:g}%" for d in decades])
             if log_y else dict(tickformat=".0%"))
    return make_figure(traces, base_layout(
        title, height, barmode="overlay", bargap=0, shapes=shapes,
        legend=dict(x=0.99, xanchor="right", y=0.99, yanchor="top", bgcolor="rgba(255,255,255,0.8)"),
        xaxis=dict(title=dict(text=xaxis_title), gridcolor="#eeeeee", zeroline=False),
        yaxis=dict(title=dict(text="share" + (" (log)" if log_y else "")), gridcolor="#eeeeee") | yaxis,
        margin=dict(l=10, r=10, t=40, b=10),
    ))


def activation_pair_figure(
    train_acts: np.ndarray, infer_acts: np.ndarray, dropped: np.ndarray | None = None,
    labels: Sequence[str] | None = None, title: str = "Activations: training vs inference", height: int = 260,
) -> Figure:
    """A few digits' activations (n, units), a digit per column: training mode on top, inference below.

    Each digit's units are folded into a square tile, so 512 units read as a
    23×23 patch and ten digits fill one wide row; ``dropped`` (n, units) marks
    the units this step's mask removed, drawn grey over the training tile.
    ``inside.activation_pair`` gives all three arrays. One colour scale for
    both rows, so the 1/k rescaling of survivors shows.
    """
    train_acts, infer_acts = np.asarray(train_acts, dtype=float), np.asarray(infer_acts, dtype=float)
    n, units = train_acts.shape
    side = max(1, int(np.ceil(np.sqrt(units))))
    rows = -(-units // side)

    def fold(a: np.ndarray) -> np.ndarray:
        padded = np.full((len(a), rows * side), np.nan)
        padded[:, :units] = a
        return padded.reshape(len(a), rows, side)

    off = np.zeros_like(train_acts) if dropped is None else np.asarray(dropped, dtype=bool).astype(float)
    gap = max(2, side // 8)
    z = tile_images(np.concatenate([fold(train_acts), fold(infer_acts)]), n, gap=gap)
    over = _where_set(tile_images(np.concatenate([fold(off), fold(np.zeros_like(off))]), n, gap=gap))
    z[over == 1.0] = np.nan
    finite = np.concatenate([train_acts[np.isfinite(train_acts)], infer_acts[np.isfinite(infer_acts)]])
    zmin = min(0.0, float(finite.min())) if finite.size else 0.0
    zmax = float(finite.max()) if finite.size and finite.max() > zmin else zmin + 1.0
    axes = image_axes(z.shape)
    if labels is not None:
        axes["xaxis"] |= dict(showticklabels=True, tickvals=np.arange(n) * (side + gap) + (side - 1) / 2,
                              ticktext=list(labels), tickfont=dict(size=16))
    row_label = dict(xref="paper", x=0, xanchor="right", yref="y", showarrow=False, font=dict(size=14))
    traces = [
        dict(type="heatmap", z=z, zmin=zmin, zmax=zmax, colorscale="Viridis",
             colorbar=colorbar("activation"), hovertemplate="%{z:.2f}<extra></extra>"),
        dict(type="heatmap", z=over, zmin=0, zmax=1, colorscale=[[0, DROPPED], [1, DROPPED]], showscale=False,
             hovertemplate="dropped<extra></extra>"),
        legend_swatch("dropped", DROPPED),
    ]
    return make_figure(traces, base_layout(
        title, height, **axes, showlegend=dropped is not None, legend=TOP_LEGEND,
        annotations=[dict(row_label, text="training", y=(rows - 1) / 2),
                     dict(row_label, text="inference", y=rows + gap + (rows - 1) / 2)],
        margin=dict(l=80, r=10, t=50, b=30),
    ))


def weights_figure(
    images: np.ndarray, title: str = "First-layer features", cols: int | None = None, height: int = 360,
) -> Figure:
    """First-layer weights as (n, 28, 28) images in a grid, blue negative, red positive, white at 0.

    ``inside.first_layer_features`` gives them scaled to [-1, 1] per unit;
    the colour scale is fixed to that range, so frames compare.
    """
    images = np.asarray(images, dtype=float)
    cols = cols or int(np.ceil(np.sqrt(len(images))))
    z = tile_images(images, cols, gap=2)
    heat = dict(type="heatmap", z=z, zmin=-1, zmax=1, zmid=0, colorscale=WEIGHT_SCALE,
                colorbar=colorbar("weight ÷ max |w|", tickvals=[-1, 0, 1]),
                hovertemplate="%{z:.2f}<extra></extra>")
    return make_figure([heat], base_layout(title, height, **image_axes(z.shape), plot_bgcolor=GAP_COLOR,
                                   margin=dict(l=10, r=10, t=40, b=10)))


def ensemble_figure(
    probs: np.ndarray, mean: np.ndarray, weight_scaled: np.ndarray,
    title: str = "One digit, many thinned networks", height: int = 340, bins: int = 25,
) -> Figure:
    """Each class's probability over the sampled thinned networks, as a density strip, with their mean and the inference net.

    ``probs`` is (n_masks, classes) from ``inside.mask_ensemble``; ``mean`` and
    ``weight_scaled`` are (classes,). Column c of the heatmap is the histogram
    of P(c) over the thinned networks (share of networks per probability bin),
    so a digit that splits the networks between two classes shows two bright
    strips. A heatmap, not a dot per network: a few hundred cells redraw
    several times a second where thousands of SVG markers stall the browser.
    """
    probs = np.asarray(probs, dtype=float)
    n_masks, n_classes = probs.shape
    classes = np.arange(n_classes)
    edges = np.linspace(0.0, 1.0, bins + 1)
    density = np.stack([np.histogram(np.clip(probs[:, c], 0, 1), bins=edges)[0] for c in classes], axis=1) / n_masks
    shade = [[0.0, "rgba(255,255,255,0)"], [1e-9, "#e8f0fe"], [1.0, KEPT]]
    traces = [
        dict(type="heatmap", x=classes, y=(edges[:-1] + edges[1:]) / 2, z=density.astype(np.float32), zmin=0,
             zmax=max(float(density.max()), 1e-9), colorscale=shade, xgap=6, name=f"{n_masks} thinned networks",
             colorbar=colorbar("share of networks", tickformat=".0%"),
             hovertemplate="class %{x}, P ≈ %{y:.2f}: %{z:.0%} of the networks<extra></extra>"),
        dict(type="scatter", x=classes, y=np.asarray(mean, dtype=float), mode="markers", name="their mean",
             marker=dict(symbol="diamond", size=11, color="#202124", line=dict(color="white", width=1)),
             hovertemplate="class %{x}: mean %{y:.2f}<extra></extra>"),
        dict(type="scatter", x=classes, y=np.asarray(weight_scaled, dtype=float), mode="markers",
             name="weight-scaled (inference)", marker=dict(symbol="line-ew", size=30, line=dict(color="#d93025", width=4)),
             hovertemplate="class %{x}: inference %{y:.2f}<extra></extra>"),
    ]
    return make_figure(traces, base_layout(
        title, height, legend=TOP_LEGEND | dict(y=-0.28, yanchor="top", x=0, xanchor="left"),
        xaxis=dict(title=dict(text="class", standoff=6), tickvals=classes, range=[-0.6, n_classes - 0.4],
                   showgrid=False, zeroline=False),
        yaxis=dict(title=dict(text="probability"), range=[-0.03, 1.03], gridcolor="#eeeeee", zeroline=False),
        margin=dict(l=10, r=10, t=40, b=80),
    ))


def feature_maps_figure(grid_image: np.ndarray, title: str = "Feature maps", height: int = 340) -> Figure:
    """One digit's conv feature maps as one grid image (``inside.feature_map_view``); dropped channels blank."""
    z = np.asarray(grid_image, dtype=np.float32)
    finite = z[np.isfinite(z)]
    zmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    heat = dict(type="heatmap", z=z, zmin=min(0.0, float(finite.min())) if finite.size else 0.0, zmax=zmax,
                colorscale="Viridis", colorbar=colorbar("activation"), hovertemplate="%{z:.2f}<extra></extra>")
    return make_figure([heat], base_layout(title, height, **image_axes(z.shape), margin=dict(l=10, r=10, t=40, b=10)))


def noise_figure(noise: np.ndarray, title: str, x_label: str, y_label: str, height: int = 230) -> Figure:
    """The multiplier a variant applied to each value of one batch: 0 (dropped) grey, 1 white, more blue.

    The colour scale is fixed around 1 (kept as it was), so lanes of different
    variants compare at a glance; values above 2 show as 2's blue.
    """
    noise = np.asarray(noise, dtype=np.float32)
    scale = [[0.0, "#5f6368"], [0.5, "#ffffff"], [1.0, KEPT]]
    heat = dict(
        type="heatmap", z=noise, zmin=0.0, zmax=2.0, colorscale=scale,
        colorbar=colorbar("×", tickvals=[0, 1, 2], ticktext=["0", "1", "≥2"], len=0.8),
        hovertemplate=y_label + " %{y}, " + x_label + " %{x}: ×%{z:.2f}<extra></extra>",
    )
    axis = dict(showgrid=False, zeroline=False)
    return make_figure([heat], base_layout(
        title, height,
        xaxis=dict(axis, title=dict(text=x_label), range=[-0.5, noise.shape[1] - 0.5]),
        yaxis=dict(axis, title=dict(text=y_label), range=[noise.shape[0] - 0.5, -0.5]),
    ))



def band_traces(x: np.ndarray, mean: np.ndarray, std: np.ndarray, name: str, color: str, dash: str = "solid",
               **axes: str) -> list[dict[str, Any]]:
    """A mean line with markers and a shaded band of ± one standard deviation across seeds."""
    band = dict(type="scatter", x=np.concatenate([x, x[::-1]]), y=np.concatenate([mean + std, (mean - std)[::-1]]),
                fill="toself", fillcolor=color, opacity=0.15, line=dict(width=0), hoverinfo="skip",
                showlegend=False, legendgroup=name, **axes)
    line = dict(type="scatter", mode="lines+markers", x=x, y=mean, name=name, legendgroup=name,
                line=dict(color=color, width=2, dash=dash), marker=dict(size=7, color=color),
                customdata=std, hovertemplate=name + ": %{y:.1%} ± %{customdata:.1%} at %{x}<extra></extra>", **axes)
    return [band, line]


class _Series(NamedTuple):
    """One curve of a sweep: the points it takes, its metric and look; ``joins``: the legend entry it belongs to
    (drawn without one of its own), e.g. a variant's training error beside its validation error."""

    name: str
    metric: str
    which: Callable[[Mapping[str, Any]], bool]
    color: str
    dash: str
    joins: str | None = None


def _sweep_series(points: Sequence[Mapping[str, Any]], over: str, names: Mapping[str, str]) -> list[_Series]:
    """The curves of a sweep. One variant: validation and training error (rates), or validation error with and
    without dropout (sizes); several: a colour per variant, its training error dotted in its legend entry (rates),
    and the no-dropout baseline (sizes)."""
    variants = list(dict.fromkeys(p.get("variant", "standard") for p in points if p.get("variant") != "none"))
    if len(variants) < 2:
        if over == "rate":
            return [_Series("validation error", "val_error", lambda p: True, RUN_COLORS[0], "solid"),
                    _Series("training error", "train_error", lambda p: True, RUN_COLORS[1], "dash")]
        return [_Series("validation error, dropout", "val_error", lambda p: p["dropout"], RUN_COLORS[0], "solid"),
                _Series("validation error, no dropout", "val_error", lambda p: not p["dropout"], RUN_COLORS[1], "solid")]
    short = {key: full.split(" (")[0] for key, full in names.items()}  # "Gaussian (multiplicative)": "Gaussian"
    shared = {n for n in short.values() if list(short.values()).count(n) > 1}  # DropConnect, exact and per batch
    series = []
    for i, variant in enumerate(variants):
        full = names.get(variant, variant)
        name = full if short.get(variant, full) in shared else short.get(variant, full)
        color = RUN_COLORS[i % len(RUN_COLORS)]
        chosen = (lambda v: lambda p: p.get("variant") == v)(variant)
        series.append(_Series(name, "val_error", chosen, color, "solid"))
        if over == "rate":  # the caption says dotted is training
            series.append(_Series(f"{name}, training", "train_error", chosen, color, "dot", joins=name))
    if over == "size":
        series.append(_Series("no dropout", "val_error", lambda p: not p["dropout"], "#5f6368", "dash"))
    return series


def sweep_figure(points: Sequence[Mapping[str, Any]], over: str, title: str, height: int = 380,
                 xs: Sequence[float] = (), names: Mapping[str, str] | None = None) -> Figure:
    """Error against the drop rate (training and validation) or the training-set size (validation, with and
    without dropout): each seed's latest epoch, mean line and a ± one-std band across seeds; a curve per
    variant where the points hold several (``names``: how the legend calls them).

    ``xs``: the rates or sizes the sweep will fill; before any point has its first epoch they set the axes
    (the error's 0–100 %), so the chart does not open on plotly's empty default range."""
    traces: list[dict[str, Any]] = []
    if over == "rate":
        xaxis = dict(title=dict(text="drop rate q of the hidden layers"), gridcolor="#eeeeee")
    else:
        sizes = sorted({p["x"] for p in points} | set(xs))
        xaxis = dict(title=dict(text="training examples"), type="log", gridcolor="#eeeeee", tickvals=sizes,
                     ticktext=[f"{s:,.0f}" for s in sizes])
    for curve in _sweep_series(points, over, names or {}):
        chosen = [p for p in points if curve.which(p)]
        if chosen:
            x = np.array([p["x"] for p in chosen], dtype=float)
            drawn = band_traces(x, np.array([p[f"{curve.metric}_mean"] for p in chosen]),
                                np.array([p[f"{curve.metric}_std"] for p in chosen]), curve.name, curve.color, curve.dash)
            if curve.joins is not None:  # one legend entry per variant: a click hides both its curves
                drawn[1]["showlegend"] = False
                for trace in drawn:
                    trace["legendgroup"] = curve.joins
            traces += drawn
    yaxis = dict(title=dict(text="error"), tickformat=".0%", rangemode="tozero", gridcolor="#eeeeee")
    if not points and xs:
        lo, hi = min(xs), max(xs)
        xaxis["range"] = ([lo - 0.05, hi + 0.05] if over == "rate"
                          else [math.log10(lo) - 0.1, math.log10(hi) + 0.1])  # a log axis's range is in decades
        yaxis["range"] = [0, 1]
    layout = base_layout(title, height, xaxis=xaxis, yaxis=yaxis)
    layout["legend"] |= dict(y=1.0, yanchor="bottom", x=1.0, xanchor="right")  # above the plot, clear of the axis title
    if not points:
        layout["annotations"] = [dict(text="Each point appears when its models finish their first epoch.",
                                      x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                                      font=dict(color="#666666"))]
    return make_figure(traces, layout)
