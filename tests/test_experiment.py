"""The flat experiment config: text round trips, forgiving URL parsing, and the instance limits."""

from __future__ import annotations

import json
import math
from dataclasses import fields, replace

import pytest
import torch

from explorer import settings
from explorer.core.cnn import CNN, CNNConfig
from explorer.core.datasets import TOY_DATASETS, DataConfig, Dataset
from explorer.dropout import VARIANTS, variants_for
from explorer.core.experiment import (
    DATASETS, MODELS, PARSERS, Experiment, build, check, defaults_for, format_field, from_params, parse_field,
    to_params,
)
from explorer.core.mnist import MNIST_DATASETS
from explorer.core.model import ACTIVATIONS, MLP, MLPConfig
from explorer.core.training import OPTIMIZERS, TrainConfig

FIELDS = [f.name for f in fields(Experiment)]
VARIANT_PARAMS = ("base_variant", "schedule_shape", "schedule_cutoff", "samples", "standout_alpha", "conv_variant",
                  "block_size", "inference", "mc_samples")
FLOAT_FIELDS = [f.name for f in fields(Experiment) if isinstance(getattr(Experiment(), f.name), float)]

# values each field must carry through text unchanged; several floats need more than 6 digits
ROUND_TRIP = {
    "dataset": list(DATASETS),
    "train_size": [4, 37, settings.MAX_TRAIN_SIZE, settings.MAX_MNIST_TRAIN],
    "val_size": [1, 250, settings.MAX_VAL_SIZE, settings.MAX_MNIST_VAL],
    "noise": [0.0, 0.15, 0.1234567, settings.MAX_NOISE],
    "label_noise": [0.0, 0.05, 0.5, 1 / 7],
    "hidden": [(1,), (64, 64), (3, 1, 4, 1, 5), (settings.MAX_WIDTH,) * settings.MAX_DEPTH],
    "activation": list(ACTIVATIONS),
    "p": [0.0, 0.25, 1 / 3, settings.MAX_RATE],
    "input_p": [0.0, 0.2, 0.123456789],
    "conv_p": [0.0, 0.1, 0.25, 1 / 3],
    "model": list(MODELS),
    "variant": [*VARIANTS, "early", "late"],
    "base_variant": list(VARIANTS),
    "schedule_shape": ["constant", "linear"],
    "schedule_cutoff": [0, 5, settings.MAX_EPOCHS],
    "samples": [1, 8, settings.MAX_SAMPLES],
    "standout_alpha": [0.0, 1.0, 0.123456789, 10.0],
    "conv_variant": ["spatial", "dropblock"],
    "block_size": [1, 3, settings.MAX_BLOCK_SIZE],
    "inference": ["standard", "mc"],
    "mc_samples": [1, 30, settings.MAX_MC_SAMPLES],
    "optimizer": list(OPTIMIZERS),
    "lr": [1e-6, 0.001, 0.00123456789, 3e-4, settings.MAX_LR],
    "batch_size": [1, 64, settings.MAX_BATCH_SIZE],
    "weight_decay": [0.0, 1e-4, 5e-7, settings.MAX_WEIGHT_DECAY],
    "max_norm": [0.0, 3.5, 2.718281828459045, settings.MAX_MAX_NORM],
    "epochs": [1, 77, settings.MAX_EPOCHS],
    "seed": [0, 12345, settings.MAX_SEED],
    "data_dir": ["", "/data/mnist", "~/digits", "C:\\data\\fashion mnist", "./rel dir/ünï"],
    "data_file": ["", "points.csv", "~/my data/ünï.csv"],
}


def test_every_field_has_a_parser_and_round_trip_cases():
    assert set(PARSERS) == set(FIELDS) == set(ROUND_TRIP)


@pytest.mark.parametrize("name,value", [(n, v) for n, vs in ROUND_TRIP.items() for v in vs])
def test_parse_format_round_trip(name, value):
    text = format_field(value)
    assert isinstance(text, str) and "\n" not in text
    parsed = parse_field(name, text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("name", FIELDS)
def test_defaults_round_trip(name):
    value = getattr(Experiment(), name)
    assert parse_field(name, format_field(value)) == value


def test_parsing_tolerates_surrounding_spaces():
    assert parse_field("hidden", " 64, 32 ") == (64, 32)
    assert parse_field("p", " 0.3 ") == 0.3
    assert parse_field("epochs", "10 ") == 10


# --- limits ---------------------------------------------------------------------

REJECTED = [
    ("hidden", str(settings.MAX_WIDTH + 1)),
    ("hidden", ",".join(["8"] * (settings.MAX_DEPTH + 1))),
    ("hidden", "0"),
    ("hidden", "-4"),
    ("hidden", "64,abc"),
    ("hidden", "6.5"),
    ("hidden", ""),
    ("hidden", ","),
    ("p", "1"),
    ("p", "1.0"),
    ("p", "1.5"),
    ("p", f"{settings.MAX_RATE + 0.01:g}"),
    ("p", "-0.1"),
    ("p", "nan"),
    ("p", "inf"),
    ("p", "half"),
    ("input_p", "1"),
    ("input_p", "-0.01"),
    ("lr", "0"),
    ("lr", "-0.01"),
    ("lr", f"{settings.MAX_LR * 2:g}"),
    ("lr", "-inf"),
    ("epochs", "0"),
    ("epochs", str(settings.MAX_EPOCHS + 1)),
    ("epochs", "1.5"),
    ("epochs", "ten"),
    ("train_size", "3"),
    ("train_size", str(settings.MAX_MNIST_TRAIN + 1)),  # the toy limit is a rule of check()
    ("val_size", "0"),
    ("val_size", str(settings.MAX_MNIST_VAL + 1)),
    ("batch_size", "0"),
    ("batch_size", str(settings.MAX_BATCH_SIZE + 1)),
    ("weight_decay", "-0.001"),
    ("weight_decay", f"{settings.MAX_WEIGHT_DECAY * 2:g}"),
    ("max_norm", "-1"),
    ("max_norm", f"{settings.MAX_MAX_NORM * 2:g}"),
    ("noise", f"{settings.MAX_NOISE + 1:g}"),
    ("label_noise", "0.6"),
    ("seed", "-1"),
    ("seed", str(settings.MAX_SEED + 1)),
    ("dataset", "imagenet"),
    ("dataset", "MNIST"),
    ("model", "resnet"),
    ("conv_p", "1"),
    ("data_dir", "two\nlines"),
    ("variant", "no-such-variant"),
    ("activation", "gelu"),
    ("optimizer", "lbfgs"),
]


@pytest.mark.parametrize("name,text", REJECTED)
def test_values_outside_the_limits_are_rejected_with_one_line(name, text):
    with pytest.raises(ValueError) as err:
        parse_field(name, text)
    message = str(err.value)
    assert message and "\n" not in message


@pytest.mark.parametrize("name", FLOAT_FIELDS)
@pytest.mark.parametrize("text", ("nan", "NaN", "inf", "-inf"))
def test_non_finite_floats_are_rejected(name, text):
    with pytest.raises(ValueError):
        parse_field(name, text)


@pytest.mark.parametrize("name,text,value", [
    ("hidden", str(settings.MAX_WIDTH), (settings.MAX_WIDTH,)),
    ("hidden", ",".join(["8"] * settings.MAX_DEPTH), (8,) * settings.MAX_DEPTH),
    ("p", f"{settings.MAX_RATE!r}", settings.MAX_RATE),
    ("epochs", str(settings.MAX_EPOCHS), settings.MAX_EPOCHS),
    ("lr", f"{settings.MAX_LR!r}", settings.MAX_LR),
])
def test_values_at_the_limits_are_accepted(name, text, value):
    assert parse_field(name, text) == value


def test_rate_messages_speak_of_drop_rates():
    with pytest.raises(ValueError, match="below 1"):
        parse_field("p", "1")
    assert settings.MAX_RATE < 1


# --- URL parameters ---------------------------------------------------------------

def test_from_params_empty_gives_the_base():
    assert from_params({}) == (Experiment(), [])
    base = Experiment(p=0.2)
    assert from_params({}, base) == (base, [])


def test_from_params_applies_good_values():
    exp, warnings = from_params({"p": "0.3", "hidden": "32,16", "dataset": "moons", "epochs": "40"})
    assert warnings == []
    assert exp == replace(Experiment(), p=0.3, hidden=(32, 16), dataset="moons", epochs=40)


def test_from_params_warns_about_bad_and_unknown_values_and_falls_back():
    base = Experiment(p=0.2, epochs=123)
    exp, warnings = from_params(
        {"p": "abc", "epochs": str(settings.MAX_EPOCHS + 1), "bogus": "1", "lr": "0.05", "hidden": "0"}, base)
    assert exp == replace(base, lr=0.05)
    assert len(warnings) == 4
    assert all(isinstance(w, str) and w and "\n" not in w for w in warnings)
    by_key = {key: [w for w in warnings if key in w] for key in ("p", "epochs", "bogus", "hidden")}
    assert all(by_key.values()), warnings
    assert any("0.2" in w for w in by_key["p"])    # says what is used instead
    assert any("123" in w for w in by_key["epochs"])


def test_to_params_lists_only_non_defaults():
    assert to_params(Experiment()) == {}
    assert to_params(replace(Experiment(), p=0.2, hidden=(32,))) == {"p": "0.2", "hidden": "32"}
    base = Experiment(p=0.2)
    assert to_params(Experiment(p=0.2, seed=3), base) == {"seed": "3"}


def test_url_round_trip_of_a_heavily_modified_experiment():
    exp = Experiment(dataset="spiral", train_size=321, val_size=123, noise=0.1234567, label_noise=1 / 7,
                     hidden=(3, 1, 4), activation="tanh", p=1 / 3, input_p=0.2, variant="weight-scaling",
                     optimizer="sgd", lr=0.00123456789, batch_size=7, weight_decay=5e-7, max_norm=3.5,
                     epochs=17, seed=99, conv_p=0.3)
    params = to_params(exp)
    # a toy run takes neither the CNN nor a data directory; the variant's own parameters keep their defaults
    assert set(params) == set(FIELDS) - {"model", "data_dir", "data_file", *VARIANT_PARAMS}
    assert all(isinstance(v, str) for v in params.values())
    assert from_params(params) == (exp, [])


def test_url_round_trip_of_a_cnn_on_files():
    exp = Experiment(dataset="fashion-mnist", train_size=12345, val_size=2345, noise=0.0, label_noise=0.0,
                     model="cnn", hidden=(96,), p=0.4, input_p=0.1, conv_p=0.123456789, optimizer="sgd", lr=0.05,
                     batch_size=64, epochs=3, seed=5, data_dir="/srv/data/fashion mnist")
    assert check(exp) == []
    params = to_params(exp)
    assert {"model", "conv_p", "data_dir"} <= set(params)
    assert from_params(params) == (exp, [])
    assert from_params(to_params(exp, defaults_for("mnist")), defaults_for("mnist")) == (exp, [])


# --- what an experiment builds ---------------------------------------------------

def test_sub_configs_carry_every_field():
    exp = Experiment(dataset="circles", train_size=50, val_size=20, noise=0.1, label_noise=0.1, hidden=(8, 4),
                     activation="tanh", p=0.3, input_p=0.1, variant="weight-scaling", optimizer="sgd", lr=0.2,
                     batch_size=16, weight_decay=1e-3, max_norm=2.0, epochs=3, seed=42)
    assert exp.data_config() == DataConfig("circles", 50, 20, 0.1, 0.1, 42)
    assert exp.model_config(2, 2) == MLPConfig(2, (8, 4), 2, "tanh", 0.3, 0.1, "weight-scaling", 42)
    t = exp.train_config()
    assert t == replace(TrainConfig(), optimizer="sgd", lr=0.2, batch_size=16, weight_decay=1e-3, max_norm=2.0,
                        epochs=3, seed=42)
    trainer = build(exp)
    assert trainer.model.layer_sizes == [2, 8, 4, 2]
    assert [d.p for d in trainer.model.dropouts] == [0.1, 0.3, 0.3]
    assert len(trainer.data.y_train) == 50 and len(trainer.data.y_val) == 20


def test_without_dropout_only_zeroes_the_rates():
    exp = Experiment(p=0.4, input_p=0.2, variant="weight-scaling", seed=5)
    twin = exp.without_dropout()
    assert (twin.p, twin.input_p) == (0.0, 0.0)
    assert replace(twin, p=0.4, input_p=0.2) == exp


def test_to_dict_is_json_ready():
    d = Experiment(hidden=(8, 4)).to_dict()
    assert set(d) == set(FIELDS)
    assert d["hidden"] == [8, 4]
    assert json.loads(json.dumps(d)) == d
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in d.values())


def test_an_mlp_takes_exactly_the_variants_that_apply_to_an_mlp():
    """The parser knows every registered variant; check() keeps the MLP to those that apply to it."""
    assert variants_for("mlp") == [k for k, v in VARIANTS.items() if "mlp" in v.models]
    for key, variant in VARIANTS.items():
        assert parse_field("variant", key) == key
        problems = check(Experiment(variant=key))
        if "mlp" in variant.models:
            assert problems == []
        else:
            assert len(problems) == 1 and key in problems[0].message and "MLP" in problems[0].message
            assert problems[0].fields[0] == "variant"
    with pytest.raises(ValueError, match="unknown"):
        parse_field("variant", "no-such-variant")


def test_the_cnn_takes_the_elementwise_variants_for_its_input_and_dense_layers():
    cnn = replace(defaults_for("mnist"), model="cnn")
    for key, variant in VARIANTS.items():
        problems = check(replace(cnn, variant=key))
        if "cnn" in variant.models and "mlp" in variant.models:
            assert problems == [], key
        else:  # spatial: the CNN's conv maps use it already; its input and dense layers need an elementwise one
            assert len(problems) == 1 and key in problems[0].message and "conv" in problems[0].message, problems


# --- defaults per dataset and the rules between fields ------------------------------

def test_toy_defaults_are_the_experiment_defaults():
    for name in TOY_DATASETS:
        assert defaults_for(name) == replace(Experiment(), dataset=name)
        assert check(defaults_for(name)) == []


@pytest.mark.parametrize("name", MNIST_DATASETS)
def test_mnist_defaults_are_the_reference_run(name):
    exp = defaults_for(name)
    assert exp == Experiment(dataset=name, train_size=4000, val_size=1000, noise=0.0, label_noise=0.0,
                             hidden=(512, 512), p=0.5, input_p=0.2, optimizer="sgd", lr=0.05, batch_size=64,
                             epochs=20)
    assert (exp.model, exp.data_dir, exp.seed) == ("mlp", "", 0)
    assert check(exp) == [] and check(replace(exp, model="cnn")) == []


def test_defaults_for_an_unknown_dataset_is_a_value_error():
    with pytest.raises(ValueError, match="unknown"):
        defaults_for("imagenet")


CROSS_FIELD = [  # (changes to a toy or MNIST default, words the one problem must contain)
    (dict(model="cnn"), ("CNN", "28×28", "--dataset mnist")),
    (dict(model="cnn", dataset="spiral"), ("CNN", "28×28")),
    (dict(variant="spatial"), ("spatial", "MLP")),
    (dict(train_size=settings.MAX_TRAIN_SIZE + 1), ("--train-size", str(settings.MAX_TRAIN_SIZE), "xor")),
    (dict(val_size=settings.MAX_VAL_SIZE + 1), ("--val-size", str(settings.MAX_VAL_SIZE))),
    (dict(data_dir="/tmp/digits"), ("--data-dir", "mnist-full")),
    (dict(dataset="mnist", train_size=4500, val_size=1000), ("5000", "mnist-full")),
    (dict(dataset="mnist", noise=0.2), ("--noise", "toy")),
    (dict(dataset="mnist", label_noise=0.1), ("--label-noise", "toy")),
    (dict(dataset="mnist", data_dir="/tmp/digits"), ("--data-dir",)),
    (dict(dataset="mnist-full", val_size=settings.MAX_MNIST_VAL + 1), ("--val-size", str(settings.MAX_MNIST_VAL))),
    (dict(dataset="mnist", model="cnn", variant="spatial"), ("spatial", "conv")),
    (dict(dataset="csv", noise=0.0), ("--dataset csv", "--data-file")),
    (dict(dataset="csv", data_file="a.csv", noise=0.2), ("--noise", "as they are")),
    (dict(data_file="a.csv"), ("--data-file", "--dataset csv", "xor")),
]


def test_a_link_never_names_a_data_file():
    """A URL must not make the server read a file of its choosing, nor hold an upload's points."""
    exp, warnings = from_params({"dataset": "csv", "data_file": "/etc/passwd", "p": "0.3"})
    assert (exp.dataset, exp.data_file, exp.p) == (Experiment.dataset, "", 0.3)
    assert len(warnings) == 2 and all("not in links" in w for w in warnings)
    uploaded = Experiment(dataset="csv", data_file="mine.csv", noise=0.0, p=0.3)
    assert to_params(uploaded) == {"noise": "0", "p": "0.3"}


@pytest.mark.parametrize("changes,words", CROSS_FIELD, ids=[str(c) for c, _ in CROSS_FIELD])
def test_check_names_each_broken_rule_in_one_line(changes, words):
    base = defaults_for(changes.get("dataset", "xor"))
    exp = replace(base, **changes)
    problems = check(exp)
    assert len(problems) == 1, problems
    assert "\n" not in problems[0].message and all(w in problems[0].message for w in words), problems[0]
    with pytest.raises(ValueError):
        build(exp)  # build refuses what check rejects, before touching any data


def test_check_accepts_the_limits_of_each_kind_of_dataset():
    assert check(replace(defaults_for("moons"), train_size=settings.MAX_TRAIN_SIZE,
                         val_size=settings.MAX_VAL_SIZE)) == []
    assert check(replace(defaults_for("mnist-full"), train_size=settings.MAX_MNIST_TRAIN,
                         val_size=settings.MAX_MNIST_VAL, data_dir="/data")) == []
    assert check(replace(defaults_for("mnist"), train_size=4000, val_size=1000)) == []


def test_check_lists_every_broken_rule():
    exp = Experiment(model="cnn", variant="spatial", train_size=settings.MAX_TRAIN_SIZE + 1, data_dir="x")
    assert len(check(exp)) == 4


def test_from_params_drops_the_dependent_field_of_a_broken_rule():
    exp, warnings = from_params({"model": "cnn", "p": "0.3"})
    assert exp == Experiment(p=0.3)
    assert len(warnings) == 1 and warnings[0].startswith("model:") and "28×28" in warnings[0]
    assert "using mlp" in warnings[0]

    exp, warnings = from_params({"variant": "spatial"})
    assert exp == Experiment() and len(warnings) == 1 and warnings[0].startswith("variant:")

    exp, warnings = from_params({"train_size": str(settings.MAX_TRAIN_SIZE + 1), "dataset": "moons"})
    assert exp == Experiment(dataset="moons") and len(warnings) == 1 and warnings[0].startswith("train_size:")
    assert "using 100" in warnings[0]

    exp, warnings = from_params({"data_dir": "/etc"})
    assert exp == Experiment() and len(warnings) == 1 and "data_dir" in warnings[0] and "the default" in warnings[0]


def test_from_params_keeps_a_consistent_image_experiment():
    params = {"dataset": "mnist", "model": "cnn", "noise": "0", "label_noise": "0", "conv_p": "0.2"}
    exp, warnings = from_params(params)
    assert warnings == []
    assert (exp.dataset, exp.model, exp.conv_p) == ("mnist", "cnn", 0.2)


def test_from_params_falls_back_field_by_field_until_the_experiment_is_consistent():
    # mnist keeps the toy base's noise (0.3): the link's dataset is what breaks the noise rule,
    # and the CNN then needs MNIST: both fall back, one warning each
    exp, warnings = from_params({"dataset": "mnist", "model": "cnn"})
    assert exp == Experiment()
    assert [w.split(":")[0] for w in warnings] == ["dataset", "model"], warnings
    assert check(exp) == []


def test_builds_the_model_the_experiment_names():
    digits = Dataset("fake", torch.rand(20, 784), torch.arange(20) % 10, torch.rand(10, 784), torch.arange(10),
                     n_classes=10)
    exp = replace(defaults_for("mnist"), hidden=(48, 16), p=0.3, input_p=0.1, conv_p=0.2, seed=4,
                  activation="tanh", epochs=1)
    mlp_run = build(exp, digits)
    mlp = mlp_run.model
    assert isinstance(mlp, MLP) and mlp.layer_sizes == [784, 48, 16, 10]
    cnn = build(replace(exp, model="cnn"), digits)
    assert isinstance(cnn.model, CNN)
    assert cnn.model.cfg == CNNConfig(hidden=48, n_out=10, activation="tanh", p=0.3, conv_p=0.2, input_p=0.1,
                                      variant="standard", seed=4)
    assert [d.p for d in cnn.model.dropouts] == [0.1, 0.2, 0.2, 0.3]
    cnn.run()
    mlp_run.run()
    assert cnn.history[-1]["conv_p"] == 0.2 and "conv_p" not in mlp_run.history[-1]


def test_the_cnns_twin_has_no_dropout_anywhere():
    exp = replace(defaults_for("mnist"), model="cnn", conv_p=0.2)
    twin = exp.without_dropout()
    assert (twin.p, twin.input_p, twin.conv_p) == (0.0, 0.0, 0.0)
    assert replace(twin, p=exp.p, input_p=exp.input_p, conv_p=0.2) == exp
