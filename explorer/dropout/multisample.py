"""Multi-sample dropout (Inoue 2019): several masks on the last hidden layer, one shared output layer.

The layers below the head run once; their features are dropped M times with
M independent masks and each copy goes through the same output layer. The
loss is the mean of the M losses: the gradient of M thinned networks for the
price of one backbone pass, which speeds up training. At inference dropout is
off and the head is the plain output layer.
"""

from __future__ import annotations

import torch
from torch import nn

from explorer import settings
from explorer.dropout.base import DropoutLayer, Variant, register
from explorer.dropout.params import Param
from explorer.dropout.bernoulli import InvertedDropout


SAMPLES = Param("samples", "Masks M", "M, dropout masks per example sharing one output layer", default=8,
                lo=1, hi=settings.MAX_SAMPLES)


class MultiSampleHead(nn.Module):
    """``dropout`` then ``linear``, ``samples`` times in training; stacked (M·N, n_out), sample-major.

    A trainer repeats the targets M times, so the mean cross-entropy over the
    stacked rows is the mean of the M samples' losses.
    """

    def __init__(self, dropout: DropoutLayer, linear: nn.Linear, samples: int) -> None:
        super().__init__()
        self.dropout, self.linear, self.samples = dropout, linear, int(samples)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.linear(self.dropout(h))
        return self.linear(self.dropout(h.repeat(self.samples, 1)))


register(
    Variant(
        key="multisample",
        name="Multi-sample",
        layer=InvertedDropout,
        train_rule=(r"\mathcal{L} = \frac{1}{M} \sum_{s=1}^{M} \ell\big(W (m_s \odot h / k) + b,\ y\big),\quad "
                    r"m_s \sim \mathrm{Bernoulli}(k)"),
        infer_rule=r"\hat y = W h + b",
        explanation=(
            "Standard dropout everywhere, except that the last hidden layer's features are dropped M times "
            "with M different masks, and every copy goes through the same output layer. The loss is the "
            "mean of the M losses. The layers below run once, so a step costs little more, yet it learns "
            "from M thinned networks at once: training needs fewer steps. Inference is the plain network."
        ),
        reference="Inoue (2019), Multi-Sample Dropout for Accelerated Training and Better Generalization, arXiv:1905.09788",
        survivors="M masks on the last hidden layer, survivors scaled by 1/k",
        params=(SAMPLES,),
        placement="head",
        unit_masks=False,
    )
)
