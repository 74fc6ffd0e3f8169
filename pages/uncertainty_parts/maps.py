"""The Uncertainty page's 2-D classification part: MC maps of probability, entropy and mutual information, live."""

from __future__ import annotations

import math

import streamlit as st

from explorer import settings
from explorer.core.experiment import CSV, Experiment, to_params
from explorer.core.mnist import MNIST_DATASETS
from explorer.uncertainty.maps.analysis import FAR
from explorer.uncertainty.maps.state import MAPS_DEFAULT, Fig, MCMapsLive
from pages.ui import controls, export, form, own_data
from pages.ui.live import live_chart
from pages.ui.numbers import Number, number_row
from pages.ui.state import LiveState, page_state

KEY = "um_"  # prefix of this part's widget keys
PAGE = "the 2-D classification part trains an MLP on 2-D toy data"
# The link holds what the sidebar shows: image sets and the CNN have their pages, other fields no control here.
REFUSALS = {
    **form.refuse_all_but({"dataset", "train_size", "noise", "hidden", "activation", "p", "lr", "epochs", "seed"},
                          "it has no control for this setting"),
    "dataset": lambda v: v in MNIST_DATASETS and f"{v} is an image set: see the MNIST digits part",
    "model": lambda v: v != "mlp" and "the CNN needs 28×28 images",
}
GUIDE = (
    "**Reading the maps.** Left: the average of the T passes' P(blue), the MC prediction (with more than two "
    "classes, its likeliest class). Middle: its entropy "
    "H[ȳ], the total uncertainty; it is high along the decision boundary, where the classes meet (the data's own "
    "ambiguity, aleatoric, and the model's, epistemic, together). Right: the mutual information "
    "H[ȳ] − mean_t H[y_t], the part that comes from the passes disagreeing with each other: each thinned network "
    "may be sure, but they are sure of different classes. It is low on the training points and highest where the "
    "boundary runs on into empty space: there each thinned network draws it somewhere else. Far from the data and "
    "far from the boundary, every thinned network extrapolates to the same class, so MI stays near zero: MC "
    "dropout does not flag every unfamiliar point. A lower drop rate shrinks MI; more training points need not, "
    "because with the rate fixed the thinned networks keep disagreeing wherever no point pins the boundary down. "
    "On the boundary between the data the entropy stays high, however much data there is, because there the "
    "classes really overlap."
)


DATA = own_data.data_maker(KEY)


def _make(exp: Experiment, compare: bool = False) -> MCMapsLive:
    return MCMapsLive(exp, data=DATA(exp))


def _classes(k: int) -> str:
    return "(orange and blue classes)" if k == 2 else f"({k} classes, each its colour)"


def _state() -> LiveState[MCMapsLive]:
    """This session's classification part: its run, whether it trains, the link's warnings."""
    return page_state("um", LiveState[MCMapsLive])


def _controls(fallback: Experiment) -> Experiment:
    """The sidebar; the experiment it describes (``form.read_experiment`` reports what cannot be applied)."""
    sb = st.sidebar
    sb.header("Data")
    own_data.dataset_picker(KEY, _state())
    sb.number_input("Training points", 4, settings.MAX_TRAIN_SIZE, step=10, key=KEY + "train_size",
                    help="Few points leave much of the plane without data; the MI map lights up where the boundary "
                         "runs into it.")
    own_data.noise_slider(KEY)
    sb.header("Network")
    form.network_widgets(KEY, f"Comma-separated, up to {settings.MAX_DEPTH} layers of at most {settings.MAX_WIDTH} units.")
    sb.slider("Drop rate q", 0.0, settings.MAX_RATE, step=0.05, key=KEY + "p",
              help="After each hidden layer, in training and in every MC pass. Changes apply at the next step.")
    sb.header("Training")
    sb.select_slider("Learning rate (Adam)", form.options_with(st.session_state[KEY + "lr"], form.LEARNING_RATES),
                     key=KEY + "lr")
    sb.number_input("Epochs", 1, settings.MAX_EPOCHS, step=100, key=KEY + "epochs")
    sb.number_input("Seed", 0, settings.MAX_SEED, step=1, key=KEY + "seed",
                    help="Fixes the data, the weights, the batch order and the masks.")
    return form.read_experiment(KEY, fallback)


def _numbers(run: MCMapsLive) -> None:
    n = run.numbers
    number_row([Number("Mean entropy · training points", f"{n['entropy_data']:.3f}"),
                Number("Mean entropy · away from data", f"{n['entropy_far']:.3f}"),
                Number("Mean MI · training points", f"{n['mi_data']:.3f}"),
                Number("Mean MI · away from data", f"{n['mi_far']:.3f}",
                       why=f"Map points farther than {FAR:g} (standardised units) from every training point.")])


def _draw(run: MCMapsLive, running: bool) -> None:
    samples = st.session_state[KEY + "passes"]
    st.caption(controls.status(_state(), run, running))
    every = settings.UNC_MAP_SECONDS if running else 0.0
    frame, k = run.frame(samples, every), run.data.n_classes
    live_chart(frame[Fig.MAPS], KEY + "fig_" + Fig.MAPS, every)
    st.caption(f"T = {samples} passes at drop rate q = {run.run.model.hidden_rate:g} over a "
               f"{settings.UNC_MAP_RESOLUTION}×{settings.UNC_MAP_RESOLUTION} grid; dots: training points "
               f"{_classes(run.data.n_classes)}. Entropy and MI in nats; ln {k} ≈ {math.log(k):.3f} is the most "
               f"{k} classes allow. "
               + ("While training, the maps are recomputed about once a second." if running else ""))
    _numbers(run)
    st.markdown(GUIDE)
    live_chart(frame[Fig.CURVES], KEY + "fig_" + Fig.CURVES, settings.CURVES_SECONDS if running else 0.0)
    st.caption("Solid: training; dashed: validation; measured with dropout off.")


def _load(link: dict[str, str], run: MCMapsLive | None) -> None:
    """The widgets from the link (first visit of the part), else from the session's run or the defaults; T too."""
    params = dict(link)
    passes, extra = form.whole_param(params, "passes", 1, settings.UNC_MAX_SAMPLES, settings.UNC_DEFAULT_SAMPLES)
    warnings = form.load_settings(KEY, MAPS_DEFAULT, params, REFUSALS, PAGE, run.exp if run is not None else None)
    if warnings is not None:
        st.session_state[KEY + "passes"] = passes
        warnings += extra
    form.show_link_warnings(_state(), warnings)


def maps_section(link: dict[str, str]) -> dict[str, str]:
    """Sidebar, Train/Pause/Step/Reset, the T slider and the live maps of the classification part; its link."""
    state = _state()
    _load(link, state.run)
    exp = _controls(state.run.exp if state.run is not None else MAPS_DEFAULT)
    run = controls.current_run(state, exp, False, _make)
    running, aside = controls.toolbar(state, run, _make)
    if exp.dataset == CSV:
        st.caption(own_data.link_note(exp))
    aside.slider("MC passes T", 1, settings.UNC_MAX_SAMPLES, key=KEY + "passes",
                  help="Stochastic passes over every grid point behind the three maps.")
    controls.live(state, running, _draw, settings.UNC_FRAME_INTERVAL)
    export.export_row(state, run, "Uncertainty: MC maps", "uncertainty-maps", KEY)
    return {**to_params(exp, MAPS_DEFAULT),
            **form.changed_param("passes", st.session_state[KEY + "passes"], settings.UNC_DEFAULT_SAMPLES)}
