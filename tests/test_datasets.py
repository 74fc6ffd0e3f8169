"""Toy datasets: deterministic by seed, the requested sizes, standardised, label noise as asked."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from explorer.core.datasets import TOY_DATASETS, DataConfig, make_toy

Z = 5.0
NAMES = sorted(TOY_DATASETS)


def test_the_toy_datasets_are_registered():
    assert {"moons", "circles", "xor", "spiral", "blobs", "checkerboard"} <= set(TOY_DATASETS)


@pytest.mark.parametrize("name", NAMES)
def test_sizes_types_and_labels(name):
    d = make_toy(DataConfig(name, train_size=101, val_size=37, noise=0.2, seed=3))  # odd sizes on purpose
    assert d.name == name
    assert d.x_train.shape == (101, 2) and d.x_val.shape == (37, 2)
    assert d.y_train.shape == (101,) and d.y_val.shape == (37,)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.x_val.dtype == torch.float32 and d.y_val.dtype == torch.int64
    assert d.n_classes == 2 and d.n_features == 2
    labels = torch.cat([d.y_train, d.y_val])
    assert set(labels.unique().tolist()) == {0, 1}
    assert torch.isfinite(d.x_train).all() and torch.isfinite(d.x_val).all()


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_by_seed(name):
    cfg = DataConfig(name, train_size=80, val_size=40, noise=0.3, label_noise=0.1, seed=5)
    a, b, c = make_toy(cfg), make_toy(cfg), make_toy(replace(cfg, seed=6))
    for field in ("x_train", "y_train", "x_val", "y_val"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize("name", NAMES)
def test_training_inputs_are_standardised(name):
    d = make_toy(DataConfig(name, train_size=300, val_size=300, noise=0.2, seed=1))
    x = d.x_train.double()
    torch.testing.assert_close(x.mean(0), torch.zeros(2, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(0, unbiased=False), torch.ones(2, dtype=torch.float64), atol=1e-4, rtol=0)
    # validation uses the training statistics, so it is only roughly standardised
    xv = d.x_val.double()
    assert xv.mean(0).abs().max() < 0.5 and (xv.std(0) - 1).abs().max() < 0.5


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("rate", (0.1, 0.3))
def test_label_noise_flips_the_requested_fraction_of_training_labels_only(name, rate):
    n = 2000
    clean = make_toy(DataConfig(name, train_size=n, val_size=500, noise=0.2, label_noise=0.0, seed=2))
    noisy = make_toy(DataConfig(name, train_size=n, val_size=500, noise=0.2, label_noise=rate, seed=2))
    # same points, same clean labels underneath
    assert torch.equal(clean.x_train, noisy.x_train) and torch.equal(clean.x_val, noisy.x_val)
    flipped = int((clean.y_train != noisy.y_train).sum())
    assert abs(flipped - n * rate) <= Z * math.sqrt(n * rate * (1 - rate)), f"{flipped} of {n} flipped"
    # validation labels stay clean
    assert torch.equal(clean.y_val, noisy.y_val)


def test_blobs_labels_follow_their_centres():
    """An independent check that labels are not shuffled against inputs: blobs at (−1,−1) and (1,1)."""
    d = make_toy(DataConfig("blobs", train_size=400, val_size=400, noise=0.0, seed=4))
    for x, y in ((d.x_train, d.y_train), (d.x_val, d.y_val)):
        predicted = (x.sum(1) > 0).long()  # standardising keeps the diagonal split for symmetric blobs
        assert (predicted == y).double().mean() > 0.97


@pytest.mark.parametrize("name", ("xor", "checkerboard", "spiral", "blobs"))
def test_classes_are_roughly_balanced(name):
    n = 2000
    d = make_toy(DataConfig(name, train_size=n, val_size=10, noise=0.1, seed=9))
    ones = int(d.y_train.sum())
    assert abs(ones - n / 2) <= Z * math.sqrt(n / 4)


def test_unknown_dataset_is_rejected():
    with pytest.raises(ValueError, match="unknown dataset"):
        make_toy(DataConfig("mnist-but-not"))

