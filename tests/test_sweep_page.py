"""The Sweeps page through AppTest: settings → a Sweep, Run trains it, the curve and progress follow."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from explorer import settings  # noqa: E402
from explorer.core.model import MLPConfig  # noqa: E402
from explorer.sweep.state import DEFAULT_RATES, weights_of  # noqa: E402
from tests.test_app import _button, _link, _open  # noqa: E402

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
    sweep = at.session_state["sw"].run.sweep  # the page's view of it: explorer.sweep.live
    assert sweep.spec.over == "rate" and sweep.spec.base.dataset == "mnist" and sweep.spec.models() == 30
    assert [len(g.seeds) for g in sweep.groups] == [12, 12, 6]  # four rates of three seeds a stack
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


def test_two_tabs_on_one_sweep_run_it_once_and_pause_apart():
    first, second = (_open(SWEEP, dataset="moons", rates="0,0.5", seeds="5", epochs="200", hidden="512")
                     for _ in range(2))  # a sweep longer than a few slices
    for tab in (first, second):
        _button(tab, "Run").click().run()
    shared = first.session_state["sw"].run
    assert second.session_state["sw"].run.core is shared.core and shared.sweep.step > 0
    second.run()
    assert "one run shared with 1 other tab on these settings" in second.get("progress")[0].proto.text
    _button(second, "Pause").click().run()
    mine = second.session_state["sw"].run
    assert mine.core is not shared.core and mine.sweep.step == shared.sweep.step
    assert not first.exception and not second.exception


def test_tabs_opened_on_one_link_show_one_untrained_sweep_and_the_first_to_run_takes_its_own():
    link = dict(dataset="moons", rates="0,0.5", seeds="1", epochs="2", hidden="64")
    first, second = _open(SWEEP, **link), _open(SWEEP, **link)
    shown = first.session_state["sw"].run.core
    assert second.session_state["sw"].run.core is shown and shown.fresh  # built once for both
    _button(first, "Run").click().run()
    mine = first.session_state["sw"].run
    assert mine.core is not shown and mine.sweep.step > 0  # a copy: the sweep the other tab shows stays untrained
    second.run()
    assert second.session_state["sw"].run.core is shown and shown.run.step == 0 and shown.fresh
    assert not first.exception and not second.exception


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
    assert second is not first and [g.widths[0] for g in second.sweep.groups] == [(64, 64), (128, 128)]


def test_the_link_holds_the_sweep_and_a_bad_value_is_reported():
    at = _open(SWEEP, dataset="moons", rates="0,0.5", epochs="5", hidden="64", seeds="2")
    spec = at.session_state["sw"].run.spec
    assert (spec.base.dataset, spec.rates, spec.base.epochs, spec.base.hidden, spec.seeds) == (
        "moons", (0.0, 0.5), 5, (64, 64), 2)
    assert _link(at) == {"dataset": "moons", "rates": "0,0.5", "epochs": "5", "hidden": "64", "seeds": "2"}
    at.sidebar.radio(key="sw_over").set_value("size").run()
    assert _link(at) == {"dataset": "moons", "over": "size", "epochs": "5", "hidden": "64", "seeds": "2"}
    bad = _open(SWEEP, rates="0.55")
    assert [w.value for w in bad.warning] == [
        "Link parameter not used: rates: rate 0.55 not offered; choose from 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, "
        "0.9; using 0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"]
    assert bad.session_state["sw"].run.spec.rates == DEFAULT_RATES


def test_the_widest_sweep_runs_one_bounded_stack_at_a_time():
    """The page's widest size sweep, 60 models and 40 M weights (~0.65 GB with gradients and Adam's moments if they
    trained at once), is offered: its stacks are built one at a time, each within the stack limit."""
    at = _open(SWEEP, over="size", seeds="5", hidden="512")
    assert not at.sidebar.error and _button(at, "Run").disabled is False
    sweep = at.session_state["sw"].run.sweep
    data = sweep.data
    stacks = [sum(weights_of(MLPConfig(n_in=data.n_features, n_out=data.n_classes, hidden=w)) for w in g.widths)
              for g in sweep.groups]
    assert sum(stacks) > 40e6 and max(stacks) <= settings.SWEEP_STACK_MAX_WEIGHTS
    assert all(g.trainer is None for g in sweep.groups)  # nothing built before it trains


def test_variants_are_a_curve_each_and_in_the_link():
    at = _small(_open(SWEEP))
    at.sidebar.multiselect(key="sw_variants").set_value(["standard", "gaussian", "early"]).run()
    sweep = at.session_state["sw"].run
    assert sweep.spec.variants == ("standard", "gaussian", "early") and sweep.spec.models() == 4  # q = 0 once
    assert _link(at)["variants"] == "standard,gaussian,early"
    _button(at, "Run").click().run()
    for _ in range(50):
        if sweep.done:
            break
        at.run()
    assert [p["variant"] for p in sweep.results()["points"]] == ["standard", "gaussian", "early"] * 2
    assert not at.exception


def test_a_link_with_a_variant_a_sweep_cannot_run_warns():
    at = _open(SWEEP, variants="standard,multisample")
    assert any("variants: expected some of standard" in w and "not multisample" in w
               for w in [x.value for x in at.warning])
    assert at.session_state["sw"].run.spec.variants == ("standard",)
