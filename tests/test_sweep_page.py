"""The Sweeps page through AppTest: settings → a Sweep, Run trains it, the curve and progress follow."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from tests.test_app import _button, _open  # noqa: E402

SWEEP = "pages/sweep.py"


def _small(at, **changes):
    """A quick toy sweep: two rates, one seed, a few epochs."""
    at.sidebar.selectbox(key="sw_dataset").set_value("moons").run()
    at.sidebar.multiselect(key="sw_rates").set_value([0.0, 0.5]).run()
    at.sidebar.number_input(key="sw_seeds").set_value(1).run()
    at.sidebar.number_input(key="sw_epochs").set_value(2).run()
    at.sidebar.select_slider(key="sw_hidden").set_value(64).run()
    return at


def test_the_page_opens_with_the_mnist_rate_sweep_paused():
    at = _open(SWEEP)
    assert [t.value for t in at.title] == ["Sweeps"]
    sweep = at.session_state["sw"].run
    assert sweep.spec.over == "rate" and sweep.spec.base.dataset == "mnist" and sweep.spec.models() == 30
    assert sweep.progress == 0 and not at.session_state["sw"].running
    assert _button(at, "Run").disabled is False


def test_run_trains_until_the_sweep_is_done():
    at = _small(_open(SWEEP))
    _button(at, "Run").click().run()
    sweep = at.session_state["sw"].run
    for _ in range(50):
        if sweep.done:
            break
        at.run()  # each rerun while running trains one slice (the fragment's timer does not fire in AppTest)
    assert sweep.done and [p["x"] for p in sweep.results()["points"]] == [0.0, 0.5]
    assert not at.exception


def test_a_size_sweep_and_a_setting_that_cannot_run():
    at = _small(_open(SWEEP))
    at.sidebar.radio(key="sw_over").set_value("size").run()
    sweep = at.session_state["sw"].run
    assert sweep.spec.over == "size" and sweep.spec.base.train_size == 1000
    at.sidebar.multiselect(key="sw_sizes").set_value([]).run()
    assert any("--sizes" in e.value for e in at.sidebar.error)
    assert not at.exception


def test_changing_a_setting_makes_a_new_paused_sweep():
    at = _small(_open(SWEEP))
    first = at.session_state["sw"].run
    at.sidebar.radio(key="sw_mode").set_value("fixed-kept").run()
    second = at.session_state["sw"].run
    assert second is not first and [g.widths[0] for g in second.groups] == [(64, 64), (128, 128)]
