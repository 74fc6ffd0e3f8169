"""Sweeps: the dropout paper's Fig. 9 (error vs drop rate) and Fig. 10 (error vs data size), trained live.

The page wires widgets to ``explorer.sweep.state.Sweep`` (many MLPs trained
in batched stacks, one stack after another) and redraws the curve as its points come in and settle.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from explorer import settings
from explorer.core.catalogue import catalogue
from explorer.core.figures import sweep_figure
from explorer.core.experiment import CSV
from explorer.sweep.files import results_csv, sweep_json
from explorer.sweep.live import SharedSweep
from explorer.sweep.link import (DATASETS, WIDTHS, default_settings, read_spec, settings_of, sizes_for, spec_of,
                                 spec_to_params)
from explorer.sweep.state import DEFAULT_RATES, SWEEP_VARIANTS, Sweep, SweepSpec
from pages.ui import controls, own_data, present
from pages.ui.live import live_chart, steady_display
from pages.ui.router import ensure_router
from pages.ui.state import LiveState, page_state

KEY = "sw_"  # prefix of this page's widget keys
NAMES = {e["key"]: e["name"] for e in catalogue()}
OVER = {"rate": "Drop rate (Fig. 9)", "size": "Training-set size (Fig. 10)"}
MODES = {"fixed-width": "Width n fixed", "fixed-kept": "n·k fixed (n/k units)"}
FOUND = {  # Srivastava et al. (2014), Fig. 9 and Fig. 10, on full MNIST
    "rate": "The paper found: with n fixed, the test error is flat for keep rates 0.4–0.8 (q 0.2–0.6) and rises at "
            "both ends; too much dropout underfits, and the training error rises with it. With n·k fixed the best "
            "keep rate is about 0.6 (q ≈ 0.4).",
    "size": "The paper found: on 100–500 examples dropout gains nothing; the gain grows with the data, then "
            "shrinks again when there is so much data that overfitting is no longer the problem.",
}


@dataclass
class SweepState(LiveState[SharedSweep]):
    """What the page keeps beside its widgets (under "sw"): the sweep (``run``), whether it runs, and the settings
    it was made for."""

    spec: SweepSpec | None = None  # None: make a new sweep (Reset)


def _load_settings(state: SweepState) -> None:
    """Fill the widgets once: from the link on the first visit, else from the sweep the session kept."""
    s = st.session_state
    if KEY + "over" in s:
        return
    spec, warnings = (state.spec, []) if state.spec is not None else read_spec(st.query_params.to_dict())
    s.update({KEY + name: list(v) if isinstance(v, tuple) else v for name, v in settings_of(spec).items()})
    state.warnings = warnings


def _spec(state: SweepState) -> SweepSpec | list[str]:
    """The sidebar; the sweep it describes, or why it cannot run (also shown next to the settings)."""
    sb, s = st.sidebar, st.session_state
    sb.header("Sweep")
    sb.radio("Sweep over", list(OVER), format_func=OVER.get, key=KEY + "over")
    own_data.dataset_picker(KEY, state, DATASETS)
    points = own_data.uploaded(KEY) if s[KEY + "dataset"] == CSV else None
    defaults = default_settings(s[KEY + "dataset"]) | {"sizes": sizes_for(s[KEY + "dataset"], points)}
    for name, value in defaults.items():  # Streamlit forgets a widget not drawn (the other kind of sweep's)
        if KEY + name not in s:
            s[KEY + name] = list(value) if isinstance(value, tuple) else value
    sizes = defaults["sizes"]
    if not set(s[KEY + "sizes"]) <= set(sizes):  # another dataset's sizes: this one's
        s[KEY + "sizes"] = list(sizes)
    if s[KEY + "over"] == "rate":
        sb.radio("Mode", list(MODES), format_func=MODES.get, key=KEY + "mode",
                 help="n·k fixed: a layer at drop rate q has n/k units, so n·k units are kept on average.")
        sb.multiselect("Drop rates", DEFAULT_RATES, key=KEY + "rates")
    else:
        sb.multiselect("Training-set sizes", sizes, key=KEY + "sizes")
        sb.slider("Hidden drop rate with dropout", 0.0, 0.9, step=0.05, key=KEY + "p")
        sb.slider("Input drop rate with dropout", 0.0, 0.9, step=0.05, key=KEY + "input_p")
    sb.multiselect("Variants", SWEEP_VARIANTS, key=KEY + "variants", format_func=NAMES.get,
                   help="A curve each, on the same seeds and data: every variant whose noise is per unit or per "
                        "weight, and the schedules.")
    sb.header("Models")
    sb.select_slider("Hidden width n (two layers)", WIDTHS, key=KEY + "hidden")
    sb.number_input("Epochs", 1, settings.SWEEP_PAGE_MAX_EPOCHS, key=KEY + "epochs",
                    help="Size sweeps count them at the largest size: every size gets as many steps.")
    sb.number_input("Seeds per point", 1, settings.SWEEP_PAGE_MAX_SEEDS, key=KEY + "seeds")
    spec = spec_of({name: s[KEY + name] for name in defaults}, points)
    problems = [str(p) for p in spec.problems()]
    for problem in problems:
        sb.error(problem)
    return problems or spec


def _sweep(state: SweepState, spec: SweepSpec) -> SharedSweep:
    """The session's sweep for this spec: kept while the settings stay, new (and paused) when they change. Tabs
    opened on one link show one untrained sweep; Run joins the sweep of these settings other tabs run
    (``explorer.sweep.live``)."""
    if state.run is None or state.spec != spec:  # None: an upload dropped it
        controls.replace_run(state, SharedSweep(Sweep(spec, own_data.page_data(KEY, spec.base),
                                                      settings.SWEEP_PAGE_EVALUATIONS, keep_weights=True)))
        state.spec, state.running = spec, False
    return state.run


def _title(spec: SweepSpec) -> str:
    if spec.over == "size":
        return "Validation error vs training-set size"
    return "Error vs drop rate" + (", width fixed" if spec.mode == "fixed-width" else ", n·k fixed")


def _draw(sweep: SharedSweep, running: bool) -> None:
    result = sweep.results()
    spec = sweep.spec
    phase = controls.phase(page_state("sw", SweepState), result["done"], running)
    st.progress(result["progress"], text=f"{spec.models()} models ({spec.seeds} seeds per point) · "
                                         f"{result['progress']:.0%} of their steps · {result['seconds']:.0f} s · {phase}"
                                         f"{controls.shared_note(sweep, running)}")
    live_chart(sweep_figure(result["points"], spec.over, _title(spec),
                            xs=spec.rates if spec.over == "rate" else spec.sizes, names=NAMES), KEY + "fig")
    if len(spec.variants) > 1:
        st.caption("A colour per variant: solid its validation error, dotted its training error. Click a variant in "
                   "the legend to hide it." if spec.over == "rate" else
                   "A colour per variant (its validation error); dashed grey: the same networks without dropout.")
    if spec.mode == "fixed-kept" and spec.over == "rate":
        n = spec.base.hidden[0]
        capped = [q for q in spec.rates if round(n / (1 - q)) > settings.MAX_WIDTH]
        if capped:
            st.caption(f"At q = {', '.join(f'{q:g}' for q in capped)} the n/k units exceed this instance's "
                       f"{settings.MAX_WIDTH}-unit limit: those points have {settings.MAX_WIDTH} units, "
                       "so fewer than n·k are kept.")


def _reset(state: SweepState) -> None:
    state.spec = None


def sweep_page() -> None:
    st.title("Sweeps")
    steady_display()
    present.explain(
        "The dropout paper's two classic experiments, re-run here in seconds: many networks, one per setting and "
        "seed, train in batched groups, one group after another: a group's points appear early in its training and "
        "settle as they learn, then the next group's come in. Each point is the mean over its seeds, the band ± one "
        "standard deviation."
    )
    state = page_state("sw", SweepState)
    _load_settings(state)
    for warning in state.warnings:
        st.warning(f"Link parameter not used: {warning}")
    spec = _spec(state)
    if isinstance(spec, list):
        st.info("The sweep cannot run as the sidebar's settings are: " + " ".join(spec))
        return
    st.query_params.from_dict(spec_to_params(spec))
    sweep = _sweep(state, spec)
    top = st.columns([1, 1, 4], vertical_alignment="center")
    controls.play_button(state, sweep.done, top[0], "Run")
    top[1].button("Reset", on_click=_reset, args=(state,), width="stretch", shortcut=controls.SHORTCUTS["reset"],
                  help="New models from the seeds. Key: X.")
    top[2].caption(FOUND[spec.over])
    if spec.base.dataset == CSV:
        st.caption(own_data.link_note(spec.base, "mnist"))
    controls.live(state, state.running and not sweep.done, _draw, settings.SWEEP_FRAME_INTERVAL)
    _exports(sweep)


def _exports(shared: SharedSweep) -> None:
    """The sweep's results, its file and its finished models' weights, built when pressed (the sweep goes on
    running)."""
    row = st.container(horizontal=True)
    row.download_button("Results CSV", data=lambda: results_csv(shared.results()), file_name="sweep-results.csv",
                        mime="text/csv", on_click="ignore", icon=":material/download:",
                        help="One row per model (every seed of every point) at its latest epoch.")
    points = own_data.points_of(KEY, shared.spec.base)
    row.download_button("Sweep JSON", data=lambda: sweep_json(shared.spec, points), file_name="sweep.json",
                        mime="application/json", on_click="ignore", icon=":material/download:",
                        help="Replays this sweep to the same numbers: python -m explorer sweep --config FILE.")
    problem = shared.weights_problem(settings.WEIGHTS_MAX_BYTES)
    row.download_button("Weights", data=lambda: shared.weights(settings.WEIGHTS_MAX_BYTES), file_name="sweep-weights.pt",
                        mime="application/octet-stream", on_click="ignore", icon=":material/download:",
                        disabled=problem is not None,
                        help=f"Not now: {problem}." if problem else "Every finished model's state_dict by name "
                             "('standard q=0.5 seed 0'): torch.load(FILE, weights_only=True); each loads into its MLP.")
    if (points_button := own_data.points_button(shared.sweep.data)) is not None:
        points_button(row)


ensure_router()
sweep_page()
