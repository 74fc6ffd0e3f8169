"""Co-adaptation: a network trained with dropout next to its twin without, and how much their units lean on each other.

The page wires widgets to ``explorer.coadaptation.state.CoadaptationRuns`` and
draws its figures, each with a reading guide for students; the live training
loop is ``pages.ui.controls``. The MNIST digits are parsed once per server and
shared read-only by every session, as on the Inside page.
"""

from __future__ import annotations

from typing import Callable

import streamlit as st

from explorer import settings
from explorer.tools import reference
from explorer.coadaptation.state import CoadaptationRuns, Fig, analysis_defaults, analysis_problems
from explorer.core.datasets import TOY_DATASETS
from explorer.dropout import variants_for
from explorer.core.experiment import CSV, IDX_DATASETS, Experiment, to_params
from explorer.coadaptation.figures import LOSS_SCALE
from explorer.core.live_runs import RUN_NAMES
from explorer.core.mnist import SUBSET_SIZE
from pages.ui import controls, export, form, own_data
from pages.ui.live import live_chart, steady_display
from pages.ui.numbers import Number, number_row
from pages.ui.router import ensure_router
from pages.ui.state import LiveState, page_state

KEY = "co_"  # prefix of this page's widget keys
DATASETS = ("mnist", *TOY_DATASETS)
DEFAULT = analysis_defaults()
REFUSALS = {
    "dataset": lambda v: v in IDX_DATASETS and f"{v} is read from files",
    "model": lambda v: v != "mlp" and f"it looks at an MLP's hidden units, not the {v}",
    "conv_p": lambda v: "its MLP has no conv layers",
    "data_dir": lambda v: "it reads no data files",
    **form.UNIT_PAGE_REFUSALS,
}
QUOTED = reference.load()["coadaptation"]  # this page's defaults trained to the end: python -m explorer.tools.reference
REFERENCE = f"On the default MNIST run after {QUOTED['epochs']} epochs:"


def _make(exp: Experiment, compare: bool = True) -> CoadaptationRuns:
    return CoadaptationRuns(exp, own_data.page_data(KEY, exp))


def _state() -> LiveState[CoadaptationRuns]:
    """This session's Co-adaptation page: its runs, whether they train, the link's warnings."""
    return page_state("co", LiveState[CoadaptationRuns])


def _load_settings() -> None:
    """The link's experiment on the first visit (a toy dataset brings its own defaults), else the session's run;
    the link's warnings, shown on every run."""
    state = _state()
    params = st.query_params.to_dict()
    named = params.get("dataset", "").strip()
    default = analysis_defaults(named if named in DATASETS else None)
    form.show_link_warnings(state, form.load_settings(
        KEY, default, params, REFUSALS, "the Co-adaptation page trains an MLP on the MNIST subset or a toy dataset",
        state.run.exp if state.run else None))


def _data_widgets() -> None:
    s, sb = st.session_state, st.sidebar
    sb.header("Data")
    # a new dataset brings its own defaults (the MNIST reference run, or the toy defaults), as on the command line
    own_data.dataset_picker(KEY, _state(), DATASETS, analysis_defaults)
    if s[KEY + "dataset"] == "mnist":
        sb.number_input("Training digits", 10, SUBSET_SIZE - 10, step=100, key=KEY + "train_size")
        sb.number_input("Validation digits", 10, SUBSET_SIZE - 10, step=100, key=KEY + "val_size",
                        help=f"The first {settings.COADAPT_EXAMPLES} are the examples every analysis looks at.")
        return
    sb.number_input("Training points", 4, settings.MAX_TRAIN_SIZE, step=10, key=KEY + "train_size")
    own_data.noise_slider(KEY)
    sb.slider("Flipped training labels", 0.0, 0.5, step=0.01, key=KEY + "label_noise")
    sb.number_input("Validation points", 1, settings.MAX_VAL_SIZE, step=50, key=KEY + "val_size",
                    help=f"The first {settings.COADAPT_EXAMPLES} are the examples every analysis looks at.")


def _controls() -> Experiment:
    """The sidebar; returns the experiment it describes (the running one while a setting cannot be analysed)."""
    s, sb = st.session_state, st.sidebar
    _data_widgets()
    sb.header("Network")
    form.network_widgets(KEY, f"Comma-separated, up to {settings.MAX_DEPTH} layers of at most {settings.MAX_WIDTH} "
                              "units; the analyses look at the last one.")
    form.dropout_widgets(KEY, variants_for("mlp", unit_masks=True))
    form.training_widgets(KEY)
    run = _state().run
    fallback = run.exp if run else analysis_defaults(s[KEY + "dataset"])
    exp = form.read_experiment(KEY, fallback)
    problems = analysis_problems(exp)
    for problem in problems:
        sb.error(f"Not applied: {problem}")
    return fallback if problems else exp


def _link(exp: Experiment) -> dict[str, str]:
    """What differs from the dataset's defaults, and the dataset itself when it is not the page's default."""
    dataset = {} if exp.dataset in (DEFAULT.dataset, CSV) else {"dataset": exp.dataset}  # uploads: not in links
    return dataset | to_params(exp, analysis_defaults(exp.dataset))


# --- drawing ------------------------------------------------------------------------

def _metrics(numbers: dict, shown: list[tuple[str, str, Callable[[float], str]]], named: bool = False) -> None:
    """Each network's numbers (label, key, how to write the value) in one row, the dropout network's under the
    left half of a two-panel chart; ``named``: the labels say which network (under a one-panel chart)."""
    number_row([Number(f"{name} · {label}" if named else label, text(numbers[name][key]))
                for name in RUN_NAMES for label, key, text in shown])


def _short(value: float) -> str:
    """Three significant digits, without an exponent up to the thousands (a narrow metric cuts "4.89e+03")."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _fmt(spec: str) -> Callable[[float], str]:
    return lambda value: format(value, spec)


def _quoted(key: str, spec: str, scale: float = 1.0, versus: bool = False) -> str:
    """A number of the reference run for both networks: "a with dropout vs b" (the caller adds "without"), or
    with ``versus`` "a vs b"."""
    with_, without = (format(QUOTED[name][key] * scale, spec) for name in ("dropout", "no_dropout"))
    return f"{with_} vs {without}" if versus else f"{with_} with dropout vs {without}"


def _draw(run: CoadaptationRuns, running: bool) -> None:
    st.caption(controls.status(_state(), run, running))
    # Paused: every analysis of the current step; training, less often the more sessions share the server's cores.
    age = settings.COADAPT_ANALYSIS_SECONDS * controls.load_scale() if running else 0.0
    frame, numbers = run.frame(age), run.numbers(age)
    layer, n = run.layer, len(run.probe_y)
    units = run.exp.hidden[-1]

    st.subheader(f"How alike are the units of {layer}?")
    live_chart(frame[Fig.CORRELATION], KEY + "fig_" + Fig.CORRELATION, age)
    _metrics(numbers, [("mean |r|", "mean_abs_r", _fmt(".3f")), ("DeCov", "decov", _short),
                       ("dead units", "dead_units", _fmt("d"))])
    st.caption(
        f"**Reading guide.** Each square is the correlation r between two units of {layer} (the last hidden layer, "
        f"{units} units), measured on the same {n} validation examples with dropout off: red = the two units fire "
        "together, blue = one fires when the other is quiet, white = unrelated. The units are ordered by "
        "clustering, so groups of units that carry the same signal show as red blocks on the diagonal; a wide "
        f"layer is drawn with {settings.COADAPT_MATRIX_UNITS} units spread along that order, the numbers use "
        "them all. Dead units (constant on these examples) have no correlation and are left out. mean |r| is the "
        "average strength over all pairs; DeCov (Cogswell et al. 2016) adds up the squared covariances, so it "
        "also grows with how strongly the units fire. Dropout pulls two ways: a unit can no longer count on one "
        "particular partner, but the network gains from keeping backup copies of what matters: compare the "
        f"blocks and the numbers of the two networks. {REFERENCE} mean |r| {_quoted('mean_abs_r', '.3f')} "
        f"without, DeCov {_quoted('decov', ',.0f', versus=True)}.")

    st.subheader("Followed over training")
    live_chart(frame[Fig.TRACKED], KEY + "fig_" + Fig.TRACKED, age)
    st.caption(
        "**Reading guide.** The same two numbers after every epoch; epoch 0 is the initial weights, which both "
        "networks share. The horizontal axis is the epoch, the vertical one mean |r| (left) or DeCov (right). "
        "Watch when the two lines part: from then on, the difference is what dropout did.")

    st.subheader("Pairs of units: backups or leaning on each other?")
    live_chart(frame[Fig.INTERACTION], KEY + "fig_" + Fig.INTERACTION, age)
    _metrics(numbers, [(f"mean |interaction| × {LOSS_SCALE:g}", "mean_abs_interaction",
                        lambda v: f"{v * LOSS_SCALE:.3f}"), ("blue share", "leaning_share", _fmt(".0%"))])
    st.caption(
        f"**Reading guide.** Take the {settings.COADAPT_TOP_UNITS} units whose removal hurts most (listed most "
        "important first) and remove them two at a time. A cell is Δ_ij − Δ_i − Δ_j (× 1000): how much more "
        "(red) or less (blue) the validation loss rises when units i and j are both removed than the two single "
        "removals add up to. Red: the two back each other up; they carry the same signal, so either one alone "
        "still does the job, and losing both costs more than the two single losses. Blue: the two lean on each "
        "other; one pushes the wrong way and its partner cancels it, or each completes the other, so losing "
        "either one already costs about what losing both does. Blue is the signature of co-adaptation. Both maps "
        "share one colour scale. A network trained with dropout saw its units removed at random at every step, "
        "so a unit could not count on a partner being there: expect few blue cells, and backups (red) may stay. "
        f"Early in training the numbers still jump about; {REFERENCE[0].lower() + REFERENCE[1:]} mean |interaction| "
        f"{_quoted('mean_abs_interaction', '.3f', LOSS_SCALE)} without, and a blue share of "
        f"{_quoted('leaning_share', '.0%', versus=True)}.")

    st.subheader("How many units can it lose?")
    live_chart(frame[Fig.ROBUSTNESS], KEY + "fig_" + Fig.ROBUSTNESS, age)
    _metrics(numbers, [("AUC random", "auc_random", _fmt(".2f")),
                       ("AUC important first", "auc_importance", _fmt(".2f"))], named=True)
    last = 1 - 1 / settings.COADAPT_REMOVAL_STEPS
    kept = {name: f"**{numbers[name]['acc_half_removed']:.0%}**" for name in RUN_NAMES}
    st.caption(
        f"**Reading guide.** We remove a growing share of the units of {layer} (horizontal axis) at test time "
        f"and measure the accuracy on the {n} validation examples (vertical axis). Solid lines remove units in "
        f"random order (the average of {settings.COADAPT_RANDOM_ORDERS} orders), dashed ones the most important "
        f"first. The area under a curve (AUC; at most {last:.2f}, for 100% until {last:.0%} of the units are "
        "gone) sums it up: larger is more robust. With half the units removed at random, the dropout network "
        f"keeps {kept[RUN_NAMES[0]]} accuracy, its twin {kept[RUN_NAMES[1]]}. Dropout trains every unit to cope without "
        f"a random half of its partners, so it usually loses accuracy more gently. {REFERENCE} AUC "
        f"{_quoted('auc_random', '.2f', versus=True)} (random), {_quoted('auc_importance', '.2f', versus=True)} (most "
        "important first).")

    st.subheader("How much does each unit matter?")
    live_chart(frame[Fig.IMPORTANCE], KEY + "fig_" + Fig.IMPORTANCE, age)
    _metrics(numbers, [("top 10% of units carry", "top_share", _fmt(".0%"))], named=True)
    st.caption(
        "**Reading guide.** For every unit, Δ is how much the validation loss rises when that unit alone is "
        "removed (horizontal axis, × 1000); the bars give the share of units with each Δ (vertical axis, log "
        "scale), the dashed lines each network's mean. Below zero, removing the unit helps. A network that leans "
        "on a few units has a long tail to the right, and its top 10% of units carry most of the total "
        "importance; if all units mattered equally they would carry 10%. Dropout makes no single unit "
        f"indispensable, so expect a shorter tail and a smaller top share. {REFERENCE} "
        f"{_quoted('top_share', '.0%')} without.")

    st.subheader("Training curves")
    live_chart(frame[Fig.CURVES], KEY + "fig_" + Fig.CURVES, settings.CURVES_SECONDS if running else 0.0)
    st.caption(
        "**Reading guide.** Loss (left) and accuracy (right) after every epoch; solid = training set, dashed = "
        "validation set, both measured with dropout off. The gap between a network's solid and dashed lines is "
        "overfitting; dropout usually trains more slowly but keeps that gap smaller.")


def coadaptation() -> None:
    st.title("Co-adaptation")
    steady_display()
    _load_settings()
    exp = _controls()
    state = _state()
    run = controls.current_run(state, exp, True, _make)
    running, aside = controls.toolbar(state, run, _make, 5.2)
    aside.caption("A network trained with dropout next to its twin without (same data, initial weights and "
                   "batches): do its units depend less on each other? " + own_data.link_note(exp, DEFAULT.dataset))
    st.query_params.from_dict(_link(exp))
    controls.live(state, running, _draw, settings.COADAPT_FRAME_INTERVAL)
    export.export_row(state, run, "Co-adaptation", "coadaptation", KEY)


ensure_router()
coadaptation()
