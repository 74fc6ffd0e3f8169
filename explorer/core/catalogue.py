"""Every dropout variant, schedule and inference mode as plain data: for ``variants --json`` and the pages.

One entry per key a run can be given (``select``: ``--variant KEY``, ``--conv-variant KEY``
for the CNN's conv maps, or ``--inference mc``),
with its rules in LaTeX, a short explanation, the reference, the models it
applies to and its own parameters: their command-line flags and defaults.
"""

from __future__ import annotations

from typing import Any

from explorer.dropout import VARIANTS
from explorer.dropout.params import Param
from explorer.dropout.schedules import SCHEDULES
from explorer.core.experiment import flag, format_field
from explorer.core.mc import MC


def _params(params: tuple[Param, ...]) -> list[dict[str, str]]:
    return [{"name": p.name, "flag": flag(p.name), "description": p.help, "default": format_field(p.default)}
            for p in params]


def catalogue() -> list[dict[str, Any]]:
    """Layer variants in registry order, then the schedules, then MC inference."""
    entries = [
        {"key": v.key, "kind": "variant", "name": v.name,
         "select": f"--model cnn --conv-variant {v.key}" if v.placement == "maps" else f"--variant {v.key}",
         "train_rule": v.train_rule, "infer_rule": v.infer_rule,
         "explanation": v.explanation, "reference": v.reference, "models": list(v.models),
         "placement": v.placement, "params": _params(v.params)}
        for v in VARIANTS.values()
    ]
    entries += [
        {"key": s.key, "kind": "schedule", "name": s.name, "select": f"--variant {s.key}", "train_rule": s.rule,
         "infer_rule": r"\text{that of the base variant}", "explanation": s.explanation, "reference": s.reference,
         "models": ["mlp", "cnn"], "placement": "schedule", "params": _params(s.params)}
        for s in SCHEDULES.values()
    ]
    entries.append(
        {"key": MC.key, "kind": "inference", "name": MC.name, "select": "--inference mc",
         "train_rule": r"\text{that of the variant}",
         "infer_rule": MC.rule, "explanation": MC.explanation, "reference": MC.reference, "models": ["mlp", "cnn"],
         "placement": "inference", "params": _params(MC.params)}
    )
    return entries
