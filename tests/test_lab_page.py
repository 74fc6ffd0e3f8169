"""The Variants lab page through AppTest: lanes from the sidebar and the link, Step trains every lane."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from tests.test_app import _button, _link, _open, _warnings  # noqa: E402

LAB = "pages/lab.py"


def test_the_page_opens_with_four_default_lanes():
    at = _open(LAB)
    assert [t.value for t in at.title] == ["Variants lab"]
    lab = at.session_state["lab"].run
    assert [e.variant for e in lab.lanes] == ["standard", "gaussian", "dropconnect", "early"]
    assert _warnings(at) == [] and _link(at)["variants"] == "standard,gaussian,dropconnect,early"
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 4  # the table, a row per lane


def test_step_trains_every_lane_one_step():
    at = _open(LAB)
    _button(at, "Step").click().run()
    lab = at.session_state["lab"].run
    assert [t.step for t in lab.trainers] == [1, 1, 1, 1]
    assert len(at.dataframe[0].value) == 4


def test_a_link_names_the_lanes_and_bad_keys_are_reported():
    at = _open(LAB, variants="standard,bogus,multisample", dataset="moons", p="0.3")
    lab = at.session_state["lab"].run
    assert [e.variant for e in lab.lanes] == ["standard", "multisample"]
    assert lab.lanes[0].dataset == "moons" and lab.lanes[0].p == 0.3
    assert any("bogus" in w for w in _warnings(at))


def test_a_link_with_one_known_lane_warns_and_opens_the_default_lanes():
    at = _open(LAB, variants="standard,bogus")
    lab = at.session_state["lab"].run
    assert [e.variant for e in lab.lanes] == ["standard", "gaussian", "dropconnect", "early"]
    [warning] = [w for w in _warnings(at) if "variants:" in w]
    assert "bogus cannot run here" in warning and "the default ones" in warning
    assert _link(at)["variants"] == "standard,gaussian,dropconnect,early"


def test_a_link_with_a_lane_parameter_says_where_it_is_set():
    at = _open(LAB, variant="gaussian", schedule_cutoff="3", p="0.3")
    [warning] = _warnings(at)
    assert warning.startswith("Link parameter not used: variant, schedule_cutoff:") and "lane.field" in warning
    lab = at.session_state["lab"].run
    assert [e.p for e in lab.lanes] == [0.3] * 4  # the shared rate every lane starts from
    assert _link(at)["p"] == "0.3" and "variant" not in _link(at) and "schedule_cutoff" not in _link(at)


def test_fewer_than_two_lanes_is_a_warning_not_a_run():
    at = _open(LAB)
    at.sidebar.multiselect(key="lab_lanes").set_value(["standard"]).run()
    assert any("at least 2" in w for w in _warnings(at)) and not at.exception
    assert not at.button and not at.dataframe


def test_a_lane_that_breaks_a_rule_is_a_sidebar_error_and_the_run_goes_on():
    at = _open(LAB, epochs="10")
    _button(at, "Step").click().run()
    lab = at.session_state["lab"].run
    at.number_input(key="lab_lane_early_schedule_cutoff").set_value(20).run()
    assert any("Early dropout" in e.value and "after the last epoch" in e.value for e in at.sidebar.error)
    assert not at.exception and at.session_state["lab"].run is lab and len(at.dataframe[0].value) == 4


def test_a_lanes_own_rate_makes_a_new_lab_and_the_link_keeps_the_shared_one():
    at = _open(LAB, p="0.3")
    at.sidebar.slider(key="lab_lane_gaussian_p").set_value(0.2).run()
    lab = at.session_state["lab"].run
    assert [e.p for e in lab.lanes] == [0.3, 0.2, 0.3, 0.3] and "q=0.2" in lab.labels[1]
    assert _link(at)["p"] == "0.3"


def test_a_lanes_own_settings_round_trip_through_the_link():
    at = _open(LAB, p="0.3")
    at.sidebar.slider(key="lab_lane_gaussian_p").set_value(0.2).run()
    at.number_input(key="lab_lane_early_schedule_cutoff").set_value(4).run()
    at.sidebar.toggle(key="lab_lane_standard_mc").set_value(True).run()
    at.sidebar.slider(key="lab_lane_standard_mc_samples").set_value(12).run()
    link = _link(at)
    assert {k: v for k, v in link.items() if "." in k} == {
        "gaussian.p": "0.2", "early.schedule_cutoff": "4", "standard.inference": "mc", "standard.mc_samples": "12"}
    again = _open(LAB, **link)  # a fresh session from that link
    assert _warnings(again) == [] and again.session_state["lab"].run.lanes == at.session_state["lab"].run.lanes
    assert _link(again) == link


def test_a_lanes_bad_settings_in_a_link_are_reported_and_defaulted():
    at = _open(LAB, **{"gaussian.p": "2", "early.base_variant": "concrete", "dropout.p": "0.1", "standard.beta": "1",
                       "early.schedule_cutoff": "3"})
    warnings = _warnings(at)
    assert len(warnings) == 4 and not at.exception
    assert any("gaussian.p: must be between 0 and 0.95" in w for w in warnings)
    assert any("early.base_variant" in w and "concrete" in w for w in warnings)
    assert any("dropout.p: no dropout lane" in w for w in warnings)
    assert any("standard.beta: a standard lane sets p, input_p" in w for w in warnings)
    lanes = at.session_state["lab"].run.lanes
    assert lanes[1].p == 0.5 and lanes[3].base_variant == "standard" and lanes[3].schedule_cutoff == 3
    assert {k for k in _link(at) if "." in k} == {"early.schedule_cutoff"}


def test_mnist_subset_with_the_mlp():
    at = _open(LAB, dataset="mnist", hidden="64", train_size="200", val_size="100", variants="standard,dropconnect")
    lab = at.session_state["lab"].run
    assert [e.model for e in lab.lanes] == ["mlp", "mlp"] and lab.lanes[0].dataset == "mnist"
    _button(at, "Step").click().run()
    assert [t.step for t in lab.trainers] == [1, 1] and not at.exception


def test_mnist_subset_and_the_cnn_with_dropblock():
    at = _open(LAB, dataset="mnist", model="cnn", hidden="32", train_size="200", val_size="100",
               variants="standard,dropblock")
    lab = at.session_state["lab"].run
    assert [e.model for e in lab.lanes] == ["cnn", "cnn"] and lab.lanes[1].conv_variant == "dropblock"
    _button(at, "Step").click().run()
    assert [t.step for t in lab.trainers] == [1, 1] and not at.exception


def test_changing_the_dataset_brings_its_defaults():
    at = _open(LAB)
    at.sidebar.selectbox(key="lab_dataset").set_value("mnist").run()
    lab = at.session_state["lab"].run
    assert lab.lanes[0].dataset == "mnist" and lab.lanes[0].hidden == (256, 256) and lab.lanes[0].noise == 0.0
