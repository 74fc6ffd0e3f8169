"""The Theory page's "Dropout as L2" part: widgets → ``explorer.theory.l2.state.DropoutL2``, then draw.

A linear model trains with input dropout masks next to the closed form of the
ridge problem dropout amounts to; the trained weights converge to it.
"""

from __future__ import annotations

import streamlit as st

from explorer import settings
from explorer.theory.l2.files import ridge_json
from explorer.theory.l2.state import DropoutL2, Fig, analysis_defaults, analysis_problems, from_params
from explorer.core.experiment import Experiment, to_params
from pages.ui import controls, export, form, present
from pages.ui.live import live_chart
from pages.ui.state import LiveState, page_state

KEY = "l2_"  # prefix of this part's widget keys
STEPS = (0.05, 0.1, 0.2, 0.5, 1.0)  # shares of the stable step
BATCHES = (5, 10, 20, 50)


def _state() -> LiveState[DropoutL2]:
    """This session's L2 part: its run, whether it trains, the link's warnings."""
    return page_state("l2", LiveState[DropoutL2])


def _load_settings(link: dict[str, str], run: DropoutL2 | None) -> None:
    """The link's settings on the part's first visit (over the session's run, else the defaults); show what
    the link could not set."""
    s = st.session_state
    if KEY + "input_p" not in s:  # Streamlit dropped the widgets' state while another part was shown: refill it
        s.pop(KEY + "p", None)    # (load_settings refills when "p" is missing; this part has no widget for it)
    exp, warnings = from_params(link, run.exp if run else analysis_defaults())
    loaded = form.load_settings(KEY, exp, {}, {}, "", None) is not None  # the widgets had no state: now exp's
    form.show_link_warnings(_state(), warnings if loaded else None)


def _controls(link: dict[str, str]) -> Experiment | None:
    """The sidebar; the experiment it describes, or the running one when the widgets break a rule."""
    s, sb = st.session_state, st.sidebar
    run = _state().run
    _load_settings(link, run)
    sb.header("Dropout as L2")
    sb.slider("Input drop rate q", 0.0, settings.MAX_RATE, step=0.05, key=KEY + "input_p",
              help="Each input is dropped with probability q at every step, for every example; a new rate is a new "
                   "ridge problem, so training starts afresh.")
    sb.number_input("Examples n", 2 * settings.RIDGE_FEATURES, settings.RIDGE_MAX_TRAIN, step=50, key=KEY + "train_size")
    sb.slider("Noise σ of the targets", 0.0, settings.MAX_NOISE, step=0.1, key=KEY + "noise")
    sb.select_slider("Step (share of the stable step)", sorted({*STEPS, s[KEY + "lr"]}), key=KEY + "lr",
                     help="SGD's step is this share of k / mean‖x‖², the largest that stays stable at every rate.")
    sb.select_slider("Batch size", sorted({*BATCHES, s[KEY + "batch_size"]}), key=KEY + "batch_size")
    sb.number_input("Epochs", 1, settings.RIDGE_MAX_EPOCHS, step=50, key=KEY + "epochs")
    sb.number_input("Seed", 0, settings.MAX_SEED, step=1, key=KEY + "seed", help="Fixes the data, batches and masks.")
    exp = form.read_experiment(KEY, run.exp if run else analysis_defaults())
    problems = analysis_problems(exp)
    for problem in problems:
        sb.error(f"Not applied: {problem}")
    return (run.exp if run else None) if problems else exp


def _numbers(lab: DropoutL2) -> str:
    r = lab.summary()
    return (f"**Trained vs closed form: {r['relative_distance']:.1%}** (relative distance; the last iterate "
            f"{r['last_iterate_relative_distance']:.1%}). For comparison, least squares is "
            f"{r['ols_relative_distance']:.0%} away from it and weight decay (λ = {r['weight_decay_lambda']:.3g}) "
            f"{r['weight_decay_relative_distance']:.0%}.")


def _draw(lab: DropoutL2, running: bool) -> None:
    st.caption(controls.status(_state(), lab, running))
    if lab.run.diverged:
        st.error(f"Training diverged at epoch {lab.run.epoch}: the step is too large for the masks' noise. "
                 "Choose a smaller step or a larger batch in the sidebar.")
    frame = lab.frame()
    live_chart(frame[Fig.WEIGHTS], KEY + "fig_" + Fig.WEIGHTS)
    left, right = st.columns([1.5, 1])
    with left:
        live_chart(frame[Fig.DISTANCE], KEY + "fig_" + Fig.DISTANCE)
    with right:
        st.markdown(_numbers(lab))
        st.caption("Reading guide: the green bars (trained with masks) settle on the blue ones (the closed form). "
                   "Dropout's penalty grows with a feature's scale, so it shrinks the large-scale features (right) "
                   "more than weight decay does, and weight decay crushes the small-scale ones (left), whose "
                   "weights must be large. The last iterate keeps jittering; the running average of the iterates "
                   "converges.")


def _derivation() -> None:
    with st.expander("The derivation"):
        st.markdown("With masks m_ij ~ Bernoulli(k), E[m_ij/k] = 1 and Var[m_ij/k] = q/k, so for every example")
        st.latex(r"\mathbb{E}_m\big(y_i - \textstyle\sum_j x_{ij}\tfrac{m_{ij}}{k}\tilde w_j\big)^2"
                 r" = (y_i - x_i^\top \tilde w)^2 + \tfrac{q}{k}\textstyle\sum_j x_{ij}^2 \tilde w_j^2 .")
        st.markdown("Summed over the examples, Σ_i x_ij² = (XᵀX)_jj = Γ_jj²; setting the gradient to zero gives the "
                    "normal equations and the closed form:")
        st.latex(r"\big(X^\top X + \tfrac{q}{k}\,\Gamma^2\big)\,\tilde w = X^\top y .")
        st.markdown("In the paper's convention (no rescaling in training, kX at test) the same model has weights "
                    "w = w̃/k and the objective ‖y − kXw‖² + k(1−k)‖Γw‖². Weight decay here is one λ for every "
                    "weight, the mean of dropout's λ_j = (q/k)Γ_jj² (the same total penalty). The features are "
                    f"independent Gaussians with scales {settings.RIDGE_SCALES[0]:g} to {settings.RIDGE_SCALES[1]:g}, "
                    "y = Xw* + σ·noise; the model has no bias.")


def dropout_l2_section(link: dict[str, str]) -> dict[str, str]:
    """Draw the part; its settings as link parameters (those that differ from the defaults)."""
    present.explain("Linear regression with **input dropout** (inverted: x·m/k in training, nothing at test time) "
                "minimises, on average over the masks, the ridge problem ‖y − Xw̃‖² + (q/k)·‖Γw̃‖², "
                "Γ = diag(XᵀX)^½, k = 1 − q: a penalty that grows with each feature's scale.")
    exp = _controls(link)
    if exp is None:
        st.warning("Fix the settings marked in the sidebar to train.")
        return {}
    state = _state()
    lab = controls.current_run(state, exp, False, DropoutL2)
    running, aside = controls.toolbar(state, lab, DropoutL2)
    aside.caption("A new rate or setting is a new problem: training starts afresh.")
    controls.live(state, running, _draw, settings.RIDGE_FRAME_INTERVAL)
    export.curves_row(state, "theory-dropout-l2", lambda: ridge_json(exp))
    _derivation()
    return to_params(exp, analysis_defaults())
