"""Monte-Carlo (MC) dropout inference: keep the dropout layers sampling at test time and average.

Gal & Ghahramani (2016): T stochastic forward passes of the trained network,
each under fresh masks, are samples of an approximate predictive
distribution. Their mean is the prediction; their spread is the model's
uncertainty. Only the dropout layers are switched back to training mode, so
anything else that behaves differently in training (a multisample head) runs
as at inference. The masks come from a generator of their own: evaluating
never changes the masks training draws.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from explorer import settings
from explorer.dropout import DropoutLayer
from explorer.dropout.params import Param

INFERENCE_MODES = ("standard", "mc")
PASSES = Param("mc_samples", "Passes T", "T, stochastic passes averaged per prediction", default=30,
               lo=1, hi=settings.MAX_MC_SAMPLES)


@dataclass(frozen=True)
class InferenceMode:
    key: str
    name: str
    rule: str  # LaTeX
    explanation: str
    reference: str
    params: tuple[Param, ...] = ()


MC = InferenceMode(
    key="mc",
    name="Monte-Carlo dropout",
    rule=r"p(y \mid x) \approx \frac{1}{T} \sum_{t=1}^{T} \mathrm{softmax}\big(f(x;\, m_t)\big),\quad m_t \text{ sampled as in training}",
    explanation=(
        "At test time the dropout layers keep sampling: the network is run T times on the same "
        "input, each time with a different thinned network, and the predicted probabilities are "
        "averaged. As T grows the average approaches that of all thinned networks, which weight "
        "scaling only approximates; the disagreement between the passes measures uncertainty. "
        "It applies to every stochastic variant and costs T forward passes."
    ),
    reference="Gal & Ghahramani (2016), Dropout as a Bayesian Approximation, ICML; Srivastava et al. (2014), Fig. 11",
    params=(PASSES,),
)


def dropout_layers(model: nn.Module) -> list[DropoutLayer]:
    return [m for m in model.modules() if isinstance(m, DropoutLayer)]


@contextmanager
def sampling(model: nn.Module, seed: int) -> Iterator[None]:
    """The model in inference mode with only its dropout layers sampling, from a generator seeded ``seed``."""
    layers = dropout_layers(model)
    saved = [(d.generator, d.record) for d in layers]
    was_training = model.training
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    for d in layers:
        d.train()
        d.generator, d.record = generator, False
    try:
        yield
    finally:
        for d, (gen, record) in zip(layers, saved):
            d.generator, d.record = gen, record
        model.train(was_training)


@torch.no_grad()
def mc_probabilities(model: nn.Module, x: torch.Tensor, samples: int, seed: int = 0) -> torch.Tensor:
    """Class probabilities of ``samples`` stochastic passes, shape (samples, N, classes)."""
    with sampling(model, seed):
        return torch.stack([model(x).softmax(-1) for _ in range(samples)])


def predictive_summary(probs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean probabilities, predictive entropy H[ȳ] and mutual information H[ȳ] − mean_t H[y_t], per example."""
    mean = probs.mean(0)
    entropy = _entropy(mean)
    return {"mean": mean, "entropy": entropy, "mutual_information": entropy - _entropy(probs).mean(0)}


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * p.clamp_min(1e-12).log()).sum(-1)
