"""MC dropout on MNIST digits: averaging sampled thinned networks vs weight scaling, and a digit rotated away.

Two questions a trained dropout network answers here, for the Uncertainty page
and ``python -m explorer analyze --what mc``:

- How many sampled thinned networks must be averaged to be as good as the one
  weight-scaled (inference) network? Srivastava et al. (2014), Fig. 11: about
  50 on MNIST. ``averaging_analysis`` runs 100 stochastic passes once and reads
  the error of the mean of the first k off them for every k, averaged over
  random orderings of the passes: one ordering gives a jagged curve that
  depends on which masks happened to come first.
- What does the network say about a digit it has never seen the like of? A
  digit rotated step by step leaves the training distribution; the predictive
  entropy of T passes and its epistemic part, the mutual information, grow
  (Gal & Ghahramani 2016).

Every stochastic pass samples masks from a generator of its own
(``mc.sampling``): looking never changes the masks training draws.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer import settings
from explorer.uncertainty.digits import figures as figures_mc_digits
from explorer.inside import analysis as inside
from explorer.core.datasets import Dataset
from explorer.dropout import variants_for
from explorer.dropout.schedules import SCHEDULES
from explorer.core.experiment import Experiment, Problem, check, defaults_for, make_data
from explorer.core.figures import Figure
from explorer.core.live_runs import LiveRuns, locked
from explorer.core.mc import mc_probabilities, predictive_summary
from explorer.core.mnist import IMAGE_SIDE, MNIST_DATASETS

DEFAULT_DIGIT = 3  # upright it is sure of it; turned past 45° its passes disagree: the uncertainty shows
MILESTONES = (1, 10, 50, 100)  # the k the page prints the MC error at


# --- MC averaging vs weight scaling (Fig. 11) -----------------------------------------

@torch.no_grad()
def inference_probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class probabilities of the inference network (weight scaling, or inverted dropout's identity), (N, classes).

    The model is left in the mode it was found in: a live run keeps training.
    """
    was_training = model.training
    model.eval()
    try:
        return model(x).softmax(-1)
    finally:
        model.train(was_training)


def weight_scaling_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((inference_probabilities(model, x).argmax(1) != y).double().mean())


def mc_error_curve(probs: torch.Tensor, y: torch.Tensor, orderings: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Error of the mean of the first k passes, k = 1 … T, averaged over ``orderings`` random orders of the passes.

    ``probs`` is (T, N, classes) from ``mc.mc_probabilities``. Returns ``k``,
    ``error`` (the mean over orderings) and ``std`` (their standard deviation,
    0 at k = T, where every ordering averages the same passes).
    """
    passes = len(probs)
    counts = torch.arange(1, passes + 1, dtype=probs.dtype).view(-1, 1, 1)
    order = torch.Generator().manual_seed(seed)
    errors = []
    for _ in range(orderings):
        running_mean = probs[torch.randperm(passes, generator=order)].cumsum(0) / counts
        errors.append((running_mean.argmax(-1) != y).double().mean(1))
    stacked = torch.stack(errors).numpy()
    return {"k": np.arange(1, passes + 1), "error": stacked.mean(0), "std": stacked.std(0)}


def k_matching(error: np.ndarray, target: float, tolerance: float) -> int | None:
    """The first k from which the MC error stays within ``tolerance`` of ``target`` (or below) up to k = T.

    "Stays": an early dip that the curve climbs out of again is no match. None
    if the error at k = T itself is not within.
    """
    outside = np.flatnonzero(np.asarray(error) > target + tolerance + 1e-12)
    if not outside.size:
        return 1
    return int(outside[-1]) + 2 if outside[-1] < len(error) - 1 else None


def averaging_analysis(model: nn.Module, x: torch.Tensor, y: torch.Tensor, passes: int, orderings: int,
                       seed: int = 0) -> dict[str, Any]:
    """The MC error curve, the weight-scaling error, and the k from which MC matches it (within one of the N digits)."""
    curve = mc_error_curve(mc_probabilities(model, x, passes, seed), y, orderings, seed)
    scaled = weight_scaling_error(model, x, y)
    tolerance = 1.0 / len(y)  # one digit: the resolution of an error measured on N digits
    return {**curve, "weight_scaling_error": scaled, "tolerance": tolerance, "digits": len(y),
            "k_matching": k_matching(curve["error"], scaled, tolerance)}


# --- a digit rotated out of the training distribution --------------------------------

def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Images (N, 784) or (N, 28, 28) turned ``degrees`` counter-clockwise about their centre, same shape.

    Bilinear sampling, zeros outside: the pixels are raw intensities / 255
    (``mnist._pixels``), so 0 is the black background a turned digit leaves
    uncovered. 90° is ``torch.rot90`` exactly (pixel centres map onto pixel
    centres with ``align_corners=False``).
    """
    square = images.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE).float()
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]])
    grid = F.affine_grid(theta.expand(len(square), 2, 3), list(square.shape), align_corners=False)
    turned = F.grid_sample(square, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return turned.reshape(images.shape)


def rotation_angles(steps: int = settings.MC_DIGITS_ANGLES, last: float = settings.MC_DIGITS_MAX_ANGLE) -> np.ndarray:
    return np.linspace(0.0, last, steps)


@torch.no_grad()
def rotation_analysis(model: nn.Module, image: torch.Tensor, angles: np.ndarray, samples: int,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """One digit (784,) at each angle: T passes' mean probabilities, entropy and MI, and the inference network's.

    Returns ``angles``, ``images`` (A, 28, 28), ``mean`` and ``weight_scaled``
    (A, classes), ``entropy`` and ``mutual_information`` (A,) in nats.
    """
    x = torch.cat([rotate(image.view(1, -1), float(a)) for a in angles])
    summary = predictive_summary(mc_probabilities(model, x, samples, seed))
    scaled = inference_probabilities(model, x)
    return {"angles": np.asarray(angles, dtype=float), "images": x.view(-1, IMAGE_SIDE, IMAGE_SIDE).numpy(),
            "mean": summary["mean"].numpy(), "entropy": summary["entropy"].numpy(),
            "mutual_information": summary["mutual_information"].numpy(), "weight_scaled": scaled.numpy()}


# --- the page's state ---------------------------------------------------------

class DigitsUncertainty(LiveRuns):
    """A dropout MLP learning MNIST digits, seen through MC averaging (Fig. 11) and one rotated digit.

    The averaging curve costs 100 passes over MC_DIGITS_EVAL digits (~0.8 s):
    it is computed once per training step at most, and while
    training at most every ``refresh`` seconds (``select``); the figure says
    the step it belongs to. The rotated digit is cheap and follows every frame.
    """

    def __init__(self, exp: Experiment, data: Dataset) -> None:
        super().__init__(exp, data, compare=False)
        n = min(settings.MC_DIGITS_EVAL, len(data.y_val))
        self.eval_x, self.eval_y = data.x_val[:n], data.y_val[:n]
        probes = inside.pick_digits(data.y_val, 10)
        self.probe_x, self.probe_y = data.x_val[probes], data.y_val[probes]
        self.angles = rotation_angles()
        labels = self.digit_labels
        self.digit = labels.index(DEFAULT_DIGIT) if DEFAULT_DIGIT in labels else 0
        self.samples, self.refresh = settings.MC_DIGITS_SAMPLES, 0.0
        self._averaging: tuple[tuple[float, ...], float, dict[str, Any]] | None = None
        self.numbers: dict[str, Any] = {}  # the latest frame's analyses, for the page to print

    @property
    def digit_labels(self) -> list[int]:
        return [int(y) for y in self.probe_y]

    @locked
    def select(self, digit: int, samples: int, refresh: float) -> None:
        """The probe digit (an index into ``digit_labels``, clamped), T, and how stale the curve may get (s)."""
        self.digit = min(max(int(digit), 0), len(self.probe_y) - 1)
        self.samples = min(max(int(samples), 1), settings.MAX_MC_SAMPLES)
        self.refresh = float(refresh)

    @locked
    def averaging(self) -> dict[str, Any]:
        """``averaging_analysis`` of the current network, cached by step and rates, plus ``step`` and ``epoch``."""
        key = (self.run.step, *(d.p for d in self.run.model.dropouts))
        cached = self._averaging
        if cached is not None and (cached[0] == key or time.monotonic() - cached[1] < self.refresh):
            return cached[2]
        result = averaging_analysis(self.run.model, self.eval_x, self.eval_y, settings.MC_DIGITS_PASSES,
                                    settings.MC_DIGITS_ORDERINGS, seed=self.exp.seed)
        result |= {"step": self.run.step, "epoch": self.run.epoch}
        self._averaging = (key, time.monotonic(), result)
        return result

    @locked
    def rotation(self) -> dict[str, Any]:
        """``rotation_analysis`` of the chosen digit with T passes (masks seeded by the run's seed: no flicker)."""
        result = rotation_analysis(self.run.model, self.probe_x[self.digit], self.angles, self.samples,
                                   seed=self.exp.seed)
        return result | {"digit": int(self.probe_y[self.digit]), "samples": self.samples}

    def figure_builders(self) -> dict[str, Callable[[], Figure]]:
        """The frame's figures; the analyses they show are left in ``numbers`` for the page to print."""
        def averaging() -> dict[str, Any]:
            self.numbers["averaging"] = self.averaging()
            return self.numbers["averaging"]

        shared: dict[str, Any] = {}

        def rotated() -> dict[str, Any]:  # one analysis for the three rotation figures of a frame
            if not shared:
                shared.update(self.rotation())
                self.numbers["rotation"] = shared
            return shared

        return {
            "averaging": lambda: figures_mc_digits.averaging_figure(averaging()),
            "rotated": lambda: figures_mc_digits.rotated_digits_figure(rotated()),
            "predictive": lambda: figures_mc_digits.predictive_figure(rotated()),
            "uncertainty": lambda: figures_mc_digits.uncertainty_figure(rotated()),
        }


# --- python -m explorer analyze --what mc ----------------------------------------------

def analysis_defaults(dataset: str | None = None) -> Experiment:
    """The page's defaults: the MNIST reference run (784-512-512-10, input drop 0.2, hidden 0.5, 20 epochs)."""
    dataset = dataset or "mnist"
    if dataset not in MNIST_DATASETS:
        raise ValueError(f"--dataset {dataset}: the MC analysis runs on {', '.join(MNIST_DATASETS)} (28×28 digits)")
    return defaults_for(dataset)


def analysis_problems(exp: Experiment) -> list[Problem]:
    """What this analysis needs beyond ``experiment.check``: MNIST digits, the MLP, a per-unit stochastic variant."""
    problems = []
    if exp.dataset not in MNIST_DATASETS:
        problems.append(Problem.flagged("dataset", f"the MC analysis rotates 28×28 digits: use {', '.join(MNIST_DATASETS)}"))
    if exp.model != "mlp":
        problems.append(Problem.flagged("model", "the MC analysis trains the MLP (as the Uncertainty page does); use "
                                                 "--model mlp"))
    unit_variants = variants_for("mlp", unit_masks=True)
    if exp.variant in SCHEDULES or exp.variant not in unit_variants:
        problems.append(Problem.flagged("variant", "the MC analysis needs noise of one mask or factor per unit at a "
                                                   f"fixed rate: choose from {', '.join(unit_variants)}"))
    if exp.p == 0 and exp.input_p == 0:
        problems.append(Problem.flagged(("p", "input_p"), "with both drop rates 0 every stochastic pass is the same "
                                                          "network; there is nothing to average"))
    return problems


def analyze(exp: Experiment) -> dict[str, Any]:
    """Train what the page trains to the end of ``exp.epochs``; the numbers the page shows, JSON-ready.

    ``k_matching`` is the first k from which the MC error stays within one
    digit (1 / ``eval_digits``) of the weight-scaling error; null if even
    k = 100 is not. Entropy and mutual information are in nats.
    """
    problems = check(exp) + analysis_problems(exp)
    if problems:
        raise ValueError(problems[0])
    start = time.perf_counter()
    state = DigitsUncertainty(exp, make_data(exp))
    state.advance()
    averaging, rotation = state.averaging(), state.rotation()
    top = rotation["mean"].argmax(1)
    at = {int(k): i for i, k in enumerate(averaging["k"])}
    return {
        "weight_scaling_error": averaging["weight_scaling_error"],
        "mc_error": [{"k": int(k), "error": float(e), "std": float(s)}
                     for k, e, s in zip(averaging["k"], averaging["error"], averaging["std"])],
        "mc_error_at": {str(k): float(averaging["error"][at[k]]) for k in MILESTONES if k in at},
        "k_matching": averaging["k_matching"],
        "eval_digits": averaging["digits"],
        "rotation": [{"angle": float(a), "entropy": float(h), "mutual_information": float(mi),
                      "top_class": int(c), "top_prob": float(rotation["mean"][i, c]),
                      "weight_scaled_class": int(rotation["weight_scaled"][i].argmax())}
                     for i, (a, h, mi, c) in enumerate(zip(rotation["angles"], rotation["entropy"],
                                                           rotation["mutual_information"], top))],
        "digit": rotation["digit"],
        "rotation_samples": rotation["samples"],
        "val_acc": float(state.run.final()["val_acc"]),
        "seconds": time.perf_counter() - start,
    }

