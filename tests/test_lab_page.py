"""The Variants lab page through AppTest: lanes from the sidebar and the link, Step trains every lane."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from tests.test_app import _button, _link, _open, _warnings  # noqa: E402

LAB = "pages/lab.py"


def test_the_page_opens_with_four_default_lanes():
    at = _open(LAB)
    assert [t.value for t in at.title] == ["Variants lab"]
    lab = at.session_state["lab_run"]
    assert [e.variant for e in lab.lanes] == ["standard", "gaussian", "dropconnect", "early"]
    assert _warnings(at) == [] and _link(at)["variants"] == "standard,gaussian,dropconnect,early"
    assert len(at.get("arrow_data_frame")) == 1 or at.dataframe  # the table


def test_step_trains_every_lane_one_step():
    at = _open(LAB)
    _button(at, "Step").click().run()
    lab = at.session_state["lab_run"]
    assert [t.step for t in lab.trainers] == [1, 1, 1, 1]
    assert len(at.dataframe[0].value) == 4


def test_a_link_names_the_lanes_and_bad_keys_are_reported():
    at = _open(LAB, variants="standard,bogus,multisample", dataset="moons", p="0.3")
    lab = at.session_state["lab_run"]
    assert [e.variant for e in lab.lanes] == ["standard", "multisample"]
    assert lab.lanes[0].dataset == "moons" and lab.lanes[0].p == 0.3
    assert any("bogus" in w for w in _warnings(at))


def test_fewer_than_two_lanes_is_a_warning_not_a_run():
    at = _open(LAB)
    at.sidebar.multiselect(key="lab_lanes").set_value(["standard"]).run()
    assert any("at least 2" in w for w in _warnings(at)) and not at.exception


def test_a_lane_that_breaks_a_rule_is_a_sidebar_error():
    at = _open(LAB, epochs="10")
    at.number_input(key="lab_lane_early_cutoff").set_value(20).run()
    assert any("Early dropout" in e.value and "after the last epoch" in e.value for e in at.sidebar.error)
    assert not at.exception


def test_mnist_subset_and_the_cnn_with_dropblock():
    at = _open(LAB, dataset="mnist", model="cnn", hidden="32", train_size="200", val_size="100",
               variants="standard,dropblock")
    lab = at.session_state["lab_run"]
    assert [e.model for e in lab.lanes] == ["cnn", "cnn"] and lab.lanes[1].conv_variant == "dropblock"
    _button(at, "Step").click().run()
    assert [t.step for t in lab.trainers] == [1, 1] and not at.exception


def test_changing_the_dataset_brings_its_defaults():
    at = _open(LAB)
    at.sidebar.selectbox(key="lab_dataset").set_value("mnist").run()
    lab = at.session_state["lab_run"]
    assert lab.lanes[0].dataset == "mnist" and lab.lanes[0].hidden == (256, 256) and lab.lanes[0].noise == 0.0
