"""Spatial (channel) dropout checked against torch's nn.Dropout2d and the maths in docs/dropout.md.

Convention: ``p`` is the drop probability q (as in ``nn.Dropout2d(p)``), k = 1 − q.
A channel of an (N, C, H, W) input is kept with probability k and then scaled by
1/k everywhere, or zeroed everywhere. The draws are per (example, channel), so
every statistical bound counts channels, not elements. Bounds are 5 sigma with
fixed seeds: a correct implementation fails them with probability far below 1e-5.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from explorer.dropout import VARIANTS, DropoutLayer, make_dropout
from explorer.dropout.spatial import SpatialDropout

Z = 5.0
RATES = (0.1, 0.5, 0.8)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def spatial(q: float, seed: int) -> DropoutLayer:
    layer = make_dropout("spatial", q, gen(seed))
    layer.train()
    return layer


def torch_dropout2d(x: torch.Tensor, q: float, seed: int) -> torch.Tensor:
    """nn.Dropout2d(q) in training mode, drawing from the global stream seeded with ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = nn.Dropout2d(q)
        layer.train()
        return layer(x)


def channel_mask_of(y: torch.Tensor) -> torch.Tensor:
    """(N, C) bool: which channels of an output are not all zero."""
    return y.flatten(2).ne(0).any(dim=2)


def assert_whole_channels(x: torch.Tensor, y: torch.Tensor, k: float) -> torch.Tensor:
    """Every channel of y is all zero or exactly x/k (x has no zeros); returns the (N, C) kept mask."""
    kept = channel_mask_of(y)
    full = kept[:, :, None, None].expand_as(x)
    assert torch.all(y[~full] == 0)
    # no channel is partly dropped: a kept channel has no zero left
    assert torch.all(y[full] != 0)
    torch.testing.assert_close(y[full], x[full] / k, rtol=2.5e-7, atol=0.0)
    return kept


def assert_binomial(kept: int, n: int, k: float) -> None:
    bound = Z * math.sqrt(n * k * (1 - k))
    assert abs(kept - n * k) <= bound, f"kept {kept} of {n}, expected {n * k:.0f} ± {bound:.0f}"


def sample_variance_var(var: float, mu4: float, n: int) -> float:
    """Exact variance of the unbiased sample variance of n iid draws."""
    return (mu4 - var * var * (n - 3) / (n - 1)) / n


# --- registry ----------------------------------------------------------------

def test_registered_for_cnns_only_with_rules_and_reference():
    v = VARIANTS["spatial"]
    assert v.key == "spatial" and v.name == "Spatial (channels)"
    assert v.layer is SpatialDropout
    assert v.models == ("cnn",)  # not offered where there are no channels (the MLP pages)
    assert "Tompson" in v.reference and "2015" in v.reference
    assert r"\mathrm{Bernoulli}(k)" in v.train_rule and v.infer_rule
    assert "correlated" in v.explanation
    layer = make_dropout("spatial", 0.3)
    assert isinstance(layer, SpatialDropout) and layer.keep == pytest.approx(0.7)


def test_rejects_inputs_without_channels():
    with pytest.raises(ValueError, match="feature maps"):
        spatial(0.5, 0)(torch.ones(4, 10))


# --- against nn.Dropout2d ----------------------------------------------------

@pytest.mark.parametrize("q", RATES)
def test_is_bitwise_nn_dropout2d_under_the_same_seed(q):
    """Same seed, same draws: one bernoulli_(k) per (N, C), divided by k, times x — as Dropout2d does."""
    x = torch.randn(64, 12, 5, 5, generator=gen(1))
    assert torch.equal(spatial(q, 9)(x), torch_dropout2d(x, q, seed=9))


@pytest.mark.parametrize("q", RATES)
def test_whole_channels_dropped_and_kept_fraction_is_binomial(q):
    k = 1 - q
    n, c = 2000, 32
    x = torch.randn(n, c, 3, 3, generator=gen(2))
    x[x == 0] = 1.0  # no zeros in x: a zero output means a dropped channel
    layer = spatial(q, 3)
    layer.record = True
    y = layer(x)
    kept = assert_whole_channels(x, y, k)
    assert_binomial(int(kept.sum()), n * c, k)
    # the recorded mask is the (N, C) channel mask, and it is exactly what the output shows
    assert layer.last_mask.dtype == torch.bool and layer.last_mask.shape == (n, c)
    assert torch.equal(layer.last_mask, kept)
    assert torch.equal(layer.last_input, x)
    # nn.Dropout2d with another seed obeys the same law, and the two counts agree
    theirs = assert_whole_channels(x, torch_dropout2d(x, q, seed=4), k)
    assert_binomial(int(theirs.sum()), n * c, k)
    assert abs(int(kept.sum()) - int(theirs.sum())) <= Z * math.sqrt(2 * n * c * q * k)


@pytest.mark.parametrize("q", RATES)
def test_mean_and_variance_match_theory_and_nn_dropout2d(q):
    """Constant x: E[y] = x, Var[y] = x²q/k per element; the draws are iid per channel, not per element."""
    k = 1 - q
    n, c, x0 = 4000, 32, 2.0
    x = torch.full((n, c, 2, 2), x0)
    var = x0 * x0 * q / k
    mu4 = k * (x0 * q / k) ** 4 + q * x0**4  # 4th central moment of x0·B/k
    for y in (spatial(q, 5)(x), torch_dropout2d(x, q, seed=6)):
        per_channel = y[:, :, 0, 0].double().flatten()  # one value per independent draw
        m = n * c
        # the mean over all elements is the mean over channels (elements of a channel are equal)
        assert abs(y.double().mean().item() - x0) <= Z * math.sqrt(var / m)
        s2 = per_channel.var(unbiased=True).item()
        assert abs(s2 - var) <= Z * math.sqrt(sample_variance_var(var, mu4, m)), f"variance {s2}, expected {var}"


# --- inference, rate 0, rate 1 -------------------------------------------------

def test_identity_at_inference():
    x = torch.randn(8, 4, 6, 6, generator=gen(7))
    layer = spatial(0.5, 0)
    layer.record = True
    layer.eval()
    assert torch.equal(layer(x), x)
    assert layer.last_mask is None  # inference never overwrites the training record


def test_rate_zero_is_the_identity_in_training_with_an_all_true_channel_mask():
    x = torch.randn(8, 4, 6, 6, generator=gen(8))
    layer = spatial(0.0, 0)
    layer.record = True
    assert torch.equal(layer(x), x)
    assert layer.last_mask.shape == (8, 4) and bool(layer.last_mask.all())


def test_rate_one_zeroes_everything_like_nn_dropout2d():
    x = torch.randn(8, 4, 6, 6, generator=gen(9))
    y = spatial(1.0, 0)(x)
    assert torch.equal(y, torch.zeros_like(x)) and not torch.isnan(y).any()
    assert torch.equal(y, torch_dropout2d(x, 1.0, seed=0))


# --- reproducibility and gradients --------------------------------------------

def test_reproducible_by_generator_seed_and_fresh_masks_each_call():
    x = torch.randn(32, 16, 4, 4, generator=gen(10))
    a, b, c = spatial(0.5, 11), spatial(0.5, 11), spatial(0.5, 12)
    ya = a(x)
    assert torch.equal(ya, b(x))
    assert not torch.equal(ya, c(x))
    assert not torch.equal(ya, a(x))  # the next step draws a new mask
    # the global stream is neither used nor disturbed
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    spatial(0.5, 13)(x)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("q", (0.3, 0.7))
def test_gradient_flows_only_through_kept_channels(q):
    k = 1 - q
    x = torch.randn(16, 8, 5, 5, generator=gen(14), requires_grad=True)
    w = torch.randn(16, 8, 5, 5, generator=gen(15))
    layer = spatial(q, 16)
    layer.record = True
    (layer(x) * w).sum().backward()
    keep = layer.last_mask[:, :, None, None].expand_as(x)
    assert torch.all(x.grad[~keep] == 0)
    torch.testing.assert_close(x.grad[keep], w[keep] / k, rtol=2.5e-7, atol=0.0)
    # and the same gradient as nn.Dropout2d under the same seed
    x2 = x.detach().clone().requires_grad_(True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(16)
        (nn.Dropout2d(q).train()(x2) * w).sum().backward()
    assert torch.equal(x.grad, x2.grad)
