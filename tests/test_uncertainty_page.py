"""The Uncertainty page through AppTest: the part picker and the link, the regression and classification parts."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from tests.test_app import _button, _link, _numbers, _open, _warnings  # noqa: E402

PAGE = "pages/uncertainty.py"


def _charts(at) -> int:
    return len(at.get("component_instance"))


def test_the_page_opens_on_the_regression_part():
    at = _open(PAGE)
    assert [t.value for t in at.title] == ["Uncertainty"]
    assert _warnings(at) == [] and _link(at) == {"part": "regression"}
    run = at.session_state["ur"].run
    assert run.run.step == 0 and run.exp.gap == (1.5, 4.0) and at.slider(key="ur_passes").value == 30
    assert _charts(at) == 2  # the fit with its bands, the MSE curves
    assert any("Epoch 0 of 2000" in c.value for c in at.caption)
    assert {"Mean std in the gap", "Mean std on the training range"} <= {label for label, _ in _numbers(at)}


def test_regression_step_trains_and_the_rate_changes_in_place():
    at = _open(PAGE, part="regression")
    run = at.session_state["ur"].run
    for i in range(1, 4):
        _button(at, "Step").click().run()
        assert not at.exception and at.session_state["ur"].run is run and run.run.step == i
    at.sidebar.slider(key="ur_p").set_value(0.4).run()
    assert at.session_state["ur"].run is run and run.run.model.hidden_rate == 0.4 and run.run.step == 3
    at.slider(key="ur_passes").set_value(5).run()
    assert not at.exception and at.session_state["ur"].run is run
    at.sidebar.radio(key="ur_activation").set_value("tanh").run()
    new = at.session_state["ur"].run
    assert new is not run and new.exp.activation == "tanh" and new.run.step == 0


def test_regression_train_runs_slices():
    at = _open(PAGE)
    run = at.session_state["ur"].run
    _button(at, "Train").click().run()
    assert at.session_state["ur"].running is True
    before = run.run.step
    at.run()
    assert not at.exception and run.run.step > before > 0
    _button(at, "Pause").click().run()
    assert at.session_state["ur"].running is False


def test_the_classification_part_from_the_link():
    at = _open(PAGE, part="classification")
    assert _warnings(at) == [] and _link(at) == {"part": "classification"}
    run = at.session_state["um"].run
    assert run.exp.dataset == "moons" and run.twin is None and run.compare is False
    assert at.slider(key="um_passes").value == 30
    assert _charts(at) == 2  # the three maps (one chart), the training curves
    assert {"Mean MI · training points", "Mean MI · away from data"} <= {label for label, _ in _numbers(at)}
    _button(at, "Step").click().run()
    assert not at.exception and at.session_state["um"].run is run and run.run.step == 1
    at.sidebar.slider(key="um_p").set_value(0.1).run()
    assert at.session_state["um"].run is run and run.run.model.hidden_rate == 0.1
    at.slider(key="um_passes").set_value(3).run()
    assert not at.exception and at.session_state["um"].run is run


def test_a_bad_part_warns_and_shows_the_default():
    at = _open(PAGE, part="nope")
    [warning] = _warnings(at)
    assert "part" in warning and "'nope'" in warning and "regression" in warning
    assert _link(at) == {"part": "regression"} and at.session_state["ur"].run is not None


def test_a_link_with_classification_settings_is_applied_and_written_back():
    at = _open(PAGE, part="classification", p="0.4", dataset="circles", hidden="32", passes="7")
    assert _warnings(at) == []
    exp = at.session_state["um"].run.exp
    assert (exp.p, exp.dataset, exp.hidden) == (0.4, "circles", (32,)) and at.slider(key="um_passes").value == 7
    assert _link(at) == {"part": "classification", "dataset": "circles", "hidden": "32", "p": "0.4", "passes": "7"}
    at.sidebar.slider(key="um_p").set_value(0.1).run()
    assert _link(at)["p"] == "0.1"


def test_a_link_with_regression_settings_is_applied_and_written_back():
    at = _open(PAGE, part="regression", gap="-1,0.5", hidden="32,32", p="0.4", lr="0.02", passes="9")
    assert _warnings(at) == []
    exp = at.session_state["ur"].run.exp
    assert (exp.gap, exp.hidden, exp.p, exp.lr) == ((-1.0, 0.5), (32, 32), 0.4, 0.02)
    assert at.sidebar.select_slider(key="ur_lr").value == 0.02 and at.slider(key="ur_passes").value == 9
    assert _link(at) == {"part": "regression", "gap": "-1,0.5", "hidden": "32,32", "p": "0.4", "lr": "0.02",
                         "passes": "9"}


def test_bad_link_values_warn_and_fall_back_and_the_warnings_stay():
    at = _open(PAGE, part="classification", p="0.99", passes="0", epochs="many")
    warnings = _warnings(at)
    assert len(warnings) == 3 and all(w.startswith("Link parameter not used: ") for w in warnings)
    assert {w.split(": ")[1] for w in warnings} == {"p", "passes", "epochs"}
    exp = at.session_state["um"].run.exp
    assert (exp.p, exp.epochs) == (0.3, 2000) and at.slider(key="um_passes").value == 30
    assert _link(at) == {"part": "classification"}
    _button(at, "Step").click().run()
    assert _warnings(at) == warnings  # still on screen after a rerun


def test_bad_regression_values_warn_and_fall_back():
    at = _open(PAGE, part="regression", gap="4,1", hidden="32,16", train_size="0")
    warnings = " ".join(_warnings(at))
    assert "gap: out of bounds" in warnings and "using 1.5,4" in warnings
    assert "hidden: this part trains two hidden layers of one width" in warnings and "train_size:" in warnings
    exp = at.session_state["ur"].run.exp
    assert (exp.gap, exp.hidden, exp.train_size) == ((1.5, 4.0), (64, 64), 100) and _link(at) == {"part": "regression"}


def test_unknown_and_refused_link_parameters_are_reported():
    at = _open(PAGE, part="classification", dataset="mnist", model="cnn", batch_size="64", colour="red")
    warnings = _warnings(at)
    assert any("dataset:" in w and "image set" in w for w in warnings)
    assert any("model:" in w and "28×28" in w for w in warnings)
    assert any("batch_size:" in w and "no control" in w for w in warnings)
    assert any("unknown parameter 'colour'" in w for w in warnings) and len(warnings) == 4
    exp = at.session_state["um"].run.exp
    assert (exp.dataset, exp.model, exp.batch_size) == ("moons", "mlp", 8) and _link(at) == {"part": "classification"}
    at = _open(PAGE, part="regression", colour="red")
    assert _warnings(at) == ["Link parameter not used: unknown parameter 'colour' ignored"]


def test_switching_parts_writes_that_parts_settings_and_only_the_linked_part_takes_the_link():
    at = _open(PAGE, part="classification", p="0.4", seed="3")
    at.segmented_control(key="un_part").set_value("regression").run()
    assert not at.exception and _link(at) == {"part": "regression"} and _warnings(at) == []
    assert (at.session_state["ur"].run.exp.p, at.session_state["ur"].run.exp.seed) == (0.2, 0)  # not the link's
    at.sidebar.slider(key="ur_p").set_value(0.5).run()
    assert _link(at) == {"part": "regression", "p": "0.5"}
    at.segmented_control(key="un_part").set_value("classification").run()
    assert not at.exception and _link(at) == {"part": "classification", "p": "0.4", "seed": "3"}


def test_switching_parts_keeps_each_run():
    at = _open(PAGE)
    _button(at, "Step").click().run()
    reg = at.session_state["ur"].run
    at.segmented_control(key="un_part").set_value("classification").run()
    assert not at.exception and _link(at) == {"part": "classification"} and at.session_state["um"].run is not None
    at.segmented_control(key="un_part").set_value("regression").run()
    assert not at.exception and at.session_state["ur"].run is reg and reg.run.step == 1


def test_the_digits_part_opens():
    at = _open(PAGE, part="digits")
    assert not at.exception and _warnings(at) == [] and _link(at) == {"part": "digits"}
