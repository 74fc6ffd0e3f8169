"""Results out, weights in, runs pinned: the row under a live page's curves.

Downloads are built when pressed (``st.download_button`` with a function, run
on a thread of its own), not on every frame, and do not rerun the page
(``on_click="ignore"``): a run keeps training while its curves are saved.
The files are those of ``explorer.core.export`` and ``explorer.core.weights``;
the README's "Data in, results out" describes them.
"""

from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from explorer import settings
from explorer.core.export import Exportable, config_json, history_csv
from explorer.core.live_runs import LiveRuns
from explorer.core.weights import Choose, WeightsError, load_weights, weights_bytes
from pages.ui import controls, own_data
from pages.ui.state import LiveState


def export_row(state: LiveState, run: Exportable, page: str, stem: str, prefix: str,
               pins: controls.Make | None = None) -> None:
    """Pin buttons (``pins``: the page's maker of runs, for Reset all), the downloads, and loading weights, in one
    row under the charts.

    ``stem`` starts each file's name; ``prefix`` is the page's widget prefix, under which an upload keeps its
    points (an experiment file on them carries them, and 2-D data gets a Points CSV button)."""
    points = own_data.points_of(prefix, next(iter(run.records().values())).start)  # a page's runs share their data
    extra = own_data.points_button(run.data)
    row = st.container(horizontal=True, vertical_alignment="center")
    if pins is not None:
        _pin_buttons(state, run, pins, row)
    row.download_button("Curves CSV", data=lambda: history_csv(run.histories()), file_name=f"{stem}-curves.csv",
                        mime="text/csv", on_click="ignore", icon=":material/download:",
                        help="One row per epoch of every network on the page, with the command line's columns.")
    row.download_button("Experiment JSON", data=lambda: config_json(page, run.records(), points),
                        file_name=f"{stem}-experiment.json", mime="application/json", on_click="ignore",
                        icon=":material/download:",
                        help="Replays this run, number for number: python -m explorer train --config FILE.")
    names = list(run.networks())
    what = (f"The {names[0]} network's state_dict" if len(names) == 1 else
            f"Every network's state_dict by name ({', '.join(names)})")
    row.download_button("Weights", data=lambda: _weights(run), file_name=f"{stem}-weights.pt",
                        mime="application/octet-stream", on_click="ignore", icon=":material/download:",
                        help=f"{what}: torch.load(FILE, weights_only=True).")
    if extra is not None:
        extra(row)
    _load_button(state, stem, row)


def _load_button(state: LiveState, stem: str, row: Any) -> None:
    """Load weights (a popover in ``row``), and what the last load did; a file of several networks (a sweep's)
    into a page of one offers those with its layers to pick from."""
    key = f"{stem}_weights"
    with row.popover("Load weights", icon=":material/upload:"):
        st.file_uploader("A weights file of this network (.pt)", type=["pt", "pth"], key=key,
                         on_change=_load, args=(state, key),
                         help="Saved by Weights on this page with the same layers, or a sweep's models (pick "
                              "one); training goes on from them with a fresh optimiser.")
        if state.choices:
            st.selectbox("Network from the file", state.choices, key=f"{stem}_pick")
            st.button("Load this network", on_click=_load, args=(state, key, f"{stem}_pick"))
    if state.notice:
        show = st.error if state.notice.startswith("Not loaded") else st.info if state.choices else st.success
        show(state.notice)


def curves_row(state: LiveState, stem: str, experiment: Callable[[], str] | None = None) -> None:
    """Curves and weights of a part whose run is not an ``Experiment`` (the 1-D regression, dropout as L2): its
    one network (``run.run``, with ``history`` and ``model``); ``experiment``'s file, which ``train --config``
    replays; and Load weights where the run takes them (``networks()``: the regression's network, not the
    ridge problem's linear model, whose averaged iterates a file cannot restore)."""
    run = state.run
    row = st.container(horizontal=True, vertical_alignment="center")
    row.download_button("Curves CSV", data=lambda: _locked(run, lambda: history_csv({"dropout": list(run.run.history)})),
                        file_name=f"{stem}-curves.csv", mime="text/csv", on_click="ignore", icon=":material/download:",
                        help="One row per epoch, with the columns of the curves on this page.")
    if experiment is not None:
        row.download_button("Experiment JSON", data=experiment, file_name=f"{stem}-experiment.json",
                            mime="application/json", on_click="ignore", icon=":material/download:",
                            help="Replays this run, number for number: python -m explorer train --config FILE.")
    row.download_button("Weights", data=lambda: _locked(run, lambda: weights_bytes({"dropout": run.run.model})),
                        file_name=f"{stem}-weights.pt", mime="application/octet-stream", on_click="ignore",
                        icon=":material/download:", help="The network's state_dict: torch.load(FILE, weights_only=True).")
    if hasattr(run, "networks"):
        _load_button(state, stem, row)


def _locked(run: Any, build: Callable[[], Any]) -> Any:
    with run.lock:
        return build()


def _weights(run: Exportable) -> bytes:
    return _locked(run, lambda: weights_bytes({name: trainer.model for name, trainer in run.networks().items()}))


def _load(state: LiveState, key: str, pick_key: str | None = None) -> None:
    """The uploaded file ``key`` into the page's networks (the network picked under ``pick_key`` of a file of
    several)."""
    file, pick = st.session_state.get(key), st.session_state.get(pick_key) if pick_key else None
    state.choices = []
    if file is None or state.run is None:
        return
    run = state.run
    run.own()  # a run shared with other tabs: this tab's copy takes the weights
    try:
        with run.lock:
            networks = run.networks()
            load_weights(networks, file.getvalue(), file.name, pick)
            run.note_loaded(file.name if pick is None else f"{file.name} ({pick})")
    except Choose as err:
        state.choices, state.notice = err.names, f"{err}, under Load weights."
        return
    except WeightsError as err:
        state.notice = f"Not loaded: {err}"
        return
    into = f"the {next(iter(networks))} network" if len(networks) == 1 else f"its {len(networks)} networks"
    what = file.name if pick is None else f"{pick} from {file.name}"
    state.notice = f"Loaded {what} into {into} at step {next(iter(networks.values())).step}."


def _pin_buttons(state: LiveState, run: LiveRuns, make: controls.Make, row: Any) -> None:
    """Pin this run (its curves stay on the chart, labelled with its settings), and Reset all (the run and the
    pins)."""
    full = len(state.pins) >= settings.MAX_PINS
    row.button("Pin this run", on_click=_pin, args=(state,), icon=":material/push_pin:", disabled=not run.run.history,
               help=f"Keep its curves on the chart (dashed and dotted, with its settings) to compare the next run "
                    f"with; up to {settings.MAX_PINS}." + (" Full: the oldest pin makes room." if full else ""))
    row.button("Reset all", on_click=_reset_all, args=(state, make), help="A new run from the seed, and no pins.")


def _pin(state: LiveState) -> None:
    state.pins.append(state.run.pin())
    del state.pins[:-settings.MAX_PINS]


def _reset_all(state: LiveState, make: controls.Make) -> None:
    state.pins.clear()
    controls.reset(state, make)
