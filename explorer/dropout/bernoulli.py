"""Bernoulli dropout in its two equivalent conventions: inverted and weight scaling."""

from __future__ import annotations

import torch

from explorer.dropout.base import MultiplicativeDropout, Variant, register


class InvertedDropout(MultiplicativeDropout):
    """Kept units are scaled by 1/k in training, so inference is the identity (``nn.Dropout``)."""

    def noise(self, x: torch.Tensor) -> torch.Tensor:
        noise = self.bernoulli_keep(x)
        if self.keep > 0.0:  # at rate 1 every unit is dropped: zeros, as nn.Dropout(1.0) gives
            noise.div_(self.keep)
        return noise


class WeightScalingDropout(MultiplicativeDropout):
    """The original paper's rule: no scaling in training, activations times k at inference."""

    def noise(self, x: torch.Tensor) -> torch.Tensor:
        return self.bernoulli_keep(x)

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.keep


register(
    Variant(
        key="standard",
        name="Standard (inverted)",
        layer=InvertedDropout,
        train_rule=r"\tilde h = \frac{m \odot h}{k},\quad m_j \sim \mathrm{Bernoulli}(k),\ k = 1 - q",
        infer_rule=r"\tilde h = h",
        explanation=(
            "Each unit is zeroed with probability q, a fresh mask for every example and step. "
            "Survivors are divided by the keep probability k, so the expected activation is "
            "the same in training and at inference, where the full network runs unchanged. "
            "This is what torch's nn.Dropout does."
        ),
        reference="Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov (2014), JMLR 15",
        survivors="survivors scaled by 1/k",
        models=("mlp", "cnn"),
    )
)

register(
    Variant(
        key="weight-scaling",
        name="Weight scaling (original)",
        layer=WeightScalingDropout,
        train_rule=r"\tilde h = m \odot h,\quad m_j \sim \mathrm{Bernoulli}(k)",
        infer_rule=r"\tilde h = k\,h \quad(\text{equivalently } W \to kW)",
        explanation=(
            "The rule of the original paper: units are dropped without rescaling during "
            "training, and at test time every outgoing weight is multiplied by k. It is the "
            "same family of networks as inverted dropout with weights scaled by k; the test "
            "network approximates the geometric mean of all 2^n thinned networks."
        ),
        reference="Hinton et al. (2012), arXiv:1207.0580; Srivastava et al. (2014)",
        survivors="survivors unscaled; the inference network scales by k",
        models=("mlp", "cnn"),
    )
)
