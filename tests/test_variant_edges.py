"""The newer variants' edges and finer laws, beyond test_variant_layers.py: uniform noise on varied input,
rates 0 and 1, standout's α, the exact moments of concrete's relaxed mask and its learned rate's plumbing,
dropblock's blocks seen through the layer, multisample's row order, and for every variant a finite backward
pass and a deterministic evaluation. Fixed seeds; statistical bounds are 5 sigma (Z), as in test_dropout."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer.dropout import make_dropout
from explorer.dropout.concrete import LENGTH_SCALE, TEMPERATURE, ConcreteDropout
from explorer.dropout.dropblock import DropBlock, grow_blocks
from explorer.dropout.dropconnect import DropConnectLinear
from explorer.dropout.multisample import MultiSampleHead
from explorer.dropout.standout import Standout
from tests.test_dropout import RATES, Z, assert_binomial, assert_mean_and_variance, gen
from tests.test_variant_layers import linear

N = 400_000


# --- uniform --------------------------------------------------------------------------

@pytest.mark.parametrize("q", RATES)
def test_uniform_on_standard_normal_input_adds_noise_of_variance_q_over_k_times_x_squared(q):
    """d = y − x = x·r: E[d] = 0 (the mean is kept), Var[d] = E[x²]·β²/3, μ4 = E[x⁴]E[r⁴] = 3·β⁴/5; β² = 3q/k
    (variance q/k, dropout's) up to q = 0.25, then 1."""
    beta2 = min(1.0, 3 * q / (1 - q))
    x = torch.randn(N, generator=gen(1))
    layer = make_dropout("uniform", q, gen(2)).train()
    layer.record = True
    d = layer(x) - x
    assert_mean_and_variance(d, 0.0, beta2 / 3, 3 * beta2**2 / 5)
    beta = math.sqrt(beta2)
    assert layer.last_mask.all()
    assert layer.last_noise.min() >= 1 - beta and layer.last_noise.max() <= 1 + beta


@pytest.mark.parametrize("q, beta", [(0.0, 0.0), (0.1, math.sqrt(0.3 / 0.9)), (0.25, 1.0), (0.5, 1.0), (1.0, 1.0)])
def test_uniform_beta_matches_dropouts_variance_up_to_a_quarter_then_stays_at_one(q, beta):
    assert make_dropout("uniform", q, gen(0)).beta == pytest.approx(beta)


@pytest.mark.parametrize("q", [0.5, 0.9, 1.0])
def test_uniform_never_turns_a_units_sign_at_high_rates(q):
    layer = make_dropout("uniform", q, gen(3)).train()
    layer.record = True
    layer(torch.ones(N))
    assert layer.last_noise.min() >= 0.0 and layer.last_noise.max() <= 2.0
    assert layer.last_noise.min() < 0.01 and layer.last_noise.max() > 1.99  # the whole of [0, 2] is used


# --- dropconnect ------------------------------------------------------------------------

def test_dropconnect_at_rate_zero_is_the_plain_layer_and_records_only_when_asked():
    lin = linear(5, 4)
    layer = DropConnectLinear(0.0, gen(0), lin, nn.ReLU()).train()
    v = torch.randn(6, 5, generator=gen(1))
    assert torch.equal(layer(v), torch.relu(lin(v)))
    assert layer.last_mask is None
    layer.record = True
    layer(v)
    assert layer.last_mask.shape == (6, 4, 5) and bool(layer.last_mask.all())
    assert torch.equal(layer.eval()(v), torch.relu(lin(v)))


@pytest.mark.parametrize("activation", [nn.Tanh(), nn.Sigmoid(), nn.SELU()])
def test_dropconnect_evaluation_is_deterministic_batch_free_and_leaves_the_training_stream_alone(activation):
    noise = gen(2)
    layer = DropConnectLinear(0.5, noise, linear(20, 8), activation).eval()
    v = torch.randn(30, 20, generator=gen(3))
    state = noise.get_state()
    with torch.no_grad():
        whole = layer(v)
        assert torch.equal(whole, layer(v))
        torch.testing.assert_close(layer(v[7:9]), whole[7:9], rtol=0.0, atol=1e-6)  # its batch does not matter
    assert torch.equal(noise.get_state(), state)


@pytest.mark.parametrize("activation", [nn.ReLU(), nn.Tanh()])
def test_dropconnect_inference_has_finite_gradients_where_no_input_reaches_a_unit(activation):
    lin = linear(4, 3)
    with torch.no_grad():
        lin.bias.zero_()
    layer = DropConnectLinear(0.5, gen(0), lin, activation).eval()
    v = torch.zeros(2, 4, requires_grad=True)  # variance 0: σ = √0 would have an infinite gradient
    layer(v).sum().backward()
    assert torch.isfinite(lin.weight.grad).all() and torch.isfinite(v.grad).all()


# --- standout -------------------------------------------------------------------------------

def test_standout_at_rate_one_drops_everything_without_nan():
    z = torch.randn(50, 6, generator=gen(4), requires_grad=True)
    layer = Standout(1.0, gen(5), nn.Tanh())
    out = layer.train()(z)
    assert torch.equal(out, torch.zeros_like(out))
    out.sum().backward()
    assert torch.isfinite(z.grad).all()
    assert torch.equal(layer.eval()(z), torch.zeros_like(out))


def test_standout_alpha_is_read_at_every_call():
    """α = 0: the keep probability no longer follows the input, every unit is kept with probability k."""
    q = 0.3
    layer = Standout(q, gen(6), nn.ReLU(), alpha=3.0).train()
    layer.record = True
    z = torch.linspace(-3, 3, 50).repeat(4000, 1)
    layer(z)
    assert layer.last_mask[:, 0].float().mean() < 0.1  # strongly driven apart at α = 3
    layer.alpha = 0.0
    layer(z)
    assert_binomial(int(layer.last_mask.sum()), layer.last_mask.numel(), 1 - q)


def test_standout_at_rate_zero_records_the_activation_and_keeps_every_unit():
    z = torch.randn(10, 4, generator=gen(7))
    layer = Standout(0.0, gen(8), nn.Tanh()).train()
    layer.record = True
    assert torch.equal(layer(z), torch.tanh(z))
    assert torch.equal(layer.last_input, torch.tanh(z)) and bool(layer.last_mask.all())
    assert torch.equal(layer.eval()(z), torch.tanh(z))


# --- concrete ---------------------------------------------------------------------------------

def concrete_noise_moments(q: float) -> tuple[float, float, float]:
    """Mean, variance and 4th central moment of (1 − z)/(1 − q) over u ~ U(0, 1), by the midpoint rule."""
    u = (torch.arange(2_000_000, dtype=torch.float64) + 0.5) / 2_000_000
    z = torch.sigmoid((math.log(q / (1 - q)) + u.log() - (1 - u).log()) / TEMPERATURE)
    noise = (1 - z) / (1 - q)
    mean = float(noise.mean())
    return mean, float((noise - mean).pow(2).mean()), float((noise - mean).pow(4).mean())


@pytest.mark.parametrize("q", RATES)
def test_concrete_noise_has_the_moments_of_the_relaxed_mask(q):
    """The relaxed mask is not Bernoulli: its mean is a little off k; test the moments it truly has."""
    drop = ConcreteDropout(q, gen(9)).train()
    with torch.no_grad():
        y = drop(torch.ones(N))
    assert_mean_and_variance(y, *concrete_noise_moments(q))


def test_concrete_rate_is_a_network_parameter_with_a_gradient_unless_off():
    torch.manual_seed(0)
    on, off = ConcreteDropout(0.3, gen(10)), ConcreteDropout(0.0, gen(11))
    net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), on, nn.Linear(8, 4), nn.ReLU(), off, nn.Linear(4, 2))
    assert any(p is on.p_logit for p in net.parameters())
    x = torch.randn(16, 3, generator=gen(12))
    loss = net(x).square().mean() + on.regularization(net[3], 100) + off.regularization(net[6], 100)
    loss.backward()
    assert on.p_logit.grad is not None and torch.isfinite(on.p_logit.grad) and on.p_logit.grad != 0
    assert off.p_logit.grad is None
    torch.optim.Adam(net.parameters(), lr=0.1).step()
    assert off.p == 0.0 and on.p != pytest.approx(0.3, abs=1e-3)


@pytest.mark.parametrize("q, n, length_scale", [(0.2, 50, LENGTH_SCALE), (0.6, 4000, LENGTH_SCALE), (0.2, 50, 1.0)])
def test_concrete_regularization_is_the_elbos_kl_term_per_example(q, n, length_scale, monkeypatch):
    """KL(q(ω) ‖ p(ω)) / N for the mean cross-entropy: the masked weights M (unscaled dropout's, M = W/(1−q) for
    inverted dropout's W) have prior N(0, 1/l²) and KL l²(1−q)/2·‖M‖² − K·H(q); the unmasked bias l²/2·‖b‖²."""
    monkeypatch.setattr("explorer.dropout.concrete.LENGTH_SCALE", length_scale)
    nxt = linear(6, 2)
    drop = ConcreteDropout(q, gen(0))
    k = 1.0 - q
    masked = nxt.weight.double().detach() / k
    entropy = -(q * math.log(q) + k * math.log(k))
    kl = length_scale**2 * k / 2 * float(masked.pow(2).sum()) + length_scale**2 / 2 * float(
        nxt.bias.double().detach().pow(2).sum()) - 6 * entropy
    assert float(drop.regularization(nxt, n).detach()) == pytest.approx(kl / n, rel=1e-5)


def test_concrete_prior_alone_pulls_the_rate_to_one_half():
    nxt = linear(6, 2)
    drop = ConcreteDropout(0.2, gen(0))
    n = 50
    with torch.no_grad():
        nxt.weight.zero_()
        nxt.bias.zero_()
    for start in (0.2, 0.8):  # no data term: the entropy term alone, maximal at q = 1/2
        drop.p = start
        drop.regularization(nxt, n).backward()
        assert math.copysign(1.0, -float(drop.p_logit.grad)) == math.copysign(1.0, 0.5 - start)
        drop.p_logit.grad = None


def test_concrete_can_be_switched_off_and_on_again():
    drop = ConcreteDropout(0.3, gen(13)).train()
    x = torch.randn(20, 5, generator=gen(14))
    drop.p = 0.0
    assert drop.off and drop.p == 0.0 and torch.equal(drop(x), x)
    drop.p = 0.3
    assert not drop.off and drop.p == pytest.approx(0.3) and not torch.equal(drop(x), x)


# --- dropblock ------------------------------------------------------------------------------------

def block_corners(dropped: torch.Tensor, b: int) -> torch.Tensor:
    """(N, C, H−b+1, W−b+1): 1 where the b×b window with that top-left corner is dropped entirely."""
    n, c, h, w = dropped.shape
    counts = F.conv2d(dropped.reshape(n * c, 1, h, w), torch.ones(1, 1, b, b))
    return (counts == b * b).float().reshape(n, c, h - b + 1, w - b + 1)


@pytest.mark.parametrize("q, block_size, size, b", [(0.1, 3, 12, 3), (0.3, 5, 12, 5), (0.2, 5, 4, 3)])
def test_dropblock_drops_unions_of_whole_blocks_inside_the_map(q, block_size, size, b):
    """Every dropped unit lies in a dropped b×b window; b shrinks to the largest odd side that fits."""
    layer = DropBlock(q, gen(15), block_size=block_size).train()
    layer.record = True
    layer(torch.ones(200, 3, size, size))
    dropped = (~layer.last_mask).float()
    assert dropped.sum() > 0
    assert torch.equal(grow_blocks(block_corners(dropped, b), b), dropped)
    assert not torch.equal(dropped[:, 0], dropped[:, 1])  # a fresh draw per channel


@pytest.mark.parametrize("corner", [(0, 0), (4, 4)])
def test_dropblock_grows_one_forced_seed_into_one_block_in_the_corner(monkeypatch, corner):
    """A seed at the first or the last position of the (H−b+1)² grid drops the corner b×b square, unclipped."""
    def one_seed(seeds: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
        seeds.zero_()[(0, 0, *corner)] = 1.0
        return seeds

    monkeypatch.setattr(torch.Tensor, "bernoulli_", one_seed)
    layer = DropBlock(0.2, gen(0), block_size=3).train()
    layer.record = True
    out = layer(torch.ones(1, 1, 7, 7))
    expected = torch.ones(7, 7, dtype=torch.bool)
    expected[corner[0]:corner[0] + 3, corner[1]:corner[1] + 3] = False
    assert torch.equal(layer.last_mask[0, 0], expected)
    torch.testing.assert_close(out[0, 0], expected.float() * 49 / 40)


def test_dropblock_with_one_unit_blocks_is_bernoulli_dropout():
    """On 2×2 maps b becomes 1: γ = q, each unit its own seed, the kept count Binomial(n, k)."""
    q = 0.3
    layer = DropBlock(q, gen(16), block_size=3).train()
    layer.record = True
    layer(torch.ones(50_000, 2, 2, 2))
    assert_binomial(int(layer.last_mask.sum()), layer.last_mask.numel(), 1 - q)


def test_dropblock_rescales_by_the_kept_share_and_handles_rate_zero_and_a_whole_map_block():
    x = torch.randn(4, 3, 9, 9, generator=gen(17))
    layer = DropBlock(0.4, gen(18), block_size=3).train()
    layer.record = True
    y = layer(x)
    keep = layer.last_mask.float()
    torch.testing.assert_close(layer.last_noise, keep * keep.numel() / keep.sum())
    torch.testing.assert_close(y, x * layer.last_noise)
    layer.p = 0.0
    assert torch.equal(layer(x), x) and layer.last_mask.shape == x.shape and bool(layer.last_mask.all())
    whole = DropBlock(1.0, gen(19), block_size=9).train()  # one block position, dropped with γ = q = 1
    y = whole(x)
    assert torch.equal(y, torch.zeros_like(x)) and not torch.isnan(y).any()
    with pytest.raises(ValueError, match="feature maps"):
        layer(torch.ones(4, 9))


# --- multisample ----------------------------------------------------------------------------------

def test_multisample_rows_are_sample_major_and_the_sample_count_is_read_at_every_call():
    lin = linear(6, 3)
    dropout = make_dropout("standard", 0.5, gen(19))
    dropout.record = True
    head = MultiSampleHead(dropout, lin, samples=3).train()
    h = torch.randn(4, 6, generator=gen(20))
    out = head(h)
    for m in range(3):
        for n in range(4):  # row m·N + n: example n under sample m's mask
            torch.testing.assert_close(out[m * 4 + n], lin(h[n] * dropout.last_noise[m * 4 + n]))
    head.samples = 5
    assert head(h).shape == (20, 3)


# --- every variant ----------------------------------------------------------------------------------

LAYERS = {
    "uniform": (lambda: make_dropout("uniform", 0.3, gen(21)), (8, 5)),
    "dropconnect-relu": (lambda: DropConnectLinear(0.3, gen(22), linear(5, 4), nn.ReLU()), (8, 5)),
    "dropconnect-tanh": (lambda: DropConnectLinear(0.3, gen(22), linear(5, 4), nn.Tanh()), (8, 5)),
    "dropconnect-output": (lambda: DropConnectLinear(0.3, gen(22), linear(5, 4), None), (8, 5)),
    "standout": (lambda: Standout(0.3, gen(23), nn.ReLU()), (8, 5)),
    "concrete": (lambda: ConcreteDropout(0.3, gen(24)), (8, 5)),
    "dropblock": (lambda: DropBlock(0.3, gen(25), block_size=3), (2, 3, 8, 8)),
    "multisample": (lambda: MultiSampleHead(make_dropout("standard", 0.3, gen(26)), linear(5, 3), 4), (8, 5)),
}


@pytest.mark.parametrize("key", LAYERS)
def test_training_backward_is_finite_and_evaluation_is_deterministic(key):
    build, shape = LAYERS[key]
    layer = build().train()
    x = torch.randn(*shape, generator=gen(27), requires_grad=True)
    layer(x).square().sum().backward()
    grads = [x.grad, *(p.grad for p in layer.parameters())]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    layer.eval()
    with torch.no_grad():
        assert torch.equal(layer(x), layer(x))
