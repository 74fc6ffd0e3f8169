"""The Theory page through AppTest: the part from the link, the L2 and regularisers parts train with Step/Train."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from tests.test_app import _button, _link, _open, _warnings  # noqa: E402

THEORY = "pages/theory.py"


def test_the_page_opens_on_dropout_as_l2_with_its_charts():
    at = _open(THEORY)
    assert [t.value for t in at.title] == ["Theory"]
    assert _warnings(at) == [] and _link(at)["part"] == "l2"
    lab = at.session_state["l2_run"]
    assert lab.exp.input_p == 0.5 and lab.run.step == 0
    assert any("Trained vs closed form" in m.value for m in at.markdown)


def test_step_and_train_move_the_l2_run_and_a_new_rate_is_a_new_problem():
    at = _open(THEORY, part="l2")
    _button(at, "Step").click().run()
    assert at.session_state["l2_run"].run.step == 1
    _button(at, "Train").click().run()  # each rerun while running trains one slice
    lab = at.session_state["l2_run"]
    assert lab.run.step > 1 and not at.exception
    at.sidebar.slider(key="l2_input_p").set_value(0.2).run()
    fresh = at.session_state["l2_run"]
    assert fresh is not lab and fresh.exp.input_p == fresh.run.q == 0.2  # a new closed form, a new run


def test_a_bad_part_warns_and_opens_the_default():
    at = _open(THEORY, part="bogus")
    [warning] = _warnings(at)
    assert "part" in warning and "bogus" in warning and "l2" in warning
    assert at.session_state["th_part"] == "l2" and _link(at)["part"] == "l2"
    assert not at.exception


def test_the_regularisers_part_trains_three_runs_in_step():
    at = _open(THEORY, part="regularisers")
    assert _warnings(at) == [] and _link(at)["part"] == "regularisers"
    comparison = at.session_state["rg_run"]
    assert [t.optimizer.param_groups[0]["weight_decay"] for t in comparison.trainers] == [0, 0, 0.003]
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 4  # three runs and early stopping
    _button(at, "Step").click().run()
    assert [t.step for t in at.session_state["rg_run"].trainers] == [1, 1, 1]


def test_switching_parts_writes_the_link():
    at = _open(THEORY)
    at.segmented_control(key="th_part").set_value("regularisers").run()
    assert _link(at)["part"] == "regularisers" and "rg_run" in at.session_state
    at.segmented_control(key="th_part").set_value("averaging").run()
    assert _link(at)["part"] == "averaging" and not at.exception


def test_choosing_the_mnist_subset_brings_its_defaults():
    at = _open(THEORY, part="regularisers")
    at.sidebar.selectbox(key="rg_dataset").set_value("mnist").run()
    assert not at.exception and not at.sidebar.error
    comparison = at.session_state["rg_run"]
    assert comparison.exp.dataset == "mnist" and comparison.exp.hidden == (256, 256)
    assert comparison.exp.train_size == 1000 and comparison.exp.label_noise == 0
    _button(at, "Step").click().run()
    assert [t.step for t in at.session_state["rg_run"].trainers] == [1, 1, 1]


def test_coming_back_to_a_part_keeps_its_settings_and_run():
    at = _open(THEORY)
    at.sidebar.slider(key="l2_input_p").set_value(0.3).run()
    lab = at.session_state["l2_run"]
    at.segmented_control(key="th_part").set_value("regularisers").run()
    at.sidebar.slider(key="rg_p").set_value(0.25).run()
    comparison = at.session_state["rg_run"]
    at.segmented_control(key="th_part").set_value("l2").run()
    assert at.sidebar.slider(key="l2_input_p").value == 0.3 and at.session_state["l2_run"] is lab
    at.segmented_control(key="th_part").set_value("regularisers").run()
    assert at.sidebar.slider(key="rg_p").value == 0.25 and at.session_state["rg_run"] is comparison
