"""The Uncertainty page's 1-D regression part: MC-dropout bands around a fit with a gap in its data, trained live."""

from __future__ import annotations

from dataclasses import fields, replace

import streamlit as st

from explorer import settings
from explorer.core.experiment import format_field
from explorer.uncertainty.regression.analysis import REGRESSION_ACTIVATIONS, RegressionConfig, from_params, to_params
from explorer.uncertainty.regression.state import Fig, RegressionLive
from pages.ui import controls, export, form
from pages.ui.live import live_chart
from pages.ui.numbers import Number, number_row
from pages.ui.state import LiveState, page_state

KEY = "ur_"  # prefix of this part's widget keys
WIDTHS = (16, 32, 64, 128, 256)
GUIDE = (
    "**Reading the chart.** Each grey line is one stochastic pass: the network under a fresh dropout mask. Where "
    "training points pin the function down, the thinned networks agree and the band is narrow; in the grey gap and "
    "beyond the data they guess differently and it widens: the model knows it does not know. The band is the "
    "model's (epistemic) uncertainty, not the noise of the data. A higher drop rate widens it everywhere; a larger "
    "T only steadies the estimate. MC dropout is weaker in a gap between data than beyond it (Foong et al. 2019): "
    "the gap's number overtakes the data's only as training goes on."
)


def _state() -> LiveState[RegressionLive]:
    """This session's regression part: its run, whether it trains, the link's warnings."""
    return page_state("ur", LiveState[RegressionLive])


def _load(link: dict[str, str], run: RegressionLive | None) -> list[str] | None:
    """The widgets' values, once: the link's over the session's run (back from another part) or the defaults.

    Returns the link's warnings on the run that loads, None when the widgets already hold their state.
    """
    if KEY + "p" in st.session_state:
        return None
    params, base = dict(link), run.exp if run is not None else RegressionConfig()
    passes, warnings = form.whole_param(params, "passes", 1, settings.UNC_MAX_SAMPLES, settings.UNC_DEFAULT_SAMPLES)
    cfg, more = from_params(params, base)
    if len(cfg.hidden) != 2 or cfg.hidden[0] != cfg.hidden[1]:
        more.append(f"hidden: this part trains two hidden layers of one width, not {format_field(cfg.hidden)}; "
                    f"using {format_field(base.hidden)}")
        cfg = replace(cfg, hidden=base.hidden)
    for f in fields(cfg):
        st.session_state[KEY + f.name] = getattr(cfg, f.name)
    st.session_state[KEY + "hidden"] = cfg.hidden[0]
    st.session_state[KEY + "passes"] = passes
    return more + warnings


def _controls(fallback: RegressionConfig) -> RegressionConfig:
    """The sidebar; the config it describes (``fallback`` if it breaks a limit, with the reason shown)."""
    s, sb = st.session_state, st.sidebar
    r = settings.UNC_REG_HALF_RANGE
    sb.header("Data")
    sb.number_input("Training points", 1, settings.UNC_REG_MAX_TRAIN, step=10, key=KEY + "train_size")
    sb.slider("Noise (std of y)", 0.0, settings.MAX_NOISE, step=0.05, key=KEY + "noise")
    sb.slider("Gap in the training x", -r, r, step=0.25, key=KEY + "gap",
              help=f"Training x are drawn from [-{r:g}, {r:g}] without this interval.")
    sb.header("Network")
    sb.select_slider("Hidden width (two layers)", form.options_with(s[KEY + "hidden"], WIDTHS), key=KEY + "hidden")
    sb.radio("Activation", REGRESSION_ACTIVATIONS, key=KEY + "activation", horizontal=True)
    sb.slider("Drop rate q", 0.0, settings.MAX_RATE, step=0.05, key=KEY + "p",
              help="After each hidden layer, in training and in every MC pass. Changes apply at the next step.")
    sb.header("Training")
    sb.select_slider("Learning rate (Adam)", form.options_with(s[KEY + "lr"], form.LEARNING_RATES), key=KEY + "lr")
    sb.select_slider("Batch size", form.options_with(s[KEY + "batch_size"], form.BATCH_SIZES), key=KEY + "batch_size")
    sb.number_input("Epochs", 1, settings.MAX_EPOCHS, step=100, key=KEY + "epochs")
    sb.number_input("Seed", 0, settings.MAX_SEED, step=1, key=KEY + "seed", help="Fixes the data, the weights, the "
                    "batch order and the masks.")
    values = {f.name: s[KEY + f.name] for f in fields(RegressionConfig)}
    cfg = RegressionConfig(**{**values, "hidden": (int(values["hidden"]),) * 2, "gap": tuple(values["gap"])})
    problems = cfg.problems()
    for problem in problems:
        sb.error(f"Not applied: {problem}")
    return fallback if problems else cfg


def _draw(run: RegressionLive, running: bool) -> None:
    samples = st.session_state[KEY + "passes"]
    st.caption(controls.status(_state(), run, running))
    frame = run.frame(samples)
    live_chart(frame[Fig.FIT], KEY + "fig_" + Fig.FIT)
    st.caption(f"y = x·sin x + noise; training x in [-{settings.UNC_REG_HALF_RANGE:g}, "
               f"{settings.UNC_REG_HALF_RANGE:g}] without the gap (grey). Slide the drop rate or T while it trains.")
    n = run.numbers
    ratio = n["gap"] / n["data"] if n["data"] > 0 else float("nan")
    number_row([Number("Mean std in the gap", f"{n['gap']:.2f}"),
                Number("Mean std on the training range", f"{n['data']:.2f}"),
                Number("Mean std beyond the data", f"{n['beyond']:.2f}"),
                Number("Gap ÷ training range", f"{ratio:.1f}×" if ratio == ratio else "–",
                       why="Above 1: the model is less sure in the gap than where it saw data.")])
    st.markdown(GUIDE)
    live_chart(frame[Fig.MSE], KEY + "fig_" + Fig.MSE, settings.CURVES_SECONDS if running else 0.0)
    st.caption("Mean squared error of the whole network (dropout off) on the training points and on as many "
               "validation points from the same distribution (none in the gap).")


def regression_section(link: dict[str, str]) -> dict[str, str]:
    """Sidebar, Train/Pause/Step/Reset, the T slider and the live charts of the regression part; its link."""
    state = _state()
    form.show_link_warnings(state, _load(link, state.run))
    cfg = _controls(state.run.exp if state.run is not None else RegressionConfig())
    run = controls.current_run(state, cfg, False, RegressionLive)
    running, aside = controls.toolbar(state, run, RegressionLive)
    aside.slider("MC passes T", 1, settings.UNC_MAX_SAMPLES, key=KEY + "passes",
                  help="Stochastic passes behind the mean and the bands; the page draws the first "
                       f"{settings.UNC_CURVES_SHOWN} of them.")
    controls.live(state, running, _draw, settings.UNC_FRAME_INTERVAL)
    export.curves_row(state, "uncertainty-regression", run.experiment_json)
    return {**to_params(cfg),
            **form.changed_param("passes", st.session_state[KEY + "passes"], settings.UNC_DEFAULT_SAMPLES)}
