"""Standout (Ba & Frey 2013): adaptive dropout whose keep probability follows the unit's own input."""

from __future__ import annotations

import math

import torch
from torch import nn

from explorer.dropout.base import DropoutLayer, Variant, register
from explorer.dropout.params import Param


ALPHA = Param("standout_alpha", "α", "α, how strongly a unit's keep probability follows its input",
              default=1.0, lo=0.0, hi=10.0, step=0.25)


class Standout(DropoutLayer):
    """Takes a hidden layer's pre-activation z and applies the activation g itself.

    A unit is kept with probability π = sigmoid(α·z + β), the "standout
    network" sharing the layer's weights; β = logit(k) keeps a unit with
    z = 0 at the layer's keep probability. Training outputs m·g(z) with
    m ~ Bernoulli(π), unscaled; inference outputs π·g(z), the expectation.
    ``last_input`` is g(z), the activation before the mask.
    """

    def __init__(self, p: float, generator: torch.Generator | None, activation: nn.Module,
                 alpha: float = ALPHA.default) -> None:
        super().__init__(p, generator)
        self.activation, self.alpha = activation, float(alpha)

    def keep_probability(self, z: torch.Tensor) -> torch.Tensor:
        if self.keep == 0.0:
            return torch.zeros_like(z)
        return torch.sigmoid(self.alpha * z + math.log(self.keep / self.p))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        g = self.activation(z)
        if self.p == 0.0:  # π = 1 everywhere: the plain activation in training and inference
            if self.training and self.record:
                self.last_input = g.detach()
            if self.training:
                self.remember(torch.ones_like(g, dtype=torch.bool), torch.ones_like(g))
            return g
        keep = self.keep_probability(z)
        if not self.training:
            return keep * g
        mask = torch.bernoulli(keep.detach(), generator=self.generator)
        if self.record:
            self.last_input = g.detach()
        self.remember(mask > 0, mask)
        return mask * g

    def extra_repr(self) -> str:
        return f"p={self.p}, alpha={self.alpha}"


register(
    Variant(
        key="standout",
        name="Standout (adaptive)",
        layer=Standout,
        train_rule=(r"a_j = m_j\, g(z_j),\quad m_j \sim \mathrm{Bernoulli}(\pi_j),\ "
                    r"\pi_j = \sigma(\alpha z_j + \beta),\ z_j = w_j^\top a + b_j,\ \beta = \operatorname{logit} k"),
        infer_rule=r"a_j = \pi_j\, g(z_j)",
        explanation=(
            "The chance of keeping a unit depends on how strongly its input drives it: a unit with a large "
            "pre-activation is kept more often, a weakly driven one dropped more often. Ba & Frey compute "
            "the keep probability with a second 'standout' network; here it shares the layer's weights, "
            "scaled by α and shifted so that an undriven unit is kept with probability k. No rescaling "
            "in training; inference multiplies each unit by its keep probability, the expected mask."
        ),
        reference="Ba & Frey (2013), Adaptive dropout for training deep neural networks, NeurIPS",
        survivors="units kept with a probability that grows with their input, unscaled",
        params=(ALPHA,),
        placement="activation",
        unit_masks=False,
    )
)
