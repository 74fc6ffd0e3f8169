"""The Inside page's state object: what its panels show, and that looking never changes the run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from explorer import settings
from explorer.core.cnn import CNNConfig
from explorer.core.experiment import defaults_for, make_data
from explorer.inside.state import Inspector

# A small run on the real subset: fast, and still every panel of the page.
SMALL = replace(defaults_for("mnist"), train_size=300, val_size=100, hidden=(32, 16), batch_size=32, epochs=3)
CNN = replace(SMALL, model="cnn", hidden=(16,))


@pytest.fixture(scope="module")
def data():
    return make_data(SMALL)


def heat(fig: dict, index: int = 0) -> np.ndarray:
    return np.asarray(go.Figure(fig).data[index].z, dtype=float)


@pytest.mark.parametrize("exp", [SMALL, CNN], ids=["mlp", "cnn"])
def test_every_panel_is_a_valid_figure_before_and_after_training(exp, data):
    ins = Inspector(exp, data)
    expected = {"inputs", "mask", "pair", "hist_values", "hist_units", "ensemble", "curves"}
    expected |= {"maps_1", "maps_2"} if exp.model == "cnn" else {"features", "twin_features"}
    for steps in (0, 5):
        ins.advance(max_steps=steps)
        for layer in range(len(ins.layer_names)):
            ins.select(layer, 3)
            frame = ins.frame()
            assert set(frame) == expected
            for fig in frame.values():
                go.Figure(fig)  # validates every property
    assert ins.layer_names == (["conv 1", "conv 2", "dense"] if exp.model == "cnn" else ["hidden 1", "hidden 2"])


def test_the_inputs_panel_shows_this_steps_batch_with_its_dropped_pixels(data):
    ins = Inspector(SMALL, data)
    ins.advance(max_steps=2)
    idx, mask = ins.run.last_batch, ins.run.model.dropouts[0].last_mask
    fig = go.Figure(ins.inputs_figure())
    n = settings.INSIDE_INPUTS
    dropped = np.nan_to_num(np.asarray(fig.data[1].z, dtype=float))  # 1 where a pixel was dropped
    assert dropped.sum() == (~mask[:n]).sum().item()
    assert list(fig.layout.xaxis.ticktext) == [str(int(y)) for y in data.y_train[idx[:n]]]


def test_the_mask_panel_is_the_last_steps_mask_of_the_chosen_layer(data):
    ins = Inspector(SMALL, data)
    ins.advance(max_steps=1)
    ins.select(1, 0)
    shown = heat(ins.mask_figure())
    np.testing.assert_array_equal(shown, ins.run.model.dropouts[2].last_mask[: settings.INSIDE_MASK_ROWS].numpy())


def test_the_cnn_mask_panel_is_per_channel(data):
    ins = Inspector(CNN, data)
    ins.advance(max_steps=1)
    ins.select(0, 0)
    shown = heat(ins.mask_figure())
    assert shown.shape == (CNN.batch_size, CNNConfig().channels[0])  # examples × the first conv block's channels
    np.testing.assert_array_equal(shown, ins.run.model.dropouts[1].last_mask.numpy())


def test_activation_statistics_compare_the_run_with_its_twin_on_the_stats_digits(data):
    ins = Inspector(SMALL, data)
    ins.advance(max_steps=20)
    ins.select(0, 0)
    stats = ins.layer_stats()
    assert set(stats) == {"dropout", "no dropout"}
    for name, trainer in (("dropout", ins.run), ("no dropout", ins.twin)):
        trainer.model.eval()
        with torch.no_grad():  # hidden 1 by hand: ReLU(W x + b) on the stats digits, inference mode
            first = trainer.model.linears[0]
            h = torch.relu(ins.stats_x @ first.weight.T + first.bias)
        assert stats[name]["mean"] == pytest.approx(h.mean().item(), rel=1e-5)
    ins.frame()
    assert ins.numbers["activations"]["dropout"]["mean"] == pytest.approx(stats["dropout"]["mean"])


def test_statistics_follow_the_rate_of_weight_scaling_even_without_a_step(data):
    """Weight scaling multiplies by k at inference: a rate change alone changes the second layer's activations."""
    ins = Inspector(replace(SMALL, variant="weight-scaling"), data)
    ins.select(1, 0)
    before = ins.layer_stats()["dropout"]["mean"]
    ins.apply(replace(ins.exp, variant="weight-scaling", p=0.2), compare=True)
    assert ins.layer_stats()["dropout"]["mean"] != pytest.approx(before)


def test_looking_inside_never_changes_the_run(data):
    """Frames between steps (masks sampled for the panels) leave the weights exactly as without them."""
    watched, plain = Inspector(SMALL, data), Inspector(SMALL, data)
    for _ in range(4):
        watched.advance(max_steps=3)
        for layer in range(len(watched.layer_names)):
            watched.select(layer, 5)
            watched.frame()
        plain.advance(max_steps=3)
    for a, b in zip(watched.run.model.parameters(), plain.run.model.parameters()):
        assert torch.equal(a, b)


def test_select_clamps_to_what_the_network_has(data):
    ins = Inspector(SMALL, data)
    ins.select(9, -3)
    assert (ins.layer, ins.digit) == (len(ins.layer_names) - 1, 0)


def test_the_ensemble_numbers_describe_the_chosen_digit(data):
    ins = Inspector(SMALL, data)
    ins.advance(max_steps=30)
    ins.select(0, 7)
    ins.frame()
    e = ins.numbers["ensemble"]
    assert e["digit"] == int(ins.probe_y[7]) == 7  # one probe digit per class, in order
    assert e["masks"] == settings.INSIDE_MASKS and 0.0 <= e["agreement"] <= 1.0


def test_rates_of_a_cnn_change_in_place_conv_maps_included(data):
    ins = Inspector(CNN, data)
    ins.advance(max_steps=2)
    assert ins.apply(replace(CNN, p=0.3, input_p=0.1, conv_p=0.25), compare=True)
    assert [d.p for d in ins.run.model.dropouts] == [0.1, 0.25, 0.25, 0.3]
    assert all(d.p == 0.0 for d in ins.twin.model.dropouts)
    assert ins.run.step == 2
