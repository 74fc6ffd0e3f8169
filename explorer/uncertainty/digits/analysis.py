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
The ``analyze --what mc`` contract is in ``state``, beside the live state it trains.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer import settings
from explorer.core.mc import mc_probabilities, predictive_summary
from explorer.core.mnist import IMAGE_SIDE

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


# --- python -m explorer analyze --what mc ----------------------------------------------
