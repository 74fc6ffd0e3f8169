"""The Streamlit app through ``streamlit.testing.v1.AppTest``: no browser, no server.

AppTest runs the real scripts (router, home page, Playground) in-process, so
these tests check the wiring between widgets, session state and the backend's
``Playground`` object. A fragment's ``run_every`` timer does not fire in
AppTest; training is driven through the Step and Train buttons (each full
rerun while running trains one slice).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PLAYGROUND = "pages/playground.py"
INSIDE = "pages/inside.py"
TIMEOUT = 60  # seconds per script run; generous for a busy two-core box


def _home() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _open(page: str, **params: str) -> AppTest:
    """``page`` reached through the router, with ``params`` as the link's query string."""
    at = _home()
    at.query_params.update(params)
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _playground(**params: str) -> AppTest:
    return _open(PLAYGROUND, **params)


def _link(at: AppTest) -> dict[str, str]:
    """The query string the page wrote, one value per key."""
    return {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def _button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    return matches[0]


def _numbers(at: AppTest) -> list[tuple[str, str]]:
    """The (label, value) cells of the page's rows of numbers (``pages.ui.numbers``), in order."""
    return [(html.unescape(label), html.unescape(value)) for el in at.get("html")
            for label, value in re.findall(r"<dt[^>]*>(.*?)</dt><dd[^>]*>(.*?)</dd>", el.value)]


def _warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


# --- home ---------------------------------------------------------------------

def test_home_renders_title_figures_and_link():
    at = _home()
    assert [t.value for t in at.title] == ["Dropout Explorer"]
    charts = at.get("plotly_chart")
    assert len(charts) == 2, "the home page draws the thinned and the full network"
    links = {link.proto.page: link.proto.label for link in at.get("page_link")}
    assert "Playground" in links.get("playground", ""), links
    assert "Lessons" in links.get("lessons", ""), links
    assert "Inside the network" in links.get("inside", ""), links
    assert "Sweeps" in links.get("sweep", ""), links
    assert "Variants lab" in links.get("lab", ""), links
    for page, title in (("coadaptation", "Co-adaptation"), ("uncertainty", "Uncertainty"), ("theory", "Theory")):
        assert title in links.get(page, ""), links


# --- the Playground -----------------------------------------------------------

def test_playground_renders_untrained_run():
    at = _playground()
    assert [t.value for t in at.title] == ["Playground"]
    assert _warnings(at) == []
    run = at.session_state["pg"].run
    assert run.run.step == 0 and run.run.history == []
    assert run.twin is not None, "compare is on by default"
    assert {"Train", "Step", "Reset"} <= {b.label for b in at.button}
    assert at.toggle(key="pg_compare").value is True
    assert len(at.get("component_instance")) == 5  # live charts: boundary, twin, network, kept fraction, curves
    assert any("Epoch 0 of 500" in c.value for c in at.caption)
    assert dict(at.query_params) == {}, "the default experiment has an empty link"


def test_step_advances_the_run():
    at = _playground()
    run = at.session_state["pg"].run
    steps_per_epoch = -(-run.exp.train_size // run.exp.batch_size)  # ceil
    for i in range(1, steps_per_epoch + 2):
        _button(at, "Step").click().run()
        assert not at.exception
        assert at.session_state["pg"].run is run, "Step must not rebuild the run"
        assert run.run.step == i
        assert run.twin.step == i, "the twin trains step for step"
        assert at.session_state["pg"].running is False
    assert len(run.run.history) == 1 and run.run.epoch == 1
    assert len(run.twin.history) == 1
    assert any(f"Epoch 1 of 500 · step {steps_per_epoch + 1}" in c.value for c in at.caption)


def test_train_then_pause():
    at = _playground()
    run = at.session_state["pg"].run
    _button(at, "Train").click().run()
    assert not at.exception
    assert at.session_state["pg"].running is True
    assert {b.label for b in at.button} >= {"Pause", "Step", "Reset"}
    # Every rerun while running trains one slice (the run_every timer does not fire in AppTest).
    before = run.run.step
    at.run()
    assert not at.exception
    assert at.session_state["pg"].run is run
    assert run.run.step > before > 0
    _button(at, "Pause").click().run()
    assert at.session_state["pg"].running is False
    paused = run.run.step
    at.run()
    assert run.run.step == paused, "a paused run must not train on a rerun"
    assert "Train" in {b.label for b in at.button}


def test_drop_rate_slider_changes_live_run_without_reset():
    at = _playground()
    run = at.session_state["pg"].run
    for _ in range(3):
        _button(at, "Step").click().run()
    step, weights = run.run.step, run.run.model.linears[0].weight.detach().clone()
    slider = [s for s in at.slider if s.label == "Hidden drop rate q"]
    assert len(slider) == 1 and slider[0].key == "pg_p" and slider[0].value == 0.5
    slider[0].set_value(0.3).run()
    assert not at.exception
    assert at.session_state["pg"].run is run, "moving the drop rate must not rebuild the run"
    assert run.run.step == step
    assert run.exp.p == 0.3
    assert all(d.p == 0.3 for d in run.run.model.dropouts[1:])
    assert run.run.model.dropouts[0].p == 0.0, "the input rate is untouched"
    assert all(d.p == 0.0 for d in run.twin.model.dropouts), "the twin stays without dropout"
    assert (run.run.model.linears[0].weight == weights).all()
    assert at.query_params.get("p") in ("0.3", ["0.3"])
    _button(at, "Step").click().run()
    assert run.run.step == step + 1


def test_input_rate_and_learning_rate_change_in_place():
    at = _playground()
    run = at.session_state["pg"].run
    _button(at, "Step").click().run()
    at.slider(key="pg_input_p").set_value(0.2).run()
    at.select_slider(key="pg_lr").set_value(0.001).run()
    assert not at.exception
    assert at.session_state["pg"].run is run and run.run.step == 1
    assert run.run.model.dropouts[0].p == 0.2
    assert all(g["lr"] == 0.001 for g in run.run.optimizer.param_groups)
    assert all(g["lr"] == 0.001 for g in run.twin.optimizer.param_groups)


def test_changing_dataset_rebuilds_the_run():
    at = _playground()
    old = at.session_state["pg"].run
    for _ in range(2):
        _button(at, "Step").click().run()
    assert old.run.step == 2
    at.selectbox(key="pg_dataset").set_value("moons").run()
    assert not at.exception
    new = at.session_state["pg"].run
    assert new is not old
    assert new.exp.dataset == "moons" and new.run.step == 0
    assert at.query_params.get("dataset") in ("moons", ["moons"])


def test_compare_toggle_off_drops_the_twin():
    at = _playground()
    at.toggle(key="pg_compare").set_value(False).run()
    assert not at.exception
    run = at.session_state["pg"].run
    assert run.twin is None
    assert len(at.get("component_instance")) == 4
    assert at.query_params.get("compare") in ("0", ["0"])


def test_reset_starts_over_with_same_settings():
    at = _playground()
    at.slider(key="pg_p").set_value(0.3).run()
    _button(at, "Step").click().run()
    old = at.session_state["pg"].run
    _button(at, "Reset").click().run()
    assert not at.exception
    new = at.session_state["pg"].run
    assert new is not old and new.run.step == 0 and new.exp == old.exp


def test_bad_hidden_widths_show_an_error_and_keep_the_run():
    at = _playground()
    run = at.session_state["pg"].run
    at.text_input(key="pg_hidden").set_value("12,abc").run()
    assert not at.exception
    assert any("Hidden layer widths" in e.value for e in at.error)
    assert at.session_state["pg"].run is run


# --- links (query parameters) -------------------------------------------------

def test_invalid_link_parameters_warn_and_fall_back_to_defaults():
    at = _playground(p="1.5", dataset="nope", bogus="1")
    warnings = _warnings(at)
    assert len(warnings) == 3, warnings
    assert all(w.startswith("Link parameter not used") for w in warnings)
    assert any("p:" in w and "1.5" in w for w in warnings)
    assert any("dataset" in w and "nope" in w for w in warnings)
    assert any("bogus" in w for w in warnings)
    assert at.session_state["pg_p"] == 0.5
    assert at.slider(key="pg_p").value == 0.5
    assert at.session_state["pg_dataset"] == "xor"
    run = at.session_state["pg"].run
    assert run.exp.p == 0.5 and run.exp.dataset == "xor"
    assert "bogus" not in at.query_params, "the page rewrites the link to the experiment it shows"


def test_an_mnist_link_warns_and_falls_back_to_the_toy_default():
    at = _playground(dataset="mnist")
    assert len(_warnings(at)) == 1, _warnings(at)
    warning = _warnings(at)[0]
    assert warning.startswith("Link parameter not used: dataset: the Playground trains on 2-D toy data;"), warning
    assert "mnist" in warning and warning.endswith("using xor")
    assert at.session_state["pg"].run.exp.dataset == "xor"
    assert "dataset" not in at.query_params


def test_image_experiments_in_a_link_warn_and_fall_back_to_toy_data():
    at = _playground(dataset="mnist", model="cnn", conv_p="0.3", p="0.3")
    warnings = _warnings(at)
    assert len(warnings) == 3, warnings
    assert all("the Playground trains on 2-D toy data" in w for w in warnings)
    assert any("dataset" in w and "mnist" in w and "xor" in w for w in warnings)
    assert any("model" in w and "cnn" in w for w in warnings)
    run = at.session_state["pg"].run
    assert (run.exp.dataset, run.exp.model, run.exp.conv_p, run.exp.p) == ("xor", "mlp", 0.1, 0.3)
    assert at.selectbox(key="pg_dataset").value == "xor"
    assert run.run.model.layer_sizes[0] == 2
    assert _link(at) == {"p": "0.3"}


def test_invalid_compare_parameter_warns():
    at = _playground(compare="maybe")
    assert any("compare" in w for w in _warnings(at)), _warnings(at)
    assert at.session_state["pg_compare"] is True


def test_valid_link_parameters_are_applied():
    at = _playground(p="0.3", dataset="moons", hidden="32,32", compare="0", seed="7")
    assert _warnings(at) == []
    assert at.slider(key="pg_p").value == 0.3
    assert at.selectbox(key="pg_dataset").value == "moons"
    assert at.text_input(key="pg_hidden").value == "32,32"
    assert at.toggle(key="pg_compare").value is False
    run = at.session_state["pg"].run
    assert (run.exp.p, run.exp.dataset, run.exp.hidden, run.exp.seed) == (0.3, "moons", (32, 32), 7)
    assert run.twin is None
    assert run.run.model.layer_sizes == [2, 32, 32, 2]
    assert all(d.p == 0.3 for d in run.run.model.dropouts[1:])
    assert _link(at) == {"p": "0.3", "dataset": "moons", "hidden": "32,32", "compare": "0", "seed": "7"}


# --- Inside the network -----------------------------------------------------------

# A small network on a few hundred real digits: every panel, fast.
SMALL_INSIDE = dict(train_size="300", val_size="100", hidden="32,16", batch_size="32", epochs="3")
INSIDE_CHARTS = 9  # digits, activations, mask, two histograms, two feature panels, ensemble, curves


def _inside(**params: str) -> AppTest:
    return _open(INSIDE, **params)


def test_inside_renders_the_default_reference_run_untrained():
    at = _inside()
    assert [t.value for t in at.title] == ["Inside the network"]
    assert _warnings(at) == []
    run = at.session_state["in"].run
    assert run.run.model.layer_sizes == [784, 512, 512, 10], "the reference run of docs/dropout.md"
    assert run.twin is not None and run.run.step == 0
    assert {"Train", "Step", "Reset"} <= {b.label for b in at.button}
    assert len(at.get("component_instance")) == INSIDE_CHARTS
    assert any("Epoch 0 of 20" in c.value for c in at.caption)
    assert [label for label, _ in _numbers(at)][:2] == ["Mean activation · dropout", "Near zero (|a| < 0.01) · dropout"]
    assert _link(at) == {}, "the default experiment has an empty link"


def test_inside_step_trains_the_run_and_its_twin():
    at = _inside(**SMALL_INSIDE)
    run = at.session_state["in"].run
    for i in range(1, 4):
        _button(at, "Step").click().run()
        assert not at.exception
        assert at.session_state["in"].run is run and run.run.step == run.twin.step == i
    assert run.run.last_batch is not None and run.run.model.last_trace() is not None


def test_inside_train_then_pause():
    at = _inside(**{**SMALL_INSIDE, "epochs": "200"})  # more steps than one slice trains
    run = at.session_state["in"].run
    _button(at, "Train").click().run()
    assert at.session_state["in"].running is True
    at.run()  # each rerun while running trains one slice (the timer does not fire in AppTest)
    assert not at.exception and run.run.step > 0
    _button(at, "Pause").click().run()
    paused = run.run.step
    at.run()
    assert at.session_state["in"].running is False and run.run.step == paused


def test_inside_rates_change_in_place_and_the_layer_picker_chooses_the_panels_layer():
    at = _inside(**SMALL_INSIDE)
    run = at.session_state["in"].run
    _button(at, "Step").click().run()
    at.slider(key="in_p").set_value(0.3).run()
    at.slider(key="in_input_p").set_value(0.1).run()
    assert not at.exception
    assert at.session_state["in"].run is run and run.run.step == 1
    assert [d.p for d in run.run.model.dropouts] == [0.1, 0.3, 0.3]
    layer = at.get("button_group")[0]
    assert layer.key == "in_layer" and layer.options == ["hidden 1", "hidden 2"]
    layer.set_value(1).run()
    assert not at.exception and run.layer == 1
    assert _link(at) == {**SMALL_INSIDE, "p": "0.3", "input_p": "0.1"}


def test_inside_switching_to_the_cnn_rebuilds_with_channel_dropout():
    at = _inside(**SMALL_INSIDE)
    old = at.session_state["in"].run
    at.radio(key="in_model").set_value("cnn").run()
    assert not at.exception
    run = at.session_state["in"].run
    assert run is not old and run.is_cnn and run.layer_names == ["conv 1", "conv 2", "dense"]
    assert at.slider(key="in_conv_p").value == 0.1
    assert len(at.get("component_instance")) == INSIDE_CHARTS
    at.slider(key="in_conv_p").set_value(0.3).run()
    assert at.session_state["in"].run is run and [d.p for d in run.run.model.dropouts[1:3]] == [0.3, 0.3]
    assert _link(at)["model"] == "cnn"


def test_inside_too_many_digits_are_refused_and_the_run_kept():
    at = _inside(**SMALL_INSIDE)
    run = at.session_state["in"].run
    at.number_input(key="in_train_size").set_value(4950).run()
    assert not at.exception
    assert any(e.value.startswith("Not applied:") and "5000" in e.value for e in at.error), [e.value for e in at.error]
    assert at.session_state["in"].run is run


def test_inside_link_parameters_it_cannot_use_warn_and_fall_back():
    at = _inside(dataset="fashion-mnist", p="2", noise="0.3", train_size="4500")
    warnings = _warnings(at)
    assert len(warnings) == 4, warnings
    assert any(w.startswith("Link parameter not used: dataset: the Inside page trains on the embedded MNIST digits")
               for w in warnings), warnings
    assert any("p:" in w and "2" in w for w in warnings)
    assert any("noise" in w and "toy datasets only" in w for w in warnings)
    assert any("train_size" in w and "5000" in w for w in warnings)
    run = at.session_state["in"].run
    assert (run.exp.dataset, run.exp.p, run.exp.noise, run.exp.train_size) == ("mnist", 0.5, 0.0, 4000)


def test_inside_says_how_the_variant_scales():
    standard = " ".join(c.value for c in _inside(**SMALL_INSIDE).caption)
    scaling = " ".join(c.value for c in _inside(**SMALL_INSIDE, variant="weight-scaling").caption)
    assert "survivors scaled by 1/k" in standard and "1/k" not in scaling
    assert "the inference network scales by k" in scaling


def test_inside_valid_link_parameters_are_applied():
    at = _inside(**SMALL_INSIDE, model="cnn", conv_p="0.2", seed="3")
    assert _warnings(at) == []
    run = at.session_state["in"].run
    assert (run.exp.model, run.exp.conv_p, run.exp.seed, run.exp.hidden) == ("cnn", 0.2, 3, (32, 16))
    assert at.radio(key="in_model").value == "cnn"
