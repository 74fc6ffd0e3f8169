"""Bernoulli dropout checked against torch's nn.Dropout and against the maths in docs/dropout.md.

Convention (docs/dropout.md): our ``p`` is the drop probability q, as in
``nn.Dropout(p)``; k = 1 − q is the keep probability. Statistical checks use
fixed seeds and 5-sigma bounds derived from the distribution, so a correct
implementation fails them with probability well below 1e-5 whatever the seed.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from explorer.dropout import VARIANTS, DropoutLayer, make_dropout
from explorer.core.model import MLP, MLPConfig

Z = 5.0  # sigmas allowed in every statistical bound
RATES = (0.1, 0.5, 0.8)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_binomial(kept: int, n: int, k: float) -> None:
    """kept ~ Binomial(n, k): |kept − nk| ≤ Z·sqrt(nk(1−k))."""
    bound = Z * math.sqrt(n * k * (1 - k))
    assert abs(kept - n * k) <= bound, f"kept {kept} of {n}, expected {n * k:.0f} ± {bound:.0f}"


def torch_dropout(x: torch.Tensor, q: float, seed: int) -> torch.Tensor:
    """nn.Dropout(q) in training mode, drawing from the global stream seeded with ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = nn.Dropout(q)
        layer.train()
        return layer(x)


def inverted_moments(x: float, q: float) -> tuple[float, float, float]:
    """Mean, variance and 4th central moment of x·B/k, B ~ Bernoulli(k)."""
    k = 1 - q
    var = x * x * q / k
    mu4 = k * (x * q / k) ** 4 + q * x**4
    return x, var, mu4


def assert_mean_and_variance(y: torch.Tensor, mean: float, var: float, mu4: float) -> None:
    n = y.numel()
    y64 = y.double()
    m = y64.mean().item()
    assert abs(m - mean) <= Z * math.sqrt(var / n), f"mean {m}, expected {mean}"
    s2 = y64.var(unbiased=True).item()
    assert abs(s2 - var) <= Z * math.sqrt(sample_variance_var(var, mu4, n)), f"variance {s2}, expected {var}"


def sample_variance_var(var: float, mu4: float, n: int) -> float:
    """Exact variance of the unbiased sample variance of n iid draws: (μ4 − σ⁴(n−3)/(n−1))/n."""
    return (mu4 - var * var * (n - 3) / (n - 1)) / n


# --- the registry ----------------------------------------------------------

def test_registry_has_both_bernoulli_conventions():
    assert {"standard", "weight-scaling"} <= set(VARIANTS)
    for key in ("standard", "weight-scaling"):
        layer = make_dropout(key, 0.3)
        assert isinstance(layer, DropoutLayer)
        assert layer.p == pytest.approx(0.3)
        assert layer.keep == pytest.approx(0.7)  # keep = 1 − drop rate, not the other way round
        assert VARIANTS[key].key == key


def test_unknown_variant_is_rejected():
    with pytest.raises(ValueError, match="unknown variant"):
        make_dropout("no-such-variant", 0.5)


# --- standard (inverted) dropout against nn.Dropout ------------------------

@pytest.mark.parametrize("q", RATES)
def test_standard_kept_fraction_is_binomial(q):
    n = 200_000
    x = torch.full((n,), 1.5)
    layer = make_dropout("standard", q, gen(1))
    layer.train()
    layer.record = True
    y = layer(x)
    kept = int(layer.last_mask.sum())
    assert_binomial(kept, n, 1 - q)
    # the recorded mask is exactly the set of non-zero outputs (x has no zeros)
    assert torch.equal(layer.last_mask, y != 0)
    # nn.Dropout with another seed obeys the same law, and the two counts agree
    kept_torch = int((torch_dropout(x, q, seed=2) != 0).sum())
    assert_binomial(kept_torch, n, 1 - q)
    assert abs(kept - kept_torch) <= Z * math.sqrt(2 * n * q * (1 - q))


@pytest.mark.parametrize("q", RATES)
def test_standard_kept_values_are_x_over_k(q):
    k = 1 - q
    x = torch.randn(500, 40, generator=gen(3))
    layer = make_dropout("standard", q, gen(4))
    layer.train()
    layer.record = True
    y = layer(x)
    mask = layer.last_mask
    assert mask.dtype == torch.bool and mask.shape == x.shape
    assert torch.all(y[~mask] == 0)
    # torch (and so this layer) computes x·(1/k): equal to x/k up to one rounding of 1/k
    assert torch.equal(y[mask], x[mask] * (1.0 / k))
    torch.testing.assert_close(y[mask], x[mask] / k, rtol=2.5e-7, atol=0.0)


@pytest.mark.parametrize("q", RATES)
def test_standard_is_bitwise_nn_dropout_under_the_same_seed(q):
    """Same seed, same draws: the layer reproduces nn.Dropout's output exactly (CPU kernel: bernoulli_(k)/k)."""
    x = torch.randn(300, 30, generator=gen(5))
    layer = make_dropout("standard", q, gen(77))
    layer.train()
    assert torch.equal(layer(x), torch_dropout(x, q, seed=77))


@pytest.mark.parametrize("q", RATES)
def test_standard_mean_and_variance_match_theory_and_nn_dropout(q):
    """For constant x: E[y] = x and Var[y] = x²·q/k, for this layer and for nn.Dropout alike."""
    n = 200_000
    x0 = 2.0
    x = torch.full((n,), x0)
    mean, var, mu4 = inverted_moments(x0, q)
    layer = make_dropout("standard", q, gen(6))
    layer.train()
    ours = layer(x)
    theirs = torch_dropout(x, q, seed=8)
    assert_mean_and_variance(ours, mean, var, mu4)
    assert_mean_and_variance(theirs, mean, var, mu4)
    # and directly against each other: the difference of two independent sample variances
    se = math.sqrt(2 * sample_variance_var(var, mu4, n))
    assert abs(ours.double().var().item() - theirs.double().var().item()) <= Z * se


def test_standard_preserves_the_expected_batch_mean_for_varied_inputs():
    """mean(y) − mean(x) has variance Σ x_i² q/k / n² over the masks; check it within 5 sigma."""
    q, k = 0.5, 0.5
    x = torch.randn(100_000, generator=gen(9)).double() * 3 + 1
    layer = make_dropout("standard", q, gen(10))
    layer.train()
    y = layer(x)
    n = x.numel()
    sd = math.sqrt((x * x).sum().item() * q / k) / n
    assert abs(y.mean().item() - x.mean().item()) <= Z * sd


@pytest.mark.parametrize("q", (0.0, *RATES))
def test_standard_is_identity_in_eval_mode(q):
    x = torch.randn(64, 16, generator=gen(11))
    layer = make_dropout("standard", q, gen(12))
    layer.eval()
    y = layer(x)
    assert torch.equal(y, x)
    ref = nn.Dropout(q)
    ref.eval()
    assert torch.equal(ref(x), y)


@pytest.mark.parametrize("key", ("standard", "weight-scaling"))
def test_inference_passes_leave_the_last_training_record_alone(key):
    """``record`` captures training passes only, so an evaluation or a boundary map cannot hide a step's mask."""
    layer = make_dropout(key, 0.5, gen(12))
    layer.record = True
    layer.train()
    x = torch.randn(8, 6, generator=gen(13))
    layer(x)
    mask, seen = layer.last_mask, layer.last_input
    layer.eval()
    layer(torch.randn(3, 6))
    assert layer.last_mask is mask and layer.last_input is seen


def test_standard_gradient_flows_only_through_kept_units_scaled_by_1_over_k():
    q = 0.3
    x = torch.randn(200, 20, generator=gen(13), requires_grad=True)
    layer = make_dropout("standard", q, gen(14))
    layer.train()
    layer.record = True
    layer(x).sum().backward()
    mask = layer.last_mask
    assert torch.all(x.grad[~mask] == 0)
    torch.testing.assert_close(x.grad[mask], torch.full_like(x.grad[mask], 1 / (1 - q)))
    # same as nn.Dropout's gradient under the same seed
    x2 = x.detach().clone().requires_grad_(True)
    torch_dropout(x2, q, seed=14).sum().backward()
    assert torch.equal(x2.grad, x.grad)


# --- masks: fresh per example and per step, reproducible per seed ------------

@pytest.mark.parametrize("key", ("standard", "weight-scaling"))
def test_masks_are_fresh_per_example_and_per_call(key):
    x = torch.ones(64, 100)
    layer = make_dropout(key, 0.5, gen(15))
    layer.train()
    layer.record = True
    layer(x)
    first = layer.last_mask.clone()
    # per example: rows are not one broadcast mask
    assert not all(torch.equal(first[0], row) for row in first[1:])
    layer(x)
    assert not torch.equal(first, layer.last_mask)  # per call (per step)


@pytest.mark.parametrize("key", ("standard", "weight-scaling"))
def test_masks_are_reproducible_by_generator_seed(key):
    x = torch.randn(32, 50, generator=gen(16))
    outs = []
    for seed in (21, 21, 22):
        layer = make_dropout(key, 0.4, gen(seed))
        layer.train()
        outs.append(layer(x))
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])


@pytest.mark.parametrize("key", ("standard", "weight-scaling"))
def test_record_off_keeps_nothing(key):
    layer = make_dropout(key, 0.5, gen(17))
    layer.train()
    layer(torch.randn(4, 3))
    assert layer.last_mask is None and layer.last_input is None


@pytest.mark.parametrize("key", ("standard", "weight-scaling"))
def test_rate_change_takes_effect_on_the_next_call(key):
    n = 100_000
    layer = make_dropout(key, 0.5, gen(18))
    layer.train()
    layer.record = True
    layer.p = 0.1
    layer(torch.ones(n))
    assert_binomial(int(layer.last_mask.sum()), n, 0.9)


# --- rate 0 ----------------------------------------------------------------

@pytest.mark.parametrize("key", ("standard", "weight-scaling"))
def test_rate_zero_is_identity_in_training_and_records_all_true(key):
    x = torch.randn(50, 7, generator=gen(19))
    layer = make_dropout(key, 0.0, gen(20))
    layer.train()
    layer.record = True
    y = layer(x)
    assert torch.equal(y, x)
    assert layer.last_mask.dtype == torch.bool and layer.last_mask.shape == x.shape
    assert layer.last_mask.all()
    assert torch.equal(layer.last_input, x)
    layer.eval()
    assert torch.equal(layer(x), x)


# --- weight scaling (the original paper's convention) ----------------------

@pytest.mark.parametrize("q", RATES)
def test_weight_scaling_trains_unscaled_and_scales_by_k_at_inference(q):
    k = 1 - q
    n = 200_000
    x0 = 2.0
    x = torch.full((n,), x0)
    layer = make_dropout("weight-scaling", q, gen(23))
    layer.train()
    layer.record = True
    y = layer(x)
    mask = layer.last_mask
    assert_binomial(int(mask.sum()), n, k)
    assert torch.all(y[mask] == x0) and torch.all(y[~mask] == 0)  # no rescaling in training
    # E[training output] = k·x = the inference output (both conventions keep E unchanged)
    layer.eval()
    x_small = torch.randn(10, 5, generator=gen(24))
    torch.testing.assert_close(layer(x_small), x_small * k)
    sd = math.sqrt(x0 * x0 * k * q / n)
    assert abs(y.double().mean().item() - k * x0) <= Z * sd


def test_both_conventions_draw_identical_masks_from_the_same_seed():
    x = torch.randn(128, 33, generator=gen(25)) + 3  # no zeros
    masks = []
    for key in ("standard", "weight-scaling"):
        layer = make_dropout(key, 0.35, gen(26))
        layer.train()
        layer.record = True
        layer(x)
        masks.append(layer.last_mask)
    assert torch.equal(*masks)


def _reparametrise_as_weight_scaling(m_std: MLP, m_ws: MLP) -> None:
    """W' = W/k for every Linear that follows a dropout layer (biases unchanged).

    inverted: y = W(m⊙h)/k + b in training, W h + b at test;
    weight scaling: y = W'(m⊙h) + b in training, W'(k·h) + b at test;
    so W' = W/k gives the same function in both modes.
    """
    modules = list(m_ws.net)
    scaled = 0
    with torch.no_grad():
        for i, mod in enumerate(modules):
            if isinstance(mod, nn.Linear):
                before = modules[i - 1]
                assert isinstance(before, DropoutLayer), "every Linear follows a dropout layer in this MLP"
                mod.weight.copy_(list(m_std.net)[i].weight / before.keep)
                mod.bias.copy_(list(m_std.net)[i].bias)
                scaled += 1
    assert scaled == len(m_ws.linears)


@pytest.mark.parametrize("activation", ("relu", "tanh"))
def test_weight_scaling_and_inverted_are_the_same_network(activation):
    cfg = MLPConfig(n_in=5, hidden=(32, 16), n_out=3, activation=activation, p=0.5, input_p=0.2,
                    variant="standard", seed=4)
    m_std = MLP(cfg)
    m_ws = MLP(replace(cfg, variant="weight-scaling"))
    for a, b in zip(m_std.parameters(), m_ws.parameters()):
        assert torch.equal(a, b)  # same seed, same initial weights
    x = torch.randn(256, 5, generator=gen(27))

    # without the reparametrisation the test networks differ (the test has teeth)
    m_std.eval()
    m_ws.eval()
    assert not torch.allclose(m_std(x), m_ws(x), atol=1e-3)

    _reparametrise_as_weight_scaling(m_std, m_ws)
    with torch.no_grad():
        # inference
        torch.testing.assert_close(m_ws(x), m_std(x), rtol=1e-5, atol=1e-5)
        # training: both draw bernoulli_ on the same shapes from generators with the same seed
        m_std.train()
        m_ws.train()
        m_std.capture(True)
        m_ws.capture(True)
        for _ in range(3):  # the streams stay in step over several passes
            y_std, y_ws = m_std(x), m_ws(x)
            t_std, t_ws = m_std.last_trace(), m_ws.last_trace()
            assert torch.equal(t_std.input_mask, t_ws.input_mask)
            for ls, lw in zip(t_std.layers, t_ws.layers):
                assert torch.equal(ls.mask, lw.mask)
            assert not t_std.input_mask.all()  # something was actually dropped
            torch.testing.assert_close(y_ws, y_std, rtol=1e-5, atol=1e-5)


def test_rate_one_drops_everything_like_nn_dropout():
    x = torch.randn(16, 8, generator=gen(3))
    for key in ("standard", "weight-scaling"):
        y = make_dropout(key, 1.0, gen(0)).train()(x)
        assert torch.equal(y, torch.zeros_like(x)) and not torch.isnan(y).any()
    assert torch.equal(nn.Dropout(1.0).train()(x), torch.zeros_like(x))
