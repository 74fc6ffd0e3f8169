"""Toy 2-D classification datasets, deterministic by seed.

Every dataset is binary, like TensorFlow Playground's, so the decision boundary
is one probability map. Training sets can be tiny on purpose: overfitting is
what dropout is there to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from sklearn.datasets import make_blobs, make_circles, make_moons

Generator = Callable[[int, float, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return make_moons(n, noise=noise, random_state=int(rng.integers(2**31)))


def _circles(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return make_circles(n, noise=noise, factor=0.5, random_state=int(rng.integers(2**31)))


def _blobs(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centers = np.array([[-1.0, -1.0], [1.0, 1.0]])
    return make_blobs(n, centers=centers, cluster_std=0.4 + noise, random_state=int(rng.integers(2**31)))


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return x + noise * rng.standard_normal((n, 2)), y


def _spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, size=n)
    t = np.sqrt(rng.uniform(0.02, 1.0, size=n))  # sqrt: even density along the arm
    angle = 3.0 * np.pi * t + np.pi * y
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
    return x + noise * 0.5 * rng.standard_normal((n, 2)), y


def _checkerboard(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-2.0, 2.0, size=(n, 2))
    y = ((np.floor(x[:, 0]) + np.floor(x[:, 1])) % 2).astype(np.int64)
    return x + noise * 0.5 * rng.standard_normal((n, 2)), y


TOY_DATASETS: dict[str, Generator] = {
    "moons": _moons,
    "circles": _circles,
    "xor": _xor,
    "spiral": _spiral,
    "blobs": _blobs,
    "checkerboard": _checkerboard,
}


@dataclass(frozen=True)
class DataConfig:
    """What to generate; the seed makes it reproducible."""

    name: str = "moons"
    train_size: int = 200
    val_size: int = 500
    noise: float = 0.2
    label_noise: float = 0.0
    seed: int = 0


@dataclass
class Dataset:
    """Standardised tensors, ready for a model."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    n_classes: int
    class_names: tuple[str, ...] = ()  # each class's label as its file wrote it; () = 0, 1, ...

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]


def make_toy(cfg: DataConfig) -> Dataset:
    """Draw train and validation sets from one distribution; flip a fraction of training labels.

    Validation labels stay clean, so fitting the flipped labels shows up as a
    validation loss that rises: the overfitting dropout is meant to prevent.
    """
    if cfg.name not in TOY_DATASETS:
        raise ValueError(f"unknown dataset {cfg.name!r}; choose from {', '.join(TOY_DATASETS)}")
    rng = np.random.default_rng(cfg.seed)
    n = cfg.train_size + cfg.val_size
    x, y = TOY_DATASETS[cfg.name](n, cfg.noise, rng)
    order = rng.permutation(n)
    x, y = x[order].astype(np.float32), y[order].astype(np.int64)
    x_tr, y_tr, x_va, y_va = x[: cfg.train_size], y[: cfg.train_size].copy(), x[cfg.train_size :], y[cfg.train_size :]
    flips = rng.random(cfg.train_size) < cfg.label_noise
    y_tr[flips] = 1 - y_tr[flips]
    x_tr, x_va = standardised(x_tr, x_va)
    return Dataset(
        name=cfg.name,
        x_train=torch.from_numpy(x_tr),
        y_train=torch.from_numpy(y_tr),
        x_val=torch.from_numpy(x_va),
        y_val=torch.from_numpy(y_va),
        n_classes=2,
    )


def standardised(x_train: np.ndarray, x_val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets scaled by the training set's mean and standard deviation per feature: what the network sees."""
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-8
    return (x_train - mean) / std, (x_val - mean) / std
