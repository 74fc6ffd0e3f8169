"""The decision boundary: class probabilities of the inference-mode network on a grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class Grid:
    xs: np.ndarray     # (resolution,)
    ys: np.ndarray     # (resolution,)
    probs: np.ndarray  # (classes, resolution, resolution): each class's probability, rows follow ys

    @property
    def prob(self) -> np.ndarray:
        """P(class 1): the map of a two-class set."""
        return self.probs[1]


def extent(points: torch.Tensor, margin: float = 0.5) -> tuple[float, float, float, float]:
    """A box around the points with a margin, as (x_min, x_max, y_min, y_max)."""
    lo, hi = points.min(0).values - margin, points.max(0).values + margin
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def grid_points(box: tuple[float, float, float, float], resolution: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The grid's axes and its points as (resolution², 2), row by row (rows follow ys)."""
    xs = torch.linspace(box[0], box[1], resolution)
    ys = torch.linspace(box[2], box[3], resolution)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return xs, ys, torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


@torch.no_grad()
def decision_grid(model: nn.Module, box: tuple[float, float, float, float], resolution: int) -> Grid:
    """One batched forward pass over every grid point, in inference mode."""
    xs, ys, points = grid_points(box, resolution)
    was_training = model.training
    model.eval()
    logits = model(points)
    model.train(was_training)
    probs = torch.softmax(logits, dim=1).T.reshape(-1, resolution, resolution)
    return Grid(xs.numpy(), ys.numpy(), probs.numpy())
