"""DropConnect (Wan et al. 2013): drop weights instead of units, a fresh mask per example."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from explorer.dropout.base import DropoutLayer, Variant, register

INFERENCE_SAMPLES = 200  # Z: draws of the moment-matched Gaussian averaged through the activation
INFERENCE_SEED = 0       # inference draws from a generator of its own: deterministic, and training's stream untouched
INFERENCE_CHUNK = 2**23  # values of a(u) held at once: bounds the memory of Z × examples × units


class DropConnectLinear(DropoutLayer):
    """A Linear layer (and its activation) whose weights and biases are each kept with probability k.

    Training: u_n = (M_n ⊙ W) v_n + m_n ⊙ b with M_n, m_n ~ Bernoulli(k) drawn
    for every example n, unscaled, then a(u). Inference (moment matching): u is
    close to Gaussian with mean k(Wv + b) and variance k(1−k)((W⊙W)(v⊙v) + b⊙b);
    the output is E[a(u)]: in closed form for ReLU (μΦ(μ/σ) + σφ(μ/σ)), the
    mean itself without activation, else the mean of a(μ + σε) over
    ``INFERENCE_SAMPLES`` draws of ε (in ± pairs), the same draws for every
    unit and example: an example's prediction does not depend on its batch
    (up to rounding).
    ``last_mask`` is the (N, out, in) weight mask.
    """

    def __init__(self, p: float, generator: torch.Generator | None, linear: nn.Linear,
                 activation: nn.Module | None) -> None:
        super().__init__(p, generator)
        self.linear, self.activation = linear, activation

    def _act(self, u: torch.Tensor) -> torch.Tensor:
        return u if self.activation is None else self.activation(u)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.forward_with(v, self.linear.weight, self.linear.bias)

    def forward_with(self, v: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``forward`` with the weights ``w`` (out, in) and biases ``b`` given: a batched stack's slices."""
        if self.training and self.record:
            self.last_input = v.detach()
        if self.p == 0.0:
            if self.training and self.record:  # N·out·in values: built only when asked for
                ones = torch.ones(len(v), *w.shape)
                self.remember(ones > 0, ones)
            return self._act(F.linear(v, w, b))
        if not self.training:
            return self.infer_with(v, w, b)
        return self._act(self.masked(v, w, b))

    def masked(self, v: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """u_n = (M_n ⊙ W) v_n + m_n ⊙ b, a fresh mask for every example: N·out·in draws."""
        mask = torch.empty(len(v), *w.shape, dtype=v.dtype).bernoulli_(self.keep, generator=self.generator)
        bias_mask = torch.empty(len(v), len(b), dtype=v.dtype).bernoulli_(self.keep, generator=self.generator)
        self.remember(mask > 0, mask)
        return torch.bmm(mask * w, v.unsqueeze(-1)).squeeze(-1) + bias_mask * b

    def infer(self, v: torch.Tensor) -> torch.Tensor:
        return self.infer_with(v, self.linear.weight, self.linear.bias)

    def infer_with(self, v: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        k = self.keep
        mean = k * F.linear(v, w, b)
        if self.activation is None:
            return mean
        return expected_activation(mean, k * (1.0 - k) * ((v * v) @ (w * w).T + b * b), self.activation)


def expected_activation(mean: torch.Tensor, var: torch.Tensor, activation: nn.Module) -> torch.Tensor:
    """E[a(u)] for each u ~ N(mean, var), elementwise (any shape): DropConnect's inference, one model's or a batched
    stack's at once. In closed form for ReLU, else the mean over ``INFERENCE_SAMPLES`` draws (in ± pairs, the same
    for every value: an example's prediction does not depend on its batch)."""
    std = var.clamp_min(1e-12).sqrt()  # clamped so that sqrt has a finite gradient where no input reaches a unit
    if isinstance(activation, nn.ReLU):
        ratio = mean / std  # μΦ(μ/σ) + σφ(μ/σ), written out: torch.distributions validates every value it is given
        cdf = 0.5 * (1.0 + torch.erf(ratio * math.sqrt(0.5)))
        return mean * cdf + std * torch.exp(-0.5 * ratio * ratio) / math.sqrt(2.0 * math.pi)
    half = torch.randn(INFERENCE_SAMPLES // 2, generator=torch.Generator().manual_seed(INFERENCE_SEED), dtype=mean.dtype)
    eps = torch.cat([half, -half]).view(-1, *[1] * mean.dim())  # antithetic pairs: the draws' mean is exactly 0
    chunks = eps.split(max(1, INFERENCE_CHUNK // mean.numel()))
    return sum(activation(mean + std * e).sum(0) for e in chunks) / len(eps)


class BatchDropConnectLinear(DropConnectLinear):
    """DropConnect with one weight mask per mini-batch, shared by its examples: out·in draws a step instead of
    N·out·in (uniform draws below k, the cheaper sampler here), so a step takes under twice standard dropout's
    where the exact one takes hundreds of times as long (``python -m explorer bench``). The examples of a batch
    see the same thinned weights, so their gradients are correlated as per-example masks' are not; inference is
    the same moment matching. A clearly labelled approximation of Wan et al.'s per-example masks (a lab lane beside
    the exact one shows the difference)."""

    def draw(self, out_features: int, in_features: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's uniform draws for the weights (out, in) and the biases (out,): a weight is kept where its
        draw is below k (the same Bernoulli(k) masks as bernoulli_, at about a third of its cost here). A batched
        stack (``explorer.core.batched``) draws them for the model too, in the same order from the same generator,
        and compares them into its own layout."""
        return (torch.rand(out_features, in_features, generator=self.generator),
                torch.rand(out_features, generator=self.generator))

    def masked(self, v: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        mask, bias_mask = (torch.lt(u, self.keep).to(v.dtype) for u in self.draw(*w.shape))
        if self.record:  # the same mask for every example, as the pictures of the exact one expect
            self.remember((mask > 0).expand(len(v), *w.shape), mask.expand(len(v), *w.shape))
        return F.linear(v, mask * w, bias_mask * b)


register(
    Variant(
        key="dropconnect",
        name="DropConnect",
        layer=DropConnectLinear,
        train_rule=(r"u = (M \odot W)\, v + m \odot b,\quad M_{ij}, m_i \sim \mathrm{Bernoulli}(k)"
                    r"\ \text{fresh for every example}"),
        infer_rule=(r"a = \mathbb{E}[a(u)],\ u \sim \mathcal{N}\big(k(Wv + b),\ "
                    r"k(1-k)\,((W \odot W)(v \odot v) + b \odot b)\big)"
                    r"\ \text{(closed form for ReLU, else the mean of } Z \text{ samples)}"),
        explanation=(
            "Instead of units, single connections are dropped: every weight and bias is kept with "
            "probability k, with a fresh mask for every example, so each example sees its own thinned "
            "set of weights (dropout is the special case where all of a unit's outgoing weights go "
            "together). It acts on the hidden layers' incoming weights; the output (softmax) layer stays "
            "deterministic, as in Wan et al., and the inputs take ordinary dropout at the input rate. A "
            "unit's input is then a sum of many random terms, close to Gaussian; inference matches its "
            "mean and variance and averages the activation over samples of that Gaussian."
        ),
        reference="Wan, Zeiler, Zhang, LeCun, Fergus (2013), Regularization of Neural Networks using DropConnect, ICML",
        survivors="each weight kept with probability k, unscaled",
        placement="weights",
        unit_masks=False,
    )
)

register(
    Variant(
        key="dropconnect-batch",
        name="DropConnect (a mask per batch)",
        layer=BatchDropConnectLinear,
        train_rule=(r"u_n = (M \odot W)\, v_n + m \odot b,\quad M_{ij}, m_i \sim \mathrm{Bernoulli}(k)"
                    r"\ \text{once per mini-batch}"),
        infer_rule=(r"a = \mathbb{E}[a(u)],\ u \sim \mathcal{N}\big(k(Wv + b),\ "
                    r"k(1-k)\,((W \odot W)(v \odot v) + b \odot b)\big)"),
        explanation=(
            "DropConnect as above, but one mask of the weights per mini-batch, shared by its examples, instead of "
            "one per example: as many random draws as weights a step, not as many times the batch size. Exact "
            "DropConnect on 784-512-512 draws about 42 million numbers a step and trains hundreds of times slower "
            "than standard dropout; this one a few times. The price: a batch's examples all pass through the same "
            "thinned weights, so the noise averages less within a step. An approximation, labelled as such: compare "
            "the two side by side in the lab."
        ),
        reference="Wan, Zeiler, Zhang, LeCun, Fergus (2013), Regularization of Neural Networks using DropConnect, ICML "
                  "(per-example masks; sharing them over a batch is this app's speed trade-off)",
        survivors="each weight kept with probability k, one mask a mini-batch",
        placement="weights",
        unit_masks=False,
    )
)
