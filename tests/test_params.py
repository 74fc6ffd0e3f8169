"""Each variant parameter is declared once (explorer.dropout.params.Param); everything else is derived from it.

The command line's parser and help, the Experiment's default, the pages'
refusals, the lab's lane fields and the lab's widget must all agree with the
declaration, so changing a range in the variant's module changes it everywhere.
"""

from __future__ import annotations

import pytest

from explorer.core.catalogue import catalogue
from explorer.core.experiment import CHOICES, OWNERS, PARAMS, PARSERS, Experiment
from explorer.dropout.params import Param
from explorer.lab.state import DROPOUT_FIELDS
from explorer.tools.cli import HELP, make_parser

OWN = sorted(PARAMS)


def test_the_own_parameters_are_those_the_variants_schedules_and_mc_declare():
    assert set(OWN) == {"samples", "standout_alpha", "block_size", "base_variant", "schedule_cutoff",
                        "schedule_shape", "mc_samples"}
    assert OWNERS["standout_alpha"] == ["standout"] and OWNERS["base_variant"] == ["early", "late"]
    assert OWNERS["schedule_shape"] == ["early"] and OWNERS["mc_samples"] == ["mc"]


@pytest.mark.parametrize("name", OWN)
def test_the_experiment_default_is_the_declared_one(name):
    assert getattr(Experiment(), name) == PARAMS[name].default


@pytest.mark.parametrize("name", OWN)
def test_the_parser_takes_the_declared_range_and_refuses_beyond_it(name):
    param, parse = PARAMS[name], PARSERS[name]
    if param.choices:
        assert [parse(c) for c in param.choices] == list(param.choices)
        with pytest.raises(ValueError, match="choose from"):
            parse("bogus")
        return
    values = param.options() if param.odd else (param.lo, param.default, param.hi)
    assert [parse(str(v)) for v in values] == list(values)
    for outside in (param.lo - 1, param.hi + 1):
        with pytest.raises(ValueError, match="between"):
            parse(str(outside))


@pytest.mark.parametrize("name", OWN)
def test_help_catalogue_refusals_and_lab_fields_come_from_the_declaration(name):
    param = PARAMS[name]
    assert HELP[name].endswith(param.help) and HELP[name].startswith(OWNERS[name][0])
    listed = {p["name"]: p for e in catalogue() for p in e["params"]}
    assert listed[name]["description"] == param.help
    assert name in DROPOUT_FIELDS
    pytest.importorskip("streamlit")
    from pages.ui.form import UNIT_PAGE_REFUSALS

    assert UNIT_PAGE_REFUSALS[name]("x")


def test_the_command_line_refuses_a_value_past_the_declared_top(capsys):
    from explorer.tools.cli import main

    top = PARAMS["standout_alpha"].hi
    with pytest.raises(SystemExit) as stop:
        main(["train", "--variant", "standout", "--standout-alpha", str(top + 1), "--epochs", "1"])
    assert stop.value.code == 2 and "--standout-alpha" in capsys.readouterr().err
    assert make_parser()  # the parser builds with every derived help line


def test_a_bad_declaration_is_refused_where_it_is_written():
    with pytest.raises(ValueError, match="outside"):
        Param("x", "x", "x", default=5, lo=0, hi=3)
    with pytest.raises(ValueError, match="widget"):
        Param("x", "x", "x", default=1, lo=0, hi=3, widget="dial")


def test_the_lab_draws_each_lane_parameter_as_declared():
    pytest.importorskip("streamlit")
    from tests.test_app import _open

    at = _open("pages/lab.py", variants="standout,multisample,early")
    alpha = at.slider(key="lab_lane_standout_standout_alpha")
    assert (alpha.min, alpha.max, alpha.value, alpha.step) == (PARAMS["standout_alpha"].lo, PARAMS["standout_alpha"].hi,
                                                             PARAMS["standout_alpha"].default,
                                                             PARAMS["standout_alpha"].step)
    masks = at.slider(key="lab_lane_multisample_samples")
    assert (masks.min, masks.max, masks.value) == (1, PARAMS["samples"].hi, PARAMS["samples"].default)
    assert at.radio(key="lab_lane_early_schedule_shape").options == list(PARAMS["schedule_shape"].choices)
    assert set(CHOICES["early"].params) >= {PARAMS["base_variant"], PARAMS["schedule_cutoff"]}
