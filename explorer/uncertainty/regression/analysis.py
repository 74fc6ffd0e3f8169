"""1-D regression with a gap in the training data, a trainer for it, and MC dropout's reading of the fit.

y = x·sin x plus Gaussian noise, with training x drawn from an interval that
has a hole in the middle. A network fits the points it sees; what it does in
the hole and beyond the ends is a guess, and MC dropout should say so by
spreading its stochastic passes there (Gal & Ghahramani 2016): keep dropout
sampling at test time, run the trained network T times on the same input and
read the standard deviation of the passes as the model's uncertainty. The
trainer is the classification ``Trainer``'s bounded loop with a
mean-squared-error step instead.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from explorer import settings
from explorer.core.experiment import PARSERS, Problem, format_field
from explorer.core.mc import sampling
from explorer.core.model import MLP, MLPConfig
from explorer.core.training import BoundedRun

REGRESSION_ACTIVATIONS = ("relu", "tanh")
LIVE_REGRESSION_FIELDS = ("p", "lr", "epochs")  # change in place; anything else needs new data or a new network


def true_function(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sin(x)


@dataclass(frozen=True)
class RegressionConfig:
    """Training x uniform on [-R, R] minus the gap (R = settings.UNC_REG_HALF_RANGE); y = x·sin x + noise·N(0, 1).

    The default gap sits where x·sin x turns from its bump down to its trough,
    and training runs long: MC dropout is known to be weak "in between" data
    (Foong et al. 2019); it shows there once the thinned networks agree on the data.
    """

    train_size: int = 100
    noise: float = 0.3
    gap: tuple[float, float] = (1.5, 4.0)  # the hole in the training x
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    p: float = 0.2              # drop rate after every hidden layer
    lr: float = 0.01
    batch_size: int = 16
    epochs: int = 2000
    seed: int = 0

    def model_config(self) -> MLPConfig:
        return MLPConfig(n_in=1, hidden=self.hidden, n_out=1, activation=self.activation, p=self.p, seed=self.seed)

    def problems(self) -> list[Problem]:
        """What breaks the instance's limits, one ``Problem`` each (empty = fine); every rule is about one field."""
        r = settings.UNC_REG_HALF_RANGE
        rules = [
            ("train_size", 1 <= self.train_size <= settings.UNC_REG_MAX_TRAIN,
             f"training points: 1 to {settings.UNC_REG_MAX_TRAIN}"),
            ("noise", 0.0 <= self.noise <= settings.MAX_NOISE, f"noise: 0 to {settings.MAX_NOISE:g}"),
            ("gap", -r <= self.gap[0] < self.gap[1] <= r
             and self.gap[1] - self.gap[0] <= 2 * r - settings.UNC_REG_MIN_DATA,
             f"gap: from a to b with -{r:g} ≤ a < b ≤ {r:g}, leaving at least {settings.UNC_REG_MIN_DATA:g} of the "
             "range for data"),
            ("hidden", 1 <= len(self.hidden) <= settings.MAX_DEPTH
             and all(1 <= w <= settings.MAX_WIDTH for w in self.hidden),
             f"hidden layers: 1 to {settings.MAX_DEPTH} of 1 to {settings.MAX_WIDTH} units"),
            ("activation", self.activation in REGRESSION_ACTIVATIONS,
             f"activation: one of {', '.join(REGRESSION_ACTIVATIONS)}"),
            ("p", 0.0 <= self.p <= settings.MAX_RATE, f"drop rate: 0 to {settings.MAX_RATE:g}"),
            ("lr", 0.0 < self.lr <= settings.MAX_LR, f"learning rate: above 0, at most {settings.MAX_LR:g}"),
            ("batch_size", 1 <= self.batch_size <= settings.MAX_BATCH_SIZE,
             f"batch size: 1 to {settings.MAX_BATCH_SIZE}"),
            ("epochs", 1 <= self.epochs <= settings.MAX_EPOCHS, f"epochs: 1 to {settings.MAX_EPOCHS}"),
            ("seed", 0 <= self.seed <= settings.MAX_SEED, f"seed: 0 to {settings.MAX_SEED}"),
        ]
        return [Problem((name,), rule) for name, ok, rule in rules if not ok]

    def changed(self, other: RegressionConfig) -> set[str]:
        return {f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)}


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None


def _gap(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(t) for t in text.split(","))
    except ValueError:
        raise ValueError(f"expected two numbers a,b such as 1.5,4, got {text!r}") from None
    return lo, hi


# The text of each field; the ranges are those of ``RegressionConfig.problems`` (the experiment's parsers that agree).
REGRESSION_PARSERS: dict[str, Callable[[str], Any]] = {
    "train_size": _whole,
    "noise": PARSERS["noise"],
    "gap": _gap,
    "hidden": PARSERS["hidden"],
    "activation": PARSERS["activation"],
    "p": PARSERS["p"],
    "lr": PARSERS["lr"],
    "batch_size": PARSERS["batch_size"],
    "epochs": PARSERS["epochs"],
    "seed": PARSERS["seed"],
}
assert set(REGRESSION_PARSERS) == {f.name for f in fields(RegressionConfig)}, "every field needs a parser"


def as_text(value: Any) -> str:
    """A field's value as a link writes it: ``1.5,4`` for the gap, ``64,64`` for the widths."""
    return ",".join(format_field(v) for v in value) if isinstance(value, tuple) else format_field(value)


def from_params(params: Mapping[str, str], base: RegressionConfig = RegressionConfig()
                ) -> tuple[RegressionConfig, list[str]]:
    """A config from link parameters, keeping ``base`` where one is missing, unknown or bad (one warning each).

    Every rule of ``problems`` concerns one field, so each value is checked on
    its own against ``base``: a typo loses that parameter only.
    """
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for key, text in params.items():
        if key not in REGRESSION_PARSERS:
            warnings.append(f"unknown parameter {key!r} ignored")
            continue
        try:
            value = REGRESSION_PARSERS[key](text.strip())
        except ValueError as err:
            warnings.append(f"{key}: {err}; using {as_text(getattr(base, key))}")
            continue
        broken = [p for p in replace(base, **{key: value}).problems() if key in p.fields]
        if broken:
            warnings.append(f"{key}: out of bounds (allowed: {broken[0]}); using {as_text(getattr(base, key))}")
        else:
            values[key] = value
    return replace(base, **values), warnings


def to_params(cfg: RegressionConfig, base: RegressionConfig = RegressionConfig()) -> dict[str, str]:
    """The fields that differ from ``base``, as text (``gap=1.5,4``, ``hidden=64,64``): a short shareable link."""
    changed = cfg.changed(base)
    return {f.name: as_text(getattr(cfg, f.name)) for f in fields(cfg) if f.name in changed}


@dataclass
class RegressionData:
    """(N, 1) float tensors; validation points come from the training distribution (the gap stays empty)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


def sample_x(n: int, gap: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """n points uniform on [-R, R] minus the gap: uniform on [-R, R − width], the part above the gap shifted past it."""
    lo, hi = gap
    u = rng.uniform(-settings.UNC_REG_HALF_RANGE, settings.UNC_REG_HALF_RANGE - (hi - lo), size=n)
    return np.where(u < lo, u, u + (hi - lo))


def make_regression_data(cfg: RegressionConfig) -> RegressionData:
    rng = np.random.default_rng(cfg.seed)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(sample_x(n, cfg.gap, rng).astype(np.float32))[:, None]
        noise = torch.from_numpy(rng.standard_normal(n).astype(np.float32))[:, None]
        return x, true_function(x) + cfg.noise * noise

    x_train, y_train = draw(cfg.train_size)
    x_val, y_val = draw(settings.UNC_REG_VAL_SIZE)
    return RegressionData(x_train, y_train, x_val, y_val)


class RegressionTrainer(BoundedRun):
    """An MLP (standard dropout) fitted by Adam to mean squared error; a history row per epoch.

    The batch order has a generator of its own (seeded by the config), the
    masks come from the network's: looking at the run with MC dropout (own
    generator too) never changes what training draws next.
    """

    def __init__(self, cfg: RegressionConfig, data: RegressionData | None = None) -> None:
        super().__init__(MLP(cfg.model_config()))
        self.cfg = cfg
        self.data = data if data is not None else make_regression_data(cfg)
        self.restart_optimizer()
        self.order = torch.Generator().manual_seed(cfg.seed)
        self.history: list[dict[str, float]] = []

    @property
    def done(self) -> bool:
        return self.epoch >= self.cfg.epochs

    def restart_optimizer(self) -> None:
        """Adam afresh: at the start, and for weights loaded from a file."""
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr)

    def set_rates(self, p: float) -> None:
        """The next step drops at rate ``p``; weights and optimiser state stay."""
        self.model.set_rates(p=p)
        self.cfg = replace(self.cfg, p=p)

    def retune(self, lr: float, epochs: int) -> None:
        self.cfg = replace(self.cfg, lr=lr, epochs=epochs)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _train_step(self) -> None:
        idx = self._next_batch(len(self.data.y_train), self.cfg.batch_size, self.order)
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.mse_loss(self.model(self.data.x_train[idx]), self.data.y_train[idx])
        loss.backward()
        self.optimizer.step()
        self.step += 1
        if not self._batches:
            self._end_epoch()

    def _end_epoch(self) -> None:
        self.epoch += 1
        self.history.append({
            "epoch": self.epoch,
            "step": self.step,
            "train_mse": self.mse(self.data.x_train, self.data.y_train),
            "val_mse": self.mse(self.data.x_val, self.data.y_val),
            "p": self.model.hidden_rate,
        })
        self.model.train()

    @torch.no_grad()
    def mse(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Mean squared error of the inference-mode network (dropout off)."""
        self.model.eval()
        return F.mse_loss(self.model(x), y).item()


@torch.no_grad()
def mc_regression(model: torch.nn.Module, x: torch.Tensor, samples: int, seed: int) -> tuple[torch.Tensor, ...]:
    """``samples`` stochastic passes over x (N, 1): the passes (T, N), their mean and standard deviation (N,).

    The T passes go through as one batch of T copies of x: every row draws its
    own mask, exactly as T separate passes would, at a fraction of the calls.
    The population standard deviation (divide by T): with T = 1 it is 0, not undefined.
    """
    with sampling(model, seed):
        passes = model(x.repeat(samples, 1))[:, 0].reshape(samples, len(x))
    return passes, passes.mean(0), passes.std(0, correction=0)


def region_std(x: np.ndarray, std: np.ndarray, gap: tuple[float, float]) -> dict[str, float]:
    """Mean predictive std in the gap, on the stretches the training x cover, and beyond them."""
    r = settings.UNC_REG_HALF_RANGE
    in_gap = (x > gap[0]) & (x < gap[1])
    beyond = np.abs(x) > r
    return {"gap": float(std[in_gap].mean()), "data": float(std[~in_gap & ~beyond].mean()),
            "beyond": float(std[beyond].mean())}
