"""Concrete dropout (Gal, Hron, Kendall 2017): the drop rate of each layer is learned by gradient descent."""

from __future__ import annotations

import math

import torch
from torch import nn

from explorer.dropout.base import DropoutLayer, Variant, register

TEMPERATURE = 0.1  # of the relaxed (concrete) Bernoulli mask
EPS = 1e-7
# The prior's weights, as in the paper's code (yaringal/ConcreteDropout): w_r = l²/N, d_r = 2/N, N the
# training set's size. Its notebooks take the length scale l = 1e-4; ours is 1e-2, a prior still so vague
# that the weight term is a faint weight decay (about 1e-5 of the loss on the MNIST subset): the rate is
# set by the data fit against the entropy term, and concrete runs get no L2 that the other variants lack.
LENGTH_SCALE = 1e-2


class ConcreteDropout(DropoutLayer):
    """Inverted dropout with a continuous relaxation of the mask, so the rate gets a gradient.

    The rate is ``sigmoid(p_logit)``, a parameter the optimiser trains; the
    loss must add ``regularization`` (the model does), whose entropy term keeps
    the rate from collapsing to 0. Rate 0 switches the layer off for good: it
    is the identity and its rate does not learn.
    """

    @property
    def p(self) -> float:
        return 0.0 if self.off else float(torch.sigmoid(self.p_logit.detach()))

    @p.setter
    def p(self, value: float) -> None:
        if "p_logit" not in self._parameters:  # the first assignment, in DropoutLayer.__init__
            self.p_logit = nn.Parameter(torch.zeros(()))
        self.off = value == 0.0
        q = min(max(float(value), EPS), 1.0 - EPS)
        with torch.no_grad():
            self.p_logit.fill_(math.log(q / (1.0 - q)))

    def train_forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.sigmoid(self.p_logit).clamp(EPS, 1.0 - EPS)
        u = torch.rand(x.shape, generator=self.generator, dtype=x.dtype).clamp(EPS, 1.0 - EPS)
        drop = torch.sigmoid((q.log() - (1 - q).log() + u.log() - (1 - u).log()) / TEMPERATURE)
        noise = (1.0 - drop) / (1.0 - q)
        self.remember(drop < 0.5, noise)
        return x * noise

    def regularization(self, next_linear: nn.Linear, n_train: int) -> torch.Tensor:
        """w_r·‖W‖²/(1−q) + d_r·K·(q log q + (1−q) log(1−q)), W the layer reading this one, K its inputs."""
        if self.off:
            return torch.zeros(())
        q = torch.sigmoid(self.p_logit).clamp(EPS, 1.0 - EPS)
        squares = next_linear.weight.pow(2).sum() + next_linear.bias.pow(2).sum()
        weights = LENGTH_SCALE**2 / n_train * squares / (1.0 - q)
        entropy = q * q.log() + (1.0 - q) * (1.0 - q).log()
        return weights + 2.0 / n_train * next_linear.in_features * entropy


register(
    Variant(
        key="concrete",
        name="Concrete (learned rate)",
        layer=ConcreteDropout,
        train_rule=(r"\tilde h = \frac{(1 - z) \odot h}{1 - q},\ z = \sigma\!\Big(\tfrac{1}{t}\big(\operatorname{logit} q"
                    r" + \log u - \log(1-u)\big)\Big),\ u \sim \mathcal{U}(0,1),\ t = 0.1;\ "
                    r"\mathcal{L} \mathrel{+}= \tfrac{l^2}{N}\tfrac{\lVert W\rVert^2}{1-q} + \tfrac{2K}{N}\,\big(q\log q + (1-q)\log(1-q)\big)"),
        infer_rule=r"\tilde h = h",
        explanation=(
            "The drop rate is not chosen but learned, one per layer. A Bernoulli mask has no gradient with "
            "respect to its rate, so a continuous relaxation (the concrete distribution) replaces it: "
            "almost 0 or 1, yet differentiable in q. A prior term in the loss keeps the rate from "
            "collapsing to 0 (no noise fits the training set best); with more data it matters less and "
            "the learned rates fall. Inference runs the full network."
        ),
        reference="Gal, Hron, Kendall (2017), Concrete Dropout, NeurIPS",
        survivors="relaxed mask, survivors scaled by 1/k, rate learned",
        unit_masks=False,
    )
)
