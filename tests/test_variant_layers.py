"""The newer variants against their definitions (docs/dropout.md): uniform, dropconnect, standout,
multisample, concrete, dropblock. Statistical checks use fixed seeds and 5-sigma bounds."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer.dropout import make_dropout
from explorer.dropout.concrete import ConcreteDropout
from explorer.dropout.dropblock import DropBlock, grow_blocks, seed_rate
from explorer.dropout.dropconnect import INFERENCE_SAMPLES, BatchDropConnectLinear, DropConnectLinear
from explorer.dropout.multisample import MultiSampleHead
from explorer.dropout.standout import Standout
from explorer.core.model import MLP, MLPConfig
from tests.test_dropout import RATES, Z, assert_binomial, assert_mean_and_variance, gen

N = 400_000


def linear(fan_in: int, fan_out: int, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(fan_in, fan_out)


# --- uniform ------------------------------------------------------------------------

@pytest.mark.parametrize("q", RATES)
def test_uniform_keeps_the_mean_and_has_variance_q_over_k(q):
    """y = x(1 + r), r ~ U(−β, β), β² = min(1, 3q/k): E[y] = x, Var[y] = x²β²/3 (x²q/k up to q = 0.25),
    μ4 = x⁴β⁴/5."""
    x, beta2 = 1.3, min(1.0, 3 * q / (1 - q))
    layer = make_dropout("uniform", q, gen(1)).train()
    y = layer(torch.full((N,), x))
    assert_mean_and_variance(y, x, x * x * beta2 / 3, x**4 * beta2**2 / 5)
    beta = math.sqrt(beta2)
    assert y.min() >= x * (1 - beta) - 1e-5 and y.max() <= x * (1 + beta) + 1e-5
    assert layer.expected_kept == 1.0
    assert torch.equal(layer.eval()(y[:100]), y[:100])


# --- dropconnect ----------------------------------------------------------------------

def _trained_once(kind: type[DropConnectLinear]) -> tuple[nn.Linear, DropConnectLinear, torch.Tensor, torch.Tensor]:
    """A 5→4 ReLU layer of ``kind`` at q = 0.4 (generator seed 0), recording, after one training pass of 6 examples."""
    lin = linear(5, 4)
    layer = kind(0.4, gen(0), lin, nn.ReLU()).train()
    layer.record = True
    v = torch.randn(6, 5)
    return lin, layer, v, layer(v)


def test_dropconnect_forward_is_the_explicit_per_example_computation():
    lin, layer, v, out = _trained_once(DropConnectLinear)
    masks = layer.last_mask.float()
    assert masks.shape == (6, 4, 5)
    assert not torch.equal(masks[0], masks[1])  # a fresh mask per example
    # the bias mask is drawn after the weight mask from the same stream: replay both
    g = gen(0)
    weight_masks = torch.empty(6, 4, 5).bernoulli_(0.6, generator=g)
    bias_masks = torch.empty(6, 4).bernoulli_(0.6, generator=g)
    assert torch.equal(weight_masks, masks)
    for n in range(6):
        expected = torch.relu((masks[n] * lin.weight) @ v[n] + bias_masks[n] * lin.bias)
        torch.testing.assert_close(out[n], expected)


def test_dropconnect_per_batch_is_one_mask_for_every_example_of_the_batch():
    lin, layer, v, out = _trained_once(BatchDropConnectLinear)
    g = gen(0)  # the weight mask, then the bias mask, from the layer's stream: uniform draws below k
    mask, bias_mask = (torch.rand(4, 5, generator=g) < 0.6).float(), (torch.rand(4, generator=g) < 0.6).float()
    torch.testing.assert_close(out, torch.relu(v @ (mask * lin.weight).T + bias_mask * lin.bias))
    assert layer.last_mask.shape == (6, 4, 5) and all(torch.equal(m, mask > 0) for m in layer.last_mask)
    layer.eval()
    exact = DropConnectLinear(0.4, gen(0), lin, nn.ReLU()).eval()
    torch.testing.assert_close(layer(v), exact(v))  # the same inference


@pytest.mark.parametrize("q", RATES)
def test_dropconnect_per_batch_keeps_each_weight_with_probability_k(q):
    layer = BatchDropConnectLinear(q, gen(3), linear(50, 40), None).train()
    layer.record = True
    layer(torch.randn(100, 50))
    assert_binomial(int(layer.last_mask[0].sum()), layer.last_mask[0].numel(), 1 - q)


@pytest.mark.parametrize("q", RATES)
def test_dropconnect_keeps_each_weight_with_probability_k(q):
    layer = DropConnectLinear(q, gen(3), linear(50, 40), None).train()
    layer.record = True
    layer(torch.randn(100, 50))
    assert_binomial(int(layer.last_mask.sum()), layer.last_mask.numel(), 1 - q)


@pytest.mark.parametrize("activation, inference_draws", [(nn.ReLU(), 0), (nn.Tanh(), INFERENCE_SAMPLES)])
def test_dropconnect_inference_is_close_to_monte_carlo_averaging(activation, inference_draws):
    """Moment matching ≈ the mean of a(u) over many masked networks (Wan et al. §3.2).

    Allowed: Z standard errors of both Monte-Carlo means (ours, and the layer's own
    draws where it samples), plus 3% of the typical activation for the Gaussian
    approximation of a sum of 40 masked terms.
    """
    lin = linear(40, 6, seed=1)
    layer = DropConnectLinear(0.5, gen(4), lin, activation)
    v = torch.randn(3, 40)
    with torch.no_grad():
        matched = layer.eval()(v)
        layer.train()
        draws = torch.stack([layer(v) for _ in range(20_000)])
    mc, spread = draws.mean(0), draws.std(0)
    err = spread * math.sqrt(1 / len(draws) + (1 / inference_draws if inference_draws else 0))
    assert ((matched - mc).abs() <= Z * err + 0.03 * mc.abs().mean()).all()


def test_dropconnect_without_activation_infers_the_exact_mean():
    lin = linear(7, 3)
    layer = DropConnectLinear(0.3, gen(0), lin, None).eval()
    v = torch.randn(4, 7)
    torch.testing.assert_close(layer(v), 0.7 * lin(v))


@pytest.mark.parametrize("train", [True, False])
def test_dropconnect_mlp_masks_hidden_weights_only_and_keeps_the_softmax_layer_deterministic(train):
    """Wan et al. 2013: DropConnect on the hidden layers; the output layer is a plain Linear in training and
    inference alike, so the logits are exactly that layer applied to the last hidden layer's output."""
    model = MLP(MLPConfig(n_in=5, hidden=(8, 6), n_out=3, p=0.4, input_p=0.2, variant="dropconnect"))
    first, *hidden = model.dropouts
    assert type(first) is type(make_dropout("standard", 0.2)) and first.p == 0.2
    assert [type(d) for d in hidden] == [DropConnectLinear] * 2 and [d.p for d in hidden] == [0.4, 0.4]
    out = model.net[-1]
    assert type(out) is nn.Linear and out is model.linears[-1]
    seen = {}
    model.net[-2].register_forward_hook(lambda module, args, result: seen.update(h=result))
    logits = model.train(train)(torch.randn(16, 5, generator=gen(1)))
    torch.testing.assert_close(logits, seen["h"] @ out.weight.T + out.bias)


def test_dropconnect_gradients_reach_the_weights():
    lin = linear(5, 3)
    DropConnectLinear(0.5, gen(0), lin, nn.Tanh()).train()(torch.randn(8, 5)).sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


# --- standout ----------------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_standout_keeps_each_unit_with_sigmoid_of_its_input(alpha):
    q = 0.4
    z = torch.tensor([-2.0, -0.5, 0.0, 0.7, 1.5])
    layer = Standout(q, gen(5), nn.ReLU(), alpha=alpha).train()
    layer.record = True
    layer(z.repeat(20_000, 1))
    kept = layer.last_mask.sum(0)
    pi = torch.sigmoid(alpha * z + math.log((1 - q) / q))
    for j in range(len(z)):
        assert_binomial(int(kept[j]), 20_000, float(pi[j]))
    assert float(pi[2]) == pytest.approx(1 - q)  # an undriven unit is kept with probability k


def test_standout_output_and_inference():
    z = torch.randn(64, 10)
    layer = Standout(0.5, gen(0), nn.ReLU(), alpha=1.0).train()
    layer.record = True
    out = layer(z)
    torch.testing.assert_close(out, layer.last_mask.float() * torch.relu(z))  # unscaled survivors
    pi = torch.sigmoid(z)  # β = logit(0.5) = 0
    torch.testing.assert_close(layer.eval()(z), pi * torch.relu(z))
    assert torch.equal(Standout(0.0, gen(0), nn.ReLU()).train()(z), torch.relu(z))


# --- multisample -------------------------------------------------------------------------

def test_multisample_head_stacks_samples_with_different_masks_and_is_the_linear_at_inference():
    lin = linear(6, 3)
    head = MultiSampleHead(make_dropout("standard", 0.5, gen(0)), lin, samples=4).train()
    h = torch.randn(5, 6)
    out = head(h)
    assert out.shape == (20, 3)
    assert not torch.allclose(out[:5], out[5:10])  # two samples, two masks
    torch.testing.assert_close(head.eval()(h), lin(h))
    y = torch.randint(0, 3, (5,))
    per_sample = torch.stack([F.cross_entropy(out[i * 5:(i + 1) * 5], y) for i in range(4)])
    torch.testing.assert_close(F.cross_entropy(out, y.repeat(4)), per_sample.mean())


# --- concrete ------------------------------------------------------------------------------

def test_concrete_rate_is_learned_and_stays_in_the_unit_interval():
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    y = (x[:, 0] * x[:, 1] > 0).long()
    first, second = nn.Linear(4, 32), nn.Linear(32, 2)
    drop = ConcreteDropout(0.2, gen(0))
    params = [*first.parameters(), *second.parameters(), drop.p_logit]
    opt = torch.optim.Adam(params, lr=0.05)
    drop.train()
    for _ in range(150):
        opt.zero_grad()
        loss = F.cross_entropy(second(drop(torch.relu(first(x)))), y) + drop.regularization(second, len(x))
        loss.backward()
        opt.step()
        assert 0.0 < drop.p < 1.0
    assert abs(drop.p - 0.2) > 0.01  # it moved


def test_concrete_rate_zero_is_off_and_the_setter_round_trips():
    drop = ConcreteDropout(0.0, gen(0)).train()
    x = torch.randn(10, 3)
    assert torch.equal(drop(x), x) and drop.p == 0.0
    assert float(drop.regularization(nn.Linear(3, 2), 100)) == 0.0
    drop.p = 0.35
    assert drop.p == pytest.approx(0.35) and not drop.off


def test_concrete_relaxed_mask_keeps_about_k_and_the_mean():
    q = 0.3
    drop = ConcreteDropout(q, gen(2)).train()
    drop.record = True
    y = drop(torch.ones(N))
    assert_binomial(int(drop.last_mask.sum()), N, 1 - q)  # z < 0.5 ⇔ logit q + logit u < 0 ⇔ u < k: exact
    # the relaxed mask is not exactly {0, 1}: its mean is close to, not equal to, k; allow 1%
    assert float(y.detach().mean()) == pytest.approx(1.0, abs=0.01)


# --- dropblock --------------------------------------------------------------------------------

def test_dropblock_grows_a_seed_into_a_square_of_the_block_size():
    seeds = torch.zeros(1, 1, 10 - 3 + 1, 10 - 3 + 1)
    seeds[0, 0, 2, 4] = 1.0  # a block whose top-left corner is (2, 4) in the 10×10 map
    blocks = grow_blocks(seeds, 3)[0, 0]
    assert blocks.shape == (10, 10)
    assert blocks.sum() == 9 and torch.equal(blocks[2:5, 4:7], torch.ones(3, 3))


@pytest.mark.parametrize("q, b", [(0.1, 3), (0.3, 3), (0.2, 5)])
def test_dropblock_drops_the_expected_fraction(q, b):
    """P(unit dropped) = 1 − (1−γ)^c, c the number of seed positions whose block covers the unit."""
    h = w = 14
    gamma = seed_rate(q, b, h, w)
    cover = grow_blocks(torch.ones(1, 1, h - b + 1, w - b + 1), b)  # only marks coverage; count it instead:
    counts = F.conv2d(F.pad(torch.ones(1, 1, h - b + 1, w - b + 1), [b - 1] * 4), torch.ones(1, 1, b, b))[0, 0]
    assert counts.shape == (h, w) and bool((cover[0, 0] > 0).all())
    expected = float((1 - (1 - gamma) ** counts).mean())
    layer = DropBlock(q, gen(6), block_size=b).train()
    layer.record = True
    layer(torch.ones(2000, 4, h, w))
    dropped = int((~layer.last_mask).sum())
    n = layer.last_mask.numel()
    # units of one block are dependent: bound with the variance of whole blocks (b² units each) to stay honest
    bound = Z * math.sqrt(n * expected * (1 - expected) * b * b)
    assert abs(dropped - n * expected) <= bound, (dropped / n, expected)


def test_dropblock_rescales_to_keep_the_mean_and_is_the_identity_at_inference():
    layer = DropBlock(0.3, gen(1), block_size=3).train()
    x = torch.ones(8, 4, 14, 14)
    assert float(layer(x).mean()) == pytest.approx(1.0, abs=1e-4)
    assert torch.equal(layer.eval()(x), x)
    with pytest.raises(ValueError, match="odd"):
        DropBlock(0.3, block_size=4)
