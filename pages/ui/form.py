"""The sidebar form of the live pages: a link's parameters in, widgets, an ``Experiment`` out.

Each page keeps its widgets' values in ``st.session_state`` under its own
prefix, one key per ``Experiment`` field (the rest of its state is a
``pages.ui.state`` dataclass). On the page's first run in a session they come
from the link (``st.query_params``); when the person comes back to the page
they come from the run the session kept. The widgets for the fields
every page shares are drawn here, so both pages offer the same controls.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable, Mapping, Sequence

import streamlit as st

from explorer import settings
from explorer.dropout import VARIANTS, variants_for
from explorer.dropout.params import Param
from explorer.core.experiment import PARAMS, Experiment, check, format_field, from_params, parse_field
from explorer.core.model import ACTIVATIONS
from explorer.core.training import OPTIMIZERS
from pages.ui import own_data
from pages.ui.state import LiveState

LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.05, 0.1, 0.3, 1.0)
BATCH_SIZES = (1, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1)
MAX_NORMS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)

Refusal = Callable[[str], str]  # a link value → why this page does not use it ("" = it does)

_IN_THE_LAB = "it is set on the Variants lab page"
# What the pages that draw unit masks (Playground, Inside) refuse: variants they cannot draw, and their parameters.
UNIT_PAGE_REFUSALS: dict[str, Refusal] = {
    "variant": lambda v: v not in variants_for("mlp", unit_masks=True) and f"{v} is compared on the Variants lab page",
    **{name: lambda v: _IN_THE_LAB for name in ("conv_variant", "inference", *PARAMS)},
}


def refuse_all_but(controls: set[str], why: str) -> dict[str, Refusal]:
    """The refusals of a part that shows only ``controls``: every other field, so a link holds only what is on
    screen (no setting applied out of sight)."""
    return {f.name: lambda v: why for f in fields(Experiment) if f.name not in controls}


def whole_param(params: dict[str, str], name: str, lo: int, hi: int, default: int) -> tuple[int, list[str]]:
    """A whole-number link parameter that is not an Experiment field (T passes, a digit), popped from ``params``:
    its value, else ``default`` with a warning naming it."""
    text = params.pop(name, None)
    if text is None:
        return default, []
    try:
        value = int(text.strip())
    except ValueError:
        return default, [f"{name}: expected a whole number, got {text!r}; using {default}"]
    if not lo <= value <= hi:
        return default, [f"{name}: must be between {lo} and {hi}, got {value}; using {default}"]
    return value, []


def changed_param(name: str, value: int, default: int) -> dict[str, str]:
    """The link parameter of a whole-number setting read by ``whole_param``; none at its default (a short link)."""
    return {} if value == default else {name: str(value)}


def show_link_warnings(state: LiveState, warnings: list[str] | None) -> None:
    """Show the link's warnings on every rerun: those of the run that loaded the settings (``warnings``), kept."""
    if warnings is not None:
        state.warnings = warnings
    for warning in state.warnings:
        st.warning(f"Link parameter not used: {warning}")


def load_settings(prefix: str, default: Experiment, params: dict[str, str], refusals: Mapping[str, Refusal],
                  page: str, restore: Experiment | None) -> list[str] | None:
    """Fill the widgets' state once: the link's parameters over ``restore`` (the session's run) or ``default``.

    ``refusals`` name the link parameters this page cannot use and why; each
    refused one falls back with a warning that starts with
    ``page`` ("the Playground trains on 2-D toy data"). Returns the warnings
    on the run that loads, None when the widgets already hold their state.
    """
    if prefix + "p" in st.session_state:
        return None
    base, warnings = restore or default, []
    for key, refusal in refusals.items():
        if key in params and (why := refusal(params[key].strip())):
            shown = format_field(getattr(base, key)) or "none"
            warnings.append(f"{key}: {page}; {why}; using {shown}")
            del params[key]
    exp, more = from_params(params, base)
    for f in fields(exp):
        value = getattr(exp, f.name)
        st.session_state[prefix + f.name] = format_field(value) if f.name == "hidden" else value
    return warnings + more


def read_experiment(prefix: str, fallback: Experiment) -> Experiment:
    """The experiment the widgets describe.

    Bad layer widths are reported and ``fallback``'s kept; values that break a
    rule between fields (``experiment.check``, e.g. more digits than the subset
    holds) or ask for more points than an upload holds are reported and
    ``fallback`` is used whole, so the run goes on.
    """
    s = st.session_state
    values = {f.name: s.get(prefix + f.name, getattr(fallback, f.name)) for f in fields(Experiment)}
    try:
        values["hidden"] = parse_field("hidden", values["hidden"])
    except ValueError as err:
        st.sidebar.error(f"Hidden layer widths: {err}")
        values["hidden"] = fallback.hidden
    exp = Experiment(**values)
    problems: list[Any] = check(exp)
    if too_few := own_data.size_problem(exp, own_data.uploaded(prefix)):  # uploaded points: the sizes they hold
        problems.append(too_few)
    for problem in problems:
        st.sidebar.error(f"Not applied: {problem}")
    return fallback if problems else exp


def options_with(value: float, options: tuple) -> list:
    """The options of a stepped slider, plus a value from a shared link that is not among them."""
    return sorted(set(options) | {value})


def dropout_widgets(prefix: str, variants: list[str], hidden_label: str = "Hidden drop rate q") -> None:
    sb = st.sidebar
    sb.header("Dropout")
    sb.selectbox("Variant", variants, key=prefix + "variant", format_func=lambda k: VARIANTS[k].name)
    sb.slider(hidden_label, 0.0, settings.MAX_RATE, step=0.05, key=prefix + "p",
              help="Probability that a unit is dropped at a training step. Changes apply at the next step.")
    sb.slider("Input drop rate", 0.0, settings.MAX_RATE, step=0.05, key=prefix + "input_p")


def initial(key: str, value: Any) -> Any:
    """A widget's starting value, or None where its key already holds one (a link's, or the widget's own), so
    that Streamlit does not warn of a value set twice."""
    return None if key in st.session_state else value


def param_widget(param: Param, key: str, choices: Sequence[str] | None = None,
                 format_func: Callable[[Any], str] = str) -> Any:
    """The control a variant's own parameter declares, at its declared default and within its range
    (``choices``: fewer options than it declares, those that apply here)."""
    about = param.help[0].upper() + param.help[1:] + "."
    if param.choices:
        options = list(choices or param.options())
        if param.widget == "radio":
            return st.radio(param.label, options, horizontal=True, key=key, help=about, format_func=format_func)
        return st.selectbox(param.label, options, key=key, help=about, format_func=format_func)
    if param.odd:
        return st.select_slider(param.label, param.options(), initial(key, param.default), key=key, help=about)
    if param.widget == "number":
        return st.number_input(param.label, param.lo, param.hi, initial(key, param.default), key=key, help=about)
    return st.slider(param.label, param.lo, param.hi, initial(key, param.default), param.step, key=key, help=about)


def network_widgets(prefix: str, widths_help: str) -> None:
    sb = st.sidebar
    sb.text_input("Hidden layer widths", key=prefix + "hidden", help=widths_help)
    sb.selectbox("Activation", list(ACTIVATIONS), key=prefix + "activation")


def training_widgets(prefix: str) -> None:
    s, sb = st.session_state, st.sidebar
    sb.header("Training")
    sb.selectbox("Optimiser", list(OPTIMIZERS), key=prefix + "optimizer",
                 format_func=lambda o: {"adam": "Adam", "sgd": "SGD + momentum 0.9"}[o])
    sb.select_slider("Learning rate", options_with(s[prefix + "lr"], LEARNING_RATES), key=prefix + "lr")
    sb.select_slider("Batch size", options_with(s[prefix + "batch_size"], BATCH_SIZES), key=prefix + "batch_size")
    sb.select_slider("Weight decay (L2)", options_with(s[prefix + "weight_decay"], WEIGHT_DECAYS),
                     key=prefix + "weight_decay")
    sb.select_slider("Max-norm c (0 = off)", options_with(s[prefix + "max_norm"], MAX_NORMS), key=prefix + "max_norm",
                     help="After each step, each hidden unit's incoming weight vector is rescaled to norm ≤ c.")
    sb.number_input("Epochs", 1, settings.MAX_EPOCHS, step=10, key=prefix + "epochs")
    sb.number_input("Seed", 0, settings.MAX_SEED, step=1, key=prefix + "seed",
                    help="Fixes the data, the initial weights, the batch order and the masks.")
