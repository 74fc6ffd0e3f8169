"""A lesson's run, headless: the page's link parameters in, the numbers the page shows out.

Each page (or part of a page) a lesson can open has a ``Runner``: ``parse``
reads the lesson's link as the page does and refuses what the page would not
use (a lesson must show the students exactly what its claim was checked on);
``run`` trains it to the end with a given seed and returns flat metrics, such
as ``dropout.val_acc`` and ``no_dropout.val_acc`` (a run and its twin).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from explorer import settings
from explorer.core.analysis import Analysis, load_analysis
from explorer.core.datasets import TOY_DATASETS
from explorer.core.experiment import Experiment, build, check, defaults_for, from_params, make_data
from explorer.inside.state import Inspector
from explorer.lab.link import pop_lane_params, read_lane_link
from explorer.lab.state import Lab, lab_defaults, lane, linked_lanes
from explorer.sweep.link import spec_from_params
from explorer.sweep.state import run_sweep
from explorer.uncertainty.regression import analysis as regression
from explorer.uncertainty.regression.state import RegressionLive

Metrics = dict[str, float]
RUN_KEYS = ("dropout", "no_dropout")  # a run and its no-dropout twin, as the co-adaptation analysis names them


@dataclass(frozen=True)
class Runner:
    page: str
    part: str  # "" on a page of one part
    parse: Callable[[dict[str, str]], Any]  # the link's parameters → the run's settings; ValueError for any not used
    run: Callable[[Any, int], Metrics]  # settings, seed → metrics


def _experiment(params: Mapping[str, str], base: Experiment, extra: Callable[[Experiment], list] = lambda e: []
                ) -> Experiment:
    exp, warnings = from_params(params, base)
    problems = [str(p) for p in (*check(exp), *extra(exp))]
    if warnings or problems:
        raise ValueError((warnings + problems)[0])
    return exp


def _final(history: list[dict[str, float]]) -> Metrics:
    last = history[-1]
    return {"train_acc": last["train_acc"], "val_acc": last["val_acc"], "train_loss": last["train_loss"],
            "val_loss": last["val_loss"], "best_val_loss": min(r["val_loss"] for r in history),
            "gap": last["train_acc"] - last["val_acc"]}


@functools.lru_cache(maxsize=32)
def _trained(exp: Experiment) -> tuple[tuple[str, float], ...]:
    """One network's final numbers; kept, as lessons share runs (one lesson's twin is the run of the one before)."""
    trainer = build(exp)
    trainer.run()
    return tuple(_final(trainer.history).items())


def _twins(exp: Experiment, seed: int) -> Metrics:
    """The run and its twin (same data, weights and batches, no dropout), as the Playground and Inside pages train."""
    exp = replace(exp, seed=seed)
    return {f"{key}.{name}": value for key, e in zip(RUN_KEYS, (exp, exp.without_dropout()))
            for name, value in _trained(e)}


def _inside(exp: Experiment, seed: int) -> Metrics:
    """The Inside page's pair, trained as the page trains it, and its activation numbers (first hidden layer,
    inference mode, as Srivastava et al. Fig. 8): ``dropout.mean_activation``, ``no_dropout.near_zero``…"""
    exp = replace(exp, seed=seed)
    inspector = Inspector(exp, make_data(exp))
    while not inspector.done:
        inspector.advance()
    metrics: Metrics = {}
    stats = inspector.layer_stats()
    for key, (name, trainer) in zip(RUN_KEYS, inspector.named_trainers().items()):
        metrics |= {f"{key}.{k}": v for k, v in _final(trainer.history).items()}
        metrics |= {f"{key}.mean_activation": stats[name]["mean"], f"{key}.near_zero": stats[name]["near_zero"]}
    return metrics


def _twin_page(base: Experiment, images: bool) -> Callable[[dict[str, str]], Experiment]:
    """The parse of the Playground (2-D toy data) or the Inside page (the embedded digits)."""
    def parse(link: dict[str, str]) -> Experiment:
        params = dict(link)
        compare = params.pop("compare", "1")
        if compare not in ("0", "1"):
            raise ValueError(f"compare: expected 0 or 1, got {compare!r}")
        dataset = params.get("dataset", base.dataset)
        if images and dataset != "mnist":
            raise ValueError(f"dataset: the Inside page trains on the embedded MNIST subset (mnist), not {dataset}")
        if not images and dataset not in TOY_DATASETS:
            raise ValueError(f"dataset: the Playground trains on 2-D toy data ({', '.join(TOY_DATASETS)}), "
                             f"not {dataset}")
        return _experiment(params, base)
    return parse


def _flat(value: Any, prefix: str = "") -> Metrics:
    """An analysis's numbers as flat metrics; rows of a table keyed by ``k`` become ``name.k<k>.column``."""
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return {prefix[:-1]: float(value)} if math.isfinite(value) else {}
    if isinstance(value, Mapping):
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{prefix}{key}.").items()}
    if isinstance(value, list) and value and all(isinstance(r, Mapping) and "k" in r for r in value):
        return {k: v for row in value for k, v in _flat({c: x for c, x in row.items() if c != "k"},
                                                        f"{prefix}k{row['k']}.").items()}
    return {}


def _analysis(key: str) -> tuple[Callable[[dict[str, str]], Experiment], Callable[[Experiment, int], Metrics]]:
    """The parse and run of a page whose numbers an ``analyze --what key`` analysis computes."""
    def module() -> Analysis:
        return load_analysis(key)

    def parse(link: dict[str, str]) -> Experiment:
        params = {k: v for k, v in link.items() if k != "part"}
        base = module().analysis_defaults(params.get("dataset"))
        return _experiment(params, base, module().analysis_problems)

    def run(exp: Experiment, seed: int) -> Metrics:
        numbers = module().analyze(replace(exp, seed=seed))
        return {k: v for k, v in _flat(numbers).items() if k != "seconds"}
    return parse, run


def _lab_parse(link: dict[str, str]) -> list[Experiment]:
    params = dict(link)
    text = params.pop("variants", "standard,gaussian")
    own = pop_lane_params(params)
    base = _experiment(params, lab_defaults(params.get("dataset", "xor")))
    keys, unknown = linked_lanes(text, base.model)
    if unknown:
        raise ValueError(f"variants: {', '.join(unknown)} cannot run in the lab's {base.model}")
    values, problems = read_lane_link(own, keys, base.model)
    if problems:
        raise ValueError("; ".join(problems))
    lanes = [lane(base, key, **values.get(key, {})) for key in keys]
    Lab.check(lanes)
    return lanes


def _lab_run(lanes: list[Experiment], seed: int) -> Metrics:
    lanes = [replace(e, seed=seed) for e in lanes]
    lab = Lab(lanes, make_data(lanes[0]))
    lab.advance()
    return {f"{e.variant}.{name}": value for e, t in zip(lanes, lab.trainers)
            for name, value in _final(t.history).items()}


def _sweep_run(spec: Any, seed: int) -> Metrics:
    """Per point: ``q0.5.val_error`` (a rate sweep) or ``n500.dropout.val_error`` (a size sweep), means over the
    sweep's seeds; and a rate sweep's best point, ``best.val_error`` at ``best.q``."""
    result = run_sweep(replace(spec, base=replace(spec.base, seed=seed)))
    metrics: Metrics = {}
    for point in result["points"]:
        name = f"q{point['x']:g}" if spec.over == "rate" else f"n{point['x']:g}.{RUN_KEYS[not point['dropout']]}"
        for column in ("train_error", "val_error", "train_loss", "val_loss"):
            metrics[f"{name}.{column}"] = point[f"{column}_mean"]
    if spec.over == "rate":
        best = min(result["points"], key=lambda p: p["val_error_mean"])
        metrics |= {"best.val_error": best["val_error_mean"], "best.q": best["x"]}
    return metrics


def _regression_parse(link: dict[str, str]) -> regression.RegressionConfig:
    params = {k: v for k, v in link.items() if k != "part"}
    cfg, warnings = regression.from_params(params)
    problems = [str(p) for p in cfg.problems()]
    if warnings or problems:
        raise ValueError((warnings + problems)[0])
    return cfg


def _regression_run(cfg: regression.RegressionConfig, seed: int) -> Metrics:
    """The fitted curve's MC spread as the page measures it (``std.gap``, ``std.data``, ``std.beyond``) and the
    errors at the end."""
    live = RegressionLive(replace(cfg, seed=seed))
    live.advance()
    live.frame(settings.UNC_DEFAULT_SAMPLES)
    last = live.run.history[-1]
    return {**{f"std.{k}": v for k, v in live.numbers.items()}, "train_mse": last["train_mse"], "val_mse": last["val_mse"]}


_coadaptation, _averaging, _mc = _analysis("coadaptation"), _analysis("averaging"), _analysis("mc")
RUNNERS = {(r.page, r.part): r for r in (
    Runner("playground", "", _twin_page(Experiment(), images=False), _twins),
    Runner("inside", "", _twin_page(defaults_for("mnist"), images=True), _inside),
    Runner("lab", "", _lab_parse, _lab_run),
    Runner("sweep", "", spec_from_params, _sweep_run),
    Runner("coadaptation", "", *_coadaptation),
    Runner("uncertainty", "regression", _regression_parse, _regression_run),
    Runner("uncertainty", "digits", *_mc),
    Runner("theory", "averaging", *_averaging),
)}
