"""The Co-adaptation page through AppTest: the MNIST default, a toy link, Step and Train, refused link parameters."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from explorer.tools import reference  # noqa: E402
from tests.test_app import _button, _link, _numbers, _open, _warnings  # noqa: E402

PAGE = "pages/coadaptation.py"
CHARTS = 6  # correlations, tracked, interactions, robustness, importance, training curves
SMALL_MNIST = dict(train_size="600", val_size="300", hidden="64,32", epochs="3")


def _metric_labels(at) -> list[str]:
    return [label for label, _ in _numbers(at)]


def test_the_page_opens_on_the_mnist_reference_run_and_draws_every_chart():
    at = _open(PAGE)
    assert [t.value for t in at.title] == ["Co-adaptation"]
    assert _warnings(at) == [] and _link(at) == {}, "the default experiment has an empty link"
    run = at.session_state["co"].run
    assert run.exp.dataset == "mnist" and run.exp.hidden == (512, 512) and run.exp.epochs == 20
    assert run.twin is not None and run.layer == "hidden 2"
    assert len(at.get("component_instance")) == CHARTS
    assert any("Epoch 0 of 20" in c.value for c in at.caption)
    labels = _metric_labels(at)
    assert labels.count("mean |r|") == 2 and labels.count("DeCov") == 2 and labels.count("dropout · AUC random") == 1
    assert sum("Reading guide" in c.value for c in at.caption) == 6, "a reading guide under every chart"
    quoted = reference.load()["coadaptation"]
    guides = " ".join(c.value for c in at.caption)
    assert f"mean |r| {quoted['dropout']['mean_abs_r']:.3f} with dropout vs {quoted['no_dropout']['mean_abs_r']:.3f}" \
        in guides, "the reference run's numbers come from assets/reference_numbers.json"


def test_step_trains_both_networks_and_the_numbers_follow():
    at = _open(PAGE, **SMALL_MNIST)
    run = at.session_state["co"].run
    before = dict(run.numbers())
    _button(at, "Step").click().run()
    assert not at.exception and at.session_state["co"].run is run
    assert run.run.step == 1 and run.twin.step == 1
    assert run.numbers() != before, "the analyses follow the step"
    assert any("step 1" in c.value for c in at.caption)


def test_train_runs_slices_and_tracks_every_epoch():
    at = _open(PAGE, dataset="moons", epochs="30")
    run = at.session_state["co"].run
    assert run.exp.dataset == "moons" and run.exp.hidden == (128, 128)  # the toy defaults
    assert _link(at) == {"dataset": "moons", "epochs": "30"}
    _button(at, "Train").click().run()
    for _ in range(6):
        at.run()
        assert not at.exception
    assert run.run.epoch > 0 and len(run.tracked["dropout"]) == run.run.epoch + 1
    assert len(run.tracked["no dropout"]) == run.twin.epoch + 1


def test_a_rate_change_keeps_the_run_and_a_dataset_change_brings_its_defaults():
    at = _open(PAGE, **SMALL_MNIST)
    run = at.session_state["co"].run
    _button(at, "Step").click().run()
    at.sidebar.slider(key="co_p").set_value(0.3).run()
    assert at.session_state["co"].run is run and run.run.model.hidden_rate == 0.3
    assert _link(at)["p"] == "0.3"
    at.sidebar.selectbox(key="co_dataset").set_value("circles").run()
    new = at.session_state["co"].run
    assert new is not run and new.exp.dataset == "circles" and new.exp.hidden == (128, 128)
    assert _link(at) == {"dataset": "circles"}


def test_refused_and_bad_link_parameters_warn_and_the_page_still_opens():
    at = _open(PAGE, model="cnn", variant="dropconnect", dataset="mnist-full", p="7", **SMALL_MNIST)
    warnings = " ".join(_warnings(at))
    for name in ("model:", "variant:", "dataset:", "p:"):
        assert name in warnings, warnings
    run = at.session_state["co"].run
    assert run.exp.model == "mlp" and run.exp.variant == "standard" and run.exp.dataset == "mnist"
    assert not at.exception and len(at.get("component_instance")) == CHARTS


def test_a_last_layer_of_one_unit_is_a_sidebar_error_not_a_traceback():
    at = _open(PAGE, dataset="xor", hidden="8,1")
    assert not at.exception
    assert any("--hidden" in e.value for e in at.sidebar.error)
    assert at.session_state["co"].run.exp.hidden == (128, 128)
