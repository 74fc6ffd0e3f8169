"""The Variants lab's per-lane link (explorer.lab.link): every lane's own settings round-trip, bad ones are named."""

from __future__ import annotations

from dataclasses import replace

import pytest

from explorer.core.experiment import CHOICES, Experiment
from explorer.lab.link import choices, fresh_lane, lane_fields, lane_key, lane_link, read_lane_link
from explorer.lab.state import lane, lane_options

SHARED = replace(Experiment(), p=0.3, input_p=0.1)
CNN = replace(Experiment(), dataset="mnist", model="cnn", conv_p=0.2)


def _changed(key: str, shared: Experiment) -> Experiment:
    """A lane of ``key`` with every field it sets moved off its fresh value."""
    fresh, changes = fresh_lane(shared, key), {"inference": "mc", "mc_samples": 7}
    for name in lane_fields(key):
        param = next((p for p in CHOICES[key].params if p.name == name), None)
        if name in ("p", "input_p", "conv_p"):
            changes[name] = 0.45
        elif param is not None and param.choices:
            changes[name] = next(c for c in (choices(param, shared.model) or param.choices) if c != param.default)
        elif param is not None:
            changes[name] = param.lo if param.default != param.lo else param.hi
    assert all(getattr(fresh, n) != v for n, v in changes.items())
    return lane(shared, key, **changes)


@pytest.mark.parametrize("shared", [SHARED, CNN], ids=["mlp", "cnn"])
def test_every_lane_fresh_says_nothing_and_changed_round_trips(shared):
    keys = lane_options(shared.model)
    assert lane_link(shared, [fresh_lane(shared, k) for k in keys]) == {}
    for key in keys:
        changed = _changed(key, shared)
        params = lane_link(shared, [changed])
        assert set(params) == {f"{key}.{n}" for n in lane_fields(key)}
        values, warnings = read_lane_link(params, [key], shared.model)
        assert warnings == []
        assert lane(shared, key, **values[key]) == changed, key


def test_a_lane_on_conv_maps_sets_conv_p_and_has_no_input_rate():
    assert lane_fields("dropblock")[0] == "conv_p" and "input_p" not in lane_fields("dropblock")
    assert lane_key(lane(CNN, "dropblock")) == "dropblock" and lane_key(lane(CNN, "gaussian")) == "gaussian"


def test_mc_passes_only_with_mc_on():
    standard = lane(SHARED, "standard", mc_samples=9)
    assert lane_link(SHARED, [standard]) == {}
    assert lane_link(SHARED, [replace(standard, inference="mc")]) == {"standard.inference": "mc",
                                                                      "standard.mc_samples": "9"}


@pytest.mark.parametrize("name, text, message", [
    ("gaussian.p", "0.99", "gaussian.p: must be between 0 and 0.95"),
    ("gaussian.p", "half", "gaussian.p: expected a number"),
    ("early.base_variant", "concrete", "early.base_variant:"),
    ("early.schedule_cutoff", "-1", "early.schedule_cutoff:"),
    ("standard.inference", "bayes", "standard.inference:"),
    ("standard.mc_samples", "0", "standard.mc_samples:"),
    ("standard.beta", "1", "standard.beta: a standard lane sets p, input_p, inference, mc_samples"),
    ("nosuch.p", "0.2", "nosuch.p: no nosuch lane among variants=standard,gaussian,early"),
])
def test_a_bad_lane_setting_is_named_and_left_out(name, text, message):
    values, [warning] = read_lane_link({name: text, "gaussian.input_p": "0.25"}, ["standard", "gaussian", "early"],
                                       "mlp")
    assert warning.startswith(message) and values == {"gaussian": {"input_p": 0.25}}
