"""Uniform multiplicative noise (Uout): every unit times 1 + r, r ~ U(−β, β), no unit removed."""

from __future__ import annotations

import math

import torch

from explorer.dropout.base import DropoutLayer, Variant, register


class UniformDropout(DropoutLayer):
    """x·(1 + r) with r ~ U(−β, β), β = √(3q/k): the multiplier's variance β²/3 is q/k, that of inverted dropout.

    Matching the variance lets one drop-rate knob mean the same noise level for
    every variant. Li et al. (2019) use small β (≈ 0.1), where the variance
    shift between training and inference is negligible. Inference is the identity.
    """

    @property
    def expected_kept(self) -> float:
        return 1.0

    @property
    def beta(self) -> float:
        return math.sqrt(3.0 * self.p / self.keep)

    def train_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.keep == 0.0:
            raise ValueError("uniform dropout needs a drop rate below 1 (its β = √(3q/k) is infinite at 1)")
        noise = torch.empty_like(x).uniform_(-self.beta, self.beta, generator=self.generator).add_(1.0)
        self.remember(torch.ones_like(x, dtype=torch.bool), noise)
        return x * noise


register(
    Variant(
        key="uniform",
        name="Uniform (Uout)",
        layer=UniformDropout,
        train_rule=r"\tilde h = (1 + r) \odot h,\quad r_j \sim \mathcal{U}(-\beta, \beta),\ \beta = \sqrt{3q/k}",
        infer_rule=r"\tilde h = h",
        explanation=(
            "Every unit is multiplied by 1 + r with r uniform in [−β, β]: noise of mean 1, so the expected "
            "activation is unchanged and inference runs the full network. Here β is set from the drop rate "
            "so that the noise has the variance q/k of inverted dropout at the same rate, which makes the "
            "rate knob comparable across variants. Li et al. proposed it with small β (about 0.1), whose "
            "small variance shift makes dropout get along with batch normalisation."
        ),
        reference=("Li, Chen, Hu, Yang (2019), Understanding the Disharmony between Dropout and Batch "
                   "Normalization by Variance Shift, CVPR"),
        survivors="every unit multiplied by 1 + r, r uniform in [−β, β]",
        models=("mlp", "cnn"),
    )
)
