"""The dropout paper's sweeps, re-run: error vs drop rate (Fig. 9) and vs training-set size (Fig. 10).

Every point of a sweep is several seeds of one setting, and every model of a
sweep trains in a batched stack (``explorer.core.batched``) with the others it can
share one with: the same width and the same training set, up to
``settings.SWEEP_STACK_MAX_WEIGHTS`` weights a stack. The stacks train one after
another: a stack is built when its turn comes and released when it is done (its
histories stay), so a sweep holds one stack's weights, gradients and Adam
moments at a time, whatever its size, and its points appear a stack at a time.
A model's initial weights, batches and masks come from its seed, whatever its
stack: each is the ``Trainer`` run of its settings. A sweep advances in bounded
slices (a live page draws between them) and reports plain data at any moment:
each model's latest epoch.

- ``variants``: the dropout variants or schedules compared, a curve each (every
  one whose noise is per unit or per weight: ``SWEEP_VARIANTS``).
- ``over="rate"``: hidden drop rate q over ``rates``, input dropout off. Mode
  ``fixed-width`` keeps the base widths n; ``fixed-kept`` uses n/k units (capped
  at ``settings.MAX_WIDTH``) so that n·k units are kept on average, as the
  paper's second panel.
- ``over="size"``: training sets of ``sizes`` examples (the first n of one
  shuffled training set, so every size shares the validation set), each with
  every variant (the base experiment's rates) and once without dropout. Every size trains
  for the same number of steps, ``epochs`` counted at the largest size, so a
  small set is not undertrained: the comparison is of data, not of updates.
  A small set's many short epochs are evaluated about as often as the largest
  set's (every ``epochs / base.epochs`` epochs, and the last): evaluating 1,100
  examples after every two steps would cost more than the training.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Sequence

import torch

from explorer import settings
from explorer.core.batched import StackedMLP, StackedTrainer
from explorer.core.datasets import Dataset
from explorer.core.experiment import Experiment, Problem, check, defaults_for, make_data
from explorer.core.model import MLPConfig
from explorer.core.shared_runs import locked
from explorer.dropout import VARIANTS
from explorer.dropout.schedules import SCHEDULES
from explorer.sweep.saved import SavedModels

OVER = ("rate", "size")
# What a sweep can compare: every variant of the MLP but multisample (its masks share one output layer, which a
# stack cannot batch), and the schedules.
SWEEP_VARIANTS = (*(k for k, v in VARIANTS.items() if "mlp" in v.models and v.placement != "head"), *SCHEDULES)
MODES = ("fixed-width", "fixed-kept")
DEFAULT_RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
DEFAULT_SIZES = {"mnist": (100, 250, 500, 1000, 2000, 4000), "toy": (20, 50, 100, 200, 500, 1000)}


def default_base() -> Experiment:
    """The MNIST subset, 784-256-256-10, the reference run's optimiser, 10 epochs."""
    return sweep_defaults("mnist")


def sweep_defaults(dataset: str) -> Experiment:
    """A sweep's base run: MNIST sets 784-256-256-10 for 10 epochs, toy sets their defaults for 100 epochs."""
    base = defaults_for(dataset)
    return replace(base, hidden=(256, 256), epochs=10) if base.is_mnist else replace(base, epochs=100)


def default_sizes(dataset: str) -> tuple[int, ...]:
    return DEFAULT_SIZES["mnist" if defaults_for(dataset).is_mnist else "toy"]


@dataclass(frozen=True)
class SweepSpec:
    over: str = "rate"
    mode: str = "fixed-width"
    rates: tuple[float, ...] = DEFAULT_RATES
    sizes: tuple[int, ...] = DEFAULT_SIZES["mnist"]
    seeds: int = 3
    base: Experiment = field(default_factory=default_base)
    variants: tuple[str, ...] = ("standard",)

    def models(self) -> int:
        """A rate sweep trains every rate of every variant (q = 0 once); a size sweep every size with each variant
        and once without dropout (one baseline the variants share)."""
        if self.over == "rate":  # q = 0 once: without dropout every variant is the same network
            return (len(self.variants) * len(self.rates) - (len(self.variants) - 1) * (0.0 in self.rates)) * self.seeds
        return (len(self.variants) + 1) * len(self.sizes) * self.seeds

    def hidden_at(self, q: float) -> tuple[int, ...]:
        """The hidden widths of a rate sweep's point at drop rate ``q``: the base's, or n/k units (fixed-kept)."""
        return self.base.hidden if self.mode == "fixed-width" else kept_widths(self.base.hidden, q)

    def problems(self) -> list[Problem]:
        """What keeps the sweep from running, one ``Problem`` each ([] = it can run)."""
        b, found = self.base, list(check(self.base))
        if self.over not in OVER:
            found.append(Problem(("over",), f"--over must be rate or size, got {self.over!r}"))
        if self.mode not in MODES:
            found.append(Problem(("mode",), f"--mode must be fixed-width or fixed-kept, got {self.mode!r}"))
        if b.model != "mlp" or b.layer_variant != "standard" or b.variant != "standard":
            found.append(Problem(("variant", "model"), "sweeps train MLPs (--model mlp) and choose their dropout with "
                                                       "--variants, not --variant"))
        wrong = [v for v in self.variants if v not in SWEEP_VARIANTS]
        if wrong or not self.variants or len(set(self.variants)) < len(self.variants):
            found.append(Problem(("variants",), f"--variants: each once, of {', '.join(SWEEP_VARIANTS)}"
                                 + (f"; not {', '.join(wrong)}" if wrong else "")))
        else:
            found += [p for v in self.variants for p in check(replace(b, variant=v)) if p not in found]
        if b.inference != "standard":
            found.append(Problem(("inference",), "sweeps evaluate the inference network (--inference standard)"))
        if not 1 <= self.seeds <= settings.MAX_SWEEP_SEEDS:
            found.append(Problem(("seeds",), f"--seeds must be between 1 and {settings.MAX_SWEEP_SEEDS}, got {self.seeds}"))
        if self.over == "rate" and not self.rates:
            found.append(Problem(("rates",), "--rates needs at least one rate"))
        if self.over == "size":
            if not self.sizes:
                found.append(Problem(("sizes",), "--sizes needs at least one size"))
            elif max(self.sizes) > b.train_size or min(self.sizes) < 1:
                found.append(Problem(("sizes", "train_size"), f"--sizes must be between 1 and the training set's "
                                     f"{b.train_size} examples (--train-size), got "
                                     f"{max(self.sizes) if min(self.sizes) >= 1 else min(self.sizes)}"))
        if self.models() > settings.MAX_SWEEP_MODELS:
            found.append(Problem(("seeds", "rates", "sizes"), f"a sweep trains at most {settings.MAX_SWEEP_MODELS} "
                                 f"models on this instance, this one {self.models()}: fewer seeds or points"))
        return found

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["base"] = self.base.to_dict()
        return d


@dataclass
class Group:
    """One stack: for each model, its point on the x axis, seed, widths, whether it drops and its variant; its
    trainer while it trains (built by ``make`` at its first step, dropped when done), and the steps it takes in all."""

    make: Callable[[], StackedTrainer]
    steps: int
    xs: list[float]
    seeds: list[int]
    dropout: list[bool]
    widths: list[tuple[int, ...]]
    variants: list[str]
    trainer: StackedTrainer | None = None
    histories: list[list[dict[str, float]]] = field(default_factory=list)
    step: int = 0

    @property
    def done(self) -> bool:
        return self.step >= self.steps

    def run(self, max_steps: int | None) -> None:
        if self.trainer is None:
            self.trainer = self.make()
            self.histories = self.trainer.histories
        self.trainer.run(max_steps=max_steps)
        self.step = self.trainer.step


class Sweep:
    """The models of a spec, in stacks trained one after another, and their results.

    ``evaluations``: how many times a model is evaluated on the training and validation sets while it trains, its
    last epoch's always among them (None: every epoch). Only the last epoch's numbers are results; a live page
    evaluates a few times so that its points move as the models learn, a headless run once, at the end (on the
    MNIST subset's 10-epoch sweeps, every epoch's evaluation was a sixth of the time). Training is the same.
    """

    def __init__(self, spec: SweepSpec, data: Dataset | None = None, evaluations: int | None = None,
                 keep_weights: bool = False) -> None:
        problems = spec.problems()
        if problems:
            raise ValueError(problems[0])
        if evaluations is not None and evaluations < 1:
            raise ValueError(f"a sweep evaluates its models at least once, got {evaluations=}")
        self.spec, self.evaluations = spec, evaluations
        self.saved = SavedModels() if keep_weights else None  # the finished models' weights, for ``weights``
        self.data = data if data is not None else make_data(spec.base)
        self.groups = self._rate_groups() if spec.over == "rate" else self._size_groups()
        self.seconds = 0.0
        self.lock = threading.RLock()  # a page's fragment and a rerun may reach the same sweep at once

    def _stacks(self, points: list[list[Experiment]], train: torch.Tensor | None, eval_every: int = 1, *,
                xs: list[float], dropout: list[bool]) -> list[Group]:
        """The models of ``points`` (one width; ``xs`` and ``dropout`` per point), trained on the examples
        ``train`` indexes (None: all), in stacks of at most settings.SWEEP_STACK_MAX_WEIGHTS weights: a point stays
        in one stack unless it alone is larger."""
        def size(exp: Experiment) -> int:
            return weights_of(exp.model_config(self.data.n_features, self.data.n_classes))

        models = [(e, x, d) for point, x, d in zip(points, xs, dropout) for e in point]
        chunks = pack([[size(e) for e in point] for point in points], settings.SWEEP_STACK_MAX_WEIGHTS)
        return [self._stack([models[i] for i in chunk], train, eval_every) for chunk in chunks]

    def _stack(self, models: list[tuple[Experiment, float, bool]], train: torch.Tensor | None,
               eval_every: int) -> Group:
        exps = [e for e, _, _ in models]
        base, full = exps[0], self.data

        if self.evaluations is not None:
            eval_every = max(eval_every, math.ceil(base.epochs / self.evaluations))

        def make() -> StackedTrainer:  # a size's examples are copied when its stack trains, not all sizes' at once
            data = full if train is None else replace(full, x_train=full.x_train[train], y_train=full.y_train[train])
            cfgs = [e.model_config(data.n_features, data.n_classes) for e in exps]
            return StackedTrainer(StackedMLP(cfgs), data, base.train_config(), [e.seed for e in exps],
                                  eval_every=eval_every, schedules=[e.schedule() for e in exps])

        n = len(full.y_train) if train is None else len(train)
        return Group(make, base.epochs * -(-n // base.batch_size), xs=[x for _, x, _ in models],
                     seeds=[e.seed for e in exps], dropout=[d for _, _, d in models], widths=[e.hidden for e in exps],
                     variants=[e.variant for e in exps])

    def _rate_groups(self) -> list[Group]:
        """Every rate of every variant, but q = 0 once: without dropout every variant is the same network (the
        first variant's models stand for all; ``results`` shows them in every curve)."""
        s, b = self.spec, self.spec.base
        groups = []
        for variants in self._alike():
            points = [(v, q) for v in variants for q in s.rates if q > 0 or v == s.variants[0]]
            for widths in dict.fromkeys(s.hidden_at(q) for _, q in points):
                here = [(v, q) for v, q in points if s.hidden_at(q) == widths]
                groups += self._stacks([[replace(b, variant=v, p=q, input_p=0.0, hidden=widths, seed=b.seed + i)
                                         for i in range(s.seeds)] for v, q in here],
                                       None, xs=[q for _, q in here], dropout=[q > 0 for _, q in here])
        return groups

    def _alike(self) -> list[list[str]]:
        """The sweep's variants in groups that put their noise in one place (a stack runs one place); the first
        group is that of units, where the no-dropout baseline of a size sweep joins it."""
        places: dict[str, list[str]] = {"units": []}
        for v in self.spec.variants:
            places.setdefault(VARIANTS[replace(self.spec.base, variant=v).layer_variant].placement, []).append(v)
        return list(places.values())  # units first, even if empty

    def _size_groups(self) -> list[Group]:
        s, b = self.spec, self.spec.base
        order = torch.randperm(len(self.data.y_train), generator=torch.Generator().manual_seed(b.seed))
        steps = b.epochs * math.ceil(max(s.sizes) / b.batch_size)
        groups = []
        for n in s.sizes:
            epochs = min(math.ceil(steps / math.ceil(n / b.batch_size)), settings.MAX_EPOCHS)
            run = replace(b, epochs=epochs)
            for place, variants in enumerate(self._alike()):
                points = [[replace(run, variant=v, seed=b.seed + i) for i in range(s.seeds)] for v in variants]
                if place == 0:  # the baseline (no dropout), beside the variants on units
                    points.append([replace(run, p=0.0, input_p=0.0, seed=b.seed + i) for i in range(s.seeds)])
                dropout = [True] * len(variants) + [False] * (place == 0)
                groups += self._stacks(points, order[:n], math.ceil(epochs / b.epochs), xs=[float(n)] * len(points),
                                       dropout=dropout)
        return groups

    def __getstate__(self) -> dict[str, Any]:
        """What a copy takes (``copy.deepcopy``: a tab's own copy of a shared sweep): all but the lock."""
        return {name: value for name, value in self.__dict__.items() if name != "lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.lock = threading.RLock()

    # --- progress ------------------------------------------------------------
    @property
    def done(self) -> bool:
        return all(g.done for g in self.groups)

    @property
    def step(self) -> int:
        """Steps taken, every stack's (0: untouched)."""
        return sum(g.step for g in self.groups)

    @property
    def progress(self) -> float:
        return sum(g.step for g in self.groups) / sum(g.steps for g in self.groups)

    @locked
    def shed(self) -> None:
        """Drop the training stack's gradients (the next step makes them anew)."""
        for g in self.groups:
            if g.trainer is not None:
                g.trainer.shed()

    @locked
    def advance(self, max_seconds: float | None = None) -> bool:
        """Train the stacks in order for about ``max_seconds`` (all of it if None); True when done.

        Bounded, the clock is read after every step: one step of every stack of the page's widest sweep took
        ~6 s on a class's server (issue #13), a compute slot that thirty others wait for."""
        start = time.perf_counter()
        while not self.done:
            group = next(g for g in self.groups if not g.done)
            group.run(max_steps=None if max_seconds is None else 1)
            if group.done:
                self._finish(group)
            if max_seconds is not None and time.perf_counter() - start >= max_seconds:
                break
        self.seconds += time.perf_counter() - start
        return self.done

    def _finish(self, group: Group) -> None:
        """A stack is done: its models' weights to disk if kept, then its weights, gradients and moments go (its
        histories stay)."""
        if self.saved is not None:
            stack = group.trainer.model
            self.saved.add({self.model_name(group, k): stack.member(k).state_dict() for k in range(len(stack))})
        group.trainer = None

    def model_name(self, group: Group, k: int) -> str:
        """Model k of a stack as a weights file names it: ``standard q=0.5 seed 0``, ``no dropout n=500 seed 1``."""
        what = group.variants[k] if group.dropout[k] else "no dropout"
        where = f"q={group.xs[k]:g}" if self.spec.over == "rate" else f"n={group.xs[k]:g}"
        return f"{what} {where} seed {group.seeds[k]}"

    def weights_problem(self, limit: int | None = None) -> str | None:
        """Why ``weights`` cannot be had now, or None: the sweep keeps none, none has finished, or they take more
        than ``limit`` bytes."""
        if self.saved is None:
            return "this sweep does not keep its models' weights"
        if not self.saved.files:
            return "no model of the sweep has finished yet"
        if limit is not None and self.saved.nbytes > limit:
            return (f"the sweep's weights take {self.saved.nbytes / 1e6:.0f} MB, more than the {limit / 1e6:g} MB a "
                    "page sends; python -m explorer sweep --config FILE --save-weights OUT writes them")
        return None

    @locked
    def weights(self, limit: int | None = None) -> bytes:
        """Every finished model's ``state_dict`` by name (``model_name``), as one torch file; ``ValueError`` with
        ``weights_problem``'s sentence if it cannot be had."""
        problem = self.weights_problem(limit)
        if problem is not None:
            raise ValueError(problem)
        return self.saved.bundle()

    # --- results ---------------------------------------------------------------
    @locked
    def results(self) -> dict[str, Any]:
        """Per point (variant, x, width, dropout): every seed's latest epoch, and mean and std of the errors across
        seeds; the variants in the spec's order (a rate sweep's q = 0, trained once, in each variant's curve; a size
        sweep's baseline, without dropout, is variant ``none``)."""
        points: dict[tuple[str, float, bool, tuple[int, ...]], list[dict[str, float]]] = {}
        undropped = self.spec.variants if self.spec.over == "rate" else ("none",)  # where a no-dropout model shows
        for g in self.groups:
            for k, history in enumerate(g.histories):
                if history:
                    last = history[-1]
                    row = {"seed": g.seeds[k], "epoch": last["epoch"], "train_error": 1 - last["train_acc"],
                           "val_error": 1 - last["val_acc"], "train_loss": last["train_loss"], "val_loss": last["val_loss"]}
                    for variant in (g.variants[k],) if g.dropout[k] else undropped:
                        points.setdefault((variant, g.xs[k], g.dropout[k], g.widths[k]), []).append(row)
        order = {v: i for i, v in enumerate((*self.spec.variants, "none"))}
        out = []
        for (variant, x, dropout, widths), runs in sorted(points.items(),
                                                          key=lambda kv: (kv[0][1], not kv[0][2], order[kv[0][0]])):
            summary = {"x": x, "hidden": list(widths), "dropout": dropout, "variant": variant, "seeds": runs}
            for metric in ("train_error", "val_error", "train_loss", "val_loss"):
                values = [r[metric] for r in runs]
                summary[f"{metric}_mean"] = statistics.fmean(values)
                summary[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
            out.append(summary)
        return {"spec": self.spec.to_dict(), "points": out, "progress": self.progress, "done": self.done,
                "seconds": self.seconds}


def kept_widths(widths: tuple[int, ...], q: float) -> tuple[int, ...]:
    """n/k units per layer, so n·k are kept on average; capped at the instance's widest layer."""
    return tuple(min(settings.MAX_WIDTH, round(n / (1.0 - q))) for n in widths)


def weights_of(cfg: MLPConfig) -> int:
    """Weights and biases of one MLP (what a stack holds for it, four times over with its gradients and Adam's
    two moments)."""
    sizes = (cfg.n_in, *cfg.hidden, cfg.n_out)
    return sum((a + 1) * z for a, z in zip(sizes, sizes[1:]))


def pack(points: Sequence[Sequence[int]], cap: int) -> list[list[int]]:
    """Consecutive models (their sizes, point by point) in chunks of at most ``cap`` (indices into the models, in
    order): a point that does not fit beside others starts a chunk; one larger than ``cap`` alone is split."""
    chunks: list[list[int]] = [[]]
    held, i = 0, 0
    for point in points:
        if chunks[-1] and held + sum(point) > cap:
            chunks.append([])
            held = 0
        for size in point:
            if chunks[-1] and held + size > cap:
                chunks.append([])
                held = 0
            chunks[-1].append(i)
            held, i = held + size, i + 1
    return [c for c in chunks if c]


def run_sweep(spec: SweepSpec, data: Dataset | None = None) -> dict[str, Any]:
    sweep = Sweep(spec, data, evaluations=1)
    sweep.advance()
    return sweep.results()
