"""The Theory page's "Dropout vs weight decay vs early stopping" part: widgets → ``explorer.theory.regularisers``.

The same network, data, initial weights and batch order train without
regularisation, with dropout and with weight decay; early stopping is the first
run stopped at its best validation loss.
"""

from __future__ import annotations

import streamlit as st

from explorer import settings
from explorer.core.datasets import TOY_DATASETS
from explorer.core.experiment import CSV, IDX_DATASETS, Experiment, to_params
from explorer.core.live_runs import CURVES
from explorer.core.mnist import SUBSET_SIZE
from explorer.theory.regularisers.state import DEFAULT_DATASET, Comparison, comparison_defaults
from pages.ui import controls, export, form, own_data, present
from pages.ui.live import live_chart
from pages.ui.state import LiveState, page_state

KEY = "rg_"  # prefix of this part's widget keys
DATASETS = (*TOY_DATASETS, "mnist")
DECAYS = (1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)
RATES = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.05, 0.1)
# The link holds what the sidebar shows (label_noise: toy sets only); the MNIST sets read from files have no place.
REFUSALS = {
    **form.refuse_all_but({"dataset", "train_size", "label_noise", "p", "input_p", "weight_decay", "hidden",
                           "activation", "lr", "epochs", "seed"}, "it has no control for this setting"),
    "dataset": lambda v: v in IDX_DATASETS and f"{v} is read from files",
}


def _make(exp: Experiment, compare: bool = False) -> Comparison:
    return Comparison(exp, own_data.page_data(KEY, exp))


def _state() -> LiveState[Comparison]:
    """This session's comparison part: its runs, whether they train, the link's warnings."""
    return page_state("rg", LiveState[Comparison])


def _load_settings(link: dict[str, str], run: Comparison | None) -> None:
    """The widgets' state when they have none: the link's dataset (first visit) brings its defaults, as the
    dataset picker does; else the link's settings over the session's run or the defaults."""
    state, params = _state(), dict(link)
    named = params.get("dataset", "").strip()
    chosen = named if named in DATASETS else None
    warnings = form.load_settings(KEY, comparison_defaults(chosen), params, REFUSALS,
                                  "the comparison trains on toy data or the embedded MNIST subset",
                                  None if chosen or not run else run.exp)
    form.show_link_warnings(state, warnings)


def _link(exp: Experiment) -> dict[str, str]:
    """What differs from the defaults of the experiment's dataset (which a link's dataset brings), and the dataset."""
    named = {"dataset": exp.dataset} if exp.dataset not in (DEFAULT_DATASET, CSV) else {}  # uploads: not in links
    return named | to_params(exp, comparison_defaults(exp.dataset))


def _controls(link: dict[str, str]) -> Experiment:
    s, sb = st.session_state, st.sidebar
    run = _state().run
    _load_settings(link, run)
    sb.header("The overfitting problem")
    own_data.dataset_picker(KEY, _state(), DATASETS, comparison_defaults)  # a dataset brings its own defaults
    mnist = s[KEY + "dataset"] == "mnist"
    sb.number_input("Training examples", 4, SUBSET_SIZE - s[KEY + "val_size"] if mnist else settings.MAX_TRAIN_SIZE,
                    step=50, key=KEY + "train_size", help="Few examples and a big network: the recipe for overfitting.")
    if not mnist:
        sb.slider("Flipped training labels", 0.0, 0.5, step=0.01, key=KEY + "label_noise",
                  help="Label noise the unregularised network learns by heart; validation labels stay clean.")
    sb.header("The regularisers")
    sb.slider("Dropout: hidden drop rate q", 0.0, settings.MAX_RATE, step=0.05, key=KEY + "p")
    sb.slider("Dropout: input drop rate", 0.0, settings.MAX_RATE, step=0.05, key=KEY + "input_p")
    sb.select_slider("Weight decay λ", sorted({*DECAYS, s[KEY + "weight_decay"]}), key=KEY + "weight_decay",
                     help="The L2 term λ·w the optimiser adds to every gradient (torch's weight_decay).")
    sb.header("Network and training")
    form.network_widgets(KEY, "Comma-separated widths, shared by the three runs.")
    sb.select_slider("Learning rate", sorted({*RATES, s[KEY + "lr"]}), key=KEY + "lr")
    sb.number_input("Epochs", 1, settings.MAX_EPOCHS, step=10, key=KEY + "epochs")
    sb.number_input("Seed", 0, settings.MAX_SEED, step=1, key=KEY + "seed",
                    help="Fixes the data, the initial weights (the same for the three runs) and the batch order.")
    return form.read_experiment(KEY, run.exp if run else comparison_defaults(s[KEY + "dataset"]))


def _percent(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _table(comparison: Comparison) -> None:
    rows = [{"run": r["run"], "val loss (last epoch)": r["final_val_loss"], "val acc (last epoch)": _percent(r["final_val_acc"]),
             "best val loss": r["best_val_loss"], "at epoch": r["best_epoch"], "best val acc": _percent(r["best_val_acc"])}
            for r in comparison.table()]
    number = st.column_config.NumberColumn
    st.dataframe(rows, hide_index=True, width="stretch", placeholder="–", column_config={
        "val loss (last epoch)": number(format="%.3f"), "val acc (last epoch)": number(format="%.1f%%"),
        "best val loss": number(format="%.3f"), "best val acc": number(format="%.1f%%"),
        "at epoch": number(format="%d", help="Early stopping's row: the epoch it stops at (lowest validation loss)")})


def _draw(comparison: Comparison, running: bool) -> None:
    st.caption(controls.status(_state(), comparison, running) + " · 3 runs")
    live_chart(comparison.frame()[CURVES], KEY + "fig_" + CURVES, settings.CURVES_SECONDS if running else 0.0)
    st.caption("Solid: training; dashed: validation (whole sets, dropout off). The star and dotted line: early "
               "stopping, the unregularised run's epoch of lowest validation loss; it is the same run, stopped there.")
    _table(comparison)
    st.caption("Reading guide: without regularisation the training loss falls to zero while the validation loss "
               "turns up once the network learns the flipped labels by heart. Dropout and weight decay keep the "
               "validation loss lower at the end; early stopping keeps the best epoch, at the price of a "
               "validation set to choose it.")


def regularisers_section(link: dict[str, str]) -> dict[str, str]:
    """Draw the part; its settings as link parameters."""
    present.explain("One network, one training set, the same initial weights and batches: trained **without "
                "regularisation**, with **dropout**, and with **weight decay**. **Early stopping** needs no run "
                "of its own: it is the first run, stopped at its best validation epoch.")
    exp = _controls(link)
    state = _state()
    comparison = controls.current_run(state, exp, False, _make)
    running, aside = controls.toolbar(state, comparison, _make)
    aside.caption("Changing a setting starts the three runs afresh." +
                  (" " + own_data.link_note(exp, DEFAULT_DATASET) if exp.dataset == CSV else ""))
    controls.live(state, running, _draw, settings.REGULARISERS_FRAME_INTERVAL)
    export.export_row(state, comparison, "Theory: dropout vs weight decay vs early stopping", "theory-regularisers", KEY)
    return _link(exp)
