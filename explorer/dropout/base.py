"""The interface every dropout variant implements, and the registry that lists them.

A variant is a module with a drop rate ``p`` (the probability of *dropping*,
as in ``nn.Dropout``) that may change between steps without rebuilding the
network, a generator of its own (so runs are reproducible and sessions on a
shared server do not disturb each other's random streams) and, on request, a
record of the mask it sampled and the activations it saw.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import nn

from explorer.dropout.params import Param


class DropoutLayer(nn.Module):
    """Base class: subclasses define ``train_forward``, and ``infer`` where inference is not the identity.

    ``record`` turns on the capture of ``last_mask`` (the units kept, as bool),
    ``last_noise`` (the factor each value was multiplied by, as float: m/k for
    inverted dropout, r for Gaussian noise) and ``last_input`` (what the layer
    received) in training forward passes only, so evaluation and boundary maps
    never overwrite the latest training step. Off by default, it costs nothing.
    """

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = float(p)
        self.generator = generator
        self.record = False
        self.last_mask: torch.Tensor | None = None
        self.last_noise: torch.Tensor | None = None
        self.last_input: torch.Tensor | None = None

    @property
    def keep(self) -> float:
        return 1.0 - self.p

    @property
    def expected_kept(self) -> float:
        """The share of units a training step is expected to keep: k, or 1 for noise that removes none."""
        return self.keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.infer(x)
        if self.record:
            self.last_input = x.detach()
        if self.p == 0.0:
            self.remember(torch.ones_like(x, dtype=torch.bool), torch.ones_like(x))
            return x
        return self.train_forward(x)

    def remember(self, mask: torch.Tensor, noise: torch.Tensor) -> None:
        """Keep this step's mask and multiplier if ``record`` is on (a no-op otherwise)."""
        if self.record:
            self.last_mask, self.last_noise = mask, noise.detach()

    def bernoulli_keep(self, x: torch.Tensor) -> torch.Tensor:
        """A fresh {0, 1} keep-mask shaped like ``x``, one draw per unit and example."""
        return torch.empty_like(x).bernoulli_(self.keep, generator=self.generator)

    def train_forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """The identity: a variant whose training keeps E[output] runs the full network unchanged at inference."""
        return x

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MultiplicativeDropout(DropoutLayer):
    """A variant whose training step multiplies the units by noise that does not depend on them: subclasses
    define ``noise``. A batched stack (``explorer.core.batched``) draws each model's noise with it, as the model's
    own training step would, and multiplies them all at once."""

    removes_units = True  # False: noise that scales every unit and removes none (Gaussian, uniform)

    @property
    def expected_kept(self) -> float:
        return self.keep if self.removes_units else 1.0

    def noise(self, x: torch.Tensor) -> torch.Tensor:
        """This step's factor for every value of ``x`` (its shape and type are what is read)."""
        raise NotImplementedError

    def kept(self, noise: torch.Tensor) -> torch.Tensor:
        """The units a factor keeps (``last_mask``): those it does not zero, or every one if it removes none."""
        return noise > 0 if self.removes_units else torch.ones_like(noise, dtype=torch.bool)

    def train_forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = self.noise(x)
        self.remember(self.kept(noise), noise)
        return x * noise


@contextmanager
def probing(layers: Sequence[DropoutLayer], seed: int) -> Iterator[None]:
    """Record the layers' masks drawn from a generator of their own; restore the layers afterwards.

    Looking inside a run (a page tracing one batch) then never changes the
    masks its training steps draw, nor the record of its latest step.
    """
    saved = [(d.generator, d.record, d.last_mask, d.last_noise, d.last_input) for d in layers]
    probe = torch.Generator().manual_seed(seed)
    for d in layers:
        d.generator, d.record = probe, True
    try:
        yield
    finally:
        for d, (generator, record, mask, noise, seen) in zip(layers, saved):
            d.generator, d.record, d.last_mask, d.last_noise, d.last_input = generator, record, mask, noise, seen


PLACEMENTS = ("units", "activation", "weights", "head", "maps")


@dataclass(frozen=True)
class Variant:
    """What the app and the command line need to know about a variant.

    ``placement`` says where a network puts the layer and how it builds it:

    - ``units``: after each activation (and on the inputs), ``layer(p, generator)``;
    - ``activation``: replaces each hidden activation, ``layer(p, generator, activation)``,
      because its noise depends on the pre-activation (standout); the inputs take
      standard dropout;
    - ``weights``: replaces each hidden Linear and its activation,
      ``layer(p, generator, linear, activation)``, at the hidden rate; the
      output (softmax) layer stays deterministic, as in Wan et al. 2013, and
      the inputs take standard dropout (dropconnect);
    - ``head``: ``layer`` (standard dropout) everywhere, the last one sampled
      ``samples`` times into one shared output layer (multisample);
    - ``maps``: on convolutional feature maps, ``layer(p, generator)`` (spatial, dropblock).

    ``params`` declares the ``Experiment`` fields a variant reads (its own
    parameters): range, default, widget and help, in one place. ``unit_masks``: the variant's noise is
    one mask per unit of a layer and its rate a plain setting, as the
    Playground and Inside pages draw and drive it.
    """

    key: str
    name: str
    layer: type[DropoutLayer]
    train_rule: str   # LaTeX
    infer_rule: str   # LaTeX
    explanation: str
    reference: str
    survivors: str    # what a training step does to the units, in a few words, for captions
    models: tuple[str, ...] = ("mlp",)
    params: tuple[Param, ...] = ()
    placement: str = "units"
    unit_masks: bool = True

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise ValueError(f"variant {self.key!r}: placement must be one of {', '.join(PLACEMENTS)}")


VARIANTS: dict[str, Variant] = {}


def register(variant: Variant) -> Variant:
    if variant.key in VARIANTS:
        raise ValueError(f"variant {variant.key!r} registered twice")
    VARIANTS[variant.key] = variant
    return variant


def variants_for(model: str, unit_masks: bool = False) -> list[str]:
    """Keys of the variants that apply to a model kind ("mlp", "cnn"), in registry order.

    ``unit_masks``: only those the Playground and Inside pages can draw and drive.
    """
    return [key for key, v in VARIANTS.items() if model in v.models and (v.unit_masks or not unit_masks)]


def make_dropout(key: str, p: float, generator: torch.Generator | None = None, **params: object) -> DropoutLayer:
    """Build the layer of a registered variant placed on units or maps (``layer(p, generator)``).

    Of ``params``, the variant takes those it declares (``block_size`` for dropblock).
    """
    if key not in VARIANTS:
        raise ValueError(f"unknown variant {key!r}; choose from {', '.join(VARIANTS)}")
    variant = VARIANTS[key]
    return variant.layer(p, generator, **{k: v for k, v in params.items() if k in {q.name for q in variant.params}})
