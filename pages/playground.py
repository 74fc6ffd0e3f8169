"""Playground: train a small network live on toy data and slide the drop rate while it learns.

The page only wires widgets to ``explorer.playground.Playground`` and draws its
figures. Training runs in a fragment that reruns every FRAME_INTERVAL seconds
and trains for SLICE_SECONDS each time, so widgets and Pause stay responsive.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import fields

import streamlit as st

from explorer import settings
from explorer.datasets import TOY_DATASETS
from explorer.dropout import VARIANTS, variants_for
from explorer.experiment import Experiment, format_field, from_params, parse_field, to_params
from explorer.mnist import MNIST_DATASETS
from explorer.model import ACTIVATIONS
from explorer.playground import Playground
from explorer.training import OPTIMIZERS
from pages.ui.live import live_chart, steady_display
from pages.ui.router import ensure_router

KEY = "pg_"  # prefix of this page's session-state keys
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0)
BATCH_SIZES = (1, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1)
MAX_NORMS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)


def _with(value, options: tuple) -> list:
    """The options of a stepped slider, plus a value from a shared link that is not among them."""
    return sorted(set(options) | {value})


TOY_ONLY = "the Playground trains on 2-D toy data"


def _toy_only(params: dict[str, str], base: Experiment) -> list[str]:
    """Drop the link parameters of image experiments (MNIST, the CNN, its conv rate, a data directory).

    They belong to the command line (``python -m explorer train``); here they
    fall back to ``base`` with one warning each. Unknown datasets are left to
    ``from_params``, which lists the valid ones.
    """
    reasons = {
        "dataset": lambda v: v in MNIST_DATASETS and f"{v} is an image set: `python -m explorer train --dataset {v}`",
        "model": lambda v: v != "mlp" and f"it trains an MLP, not {v}",
        "conv_p": lambda v: "its MLP has no conv layers",
        "data_dir": lambda v: "it reads no data files",
    }
    warnings = []
    for key, reason in reasons.items():
        if key in params and (why := reason(params[key].strip())):
            shown = format_field(getattr(base, key)) or "none"
            warnings.append(f"{key}: {TOY_ONLY}; {why}; using {shown}")
            del params[key]
    return warnings


def _load_settings() -> None:
    """Fill the widgets from the link (first visit), else from the run kept in this session."""
    if KEY + "dataset" in st.session_state:
        return
    run: Playground | None = st.session_state.get(KEY + "run")
    params = st.query_params.to_dict()
    compare_text = params.pop("compare", "1")
    base = run.exp if run else Experiment()
    toy_warnings = _toy_only(params, base)
    exp, warnings = from_params(params, base)
    warnings = toy_warnings + warnings
    if compare_text not in ("0", "1"):
        warnings.append(f"compare: expected 0 or 1, got {compare_text!r}; using 1")
    st.session_state[KEY + "warnings"] = warnings
    st.session_state[KEY + "compare"] = compare_text != "0" if run is None else run.compare
    for f in fields(exp):
        value = getattr(exp, f.name)
        st.session_state[KEY + f.name] = format_field(value) if f.name == "hidden" else value


def _controls() -> Experiment:
    """The sidebar; returns the experiment it describes."""
    s = st.session_state
    sb = st.sidebar
    sb.header("Data")
    sb.selectbox("Dataset", list(TOY_DATASETS), key=KEY + "dataset", format_func=str.capitalize)
    sb.number_input("Training points", 4, settings.MAX_TRAIN_SIZE, step=10, key=KEY + "train_size",
                    help="Few points and a big network: the recipe for overfitting.")
    sb.slider("Input noise", 0.0, settings.MAX_NOISE, step=0.05, key=KEY + "noise")
    sb.slider("Flipped training labels", 0.0, 0.5, step=0.01, key=KEY + "label_noise",
              help="Fraction of training labels flipped; validation labels stay clean.")
    sb.number_input("Validation points", 1, settings.MAX_VAL_SIZE, step=50, key=KEY + "val_size")

    sb.header("Dropout")
    sb.selectbox("Variant", variants_for("mlp"), key=KEY + "variant", format_func=lambda k: VARIANTS[k].name)
    sb.slider("Hidden drop rate q", 0.0, settings.MAX_RATE, step=0.05, key=KEY + "p",
              help="Probability that a hidden unit is dropped at a training step. Changes apply at the next step.")
    sb.slider("Input drop rate", 0.0, settings.MAX_RATE, step=0.05, key=KEY + "input_p")

    sb.header("Network")
    sb.text_input("Hidden layer widths", key=KEY + "hidden",
                  help=f"Comma-separated, up to {settings.MAX_DEPTH} layers of at most {settings.MAX_WIDTH} units.")
    sb.selectbox("Activation", list(ACTIVATIONS), key=KEY + "activation")

    sb.header("Training")
    sb.selectbox("Optimiser", list(OPTIMIZERS), key=KEY + "optimizer", format_func=lambda o: {"adam": "Adam", "sgd": "SGD + momentum 0.9"}[o])
    sb.select_slider("Learning rate", _with(s[KEY + "lr"], LEARNING_RATES), key=KEY + "lr")
    sb.select_slider("Batch size", _with(s[KEY + "batch_size"], BATCH_SIZES), key=KEY + "batch_size")
    sb.select_slider("Weight decay (L2)", _with(s[KEY + "weight_decay"], WEIGHT_DECAYS), key=KEY + "weight_decay")
    sb.select_slider("Max-norm c (0 = off)", _with(s[KEY + "max_norm"], MAX_NORMS), key=KEY + "max_norm",
                     help="After each step, each hidden unit's incoming weight vector is rescaled to norm ≤ c.")
    sb.number_input("Epochs", 1, settings.MAX_EPOCHS, step=50, key=KEY + "epochs")
    sb.number_input("Seed", 0, settings.MAX_SEED, step=1, key=KEY + "seed",
                    help="Fixes the data, the initial weights, the batch order and the masks.")

    values = {f.name: s[KEY + f.name] for f in fields(Experiment)}
    try:
        values["hidden"] = parse_field("hidden", s[KEY + "hidden"])
    except ValueError as err:
        sb.error(f"Hidden layer widths: {err}")
        run = s.get(KEY + "run")
        values["hidden"] = run.exp.hidden if run else Experiment().hidden
    return Experiment(**values)


def _current_run(exp: Experiment, compare: bool) -> Playground:
    """The session's run, adjusted in place when possible, rebuilt when the change needs new weights."""
    run: Playground | None = st.session_state.get(KEY + "run")
    if run is None or not run.apply(exp, compare):
        run = Playground(exp, compare)
        st.session_state[KEY + "run"] = run
        st.session_state[KEY + "clock"] = deque(maxlen=20)
    return run


def _train() -> None:
    st.session_state[KEY + "running"] = True


def _pause() -> None:
    st.session_state[KEY + "running"] = False


def _step() -> None:
    st.session_state[KEY + "running"] = False
    st.session_state[KEY + "run"].advance(max_steps=1)


def _reset() -> None:
    run: Playground = st.session_state[KEY + "run"]
    st.session_state[KEY + "run"] = Playground(run.exp, run.compare)
    st.session_state[KEY + "running"] = False
    st.session_state[KEY + "clock"] = deque(maxlen=20)


def _rates(run: Playground) -> str:
    """Epochs and screen updates per second over the last frames."""
    clock: deque = st.session_state[KEY + "clock"]
    clock.append((time.perf_counter(), run.run.epoch))
    if len(clock) < 2 or clock[-1][0] - clock[0][0] <= 0:
        return ""
    seconds = clock[-1][0] - clock[0][0]
    return f" · {(clock[-1][1] - clock[0][1]) / seconds:.0f} epochs/s · {(len(clock) - 1) / seconds:.1f} updates/s"


def _summary(history: list[dict]) -> str:
    if not history:
        return "not trained yet"
    r = history[-1]
    return (f"training accuracy {r['train_acc']:.0%} · validation accuracy **{r['val_acc']:.0%}** · "
            f"validation loss **{r['val_loss']:.2f}**")


def _draw(run: Playground, running: bool) -> None:
    frame = run.frame()
    state = "training" if running else ("finished" if run.done else "paused")
    st.caption(f"Epoch {run.run.epoch} of {run.exp.epochs} · step {run.run.step} · {state}"
               + (_rates(run) if running else ""))
    if run.twin is not None:
        left, middle, right = st.columns([1, 1, 1.05])
        with middle:
            live_chart(frame["twin"], KEY + "fig_twin")
            st.markdown(_summary(run.twin.history))
    else:
        left, right = st.columns([1, 1.05])
    with left:
        live_chart(frame["boundary"], KEY + "fig_boundary")
        st.markdown(_summary(run.run.history))
    with right:
        live_chart(frame["network"], KEY + "fig_network")
        live_chart(frame["kept"], KEY + "fig_kept")
        st.caption(f"Blue: kept. Grey cross: dropped in this step. * first {settings.DIAGRAM_UNITS} units shown.")
    live_chart(frame["curves"], KEY + "fig_curves")
    st.caption("Map shade: the network's P(blue); large dots: training points; faint dots: validation points. "
               "Curves: solid = training, dashed = validation, measured on the whole sets with dropout off.")


def playground() -> None:
    st.title("Playground")
    steady_display()
    _load_settings()
    for warning in st.session_state[KEY + "warnings"]:
        st.warning(f"Link parameter not used: {warning}")
    exp = _controls()
    st.session_state.setdefault(KEY + "running", False)

    top = st.columns([1, 1, 1, 2.4, 2.8], vertical_alignment="center")
    running = st.session_state[KEY + "running"]
    run = _current_run(exp, st.session_state[KEY + "compare"])
    if running:
        top[0].button("Pause", on_click=_pause, type="primary", width="stretch")
    else:
        top[0].button("Train", on_click=_train, type="primary", width="stretch", disabled=run.done)
    top[1].button("Step", on_click=_step, width="stretch", disabled=run.done, help="One training step, then pause.")
    top[2].button("Reset", on_click=_reset, width="stretch", help="New weights from the seed; epoch 0.")
    top[3].toggle("Compare with no dropout", key=KEY + "compare",
                  help="A twin network trained on the same data, initial weights and batch order, without dropout.")
    top[4].caption("Slide the drop rate while it trains: the next step uses it, the weights stay. "
                   "The address bar holds this experiment: copy it to share it.")
    st.query_params.from_dict({**to_params(exp), **({} if st.session_state[KEY + "compare"] else {"compare": "0"})})

    interval = settings.FRAME_INTERVAL if running and not run.done else None

    @st.fragment(run_every=interval)
    def live() -> None:
        # Streamlit may hand a click on Pause, Step or Reset to a fragment run;
        # the controls outside the fragment are then redrawn by a full run.
        if st.session_state[KEY + "running"] != running:
            st.rerun()
        current: Playground = st.session_state[KEY + "run"]
        if running:
            current.advance(max_seconds=settings.SLICE_SECONDS)
            if current.done:
                st.session_state[KEY + "running"] = False
                st.rerun()
        _draw(current, running)

    live()

ensure_router()
playground()
