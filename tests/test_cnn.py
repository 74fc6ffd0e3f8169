"""The CNN against torch's defaults and a forward pass written out with torch.nn.functional ops."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer.core.cnn import CNN, CNNConfig, MaxPool2
from explorer.core.datasets import Dataset
from explorer.dropout.spatial import SpatialDropout
from explorer.core.training import TrainConfig, Trainer

SMALL = CNNConfig(channels=(4, 6), hidden=16, p=0.5, conv_p=0.3, input_p=0.2, seed=3)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 784, generator=gen(seed))


def functional_forward(model: CNN, x: torch.Tensor, masks: list[torch.Tensor] | None = None) -> torch.Tensor:
    """The network written with F ops and the model's weights (relu, inverted dropout variants).

    masks=None is inference (every dropout the identity); otherwise the keep-masks of the
    input (N, 1, 28, 28), of each conv block (N, C) — whole channels — and of the dense layer.
    """
    cfg = model.cfg
    keeps = [1 - cfg.input_p, 1 - cfg.conv_p, 1 - cfg.conv_p, 1 - cfg.p]
    drop = (lambda h, i: h) if masks is None else (lambda h, i: h * _broadcast(masks[i], h) / keeps[i])
    h = drop(x.reshape(-1, 1, 28, 28), 0)
    for i, conv in enumerate(model.convs):
        h = F.max_pool2d(F.relu(F.conv2d(h, conv.weight, conv.bias, padding=1)), 2)
        h = drop(h, i + 1)
    h = drop(F.relu(F.linear(h.flatten(1), model.fc.weight, model.fc.bias)), 3)
    return F.linear(h, model.head.weight, model.head.bias)


def _broadcast(mask: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """An elementwise mask as is; an (N, C) channel mask as (N, C, 1, 1)."""
    return mask.reshape(*mask.shape, *([1] * (h.dim() - mask.dim()))).to(h.dtype)


# --- structure and initialisation ---------------------------------------------

def test_output_shape_and_structure():
    m = CNN(CNNConfig())
    # one generator, seeded with seed + 1, drives every mask
    assert all(d.generator is m.noise for d in m.dropouts)
    assert torch.equal(m.noise.get_state(), gen(1).get_state())
    assert m(images(5)).shape == (5, 10)
    assert [tuple(c.weight.shape) for c in m.convs] == [(8, 1, 3, 3), (16, 8, 3, 3)]
    assert [tuple(lin.weight.shape) for lin in m.linears] == [(128, 16 * 7 * 7), (10, 128)]
    assert [d.p for d in m.dropouts] == pytest.approx([0.0, 0.1, 0.1, 0.5])
    assert [type(d) for d in m.dropouts[1:3]] == [SpatialDropout, SpatialDropout]
    assert not isinstance(m.dropouts[-1], SpatialDropout)
    assert m.hidden_rate == pytest.approx(0.5) and m.conv_rate == pytest.approx(0.1)


def test_initialisation_is_torchs_default_drawn_from_the_seed():
    """Bitwise: the same weights as nn.Conv2d/nn.Linear built in order after torch.manual_seed(seed)."""
    cfg = CNNConfig(seed=5)
    m = CNN(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        ref = [nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1), nn.Linear(784, 128), nn.Linear(128, 10)]
    ours = [*m.convs, *m.linears]
    for a, b in zip(ours, ref):
        assert type(a) is type(b)
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


def test_two_cnns_from_one_config_are_identical_and_the_seed_matters():
    a = CNN(SMALL)
    b = CNN(replace(SMALL, p=0.0, conv_p=0.0, input_p=0.0))  # a no-dropout twin
    c = CNN(replace(SMALL, seed=4))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))
    # and the same masks: the twin built from the same config draws the same stream
    a2 = CNN(SMALL)
    x = images(6)
    assert torch.equal(a.train()(x), a2.train()(x))


def test_config_is_validated():
    with pytest.raises(ValueError, match="unknown activation"):
        CNN(replace(SMALL, activation="gelu-ish"))
    with pytest.raises(ValueError, match="does not apply"):
        CNN(replace(SMALL, variant="spatial"))  # channel dropout on pixels and dense units
    with pytest.raises(ValueError, match="unknown variant"):
        CNN(replace(SMALL, conv_variant="no-such-variant"))


# --- forward pass against F ops ----------------------------------------------

def test_eval_forward_equals_functional_forward_and_is_deterministic():
    m = CNN(CNNConfig()).eval()
    x = images(8, seed=1)
    y = m(x)
    torch.testing.assert_close(y, functional_forward(m, x), rtol=1e-5, atol=1e-6)
    assert torch.equal(m(x), y)


def test_training_forward_equals_functional_forward_with_the_recorded_masks():
    m = CNN(SMALL).train()
    m.capture(True)
    x = images(32, seed=2)
    y = m(x)
    masks = [d.last_mask for d in m.dropouts]
    assert [tuple(mk.shape) for mk in masks] == [(32, 1, 28, 28), (32, 4), (32, 6), (32, 16)]
    torch.testing.assert_close(y, functional_forward(m, x, masks), rtol=1e-5, atol=1e-6)
    m.capture(False)
    assert all(d.last_mask is None and not d.record for d in m.dropouts)


def test_rate_zero_network_is_the_same_in_training_and_inference():
    m = CNN(replace(SMALL, p=0.0, conv_p=0.0, input_p=0.0))
    x = images(6, seed=3)
    assert torch.equal(m.train()(x), m.eval()(x))


def test_set_rates_changes_rates_in_place_and_keeps_weights():
    m = CNN(SMALL)
    layers = list(m.dropouts)
    before = [p.clone() for p in m.parameters()]
    m.set_rates(conv_p=0.25)
    assert [d.p for d in m.dropouts] == pytest.approx([0.2, 0.25, 0.25, 0.5])
    m.set_rates(p=0.1)
    m.set_rates(input_p=0.0)
    assert [d.p for d in m.dropouts] == pytest.approx([0.0, 0.25, 0.25, 0.1])
    assert all(a is b for a, b in zip(layers, m.dropouts))
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters()))


# --- looking inside ------------------------------------------------------------

def test_feature_maps_are_the_pooled_conv_outputs_in_inference_mode():
    m = CNN(CNNConfig()).train()
    x = images(3, seed=4)
    maps = m.feature_maps(x)
    c1, c2 = CNNConfig().channels
    assert [tuple(f.shape) for f in maps] == [(3, c1, 14, 14), (3, c2, 7, 7)]
    c1, c2 = m.convs
    f1 = F.max_pool2d(F.relu(F.conv2d(x.reshape(-1, 1, 28, 28), c1.weight, c1.bias, padding=1)), 2)
    f2 = F.max_pool2d(F.relu(F.conv2d(f1, c2.weight, c2.bias, padding=1)), 2)
    torch.testing.assert_close(maps[0], f1, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(maps[1], f2, rtol=1e-5, atol=1e-6)
    assert m.training and not maps[0].requires_grad


def test_trace_shapes_masks_and_logits():
    m = CNN(CNNConfig(conv_p=0.5, input_p=0.2))
    x = images(10, seed=5)
    t = m.trace(x, train_mode=True, seed=1)
    c1, c2 = CNNConfig().channels
    assert t.input_mask.shape == (10, 784)
    assert [(lt.name, tuple(lt.activation.shape), tuple(lt.mask.shape)) for lt in t.layers] == [
        ("conv 1", (10, c1, 14, 14), (10, c1)),
        ("conv 2", (10, c2, 7, 7), (10, c2)),
        ("dense", (10, 128), (10, 128)),
    ]
    assert not t.input_mask.all() and not t.layers[0].mask.all()
    assert t.logits.shape == (10, 10)
    # the same seed gives the same masks
    assert torch.equal(m.trace(x, train_mode=True, seed=1).layers[1].mask, t.layers[1].mask)
    inf = m.trace(x, train_mode=False)
    assert all(lt.mask.all() for lt in inf.layers) and inf.input_mask.all()
    assert [tuple(lt.mask.shape) for lt in inf.layers] == [(10, c1), (10, c2), (10, 128)]
    torch.testing.assert_close(inf.layers[0].activation, m.feature_maps(x)[0])
    torch.testing.assert_close(inf.logits, m.eval()(x))


def test_trace_leaves_the_runs_mask_stream_and_records_alone():
    a, b = CNN(SMALL), CNN(SMALL)
    a.capture(True)
    b.capture(True)
    x = images(8, seed=6)
    a.train()(x)
    b.train()(x)
    recorded = [d.last_mask.clone() for d in a.dropouts]
    a.trace(x, train_mode=True, seed=123)
    a.trace(x, train_mode=False)
    assert a.training
    assert all(torch.equal(r, d.last_mask) for r, d in zip(recorded, a.dropouts))
    assert torch.equal(a(x), b(x))  # the next training step draws what it would have drawn


# --- it learns -----------------------------------------------------------------

def bright_patch_dataset(n_train: int = 512, n_val: int = 256, seed: int = 0) -> Dataset:
    """10 classes: class c is a bright 7×7 patch in cell c of a 4×4 grid, on uniform noise."""
    g = gen(seed)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 10, (n,), generator=g)
        x = 0.5 * torch.rand(n, 28, 28, generator=g)
        for i, c in enumerate(y.tolist()):
            r, col = divmod(c, 4)
            x[i, 7 * r : 7 * r + 7, 7 * col : 7 * col + 7] += 0.5
        return x.reshape(n, 784), y

    x_tr, y_tr = draw(n_train)
    x_va, y_va = draw(n_val)
    return Dataset("bright-patch", x_tr, y_tr, x_va, y_va, n_classes=10)


def test_trains_with_the_trainer_to_well_above_chance():
    data = bright_patch_dataset()
    model = CNN(CNNConfig(seed=0))
    trainer = Trainer(model, data, TrainConfig(optimizer="adam", lr=1e-3, batch_size=64, epochs=3))
    trainer.run()
    assert trainer.step == 3 * 512 // 64
    first, last = trainer.history[0], trainer.history[-1]
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in trainer.history)
    assert last["val_loss"] < first["val_loss"] < 2.3  # below ln 10 ≈ 2.30, chance
    assert last["val_acc"] >= 0.6  # chance is 0.1


@pytest.mark.parametrize("shape", [(5, 16, 28, 28), (3, 4, 7, 7), (2, 3, 6, 5)])
def test_max_pool_without_gradients_is_torchs_and_with_them_torchs_own(shape):
    """The strided-views pooling of evaluation gives torch's numbers exactly; training uses torch's kernel."""
    h = torch.randn(shape)
    with torch.no_grad():
        assert torch.equal(MaxPool2()(h), F.max_pool2d(h, 2))
    h.requires_grad_()
    ours, theirs = MaxPool2()(h), F.max_pool2d(h, 2)
    assert torch.equal(ours, theirs) and ours.grad_fn.name() == theirs.grad_fn.name()
