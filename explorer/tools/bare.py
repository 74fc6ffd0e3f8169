"""The benchmarks' reference: an MLP written again in plain torch, as a person would by hand."""

from __future__ import annotations

import copy

from torch import nn

from explorer.core.model import MLP
from explorer.dropout import DropoutLayer


def bare_twin(model: MLP) -> nn.Sequential:
    """The same network written in plain torch: its Linear layers copied, nn.Dropout where a rate is non-zero."""
    layers: list[nn.Module] = []
    for layer in model.net:
        if not isinstance(layer, DropoutLayer):
            layers.append(copy.deepcopy(layer))
        elif layer.p > 0:
            layers.append(nn.Dropout(layer.p))
    return nn.Sequential(*layers)
