"""The Theory page's exact-averaging part through AppTest: it opens drawn, Step and Train train, k and the
rates reach the analysis, settings it cannot enumerate are a sidebar error, not a traceback; a link sets the
experiment and k, and refuses what exact averaging cannot take."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from tests.test_app import _button, _link, _numbers, _open, _warnings  # noqa: E402

THEORY = "pages/theory.py"
CHARTS = 4  # the four maps, the difference maps, the MC curve, the training curves


def _averaging():
    at = _open(THEORY, part="averaging")
    assert _warnings(at) == []
    return at


def _metrics(at) -> dict[str, str]:
    return dict(_numbers(at))


def test_the_part_opens_with_every_chart_and_the_identity_as_a_number():
    at = _averaging()
    run = at.session_state["ta"].run
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
    run = at.session_state["ta"].run
    first = run.analysis()
    _button(at, "Step").click().run()
    assert at.session_state["ta"].run is run and run.run.step == 1
    assert run.analysis() is not first and run.analysis().key[0] == 1
    at.sidebar.number_input(key="ta_epochs").set_value(2000).run()  # a tiny net: 300 epochs can pass in two slices
    assert at.session_state["ta"].run is run
    _button(at, "Train").click().run()
    assert at.session_state["ta"].running is True
    before = run.run.step
    at.run()  # each rerun while running trains one slice
    assert run.run.step > before and not at.exception
    _button(at, "Pause").click().run()
    assert at.session_state["ta"].running is False


def test_k_and_the_input_rate_reach_the_analysis():
    at = _averaging()
    at.slider(key="ta_k").set_value(50).run()
    run = at.session_state["ta"].run
    assert run.k == 50 and any("MC average of k = 50" in m.value for m in at.markdown)
    at.sidebar.slider(key="ta_input_p").set_value(0.2).run()
    assert at.session_state["ta"].run is run, "a rate changes in place"
    assert _metrics(at)["Thinned networks run"] == "4,096"
    assert any("no longer exactly" in m.value for m in at.markdown)


def test_too_many_units_is_a_sidebar_error_and_the_run_goes_on():
    at = _averaging()
    run = at.session_state["ta"].run
    at.sidebar.text_input(key="ta_hidden").set_value("16").run()
    assert not at.exception
    [error] = [e.value for e in at.sidebar.error]
    assert "Not applied: --hidden, --p, --input-p" in error and "at most 12 droppable units" in error
    assert at.session_state["ta"].run is run and run.exp.hidden == (10,)
    at.sidebar.text_input(key="ta_hidden").set_value("6,6").run()
    assert _metrics(at)["Thinned networks run"] == "4,096" and not at.sidebar.error


def test_the_weight_scaling_variant_is_a_new_run_with_the_same_identity():
    at = _averaging()
    run = at.session_state["ta"].run
    at.sidebar.selectbox(key="ta_variant").set_value("weight-scaling").run()
    new = at.session_state["ta"].run
    assert new is not run and new.exp.variant == "weight-scaling"
    assert float(_metrics(at)["Geometric mean − weight scaling"]) < 1e-6


def test_a_link_sets_the_experiment_and_k_and_the_page_writes_them_back():
    at = _open(THEORY, part="averaging", p="0.3", hidden="8", dataset="xor", k="50")
    assert _warnings(at) == []
    run = at.session_state["ta"].run
    assert (run.exp.p, run.exp.hidden, run.exp.dataset, run.k) == (0.3, (8,), "xor", 50)
    assert at.slider(key="ta_k").value == 50 and _metrics(at)["Thinned networks run"] == "256"
    assert _link(at) == {"part": "averaging", "dataset": "xor", "hidden": "8", "p": "0.3", "k": "50"}
    at.slider(key="ta_k").set_value(10).run()  # the default k leaves the link
    assert _link(at) == {"part": "averaging", "dataset": "xor", "hidden": "8", "p": "0.3"}


def test_a_link_exact_averaging_cannot_take_is_refused_with_its_rules_reasons():
    at = _open(THEORY, part="averaging", dataset="mnist", model="cnn", variant="gaussian", hidden="16", k="0")
    reasons = dict(w.removeprefix("Link parameter not used: ").split(": ", 1) for w in _warnings(at))
    assert list(reasons) == ["model", "dataset", "variant", "hidden", "k"]
    assert all(reasons[name].startswith("the averaging part trains a tiny MLP on 2-D toy data; ")
               for name in ("dataset", "model", "variant", "hidden"))
    assert "exact averaging runs on the 2-D toy datasets" in reasons["dataset"] and reasons["dataset"].endswith("using moons")
    assert "exact averaging enumerates an MLP's thinned networks" in reasons["model"]
    assert "needs one Bernoulli keep-mask per unit: standard or weight-scaling, not gaussian" in reasons["variant"]
    assert "at most 12 droppable units" in reasons["hidden"] and "--hidden 16" in reasons["hidden"]
    assert reasons["k"] == "must be between 1 and 200, got 0; using 10"
    run = at.session_state["ta"].run
    assert (run.exp.dataset, run.exp.hidden, run.exp.variant, run.k) == ("moons", (10,), "standard", 10)
    assert _link(at) == {"part": "averaging"} and not at.sidebar.error
    _button(at, "Step").click().run()
    assert len(_warnings(at)) == 5, "the warnings stay on the page's reruns"


def test_too_many_units_refuses_the_links_width_and_keeps_its_rate():
    at = _open(THEORY, part="averaging", hidden="11", input_p="0.2", bogus="1", inference="mc")
    assert _warnings(at) == [
        "Link parameter not used: inference: the averaging part trains a tiny MLP on 2-D toy data; it has no control "
        "for this setting; using standard",
        "Link parameter not used: hidden: the averaging part trains a tiny MLP on 2-D toy data; exact averaging "
        "enumerates 2^n thinned networks, at most 12 droppable units (2^12 = 4,096 networks); --hidden 11 with "
        "--p 0.5 and --input-p 0.2 gives 13; using 10",
        "Link parameter not used: unknown parameter 'bogus' ignored"]
    run = at.session_state["ta"].run
    assert (run.exp.hidden, run.exp.input_p) == ((10,), 0.2) and _metrics(at)["Thinned networks run"] == "4,096"
    assert _link(at) == {"part": "averaging", "input_p": "0.2"}


def test_coming_back_to_the_part_keeps_its_settings_k_and_link():
    at = _open(THEORY, part="averaging", p="0.3", k="50")
    run = at.session_state["ta"].run
    at.segmented_control(key="th_part").set_value("l2").run()
    assert _link(at) == {"part": "l2"}
    at.segmented_control(key="th_part").set_value("averaging").run()
    assert at.session_state["ta"].run is run and at.slider(key="ta_k").value == 50
    assert _link(at) == {"part": "averaging", "p": "0.3", "k": "50"} and _warnings(at) == []
