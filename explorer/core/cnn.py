"""A small convolutional network for 28×28 digits, built from one config dataclass (like model.py).

    (batch, 784) → (batch, 1, 28, 28) → input dropout
    → [conv 3×3 → activation → max-pool 2×2 → conv dropout] × 2
    → flatten → Linear → activation → dropout → Linear → logits

The conv dropouts default to ``spatial`` (whole channels, as ``nn.Dropout2d``);
the input and dense dropouts use an elementwise variant (``standard`` by default).
It offers the MLP's interface (``dropouts``, ``linears``, ``set_rates``,
``capture``, ``last_trace``, ``trace``), so the Trainer and the pages take
either model; ``hidden_rate`` is the dense layer's rate (``dropouts[1]`` is a
conv dropout here, not a hidden layer's as in the MLP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from explorer.dropout import VARIANTS, DropoutLayer, make_dropout, probing
from explorer.dropout.dropblock import BLOCK_SIZE
from explorer.dropout.spatial import SpatialDropout
from explorer.core.model import ACTIVATIONS, LayerTrace, Trace, _linear

SIDE = 28  # input images are SIDE × SIDE, one channel, flattened to SIDE² features


@dataclass(frozen=True)
class CNNConfig:
    # (16, 32) learned the MNIST subset no better (97.3 % vs 97.2 %, seeds 0-2) in twice the time
    channels: tuple[int, int] = (8, 16)
    hidden: int = 128
    n_out: int = 10
    activation: str = "relu"
    p: float = 0.5                  # drop rate after the dense hidden layer
    conv_p: float = 0.1             # drop rate after each conv block
    input_p: float = 0.0            # drop rate on the input pixels
    variant: str = "standard"       # input and dense dropout: an elementwise variant
    conv_variant: str = "spatial"   # conv dropout
    block_size: int = BLOCK_SIZE.default  # dropblock's block side
    seed: int = 0                   # initial weights and the dropout masks' stream


class MaxPool2(nn.MaxPool2d):
    """``nn.MaxPool2d(2)``, whose forward pass without gradients (evaluation, the pages' probes) is the maximum of
    the four strided views of each 2×2 window: the same numbers, about 7× faster on one CPU thread than torch's
    kernel, which also computes the indices a backward pass would need. (With gradients, the same views and a
    mask of each window's first maximum trained no faster than the kernel: 13.3 vs 12.8 ms a step.)"""

    def __init__(self) -> None:
        super().__init__(2)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and h.requires_grad or h.shape[-1] % 2 or h.shape[-2] % 2:
            return super().forward(h)
        return torch.maximum(torch.maximum(h[..., ::2, ::2], h[..., ::2, 1::2]),
                             torch.maximum(h[..., 1::2, ::2], h[..., 1::2, 1::2]))


class CNN(nn.Module):
    """Two conv blocks and a dense layer; weights from the config's seed, as in the MLP.

    Two networks built from the same config (a run and its no-dropout twin)
    start identical; all dropout layers share one generator seeded with
    ``seed + 1``.
    """

    # Examples per forward pass when a whole set is evaluated (Trainer.evaluate): a chunk's conv maps stay in the
    # CPU's cache. The 4,000 training digits on one thread: 0.12 s in chunks of 128, 0.22 s in chunks of 1,024.
    eval_chunk = 128

    def __init__(self, cfg: CNNConfig) -> None:
        super().__init__()
        if cfg.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {cfg.activation!r}; choose from {', '.join(ACTIVATIONS)}")
        for key, kind in ((cfg.variant, "mlp"), (cfg.conv_variant, "cnn")):
            if key in VARIANTS and kind not in VARIANTS[key].models:
                where = "input and dense layers" if kind == "mlp" else "conv feature maps"
                raise ValueError(f"variant {key!r} does not apply to the {where}")
        self.cfg = cfg
        self.noise = torch.Generator().manual_seed(cfg.seed + 1)
        init = torch.Generator().manual_seed(cfg.seed)
        c1, c2 = cfg.channels
        self.input_drop = make_dropout(cfg.variant, cfg.input_p, self.noise)
        self.blocks = nn.ModuleList(
            nn.Sequential(_conv(c_in, c_out, init), ACTIVATIONS[cfg.activation](), MaxPool2())
            for c_in, c_out in ((1, c1), (c1, c2))
        )
        self.conv_drops = nn.ModuleList(make_dropout(cfg.conv_variant, cfg.conv_p, self.noise, block_size=cfg.block_size)
                                        for _ in self.blocks)
        self.fc = _linear(c2 * (SIDE // 4) ** 2, cfg.hidden, init)
        self.act = ACTIVATIONS[cfg.activation]()
        self.drop = make_dropout(cfg.variant, cfg.p, self.noise)
        self.head = _linear(cfg.hidden, cfg.n_out, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input_drop(x.reshape(-1, 1, SIDE, SIDE))
        for block, drop in zip(self.blocks, self.conv_drops):
            h = drop(block(h))
        h = self.drop(self.act(self.fc(h.flatten(1))))
        return self.head(h)

    # --- the MLP's interface ---------------------------------------------
    @property
    def dropouts(self) -> list[DropoutLayer]:
        """In network order: input dropout, one per conv block, then the dense dropout."""
        return [self.input_drop, *self.conv_drops, self.drop]

    @property
    def linears(self) -> list[nn.Linear]:
        """The two dense layers (``linears[:-1]`` is what max-norm constrains)."""
        return [self.fc, self.head]

    @property
    def convs(self) -> list[nn.Conv2d]:
        return [block[0] for block in self.blocks]

    @property
    def hidden_rate(self) -> float:
        """The dense layer's drop rate: what a history's ``p`` should report."""
        return self.drop.p

    @property
    def conv_rate(self) -> float:
        return self.conv_drops[0].p

    def set_rates(self, p: float | None = None, input_p: float | None = None, conv_p: float | None = None) -> None:
        """Change drop rates in place; the next forward pass uses them, the weights stay."""
        if input_p is not None:
            self.input_drop.p = float(input_p)
        if conv_p is not None:
            for layer in self.conv_drops:
                layer.p = float(conv_p)
        if p is not None:
            self.drop.p = float(p)

    def regularization(self, n_train: int) -> float:
        """No learned rates in the CNN: nothing to add to the loss (the MLP's concrete dropout adds a prior)."""
        return 0.0

    def capture(self, on: bool = True) -> None:
        """Record each dropout layer's mask and input during training forward passes."""
        for layer in self.dropouts:
            layer.record = on
            if not on:
                layer.last_mask = layer.last_noise = layer.last_input = None

    # --- looking inside ----------------------------------------------------
    @torch.no_grad()
    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each conv block's output (after activation and pooling, before dropout), in inference mode.

        For the default channels: (N, 8, 14, 14) and (N, 16, 7, 7).
        """
        was_training = self.training
        self.eval()
        try:
            return self._inside(x)[0]
        finally:
            self.train(was_training)

    def _inside(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """The forward pass, keeping what each dropout layer after the input receives.

        Returns (conv block outputs, dense activation, logits), all before their dropout.
        """
        maps, h = [], self.input_drop(x.reshape(-1, 1, SIDE, SIDE))
        for block, drop in zip(self.blocks, self.conv_drops):
            maps.append(block(h))
            h = drop(maps[-1])
        dense = self.act(self.fc(h.flatten(1)))
        return maps, dense, self.head(self.drop(dense))

    def last_trace(self) -> Trace | None:
        """Masks and inputs of the last training step's dropout layers, if capture was on.

        ``input_mask`` is (batch, 784) bool. ``layers`` are "conv 1", "conv 2" and
        "dense": each the (pre-dropout) activation the layer received, (N, C, H, W) for
        the conv blocks and (N, hidden) for the dense one, and its keep-mask: (N, C) for
        channel (spatial) dropout, shaped like the activation for elementwise variants.
        """
        if self.input_drop.last_mask is None:
            return None
        names = [f"conv {i + 1}" for i in range(len(self.conv_drops))] + ["dense"]
        return Trace(
            input_mask=self.input_drop.last_mask.reshape(-1, SIDE * SIDE),
            layers=[LayerTrace(n, d.last_input, d.last_mask) for n, d in zip(names, self.dropouts[1:])],
        )

    @torch.no_grad()
    def trace(self, x: torch.Tensor, train_mode: bool, seed: int = 0) -> Trace:
        """One batch's masks and activations, as ``MLP.trace``: see ``last_trace`` for the shapes.

        Training mode samples masks from a generator of its own (``seed``) and
        restores the layers' generators and records afterwards, so looking inside
        a run never changes the masks its training steps draw. Inference mode
        gives all-True masks (of the same shapes) and the inference activations.
        """
        was_training = self.training
        self.train(train_mode)
        try:
            if not train_mode:  # the layers record nothing in inference mode
                return self._inference_trace(x)
            with probing(self.dropouts, seed):
                logits = self(x)
                result = self.last_trace()
            result.logits = logits
            return result
        finally:
            self.train(was_training)

    def _inference_trace(self, x: torch.Tensor) -> Trace:
        maps, dense, logits = self._inside(x)
        names = [f"conv {i + 1}" for i in range(len(maps))] + ["dense"]
        layers = [
            LayerTrace(n, h, torch.ones(_mask_shape(d, h), dtype=torch.bool))
            for n, h, d in zip(names, [*maps, dense], self.dropouts[1:])
        ]
        return Trace(input_mask=torch.ones(x.shape[0], SIDE * SIDE, dtype=torch.bool), layers=layers, logits=logits)


def _mask_shape(layer: DropoutLayer, h: torch.Tensor) -> tuple[int, ...]:
    """The shape of the mask ``layer`` records for input ``h``: (N, C) for channel dropout."""
    return tuple(h.shape[:2]) if isinstance(layer, SpatialDropout) else tuple(h.shape)


def _conv(c_in: int, c_out: int, gen: torch.Generator, size: int = 3) -> nn.Conv2d:
    """nn.Conv2d (``size``×``size``, same padding) with torch's default initialisation, drawn from ``gen``.

    torch's rule is kaiming-uniform with a = √5, i.e. bound = gain·√(3/fan_in) with
    gain = √(2/(1 + a²)) = √(1/3): bound = 1/√fan_in, fan_in = c_in·size²; the bias
    uses the same bound.
    """
    layer = torch.nn.utils.skip_init(nn.Conv2d, c_in, c_out, size, padding=size // 2)
    bound = 1.0 / math.sqrt(c_in * size * size)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=gen)
        layer.bias.uniform_(-bound, bound, generator=gen)
    return layer

