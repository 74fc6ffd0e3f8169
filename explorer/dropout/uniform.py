"""Uniform multiplicative noise (Uout): every unit times 1 + r, r ~ U(−β, β), no unit removed."""

from __future__ import annotations

import math

import torch

from explorer.dropout.base import MultiplicativeDropout, Variant, register

MAX_BETA = 1.0   # beyond it 1 + r can be negative and flip a unit's sign: no longer Uout's noise
CAP_RATE = 0.25  # the drop rate whose variance-matched β is MAX_BETA: 3q/(1 − q) = 1


def uout_beta(q: float) -> float:
    """β = √(3q/k), the multiplier's variance β²/3 then being q/k as for inverted dropout, capped at MAX_BETA.

    Up to q = CAP_RATE the noise matches Bernoulli dropout's variance at the
    same rate; above it β stays 1 (variance 1/3, dropout's at q = 0.25), the
    widest noise that never turns a unit's sign.
    """
    return MAX_BETA if q >= CAP_RATE else math.sqrt(3.0 * q / (1.0 - q))


class UniformDropout(MultiplicativeDropout):
    """x·(1 + r) with r ~ U(−β, β), β = ``uout_beta(q)``: dropout's variance q/k up to q = 0.25, then β = 1.

    Matching the variance lets one drop-rate knob mean the same noise level as
    the other variants, as far as Uout's noise can go. Li et al. (2019) use
    small β (≈ 0.1), where the variance shift between training and inference is
    negligible. Inference is the identity.
    """

    removes_units = False

    @property
    def beta(self) -> float:
        return uout_beta(self.p)

    def noise(self, x: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(x).uniform_(-self.beta, self.beta, generator=self.generator).add_(1.0)


register(
    Variant(
        key="uniform",
        name="Uniform (Uout)",
        layer=UniformDropout,
        train_rule=(r"\tilde h = (1 + r) \odot h,\quad r_j \sim \mathcal{U}(-\beta, \beta),\ "
                    r"\beta = \min\big(1, \sqrt{3q/k}\big)"),
        infer_rule=r"\tilde h = h",
        explanation=(
            "Every unit is multiplied by 1 + r with r uniform in [−β, β]: noise of mean 1, so the expected "
            "activation is unchanged and inference runs the full network. Here β is set from the drop rate "
            "so that the noise has the variance q/k of inverted dropout at the same rate, which makes the "
            "rate knob comparable across variants, up to q = 0.25, where β reaches 1. Above that β stays 1: "
            "a wider range would let 1 + r turn negative and flip a unit's sign, which is no longer Uout, so "
            "higher rates all give the noise of dropout at q = 0.25. Li et al. proposed it with small β "
            "(about 0.1), whose small variance shift makes dropout get along with batch normalisation."
        ),
        reference=("Li, Chen, Hu, Yang (2019), Understanding the Disharmony between Dropout and Batch "
                   "Normalization by Variance Shift, CVPR"),
        survivors="every unit multiplied by 1 + r, r uniform in [−β, β]",
        models=("mlp", "cnn"),
    )
)
