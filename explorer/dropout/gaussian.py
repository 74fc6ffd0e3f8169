"""Gaussian (multiplicative) dropout: every unit times r ~ N(1, q/k), no unit removed."""

from __future__ import annotations

import math

import torch

from explorer.dropout.base import MultiplicativeDropout, Variant, register


class GaussianDropout(MultiplicativeDropout):
    """x·r with r ~ N(1, σ²), σ² = q/k: the mean and variance of inverted Bernoulli dropout at rate q.

    Srivastava et al. (2014, §10) found it works as well or better; every unit
    takes part in every step, so ``last_mask`` is all True and the layer's
    ``expected_kept`` is 1. Inference is the identity.
    """

    removes_units = False

    def noise(self, x: torch.Tensor) -> torch.Tensor:
        if self.keep == 0.0:
            raise ValueError("Gaussian dropout needs a drop rate below 1 (its variance q/k is infinite at 1)")
        return torch.empty_like(x).normal_(1.0, math.sqrt(self.p / self.keep), generator=self.generator)


register(
    Variant(
        key="gaussian",
        name="Gaussian (multiplicative)",
        layer=GaussianDropout,
        train_rule=r"\tilde h = r \odot h,\quad r_j \sim \mathcal{N}\!\left(1, \tfrac{q}{k}\right),\ k = 1 - q",
        infer_rule=r"\tilde h = h",
        explanation=(
            "Instead of switching units off, every unit is multiplied by noise drawn from a normal "
            "distribution with mean 1 and variance q/k: the same mean and variance that inverted "
            "Bernoulli dropout gives, but no unit is ever silenced. The expected activation is "
            "unchanged, so inference runs the full network as it is."
        ),
        reference=("Srivastava et al. (2014), JMLR 15, §10. Related, not this noise: Wang & Manning (2013), Fast "
                   "dropout training, ICML, a Gaussian approximation of Bernoulli dropout's effect"),
        survivors="every unit multiplied by noise from N(1, q/k)",
        models=("mlp", "cnn"),
    )
)
