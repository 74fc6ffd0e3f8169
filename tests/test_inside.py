"""Looking inside a network: activation statistics, features, thinned-network ensembles, masks, and their figures."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
import torch

from explorer.core import figures
from explorer.inside import analysis as inside
from explorer.core import mnist
from explorer.core.cnn import CNN, CNNConfig
from explorer.core.model import MLP, MLPConfig
from explorer.core.training import TrainConfig, Trainer


def digits(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 784, generator=torch.Generator().manual_seed(seed))


def small_mnist_mlp(**changes) -> MLP:
    cfg = dict(n_in=784, hidden=(32, 16), n_out=10, p=0.5, input_p=0.2, seed=0) | changes
    return MLP(MLPConfig(**cfg))


@pytest.fixture(scope="module")
def subset_data(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXPLORER_CACHE", str(tmp_path_factory.mktemp("mnist-cache")))
        return mnist.make_mnist("mnist", train_size=1000, val_size=200, seed=0)


# --- activation statistics ---------------------------------------------------------

FIXED = torch.tensor([
    [0.0, 0.005, 1.5, 2.0],
    [0.0, -0.02, 0.0, 4.0],
    [0.3, 0.0, 0.009, -0.5],
])


def test_activation_stats_match_numpy():
    stats = inside.activation_stats(FIXED, eps=1e-2)
    a = FIXED.numpy().astype(np.float64)
    assert stats["mean"] == pytest.approx(a.mean())
    assert stats["near_zero"] == pytest.approx(6 / 12)  # 0, 0.005, 0, 0, 0, 0.009; not -0.02
    assert stats["near_zero"] == pytest.approx(np.mean(np.abs(a) < 1e-2))
    np.testing.assert_allclose(stats["unit_means"], a.mean(axis=0))
    np.testing.assert_array_equal(stats["values"], a.ravel())  # few values: all of them
    assert stats["n_values"] == 12 and stats["eps"] == 1e-2
    assert isinstance(stats["mean"], float) and isinstance(stats["near_zero"], float)
    assert inside.activation_stats(FIXED, eps=0.1)["near_zero"] == pytest.approx(7 / 12)


def test_activation_stats_subsample_is_bounded_reproducible_and_drawn_from_the_values():
    acts = torch.relu(torch.randn(300, 200, generator=torch.Generator().manual_seed(0)))
    first = inside.activation_stats(acts, max_values=5000, seed=1)
    again = inside.activation_stats(acts, max_values=5000, seed=1)
    other = inside.activation_stats(acts, max_values=5000, seed=2)
    assert first["values"].shape == (5000,) and first["n_values"] == 60_000
    np.testing.assert_array_equal(first["values"], again["values"])
    assert not np.array_equal(first["values"], other["values"])
    flat = acts.numpy().ravel().astype(np.float64)
    assert np.isin(first["values"], flat).all()
    assert first["mean"] == pytest.approx(flat.mean())  # the numbers use every value, not the sample
    assert first["unit_means"].shape == (200,)


def test_activation_stats_of_feature_maps_count_every_position_as_a_unit():
    maps = torch.rand(4, 3, 5, 5)
    stats = inside.activation_stats(maps)
    assert stats["unit_means"].shape == (75,)
    np.testing.assert_allclose(stats["unit_means"], maps.numpy().reshape(4, -1).mean(0), rtol=1e-6)


# --- first-layer features ------------------------------------------------------------

def test_first_layer_features_are_the_first_units_weights_scaled_to_unit_max():
    model = small_mnist_mlp()
    feats = inside.first_layer_features(model, 6)
    assert feats.shape == (6, 28, 28)
    np.testing.assert_allclose(np.abs(feats).max(axis=(1, 2)), 1.0)
    w = model.linears[0].weight.detach().numpy().astype(np.float64)
    for unit in (0, 5):
        np.testing.assert_allclose(feats[unit], w[unit].reshape(28, 28) / np.abs(w[unit]).max(), rtol=1e-6)
    chosen = inside.first_layer_features(model, 2, units=[7, 3])
    np.testing.assert_allclose(chosen[1], w[3].reshape(28, 28) / np.abs(w[3]).max(), rtol=1e-6)


def test_first_layer_features_follow_the_weights_as_they_change():
    model = small_mnist_mlp()
    with torch.no_grad():
        model.linears[0].weight[2] = 0.0
        model.linears[0].weight[2, 28 * 10 + 5] = -0.25   # one pixel, row 10, column 5
    feats = inside.first_layer_features(model, 3)
    expected = np.zeros((28, 28))
    expected[10, 5] = -1.0
    np.testing.assert_array_equal(feats[2], expected)
    with torch.no_grad():
        model.linears[0].weight[2] = 0.0
    assert not inside.first_layer_features(model, 3)[2].any()  # an all-zero unit stays zero, no NaN


def test_first_layer_features_refuse_what_is_not_an_image_layer():
    with pytest.raises(ValueError, match="28×28"):
        inside.first_layer_features(CNN(CNNConfig()), 4)
    with pytest.raises(ValueError, match="units"):
        inside.first_layer_features(small_mnist_mlp(), 33)


# --- many thinned networks -------------------------------------------------------------

def test_mask_ensemble_gives_distributions_and_their_averages():
    model = small_mnist_mlp()
    x = digits(3)
    one = inside.mask_ensemble(model, x[0], n_masks=50, seed=0)
    assert one["probs"].shape == (50, 10) and one["logits"].shape == (50, 10)
    for key in ("mean", "geometric", "weight_scaled"):
        assert one[key].shape == (10,)
        assert one[key].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(one["probs"].sum(axis=1), 1.0)
    np.testing.assert_allclose(one["mean"], one["probs"].mean(axis=0))
    geometric = np.exp(np.log(one["probs"]).mean(axis=0))
    np.testing.assert_allclose(one["geometric"], geometric / geometric.sum(), rtol=1e-9)
    model.eval()
    np.testing.assert_allclose(one["weight_scaled_logits"], model(x[:1])[0].double().detach().numpy(), rtol=1e-6)
    assert one["agreement"] == pytest.approx(np.mean(one["logits"].argmax(1) == one["weight_scaled"].argmax()))
    assert len({tuple(row) for row in one["probs"].round(6)}) > 1  # the masks differ

    few = inside.mask_ensemble(model, x, n_masks=50, seed=0)
    assert few["probs"].shape == (50, 3, 10) and few["mean"].shape == (3, 10) and few["agreement"].shape == (3,)
    np.testing.assert_allclose(few["weight_scaled"][0], one["weight_scaled"])


def test_mask_ensemble_is_reproducible_by_seed():
    model = small_mnist_mlp()
    x = digits(1)[0]
    first, again = inside.mask_ensemble(model, x, 40, seed=5), inside.mask_ensemble(model, x, 40, seed=5)
    np.testing.assert_array_equal(first["probs"], again["probs"])
    assert not np.array_equal(first["probs"], inside.mask_ensemble(model, x, 40, seed=6)["probs"])


def test_mask_ensemble_leaves_the_run_untouched():
    run, twin = small_mnist_mlp(), small_mnist_mlp()
    x = digits(8)
    run.capture(), twin.capture()
    run(x), twin(x)
    seen_mask = run.dropouts[1].last_mask
    run.eval()
    inside.mask_ensemble(run, x[0], n_masks=100, seed=3)
    assert not run.training  # the mode it was found in
    assert run.dropouts[1].last_mask is seen_mask  # the record of the last step
    run.train()
    inside.mask_ensemble(run, x[:2], n_masks=100, seed=4)
    assert run.training
    torch.testing.assert_close(run(x), twin(x), rtol=0, atol=0)  # the next step draws the masks it would have
    torch.testing.assert_close(run.dropouts[2].last_mask, twin.dropouts[2].last_mask)


@pytest.mark.parametrize("variant", ["standard", "weight-scaling"])
def test_weight_scaling_is_the_mean_of_the_logits_when_dropout_feeds_only_the_last_linear_layer(variant):
    """The logits are linear in the last hidden layer's mask, so their mean over masks is the inference logits.

    Checked per logit within five standard errors of the Monte-Carlo mean
    (the sample standard deviation over √n). q = 0.3 rather than 0.5, so a
    keep/drop mix-up (k and q swapped in either rule) would move the mean by
    a factor k/q and fail.
    """
    model = MLP(MLPConfig(n_in=12, hidden=(40,), n_out=5, p=0.3, input_p=0.0, variant=variant, seed=2))
    x = torch.randn(2, 12, generator=torch.Generator().manual_seed(0))
    n = 4000
    out = inside.mask_ensemble(model, x, n_masks=n, seed=0)
    logits, target = out["logits"], out["weight_scaled_logits"]
    error = np.abs(logits.mean(axis=0) - target)
    standard_error = logits.std(axis=0, ddof=1) / np.sqrt(n)
    assert (standard_error > 0).all()
    assert (error <= 5 * standard_error + 1e-9).all(), (error / standard_error).max()
    # the spread over masks is real: a few masks' mean is not yet the inference logits
    assert (logits.std(axis=0) > 20 * standard_error).all()


def test_monte_carlo_average_of_a_trained_network_is_close_to_weight_scaling(subset_data):
    """On real digits, 100 sampled thinned networks predict as the weight-scaled network does.

    Tolerances, calibrated on this seed (measured: the top class agrees on
    98 % of the digits, accuracies 84 % vs 86 %, mean total-variation distance
    0.053 for the arithmetic mean and 0.018 for the geometric one): agreement
    ≥ 95 %, accuracies within 5 points (5 of the 100 digits), mean TV ≤ 0.1,
    and the normalised geometric mean closer than the arithmetic one, since
    weight scaling approximates the geometric mean of the thinned networks
    (the arithmetic mean of probabilities is systematically less confident).
    """
    model = MLP(MLPConfig(n_in=784, hidden=(128,), n_out=10, p=0.5, input_p=0.2, seed=0))
    Trainer(model, subset_data, TrainConfig(optimizer="adam", lr=1e-3, batch_size=32, epochs=3)).run()
    x, y = subset_data.x_val[:100], subset_data.y_val[:100].numpy()
    out = inside.mask_ensemble(model, x, n_masks=100, seed=0)
    mean, geometric, scaled = out["mean"], out["geometric"], out["weight_scaled"]
    assert (scaled.argmax(1) == y).mean() > 0.6  # the network did learn
    assert (mean.argmax(1) == scaled.argmax(1)).mean() >= 0.95
    assert abs((mean.argmax(1) == y).mean() - (scaled.argmax(1) == y).mean()) <= 0.05
    tv_mean = 0.5 * np.abs(mean - scaled).sum(1).mean()
    tv_geometric = 0.5 * np.abs(geometric - scaled).sum(1).mean()
    assert tv_mean <= 0.1
    assert tv_geometric < tv_mean


def test_mask_ensemble_runs_a_cnn():
    model = CNN(CNNConfig(channels=(4, 8), hidden=16, conv_p=0.3, input_p=0.1))
    out = inside.mask_ensemble(model, digits(1)[0], n_masks=20, seed=0)
    assert out["probs"].shape == (20, 10)
    np.testing.assert_allclose(out["probs"].sum(1), 1.0)


# --- masks and what the network sees -------------------------------------------------

def test_mask_matrix_and_input_view_show_exactly_the_traced_masks():
    model = small_mnist_mlp(input_p=0.3)
    x = digits(6)
    trace = model.trace(x, train_mode=True, seed=1)
    for layer in range(2):
        matrix = inside.mask_matrix(trace, layer)
        assert matrix.dtype == bool and matrix.shape == (6, model.cfg.hidden[layer])
        np.testing.assert_array_equal(matrix, trace.layers[layer].mask.numpy())
    view = inside.input_view(x, trace.input_mask)
    keep = trace.input_mask.numpy().reshape(6, 28, 28)
    assert view.shape == (6, 28, 28)
    np.testing.assert_array_equal(np.isnan(view), ~keep)
    assert 0 < (~keep).sum() < keep.size
    np.testing.assert_allclose(view[keep], x.numpy().reshape(6, 28, 28)[keep])


def test_mask_matrix_of_a_cnn_is_per_channel_for_spatial_dropout():
    model = CNN(CNNConfig(channels=(4, 8), hidden=16, conv_p=0.5))
    trace = model.trace(digits(5), train_mode=True, seed=0)
    matrix = inside.mask_matrix(trace, 0)
    assert matrix.shape == (5, 4)
    np.testing.assert_array_equal(matrix, trace.layers[0].mask.numpy())
    assert inside.mask_matrix(trace, 2).shape == (5, 16)


def test_activation_pair_shows_the_mask_and_the_rescaling():
    model = small_mnist_mlp(input_p=0.0, p=0.25)
    x = digits(4)
    model.capture()
    model(x)
    seen = model.dropouts[1].last_mask
    pair = inside.activation_pair(model, x, layer=0, seed=7)
    trace = model.trace(x, train_mode=True, seed=7)
    np.testing.assert_array_equal(pair["dropped"], ~trace.layers[0].mask.numpy())
    # no dropout upstream of hidden 1: training output = inference output × mask / k
    expected = pair["infer"] * ~pair["dropped"] / 0.75
    np.testing.assert_allclose(pair["train"], expected, rtol=1e-5, atol=1e-7)
    assert pair["train"].shape == pair["infer"].shape == (4, 32)
    assert model.dropouts[1].last_mask is seen and model.training


def test_activation_pair_of_a_cnn_repeats_the_channel_mask_over_each_map():
    model = CNN(CNNConfig(channels=(4, 8), hidden=16, conv_p=0.5))
    pair = inside.activation_pair(model, digits(2), layer=0, seed=0)
    assert pair["train"].shape == (2, 4 * 14 * 14)
    per_channel = pair["dropped"].reshape(2, 4, 14 * 14)
    assert (per_channel == per_channel[:, :, :1]).all()


def test_pick_digits_takes_one_per_class_in_order():
    labels = np.array([3, 1, 0, 1, 2, 3, 0, 2])
    np.testing.assert_array_equal(inside.pick_digits(labels, 4), [2, 1, 4, 0])
    np.testing.assert_array_equal(inside.pick_digits(labels, 6), [2, 1, 4, 0, 6, 3])


def test_feature_map_view_tiles_channels_and_blanks_the_dropped_ones():
    maps = torch.arange(5 * 3 * 4, dtype=torch.float32).reshape(5, 3, 4)
    keep = np.array([True, False, True, True, False])
    grid = inside.feature_map_view(maps, keep)  # 3 columns, 2 rows, 1-pixel gaps
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 2)
    np.testing.assert_array_equal(grid[0:3, 0:4], maps[0].numpy())
    assert np.isnan(grid[0:3, 5:9]).all()            # channel 1 dropped
    np.testing.assert_array_equal(grid[4:7, 0:4], maps[3].numpy())
    assert np.isnan(grid[3]).all() and np.isnan(grid[:, 4]).all()  # gaps
    assert np.isnan(grid[4:7, 10:14]).all()          # empty cell after the last channel
    np.testing.assert_array_equal(inside.feature_map_view(maps[None]), inside.feature_map_view(maps))
    with pytest.raises(ValueError):
        inside.feature_map_view(torch.zeros(2, 5, 3, 4))


# --- figures ---------------------------------------------------------------------------

def valid(spec: dict) -> go.Figure:
    """Every figure is plotly's dict form: go.Figure validates it, and it serialises as it is."""
    fig = go.Figure(spec)
    pio.from_json(pio.json.to_json_plotly(spec))
    return fig


def heat(fig: go.Figure, i: int = 0) -> np.ndarray:
    return np.asarray(fig.data[i].z, dtype=float)


def test_digits_figure_paints_exactly_the_dropped_pixels():
    images = np.random.default_rng(0).random((3, 28, 28))
    images[images < 0.2] = np.nan
    fig = valid(figures.digits_figure(images, "seen", labels=["a", "b", "c"]))
    pixels, dropped = heat(fig, 0), heat(fig, 1)
    assert pixels.shape == (28, 3 * 28 + 2 * 2)
    assert np.nansum(pixels) == pytest.approx(np.nansum(images), rel=1e-6)  # float32 on the wire
    assert np.nansum(dropped) == np.isnan(images).sum()
    np.testing.assert_array_equal(np.isnan(pixels[:, :28]), np.isnan(images[0]))
    np.testing.assert_allclose(pixels[:, 30:58], images[1], rtol=1e-6)
    assert list(fig.layout.xaxis.ticktext) == ["a", "b", "c"]


def test_mask_figure_carries_the_mask_with_labelled_colours():
    mask = np.random.default_rng(0).random((8, 20)) < 0.5
    fig = valid(figures.mask_figure(mask, "hidden 1"))
    np.testing.assert_array_equal(heat(fig), mask)
    assert list(fig.data[0].colorbar.ticktext) == ["dropped", "kept"]
    assert fig.layout.xaxis.title.text == "unit" and fig.layout.yaxis.title.text == "example"


def test_activation_histogram_figure_bins_every_run_on_shared_bins():
    rng = np.random.default_rng(0)
    runs = {"dropout": np.maximum(rng.normal(0, 1, 2000), 0), "no dropout": np.maximum(rng.normal(0.5, 1, 3000), 0)}
    fig = valid(figures.activation_histogram_figure(runs, "hidden 1", "activation"))
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 2
    for bar, (name, values) in zip(bars, runs.items()):
        assert np.sum(bar.y) == pytest.approx(1.0)
        assert name in bar.name and f"{values.mean():.2f}" in bar.name
    np.testing.assert_array_equal(bars[0].x, bars[1].x)
    assert [s.x0 for s in fig.layout.shapes] == pytest.approx([v.mean() for v in runs.values()])
    valid(figures.activation_histogram_figure(runs, "hidden 1", "activation", log_y=True))
    valid(figures.activation_histogram_figure({"flat": np.zeros(5)}, "t", "x"))  # a degenerate range


def test_activation_pair_figure_holds_both_modes_and_greys_the_dropped_units():
    model = small_mnist_mlp(input_p=0.0)
    pair = inside.activation_pair(model, digits(3), layer=0, seed=0)
    fig = valid(figures.activation_pair_figure(pair["train"], pair["infer"], pair["dropped"], labels=["0", "1", "2"]))
    z, over = heat(fig, 0), heat(fig, 1)
    assert np.nansum(over) == pair["dropped"].sum()
    kept_train = pair["train"][~pair["dropped"]]
    assert np.nansum(z) == pytest.approx(kept_train.sum() + pair["infer"].sum(), rel=1e-5)
    assert [a.text for a in fig.layout.annotations] == ["training", "inference"]
    assert fig.data[0].colorbar.title.text == "activation"


def test_weights_figure_tiles_the_features_on_a_centred_scale():
    feats = inside.first_layer_features(small_mnist_mlp(), 6)
    fig = valid(figures.weights_figure(feats, "features", cols=3))
    z = heat(fig)
    assert z.shape == (2 * 28 + 2, 3 * 28 + 2 * 2)
    np.testing.assert_allclose(z[:28, 30:58], feats[1], rtol=1e-6)
    assert (fig.data[0].zmin, fig.data[0].zmid, fig.data[0].zmax) == (-1, 0, 1)


def test_ensemble_figure_bins_every_thinned_network_per_class_and_shows_the_inference_prediction():
    out = inside.mask_ensemble(small_mnist_mlp(), digits(1)[0], n_masks=30, seed=0)
    fig = valid(figures.ensemble_figure(out["probs"], out["mean"], out["weight_scaled"]))
    strip = fig.data[0]
    density = np.asarray(strip.z, dtype=float)  # (probability bins, classes): share of networks
    assert density.shape == (25, 10)
    np.testing.assert_allclose(density.sum(axis=0), 1.0, rtol=1e-6)  # every network lands in one bin per class
    bins = np.minimum((out["probs"] * 25).astype(int), 24)  # the bin each network's P(c) falls in, by hand
    for c in range(10):
        np.testing.assert_allclose(density[:, c], np.bincount(bins[:, c], minlength=25) / 30, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(strip.x), np.arange(10))
    np.testing.assert_allclose(np.asarray(fig.data[1].y), out["mean"])
    np.testing.assert_allclose(np.asarray(fig.data[2].y), out["weight_scaled"])
    assert "weight-scaled" in fig.data[2].name


def test_feature_maps_figure_draws_the_grid_image():
    model = CNN(CNNConfig(channels=(4, 8), hidden=16, conv_p=0.5))
    trace = model.trace(digits(1), train_mode=True, seed=0)
    grid = inside.feature_map_view(trace.layers[0].activation[0], trace.layers[0].mask[0])
    fig = valid(figures.feature_maps_figure(grid, "conv 1"))
    np.testing.assert_allclose(heat(fig), grid, rtol=1e-6)
    valid(figures.feature_maps_figure(np.full((3, 3), np.nan), "all dropped"))
