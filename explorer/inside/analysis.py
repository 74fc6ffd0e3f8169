"""Looking inside a network: the analyses behind the "Inside the network" page.

Pure functions: a model, tensors or a ``Trace`` in, plain numpy arrays and
dicts out, so every panel of the page can be computed (and tested) without
streamlit and drawn by ``explorer.core.figures``. Nothing here changes a run: the
thinned networks are sampled from generators of their own (``probing``), and
every function leaves the model in the mode it found it in.

The analyses follow Srivastava et al. (2014): first-layer features as images
(Fig. 7), activation statistics with and without dropout (Fig. 8), and one
input under many sampled thinned networks against the weight-scaled network
that approximates their average (Fig. 11).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from explorer.core.cnn import CNN
from explorer.dropout import probing

SIDE = 28  # MNIST images are SIDE × SIDE


def _numpy(a: torch.Tensor | np.ndarray) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


# --- activation statistics (Fig. 8) ----------------------------------------------

def activation_stats(
    activations: torch.Tensor | np.ndarray, eps: float = 1e-2, max_values: int = 20_000, seed: int = 0
) -> dict[str, Any]:
    """Mean activation, share of near-zero activations, each unit's mean, and the values to histogram.

    Dropout makes hidden activations sparser (Srivastava Fig. 8: mean ≈ 2.0
    without, ≈ 0.7 with): these are the numbers and the two histograms behind
    that claim. ``activations`` is (examples, units) or (examples, C, H, W);
    every trailing position counts as one unit. ``values`` is every activation
    when there are at most ``max_values``, else a uniform sample of that many
    drawn without replacement from ``seed`` (the same batch gives the same
    sample, so a live histogram does not flicker); the statistics always use
    all of them.

    Returns ``mean`` and ``near_zero`` (fraction with |a| < eps) as floats,
    ``unit_means`` (units,), ``values`` (≤ max_values,) float64, ``n_values``
    and ``eps``.
    """
    a = _numpy(activations).astype(np.float64, copy=False)
    a = a.reshape(len(a), -1) if a.ndim > 1 else a.reshape(-1, 1)
    flat = a.ravel()
    if flat.size == 0:
        raise ValueError("no activations to summarise")
    values = flat
    if flat.size > max_values:
        pick = np.random.default_rng(seed).choice(flat.size, size=max_values, replace=False)
        values = flat[np.sort(pick)]
    return dict(
        mean=float(flat.mean()),
        near_zero=float(np.mean(np.abs(flat) < eps)),
        unit_means=a.mean(axis=0),
        values=np.array(values, dtype=np.float64),
        n_values=int(flat.size),
        eps=float(eps),
    )


# --- first-layer features (Fig. 7) ------------------------------------------------

def first_layer_features(model: nn.Module, n: int, units: Sequence[int] | None = None) -> np.ndarray:
    """The incoming weights of ``n`` first-layer units as (n, 28, 28) images, each scaled to [-1, 1].

    With dropout these turn from noise into strokes, edges and spots
    (Srivastava Fig. 7). Each image is divided by its own max |w|, so every
    unit's pattern shows whatever its scale; an all-zero unit stays zero.

    The units are the first ``n`` (or the given ``units``), not, say, the
    largest by norm: a live page then shows the same units frame after frame
    (a ranking would reshuffle them as training runs), and a run and its
    no-dropout twin, which start from the same weights, show the same units
    side by side.
    """
    first = model.linears[0].weight.detach().cpu()
    if isinstance(model, CNN):  # its maps may add up to 784 inputs too (16 of 7×7)
        raise ValueError(f"a CNN's first dense layer sees its feature maps, not a {SIDE}×{SIDE} image")
    if first.shape[1] != SIDE * SIDE:
        raise ValueError(f"the first dense layer takes {first.shape[1]} inputs, not a {SIDE}×{SIDE} image")
    picked = list(range(n)) if units is None else [int(u) for u in units]
    if not picked or min(picked) < 0 or max(picked) >= first.shape[0]:
        raise ValueError(f"units must be within 0..{first.shape[0] - 1} and at least one, got {n=} {units=}")
    w = first[picked].numpy().astype(np.float64)
    scale = np.abs(w).max(axis=1, keepdims=True)
    return (w / np.where(scale > 0, scale, 1.0)).reshape(len(picked), SIDE, SIDE)


# --- many thinned networks on one input (Fig. 11) ---------------------------------

def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@torch.no_grad()
def mask_ensemble(model: nn.Module, x: torch.Tensor, n_masks: int = 300, seed: int = 0) -> dict[str, Any]:
    """Class probabilities of ``n_masks`` sampled thinned networks on ``x``, their averages and the inference net.

    Weight scaling (the inference network) approximates averaging all the
    thinned networks; this samples them to show how good the approximation is.
    All masks run as one batched training-mode forward pass (``x`` repeated
    ``n_masks`` times) with masks from a generator of their own seeded by
    ``seed`` (``probing``): the run's mask stream and its record of the last
    step are untouched, and the same seed gives the same masks.

    ``x`` is one input (n_in,) or a few (m, n_in). Returns, with the (m,) axis
    dropped for a single input:

    - ``logits``, ``probs``: (n_masks, [m,] classes), one row per thinned network;
    - ``mean``: the arithmetic mean of ``probs`` (Monte-Carlo model averaging);
    - ``geometric``: the normalised geometric mean of ``probs``, i.e. the softmax
      of the mean logits (what weight scaling approximates for a softmax output);
    - ``weight_scaled``, ``weight_scaled_logits``: the inference-mode network;
    - ``agreement``: the share of thinned networks whose top class is the
      inference network's.
    """
    if n_masks < 1:
        raise ValueError(f"n_masks must be at least 1, got {n_masks}")
    single = x.dim() == 1
    batch = x.reshape(1 if single else x.shape[0], -1)
    m = batch.shape[0]
    was_training = model.training
    try:
        model.eval()
        infer = model(batch).double().numpy()
        model.train()
        with probing(model.dropouts, seed):
            thinned = model(batch.repeat(n_masks, 1)).double().numpy().reshape(n_masks, m, -1)
    finally:
        model.train(was_training)
    probs = _softmax(thinned)
    weight_scaled = _softmax(infer)
    out = dict(
        logits=thinned,
        probs=probs,
        mean=probs.mean(axis=0),
        geometric=_softmax(thinned.mean(axis=0)),
        weight_scaled=weight_scaled,
        weight_scaled_logits=infer,
        agreement=(thinned.argmax(-1) == infer.argmax(-1)).mean(axis=0),
    )
    if single:
        out = {k: v[:, 0] if v.ndim == 3 else v[0] for k, v in out.items()}
        out["agreement"] = float(out["agreement"])
    return out


# --- masks and what the network sees ----------------------------------------------

def mask_matrix(trace: Any, layer: int) -> np.ndarray:
    """One layer's keep-mask for the batch as (examples, units) bool: True = kept.

    ``layer`` indexes ``trace.layers`` (0 = the first layer after the input;
    the input's mask is shown by ``input_view``). A channel (spatial) mask is
    already (examples, channels); an elementwise mask on feature maps is
    flattened to (examples, C·H·W).
    """
    mask = _numpy(trace.layers[layer].mask).astype(bool, copy=False)
    return mask.reshape(len(mask), -1)


def input_view(x: torch.Tensor | np.ndarray, input_mask: torch.Tensor | np.ndarray) -> np.ndarray:
    """The images as the network sees them in this step: (n, 28, 28) float, NaN where a pixel was dropped.

    NaN rather than 0: a dropped pixel and a black one look alike to the
    network but not to a viewer, and ``digits_figure`` draws NaN in a colour
    of its own. Kept pixels keep their value (the 1/k rescaling of inverted
    dropout is left out, so the digit reads as a digit).
    """
    images = _numpy(x).astype(np.float64).reshape(-1, SIDE, SIDE)
    keep = _numpy(input_mask).astype(bool).reshape(images.shape)
    return np.where(keep, images, np.nan)


def pick_digits(labels: torch.Tensor | np.ndarray, n: int = 10) -> np.ndarray:
    """Indices of ``n`` digits to follow, one per class in order 0, 1, 2, … (then round again).

    Deterministic, so a page shows the same digits every frame and the run
    and its twin are shown the same ones.
    """
    labels = _numpy(labels)
    order = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    picked: list[int] = []
    for round_ in range(max((len(o) for o in order), default=0)):
        for indices in order:
            if round_ < len(indices) and len(picked) < n:
                picked.append(int(indices[round_]))
    return np.array(picked, dtype=np.int64)


@torch.no_grad()
def activation_pair(model: nn.Module, x: torch.Tensor, layer: int, seed: int = 0) -> dict[str, np.ndarray]:
    """What the layer after dropout ``layer + 1`` receives, in training mode and in inference mode.

    ``layer`` counts the dropout layers after the input one (for the MLP,
    0 = hidden 1; for the CNN, conv 1, conv 2, dense). Training mode shows a
    sampled mask (from ``seed``, via ``probing``: the run is untouched) with
    the survivors rescaled as the variant does (×1/k for inverted dropout);
    inference mode shows all units, as the variant's inference rule gives
    them. Returns ``train`` and ``infer`` (n, units) float and ``dropped``
    (n, units) bool, feature maps flattened.
    """
    target = model.dropouts[layer + 1]
    seen: list[torch.Tensor] = []
    hook = target.register_forward_hook(lambda _m, _inp, out: seen.append(out.detach()))
    was_training = model.training
    try:
        model.eval()
        model(x)
        model.train()
        with probing(model.dropouts, seed):
            model(x)
            mask = target.last_mask
    finally:
        hook.remove()
        model.train(was_training)
    infer, train = (_numpy(t).astype(np.float64).reshape(len(x), -1) for t in seen)
    if mask is None:  # a variant that records no mask (multiplicative noise): nothing is dropped
        mask = torch.ones(train.shape, dtype=torch.bool)
    keep = _numpy(mask).astype(bool)
    if keep.ndim == 2 and keep.shape[1] != train.shape[1]:  # a channel mask: repeat over each map
        keep = np.repeat(keep, train.shape[1] // keep.shape[1], axis=1)
    return dict(train=train, infer=infer, dropped=~keep.reshape(train.shape))


# --- CNN feature maps ------------------------------------------------------------

def feature_map_view(
    maps: torch.Tensor | np.ndarray, channel_mask: np.ndarray | torch.Tensor | None = None,
    cols: int | None = None, gap: int = 1,
) -> np.ndarray:
    """One digit's feature maps (C, H, W) as one grid image, dropped channels blank (NaN).

    With spatial dropout a whole map is kept or gone; tiling the channels in
    one image shows that at a glance and draws as a single heatmap. Tiles are
    in channel order, row by row, ``cols`` wide (default ⌈√C⌉) and separated
    by ``gap`` NaN pixels; a leading batch axis of one is accepted.
    """
    a = _numpy(maps).astype(np.float64)
    if a.ndim == 4:
        if a.shape[0] != 1:
            raise ValueError(f"feature_map_view shows one digit's maps; got a batch of {a.shape[0]}")
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"expected (C, H, W) feature maps, got shape {a.shape}")
    c, h, w = a.shape
    if channel_mask is not None:
        keep = _numpy(channel_mask).astype(bool).reshape(-1)
        if keep.size != c:
            raise ValueError(f"channel mask has {keep.size} entries for {c} channels")
        a = np.where(keep[:, None, None], a, np.nan)
    cols = cols or math.ceil(math.sqrt(c))
    rows = math.ceil(c / cols)
    grid = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for i in range(c):
        r, q = divmod(i, cols)
        grid[r * (h + gap): r * (h + gap) + h, q * (w + gap): q * (w + gap) + w] = a[i]
    return grid
