"""The Theory page's "Exact model averaging" part: widgets → ``theory.averaging.state.AveragingRuns``, then draw.

A tiny network trains live with dropout; every frame runs all 2^n of its
thinned networks and sets weight scaling and MC averaging against their exact
average.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from explorer import settings
from explorer.theory.averaging.analysis import KEPT_SCALE
from explorer.theory.averaging.state import DEFAULT_K, AveragingRuns, Fig, analysis_defaults, analysis_problems
from explorer.core.experiment import CSV, Experiment, parse_field, to_params
from pages.ui import controls, export, form, own_data, present
from pages.ui.live import live_chart
from pages.ui.numbers import Number, number_row
from pages.ui.state import LiveState, page_state

KEY = "ta_"  # prefix of this part's widget keys
PAGE = "the averaging part trains a tiny MLP on 2-D toy data"
CONTROLS = {"dataset", "train_size", "noise", "variant", "p", "input_p", "hidden", "activation", "optimizer", "lr",
            "batch_size", "weight_decay", "max_norm", "epochs", "seed"}  # the fields the sidebar shows
RULED = ("dataset", "model", "variant", "hidden")  # link values exact averaging's rules refuse (hidden: n units)


DATA = own_data.data_maker(KEY)


def _make(exp: Experiment, compare: bool = False) -> AveragingRuns:
    return AveragingRuns(exp, data=DATA(exp))


def _state() -> LiveState[AveragingRuns]:
    """This session's averaging part: its run, whether it trains, the link's warnings."""
    return page_state("ta", LiveState[AveragingRuns])


def _refusals(base: Experiment, params: dict[str, str]) -> dict[str, form.Refusal]:
    """What a link cannot set here: a field the sidebar does not show, or a value exact averaging cannot take,
    for the reason its rules give (``analysis_problems``).

    A value is tried over ``base`` with the link's other values (the units to
    enumerate depend on hidden, p and input_p together); ``params`` is the
    link as ``form.load_settings`` leaves it, without the values already refused.
    """
    def refusal(name: str) -> form.Refusal:
        def why(text: str) -> str:
            values = {}
            for key, value in {**params, name: text}.items():
                try:
                    values[key] = parse_field(key, value)
                except (KeyError, ValueError):  # unknown or bad: from_params says what is wrong
                    pass
            if name not in values:
                return ""
            return "; ".join(p.reason for p in analysis_problems(replace(base, **values)) if name in p.fields)
        return why

    return form.refuse_all_but(CONTROLS, "it has no control for this setting") | {name: refusal(name) for name in RULED}


def _load_settings(link: dict[str, str], run: AveragingRuns | None) -> None:
    """The link's settings and k on the part's first visit (over the session's run, else the defaults); show what
    the link could not set."""
    params = dict(link)
    k, extra = form.whole_param(params, "k", 1, settings.AVERAGING_MAX_K, run.k if run else DEFAULT_K)
    base = run.exp if run else analysis_defaults()
    warnings = form.load_settings(KEY, analysis_defaults(), params, _refusals(base, params), PAGE,
                                  run.exp if run else None)
    if warnings is not None:
        st.session_state[KEY + "k"] = k
        warnings += extra
    form.show_link_warnings(_state(), warnings)


def _controls(link: dict[str, str]) -> Experiment:
    """The sidebar; the experiment it describes, or the running one when the widgets break a rule."""
    sb = st.sidebar
    run = _state().run
    _load_settings(link, run)
    sb.header("Data")
    own_data.dataset_picker(KEY, _state(), max_classes=2)
    sb.number_input("Training points", 4, settings.MAX_TRAIN_SIZE, step=10, key=KEY + "train_size")
    own_data.noise_slider(KEY)
    form.dropout_widgets(KEY, list(KEPT_SCALE))
    sb.header("Network")
    form.network_widgets(KEY, f"Exact averaging runs all 2ⁿ thinned networks: at most "
                              f"{settings.MAX_AVERAGING_UNITS} droppable units (hidden units when the hidden rate "
                              "is above 0, plus the 2 inputs when the input rate is).")
    form.training_widgets(KEY)
    fallback = run.exp if run else analysis_defaults()
    exp = form.read_experiment(KEY, fallback)
    problems = analysis_problems(exp)
    for problem in problems:
        sb.error(f"Not applied: {problem}")
    return fallback if problems else exp


def _small(value: float) -> str:
    return f"{value:.3f}" if value >= 1e-3 else f"{value:.1e}"


def _identity_text(run: AveragingRuns, gap: float) -> str:
    one_layer = len(run.exp.hidden) == 1 and run.run.model.dropouts[0].p == 0
    if one_layer:
        return (f"**Geometric mean = weight scaling, exactly**: the largest difference over the validation points is "
                f"{gap:.1e}, rounding error. With one hidden layer, dropout on its units only and a softmax output, "
                "the logits are linear in the mask, and the normalised geometric mean is the softmax of the average "
                "logits, which is the weight-scaled network's (see the derivation below). Add input dropout or a "
                "second hidden layer in the sidebar and watch the gap open.")
    return (f"**Geometric mean ≈ weight scaling, no longer exactly**: they differ by up to {_small(gap)}. "
            "Input dropout or a second hidden layer puts a nonlinearity between the mask and the logits, so the "
            "average of the logits is not the logits of the average network. Set the input rate to 0 with one "
            "hidden layer and the gap closes to rounding error.")


def _table(report: dict, k: int) -> str:
    [mc] = report["mc"]
    rows = [("Exact mean (arithmetic)", {"val_acc": report["exact_arithmetic"]["val_acc"]}),
            ("Exact geometric mean (normalised)", report["exact_geometric"]),
            ("Weight scaling (the inference network)", report["weight_scaling"]),
            (f"MC average of k = {k} (mean of {settings.AVERAGING_MC_DRAWS} draws)", mc)]
    lines = ["| prediction | validation accuracy | mean \\|ΔP\\| | max \\|ΔP\\| | same class as exact |",
             "|:---|---:|---:|---:|---:|"]
    for name, r in rows:
        if "mean_abs_diff" in r:
            lines.append(f"| {name} | {r['val_acc']:.1%} | {_small(r['mean_abs_diff'])} | "
                         f"{_small(r['max_abs_diff'])} | {r['agreement']:.1%} |")
        else:
            lines.append(f"| **{name}** | **{r['val_acc']:.1%}** | reference | | |")
    return "\n".join(lines)


def _metrics(report: dict) -> None:
    ws, at = report["weight_scaling"], report["mc_matches_weight_scaling_at_k"]
    gap = report["geometric_vs_weight_scaling_max_diff"]
    number_row([
        Number("Thinned networks run", f"{report['networks']:,}", f"all 2^{report['units']} masks",
               "Every keep/drop pattern of the units whose drop rate is above 0, each run on the map's grid and the "
               "validation points."),
        Number("Geometric mean − weight scaling", f"{gap:.1e}" if gap < 1e-3 else _small(gap), "largest |ΔP|",
               "The largest difference in a class probability between the exact normalised geometric mean and the "
               "weight-scaled network, over the validation points."),
        Number("Weight scaling − exact mean", _small(ws["mean_abs_diff"]), "mean |ΔP|",
               "How far the inference network is from the exact average of all thinned networks, on average."),
        Number("MC as close from", f"k = {at}" if at else f"k > {settings.AVERAGING_MAX_K}", "sampled networks",
               "The smallest k at which averaging k sampled networks (mean over the draws) is as close to the "
               "exact average as weight scaling."),
    ])


def _draw(run: AveragingRuns, running: bool) -> None:
    st.caption(controls.status(_state(), run, running))
    frame, report = run.frame(), run.report((run.k,))
    every = settings.AVERAGING_SLOW_SECONDS if running else 0.0
    live_chart(frame[Fig.MAPS], KEY + "fig_" + Fig.MAPS, every)
    st.caption(
        "Shade: the predicted P(blue), the line where it is ½; dots: the training points. Left to right: the exact "
        "expectation of dropout's prediction (every thinned network, weighted by the probability of its mask), "
        "their normalised geometric mean, the one weight-scaled network inference runs, and the average of k "
        "sampled networks (MC dropout). **Reading guide:** the four look alike, and that is the point of weight "
        "scaling: one pass instead of 2ⁿ. Slide k to 1 and the MC map is one random thinned network; to 200 and "
        "it settles on the exact one.")
    _metrics(report)
    st.markdown(_identity_text(run, report["geometric_vs_weight_scaling_max_diff"]))

    st.subheader("How close is each shortcut?")
    st.markdown(_table(report, run.k))
    st.caption(f"On {report['val_points']} validation points. |ΔP|: the difference in a class probability to the "
               "exact mean (the first row), mean and largest over the points. **Reading guide:** weight scaling "
               "approximates the geometric mean (exactly so for one hidden layer without input dropout, as the line "
               "above the table says), not the arithmetic one: where the thinned networks disagree, the two differ; "
               "yet they almost always pick the same class.")

    live_chart(frame[Fig.DIFFERENCE], KEY + "fig_" + Fig.DIFFERENCE, every)
    st.caption("Each approximation's P(blue) minus the exact mean's, on one colour scale: blue where it says blue "
               "more strongly, orange where less; the line is the exact boundary. **Reading guide:** weight "
               "scaling's error is systematic: it sits where the thinned networks disagree (often away from the "
               "data, where their ReLU pieces extrapolate differently) and stays put however often you look. MC's "
               "error is the luck of the k networks drawn: it changes with every draw and shrinks as k grows.")

    live_chart(frame[Fig.MC_CURVE], KEY + "fig_" + Fig.MC_CURVE, every)
    st.caption(f"Mean |P_MC − P_exact| over the validation points, for each k, averaged over "
               f"{settings.AVERAGING_MC_DRAWS} independent draws of k networks (the band: 10–90 % of the draws); "
               "dashed: weight scaling's error, dotted: the geometric mean's. **Reading guide:** on log–log axes "
               "MC's error is a straight line of slope −½ (it falls as 1/√k: four times the samples halve it). "
               "Where it crosses the dashed line, sampling k networks is as good as one weight-scaled pass. "
               "Srivastava et al. (2014, Fig. 11) found about 50 samples on MNIST, but measured a different "
               "quantity: test classification error, not the distance |ΔP| to the exact mean drawn here.")

    live_chart(frame[Fig.CURVES], KEY + "fig_" + Fig.CURVES, every)
    st.caption("Training (solid) and validation (dashed) of the network with dropout, in inference mode.")


def _derivation() -> None:
    with st.expander("Why the geometric mean is exactly weight scaling for one hidden layer", expanded=False):
        st.markdown("A thinned network with mask m (each unit kept with probability k = 1 − q) has logits, with "
                    "inverted dropout (weight scaling's rule drops the 1/k in training and multiplies by k at test):")
        st.latex(r"z(m) = W_2\,\frac{m \odot h}{k} + b_2,\qquad h = \mathrm{relu}(W_1 x + b_1),")
        st.latex(r"P(m) = \mathrm{softmax}\,z(m),\qquad w(m) = \prod_j k^{m_j}(1-k)^{1-m_j}"
                 r"\quad\text{(the probability of mask } m\text{)}")
        st.markdown("The exact prediction of dropout is the arithmetic mean Σ w(m) P(m). The normalised weighted "
                    "geometric mean is")
        st.latex(r"G_c = \frac{\prod_m P_c(m)^{w(m)}}{\sum_{c'} \prod_m P_{c'}(m)^{w(m)}}"
                 r" = \mathrm{softmax}_c\Big(\sum_m w(m)\, z(m)\Big)"
                 r" = \mathrm{softmax}_c\big(W_2\, h + b_2\big),")
        st.markdown("because log P_c(m) = z_c(m) − log Σ exp z(m), whose last term is the same for every class and "
                    "cancels in the normalisation, and z is linear in m with E[m] = k. The last expression is the "
                    "weight-scaled network. With input dropout, h itself depends on a mask through the ReLU, so "
                    "E[z(m)] is no longer z(E[m]): the equality becomes an approximation. The exact one-hidden-layer "
                    "result is Hinton et al. (2012, arXiv:1207.0580); Baldi & Sadowski (2013) analyse it and bound "
                    "the gap between the geometric and arithmetic means.")


def averaging_section(link: dict[str, str]) -> dict[str, str]:
    """Draw the part; its settings as link parameters (the experiment's, and k when not the default)."""
    exp = _controls(link)
    present.explain("A network with n ≤ 12 droppable units trains 2ⁿ thinned networks: few enough to run **every one** "
                "and average them exactly, live, against weight scaling and Monte-Carlo averaging.")
    state = _state()
    run = controls.current_run(state, exp, False, _make)
    running, aside = controls.toolbar(state, run, _make, 4.4)
    if exp.dataset == CSV:
        st.caption(own_data.link_note(exp))
    aside.slider("MC samples k", 1, settings.AVERAGING_MAX_K, key=KEY + "k",
                  help="Thinned networks sampled and averaged, as MC dropout does at test time.")
    run.select(st.session_state[KEY + "k"], settings.AVERAGING_SLOW_SECONDS if running else 0.0)
    controls.live(state, running, _draw, settings.AVERAGING_FRAME_INTERVAL)
    export.export_row(state, run, "Theory: exact averaging", "theory-averaging", KEY)
    _derivation()
    return to_params(exp, analysis_defaults()) | form.changed_param("k", st.session_state[KEY + "k"], DEFAULT_K)
