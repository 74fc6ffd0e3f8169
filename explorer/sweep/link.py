"""The Sweeps page's link: a sweep's settings as URL parameters and back, with the page's own limits.

The page offers the paper's rates and a few sizes and widths, so a link holds
only those; a bad value is reported and its default used, as on the other
pages. ``spec_from_params`` is strict (a lesson's settings must be exactly
what its claim was checked on); ``read_spec`` warns and goes on (a shared link
with a typo still opens).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping

from explorer import settings
from explorer.core import parsing
from explorer.core.datasets import TOY_DATASETS
from explorer.core.experiment import CSV
from explorer.core.points import Points
from explorer.sweep.state import DEFAULT_RATES, MODES, OVER, SWEEP_VARIANTS, SweepSpec, default_sizes, sweep_defaults

DATASETS = ("mnist", *TOY_DATASETS)
WIDTHS = (32, 64, 128, 256, 512)
PAGE_RATES = tuple(q / 20 for q in range(19))  # the input and (size sweeps) hidden rates of the page's sliders


def _subset(options: tuple, parse: Callable[[str], Any], noun: str) -> Callable[[str], tuple]:
    def read(text: str) -> tuple:
        values = tuple(sorted({parse(t) for t in text.split(",") if t.strip()}))
        if not values:
            raise ValueError(f"expected at least one of {', '.join(map(str, options))}")
        wrong = [v for v in values if v not in options]
        if wrong:
            raise ValueError(f"{noun} {', '.join(f'{v:g}' for v in wrong)} not offered; choose from "
                             f"{', '.join(f'{v:g}' for v in options)}")
        return values
    return read


def _one_of(options: tuple, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def read(text: str) -> Any:
        value = parse(text)
        if value not in options:
            raise ValueError(f"expected one of {', '.join(f'{v:g}' for v in options)}, got {text}")
        return value
    return read


def _variants(text: str) -> tuple[str, ...]:
    """A list of variants a sweep can compare, in the order given, each once."""
    asked = list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    wrong = [v for v in asked if v not in SWEEP_VARIANTS]
    if wrong or not asked:
        raise ValueError(f"expected some of {', '.join(SWEEP_VARIANTS)}"
                         + (f"; not {', '.join(wrong)}" if wrong else ""))
    return tuple(asked)


def _number(text: str) -> float:
    return round(parsing.number(0.0, 0.9)(text), 6)


def _parsers(dataset: str) -> dict[str, Callable[[str], Any]]:
    return {
        "over": parsing.choice(OVER), "mode": parsing.choice(MODES),
        "rates": _subset(DEFAULT_RATES, _number, "rate"),
        "sizes": _subset(default_sizes(dataset), parsing.whole(1, 100_000), "size"),
        "hidden": _one_of(WIDTHS, parsing.whole(1, settings.MAX_WIDTH)),
        "epochs": parsing.whole(1, settings.SWEEP_PAGE_MAX_EPOCHS),
        "seeds": parsing.whole(1, settings.SWEEP_PAGE_MAX_SEEDS),
        "p": _one_of(PAGE_RATES, _number), "input_p": _one_of(PAGE_RATES, _number),
        "variants": _variants,
    }


def default_settings(dataset: str) -> dict[str, Any]:
    """The page's settings on a fresh visit of ``dataset``: the keys a link and ``spec_of`` use."""
    base = sweep_defaults(dataset)
    return {"over": "rate", "dataset": dataset, "mode": "fixed-width", "rates": DEFAULT_RATES,
            "sizes": default_sizes(dataset), "hidden": base.hidden[0], "epochs": base.epochs, "seeds": 3,
            "p": base.p, "input_p": base.input_p, "variants": ("standard",)}


def spec_of(values: Mapping[str, Any], points: Points | None = None) -> SweepSpec:
    """The sweep of the page's settings (the keys of ``_defaults``); a rate sweep ignores p and input_p (it sets
    the hidden rate per point, input dropout off), a size sweep the rates and the mode. Dataset ``csv``: the
    uploaded ``points``, split as the other pages split them."""
    base = replace(sweep_defaults(values["dataset"]), hidden=(int(values["hidden"]),) * 2, epochs=int(values["epochs"]))
    if values["dataset"] == CSV and points is not None:
        train_size, val_size = points.default_split()
        base = replace(base, data_file=points.name, train_size=train_size, val_size=val_size)
    rate = values["over"] == "rate"
    sizes = tuple(sorted(values["sizes"]))
    if not rate:
        base = replace(base, p=values["p"], input_p=values["input_p"], train_size=max(sizes, default=base.train_size))
    return SweepSpec(over=values["over"], mode=values["mode"] if rate else "fixed-width",
                     rates=tuple(sorted(values["rates"])) if rate else DEFAULT_RATES,
                     sizes=default_sizes(values["dataset"]) if rate else sizes, seeds=int(values["seeds"]), base=base,
                     variants=tuple(values["variants"]))


def read_spec(params: Mapping[str, str]) -> tuple[SweepSpec, list[str]]:
    """The sweep a link describes, and a warning for each parameter not used (its default used instead)."""
    params = dict(params)
    warnings: list[str] = []
    dataset = params.pop("dataset", "mnist").strip()
    if dataset not in DATASETS:
        warnings.append(f"dataset: expected one of {', '.join(DATASETS)}, got {dataset!r}; using mnist")
        dataset = "mnist"
    values = default_settings(dataset)
    parsers = _parsers(dataset)
    for key, text in params.items():
        if key not in parsers:
            warnings.append(f"{key}: not a setting of the Sweeps page")
            continue
        try:
            values[key] = parsers[key](text.strip())
        except ValueError as err:
            warnings.append(f"{key}: {err}; using {_text(values[key])}")
    if values["over"] == "rate" and ("p" in params or "input_p" in params):
        warnings.append("p, input_p: a rate sweep sets the hidden rate per point; they belong to size sweeps")
    return spec_of(values), warnings


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def spec_from_params(params: Mapping[str, str]) -> SweepSpec:
    """``read_spec``, strict: ``ValueError`` for the first parameter it would not use."""
    spec, warnings = read_spec(params)
    problems = warnings + [str(p) for p in spec.problems()]
    if problems:
        raise ValueError(problems[0])
    return spec


def sizes_for(dataset: str, points: Points | None = None) -> tuple[int, ...]:
    """The training-set sizes the page offers: the dataset's, or those an uploaded file's training part holds."""
    sizes = default_sizes(dataset)
    if dataset == CSV and points is not None:
        most = points.default_split()[0]
        sizes = tuple(n for n in sizes if n < most) + (most,)
    return sizes


def settings_of(spec: SweepSpec) -> dict[str, Any]:
    """The inverse of ``spec_of``: the page's settings of a sweep."""
    b = spec.base
    return {"over": spec.over, "dataset": b.dataset, "mode": spec.mode, "rates": spec.rates, "sizes": spec.sizes,
            "hidden": b.hidden[0], "epochs": b.epochs, "seeds": spec.seeds, "p": b.p, "input_p": b.input_p,
            "variants": spec.variants}


def spec_to_params(spec: SweepSpec) -> dict[str, str]:
    """The link of a sweep: the settings it uses that differ from the dataset's defaults (a short link)."""
    unused = ("p", "input_p") if spec.over == "rate" else ("mode", "rates")
    default = default_settings(spec.base.dataset) | {"dataset": "mnist"}
    unused += ("dataset", "sizes") if spec.base.dataset == CSV else ()  # uploaded data is not in links
    return {key: _text(value) for key, value in settings_of(spec).items() if key not in unused and value != default[key]}
