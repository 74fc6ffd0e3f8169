"""The Uncertainty page's MNIST part: MC averaging vs weight scaling (Fig. 11) and a digit rotated away.

Wires the sidebar to ``explorer.uncertainty.digits.state.DigitsUncertainty`` and draws its
figures; the live training loop is ``pages.ui.controls``. The digits are the
embedded MNIST subset, parsed once per server and shared read-only by every
session. Its settings come from the page's link (``pages.ui.parts``) and go back to it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import streamlit as st

from explorer import settings
from explorer.core.experiment import IDX_DATASETS, Experiment, to_params
from explorer.uncertainty.digits.analysis import MILESTONES
from explorer.uncertainty.digits.state import DEFAULT_DIGIT, DigitsUncertainty, Fig, analysis_defaults, analysis_problems
from pages.ui import controls, export, form
from pages.ui.data import shared_data
from pages.ui.live import live_chart
from pages.ui.numbers import Number, number_row
from pages.ui.state import LiveState, page_state

KEY = "ud_"  # prefix of this part's widget keys
DEFAULT = analysis_defaults()
PAGE = "the MNIST digits part trains a 784-512-512-10 MLP on the embedded digits"
# The link holds what the sidebar shows: the drop rates, the epochs and the seed (and T and the digit).
REFUSALS = {
    **form.refuse_all_but({"dataset", "p", "input_p", "epochs", "seed"}, "it has no control for this setting"),
    "dataset": lambda v: v != "mnist" and (f"{v} is read from files: `python -m explorer analyze --what mc "
                                           f"--dataset {v}`" if v in IDX_DATASETS else
                                           f"{v} is a toy dataset: see the 2-D classification part"),
    "model": lambda v: v != "mlp" and "the CNN is trained on the Inside page",
    "variant": lambda v: v != "standard" and f"it uses standard dropout; {v} is compared on the Variants lab page",
}


def _make(exp: Experiment, compare: bool) -> DigitsUncertainty:
    return DigitsUncertainty(exp, shared_data(replace(DEFAULT, seed=exp.seed)))  # the default split, whatever the run


def _state() -> LiveState[DigitsUncertainty]:
    """This session's digits part: its run, whether it trains, the link's warnings."""
    return page_state("ud", LiveState[DigitsUncertainty])


def _settings(link: dict[str, str]) -> tuple[Experiment, int | None]:
    """The sidebar's network settings, from the link on the part's first visit: the experiment they describe, and
    the link's digit (a class) when it has just been read."""
    s, sb = st.session_state, st.sidebar
    run = _state().run
    params = dict(link)
    passes, extra = form.whole_param(params, "passes", 2, settings.MAX_MC_SAMPLES, settings.MC_DIGITS_SAMPLES)
    digit, more = form.whole_param(params, "digit", 0, 9, DEFAULT_DIGIT)
    warnings = form.load_settings(KEY, DEFAULT, params, REFUSALS, PAGE, run.exp if run else None)
    if warnings is not None:
        s[KEY + "passes"] = passes  # not "samples": the form's key of an Experiment field
        warnings += extra + more
    form.show_link_warnings(_state(), warnings)
    sb.header("Dropout")
    sb.slider("Hidden drop rate q", 0.0, settings.MAX_RATE, step=0.05, key=KEY + "p",
              help="Probability that a hidden unit is dropped at a training step (and in each MC pass).")
    sb.slider("Input drop rate", 0.0, settings.MAX_RATE, step=0.05, key=KEY + "input_p")
    sb.header("Training")
    sb.number_input("Epochs", 1, settings.MAX_EPOCHS, step=5, key=KEY + "epochs")
    sb.number_input("Seed", 0, settings.MAX_SEED, step=1, key=KEY + "seed",
                    help="Fixes the digits split, the initial weights, the batch order and the MC masks.")
    return form.read_experiment(KEY, run.exp if run else DEFAULT), digit if "digit" in link else None


def _digit_settings(run: DigitsUncertainty, linked: int | None) -> None:
    """T and the rotated digit; ``linked``: the digit class a link has just asked for."""
    s, sb = st.session_state, st.sidebar
    sb.header("Rotated digit")
    sb.slider("Stochastic passes T", 2, settings.MAX_MC_SAMPLES, key=KEY + "passes",
              help="MC dropout passes averaged for each rotated image.")
    options = list(range(len(run.digit_labels)))
    if linked in run.digit_labels:
        s[KEY + "digit"] = run.digit_labels.index(linked)
    elif s.get(KEY + "digit") not in options:
        s[KEY + "digit"] = run.digit
    sb.segmented_control("Digit", options, key=KEY + "digit", format_func=lambda i: str(run.digit_labels[i]),
                         required=True, help="A validation digit of this class is rotated.")


def _averaging_numbers(result: dict[str, Any]) -> None:
    at = dict(zip(result["k"].tolist(), result["error"].tolist()))
    shown = [k for k in MILESTONES if k in at]
    match = result["k_matching"]
    number_row([Number("Weight scaling", f"{result['weight_scaling_error']:.1%}"),
                *(Number(f"MC, k = {k}", f"{at[k]:.1%}") for k in shown),
                Number("MC matches at", f"k = {match}" if match else f"> {len(at)}")])


def _averaging_guide(run: DigitsUncertainty, result: dict[str, Any]) -> str:
    history = run.run.history
    accuracy = (f" The inference network on all {len(run.data.y_val):,} validation digits: "
                f"{history[-1]['val_acc']:.1%} correct (epoch {history[-1]['epoch']})." if history else "")
    return ("**Reading the chart.** Every stochastic pass runs the trained network under a fresh dropout mask: one "
            f"sampled thinned network. Blue: the error on {result['digits']} validation digits of the average of the "
            f"first k passes' class probabilities (averaged over {settings.MC_DIGITS_ORDERINGS} random orders of the "
            f"{settings.MC_DIGITS_PASSES} passes; the band is ± one standard deviation across those orders of one "
            "fixed set of passes: how much the order matters, not sampling error, and it closes at k = "
            f"{settings.MC_DIGITS_PASSES}, where every order averages the same passes). Dashed red: "
            "the single network used at test time, every unit on and the weights scaled. One thinned network is "
            "much worse; the average of more and more of them approaches the weight-scaled network, which costs one "
            "pass. Srivastava et al. (2014, Fig. 11) needed about 50 samples to match it on MNIST; 'MC matches at' is "
            f"the k from which blue stays within one digit ({result['tolerance']:.1%}) of red. While training, the "
            f"chart is recomputed every few seconds (the title says at which step).{accuracy}")


def _rotation_guide(rotation: dict[str, Any]) -> str:
    entropy, info, angles = rotation["entropy"], rotation["mutual_information"], rotation["angles"]
    peak = int(entropy.argmax())
    agree = int((rotation["mean"].argmax(1) == rotation["weight_scaled"].argmax(1)).sum())
    return (f"**Reading the charts.** The digit {rotation['digit']} turned in steps of {angles[1]:g}°: the network "
            "only ever saw upright digits. Left: the mean class probabilities of T passes at each angle (darker = "
            "more probable); red crosses mark the class the weight-scaled network picks. Right: the predictive "
            "entropy of that mean (all uncertainty; ln 10 ≈ 2.3 nats when every class is equally likely) and the "
            "mutual information, the part that comes from the passes disagreeing: the network's own uncertainty "
            f"about a digit unlike its training data. Upright: entropy {entropy[0]:.2f} nats. Highest at "
            f"{angles[peak]:g}°: {entropy[peak]:.2f} nats, mutual information {info[peak]:.2f}. MC and the "
            f"weight-scaled network pick the same class at {agree} of {len(angles)} angles; only the passes say how "
            "much they disagree.")


def _draw(run: DigitsUncertainty, running: bool) -> None:
    s = st.session_state
    # Training, the analyses are redone less often the more sessions share the server's cores.
    scale = controls.load_scale() if running else 0.0
    run.select(s[KEY + "digit"], s[KEY + "passes"], settings.MC_DIGITS_REFRESH_SECONDS * scale,
               settings.MC_DIGITS_LOOK_SECONDS * scale)
    st.caption(controls.status(_state(), run, running))
    frame = run.frame()
    averaging, rotation = run.numbers["averaging"], run.numbers["rotation"]

    st.subheader("How many thinned networks make one weight-scaled network?")
    _averaging_numbers(averaging)
    live_chart(frame[Fig.AVERAGING], KEY + "fig_" + Fig.AVERAGING)
    st.caption(_averaging_guide(run, averaging))

    st.subheader("A digit rotated out of the training distribution")
    live_chart(frame[Fig.ROTATED], KEY + "fig_" + Fig.ROTATED)
    st.caption("The same validation digit turned about its centre (bilinear); the corners it uncovers are black "
               "background, as in every MNIST image. Pick another digit and T in the sidebar.")
    for column, place in zip(st.columns(2), (Fig.PREDICTIVE, Fig.UNCERTAINTY)):
        with column:
            live_chart(frame[place], KEY + "fig_" + place)
    st.caption(_rotation_guide(rotation))


def digits_section(link: dict[str, str]) -> dict[str, str]:
    """Sidebar, Train/Pause/Step/Reset and the live charts of the MNIST part; its link."""
    exp, linked = _settings(link)
    for problem in analysis_problems(exp):
        st.warning(problem.reason.capitalize())
    state = _state()
    run = controls.current_run(state, exp, False, _make)
    _digit_settings(run, linked)
    running, aside = controls.toolbar(state, run, _make, 5.2)
    aside.caption("A 784-512-512-10 network learns 4,000 real MNIST digits with dropout. Is one weight-scaled "
                   "network as good as averaging many sampled ones, and what does MC dropout say about a digit "
                   "turned on its side?")
    controls.live(state, running, _draw, settings.MC_DIGITS_FRAME_INTERVAL)
    export.export_row(state, run, "Uncertainty: MNIST digits", "uncertainty-digits", KEY)
    s = st.session_state
    return {**to_params(exp, DEFAULT), **form.changed_param("passes", s[KEY + "passes"], settings.MC_DIGITS_SAMPLES),
            **form.changed_param("digit", run.digit_labels[s[KEY + "digit"]], DEFAULT_DIGIT)}
