"""The Theory page through AppTest: the part and its settings from the link and back into it, the L2 and
regularisers parts train with Step/Train."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from tests.test_app import _button, _link, _open, _warnings  # noqa: E402

THEORY = "pages/theory.py"


def test_the_page_opens_on_dropout_as_l2_with_its_charts():
    at = _open(THEORY)
    assert [t.value for t in at.title] == ["Theory"]
    assert _warnings(at) == [] and _link(at)["part"] == "l2"
    lab = at.session_state["l2"].run
    assert lab.exp.input_p == 0.5 and lab.run.step == 0
    assert any("Trained vs closed form" in m.value for m in at.markdown)


def test_step_and_train_move_the_l2_run_and_a_new_rate_is_a_new_problem():
    at = _open(THEORY, part="l2")
    _button(at, "Step").click().run()
    assert at.session_state["l2"].run.run.step == 1
    _button(at, "Train").click().run()  # each rerun while running trains one slice
    lab = at.session_state["l2"].run
    assert lab.run.step > 1 and not at.exception
    at.sidebar.slider(key="l2_input_p").set_value(0.2).run()
    fresh = at.session_state["l2"].run
    assert fresh is not lab and fresh.exp.input_p == fresh.run.q == 0.2  # a new closed form, a new run


def test_a_bad_part_warns_and_opens_the_default():
    at = _open(THEORY, part="bogus", input_p="0.3")
    assert _warnings(at) == [
        "Link parameter not used: part: expected one of l2, averaging, regularisers, got 'bogus'; showing l2",
        "Link parameter not used: input_p: it belongs to no part of this page"]
    assert at.session_state["th_part"] == "l2" and _link(at) == {"part": "l2"}
    assert at.session_state["l2"].run.exp.input_p == 0.5 and not at.exception


def test_a_link_sets_the_l2_part_and_the_page_writes_its_settings_back():
    at = _open(THEORY, part="l2", input_p="0.3", epochs="200", batch_size="20")
    assert _warnings(at) == []
    lab = at.session_state["l2"].run
    assert (lab.exp.input_p, lab.exp.epochs, lab.exp.batch_size) == (0.3, 200, 20) and lab.run.q == 0.3
    assert at.sidebar.slider(key="l2_input_p").value == 0.3
    assert _link(at) == {"part": "l2", "input_p": "0.3", "epochs": "200", "batch_size": "20"}
    at.sidebar.number_input(key="l2_seed").set_value(4).run()
    assert _link(at) == {"part": "l2", "input_p": "0.3", "seed": "4", "epochs": "200", "batch_size": "20"}


def test_bad_l2_link_values_warn_fall_back_and_stay_shown():
    at = _open(THEORY, part="l2", train_size="5000", noise="x", p="0.2", colour="red", input_p="0.4")
    assert _warnings(at) == [
        "Link parameter not used: noise: expected a number, got 'x'; using 1",
        "Link parameter not used: p: the ridge problem does not use it (a linear model with input dropout)",
        "Link parameter not used: unknown parameter 'colour' ignored",
        "Link parameter not used: train_size: the ridge problem takes 16 to 2000 examples for its 8 features, "
        "got 5000; using 200"]
    lab = at.session_state["l2"].run
    assert (lab.exp.train_size, lab.exp.noise, lab.exp.input_p) == (200, 1.0, 0.4)
    assert _link(at) == {"part": "l2", "input_p": "0.4"} and not at.sidebar.error
    _button(at, "Step").click().run()
    assert len(_warnings(at)) == 4, "the warnings stay on the page's reruns"


def test_a_link_sets_the_regularisers_part_with_its_datasets_defaults():
    at = _open(THEORY, part="regularisers", dataset="mnist", p="0.3", train_size="500")
    assert _warnings(at) == []
    exp = at.session_state["rg"].run.exp
    assert (exp.dataset, exp.hidden, exp.optimizer, exp.p, exp.train_size) == ("mnist", (256, 256), "sgd", 0.3, 500)
    assert _link(at) == {"part": "regularisers", "dataset": "mnist", "p": "0.3", "train_size": "500"}


def test_the_regularisers_part_refuses_the_sets_read_from_files_and_what_it_does_not_show():
    at = _open(THEORY, part="regularisers", dataset="mnist-full", weight_decay="0.01", optimizer="sgd")
    page = "Link parameter not used: {}: the comparison trains on toy data or the embedded MNIST subset; {}"
    assert _warnings(at) == [page.format("optimizer", "it has no control for this setting; using adam"),
                             page.format("dataset", "mnist-full is read from files; using moons")]
    assert at.session_state["rg"].run.exp.weight_decay == 0.01
    assert _link(at) == {"part": "regularisers", "weight_decay": "0.01"}


def test_a_part_visited_after_the_linked_one_keeps_its_own_defaults():
    at = _open(THEORY, part="averaging", p="0.3")
    assert at.session_state["ta"].run.exp.p == 0.3 and _link(at) == {"part": "averaging", "p": "0.3"}
    at.segmented_control(key="th_part").set_value("regularisers").run()
    assert at.session_state["rg"].run.exp.p == 0.5 and _link(at) == {"part": "regularisers"}
    assert _warnings(at) == []


def test_the_regularisers_part_trains_three_runs_in_step():
    at = _open(THEORY, part="regularisers")
    assert _warnings(at) == [] and _link(at)["part"] == "regularisers"
    comparison = at.session_state["rg"].run
    assert [t.optimizer.param_groups[0]["weight_decay"] for t in comparison.trainers] == [0, 0, 0.003]
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 4  # three runs and early stopping
    _button(at, "Step").click().run()
    assert [t.step for t in at.session_state["rg"].run.trainers] == [1, 1, 1]


def test_switching_parts_writes_that_parts_settings_to_the_link():
    at = _open(THEORY, input_p="0.3")
    assert _link(at) == {"part": "l2", "input_p": "0.3"}
    at.segmented_control(key="th_part").set_value("regularisers").run()
    assert _link(at) == {"part": "regularisers"} and at.session_state["rg"].run is not None
    at.sidebar.slider(key="rg_p").set_value(0.25).run()
    assert _link(at) == {"part": "regularisers", "p": "0.25"}
    at.segmented_control(key="th_part").set_value("averaging").run()
    assert _link(at) == {"part": "averaging"} and not at.exception
    at.segmented_control(key="th_part").set_value("l2").run()
    assert _link(at) == {"part": "l2", "input_p": "0.3"}


def test_choosing_the_mnist_subset_brings_its_defaults():
    at = _open(THEORY, part="regularisers")
    at.sidebar.selectbox(key="rg_dataset").set_value("mnist").run()
    assert not at.exception and not at.sidebar.error
    comparison = at.session_state["rg"].run
    assert comparison.exp.dataset == "mnist" and comparison.exp.hidden == (256, 256)
    assert comparison.exp.train_size == 1000 and comparison.exp.label_noise == 0
    _button(at, "Step").click().run()
    assert [t.step for t in at.session_state["rg"].run.trainers] == [1, 1, 1]


def test_coming_back_to_a_part_keeps_its_settings_and_run():
    at = _open(THEORY)
    at.sidebar.slider(key="l2_input_p").set_value(0.3).run()
    lab = at.session_state["l2"].run
    at.segmented_control(key="th_part").set_value("regularisers").run()
    at.sidebar.slider(key="rg_p").set_value(0.25).run()
    comparison = at.session_state["rg"].run
    at.segmented_control(key="th_part").set_value("l2").run()
    assert at.sidebar.slider(key="l2_input_p").value == 0.3 and at.session_state["l2"].run is lab
    assert _link(at) == {"part": "l2", "input_p": "0.3"}
    at.segmented_control(key="th_part").set_value("regularisers").run()
    assert at.sidebar.slider(key="rg_p").value == 0.25 and at.session_state["rg"].run is comparison
    assert _link(at) == {"part": "regularisers", "p": "0.25"}
