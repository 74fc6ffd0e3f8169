"""One flat description of a toy experiment, shared by the command line and the app's URL.

Each field has a parser that turns text (a command-line argument, a query
parameter) into a checked value, or raises ``ValueError`` with a sentence a
person can act on. The limits come from ``explorer.settings``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Callable, Mapping

from explorer import settings
from explorer.datasets import TOY_DATASETS, DataConfig, Dataset, make_toy
from explorer.dropout import variants_for
from explorer.model import ACTIVATIONS, MLP, MLPConfig
from explorer.training import OPTIMIZERS, TrainConfig, Trainer


@dataclass(frozen=True)
class Experiment:
    """Defaults: a small noisy training set on which a no-dropout net visibly overfits."""

    dataset: str = "xor"
    train_size: int = 100
    val_size: int = 500
    noise: float = 0.3
    label_noise: float = 0.05
    hidden: tuple[int, ...] = (128, 128)
    activation: str = "relu"
    p: float = 0.5
    input_p: float = 0.0
    variant: str = "standard"
    optimizer: str = "adam"
    lr: float = 0.01
    batch_size: int = 32
    weight_decay: float = 0.0
    max_norm: float = 0.0
    epochs: int = 500
    seed: int = 0

    def data_config(self) -> DataConfig:
        return DataConfig(self.dataset, self.train_size, self.val_size, self.noise, self.label_noise, self.seed)

    def model_config(self, n_in: int = 2, n_out: int = 2) -> MLPConfig:
        return MLPConfig(n_in, self.hidden, n_out, self.activation, self.p, self.input_p, self.variant, self.seed)

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            optimizer=self.optimizer,
            lr=self.lr,
            batch_size=self.batch_size,
            weight_decay=self.weight_decay,
            max_norm=self.max_norm,
            epochs=self.epochs,
            seed=self.seed,
        )

    def without_dropout(self) -> Experiment:
        return replace(self, p=0.0, input_p=0.0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


def build(exp: Experiment, data: Dataset | None = None) -> Trainer:
    """A trainer for the experiment; pass ``data`` to share one dataset between runs."""
    data = data if data is not None else make_toy(exp.data_config())
    model = MLP(exp.model_config(data.n_features, data.n_classes))
    return Trainer(model, data, exp.train_config())


# --- parsing text into checked values ----------------------------------------

def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"expected a whole number, got {text!r}") from None
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {value}")
        return value

    return parse


def _float(lo: float, hi: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
        if not lo <= value <= hi:  # also rejects nan
            raise ValueError(f"must be between {lo:g} and {hi:g}, got {value:g}")
        return value

    return parse


def _rate(text: str) -> float:
    value = _float(0.0, 1.0)(text)
    if value >= 1.0:
        raise ValueError("a drop rate must be below 1 (1 would drop every unit)")
    if value > settings.MAX_RATE:
        raise ValueError(f"must be at most {settings.MAX_RATE:g} on this instance, got {value:g}")
    return value


def _choice(options: Mapping[str, Any] | tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"unknown value {text!r}; choose from {', '.join(options)}")
        return text

    return parse


def _widths(text: str) -> tuple[int, ...]:
    parts = [t for t in text.replace(" ", "").split(",") if t]
    if not parts:
        raise ValueError("expected comma-separated layer widths such as 64,64")
    if len(parts) > settings.MAX_DEPTH:
        raise ValueError(f"at most {settings.MAX_DEPTH} hidden layers, got {len(parts)}")
    width = _int(1, settings.MAX_WIDTH)
    return tuple(width(t) for t in parts)


PARSERS: dict[str, Callable[[str], Any]] = {
    "dataset": _choice(TOY_DATASETS),
    "train_size": _int(4, settings.MAX_TRAIN_SIZE),
    "val_size": _int(1, settings.MAX_VAL_SIZE),
    "noise": _float(0.0, settings.MAX_NOISE),
    "label_noise": _float(0.0, 0.5),
    "hidden": _widths,
    "activation": _choice(ACTIVATIONS),
    "p": _rate,
    "input_p": _rate,
    "variant": _choice(tuple(variants_for("mlp"))),
    "optimizer": _choice(OPTIMIZERS),
    "lr": _float(1e-6, settings.MAX_LR),
    "batch_size": _int(1, settings.MAX_BATCH_SIZE),
    "weight_decay": _float(0.0, settings.MAX_WEIGHT_DECAY),
    "max_norm": _float(0.0, settings.MAX_MAX_NORM),
    "epochs": _int(1, settings.MAX_EPOCHS),
    "seed": _int(0, settings.MAX_SEED),
}
assert set(PARSERS) == {f.name for f in fields(Experiment)}, "every field needs a parser"


def parse_field(name: str, text: str) -> Any:
    """Parse one field's text; ``ValueError`` says what is wrong."""
    return PARSERS[name](text.strip())


def format_field(value: Any) -> str:
    """The inverse of ``parse_field``: the text a URL or a command line carries."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        short = f"{value:g}"  # six significant digits: short URLs for the usual values
        return short if float(short) == value else repr(value)  # repr round-trips exactly
    return str(value)


def from_params(params: Mapping[str, str], base: Experiment = Experiment()) -> tuple[Experiment, list[str]]:
    """Read an experiment from text parameters, keeping ``base`` where one is missing or bad.

    Returns the experiment and one warning per rejected or unknown parameter,
    so a shared link with a typo still opens, with the typo pointed out.
    """
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for key, text in params.items():
        if key not in PARSERS:
            warnings.append(f"unknown parameter {key!r} ignored")
            continue
        try:
            values[key] = parse_field(key, text)
        except ValueError as err:
            warnings.append(f"{key}: {err}; using {format_field(getattr(base, key))}")
    return replace(base, **values), warnings


def to_params(exp: Experiment, base: Experiment = Experiment()) -> dict[str, str]:
    """The fields that differ from ``base``, as text: a short shareable URL."""
    return {f.name: format_field(getattr(exp, f.name)) for f in fields(exp) if getattr(exp, f.name) != getattr(base, f.name)}
