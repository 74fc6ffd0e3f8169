"""Concrete dropout (Gal, Hron, Kendall 2017): the drop rate of each layer is learned by gradient descent."""

from __future__ import annotations

import math

import torch
from torch import nn

from explorer.dropout.base import DropoutLayer, Variant, register

TEMPERATURE = 0.1  # of the relaxed (concrete) Bernoulli mask
EPS = 1e-7
# The prior's weights come from the ELBO for the loss the trainer minimises, the mean cross-entropy over N
# training examples: KL/N with KL = l²(1−q)/2·‖M‖² + l²/2·‖b‖² − K·H(q) (Gal, Hron, Kendall 2017),
# M = W/(1−q) the weights before inverted dropout's rescaling. So w_r = l²/(2N) and d_r = 1/N; the paper's
# regression code uses l²/N and 2/N because its loss is 2×NLL/τ, and those constants would double the prior
# here and bias the learned rate upward. Its notebooks take the length scale l = 1e-4; ours is 1e-2, a prior
# still so vague that the weight term is a faint weight decay (a few 1e-6 of the loss on the MNIST subset):
# the rate is set by the data fit against the entropy term, and concrete runs get no L2 the others lack.
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
        """The ELBO's KL term per training example: l²/(2N)·(‖W‖²/(1−q) + ‖b‖²) + K/N·(q log q + (1−q) log(1−q)),
        W and b the layer reading this one, K its inputs (the bias is not masked, so it has no 1/(1−q))."""
        if self.off:
            return torch.zeros(())
        q = torch.sigmoid(self.p_logit).clamp(EPS, 1.0 - EPS)
        squares = next_linear.weight.pow(2).sum() / (1.0 - q) + next_linear.bias.pow(2).sum()
        weights = LENGTH_SCALE**2 / (2 * n_train) * squares
        entropy = q * q.log() + (1.0 - q) * (1.0 - q).log()
        return weights + next_linear.in_features / n_train * entropy


register(
    Variant(
        key="concrete",
        name="Concrete (learned rate)",
        layer=ConcreteDropout,
        train_rule=(r"\tilde h = \frac{(1 - z) \odot h}{1 - q},\ z = \sigma\!\Big(\tfrac{1}{t}\big(\operatorname{logit} q"
                    r" + \log u - \log(1-u)\big)\Big),\ u \sim \mathcal{U}(0,1),\ t = 0.1;\ "
                    r"\mathcal{L} \mathrel{+}= \tfrac{l^2}{2N}\big(\tfrac{\lVert W\rVert^2}{1-q} + \lVert b\rVert^2\big)"
                    r" + \tfrac{K}{N}\,\big(q\log q + (1-q)\log(1-q)\big)"),
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
