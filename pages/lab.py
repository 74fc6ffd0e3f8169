"""Variants lab: two to six dropout variants trained live side by side on the same data, weights and batches.

The page wires widgets to ``explorer.lab.state.Lab`` and draws its figures: the
overlaid curves, a table of where each lane stands, and for each lane the
noise it applies to one batch with its formulas. The live loop is
``pages.ui.controls``.
"""

from __future__ import annotations

import textwrap
from dataclasses import replace

import streamlit as st

from explorer import settings
from explorer.core.catalogue import catalogue
from explorer.core.datasets import TOY_DATASETS
from explorer.dropout import VARIANTS
from explorer.dropout.params import Param
from explorer.core.experiment import CHOICES, CSV, Experiment, check, to_params
from explorer.core.live_runs import CURVES
from explorer.core.mc import MC
from explorer.lab import link
from explorer.lab.link import lane_key, on_maps, read_lane_link
from explorer.lab.state import (DEFAULT_LANES, DROPOUT_FIELDS, Lab, lab_defaults, lane, lane_options, linked_lanes,
                                noise_place)
from explorer.core.mnist import MNIST_DATASETS
from pages.ui import controls, export, form, own_data
from pages.ui.live import live_chart, steady_display
from pages.ui.router import ensure_router
from pages.ui.state import LiveState, page_state

KEY = "lab_"  # prefix of this page's widget keys
DATASETS = (*TOY_DATASETS, "mnist")
ENTRIES = {e["key"]: e for e in catalogue()}
MODELS = {"mlp": "MLP", "cnn": "CNN (MNIST)"}
# A lane's own dropout settings: the link names the lanes (variants=…); their settings are in the sidebar.
LANE_FIELDS = tuple(f for f in DROPOUT_FIELDS if f not in ("p", "input_p", "conv_p"))
REFUSALS = {
    "dataset": lambda v: v in MNIST_DATASETS and v != "mnist"
    and f"{v} is read from files: `python -m explorer train --dataset {v}`",
    "data_dir": lambda v: "it reads no data files",
}
# px per character of a noise picture's title, and of its axis titles (more: centred on the plot, not the figure)
NOISE_TITLE_PX, NOISE_AXIS_PX = 7.2, 9.0
FRAME = dict(showline=True, mirror=True, linecolor="#d0d0d0")  # a picture all white (×1: dropout off) still shows


def _make(lanes: list[Experiment], compare: bool = False) -> Lab:
    return Lab(lanes, own_data.page_data(KEY, lanes[0]))


def _state() -> LiveState[Lab]:
    """This session's lab: its lanes' run, whether it trains, the link's warnings."""
    return page_state("lab", LiveState[Lab])


def _load_settings() -> None:
    """The link's shared settings and lanes on the first visit, else what the session holds."""
    s, state = st.session_state, _state()
    lab = state.run
    params = st.query_params.to_dict()
    lanes_text = params.pop("variants", None)
    own = link.pop_lane_params(params)
    lane_fields = [name for name in LANE_FIELDS if params.pop(name, None) is not None]
    named = params.get("dataset", "").strip()
    default = lab_defaults(named) if named in DATASETS else Experiment()  # an MNIST link starts from MNIST's defaults
    warnings = form.load_settings(KEY, default, params, REFUSALS,
                                  "the Variants lab trains on toy data or the embedded MNIST subset",
                                  lab.lanes[0] if lab else None)
    if warnings is None:
        return
    if lane_fields:
        warnings.append(f"{', '.join(lane_fields)}: the Variants lab takes its lanes from variants=… and a lane's "
                        "own settings from lane.field=… (e.g. gaussian.p=0.3), or from the lane's sidebar panel")
    s[KEY + "lanes"] = list(DEFAULT_LANES) if lanes_text is None else _linked_lanes(lanes_text, warnings)
    values, more = read_lane_link(own, s[KEY + "lanes"], s[KEY + "model"])
    for key, fields in values.items():
        for name, value in fields.items():
            widget = "p" if name == "conv_p" else "mc" if name == "inference" else name  # _lane_widgets' keys
            s[f"{KEY}lane_{key}_{widget}"] = value == MC.key if name == "inference" else value
    state.warnings = warnings + more


def _linked_lanes(text: str, warnings: list[str]) -> list[str]:
    """The lanes a link names (``variants=a,b,…``), or the default ones, with a warning for what is dropped."""
    model = st.session_state[KEY + "model"]
    known, unknown = linked_lanes(text, model)
    problems = ([f"{', '.join(unknown)} cannot run here (choose from {', '.join(lane_options(model))})"]
                if unknown else [])
    if len(known) > settings.LAB_MAX_LANES:
        problems.append(f"at most {settings.LAB_MAX_LANES} side by side: {', '.join(known[settings.LAB_MAX_LANES:])} "
                        "left out")
    if len(known) < settings.LAB_MIN_LANES:
        problems.append(f"fewer than {settings.LAB_MIN_LANES} left, so the default ones: {', '.join(DEFAULT_LANES)}")
    if problems:
        warnings.append("variants: " + "; ".join(problems))
    return known[: settings.LAB_MAX_LANES] if len(known) >= settings.LAB_MIN_LANES else list(DEFAULT_LANES)


def _data_widgets() -> None:
    s, sb = st.session_state, st.sidebar
    sb.header("Data")
    own_data.dataset_picker(KEY, _state(), DATASETS, lab_defaults)  # a new dataset brings its own defaults
    if s[KEY + "dataset"] == "mnist":
        sb.radio("Model", list(MODELS), key=KEY + "model", format_func=MODELS.get, horizontal=True)
    else:
        s[KEY + "model"] = "mlp"


def _lane_widgets(key: str, base: Experiment, box) -> Experiment:
    """One lane's expander in ``box``: its rates and its own parameters; returns the lane's experiment."""
    p = f"{KEY}lane_{key}_"
    entry = ENTRIES[key]
    with box.expander(entry["name"]):
        maps = on_maps(key)
        rate = st.slider("Conv-map drop rate" if maps else "Hidden drop rate q", 0.0, settings.MAX_RATE,
                         form.initial(p + "p", base.conv_p if maps else base.p), 0.05, key=p + "p")
        changes: dict = {"conv_p": rate} if maps else {"p": rate}
        if not maps:
            changes["input_p"] = st.slider("Input drop rate", 0.0, settings.MAX_RATE,
                                           form.initial(p + "input_p", base.input_p), 0.05, key=p + "input_p")
        for param in CHOICES[key].params:  # the lane's own parameters, as its variant or schedule declares them
            changes[param.name] = form.param_widget(param, p + param.name, **_variant_choices(param, base.model))
        if st.toggle("MC inference", key=p + "mc", help="Validate with the average of T stochastic passes."):
            changes |= {"inference": "mc", **{q.name: form.param_widget(q, p + q.name) for q in MC.params}}
    return lane(base, key, **changes)


def _variant_choices(param: Param, model: str) -> dict:
    """A schedule's base variant offers the variants it can switch here, by name; other parameters offer what
    they declare."""
    offered = link.choices(param, model)
    return {} if offered is None else {"choices": offered, "format_func": lambda k: VARIANTS[k].name}


def _controls() -> list[Experiment] | None:
    """The sidebar; the lanes it describes, or None (with the reason shown) when they cannot run."""
    s, sb = st.session_state, st.sidebar
    _data_widgets()
    options = lane_options(s[KEY + "model"])
    s[KEY + "lanes"] = [k for k in s.get(KEY + "lanes", DEFAULT_LANES) if k in options]
    sb.header("Variants")
    keys = sb.multiselect("Compare", options, key=KEY + "lanes", format_func=lambda k: ENTRIES[k]["name"],
                          max_selections=settings.LAB_MAX_LANES, help="Two to six; each has its settings below.")
    lane_box = sb.container()  # each lane's settings, right below the choice; filled once the shared ones are read
    dataset, model = s[KEY + "dataset"], s[KEY + "model"]
    sb.header("Network")
    form.network_widgets(KEY, "Comma-separated widths; the CNN's dense layer takes the first.")
    form.training_widgets(KEY)
    lab = _state().run
    base = form.read_experiment(KEY, lab.lanes[0] if lab else replace(lab_defaults(dataset), model=model))
    lanes = [_lane_widgets(k, base, lane_box) for k in keys]
    if len(lanes) < settings.LAB_MIN_LANES:
        st.warning(f"Pick at least {settings.LAB_MIN_LANES} variants in the sidebar to compare them.")
        return None
    problems = [f"{ENTRIES[k]['name']}: {p}" for k, e in zip(keys, lanes) for p in check(e)]
    for problem in problems:
        sb.error(f"Not applied: {problem}")
    if not problems:
        return lanes
    if lab is None:
        st.warning("Fix the settings marked in the sidebar to train.")
        return None
    return lab.lanes  # the lanes that run go on, as on the other pages


def _status(lab: Lab, running: bool) -> str:
    step = min(t.step for t in lab.trainers)
    return (f"Epoch {lab.epoch} of {lab.lanes[0].epochs} · step {step} · {len(lab.lanes)} variants · "
            f"{controls.phase(_state(), lab.done, running)}{controls.shared_note(lab, running)}")


def _table(lab: Lab) -> None:
    rows = [{"variant": r["variant"], "train loss": r["train_loss"], "val loss": r["val_loss"],
             "train acc": 100 * r["train_acc"], "val acc": 100 * r["val_acc"], "gap (points)": 100 * r["gap"],
             "s / epoch": r["seconds_per_epoch"]} for r in lab.rows()]
    st.dataframe(rows, hide_index=True, width="stretch", placeholder="–", column_config={
        "train loss": st.column_config.NumberColumn(format="%.3f"), "val loss": st.column_config.NumberColumn(format="%.3f"),
        "train acc": st.column_config.NumberColumn(format="%.1f%%"), "val acc": st.column_config.NumberColumn(format="%.1f%%"),
        "gap (points)": st.column_config.NumberColumn(format="%.1f", help="training accuracy − validation accuracy"),
        "s / epoch": st.column_config.NumberColumn(format="%.3f")})


def _rules(lab: Lab) -> None:
    """Each lane's formulas, explanation and reference, a tab each (drawn once, not every frame)."""
    st.subheader("The rules")
    keys = list(dict.fromkeys(lane_key(e) for e in lab.lanes))
    extra = ["mc"] if any(e.inference == "mc" for e in lab.lanes) else []
    for tab, key in zip(st.tabs([ENTRIES[k]["name"] for k in keys + extra]), keys + extra):
        entry = ENTRIES[key]
        with tab:
            st.latex(r"\text{training: }\ " + entry["train_rule"])
            st.latex(r"\text{inference: }\ " + entry["infer_rule"])
            st.write(entry["explanation"])
            st.caption(entry["reference"])


def _draw(lab: Lab, running: bool) -> None:
    st.caption(_status(lab, running))
    frame = lab.frame(seed=lab.trainers[0].step)
    live_chart(frame[CURVES], KEY + "fig_" + CURVES)
    st.caption("Solid: training; dashed: validation; measured on the whole sets with dropout off "
               "(or by MC dropout where a lane says MC). Click a variant in the legend to hide it.")
    _table(lab)
    st.subheader("The noise each variant applies to one batch")
    st.caption("Each cell is the factor a value was multiplied by in one training step of a fixed batch: "
               "grey 0 (dropped), white 1, blue 2 or more (inverted dropout's ×1/k). A fresh draw every frame.")
    n = len(lab.lanes)
    per_row = 2 if n in (2, 4) else 3  # full rows: 2 + 2 rather than 3 + 1
    pictures = _for_grid([frame[noise_place(i)] for i in range(n)], per_row)
    columns = st.columns(per_row)
    for i, picture in enumerate(pictures):
        with columns[i % per_row]:
            live_chart(picture, f"{KEY}fig_noise_{i}")


def _for_grid(pictures: list[dict], per_row: int) -> list[dict]:
    """The noise pictures laid out for a grid of ``per_row`` columns at 1280 px: titles and axis titles wrapped
    (a lane's label with its rate now, "… · now 0.25", is wider than a third of the page), the same top margin
    in a row so its pictures line up, and a thin frame round each picture."""
    width = 820 / per_row - 20  # px: the main column at 1280 px, less the gaps
    titles = [_wrap(f["layout"]["title"]["text"], int(width / NOISE_TITLE_PX)) for f in pictures]
    for i, (figure, lines) in enumerate(zip(pictures, titles)):
        row = titles[i - i % per_row: i - i % per_row + per_row]
        extra = 26 * (max(map(len, row)) - 1)  # px per extra title line
        layout = figure["layout"]
        layout["title"]["text"] = "<br>".join(lines)
        layout["margin"] = layout["margin"] | {"t": layout["margin"]["t"] + extra}
        layout["height"] += extra
        layout["xaxis"] |= FRAME
        layout["yaxis"] |= FRAME
        axis = layout["xaxis"]["title"]
        axis["text"] = "<br>".join(_wrap(axis["text"], int(width / NOISE_AXIS_PX)))
    return pictures


def _wrap(text: str, chars: int) -> list[str]:
    """``text`` in lines of at most ``chars`` characters, broken at its " · " separators first."""
    lines: list[str] = []
    for part in text.split(" · "):
        if lines and len(lines[-1]) + 3 + len(part) <= chars:
            lines[-1] += " · " + part
        else:
            lines += textwrap.wrap(part, chars) or [""]
    return lines


def _link(lanes: list[Experiment]) -> dict[str, str]:
    """The shared settings (with the rates every lane starts from), the lanes' keys and what sets each lane
    apart (``gaussian.p=0.3``): what a link can hold."""
    s, default = st.session_state, Experiment()
    shared = replace(lanes[0], **{f: s[KEY + f] for f in ("p", "input_p", "conv_p")},
                     **{f: getattr(default, f) for f in LANE_FIELDS})
    return to_params(shared) | {"variants": ",".join(map(lane_key, lanes))} | link.lane_link(shared, lanes)


def lab_page() -> None:
    st.title("Variants lab")
    steady_display()
    state = _state()
    _load_settings()
    for warning in state.warnings:
        st.warning(f"Link parameter not used: {warning}")
    st.caption("Every variant trains the same network from the same initial weights on the same batches: "
               "the differences below are the variants' own.")
    lanes = _controls()
    if lanes is None:
        return
    st.query_params.from_dict(_link(lanes))
    lab = controls.current_run(state, lanes, False, _make)
    running, aside = controls.toolbar(state, lab, _make)
    aside.caption("Changing a setting starts the lanes afresh." +
                  (" " + own_data.link_note(lanes[0]) if lanes[0].dataset == CSV else ""))
    controls.live(state, running, _draw, settings.LAB_FRAME_INTERVAL)
    export.export_row(state, lab, "Variants lab", "lab", KEY)
    _rules(lab)


ensure_router()
lab_page()
