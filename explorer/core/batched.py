"""K MLPs trained as one: stacked weights and batched matrix products, for sweeps over many models.

A sweep trains dozens of small networks; one after another, each step of each
is a handful of small matrix products dominated by Python and dispatch
overhead. Stacked, the K networks' layers are (K, in, out) tensors and a step
is one batched product per layer for all of them. Each model keeps its own
initial weights (those of ``MLP(cfg)``), drop rates, batch order and width
(narrower models are padded with units held at zero), and since Adam and SGD
update every number on its own, one optimiser over the stacked tensors is K
independent ones: with the rates at 0 the stack reproduces K ``Trainer`` runs.
Standard (inverted) dropout only.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from explorer.core.datasets import Dataset
from explorer.core.model import ACTIVATIONS, MLP, MLPConfig
from explorer.core.training import EVAL_CHUNK, BoundedRun, TrainConfig, make_optimizer


class StackedMLP(nn.Module):
    """K MLPs of one depth, activation and input/output size; widths may differ (padded with inactive units).

    ``forward`` takes (K, N, n_in), or (N, n_in) shared by every model, and returns (K, N, n_out).
    """

    def __init__(self, configs: Sequence[MLPConfig], mask_seed: int = 0) -> None:
        super().__init__()
        first = configs[0]
        for cfg in configs:
            if (cfg.n_in, cfg.n_out, len(cfg.hidden), cfg.activation) != (first.n_in, first.n_out, len(first.hidden),
                                                                          first.activation):
                raise ValueError("stacked models must share depth, activation, inputs and outputs")
            if cfg.variant != "standard":
                raise ValueError(f"the batched engine runs standard dropout only, not {cfg.variant!r}")
        self.configs = list(configs)
        k = len(configs)
        widths = [first.n_in, *(max(c.hidden[i] for c in configs) for i in range(len(first.hidden))), first.n_out]
        nets = [MLP(cfg) for cfg in configs]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for layer, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            w, b = torch.zeros(k, fan_in, fan_out), torch.zeros(k, 1, fan_out)
            for i, net in enumerate(nets):
                lin = net.linears[layer]
                w[i, : lin.in_features, : lin.out_features] = lin.weight.detach().T
                b[i, 0, : lin.out_features] = lin.bias.detach()
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))
        # (K, 1, width) 1 for a model's own units, 0 for padding; None where no model is padded
        self.active = [None if all(c.hidden[i] == widths[i + 1] for c in configs) else
                       torch.stack([(torch.arange(widths[i + 1]) < c.hidden[i]).float() for c in configs])[:, None]
                       for i in range(len(first.hidden))]
        self.act = ACTIVATIONS[first.activation]()
        self.keep = torch.tensor([1.0 - c.p for c in configs])[:, None, None]
        self.input_keep = torch.tensor([1.0 - c.input_p for c in configs])[:, None, None]
        self.noise = torch.Generator().manual_seed(mask_seed)

    def __len__(self) -> int:
        return len(self.configs)

    def _drop(self, h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        if not self.training or bool((keep == 1.0).all()):
            return h
        draws = torch.rand(h.shape, generator=self.noise)
        return h * ((draws < keep) / keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._drop(x, self.input_keep) if x.dim() == 3 else x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w) if h.dim() == 3 else torch.matmul(h, w) + b
            if i < last:
                h = self.act(h)
                if self.active[i] is not None:
                    h = h * self.active[i]
                h = self._drop(h, self.keep)
        return h

    @torch.no_grad()
    def renorm(self, max_norm: float) -> None:
        """Max-norm per model and hidden unit: each unit's incoming weights kept to norm ≤ ``max_norm``."""
        for w in list(self.weights)[:-1]:
            cols = w.transpose(1, 2)  # (K, out, in): a unit's incoming weights are a row
            cols.copy_(torch.renorm(cols.reshape(-1, cols.shape[-1]), 2, 0, max_norm).reshape(cols.shape))


class StackedTrainer(BoundedRun):
    """The ``Trainer``'s contract for K models on one dataset: bounded ``run``, per-model ``histories``.

    Model k sees the batches a ``Trainer`` seeded ``seeds[k]`` would draw. Its
    gradient is its own: the loss is the sum over models of each one's mean.
    ``eval_every``: epochs between evaluations (the last epoch always has one);
    1, every epoch, is the ``Trainer``'s rule.
    """

    def __init__(self, model: StackedMLP, data: Dataset, cfg: TrainConfig, seeds: Sequence[int],
                 eval_every: int = 1) -> None:
        if len(seeds) != len(model):
            raise ValueError(f"one batch-order seed per model: {len(model)} models, {len(seeds)} seeds")
        super().__init__(model)
        self.data, self.cfg, self.eval_every = data, cfg, max(1, eval_every)
        self.optimizer = make_optimizer(model.parameters(), cfg)
        self.orders = [torch.Generator().manual_seed(s) for s in seeds]
        self.histories: list[list[dict[str, float]]] = [[] for _ in seeds]

    @property
    def done(self) -> bool:
        return self.epoch >= self.cfg.epochs

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.data.y_train) // self.cfg.batch_size)

    def _train_step(self) -> None:
        if not self._batches:
            n = len(self.data.y_train)
            perms = torch.stack([torch.randperm(n, generator=g) for g in self.orders])  # (K, n)
            self._batches = list(perms.split(self.cfg.batch_size, dim=1))[::-1]
        idx = self._batches.pop()  # (K, B)
        logits = self.model(self.data.x_train[idx])
        y = self.data.y_train[idx]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum") / idx.shape[1]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.cfg.max_norm > 0:
            self.model.renorm(self.cfg.max_norm)
        self.step += 1
        if not self._batches:
            self._end_epoch()

    def _end_epoch(self) -> None:
        self.epoch += 1
        if self.epoch % self.eval_every and not self.done:
            return
        train = self.evaluate(self.data.x_train, self.data.y_train)
        val = self.evaluate(self.data.x_val, self.data.y_val)
        for k, history in enumerate(self.histories):
            cfg = self.model.configs[k]
            history.append({"epoch": self.epoch, "step": self.step, "train_loss": train[0][k], "val_loss": val[0][k],
                            "train_acc": train[1][k], "val_acc": val[1][k], "p": cfg.p, "input_p": cfg.input_p})
        self.model.train()

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, chunk: int = EVAL_CHUNK) -> tuple[list[float], list[float]]:
        """Each model's mean cross-entropy and accuracy in inference mode, as ``Trainer.evaluate``."""
        self.model.eval()
        k = len(self.model)
        total, correct = torch.zeros(k, dtype=torch.float64), torch.zeros(k)
        for xs, ys in zip(x.split(chunk), y.split(chunk)):
            logits = self.model(xs)  # (K, n, C)
            targets = ys.expand(k, -1)
            total += F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").sum(1).double()
            correct += (logits.argmax(-1) == targets).sum(1)
        n = len(y)
        return (total / n).tolist(), (correct / n).tolist()
