"""The benchmarks' reference: the MLP and the CNN written again in plain torch, as a person would by hand."""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from explorer.core.cnn import CNN, SIDE
from explorer.core.datasets import Dataset
from explorer.core.model import MLP
from explorer.core.training import TrainConfig, make_optimizer
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


def bare_cnn(model: CNN) -> nn.Sequential:
    """The CNN written in plain torch: its conv, activation and dense layers copied, nn.MaxPool2d, and
    nn.Dropout2d on the conv maps and nn.Dropout on the pixels and the dense layer where a rate is non-zero."""
    def dropout(layer: DropoutLayer, kind: type[nn.Module]) -> list[nn.Module]:
        return [kind(layer.p)] if layer.p > 0 else []

    layers: list[nn.Module] = [nn.Unflatten(1, (1, SIDE, SIDE)), *dropout(model.input_drop, nn.Dropout)]
    for block, drop in zip(model.blocks, model.conv_drops):
        layers += [copy.deepcopy(block[0]), copy.deepcopy(block[1]), nn.MaxPool2d(2), *dropout(drop, nn.Dropout2d)]
    layers += [nn.Flatten(), copy.deepcopy(model.fc), copy.deepcopy(model.act), *dropout(model.drop, nn.Dropout),
               copy.deepcopy(model.head)]
    return nn.Sequential(*layers)


def bare_steps(net: nn.Module, data: Dataset, cfg: TrainConfig) -> Callable[[int], None]:
    """The training loop a person would write: ``run(n)`` takes n steps (an epoch's at most) on the first mini-batches
    of a fresh shuffle (from ``cfg.seed``), cross-entropy and torch's own optimiser of the config."""
    optimizer = make_optimizer(net.parameters(), cfg)
    order = torch.Generator().manual_seed(cfg.seed)

    def run(steps: int) -> None:
        net.train()
        for idx in torch.randperm(len(data.y_train), generator=order)[: steps * cfg.batch_size].split(cfg.batch_size):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(net(data.x_train[idx]), data.y_train[idx]).backward()
            optimizer.step()
    return run
