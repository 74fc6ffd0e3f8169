"""The Theory page's exact-averaging part through AppTest: it opens drawn, Step and Train train, k and the
rates reach the analysis, settings it cannot enumerate are a sidebar error, not a traceback."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from tests.test_app import _button, _open, _warnings  # noqa: E402

THEORY = "pages/theory.py"
CHARTS = 4  # the four maps, the difference maps, the MC curve, the training curves


def _averaging():
    at = _open(THEORY, part="averaging")
    assert _warnings(at) == []
    return at


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_the_part_opens_with_every_chart_and_the_identity_as_a_number():
    at = _averaging()
    run = at.session_state["ta_run"]
    assert run.run.step == 0 and run.exp.hidden == (10,) and run.exp.dataset == "moons"
    assert len(at.get("component_instance")) == CHARTS
    metrics = _metrics(at)
    assert metrics["Thinned networks run"] == "1,024"
    assert float(metrics["Geometric mean − weight scaling"]) < 1e-6
    assert any("Geometric mean = weight scaling, exactly" in m.value for m in at.markdown)
    assert any("| Weight scaling (the inference network) |" in m.value for m in at.markdown)
    assert any("Epoch 0 of 300" in c.value for c in at.caption)


def test_step_and_train_advance_the_run_and_the_analysis_follows():
    at = _averaging()
    run = at.session_state["ta_run"]
    first = run.analysis()
    _button(at, "Step").click().run()
    assert at.session_state["ta_run"] is run and run.run.step == 1
    assert run.analysis() is not first and run.analysis().key[0] == 1
    at.sidebar.number_input(key="ta_epochs").set_value(2000).run()  # a tiny net: 300 epochs can pass in two slices
    assert at.session_state["ta_run"] is run
    _button(at, "Train").click().run()
    assert at.session_state["ta_running"] is True
    before = run.run.step
    at.run()  # each rerun while running trains one slice
    assert run.run.step > before and not at.exception
    _button(at, "Pause").click().run()
    assert at.session_state["ta_running"] is False


def test_k_and_the_input_rate_reach_the_analysis():
    at = _averaging()
    at.slider(key="ta_k").set_value(50).run()
    run = at.session_state["ta_run"]
    assert run.k == 50 and any("MC average of k = 50" in m.value for m in at.markdown)
    at.sidebar.slider(key="ta_input_p").set_value(0.2).run()
    assert at.session_state["ta_run"] is run, "a rate changes in place"
    assert _metrics(at)["Thinned networks run"] == "4,096"
    assert any("no longer exactly" in m.value for m in at.markdown)


def test_too_many_units_is_a_sidebar_error_and_the_run_goes_on():
    at = _averaging()
    run = at.session_state["ta_run"]
    at.sidebar.text_input(key="ta_hidden").set_value("16").run()
    assert not at.exception
    [error] = [e.value for e in at.sidebar.error]
    assert "Not applied: --hidden, --p, --input-p" in error and "at most 12 droppable units" in error
    assert at.session_state["ta_run"] is run and run.exp.hidden == (10,)
    at.sidebar.text_input(key="ta_hidden").set_value("6,6").run()
    assert _metrics(at)["Thinned networks run"] == "4,096" and not at.sidebar.error


def test_the_weight_scaling_variant_is_a_new_run_with_the_same_identity():
    at = _averaging()
    run = at.session_state["ta_run"]
    at.sidebar.selectbox(key="ta_variant").set_value("weight-scaling").run()
    new = at.session_state["ta_run"]
    assert new is not run and new.exp.variant == "weight-scaling"
    assert float(_metrics(at)["Geometric mean − weight scaling"]) < 1e-6
