"""Dropout as L2 (Srivastava et al. 2014, §9.1): input dropout on linear regression is ridge regression in expectation.

Convention: **inverted dropout**, as torch trains it. A training step multiplies
each input x_ij by m_ij/k, m_ij ~ Bernoulli(k), k = 1 − q (q the drop rate), a
fresh mask per example and per step; the test-time model is w̃ unchanged.
Averaged over the masks the squared error is exactly

    E‖y − (X ⊙ M/k) w̃‖² = ‖y − X w̃‖² + (q/k) ‖Γ w̃‖²,   Γ = diag(XᵀX)^½,

ridge regression with a per-feature penalty λ_j = (q/k)·Σ_i x_ij², whose normal
equations (XᵀX + (q/k) Γ²) w̃ = Xᵀy give the closed form. (The paper's rule, no
rescaling in training and kX at test, is the same model: its weights are
w = w̃/k and its objective ‖y − kXw‖² + k(1−k)‖Γw‖².) The penalty grows with a
feature's scale, so it is scale-free (ridge on standardised features); plain weight
decay λ‖w̃‖² instead hits the features whose weights must be large: the small-scale ones.
It is matched here in total strength, λ = mean_j λ_j (the same Σ_j λ_j).

The trainer really trains a linear model (torch, float64, no bias) with sampled
masks, plain SGD on ½·mean squared error. The step is constant, ``lr`` times
k / mean_i ‖x_i‖² (the scale of the masked inputs: one ``lr`` is stable at every
rate), and the weights reported are the Polyak–Ruppert average of the iterates
after a burn-in (``settings.RIDGE_BURN_IN`` of the epochs). The update is linear
in w̃ with a mean that is the ridge gradient, so the iterates' stationary mean is
the closed form and their running average converges to it while the last iterate
keeps jittering around it.

``state.analyze`` (``python -m explorer analyze --what ridge``) reads these
``Experiment`` fields: ``input_p`` (the drop rate q), ``train_size`` (n),
``noise`` (σ of the targets' noise), ``seed`` (data, batch order, masks),
``epochs``, ``lr`` (the share of the stable step, at most 1) and ``batch_size``.
The data are its own: ``dataset`` must stay the default, and no other field is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer import settings
from explorer.core.training import BoundedRun

FIELDS = ("input_p", "train_size", "noise", "seed", "epochs", "lr", "batch_size")  # the Experiment fields it reads
CONVENTION = "inverted"  # x·m/k in training, w̃ as it is at test time
DIVERGED = 1e6  # a weight this large: the step was too large for the masks' noise (the data's weights are ~1)


@dataclass(frozen=True)
class Regression:
    """y = X w* + σ·noise, with features of deliberately different scales (so Γ matters)."""

    x: np.ndarray       # (n, d)
    y: np.ndarray       # (n,)
    w_true: np.ndarray  # (d,)
    scales: np.ndarray  # (d,) each feature's standard deviation by construction

    @property
    def gamma2(self) -> np.ndarray:
        """Γ², the diagonal of XᵀX."""
        return (self.x ** 2).sum(0)


def make_regression(n: int, noise: float, seed: int, d: int = settings.RIDGE_FEATURES) -> Regression:
    """Independent Gaussian features scaled from RIDGE_SCALES[0] to [1]; w*_j ~ N(0, 1)/scale_j, so every
    feature contributes about as much to y."""
    rng = np.random.default_rng(seed)
    scales = np.geomspace(*settings.RIDGE_SCALES, d)
    x = rng.standard_normal((n, d)) * scales
    w_true = rng.standard_normal(d) / scales
    return Regression(x, x @ w_true + noise * rng.standard_normal(n), w_true, scales)


def keep(q: float) -> float:
    return 1.0 - q


def solve_ridge(x: np.ndarray, y: np.ndarray, penalties: np.ndarray) -> np.ndarray:
    """argmin ‖y − Xw‖² + Σ_j penalties_j w_j²: the normal equations (XᵀX + diag(penalties)) w = Xᵀy."""
    return np.linalg.solve(x.T @ x + np.diag(penalties), x.T @ y)


def dropout_penalties(data: Regression, q: float) -> np.ndarray:
    """λ_j = (q/k)·Γ_jj²: the ridge penalty input dropout at drop rate q amounts to (inverted convention)."""
    return q / keep(q) * data.gamma2


def dropout_ridge(data: Regression, q: float) -> np.ndarray:
    """The closed form w̃ of the ridge problem equivalent to input dropout at drop rate q."""
    return solve_ridge(data.x, data.y, dropout_penalties(data, q))


def ols(data: Regression) -> np.ndarray:
    return solve_ridge(data.x, data.y, np.zeros(data.x.shape[1]))


def weight_decay_strength(data: Regression, q: float) -> float:
    """The uniform λ with the same total penalty as dropout's: mean_j λ_j."""
    return float(dropout_penalties(data, q).mean())


def weight_decay(data: Regression, q: float) -> np.ndarray:
    """Plain weight decay (one λ for every weight), matched in total strength to dropout at rate q."""
    d = data.x.shape[1]
    return solve_ridge(data.x, data.y, np.full(d, weight_decay_strength(data, q)))


def ridge_objective(data: Regression, w: np.ndarray, q: float) -> float:
    """‖y − Xw‖² + (q/k)‖Γw‖²: the expected dropout loss, exactly."""
    return float(((data.y - data.x @ w) ** 2).sum() + (dropout_penalties(data, q) * w ** 2).sum())


def dropout_loss(data: Regression, w: np.ndarray, q: float, masks: np.ndarray) -> float:
    """‖y − (X ⊙ M/k) w‖² averaged over sampled keep-masks ``masks`` (T, n, d): the Monte-Carlo estimate."""
    predictions = (data.x * masks / keep(q)) @ w
    return float(((data.y - predictions) ** 2).sum(-1).mean())


def relative_distance(w: np.ndarray, target: np.ndarray) -> float:
    return float(np.linalg.norm(w - target) / np.linalg.norm(target))


class MaskedRegression(BoundedRun):
    """A linear model trained by SGD with input dropout masks; keeps the running average of its iterates."""

    def __init__(self, data: Regression, q: float, lr: float, batch_size: int, epochs: int, seed: int) -> None:
        d = data.x.shape[1]
        super().__init__(torch.nn.Linear(d, 1, bias=False, dtype=torch.float64))
        torch.nn.init.zeros_(self.model.weight)
        self.data, self.q, self.epochs, self.batch_size = data, q, epochs, batch_size
        self.x, self.y = torch.from_numpy(data.x), torch.from_numpy(data.y)
        masked_scale = float((data.x ** 2).sum(1).mean()) / keep(q)  # E‖x ⊙ m/k‖²
        self.step_size = lr / masked_scale
        self.order = torch.Generator().manual_seed(seed)
        self.masks = torch.Generator().manual_seed(seed + 1)
        self.burn_in = int(settings.RIDGE_BURN_IN * epochs)
        self.target = dropout_ridge(data, q)
        self.average, self.averaged = np.zeros(d), 0
        self.diverged = False  # the weights overflowed (too large a step): training stops
        self.history: list[dict[str, float]] = []  # per epoch: distances of the average and the last iterate

    @property
    def done(self) -> bool:
        return self.epoch >= self.epochs or self.diverged

    @property
    def last(self) -> np.ndarray:
        return self.model.weight.detach()[0].numpy().copy()

    @property
    def weights(self) -> np.ndarray:
        """The trained weights: the average of the iterates since the burn-in (the last iterate before)."""
        return self.average.copy() if self.averaged else self.last

    def _train_step(self) -> None:
        idx = self._next_batch(len(self.y), self.batch_size, self.order)
        x = self.x[idx]
        mask = torch.rand(x.shape, generator=self.masks, dtype=torch.float64) < keep(self.q)
        loss = 0.5 * ((self.y[idx] - self.model(x * mask / keep(self.q))[:, 0]) ** 2).mean()
        loss.backward()
        with torch.no_grad():  # plain SGD by hand: torch.optim's first use imports ~1.5 s of torch._dynamo
            weight = self.model.weight
            weight -= self.step_size * weight.grad
            weight.grad = None
        self.step += 1
        if self.epoch >= self.burn_in:
            self.averaged += 1
            self.average += (self.last - self.average) / self.averaged
        if not self._batches:
            self._end_epoch()

    def _end_epoch(self) -> None:
        self.epoch += 1
        last = self.last
        if not np.isfinite(last).all() or np.abs(last).max() > DIVERGED:
            self.diverged = True
            return
        self.history.append({"epoch": self.epoch, "step": self.step,
                             "relative_distance": relative_distance(self.weights, self.target),
                             "last_relative_distance": relative_distance(last, self.target)})
