"""Alpha dropout for self-normalising (SELU) networks, as ``nn.AlphaDropout``."""

from __future__ import annotations

import torch

from explorer.dropout.base import DropoutLayer, Variant, register

ALPHA_PRIME = -1.7580993408473766  # −λα of SELU: the value SELU tends to for very negative inputs


class AlphaDropout(DropoutLayer):
    """Dropped units are set to α′ (SELU's negative saturation), then a·x + b restores mean 0 and variance 1.

    a = ((1 − q)(1 + q·α′²))^(−1/2) and b = −a·q·α′ keep a standard-normal
    input standard normal, which is what a SELU network needs; zeroing units,
    as standard dropout does, would shift its mean and variance. Inference is
    the identity. At rate 1 every unit is dropped and the output is 0, as
    ``nn.AlphaDropout(1.0)`` gives. Its noise is not a multiplier: ``last_noise``
    is the keep mask as 0/1.
    """

    def train_forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = self.bernoulli_keep(x)
        self.remember(keep > 0, keep)
        if self.keep == 0.0:
            return x * 0.0
        q = self.p
        a = ((1.0 - q) * (1.0 + q * ALPHA_PRIME**2)) ** -0.5
        b = -a * q * ALPHA_PRIME
        return a * (x * keep + ALPHA_PRIME * (1.0 - keep)) + b


register(
    Variant(
        key="alpha",
        name="Alpha (for SELU)",
        layer=AlphaDropout,
        train_rule=(
            r"\tilde h = a\,\big(m \odot h + \alpha'(1 - m)\big) + b,\quad m_j \sim \mathrm{Bernoulli}(k),\ "
            r"\alpha' = -1.7581,\ a = \big(k(1 + q\,\alpha'^2)\big)^{-1/2},\ b = -a\,q\,\alpha'"
        ),
        infer_rule=r"\tilde h = h",
        explanation=(
            "Made for self-normalising networks, whose SELU activations keep every layer's outputs "
            "at mean 0 and variance 1. Setting dropped units to 0 would break that; alpha dropout sets "
            "them to SELU's negative saturation value α′ instead and then rescales and shifts all "
            "units (a·x + b) so mean and variance stay those of the input. Pick the selu activation "
            "with it. Inference runs the full network unchanged. This is torch's nn.AlphaDropout."
        ),
        reference="Klambauer, Unterthiner, Mayr, Hochreiter (2017), Self-Normalizing Neural Networks, NeurIPS",
        survivors="dropped units set to α′, then every unit a·x + b",
        models=("mlp", "cnn"),
    )
)
