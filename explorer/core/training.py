"""A trainer that advances in bounded chunks, so a live page can train and redraw in turn.

``run(max_steps=..., max_seconds=...)`` trains until either bound and returns;
pausing is simply not calling it again. Logging, progress bars and the app's
bookkeeping hang on callbacks, in the manner of minGPT's trainer, so the loop
itself stays bare.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Callable, Iterable

import torch
import torch.nn.functional as F

from explorer.core.cnn import CNN
from explorer.core.datasets import Dataset
from explorer.core.mc import INFERENCE_MODES, PASSES, mc_probabilities
from explorer.core.model import MLP

OPTIMIZERS = ("adam", "sgd")
LIVE_FIELDS = ("lr", "weight_decay", "max_norm", "epochs")

Network = MLP | CNN  # both offer dropouts, linears, hidden_rate and set_rates, as the Trainer needs


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "adam"
    lr: float = 0.01
    momentum: float = 0.9        # SGD only
    batch_size: int = 32
    weight_decay: float = 0.0
    max_norm: float = 0.0        # 0 = off; else each hidden unit's incoming weights kept to norm ≤ c
    epochs: int = 100            # where run() stops for good
    seed: int = 0                # batch order, and the masks of MC evaluation
    inference: str = "standard"  # or "mc": validation metrics from the average of mc_samples stochastic passes
    mc_samples: int = PASSES.default


Callback = Callable[["Trainer"], None]


def make_optimizer(params: Iterable[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser a config names: Adam, or SGD with the config's momentum."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


class BoundedRun(ABC):
    """``run(max_steps=..., max_seconds=...)``: train until either bound or ``done``, so a live page can train
    and redraw in turn.

    A subclass hands its model to ``__init__`` and defines ``done`` and
    ``_train_step`` (one optimiser step, which advances ``step`` and, at an
    epoch's end, ``epoch``); ``run`` keeps ``train_seconds``.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.step = self.epoch = 0
        self.train_seconds = 0.0
        self._batches: list[torch.Tensor] = []  # what is left of this epoch's shuffled mini-batches

    @property
    @abstractmethod
    def done(self) -> bool:
        """Whether the last epoch has been trained (or training cannot go on)."""

    @abstractmethod
    def _train_step(self) -> None:
        """One optimiser step on the next mini-batch."""

    def _next_batch(self, n: int, batch_size: int, order: torch.Generator) -> torch.Tensor:
        """The indices of the next mini-batch of ``n`` examples: each epoch a new shuffle from ``order``.

        An epoch ends when this returns its last batch (``self._batches`` is then empty).
        """
        if not self._batches:
            perm = torch.randperm(n, generator=order)
            self._batches = list(perm.split(batch_size))[::-1]  # pop() from the end
        return self._batches.pop()

    def shed(self) -> None:
        """Drop the gradients: the next step makes them anew (a paused run need not keep them)."""
        for param in self.model.parameters():
            param.grad = None

    def run(self, max_steps: int | None = None, max_seconds: float | None = None) -> int:
        """Train until ``max_steps`` steps, ``max_seconds`` of wall time or the last epoch; return steps taken."""
        start = time.perf_counter()
        taken = 0
        self.model.train()
        while not self.done and (max_steps is None or taken < max_steps):
            if max_seconds is not None and taken and time.perf_counter() - start >= max_seconds:
                break
            self._train_step()
            taken += 1
        self.train_seconds += time.perf_counter() - start
        return taken


class Trainer(BoundedRun):
    """Trains one model on one dataset; keeps a per-epoch history.

    Two trainers built with the same configs see the same batches in the same
    order, whatever their drop rates: that is what makes a no-dropout twin a
    fair comparison.
    """

    def __init__(self, model: Network, data: Dataset, cfg: TrainConfig) -> None:
        if cfg.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        if cfg.inference not in INFERENCE_MODES:
            raise ValueError(f"unknown inference {cfg.inference!r}; choose from {', '.join(INFERENCE_MODES)}")
        super().__init__(model)
        self.data, self.cfg = data, cfg
        self.restart_optimizer()
        self.order = torch.Generator().manual_seed(cfg.seed)
        self.history: list[dict[str, float]] = []
        self.last_loss = float("nan")
        self.last_batch: torch.Tensor | None = None  # indices into x_train of the latest step's mini-batch
        self._callbacks: dict[str, list[Callback]] = defaultdict(list)

    # --- callbacks -------------------------------------------------------
    def add_callback(self, event: str, fn: Callback, first: bool = False) -> None:
        """Events: ``on_step_begin`` (a rate schedule), ``on_step_end`` and ``on_epoch_end``; ``first``: before
        those added so far (a replayed change of rate, which a schedule then overrides as it did live)."""
        if first:
            self._callbacks[event].insert(0, fn)
        else:
            self._callbacks[event].append(fn)

    def callbacks(self, event: str) -> list[Callback]:
        """The callbacks of ``event``, in the order they run."""
        return list(self._callbacks.get(event, ()))

    def _fire(self, event: str) -> None:
        for fn in self._callbacks.get(event, ()):
            fn(self)

    # --- state -----------------------------------------------------------
    def restart_optimizer(self) -> None:
        """A new optimiser of the config's kind: at the start, and for weights loaded from a file (the old one's
        moments belonged to the weights it had)."""
        self.optimizer = make_optimizer(self.model.parameters(), self.cfg)

    @property
    def done(self) -> bool:
        return self.epoch >= self.cfg.epochs

    def set_rates(self, p: float | None = None, input_p: float | None = None, conv_p: float | None = None) -> None:
        """Takes effect at the next step; the network and optimiser state are kept.

        ``conv_p`` (the CNN's conv maps) only for a CNN: an MLP has no conv layers.
        """
        if conv_p is None:
            self.model.set_rates(p=p, input_p=input_p)
        elif isinstance(self.model, CNN):
            self.model.set_rates(p=p, input_p=input_p, conv_p=conv_p)
        else:
            raise ValueError("conv_p applies to the CNN only; this model has no conv layers")

    def retune(self, **changes: float) -> None:
        """Change what can change mid-run (``LIVE_FIELDS``) without touching weights or optimiser state."""
        unknown = set(changes) - set(LIVE_FIELDS)
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} mid-run")
        self.cfg = replace(self.cfg, **changes)
        for group in self.optimizer.param_groups:
            group["lr"], group["weight_decay"] = self.cfg.lr, self.cfg.weight_decay

    # --- training --------------------------------------------------------
    def _train_step(self) -> None:
        self._fire("on_step_begin")
        idx = self.last_batch = self._next_batch(len(self.data.y_train), self.cfg.batch_size, self.order)
        self.optimizer.zero_grad(set_to_none=True)
        logits, y = self.model(self.data.x_train[idx]), self.data.y_train[idx]
        if len(logits) != len(y):  # several predictions per example, stacked (multisample): the mean of their losses
            y = y.repeat(len(logits) // len(y))
        loss = F.cross_entropy(logits, y)
        loss = loss + self.model.regularization(len(self.data.y_train))  # concrete dropout's; 0 for the others
        loss.backward()
        self.optimizer.step()
        if self.cfg.max_norm > 0:
            self._apply_max_norm()
        self.step += 1
        self.last_loss = loss.item()
        self._fire("on_step_end")
        if not self._batches:
            self._end_epoch()

    @torch.no_grad()
    def _apply_max_norm(self) -> None:
        for linear in self.model.linears[:-1]:
            linear.weight.copy_(torch.renorm(linear.weight, 2, 0, self.cfg.max_norm))

    def _end_epoch(self) -> None:
        self.epoch += 1
        train_loss, train_acc = self.evaluate(self.data.x_train, self.data.y_train)
        val_loss, val_acc = self.evaluate(self.data.x_val, self.data.y_val, mc=self.cfg.inference == "mc")
        row = {
            "epoch": self.epoch,
            "step": self.step,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "train_acc": train_acc,
            "val_acc": val_acc,
            "p": self.model.hidden_rate,
            "input_p": self.model.dropouts[0].p,
        }
        if isinstance(self.model, CNN):
            row["conv_p"] = self.model.conv_rate
        self.history.append(row)
        self._fire("on_epoch_end")
        self.model.train()

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, chunk: int | None = None,
                 mc: bool = False) -> tuple[float, float]:
        """Mean cross-entropy and accuracy of the inference-mode network (``mc``: of MC dropout's average).

        The set goes through in chunks of ``chunk`` examples (by default the model's
        ``eval_chunk``: a CNN's conv maps for 5,000 digits at once would take ~250 MB,
        and run slower than in small chunks); the per-example losses are summed
        and divided by the whole set's size, so the result is that of a single pass.
        MC evaluation averages ``cfg.mc_samples`` passes' probabilities, under masks
        seeded by ``cfg.seed``: every epoch's validation sees the same masks.
        """
        self.model.eval()
        chunk = chunk or self.model.eval_chunk
        total, correct = 0.0, 0
        for i, (xs, ys) in enumerate(zip(x.split(chunk), y.split(chunk))):
            if mc:
                probs = mc_probabilities(self.model, xs, self.cfg.mc_samples, self.cfg.seed + i)
                log_probs = probs.mean(0).clamp_min(1e-12).log()
            else:
                log_probs = self.model(xs).log_softmax(1)
            total += F.nll_loss(log_probs, ys, reduction="sum").item()
            correct += int((log_probs.argmax(1) == ys).sum())
        n = len(y)
        return (total / n, correct / n) if n else (float("nan"), float("nan"))

    def final(self) -> dict[str, float]:
        """The last epoch's metrics, without bookkeeping fields."""
        if not self.history:
            return {}
        last = self.history[-1]
        return {k: last[k] for k in ("train_loss", "val_loss", "train_acc", "val_acc")}
