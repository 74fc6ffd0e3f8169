"""The flat experiment config: text round trips, forgiving URL parsing, and the instance limits."""

from __future__ import annotations

import json
import math
from dataclasses import fields, replace

import pytest

from explorer import settings
from explorer.datasets import TOY_DATASETS, DataConfig
from explorer.dropout import VARIANTS, variants_for
from explorer.experiment import PARSERS, Experiment, build, format_field, from_params, parse_field, to_params
from explorer.model import ACTIVATIONS, MLPConfig
from explorer.training import OPTIMIZERS, TrainConfig

FIELDS = [f.name for f in fields(Experiment)]
FLOAT_FIELDS = [f.name for f in fields(Experiment) if isinstance(getattr(Experiment(), f.name), float)]

# values each field must carry through text unchanged; several floats need more than 6 digits
ROUND_TRIP = {
    "dataset": list(TOY_DATASETS),
    "train_size": [4, 37, settings.MAX_TRAIN_SIZE],
    "val_size": [1, 250, settings.MAX_VAL_SIZE],
    "noise": [0.0, 0.15, 0.1234567, settings.MAX_NOISE],
    "label_noise": [0.0, 0.05, 0.5, 1 / 7],
    "hidden": [(1,), (64, 64), (3, 1, 4, 1, 5), (settings.MAX_WIDTH,) * settings.MAX_DEPTH],
    "activation": list(ACTIVATIONS),
    "p": [0.0, 0.25, 1 / 3, settings.MAX_RATE],
    "input_p": [0.0, 0.2, 0.123456789],
    "variant": variants_for("mlp"),
    "optimizer": list(OPTIMIZERS),
    "lr": [1e-6, 0.001, 0.00123456789, 3e-4, settings.MAX_LR],
    "batch_size": [1, 64, settings.MAX_BATCH_SIZE],
    "weight_decay": [0.0, 1e-4, 5e-7, settings.MAX_WEIGHT_DECAY],
    "max_norm": [0.0, 3.5, 2.718281828459045, settings.MAX_MAX_NORM],
    "epochs": [1, 77, settings.MAX_EPOCHS],
    "seed": [0, 12345, settings.MAX_SEED],
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
    ("train_size", str(settings.MAX_TRAIN_SIZE + 1)),
    ("val_size", "0"),
    ("val_size", str(settings.MAX_VAL_SIZE + 1)),
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
    ("dataset", "mnist"),
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
                     epochs=17, seed=99)
    params = to_params(exp)
    assert set(params) == set(FIELDS)
    assert all(isinstance(v, str) for v in params.values())
    assert from_params(params) == (exp, [])


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


def test_the_variant_field_takes_exactly_the_variants_that_apply_to_an_mlp():
    assert variants_for("mlp") == [k for k, v in VARIANTS.items() if "mlp" in v.models]
    for key, variant in VARIANTS.items():
        if "mlp" in variant.models:
            assert parse_field("variant", key) == key
        else:
            with pytest.raises(ValueError):
                parse_field("variant", key)
