"""The Sweeps page's link: a sweep's settings to URL parameters and back, bad values reported and replaced."""

from __future__ import annotations

import pytest

from explorer.sweep.link import read_spec, spec_from_params, spec_to_params
from explorer.sweep.state import DEFAULT_RATES, SweepSpec, default_sizes


def test_no_parameters_is_the_pages_default_sweep_and_its_link_is_empty():
    spec, warnings = read_spec({})
    assert warnings == []
    assert (spec.over, spec.mode, spec.rates, spec.seeds, spec.base.dataset, spec.base.hidden, spec.base.epochs) == (
        "rate", "fixed-width", DEFAULT_RATES, 3, "mnist", (256, 256), 10)
    assert spec_to_params(spec) == {}


@pytest.mark.parametrize("params", [
    {"dataset": "moons", "rates": "0,0.5,0.9", "epochs": "50", "hidden": "64"},
    {"over": "size", "sizes": "100,1000", "p": "0.3", "input_p": "0"},
    {"mode": "fixed-kept", "seeds": "5"},
    {"dataset": "spiral", "over": "size", "sizes": "20,50"},
])
def test_a_link_round_trips(params):
    spec, warnings = read_spec(params)
    assert warnings == []
    assert spec_to_params(spec) == params
    assert read_spec(spec_to_params(spec))[0] == spec


def test_a_size_sweep_trains_the_largest_size_with_its_rates():
    spec = spec_from_params({"over": "size", "sizes": "250,500", "p": "0.3"})
    assert spec.sizes == (250, 500) and spec.base.train_size == 500 and spec.base.p == 0.3
    assert spec.rates == DEFAULT_RATES and spec.mode == "fixed-width"  # a size sweep does not use them


@pytest.mark.parametrize("params, warning", [
    ({"rates": "0.55"}, "rates: rate 0.55 not offered; choose from 0, 0.1"),
    ({"rates": ","}, "rates: expected at least one of"),
    ({"hidden": "100"}, "hidden: expected one of 32, 64, 128, 256, 512, got 100; using 256"),
    ({"epochs": "100000"}, "epochs: "),
    ({"seeds": "x"}, "seeds: "),
    ({"over": "time"}, "over: "),
    ({"dataset": "cifar"}, "dataset: expected one of mnist, moons"),
    ({"sizes": "7"}, "sizes: size 7 not offered"),
    ({"colour": "red"}, "colour: not a setting of the Sweeps page"),
    ({"p": "0.3"}, "p, input_p: a rate sweep sets the hidden rate per point"),
])
def test_a_bad_value_is_reported_and_its_default_used(params, warning):
    spec, warnings = read_spec(params)
    assert len(warnings) == 1 and warnings[0].startswith(warning), warnings
    assert spec.problems() == []
    with pytest.raises(ValueError, match="^" + warning.split(":")[0]):
        spec_from_params(params)


def test_sizes_are_the_datasets_own():
    assert read_spec({"dataset": "moons", "over": "size"})[0].sizes == default_sizes("moons")
    assert isinstance(read_spec({})[0], SweepSpec)
