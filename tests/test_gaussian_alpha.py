"""Gaussian and alpha dropout against the maths in docs/dropout.md and torch's nn.AlphaDropout.

Statistical checks use fixed seeds and 5-sigma bounds from the distributions, as in test_dropout.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from explorer.dropout import make_dropout
from explorer.dropout.alpha import ALPHA_PRIME
from explorer.core.model import MLP, MLPConfig
from tests.test_dropout import Z, assert_binomial, assert_mean_and_variance, gen, sample_variance_var

RATES = (0.1, 0.5, 0.8)
N = 400_000


def train(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    layer.train()
    return layer(x)


# --- Gaussian -----------------------------------------------------------------------

@pytest.mark.parametrize("q", RATES)
def test_gaussian_keeps_the_mean_and_has_variance_q_over_k(q):
    """y = x·r, r ~ N(1, q/k): E[y] = x, Var[y] = x²·q/k, 4th central moment 3·Var² (normal)."""
    x = 1.7
    y = train(make_dropout("gaussian", q, gen(1)), torch.full((N,), x))
    var = x * x * q / (1 - q)
    assert_mean_and_variance(y, x, var, 3 * var * var)


def test_gaussian_drops_no_unit_and_is_the_identity_at_inference():
    layer = make_dropout("gaussian", 0.5, gen(2))
    layer.record = True
    x = torch.randn(64, 30, generator=gen(3))
    y = train(layer, x)
    assert layer.last_mask.all() and layer.expected_kept == 1.0
    assert (y != 0).all(), "multiplicative noise silences no unit"
    layer.eval()
    assert torch.equal(layer(x), x)


def test_gaussian_noise_is_reproducible_by_seed_and_fresh_per_call():
    x = torch.ones(16, 8)
    a, b = (train(make_dropout("gaussian", 0.3, gen(4)), x) for _ in range(2))
    assert torch.equal(a, b)
    layer = make_dropout("gaussian", 0.3, gen(4))
    assert not torch.equal(train(layer, x), train(layer, x))


# --- alpha ----------------------------------------------------------------------------

def alpha_affine(q: float) -> tuple[float, float]:
    a = ((1 - q) * (1 + q * ALPHA_PRIME**2)) ** -0.5
    return a, -a * q * ALPHA_PRIME


@pytest.mark.parametrize("q", RATES)
def test_alpha_keeps_kept_units_as_a_x_plus_b_and_sets_dropped_ones_to_a_alpha_plus_b(q):
    layer = make_dropout("alpha", q, gen(5))
    layer.record = True
    x = torch.randn(2000, 50, generator=gen(6))
    y = train(layer, x)
    a, b = alpha_affine(q)
    kept = layer.last_mask
    assert_binomial(int(kept.sum()), kept.numel(), 1 - q)
    torch.testing.assert_close(y[kept], a * x[kept] + b)
    torch.testing.assert_close(y[~kept], torch.full_like(y[~kept], a * ALPHA_PRIME + b))


@pytest.mark.parametrize("q", RATES)
def test_alpha_keeps_a_standard_normal_input_standard_normal_like_nn_alpha_dropout(q):
    """Mean 0 and variance 1 on standard-normal input, for ours and for torch's nn.AlphaDropout."""
    x = torch.randn(N, generator=gen(7))
    ours = train(make_dropout("alpha", q, gen(8)), x)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(9)
        theirs = train(nn.AlphaDropout(q), x)
    for y in (ours, theirs):
        yd = y.double()
        mu4 = ((yd - yd.mean()) ** 4).mean().item()  # the output is a mixture, not normal: its own 4th moment
        assert abs(yd.mean().item()) <= Z * math.sqrt(1 / N)
        assert abs(yd.var().item() - 1.0) <= Z * math.sqrt(sample_variance_var(1.0, mu4, N))
    # and the two outputs take the same two kinds of values: a·x + b where kept, one constant where dropped
    a, b = alpha_affine(q)
    dropped_ours = ours[(ours - (a * x + b)).abs() > 1e-5]
    dropped_theirs = theirs[(theirs - (a * x + b)).abs() > 1e-5]
    torch.testing.assert_close(dropped_ours.unique(), dropped_theirs.unique())


def test_alpha_is_the_identity_at_inference_and_at_rate_zero():
    x = torch.randn(10, 4, generator=gen(10))
    layer = make_dropout("alpha", 0.4, gen(11))
    layer.eval()
    assert torch.equal(layer(x), x)
    assert torch.equal(train(make_dropout("alpha", 0.0, gen(12)), x), x)


def test_alpha_at_rate_one_gives_zeros_like_nn_alpha_dropout():
    x = torch.randn(5, 3, generator=gen(13))
    assert torch.equal(train(make_dropout("alpha", 1.0, gen(14)), x), train(nn.AlphaDropout(1.0), x))


# --- both train a network ---------------------------------------------------------------

@pytest.mark.parametrize("variant, activation", [("gaussian", "relu"), ("alpha", "selu")])
def test_a_network_with_the_variant_trains_with_finite_loss_and_evaluates_deterministically(variant, activation):
    torch.manual_seed(0)
    model = MLP(MLPConfig(n_in=5, hidden=(16, 16), n_out=3, activation=activation, p=0.3, input_p=0.1,
                          variant=variant))
    x, y = torch.randn(64, 5, generator=gen(15)), torch.randint(3, (64,), generator=gen(16))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    model.eval()
    assert torch.equal(model(x), model(x))
