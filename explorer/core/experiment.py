"""One flat description of an experiment, shared by the command line and the app's URL.

Each field has a parser that turns text (a command-line argument, a query
parameter) into a checked value, or raises ``ValueError`` with a sentence a
person can act on. Rules that tie fields together (the CNN needs 28×28 images,
a size limit depends on the dataset, a variant must apply to the model) live in
one function, ``check``, which the command line and ``from_params`` both use.
The limits come from ``explorer.settings``.

The experiment runs on a toy dataset (2-D points, an MLP) or an MNIST set
(784 pixels, an MLP or the CNN); ``defaults_for(dataset)`` gives the defaults
that suit each kind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from explorer import settings
from explorer.core.cnn import CNN, CNNConfig
from explorer.core.datasets import TOY_DATASETS, DataConfig, Dataset, make_toy
from explorer.core import parsing
from explorer.dropout import VARIANTS, variants_for
from explorer.dropout.params import Param
from explorer.dropout.schedules import SCHEDULES, RateSchedule
from explorer.core.mc import INFERENCE_MODES, MC
from explorer.core.mnist import MNIST_DATASETS, SUBSET_SIZE, make_mnist
from explorer.core.model import ACTIVATIONS, MLP, MLPConfig
from explorer.core.points import points_dataset, read_points_file
from explorer.core.training import OPTIMIZERS, TrainConfig, Trainer

MODELS = ("mlp", "cnn")
CSV = "csv"  # your own 2-D points, read from ``data_file``
DATASETS = (*TOY_DATASETS, CSV, *MNIST_DATASETS)
IDX_DATASETS = tuple(d for d in MNIST_DATASETS if d != "mnist")  # read from IDX files in a data directory

# What a run picks that has parameters of its own: layer variants, schedules, MC inference.
CHOICES = {**VARIANTS, **SCHEDULES, MC.key: MC}
# Their own parameters, each declared once beside the code that reads it (range, default, widget, help).
PARAMS: dict[str, Param] = {param.name: param for entry in CHOICES.values() for param in entry.params}
# Each own parameter with the choices that use it.
OWNERS: dict[str, list[str]] = {name: [k for k, e in CHOICES.items() if param in e.params]
                                for name, param in PARAMS.items()}


@dataclass(frozen=True)
class Experiment:
    """Defaults: a small noisy toy training set on which a no-dropout net visibly overfits.

    ``model`` is ``mlp`` or ``cnn`` (MNIST sets only). The CNN's dense layer has
    ``hidden[0]`` units (further widths are not used); its conv feature maps take
    ``conv_variant`` dropout (spatial or dropblock) at rate ``conv_p``, and ``variant``
    is the dropout of its input and dense layer. The MLP ignores ``conv_p``.
    ``data_dir`` is where mnist-full and fashion-mnist are read from ("" =
    ``settings.default_data_dir``). ``dataset`` ``csv`` reads 2-D points from
    ``data_file`` (``explorer.core.points``): on a page, the uploaded file's name.

    ``variant`` is a layer variant or a schedule (``early``, ``late``) of
    ``base_variant``; a variant's own parameters (``samples``, ``standout_alpha``,
    ``block_size``, the schedule's) must keep their defaults unless it is chosen.
    ``inference`` ``mc`` evaluates validation sets by MC dropout.
    """

    dataset: str = "xor"
    train_size: int = 100
    val_size: int = 500
    noise: float = 0.3
    label_noise: float = 0.05
    model: str = "mlp"
    hidden: tuple[int, ...] = (128, 128)
    activation: str = "relu"
    p: float = 0.5
    input_p: float = 0.0
    conv_p: float = 0.1
    variant: str = "standard"
    base_variant: str = PARAMS["base_variant"].default
    schedule_shape: str = PARAMS["schedule_shape"].default
    schedule_cutoff: int = PARAMS["schedule_cutoff"].default
    samples: int = PARAMS["samples"].default
    standout_alpha: float = PARAMS["standout_alpha"].default
    conv_variant: str = "spatial"
    block_size: int = PARAMS["block_size"].default
    inference: str = "standard"
    mc_samples: int = PARAMS["mc_samples"].default
    optimizer: str = "adam"
    lr: float = 0.01
    batch_size: int = 32
    weight_decay: float = 0.0
    max_norm: float = 0.0
    epochs: int = 500
    seed: int = 0
    data_dir: str = ""
    data_file: str = ""

    @property
    def is_mnist(self) -> bool:
        return self.dataset in MNIST_DATASETS

    @property
    def layer_variant(self) -> str:
        """The variant the dropout layers implement: ``variant``, or the one a schedule switches."""
        return self.base_variant if self.variant in SCHEDULES else self.variant

    def schedule(self) -> RateSchedule | None:
        """The trainer callback of an early or late schedule; ``None`` for a constant rate."""
        if self.variant not in SCHEDULES:
            return None
        return RateSchedule(self.variant, self.schedule_shape, self.cutoff, self.p, self.input_p)

    @property
    def cutoff(self) -> int:
        """The epoch a schedule switches at: ``schedule_cutoff``, or a quarter of the epochs if that is 0."""
        return self.schedule_cutoff or max(1, self.epochs // 4)

    def data_config(self) -> DataConfig:
        return DataConfig(self.dataset, self.train_size, self.val_size, self.noise, self.label_noise, self.seed)

    def data_path(self) -> Path:
        """The directory an IDX dataset is read from: ``data_dir``, else the default for the dataset."""
        return Path(self.data_dir).expanduser() if self.data_dir else settings.default_data_dir(self.dataset)

    def model_config(self, n_in: int = 2, n_out: int = 2) -> MLPConfig:
        return MLPConfig(n_in, self.hidden, n_out, self.activation, self.p, self.input_p, self.layer_variant, self.seed,
                         self.samples, self.standout_alpha)

    def cnn_config(self, n_out: int = 10) -> CNNConfig:
        """The CNN's config: its dense layer has ``hidden[0]`` units; the conv maps use spatial dropout."""
        return CNNConfig(hidden=self.hidden[0], n_out=n_out, activation=self.activation, p=self.p,
                         conv_p=self.conv_p, input_p=self.input_p, variant=self.layer_variant,
                         conv_variant=self.conv_variant, block_size=self.block_size, seed=self.seed)

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            optimizer=self.optimizer,
            lr=self.lr,
            batch_size=self.batch_size,
            weight_decay=self.weight_decay,
            max_norm=self.max_norm,
            epochs=self.epochs,
            seed=self.seed,
            inference=self.inference,
            mc_samples=self.mc_samples,
        )

    def without_dropout(self) -> Experiment:
        if self.model == "cnn":
            return replace(self, p=0.0, input_p=0.0, conv_p=0.0)
        return replace(self, p=0.0, input_p=0.0)  # the MLP has no conv layers: conv_p stays as it is

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


def defaults_for(dataset: str) -> Experiment:
    """The defaults that suit ``dataset``: the toy defaults, or the MNIST reference run.

    MNIST sets: 784-512-512-10, input drop 0.2, hidden drop 0.5, SGD (momentum
    0.9) at 0.05, batch 64, 20 epochs on a 4,000 / 1,000 split, no noise: the run
    measured in docs/dropout.md (about 95% validation accuracy on the subset).
    ``ValueError`` for an unknown dataset.
    """
    dataset = parse_field("dataset", dataset)
    if dataset == CSV:  # your own points, used as they are
        return replace(Experiment(), dataset=dataset, noise=0.0, label_noise=0.0)
    if dataset not in MNIST_DATASETS:
        return replace(Experiment(), dataset=dataset)
    return replace(
        Experiment(), dataset=dataset, train_size=settings.MNIST_TRAIN_SIZE, val_size=settings.MNIST_VAL_SIZE,
        noise=0.0, label_noise=0.0, hidden=(512, 512), p=0.5, input_p=0.2, optimizer="sgd", lr=0.05,
        batch_size=64, epochs=20,
    )


def make_data(exp: Experiment) -> Dataset:
    """The experiment's dataset; for mnist-full and fashion-mnist, files missing from the data
    directory are downloaded (checksums verified) when online, else ``mnist.DataError`` says which;
    for csv, ``points.PointsError`` says what is wrong with the file (both are ``ValueError``)."""
    if exp.is_mnist:
        data_dir = exp.data_path() if exp.dataset in IDX_DATASETS else None
        return make_mnist(exp.dataset, exp.train_size, exp.val_size, exp.seed, data_dir)
    if exp.dataset == CSV:
        return points_dataset(read_points_file(exp.data_file), exp.train_size, exp.val_size, exp.label_noise, exp.seed)
    return make_toy(exp.data_config())


def make_model(exp: Experiment, n_in: int, n_out: int) -> MLP | CNN:
    if exp.model == "cnn":
        return CNN(exp.cnn_config(n_out))
    return MLP(exp.model_config(n_in, n_out))


def build(exp: Experiment, data: Dataset | None = None) -> Trainer:
    """A trainer for the experiment; pass ``data`` to share one dataset between runs.

    ``ValueError`` if the fields break a rule of ``check``; ``mnist.DataError``
    (a ``ValueError``) if the data cannot be had.
    """
    problems = check(exp)
    if problems:
        raise ValueError(problems[0])
    data = data if data is not None else make_data(exp)
    trainer = Trainer(make_model(exp, data.n_features, data.n_classes), data, exp.train_config())
    schedule = exp.schedule()
    if schedule is not None:
        schedule(trainer)  # the first step's rates
        trainer.add_callback("on_step_begin", schedule)
    return trainer


# --- parsing text into checked values ----------------------------------------

def _rate(text: str) -> float:
    value = parsing.number(0.0, 1.0)(text)
    if value >= 1.0:
        raise ValueError("a drop rate must be below 1 (1 would drop every unit)")
    if value > settings.MAX_RATE:
        raise ValueError(f"must be at most {settings.MAX_RATE:g} on this instance, got {value:g}")
    return value


def _widths(text: str) -> tuple[int, ...]:
    parts = [t for t in text.replace(" ", "").split(",") if t]
    if not parts:
        raise ValueError("expected comma-separated layer widths such as 64,64")
    if len(parts) > settings.MAX_DEPTH:
        raise ValueError(f"at most {settings.MAX_DEPTH} hidden layers, got {len(parts)}")
    width = parsing.whole(1, settings.MAX_WIDTH)
    return tuple(width(t) for t in parts)


def _path(text: str) -> str:
    """A path as text ("" = the default); whether it holds the data is found out when it is read."""
    if len(text) > 4096 or any(ord(c) < 32 for c in text):
        raise ValueError("expected a path on one line")
    return text


# Sizes are parsed against the largest limit of any dataset; ``check`` applies the chosen dataset's.
PARSERS: dict[str, Callable[[str], Any]] = {
    "dataset": parsing.choice(DATASETS),
    "train_size": parsing.whole(4, max(settings.MAX_TRAIN_SIZE, settings.MAX_MNIST_TRAIN)),
    "val_size": parsing.whole(1, max(settings.MAX_VAL_SIZE, settings.MAX_MNIST_VAL)),
    "noise": parsing.number(0.0, settings.MAX_NOISE),
    "label_noise": parsing.number(0.0, 0.5),
    "model": parsing.choice(MODELS),
    "hidden": _widths,
    "activation": parsing.choice(ACTIVATIONS),
    "p": _rate,
    "input_p": _rate,
    "conv_p": _rate,
    "variant": parsing.choice((*VARIANTS, *SCHEDULES)),
    "conv_variant": parsing.choice(tuple(k for k, v in VARIANTS.items() if v.placement == "maps")),
    "inference": parsing.choice(INFERENCE_MODES),
    "optimizer": parsing.choice(OPTIMIZERS),
    "lr": parsing.number(1e-6, settings.MAX_LR),
    "batch_size": parsing.whole(1, settings.MAX_BATCH_SIZE),
    "weight_decay": parsing.number(0.0, settings.MAX_WEIGHT_DECAY),
    "max_norm": parsing.number(0.0, settings.MAX_MAX_NORM),
    "epochs": parsing.whole(1, settings.MAX_EPOCHS),
    "seed": parsing.whole(0, settings.MAX_SEED),
    "data_dir": _path,
    "data_file": _path,
    **{name: param.parse for name, param in PARAMS.items()},
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


# --- rules between fields ------------------------------------------------------

def _elementwise_variants(model: str) -> list[str]:
    """What ``variant`` may be: for the CNN, a variant of its input and dense layers (its conv maps use spatial)."""
    if model == "cnn":
        return [k for k in variants_for("cnn") if "mlp" in VARIANTS[k].models]
    return variants_for(model)


def _rules(exp: Experiment) -> list[Problem]:
    """Every broken rule, its fields the one that depends on the others first."""
    problems: list[Problem] = []
    if exp.model == "cnn" and not exp.is_mnist:
        problems.append(Problem(("model", "dataset"),
                         "the CNN needs 28×28 images: use --dataset mnist, mnist-full or fashion-mnist"))
    allowed = _elementwise_variants(exp.model)
    if exp.layer_variant not in allowed:
        where = "the CNN's input and dense layers" if exp.model == "cnn" else "the MLP"
        extra = "; the CNN's conv maps take --conv-variant, at rate --conv-p" if exp.model == "cnn" else ""
        if exp.layer_variant in VARIANTS and VARIANTS[exp.layer_variant].placement == "maps":
            extra = f"; {exp.layer_variant} acts on conv maps: --model cnn --conv-variant {exp.layer_variant}"
        name = "base_variant" if exp.variant in SCHEDULES else "variant"
        problems.append(Problem((name, "model"), f"{flag(name)} {exp.layer_variant} does not apply to {where}: "
                                          f"choose from {', '.join(allowed)}{extra}"))
    if exp.variant in SCHEDULES and exp.base_variant == "concrete":
        problems.append(Problem(("base_variant", "variant"),
                         "--base-variant concrete learns its rate: a schedule cannot set it; choose another"))
    if exp.variant in SCHEDULES and exp.schedule_cutoff > exp.epochs:
        problems.append(Problem(("schedule_cutoff", "epochs"),
                         f"--schedule-cutoff {exp.schedule_cutoff} is after the last epoch (--epochs {exp.epochs})"))
    if exp.model != "cnn" and exp.conv_variant != Experiment.conv_variant:
        problems.append(Problem(("conv_variant", "model"), "--conv-variant applies to the CNN's conv maps (--model cnn)"))
    problems += _idle_params(exp)
    max_train, max_val = ((settings.MAX_MNIST_TRAIN, settings.MAX_MNIST_VAL) if exp.is_mnist
                          else (settings.MAX_TRAIN_SIZE, settings.MAX_VAL_SIZE))
    if exp.train_size > max_train:
        problems.append(Problem(("train_size", "dataset"),
                         f"--train-size must be at most {max_train} for {exp.dataset}, got {exp.train_size}"))
    if exp.val_size > max_val:
        problems.append(Problem(("val_size", "dataset"),
                         f"--val-size must be at most {max_val} for {exp.dataset}, got {exp.val_size}"))
    if exp.dataset == "mnist" and exp.train_size + exp.val_size > SUBSET_SIZE:
        problems.append(Problem(("train_size", "val_size", "dataset"),
                         f"the embedded MNIST subset holds {SUBSET_SIZE} digits, fewer than --train-size "
                         f"{exp.train_size} + --val-size {exp.val_size}; use mnist-full for more"))
    if exp.is_mnist and exp.noise:
        problems.append(Problem(("noise", "dataset"), "--noise (input noise) applies to the toy datasets only; use 0"))
    if exp.is_mnist and exp.label_noise:
        problems.append(Problem(("label_noise", "dataset"), "--label-noise applies to the toy datasets only; use 0"))
    if exp.dataset == CSV and not exp.data_file:
        problems.append(Problem(("dataset", "data_file"), "--dataset csv reads your points from --data-file F "
                                "(a CSV with columns x1,x2,label)"))
    if exp.data_file and exp.dataset != CSV:
        problems.append(Problem(("data_file", "dataset"), f"--data-file applies to --dataset csv, not to {exp.dataset}"))
    if exp.dataset == CSV and exp.noise:
        problems.append(Problem(("noise", "dataset"), "--noise applies to the generated toy sets; a CSV's points are "
                                "used as they are: use 0"))
    if exp.data_dir and exp.dataset not in IDX_DATASETS:
        problems.append(Problem(("data_dir", "dataset"),
                         f"--data-dir applies to {' and '.join(IDX_DATASETS)} (read from IDX files), "
                         f"not to {exp.dataset}"))
    return problems


def _picker(keys: list[str]) -> str:
    """The field that chooses an own parameter's owners: inference (MC), conv_variant (conv maps) or variant."""
    if all(k == MC.key for k in keys):
        return "inference"
    if all(k in VARIANTS and VARIANTS[k].placement == "maps" for k in keys):
        return "conv_variant"
    return "variant"


def _idle_params(exp: Experiment) -> list[Problem]:
    """A variant's own parameter set away from its default while that variant is not chosen."""
    chosen = {exp.variant, exp.layer_variant, exp.inference} | ({exp.conv_variant} if exp.model == "cnn" else set())
    problems = []
    for name, keys in OWNERS.items():
        if getattr(exp, name) != getattr(Experiment, name) and not chosen & set(keys):
            picker = _picker(keys)
            problems.append(Problem((name, picker), f"{flag(name)} applies to {flag(picker)} {' or '.join(keys)} only"))
    return problems


def flag(name: str) -> str:
    """A field's command-line flag: ``train_size`` → ``--train-size``."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Problem:
    """A broken rule: the fields it ties together (the one to change first) and a sentence for people.

    ``str()`` is the sentence, which names the flags. ``reason`` is the
    sentence without its leading flags where it has them (``flagged``), for a
    message that names the field its own way (a link's warning, a refusal).
    """

    fields: tuple[str, ...]
    message: str
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.reason:
            object.__setattr__(self, "reason", self.message)

    def __str__(self) -> str:
        return self.message

    @classmethod
    def flagged(cls, fields: str | tuple[str, ...], reason: str) -> Problem:
        """"--flag[, --flag]: reason": the usual form of an analysis's rule."""
        names = (fields,) if isinstance(fields, str) else tuple(fields)
        return cls(names, f"{', '.join(flag(n) for n in names)}: {reason}", reason)


def check(exp: Experiment) -> list[Problem]:
    """The rules that tie fields together, one ``Problem`` per broken rule ([] = the experiment can run).

    Each field's own range is the parser's business; this adds what depends on
    other fields: the CNN only on MNIST sets, a variant that applies to the
    model, size limits of the chosen dataset (toy or MNIST), no toy-only
    noise on MNIST, a data directory only for the sets read from files.
    """
    return _rules(exp)


def from_params(params: Mapping[str, str], base: Experiment = Experiment()) -> tuple[Experiment, list[str]]:
    """Read an experiment from text parameters, keeping ``base`` where one is missing or bad.

    Returns the experiment and one warning per rejected or unknown parameter,
    so a shared link with a typo still opens, with the typo pointed out. A
    parameter that breaks a rule of ``check`` together with others falls back
    to ``base`` too (the dependent one: ``model=cnn`` on a toy dataset loses
    ``model``). A link never names a data file (``data_file``, ``dataset=csv``):
    a URL must not make the server read a file of its choosing.
    """
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for key, text in params.items():
        if key == "data_file" or (key == "dataset" and text.strip() == CSV):
            warnings.append(f"{key}: uploaded data is not in links (it stays in the session that uploaded it); "
                            f"using {_shown(getattr(base, key))}")
            continue
        if key not in PARSERS:
            warnings.append(f"unknown parameter {key!r} ignored")
            continue
        try:
            values[key] = parse_field(key, text)
        except ValueError as err:
            warnings.append(f"{key}: {err}; using {_shown(getattr(base, key))}")
    while True:
        exp = replace(base, **values)
        culprits = [(next(n for n in p.fields if n in values), p.message)
                    for p in _rules(exp) if any(n in values for n in p.fields)]
        if not culprits:  # consistent, or only the base itself breaks a rule: nothing of the link to drop
            return exp, warnings
        key, message = culprits[0]
        del values[key]
        warnings.append(f"{key}: {message}; using {_shown(getattr(base, key))}")


def _shown(value: Any) -> str:
    return format_field(value) or "the default"


def to_params(exp: Experiment, base: Experiment = Experiment()) -> dict[str, str]:
    """The fields that differ from ``base``, as text: a short shareable URL. Uploaded data stays out of it
    (``from_params`` refuses it): a link to a run on a CSV opens the same settings on the default dataset."""
    private = {"data_file"} | ({"dataset"} if exp.dataset == CSV else set())
    return {f.name: format_field(getattr(exp, f.name)) for f in fields(exp)
            if getattr(exp, f.name) != getattr(base, f.name) and f.name not in private}
