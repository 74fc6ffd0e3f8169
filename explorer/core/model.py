"""The multilayer perceptron every page trains, built from one config dataclass."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from explorer.dropout import VARIANTS, DropoutLayer, make_dropout, probing
from explorer.dropout.multisample import SAMPLES, MultiSampleHead
from explorer.dropout.standout import ALPHA

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "selu": nn.SELU}


@dataclass(frozen=True)
class MLPConfig:
    n_in: int = 2
    hidden: tuple[int, ...] = (64, 64)
    n_out: int = 2
    activation: str = "relu"
    p: float = 0.5          # drop rate after every hidden layer
    input_p: float = 0.0    # drop rate on the inputs
    variant: str = "standard"
    seed: int = 0           # initial weights and the dropout masks' stream
    samples: int = SAMPLES.default  # multisample: masks per example into the shared output layer
    standout_alpha: float = ALPHA.default


@dataclass
class LayerTrace:
    """One hidden layer's view of a batch: activations before dropout and the mask applied."""

    name: str
    activation: torch.Tensor   # (batch, units)
    mask: torch.Tensor         # (batch, units), bool: True = kept


@dataclass
class Trace:
    input_mask: torch.Tensor                 # (batch, n_in), bool
    layers: list[LayerTrace] = field(default_factory=list)
    logits: torch.Tensor | None = None


class MLP(nn.Module):
    """input dropout → [Linear → activation → dropout] × depth → Linear.

    Weights are initialised from the config's seed with torch's default rule,
    so two networks built from the same config (a run and its no-dropout twin,
    or runs of different variants) start identical. Where a variant's noise
    sits (after the activation, in it, on the weights, before a shared head) is
    its ``placement``; every layer a unit's dropout rate applies to is still one
    of ``dropouts``, input first.
    """

    # Examples per forward pass when a whole set is evaluated (Trainer.evaluate): on one CPU thread the MLP's
    # speed is flat from 256 up (MNIST subset, 784-512-512).
    eval_chunk = 1024

    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        if cfg.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {cfg.activation!r}; choose from {', '.join(ACTIVATIONS)}")
        if cfg.variant not in VARIANTS or "mlp" not in VARIANTS[cfg.variant].models:
            raise ValueError(f"variant {cfg.variant!r} does not apply to the MLP")
        self.cfg = cfg
        self.noise = torch.Generator().manual_seed(cfg.seed + 1)
        init = torch.Generator().manual_seed(cfg.seed)
        widths = (cfg.n_in, *cfg.hidden, cfg.n_out)
        linears = [_linear(fan_in, fan_out, init) for fan_in, fan_out in zip(widths[:-1], widths[1:])]
        self.net = nn.Sequential(*_layers(cfg, linears, self.noise))
        self._learned = [(d, lin) for d, lin in zip(self.dropouts, self.linears) if hasattr(d, "regularization")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def regularization(self, n_train: int) -> torch.Tensor | float:
        """What learned rates add to the loss (concrete dropout's prior); 0 for every other variant."""
        return sum((d.regularization(lin, n_train) for d, lin in self._learned), 0.0)

    @property
    def dropouts(self) -> list[DropoutLayer]:
        """Input dropout first, then one per hidden layer."""
        return [m for m in self.net.modules() if isinstance(m, DropoutLayer)]

    @property
    def hidden_rate(self) -> float:
        """The drop rate of the hidden layers (the one the history records as ``p``)."""
        return layer_rates(self.dropouts)[0]

    @property
    def linears(self) -> list[nn.Linear]:
        return [m for m in self.net.modules() if isinstance(m, nn.Linear)]

    @property
    def layer_sizes(self) -> list[int]:
        return [self.cfg.n_in, *self.cfg.hidden, self.cfg.n_out]

    def set_rates(self, p: float | None = None, input_p: float | None = None) -> None:
        """Change drop rates in place; the next forward pass uses them, the weights stay."""
        set_layer_rates(self.dropouts, p, input_p)

    def capture(self, on: bool = True) -> None:
        """Record each dropout layer's mask and input during training forward passes."""
        for layer in self.dropouts:
            layer.record = on
            if not on:
                layer.last_mask = layer.last_noise = layer.last_input = None

    def last_trace(self) -> Trace | None:
        """Masks and activations of the last training step, if capture was on."""
        first, *hidden = self.dropouts
        if first.last_mask is None:
            return None
        return Trace(
            input_mask=first.last_mask,
            layers=[LayerTrace(f"hidden {i + 1}", d.last_input, d.last_mask) for i, d in enumerate(hidden)],
        )

    @torch.no_grad()
    def trace(self, x: torch.Tensor, train_mode: bool, seed: int = 0) -> Trace:
        """One batch's masks and activations, in training mode (masks sampled) or inference mode.

        Training-mode masks come from a generator of their own (``seed``) and
        the layers' records are restored afterwards, so looking inside a run
        never changes the masks its training steps draw.
        """
        if not train_mode:
            return self._inference_trace(x)
        was_training = self.training
        self.train()
        try:
            with probing(self.dropouts, seed):
                logits = self(x)
                result = self.last_trace()
            result.logits = logits
            return result
        finally:
            self.train(was_training)

    def _inference_trace(self, x: torch.Tensor) -> Trace:
        was_training = self.training
        self.eval()
        layers, h = [], x
        for module in self.net:
            if isinstance(module, DropoutLayer) and h is not x:
                layers.append(LayerTrace(f"hidden {len(layers) + 1}", h, torch.ones_like(h, dtype=torch.bool)))
            h = module(h)
        self.train(was_training)
        return Trace(input_mask=torch.ones_like(x, dtype=torch.bool), layers=layers, logits=h)


def layer_rates(dropouts: Sequence[DropoutLayer]) -> tuple[float, float]:
    """The hidden and input drop rates of an MLP's dropout layers (input first, then one per hidden layer)."""
    first, *hidden = dropouts
    return (hidden[0].p if hidden else 0.0), first.p


def set_layer_rates(dropouts: Sequence[DropoutLayer], p: float | None = None, input_p: float | None = None) -> None:
    """Set an MLP's dropout layers' rates in place (input first, then every hidden layer's at ``p``)."""
    first, *hidden = dropouts
    if input_p is not None:
        first.p = float(input_p)
    if p is not None:
        for layer in hidden:
            layer.p = float(p)


def _layers(cfg: MLPConfig, linears: list[nn.Linear], noise: torch.Generator) -> list[nn.Module]:
    """The network's layers in order, the variant's noise placed as its ``placement`` says."""
    placement = VARIANTS[cfg.variant].placement
    act = ACTIVATIONS[cfg.activation]
    *hidden, out = linears
    units = cfg.variant if placement == "units" else "standard"  # the others: standard dropout on the inputs
    layers: list[nn.Module] = [make_dropout(units, cfg.input_p, noise)]
    for lin in hidden:
        if placement == "weights":  # dropconnect: each hidden layer's incoming weights; the output layer stays plain
            layers.append(VARIANTS[cfg.variant].layer(cfg.p, noise, lin, act()))
        elif placement == "activation":
            layers += [lin, VARIANTS[cfg.variant].layer(cfg.p, noise, act(), alpha=cfg.standout_alpha)]
        else:
            layers += [lin, act(), make_dropout(units, cfg.p, noise)]
    if placement == "head":
        return [*layers[:-1], MultiSampleHead(layers[-1], out, cfg.samples)]
    return [*layers, out]


def _linear(fan_in: int, fan_out: int, gen: torch.Generator) -> nn.Linear:
    """nn.Linear with torch's default initialisation, drawn from ``gen`` instead of the global stream."""
    layer = torch.nn.utils.skip_init(nn.Linear, fan_in, fan_out)
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=gen)
        layer.bias.uniform_(-bound, bound, generator=gen)
    return layer
