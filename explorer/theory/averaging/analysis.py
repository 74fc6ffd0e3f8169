"""Model averaging made exact: every thinned network of a tiny trained net, and what weight scaling and MC miss.

A network with n droppable units (units whose layer has a drop rate q > 0)
trains 2^n thinned networks that share weights. With n ≤ 12 all of them can be
run: the exact prediction of dropout is their average weighted by each mask's
probability, k^kept · q^dropped per layer (k = 1 − q). This module computes,
batched as masks × points and in float64 so that "exact" means it:

- the exact arithmetic mean of the thinned networks' class probabilities (the
  expectation of the prediction under dropout);
- their normalised weighted geometric mean (NWGM), softmax(Σ_m w_m log P_m);
- the weight-scaled (inference-mode) network;
- Monte-Carlo averages of k sampled thinned networks, and their error against
  the exact mean as k grows (several independent draws).

For one hidden layer with dropout on its units only and a softmax output, the
logits are linear in the mask, so the NWGM (the softmax of the expected
logits) *is* the weight-scaled network (Hinton et al. 2012, arXiv:1207.0580;
analysed by Baldi & Sadowski 2013); input dropout or a second hidden layer put a nonlinearity
between the mask and the logits and the equality becomes an approximation.

The ``python -m explorer analyze --what averaging`` contract is in ``state``,
beside the live state its ``analyze`` trains to the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer import settings
from explorer.dropout import DropoutLayer
from explorer.core.experiment import Experiment
from explorer.core.model import MLP

# The variants whose noise is one Bernoulli keep-mask per unit; what a kept unit is multiplied by in training.
KEPT_SCALE: dict[str, Callable[[float], float]] = {
    "standard": lambda keep: 1.0 / keep,   # inverted dropout: survivors × 1/k
    "weight-scaling": lambda keep: 1.0,    # the original rule: survivors unscaled
}
DEFAULT_DATASET = "moons"
ANALYSIS_KS = (1, 2, 5, 10, 20, 50, 100, 200)  # the MC sample counts `analyze` reports


# --- the thinned networks -------------------------------------------------------

@dataclass(frozen=True)
class ThinnedNetworks:
    """Every keep/drop pattern of the droppable units, with its probability.

    ``layers`` are the indices (into ``model.dropouts``, input first) of the
    layers with a rate > 0; ``bits`` is (2^n, n) {0, 1}, the units of those
    layers in order; ``probability`` is (2^n,) and sums to 1.
    """

    layers: tuple[int, ...]
    widths: tuple[int, ...]
    bits: torch.Tensor
    probability: torch.Tensor

    @property
    def units(self) -> int:
        return int(self.bits.shape[1])

    @property
    def count(self) -> int:
        return int(self.bits.shape[0])


def droppable_layers(model: MLP) -> list[tuple[int, int, float]]:
    """(index in ``model.dropouts``, width, drop rate) of each layer whose rate is above 0."""
    widths = model.layer_sizes[:-1]
    return [(i, w, d.p) for i, (d, w) in enumerate(zip(model.dropouts, widths)) if d.p > 0]


def keep_probabilities(model: MLP) -> torch.Tensor:
    """Each droppable unit's keep probability k (its layer's), in the order of a mask's columns: (n,)."""
    return torch.cat([torch.full((w,), 1.0 - q, dtype=torch.float64) for _, w, q in droppable_layers(model)]
                     or [torch.ones(0, dtype=torch.float64)])


def _layout(model: MLP) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The droppable layers' indices in ``model.dropouts`` and their widths."""
    layers = droppable_layers(model)
    return tuple(i for i, _, _ in layers), tuple(w for _, w, _ in layers)


def thinned_networks(model: MLP, max_units: int = settings.MAX_AVERAGING_UNITS) -> ThinnedNetworks:
    """All 2^n masks of the droppable units (``ValueError`` above ``max_units``) and their probabilities,
    Π over units of k (kept) or q (dropped)."""
    keep = keep_probabilities(model)
    n = len(keep)
    if n > max_units:
        raise ValueError(f"exact averaging enumerates 2^n thinned networks: at most {max_units} droppable units, "
                         f"this network has {n}")
    bits = ((torch.arange(2**n)[:, None] >> torch.arange(n)) & 1).double()
    return ThinnedNetworks(*_layout(model), bits, torch.where(bits.bool(), keep, 1.0 - keep).prod(dim=1))


def sample_masks(model: MLP, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` masks drawn as training draws them (each unit kept with its layer's k): (count, n) {0, 1}."""
    return torch.bernoulli(keep_probabilities(model).expand(count, -1), generator=generator)


# --- forward passes in float64, batched as (masks, points) -----------------------------

# A dropout layer's stand-in: (index, layer, h) → (h, multipliers (masks, width) still to apply, or None).
Hook = Callable[[int, DropoutLayer, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


def _walk(model: MLP, x: torch.Tensor, at_dropout: Hook) -> torch.Tensor:
    """The network's layers on ``x`` in float64, ``at_dropout`` in place of each dropout layer.

    A dropout layer is always followed by a Linear, which applies the masks
    the hook leaves pending (``_masked_linear``).
    """
    h, index, pending = x.double(), 0, None
    for module in model.net:
        if isinstance(module, DropoutLayer):
            h, pending = at_dropout(index, module, h)
            index += 1
        elif isinstance(module, nn.Linear):
            h, pending = _masked_linear(h, module, pending), None
        else:
            h = module(h)  # the activation, elementwise
    return h


def _masked_linear(h: torch.Tensor, linear: nn.Linear, multipliers: torch.Tensor | None) -> torch.Tensor:
    """``linear`` on ``h`` with each unit times its multiplier, for every mask: (masks, N, out).

    At the first mask ``h`` is still (N, width), shared by all masks: then
    Σ_j m_j h_nj W_oj is one matrix product (masks × width) · (width × N·out),
    without the (masks, N, width) tensor of masked activations.
    """
    weight, bias = linear.weight.double(), linear.bias.double()
    if multipliers is None:
        return F.linear(h, weight, bias)
    if h.dim() == 2:
        n, out = len(h), len(weight)
        per_unit = (h[:, None, :] * weight[None]).reshape(n * out, -1)
        return (multipliers @ per_unit.T).reshape(len(multipliers), n, out) + bias
    return F.linear(h * multipliers[:, None, :], weight, bias)


@torch.no_grad()
def inference_logits(model: MLP, x: torch.Tensor) -> torch.Tensor:
    """The weight-scaled (inference-mode) network's logits, (N, C): each dropout layer's ``infer``."""
    return _walk(model, x, lambda _, layer, h: (layer.infer(h), None))


def _multipliers(model: MLP, layers: tuple[int, ...], widths: tuple[int, ...],
                 bits: torch.Tensor) -> dict[int, torch.Tensor]:
    """Per droppable layer, what training multiplies its units by under each mask: (masks, width)."""
    scale = KEPT_SCALE[model.cfg.variant]
    columns = torch.split(bits, list(widths), dim=1) if widths else ()
    return {i: cols * scale(model.dropouts[i].keep) for i, cols in zip(layers, columns)}


@torch.no_grad()
def thinned_logits(model: MLP, x: torch.Tensor, layers: tuple[int, ...], widths: tuple[int, ...],
                   bits: torch.Tensor) -> torch.Tensor:
    """The logits of the thinned networks ``bits`` (masks, n) on the points ``x``: (masks, N, C).

    Each thinned network is the training-mode network under one fixed mask,
    shared by all points; layers before the first mask run once for all masks.
    A layer at rate 0 is the identity, as in training.
    """
    multipliers = _multipliers(model, layers, widths, bits)
    logits = _walk(model, x, lambda index, _, h: (h, multipliers.get(index)))
    return logits.expand(len(bits), *logits.shape[-2:]) if logits.dim() == 2 else logits


def _probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the classes; with two, the sigmoid of the logit difference (torch's softmax over a last
    dimension of 2 took 10× longer, the bulk of a frame)."""
    if logits.shape[-1] != 2:
        return logits.softmax(-1)
    p = torch.sigmoid(logits[..., 1] - logits[..., 0])
    return torch.stack([1.0 - p, p], -1)


def _chunk(model: MLP, n_points: int) -> int:
    """Masks per chunk: masks × points × the widest layer stays under AVERAGING_CHUNK values."""
    return max(1, settings.AVERAGING_CHUNK // max(1, n_points * max(model.layer_sizes)))


@torch.no_grad()
def sampled_probabilities(model: MLP, x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Class probabilities of the thinned networks ``bits`` (from ``sample_masks``) on ``x``: (masks, N, C)."""
    layers, widths = _layout(model)
    step = _chunk(model, len(x))
    return torch.cat([_probabilities(thinned_logits(model, x, layers, widths, bits[s:s + step]))
                      for s in range(0, len(bits), step)])


@dataclass
class Averages:
    """Class probabilities (N, C) of the exact means and the weight-scaled network on one set of points."""

    arithmetic: torch.Tensor
    geometric: torch.Tensor
    weight_scaled: torch.Tensor


@torch.no_grad()
def exact_averages(model: MLP, x: torch.Tensor, nets: ThinnedNetworks | None = None) -> Averages:
    """The probability-weighted arithmetic and normalised geometric means over all thinned networks, and
    the weight-scaled network, on the points ``x``: masks × points in chunks, accumulated in float64."""
    nets = nets or thinned_networks(model)
    arithmetic = mean_logits = 0.0
    step = _chunk(model, len(x))
    for start in range(0, nets.count, step):
        logits = thinned_logits(model, x, nets.layers, nets.widths, nets.bits[start:start + step])
        weight = nets.probability[start:start + step]
        arithmetic = arithmetic + torch.tensordot(weight, _probabilities(logits), dims=1)
        mean_logits = mean_logits + torch.tensordot(weight, logits, dims=1)
    # Σ_m w_m log P_m(c) = Σ_m w_m z_m(c) − Σ_m w_m log Σ_c' exp z_m(c'): the last term is the same for every
    # class and cancels when the geometric mean is normalised, so the NWGM is the softmax of the mean logits.
    return Averages(arithmetic, torch.softmax(mean_logits, -1), inference_logits(model, x).softmax(-1))


# --- comparisons -----------------------------------------------------------------

def accuracy(probs: torch.Tensor, y: torch.Tensor) -> float:
    return float((probs.argmax(-1) == y).double().mean()) if len(y) else 0.0


def compare(probs: torch.Tensor, exact: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Validation accuracy of ``probs``, mean and max |P − P_exact| (over points and classes), and the share of
    points whose predicted class is the exact average's."""
    diff = (probs - exact).abs()
    return {"val_acc": accuracy(probs, y), "mean_abs_diff": float(diff.mean()), "max_abs_diff": float(diff.max()),
            "agreement": float((probs.argmax(-1) == exact.argmax(-1)).double().mean())}


@dataclass
class MCCurve:
    """MC averaging against the exact mean for every k = 1 … max_k, over ``draws`` independent draws.

    ``error`` (mean |P − P_exact| over points and classes), ``max_error``,
    ``val_acc``, ``agreement``: (draws, max_k); ``masks``: the
    sampled masks (draws, max_k, n), draw 0's first k being the MC map's.
    """

    error: np.ndarray
    max_error: np.ndarray
    val_acc: np.ndarray
    agreement: np.ndarray
    masks: torch.Tensor

    def at(self, k: int) -> dict[str, float]:
        """The draws' mean at k samples."""
        return {"k": int(k), "mean_abs_diff": float(self.error[:, k - 1].mean()),
                "max_abs_diff": float(self.max_error[:, k - 1].mean()),
                "val_acc": float(self.val_acc[:, k - 1].mean()), "agreement": float(self.agreement[:, k - 1].mean())}

    def first_k_within(self, level: float) -> int | None:
        """The first k whose mean error (over draws) is at most ``level``; None if none up to max_k is."""
        below = np.flatnonzero(self.error.mean(0) <= level)
        return int(below[0]) + 1 if below.size else None


@torch.no_grad()
def mc_curve(model: MLP, x: torch.Tensor, y: torch.Tensor, exact: torch.Tensor, max_k: int, draws: int,
             seed: int) -> MCCurve:
    """Running means of ``draws`` × ``max_k`` sampled thinned networks on ``x``, compared with ``exact`` (N, C).

    The masks come from a generator of their own seeded ``seed``: looking never
    changes the masks training draws.
    """
    masks = sample_masks(model, draws * max_k, torch.Generator().manual_seed(seed)).reshape(draws, max_k, -1)
    counts = torch.arange(1, max_k + 1, dtype=torch.float64)[:, None, None]
    rows = []
    for draw in masks:  # one draw at a time: all of them at once held ~150 MB at 500 points (issue #13)
        running = sampled_probabilities(model, x, draw).cumsum(0) / counts
        top, diff = running.argmax(-1), (running - exact).abs()
        rows.append((diff.mean((-2, -1)), diff.amax((-2, -1)), (top == y).double().mean(-1),
                     (top == exact.argmax(-1)).double().mean(-1)))
    error, max_error, val_acc, agreement = (torch.stack(column).numpy() for column in zip(*rows))
    return MCCurve(error=error, max_error=max_error, val_acc=val_acc, agreement=agreement, masks=masks)


# --- the analysis contract ---------------------------------------------------------

def droppable_units(exp: Experiment, n_in: int = 2) -> int:
    """Units with a drop rate above 0: the inputs if --input-p > 0, every hidden unit if --p > 0."""
    return (n_in if exp.input_p > 0 else 0) + (sum(exp.hidden) if exp.p > 0 else 0)
