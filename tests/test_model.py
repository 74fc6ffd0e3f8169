"""The MLP against a forward pass written out with plain torch ops, and its capture/trace API."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from explorer.core.model import MLP, MLPConfig

Z = 5.0
ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_binomial(kept: int, n: int, k: float) -> None:
    bound = Z * math.sqrt(n * k * (1 - k))
    assert abs(kept - n * k) <= bound, f"kept {kept} of {n}, expected {n * k:.0f} ± {bound:.0f}"


def manual_forward(model: MLP, x: torch.Tensor, masks: list[torch.Tensor] | None = None):
    """The network written out by hand: masks=None is inference, else training with these keep-masks.

    Returns (logits, post-activation hidden values). Follows docs/dropout.md: inverted dropout
    divides kept units by k in training and is the identity at test; weight scaling keeps
    units unscaled in training and multiplies by k at test.
    """
    cfg = model.cfg
    keeps = [1 - cfg.input_p] + [1 - cfg.p] * len(cfg.hidden)
    inverted = cfg.variant == "standard"
    h, acts = x, []
    linears = model.linears
    for i, lin in enumerate(linears):
        k = keeps[i]
        if masks is not None:
            m = masks[i].to(h.dtype)
            h = h * m / k if inverted else h * m
        elif not inverted:
            h = h * k
        z = h @ lin.weight.T + lin.bias
        if i == len(linears) - 1:
            return z, acts
        h = ACT[cfg.activation](z)
        acts.append(h)
    raise AssertionError("unreachable")


CFG = MLPConfig(n_in=3, hidden=(16, 8), n_out=4, activation="relu", p=0.5, input_p=0.2, seed=7)


def test_structure_follows_the_config():
    m = MLP(CFG)
    assert [tuple(lin.weight.shape) for lin in m.linears] == [(16, 3), (8, 16), (4, 8)]
    assert [d.p for d in m.dropouts] == pytest.approx([0.2, 0.5, 0.5])
    assert m.layer_sizes == [3, 16, 8, 4]
    assert m(torch.randn(5, 3)).shape == (5, 4)


def test_unknown_activation_is_rejected():
    with pytest.raises(ValueError, match="unknown activation"):
        MLP(replace(CFG, activation="gelu-ish"))


def test_initial_weights_depend_only_on_seed_and_shape():
    a = MLP(CFG)
    b = MLP(replace(CFG, p=0.0, input_p=0.0, variant="weight-scaling"))  # a no-dropout twin
    c = MLP(replace(CFG, seed=8))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_initialisation_follows_torch_default_rule():
    """nn.Linear's default: weights and biases ~ U(−1/√fan_in, 1/√fan_in); variance bound²/3."""
    fan_in = 256
    m = MLP(MLPConfig(n_in=fan_in, hidden=(512,), n_out=2, seed=3))
    w, b = m.linears[0].weight.double(), m.linears[0].bias.double()
    bound = 1 / math.sqrt(fan_in)
    assert w.abs().max() <= bound and b.abs().max() <= bound
    var, mu4, n = bound**2 / 3, bound**4 / 5, w.numel()
    se = math.sqrt((mu4 - var * var * (n - 3) / (n - 1)) / n)
    assert abs(w.var().item() - var) <= Z * se
    assert abs(w.mean().item()) <= Z * math.sqrt(var / n)
    # torch's own nn.Linear lands in the same place
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        ref = nn.Linear(fan_in, 512).weight.detach().double()
    assert ref.abs().max() <= bound
    assert abs(ref.var().item() - var) <= Z * se


@pytest.mark.parametrize("variant", ("standard", "weight-scaling"))
@pytest.mark.parametrize("activation", ("relu", "tanh", "sigmoid"))
def test_inference_forward_equals_manual_forward(variant, activation):
    m = MLP(replace(CFG, variant=variant, activation=activation))
    m.eval()
    x = torch.randn(64, 3, generator=gen(1))
    expected, _ = manual_forward(m, x)
    with torch.no_grad():
        torch.testing.assert_close(m(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", ("standard", "weight-scaling"))
def test_training_forward_equals_manual_forward_with_the_recorded_masks(variant):
    m = MLP(replace(CFG, variant=variant))
    m.train()
    m.capture(True)
    x = torch.randn(64, 3, generator=gen(2))
    with torch.no_grad():
        y = m(x)
    tr = m.last_trace()
    masks = [tr.input_mask, *[layer.mask for layer in tr.layers]]
    expected, acts = manual_forward(m, x, masks)
    torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-6)
    for layer, act in zip(tr.layers, acts):
        torch.testing.assert_close(layer.activation, act, rtol=1e-5, atol=1e-6)


def test_capture_records_masks_and_inputs_with_the_right_shapes():
    m = MLP(CFG)
    m.train()
    assert m.last_trace() is None  # capture off: nothing recorded
    m(torch.randn(10, 3))
    assert m.last_trace() is None
    m.capture(True)
    x = torch.randn(10, 3, generator=gen(3))
    m(x)
    tr = m.last_trace()
    assert tr.input_mask.shape == (10, 3) and tr.input_mask.dtype == torch.bool
    assert [layer.name for layer in tr.layers] == ["hidden 1", "hidden 2"]
    for layer, width in zip(tr.layers, CFG.hidden):
        assert layer.activation.shape == (10, width)
        assert layer.mask.shape == (10, width) and layer.mask.dtype == torch.bool
        assert not layer.activation.requires_grad  # detached: safe to keep for plotting
    assert torch.equal(m.dropouts[0].last_input, x)
    m.capture(False)
    assert all(d.last_mask is None and d.last_input is None for d in m.dropouts)
    assert m.last_trace() is None


def test_trace_in_inference_mode_has_all_true_masks_and_manual_activations():
    m = MLP(CFG)
    m.train()
    x = torch.randn(32, 3, generator=gen(4))
    tr = m.trace(x, train_mode=False)
    assert tr.input_mask.shape == (32, 3) and tr.input_mask.all()
    expected, acts = manual_forward(m, x)
    for layer, act in zip(tr.layers, acts):
        assert layer.mask.all() and layer.mask.shape == act.shape
        torch.testing.assert_close(layer.activation, act, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(tr.logits, expected, rtol=1e-5, atol=1e-6)
    # the model's mode and capture flag are restored
    assert m.training
    assert not any(d.record for d in m.dropouts)
    m.eval()
    m.capture(True)
    m.trace(x, train_mode=False)
    assert not m.training and all(d.record for d in m.dropouts)


def test_trace_in_training_mode_samples_masks_at_the_configured_rates():
    m = MLP(MLPConfig(n_in=20, hidden=(200, 100), n_out=2, p=0.5, input_p=0.2, seed=5))
    m.eval()
    x = torch.randn(500, 20, generator=gen(5))
    tr = m.trace(x, train_mode=True)
    assert_binomial(int(tr.input_mask.sum()), tr.input_mask.numel(), 0.8)
    for layer in tr.layers:
        assert_binomial(int(layer.mask.sum()), layer.mask.numel(), 0.5)
    masks = [tr.input_mask, *[layer.mask for layer in tr.layers]]
    expected, _ = manual_forward(m, x, masks)
    torch.testing.assert_close(tr.logits, expected, rtol=1e-5, atol=1e-5)
    assert not m.training


def test_set_rates_changes_only_what_is_given():
    m = MLP(CFG)
    m.set_rates(p=0.3)
    assert [d.p for d in m.dropouts] == pytest.approx([0.2, 0.3, 0.3])
    m.set_rates(input_p=0.1)
    assert [d.p for d in m.dropouts] == pytest.approx([0.1, 0.3, 0.3])
    m.set_rates()
    assert [d.p for d in m.dropouts] == pytest.approx([0.1, 0.3, 0.3])


def test_set_rates_keeps_the_weights():
    m = MLP(CFG)
    before = [t.clone() for t in m.parameters()]
    m.set_rates(p=0.0, input_p=0.0)
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters()))


@pytest.mark.parametrize("variant", ("standard", "weight-scaling"))
def test_rate_zero_network_is_the_same_in_training_and_inference(variant):
    m = MLP(replace(CFG, p=0.0, input_p=0.0, variant=variant))
    x = torch.randn(16, 3, generator=gen(6))
    with torch.no_grad():
        m.train()
        y_train = m(x)
        m.eval()
        y_eval = m(x)
    assert torch.equal(y_train, y_eval)


def test_training_trace_leaves_the_runs_mask_stream_and_records_alone():
    """Looking inside a run (a training-mode trace) must not change the masks its next steps draw."""
    cfg = MLPConfig(hidden=(16, 16), p=0.5, input_p=0.2, seed=3)
    x = torch.randn(32, 2)
    watched, plain = MLP(cfg), MLP(cfg)
    watched.capture(True)
    watched.train()(x)
    before = watched.last_trace().layers[0].mask.clone()
    watched.trace(torch.randn(8, 2), train_mode=True)
    assert torch.equal(watched.last_trace().layers[0].mask, before)
    plain.train()(x)
    assert torch.equal(watched.train()(x), plain.train()(x))
