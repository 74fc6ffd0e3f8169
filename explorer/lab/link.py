"""The Variants lab's link, lane by lane: what sets each lane apart, as ``lane.field=value``.

A lab's link names its lanes (``variants=standard,gaussian``) and the settings
they share, the rates every lane starts from among them. A lane that differs
from a fresh one of its kind adds its own: ``gaussian.p=0.3``,
``early.schedule_cutoff=10``, ``standard.inference=mc&standard.mc_samples=20``.
The fields are the ``Experiment``'s, so a link reads like the command line. A
bad one is reported and the fresh lane's value used, as on the other pages.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

from explorer import settings
from explorer.core import parsing
from explorer.core.experiment import CHOICES, Experiment, format_field
from explorer.core.mc import MC
from explorer.dropout import VARIANTS
from explorer.dropout.params import Param
from explorer.lab.state import lane, lane_options

MC_FIELDS = tuple(q.name for q in MC.params)


def lane_key(exp: Experiment) -> str:
    """What a lane runs: its variant or schedule, or on the CNN its conv maps' variant when not spatial."""
    return exp.conv_variant if exp.model == "cnn" and exp.conv_variant != "spatial" else exp.variant


def on_maps(key: str) -> bool:
    """Whether the lane drops a CNN's feature maps (its rate is ``conv_p``) rather than units (``p``)."""
    return key in VARIANTS and VARIANTS[key].placement == "maps"


def lane_fields(key: str) -> tuple[str, ...]:
    """The fields a lane of ``key`` sets itself: its rates, its variant's or schedule's parameters, and
    MC inference with its passes."""
    rates = ("conv_p",) if on_maps(key) else ("p", "input_p")
    return (*rates, *(p.name for p in CHOICES[key].params), "inference", *MC_FIELDS)


def choices(param: Param, model: str) -> tuple[str, ...] | None:
    """The options a lane offers for a choice parameter, where fewer than it declares: a schedule's base variant
    is one it can switch here (per unit, not conv maps, not concrete, which learns its own rate)."""
    if param.name != "base_variant":
        return None
    return tuple(k for k in lane_options(model) if k in VARIANTS and not on_maps(k) and k != "concrete")


def fresh_lane(shared: Experiment, key: str) -> Experiment:
    """A lane as the lab first shows it: the shared rates, its parameters at their defaults, no MC."""
    own = {p.name: p.default for p in (*CHOICES[key].params, *MC.params)}
    return lane(replace(shared, inference=Experiment.inference, **own), key)


def lane_link(shared: Experiment, lanes: Sequence[Experiment]) -> dict[str, str]:
    """The ``lane.field`` parameters of ``lanes``: each field that differs from a fresh lane's (MC's passes only
    with MC on)."""
    params = {}
    for exp in lanes:
        key, fresh = lane_key(exp), fresh_lane(shared, lane_key(exp))
        for name in lane_fields(key):
            if name in MC_FIELDS and exp.inference != MC.key:
                continue
            if getattr(exp, name) != getattr(fresh, name):
                params[f"{key}.{name}"] = format_field(getattr(exp, name))
    return params


def _parser(key: str, name: str, model: str):
    if name in ("p", "input_p", "conv_p"):
        return parsing.number(0.0, settings.MAX_RATE)
    if name == "inference":
        return parsing.choice((Experiment.inference, MC.key))
    param = next(p for p in (*CHOICES[key].params, *MC.params) if p.name == name)
    return parsing.choice(offered) if (offered := choices(param, model)) else param.parse


def pop_lane_params(params: dict[str, str]) -> dict[str, str]:
    """Take a link's ``lane.field`` parameters out of ``params`` (the rest are the lanes' shared settings)."""
    return {name: params.pop(name) for name in list(params) if "." in name}


def read_lane_link(params: Mapping[str, str], keys: Sequence[str], model: str
                   ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The ``lane.field`` parameters of a link, for the lanes ``keys``: each lane's values by field, and a
    warning for each one not used (no such lane or field, or a bad value)."""
    values: dict[str, dict[str, Any]] = {}
    warnings = []
    for name, text in params.items():
        key, _, field = name.partition(".")
        if key not in keys:
            warnings.append(f"{name}: no {key} lane among variants={','.join(keys)}")
        elif field not in lane_fields(key):
            warnings.append(f"{name}: a {key} lane sets {', '.join(lane_fields(key))}")
        else:
            try:
                values.setdefault(key, {})[field] = _parser(key, field, model)(text.strip())
            except ValueError as err:
                warnings.append(f"{name}: {err}; using the lane's default")
    return values, warnings
