"""K MLPs trained as one: stacked weights and batched matrix products, for sweeps over many models.

A sweep trains dozens of small networks; one after another, each step of each
is a handful of small matrix products dominated by Python and dispatch
overhead. Stacked, the K networks' layers are (K, in, out) tensors and a step
is one batched product per layer for all of them. Each model keeps its own
initial weights (those of ``MLP(cfg)``), batch order, width (narrower models
are padded with units held at zero) and dropout: the layers its ``MLP`` would
have, drawing from the same generator. Noise that multiplies the units
(standard, weight scaling, Gaussian, uniform) or one weight mask per batch
(DropConnect's cheap variant) is drawn by each model's layer and applied to
the whole stack in one product; alpha, standout, concrete and exact
DropConnect (whose masks are per example) act on the model's own slice.
Since Adam and SGD update every number on its own, one optimiser over the
stacked tensors is K independent ones, so model k of a stack is a ``Trainer``
run of its config, masks and all, up to the rounding of batched products.
Every variant whose noise is per unit or per weight, and rate schedules; not
multisample, whose head samples several masks into one output layer.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from explorer.core.datasets import Dataset
from explorer.core.model import ACTIVATIONS, MLP, MLPConfig, layer_rates, set_layer_rates
from explorer.core.training import BoundedRun, TrainConfig, make_optimizer
from explorer.dropout import VARIANTS, DropoutLayer, MultiplicativeDropout
from explorer.dropout.dropconnect import expected_activation

PARALLEL_DRAW_NUMBERS = 65_536  # a model's draws worth another thread (``_each_model``)


class _Slice:
    """Model k's part of a stacked layer, as a reader of an ``nn.Linear`` sees it (concrete dropout's prior)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        self.weight, self.bias, self.in_features = weight, bias, weight.shape[1]


class StackedMLP(nn.Module):
    """K MLPs of one depth, activation and input/output size, whose noise sits in one place (on units, in the
    activation, or on the weights); widths may differ (padded with inactive units).

    ``forward`` takes (K, N, n_in), or (N, n_in) shared by every model, and returns (K, N, n_out).
    """

    def __init__(self, configs: Sequence[MLPConfig]) -> None:
        super().__init__()
        first = configs[0]
        for cfg in configs:
            if (cfg.n_in, cfg.n_out, len(cfg.hidden), cfg.activation) != (first.n_in, first.n_out, len(first.hidden),
                                                                          first.activation):
                raise ValueError("stacked models must share depth, activation, inputs and outputs")
        placements = {VARIANTS[c.variant].placement for c in configs}
        if "head" in placements:
            raise ValueError("the batched engine does not run multisample: its masks share one output layer")
        if len(placements) > 1:
            raise ValueError("stacked models must put their noise in one place: "
                             + ", ".join(sorted({c.variant for c in configs})) + " do not")
        self.placement = placements.pop()
        self.configs = list(configs)
        k = len(configs)
        self.sizes = [(c.n_in, *c.hidden, c.n_out) for c in configs]
        widths = [max(size[i] for size in self.sizes) for i in range(len(self.sizes[0]))]
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
        self.padded = any(size != tuple(widths) for size in self.sizes)
        self.act = ACTIVATIONS[first.activation]()
        # Each model's dropout layers (input first, one per hidden layer), drawing from its MLP's generator. A
        # DropConnect layer is handed the stack's weights, so the Linear it was built around goes.
        self.drops = nn.ModuleList(nn.ModuleList(net.dropouts) for net in nets)
        self._masks: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # ``_batch_masks``' buffers, by layer
        for member in self.drops:
            for layer in member:
                if hasattr(layer, "forward_with"):
                    layer.linear = None

    def __len__(self) -> int:
        return len(self.configs)

    def _each(self, h: torch.Tensor, j: int, apply: Callable[[int, torch.Tensor], torch.Tensor],
              width_out: int | None = None) -> torch.Tensor:
        """``apply(k, h_k)`` for each model k on its own ``j``-th layer's units of ``h`` (K, N, width), the padding
        (to ``width_out`` units in all, or as many as ``h`` has) put back at zero."""
        parts = h.unbind(0)  # views whose gradients are stacked back once (h[k] would zero-fill all of h per model)
        if not self.padded:
            return torch.stack([apply(k, part) for k, part in enumerate(parts)])
        full = h.shape[-1] if width_out is None else width_out
        return torch.stack([F.pad(out, (0, full - out.shape[-1]))
                            for k, part in enumerate(parts) for out in [apply(k, part[:, : self.sizes[k][j]])]])

    def _own(self, w: torch.Tensor, b: torch.Tensor, k: int, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Model k's layer j as its ``nn.Linear`` holds it, (out, in) and (out,), from its part of the stack's
        layer, ``w`` (in, out) and ``b`` (1, out), without the padding."""
        n_in, n_out = self.sizes[k][j], self.sizes[k][j + 1]
        return w[:n_in, :n_out].T, b[0, :n_out]

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Each model's input dropout; in inference, a batch shared by every model stays shared where the
        variants leave inputs as they are (all but weight scaling)."""
        if x.dim() == 2:
            if not self.training and not any(type(m[0]).infer is not DropoutLayer.infer for m in self.drops):
                return x
            x = x.expand(len(self), *x.shape)
        return self._drop(x, 0)

    def _drop(self, h: torch.Tensor, j: int) -> torch.Tensor:
        """Each model's dropout layer ``j`` (0: the inputs) on its units of ``h`` (K, N, width)."""
        noise = self._noise(h, j)
        if noise is None:
            return self._each(h, j, lambda k, part: self.drops[k][j](part))
        return h * noise

    def _noise(self, h: torch.Tensor, j: int) -> torch.Tensor | None:
        """In training, where every model's layer ``j`` multiplies the units by noise that does not depend on them
        (and none records it): each model's noise in one (K, N, width) tensor, drawn by the model's own layer as
        its ``Trainer`` would (none at rate 0), so one product serves them all. Else None."""
        layers = [member[j] for member in self.drops]
        if not self.training or not all(isinstance(layer, MultiplicativeDropout) and not layer.record
                                        for layer in layers):
            return None
        noise = torch.ones(h.shape, dtype=h.dtype)

        def draw(k: int) -> None:
            width = self.sizes[k][j]
            noise[k, :, :width] = layers[k].noise(noise[k, :, :width])

        _each_model(draw, [k for k, layer in enumerate(layers) if layer.p > 0.0], h[0].numel())
        return noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._inputs(x)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            thinned = i < last and self.placement == "weights"  # DropConnect: masks on the models' weights
            if thinned and not self.training:
                h = self._moments(i, h, w, b)
                continue
            if thinned and (masks := self._batch_masks(i, w, b)) is None:  # a mask per example: the model's products
                h = h if h.dim() == 3 else h.expand(len(self), *h.shape)
                ws, bs = w.unbind(0), b.unbind(0)
                h = self._each(h, i, lambda k, part: self.drops[k][i + 1].forward_with(
                    part, *self._own(ws[k], bs[k], k, i)), width_out=w.shape[-1])
                continue
            if thinned:
                w, b = w * masks[0], b * masks[1]
            h = _affine(h, w, b)
            if thinned:
                h = self.act(h)
            elif i < last:  # standout (in the activation) takes the pre-activation; the others, the activation's output
                h = self._drop(h if self.placement == "activation" else self.act(h), i + 1)
        return h

    def _moments(self, j: int, h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """DropConnect's inference through layer ``j`` (every model's moment matching, as its layer's
        ``infer_with``) for the whole stack in two batched products: per model, one ran a pass per chunk of
        examples, and evaluating took a third of the default sweep's DropConnect stacks' time."""
        layers = [member[j + 1] for member in self.drops]
        keep = torch.tensor([layer.keep for layer in layers], dtype=h.dtype).view(-1, 1, 1)
        mean = keep * _affine(h, w, b)
        expected = expected_activation(mean, keep * (1.0 - keep) * _affine(h * h, w * w, b * b), self.act)
        return torch.where(keep == 1.0, self.act(mean), expected)  # rate 0: the layer's plain Linear and activation

    def _batch_masks(self, j: int, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """In training, where every model's layer ``j`` drops weights with one mask per batch (and none records
        it): their masks in the stack's layout, (K, in, out) and (K, 1, out), each drawn by the model's own layer
        as its ``Trainer`` would (none at rate 0), so that one batched product serves them all. Else None."""
        layers = [member[j + 1] for member in self.drops]
        if not self.training or not all(hasattr(layer, "draw") and not layer.record for layer in layers):
            return None
        # Kept between steps (a step's backward is done before the next draws): a fresh (K, in, out) tensor every
        # step cost more in page faults than the products. Ones where nothing is drawn (padding, a model at rate
        # 0, which a schedule may set after masks were drawn); each drawing model overwrites its own part.
        if j not in self._masks:
            self._masks[j] = torch.ones_like(w), torch.ones_like(b)
        w_mask, b_mask = self._masks[j]
        for k, layer in enumerate(layers):
            if layer.p == 0.0:
                w_mask[k].fill_(1.0)
                b_mask[k].fill_(1.0)

        def draw(k: int) -> None:
            n_in, n_out = self.sizes[k][j], self.sizes[k][j + 1]
            weights, biases = layers[k].draw(n_out, n_in)
            torch.lt(weights.T, layers[k].keep, out=w_mask[k, :n_in, :n_out])
            torch.lt(biases, layers[k].keep, out=b_mask[k, 0, :n_out])

        _each_model(draw, [k for k, layer in enumerate(layers) if layer.p > 0.0], w[0].numel())
        return w_mask, b_mask

    def regularization(self, n_train: int) -> torch.Tensor | float:
        """What learned rates add to the loss (concrete dropout's prior, each model's own); 0 for the others."""
        total: torch.Tensor | float = 0.0
        if not any(hasattr(layer, "regularization") for member in self.drops for layer in member):
            return total
        weights, biases = [w.unbind(0) for w in self.weights], [b.unbind(0) for b in self.biases]
        for k, member in enumerate(self.drops):
            for j, layer in enumerate(member):
                if hasattr(layer, "regularization"):
                    total = total + layer.regularization(_Slice(*self._own(weights[j][k], biases[j][k], k, j)),
                                                         n_train)
        return total

    def rates(self, k: int) -> tuple[float, float]:
        """Model k's hidden and input drop rates now (a schedule's or a learned rate's, as its MLP reports them)."""
        return layer_rates(self.drops[k])

    def set_rates(self, k: int, p: float | None = None, input_p: float | None = None) -> None:
        """Model k's rates from the next step on, as ``MLP.set_rates``."""
        set_layer_rates(self.drops[k], p, input_p)

    @torch.no_grad()
    def member(self, k: int) -> MLP:
        """Model k as the ``MLP`` of its config, with its trained weights (and learned rates): what a ``Trainer``
        run of it would hold, its ``state_dict`` loadable into ``MLP(cfg)``."""
        net = MLP(self.configs[k])
        for j, linear in enumerate(net.linears):
            weight, bias = self._own(self.weights[j][k], self.biases[j][k], k, j)
            linear.weight.copy_(weight)
            linear.bias.copy_(bias)
        for mine, theirs in zip(net.dropouts, self.drops[k]):
            own = mine.state_dict()  # a DropConnect layer's own holds its Linear, copied above
            for name, value in theirs.state_dict().items():  # concrete dropout's learned rates
                own[name].copy_(value)
            mine.p = theirs.p
        return net

    @torch.no_grad()
    def renorm(self, max_norm: float) -> None:
        """Max-norm per model and hidden unit: each unit's incoming weights kept to norm ≤ ``max_norm``."""
        for w in list(self.weights)[:-1]:
            cols = w.transpose(1, 2)  # (K, out, in): a unit's incoming weights are a row
            cols.copy_(torch.renorm(cols.reshape(-1, cols.shape[-1]), 2, 0, max_norm).reshape(cols.shape))


def _each_model(draw: Callable[[int], None], models: list[int], numbers: int) -> None:
    """``draw(k)`` for each of ``models``, each drawing about ``numbers`` random numbers: on as many threads as
    torch may use if that many are worth handing to another thread. A generator's draws are serial, but each model
    draws from its own, into its own slice (the default sweep's DropConnect stacks spent a third of their step on
    their masks: 21 % faster on two threads; its units' noise, 16,384 numbers a model, gained nothing)."""
    threads = min(torch.get_num_threads(), len(models)) if numbers >= PARALLEL_DRAW_NUMBERS else 1
    if threads <= 1:
        for k in models:
            draw(k)
        return
    for done in [_pool(threads).submit(lambda share: [draw(k) for k in share], models[i::threads])
                 for i in range(threads)]:
        done.result()


@cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="stack-draws")


def _affine(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h·w + b per model: ``h`` (K, N, in), or (N, in) shared by every model; ``w`` (K, in, out), ``b`` (K, 1, out)."""
    return torch.baddbmm(b, h, w) if h.dim() == 3 else torch.matmul(h, w) + b


class _Member:
    """Model k of a stack as a rate schedule sees a ``Trainer``: the data, the config, the step, ``set_rates``."""

    def __init__(self, trainer: StackedTrainer, k: int) -> None:
        self.trainer, self.k = trainer, k

    @property
    def data(self) -> Dataset:
        return self.trainer.data

    @property
    def cfg(self) -> TrainConfig:
        return self.trainer.cfg

    @property
    def step(self) -> int:
        return self.trainer.step

    def set_rates(self, p: float | None = None, input_p: float | None = None) -> None:
        self.trainer.model.set_rates(self.k, p=p, input_p=input_p)


class StackedTrainer(BoundedRun):
    """The ``Trainer``'s contract for K models on one dataset: bounded ``run``, per-model ``histories``.

    Model k sees the batches a ``Trainer`` seeded ``seeds[k]`` would draw. Its
    gradient is its own: the loss is the sum over models of each one's mean
    (and its learned rates' prior). ``schedules``: model k's rate schedule (a
    ``Trainer`` callback, as ``experiment.build`` adds it) or None.
    ``eval_every``: epochs between evaluations (the last epoch always has one);
    1, every epoch, is the ``Trainer``'s rule.
    """

    def __init__(self, model: StackedMLP, data: Dataset, cfg: TrainConfig, seeds: Sequence[int],
                 eval_every: int = 1, schedules: Sequence[Callable | None] = ()) -> None:
        if len(seeds) != len(model):
            raise ValueError(f"one batch-order seed per model: {len(model)} models, {len(seeds)} seeds")
        super().__init__(model)
        self.data, self.cfg, self.eval_every = data, cfg, max(1, eval_every)
        self.optimizer = make_optimizer(model.parameters(), cfg)
        self.orders = [torch.Generator().manual_seed(s) for s in seeds]
        self.histories: list[list[dict[str, float]]] = [[] for _ in seeds]
        self.schedules = [(schedule, _Member(self, k)) for k, schedule in enumerate(schedules) if schedule]
        self._schedule()  # the first step's rates

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
        self._schedule()
        logits = self.model(self.data.x_train[idx])
        y = self.data.y_train[idx]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum") / idx.shape[1]
        loss = loss + self.model.regularization(len(self.data.y_train))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.cfg.max_norm > 0:
            self.model.renorm(self.cfg.max_norm)
        self.step += 1
        if not self._batches:
            self._end_epoch()

    def _schedule(self) -> None:
        for schedule, member in self.schedules:
            schedule(member)

    def _end_epoch(self) -> None:
        self.epoch += 1
        if self.epoch % self.eval_every and not self.done:
            return
        train = self.evaluate(self.data.x_train, self.data.y_train)
        val = self.evaluate(self.data.x_val, self.data.y_val)
        for k, history in enumerate(self.histories):
            p, input_p = self.model.rates(k)
            history.append({"epoch": self.epoch, "step": self.step, "train_loss": train[0][k], "val_loss": val[0][k],
                            "train_acc": train[1][k], "val_acc": val[1][k], "p": p, "input_p": input_p})
        self.model.train()

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, chunk: int | None = None) -> tuple[list[float], list[float]]:
        """Each model's mean cross-entropy and accuracy in inference mode, as ``Trainer.evaluate``.

        A pass holds every model's activations of its ``chunk`` examples: by default as many examples times models
        as four MLP chunks (the default sweep's stack of 12: 341 examples, a fifth faster than 85 and about as fast
        as 1,024, which took 100 MB more at its peak)."""
        self.model.eval()
        k = len(self.model)
        chunk = chunk or max(1, 4 * MLP.eval_chunk // k)
        total, correct = torch.zeros(k, dtype=torch.float64), torch.zeros(k)
        for xs, ys in zip(x.split(chunk), y.split(chunk)):
            logits = self.model(xs)  # (K, n, C)
            targets = ys.expand(k, -1)
            total += F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").sum(1).double()
            correct += (logits.argmax(-1) == targets).sum(1)
        n = len(y)
        return (total / n).tolist(), (correct / n).tolist()
