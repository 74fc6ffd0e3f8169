"""Playground: train a small network live on toy data and slide the drop rate while it learns.

The page only wires widgets to ``explorer.playground.state.Playground`` and draws its
figures; the live training loop is ``pages.ui.controls``.
"""

from __future__ import annotations

import streamlit as st

from explorer import settings
from explorer.dropout import variants_for
from explorer.core.experiment import Experiment, to_params
from explorer.core.mnist import MNIST_DATASETS
from explorer.playground.state import Fig, Playground
from pages.ui import controls, export, form, own_data, present
from pages.ui.live import live_chart, steady_display
from pages.ui.router import ensure_router
from pages.ui.state import LiveState, page_state

KEY = "pg_"  # prefix of this page's widget keys

# Link parameters of image experiments: they belong to the Inside page and the command line.
REFUSALS = {
    "dataset": lambda v: v in MNIST_DATASETS and f"{v} is an image set: open it on the Inside page",
    "model": lambda v: v != "mlp" and f"it trains an MLP, not {v}",
    "conv_p": lambda v: "its MLP has no conv layers",
    "data_dir": lambda v: "it reads no data files",
    **form.UNIT_PAGE_REFUSALS,
}


DATA = own_data.data_maker(KEY)


def _make(exp: Experiment, compare: bool) -> Playground:
    return Playground(exp, compare, DATA(exp))


def _state() -> LiveState[Playground]:
    """This session's Playground: its run, whether it trains, the link's warnings."""
    return page_state("pg", LiveState[Playground])


def _load_settings() -> None:
    """Fill the widgets from the link (first visit), else from the run kept in this session."""
    state = _state()
    run = state.run
    params = st.query_params.to_dict()
    compare_text = params.pop("compare", "1")
    warnings = form.load_settings(KEY, Experiment(), params, REFUSALS, "the Playground trains on 2-D toy data",
                                  run.exp if run else None)
    if warnings is None:
        return
    if compare_text not in ("0", "1"):
        warnings.append(f"compare: expected 0 or 1, got {compare_text!r}; using 1")
    state.warnings = warnings
    st.session_state[KEY + "compare"] = compare_text != "0" if run is None else run.compare


def _controls() -> Experiment:
    """The sidebar; returns the experiment it describes."""
    sb = st.sidebar
    state = _state()
    sb.header("Data")
    own_data.dataset_picker(KEY, state)
    sb.number_input("Training points", 4, settings.MAX_TRAIN_SIZE, step=10, key=KEY + "train_size",
                    help="Few points and a big network: the recipe for overfitting.")
    own_data.noise_slider(KEY)
    sb.slider("Flipped training labels", 0.0, 0.5, step=0.01, key=KEY + "label_noise",
              help="Fraction of training labels flipped; validation labels stay clean.")
    sb.number_input("Validation points", 1, settings.MAX_VAL_SIZE, step=50, key=KEY + "val_size")
    form.dropout_widgets(KEY, variants_for("mlp", unit_masks=True))
    sb.header("Network")
    form.network_widgets(KEY, f"Comma-separated, up to {settings.MAX_DEPTH} layers of at most {settings.MAX_WIDTH} units.")
    form.training_widgets(KEY)
    return form.read_experiment(KEY, state.run.exp if state.run else Experiment())


def _summary(history: list[dict]) -> str:
    if not history:
        return "not trained yet"
    r = history[-1]
    return (f"training accuracy {r['train_acc']:.0%} · validation accuracy **{r['val_acc']:.0%}** · "
            f"validation loss **{r['val_loss']:.2f}**")


def _draw(run: Playground, running: bool) -> None:
    frame = run.frame()
    st.caption(controls.status(_state(), run, running))
    if run.twin is not None:
        left, middle, right = st.columns([1, 1, 1.05])
        with middle:
            live_chart(frame[Fig.TWIN], KEY + "fig_" + Fig.TWIN)
            st.markdown(_summary(run.twin.history))
    else:
        left, right = st.columns([1, 1.05])
    with left:
        live_chart(frame[Fig.BOUNDARY], KEY + "fig_" + Fig.BOUNDARY)
        st.markdown(_summary(run.run.history))
    with right:
        live_chart(frame[Fig.NETWORK], KEY + "fig_" + Fig.NETWORK)
        live_chart(frame[Fig.KEPT], KEY + "fig_" + Fig.KEPT)
        if present.shown(KEY + "fig_" + Fig.NETWORK):
            st.caption(f"Blue: kept. Grey cross: dropped in this step. * first {settings.DIAGRAM_UNITS} units shown.")
    live_chart(frame[Fig.CURVES], KEY + "fig_" + Fig.CURVES, settings.CURVES_SECONDS if running else 0.0)
    shade = ("the network's P(blue)" if run.data.n_classes == 2 else
             "the network's likeliest class, paler where it is unsure")
    st.caption(f"Map shade: {shade}; large dots: training points; faint dots: up to "
               f"{settings.MAP_VAL_POINTS} validation points. "
               "Curves: solid = training, dashed = validation, measured on the whole sets with dropout off.")


def playground() -> None:
    st.title("Playground")
    steady_display()
    state = _state()
    _load_settings()
    for warning in state.warnings:
        st.warning(f"Link parameter not used: {warning}")
    exp = _controls()
    top = st.columns([1, 1, 1, 2.4, 2.8], vertical_alignment="center")
    run = controls.current_run(state, exp, st.session_state[KEY + "compare"], _make)
    run.pinned = state.pins
    running = controls.buttons(state, run, _make, top)
    top[3].toggle("Compare with no dropout", key=KEY + "compare",
                  help="A twin network trained on the same data, initial weights and batch order, without dropout.")
    top[4].caption("Slide the drop rate while it trains: the next step uses it, the weights stay. "
                   + own_data.link_note(exp))
    st.query_params.from_dict({**to_params(exp), **({} if st.session_state[KEY + "compare"] else {"compare": "0"})})
    controls.live(state, running, _draw)
    export.export_row(state, run, "Playground", "playground", KEY, pins=_make)


ensure_router()
playground()
