"""The Uncertainty page's MNIST part (``?part=digits``) through AppTest: charts, Step/Train/Pause, the sidebar."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from explorer import settings  # noqa: E402
from explorer.uncertainty.digits.state import analysis_defaults  # noqa: E402
from tests.test_app import _button, _link, _numbers, _open, _warnings  # noqa: E402

UNCERTAINTY = "pages/uncertainty.py"
CHARTS = 4  # MC averaging vs weight scaling, the rotated digits, their predictive distribution, their uncertainty
METRICS = ["Weight scaling", "MC, k = 1", "MC, k = 10", "MC, k = 50", "MC, k = 100", "MC matches at"]


@pytest.fixture(autouse=True)
def fewer_digits(monkeypatch):
    """The Fig. 11 curve on 100 validation digits instead of 500: each paused rerun recomputes it."""
    monkeypatch.setattr(settings, "MC_DIGITS_EVAL", 100)


def _digits():
    at = _open(UNCERTAINTY, part="digits")
    assert at.session_state["ud"].run is not None, "the digits part did not draw"
    return at


def test_the_digits_part_opens_untrained_with_every_chart_and_number():
    at = _digits()
    run = at.session_state["ud"].run
    assert run.run.model.layer_sizes == [784, 512, 512, 10] and run.twin is None and run.run.step == 0
    assert {"Train", "Step", "Reset"} <= {b.label for b in at.button}
    assert len(at.get("component_instance")) >= CHARTS
    assert [label for label, _ in _numbers(at)][-len(METRICS):] == METRICS
    captions = [c.value for c in at.caption]
    assert any("Epoch 0 of 20 · step 0 · paused" in c for c in captions)
    assert any("Fig. 11" in c for c in captions) and any("The digit 3 turned" in c for c in captions)
    assert _warnings(at) == []


def test_step_trains_one_step_and_the_paused_curve_follows_it():
    at = _digits()
    run = at.session_state["ud"].run
    _button(at, "Step").click().run()
    assert not at.exception and at.session_state["ud"].run is run and run.run.step == 1
    assert run.numbers["averaging"]["step"] == 1  # paused: computed for the step on screen


def test_train_then_pause():
    at = _digits()
    run = at.session_state["ud"].run
    _button(at, "Train").click().run()
    assert at.session_state["ud"].running is True
    at.run()  # each rerun while running trains one slice (the timer does not fire in AppTest)
    assert not at.exception and run.run.step > 0
    _button(at, "Pause").click().run()
    paused = run.run.step
    at.run()
    assert at.session_state["ud"].running is False and run.run.step == paused


def test_rates_change_in_place_and_the_digit_and_t_choose_the_rotation():
    at = _digits()
    run = at.session_state["ud"].run
    _button(at, "Step").click().run()
    at.sidebar.slider(key="ud_p").set_value(0.3).run()
    at.sidebar.slider(key="ud_input_p").set_value(0.1).run()
    assert not at.exception and at.session_state["ud"].run is run and run.run.step == 1
    assert [d.p for d in run.run.model.dropouts] == [0.1, 0.3, 0.3]
    [digit] = [g for g in at.get("button_group") if g.key == "ud_digit"]
    digit.set_value(run.digit_labels.index(7)).run()
    at.sidebar.slider(key="ud_passes").set_value(10).run()
    assert not at.exception
    assert run.numbers["rotation"]["digit"] == 7 and run.numbers["rotation"]["samples"] == 10
    assert any("The digit 7 turned" in c.value for c in at.caption)


def test_no_dropout_at_all_is_a_warning_and_a_new_seed_a_new_network():
    at = _digits()
    run = at.session_state["ud"].run
    at.sidebar.slider(key="ud_p").set_value(0.0).run()
    at.sidebar.slider(key="ud_input_p").set_value(0.0).run()
    assert not at.exception and any("nothing to average" in w for w in _warnings(at))
    at.sidebar.number_input(key="ud_seed").set_value(3).run()
    assert not at.exception and at.session_state["ud"].run is not run
    assert at.session_state["ud"].run.exp.seed == 3


def test_a_link_sets_the_rates_t_and_the_digit_and_is_written_back():
    at = _open(UNCERTAINTY, part="digits", p="0.3", input_p="0.1", epochs="5", passes="10", digit="7")
    assert _warnings(at) == []
    run = at.session_state["ud"].run
    assert (run.exp.p, run.exp.input_p, run.exp.epochs) == (0.3, 0.1, 5)
    assert run.numbers["rotation"]["digit"] == 7 and run.numbers["rotation"]["samples"] == 10
    assert _link(at) == {"part": "digits", "p": "0.3", "input_p": "0.1", "epochs": "5", "passes": "10", "digit": "7"}
    [digit] = [g for g in at.get("button_group") if g.key == "ud_digit"]
    digit.set_value(run.digit_labels.index(3)).run()
    assert "digit" not in _link(at)  # back at the default digit: a short link


def test_bad_and_refused_link_parameters_warn_and_fall_back():
    at = _open(UNCERTAINTY, part="digits", digit="12", passes="1", dataset="moons", model="cnn", hidden="64",
               variant="gaussian", train_size="100")
    warnings = _warnings(at)
    for name, why in [("digit", "between 0 and 9"), ("passes", "between 2"), ("dataset", "toy dataset"),
                      ("model", "Inside page"), ("hidden", "no control"), ("variant", "standard dropout"),
                      ("train_size", "no control")]:
        assert any(w.startswith(f"Link parameter not used: {name}: ") and why in w for w in warnings), (name, warnings)
    run = at.session_state["ud"].run
    assert run.exp == analysis_defaults() and run.numbers["rotation"]["digit"] == 3
    assert run.numbers["rotation"]["samples"] == settings.MC_DIGITS_SAMPLES and _link(at) == {"part": "digits"}


def test_the_digits_part_visited_after_a_linked_part_keeps_its_defaults():
    at = _open(UNCERTAINTY, part="classification", p="0.4")
    at.segmented_control(key="un_part").set_value("digits").run()
    assert not at.exception and _warnings(at) == [] and _link(at) == {"part": "digits"}
    assert at.session_state["ud"].run.exp.p == 0.5
