"""MC-dropout maps of a 2-D classifier: T stochastic passes over a grid, read as uncertainty.

Keep dropout sampling at test time and run the trained network T times on
every grid point: the mean of the passes is the prediction, their predictive
entropy the uncertainty, and the mutual information its epistemic part (Gal &
Ghahramani 2016); both are compared at the training points and away from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.core.boundary import grid_points
from explorer.core.mc import mc_probabilities, predictive_summary

FAR = 1.0  # map points farther than this from every training point count as "away from the data"


@dataclass
class MCGrid:
    xs: np.ndarray                  # (resolution,)
    ys: np.ndarray                  # (resolution,)
    probs: np.ndarray               # (classes, resolution, resolution): MC mean of each class's probability
    entropy: np.ndarray             # predictive entropy H[ȳ] (nats)
    mutual_information: np.ndarray  # H[ȳ] − mean_t H[y_t] (nats)
    distance: np.ndarray            # to the nearest training point

    @property
    def prob(self) -> np.ndarray:
        """MC mean of P(class 1): the first map of a two-class set."""
        return self.probs[1]


@torch.no_grad()
def mc_grid(model: torch.nn.Module, box: tuple[float, float, float, float], resolution: int, samples: int,
            seed: int, x_train: torch.Tensor) -> MCGrid:
    """The MC version of ``boundary.decision_grid``: ``samples`` stochastic passes over every grid point."""
    xs, ys, points = grid_points(box, resolution)
    summary = predictive_summary(mc_probabilities(model, points, samples, seed))
    shape = (resolution, resolution)
    return MCGrid(
        xs.numpy(), ys.numpy(), summary["mean"].T.reshape(-1, *shape).numpy(),
        summary["entropy"].reshape(shape).numpy(), summary["mutual_information"].reshape(shape).numpy(),
        torch.cdist(points, x_train).min(1).values.reshape(shape).numpy(),
    )


def map_numbers(grid: MCGrid, at_data: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean entropy and MI at the training points and over the map's points away from every one of them."""
    far = grid.distance > FAR
    none = float("nan")
    return {
        "entropy_data": float(at_data["entropy"].mean()), "mi_data": float(at_data["mutual_information"].mean()),
        "entropy_far": float(grid.entropy[far].mean()) if far.any() else none,
        "mi_far": float(grid.mutual_information[far].mean()) if far.any() else none,
    }
