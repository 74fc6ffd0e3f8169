"""The multilayer perceptron every page trains, built from one config dataclass."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from explorer.dropout import DropoutLayer, make_dropout, probing

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
    so two networks built from the same config (a run and its no-dropout twin)
    start identical.
    """

    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        if cfg.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {cfg.activation!r}; choose from {', '.join(ACTIVATIONS)}")
        self.cfg = cfg
        self.noise = torch.Generator().manual_seed(cfg.seed + 1)
        init = torch.Generator().manual_seed(cfg.seed)
        widths = (cfg.n_in, *cfg.hidden)
        layers: list[nn.Module] = [make_dropout(cfg.variant, cfg.input_p, self.noise)]
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += [_linear(fan_in, fan_out, init), ACTIVATIONS[cfg.activation](), make_dropout(cfg.variant, cfg.p, self.noise)]
        layers.append(_linear(widths[-1], cfg.n_out, init))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @property
    def dropouts(self) -> list[DropoutLayer]:
        """Input dropout first, then one per hidden layer."""
        return [m for m in self.net if isinstance(m, DropoutLayer)]

    @property
    def hidden_rate(self) -> float:
        """The drop rate of the hidden layers (the one the history records as ``p``)."""
        return self.dropouts[1].p if len(self.dropouts) > 1 else 0.0

    @property
    def linears(self) -> list[nn.Linear]:
        return [m for m in self.net if isinstance(m, nn.Linear)]

    @property
    def layer_sizes(self) -> list[int]:
        return [self.cfg.n_in, *self.cfg.hidden, self.cfg.n_out]

    def set_rates(self, p: float | None = None, input_p: float | None = None) -> None:
        """Change drop rates in place; the next forward pass uses them, the weights stay."""
        first, *hidden = self.dropouts
        if input_p is not None:
            first.p = float(input_p)
        if p is not None:
            for layer in hidden:
                layer.p = float(p)

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


def _linear(fan_in: int, fan_out: int, gen: torch.Generator) -> nn.Linear:
    """nn.Linear with torch's default initialisation, drawn from ``gen`` instead of the global stream."""
    layer = torch.nn.utils.skip_init(nn.Linear, fan_in, fan_out)
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=gen)
        layer.bias.uniform_(-bound, bound, generator=gen)
    return layer
