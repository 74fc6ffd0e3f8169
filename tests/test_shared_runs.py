"""Tabs training identical settings share one run (``explorer.core.shared_runs``), and none changes another's.

The reference for a shared run is a run of the same settings trained alone:
whoever trained which steps, and whenever a tab took its own copy, every
network ends with the same weights and history to the bit.
"""

from __future__ import annotations

from dataclasses import replace

import io
import threading

import pytest
import torch

from explorer import settings
from explorer.coadaptation.state import CoadaptationRuns
from explorer.core.datasets import make_toy
from explorer.core.experiment import Experiment, defaults_for, make_data
from explorer.inside.state import Inspector
from explorer.lab.state import Lab, lane
from explorer.playground.state import Playground
from explorer.sweep.live import SharedSweep
from explorer.sweep.state import Sweep, SweepSpec
from explorer.theory.averaging.state import AveragingRuns, analysis_defaults
from explorer.uncertainty import with_look
from explorer.uncertainty.digits.state import DigitsUncertainty
from explorer.uncertainty.maps.state import MAPS_DEFAULT, MCMapsLive
from explorer.uncertainty.regression.analysis import RegressionConfig
from explorer.uncertainty.regression.state import RegressionLive

TOY = Experiment(epochs=20)  # 4 steps an epoch: 80 steps
TOY_DATA = make_toy(TOY.data_config())
REGRESSION = RegressionConfig(train_size=40, hidden=(16, 16), epochs=12, batch_size=8, seed=3)
DIGITS = replace(defaults_for("mnist"), train_size=200, val_size=100, hidden=(32,), epochs=5, batch_size=50)
DIGIT_DATA = make_data(DIGITS)  # shared by every tab, as the page's cached data is
AVERAGING = replace(analysis_defaults(), epochs=8, hidden=(6,))  # 4 steps an epoch, 64 thinned networks
MAPS = replace(MAPS_DEFAULT, epochs=10, hidden=(16, 16))  # 5 steps an epoch


def _same(a, b) -> bool:
    """Same history and the same weights, optimiser state included, in the run and its twin."""
    def tensors(trainer):
        return [*trainer.model.state_dict().values(),
                *(v for state in trainer.optimizer.state.values() for v in state.values() if torch.is_tensor(v))]
    def trainers(state):
        return state.trainers if hasattr(state, "trainers") else [state.run]
    return all(x.history == y.history and all(torch.equal(p, q) for p, q in zip(tensors(x), tensors(y)))
               for x, y in zip(trainers(a), trainers(b)))


def test_an_untouched_run_joins_the_run_of_its_settings_that_another_tab_trains():
    a, b = Playground(TOY), Playground(TOY)
    a.share()
    b.share()
    assert b.core is a.core and b.run is a.run
    b.advance(max_steps=3)
    a.advance(max_steps=2)
    assert a.run.step == b.run.step == 5
    assert a.sharers == b.sharers == 1


@pytest.mark.parametrize("make", [lambda: Playground(TOY), lambda: Inspector(DIGITS, DIGIT_DATA),
                                  lambda: CoadaptationRuns(TOY, TOY_DATA), lambda: RegressionLive(REGRESSION),
                                  lambda: Lab([lane(TOY, "standard"), lane(TOY, "dropconnect")], TOY_DATA),
                                  lambda: AveragingRuns(AVERAGING), lambda: DigitsUncertainty(DIGITS, DIGIT_DATA),
                                  lambda: MCMapsLive(MAPS)],
                         ids=["playground", "inside", "coadaptation", "regression", "lab", "averaging", "mc-digits",
                              "mc-maps"])
def test_a_tab_that_takes_its_own_copy_goes_on_with_the_numbers_of_a_run_trained_alone(make):
    a, b, alone = make(), make(), make()
    a.share(), b.share()
    a.advance(max_steps=5)
    b.advance(max_steps=6)  # crosses an epoch: a history to copy
    b.own()
    assert b.core is not a.core and b.core.run.step == a.core.run.step == 11
    for tab in (a, b):
        tab.advance(max_steps=10_000)
    alone.advance(max_steps=10_000)
    assert a.done and b.done and alone.done
    assert _same(a, alone) and _same(b, alone)
    if isinstance(alone, CoadaptationRuns):  # what each epoch recorded is the run's, and copied with it
        assert a.tracked == b.tracked == alone.tracked and len(alone.tracked["dropout"]) == TOY.epochs + 1


def test_tabs_sharing_an_averaging_run_share_the_analysis_of_its_step_and_a_copy_makes_its_own():
    a, b = AveragingRuns(AVERAGING), AveragingRuns(AVERAGING)
    a.share(), b.share()
    a.advance(max_steps=3)
    a.select(5), b.select(20)  # each tab its own k: the MC maps of both are kept with the analysis
    assert b.analysis() is a.analysis() and a.analysis().key[0] == 3
    a.mc_grid(), b.mc_grid()
    assert set(a.analysis().mc_maps) == {5, 20}
    shared = a.analysis()
    b.own()
    assert b.analysis() is not shared and b.analysis().key == shared.key
    assert torch.equal(b.analysis().grid.arithmetic, shared.grid.arithmetic)


def test_tabs_sharing_an_mc_run_share_its_costly_analyses_and_a_copy_makes_its_own():
    a, b = DigitsUncertainty(DIGITS, DIGIT_DATA), DigitsUncertainty(DIGITS, DIGIT_DATA)
    a.share(), b.share()
    a.advance(max_steps=3)
    a.select(0, 5, 0.0), b.select(4, 20, 0.0)  # each tab its own digit and T
    shared = a.averaging()
    assert b.averaging() is shared and shared["step"] == 3
    assert a.rotation()["samples"] == 5 and b.rotation()["samples"] == 20
    b.select(0, 5, 0.0)
    assert b.rotation() is a.rotation()  # the same digit and T: analysed once for both
    b.own()
    assert b.averaging() is not shared and b.averaging()["error"].tolist() == shared["error"].tolist()

    c, d = MCMapsLive(MAPS), MCMapsLive(MAPS)
    c.share(), d.share()
    c.advance(max_steps=3)
    grid = c.maps(10)
    assert d.maps(10) is grid and d.numbers == c.numbers  # one T: computed once
    assert d.maps(20) is not grid and c.maps(10) is grid  # another T: its own maps, the first T's kept
    d.own()
    assert d.maps(10) is not grid and (d.maps(10).probs == grid.probs).all()


SWEEP = SweepSpec(rates=(0.0, 0.5), seeds=1, base=replace(TOY, epochs=6), variants=("standard", "dropconnect"))


def _sweep() -> SharedSweep:
    return SharedSweep(Sweep(SWEEP, TOY_DATA, evaluations=2, keep_weights=True))


def _bundle(sweep: SharedSweep) -> dict[str, dict[str, torch.Tensor]]:
    return torch.load(io.BytesIO(sweep.weights()), weights_only=True)


def test_tabs_on_one_sweeps_link_run_one_sweep_and_a_copy_keeps_its_saved_models():
    a, b, alone = _sweep(), _sweep(), _sweep()
    a.share(), b.share()
    assert b.core is a.core and len(a.sweep.groups) == 2  # a stack of each placement: units, then weights
    while not a.sweep.groups[0].done:
        b.advance(max_steps=1)
    a.advance(max_steps=1)  # into the second stack
    assert a.sharers == b.sharers == 1
    b.own()  # Pause: its own copy, with the first stack's saved models in a folder of its own
    assert b.core is not a.core and b.sweep.saved.folder != a.sweep.saved.folder
    assert [f.name for f in b.sweep.saved.files] == [f.name for f in a.sweep.saved.files] == ["stack-0.pt"]
    for tab in (a, b, alone):
        while not tab.done:
            tab.advance(max_seconds=1.0)
    assert a.results()["points"] == b.results()["points"] == alone.results()["points"]
    mine, theirs, reference = _bundle(a), _bundle(b), _bundle(alone)
    assert mine.keys() == theirs.keys() == reference.keys() and len(reference) == SWEEP.models()
    assert all(torch.equal(mine[m][k], reference[m][k]) and torch.equal(theirs[m][k], reference[m][k])
               for m in reference for k in reference[m])


def test_a_tab_whose_shared_sweep_another_tab_trains_this_instant_draws_it_without_waiting():
    a, b = _sweep(), _sweep()
    a.share(), b.share()
    a.advance(max_steps=1)
    assert a.results()["progress"] > 0  # what its slice left for the tabs' frames (core.memo)
    training, release = threading.Event(), threading.Event()

    def other_tab() -> None:  # another tab's slice, in its own thread
        with a.lock:
            training.set()
            release.wait(10)

    thread = threading.Thread(target=other_tab)
    thread.start()
    training.wait(10)
    try:
        step = b.sweep.step
        assert b.advance(max_seconds=0.5) == 0 and b.sweep.step == step  # at once: no wait for the lock
        assert b.results() is a.results()
    finally:
        release.set()
        thread.join()
    assert b.advance(max_seconds=0.05) > 0


def test_a_sweep_on_uploaded_points_is_never_shared():
    points = replace(SWEEP, base=replace(SWEEP.base, dataset="csv", data_file="points.csv", noise=0, label_noise=0))
    assert SharedSweep(Sweep(points, TOY_DATA)).share_key() is None


def test_tabs_opening_one_link_show_one_untrained_run_and_a_tab_that_trains_it_takes_a_copy():
    a, b, c = Playground(TOY), Playground(TOY), Playground(replace(TOY, seed=TOY.seed + 1))
    for tab in (a, b, c):
        tab.show()
    assert b.core is a.core and c.core is not a.core and a.core.fresh
    a.advance(max_steps=3)  # Step, or a run trained without Train's share: its own copy
    assert a.core is not b.core and a.run.step == 3 and b.run.step == 0
    late = Playground(TOY)
    late.show()
    assert late.core is b.core
    b.share()  # Train: nobody trains these settings yet, so b trains a copy that later tabs join
    assert b.core is not late.core and late.run.step == 0 and late.core.fresh and not b.core.fresh
    late.share()
    assert late.core is b.core
    alone = Playground(TOY)
    b.advance(max_steps=5)
    alone.advance(max_steps=5)
    assert _same(b, alone)


def test_a_sweep_shown_by_several_tabs_is_left_before_a_tab_trains_it():
    spec = SweepSpec(over="rate", rates=(0.0, 0.5), seeds=1, base=replace(TOY, epochs=2))
    a, b = (SharedSweep(Sweep(spec, make_data(spec.base))) for _ in range(2))
    a.show(), b.show()
    assert a.core is b.core
    a.advance(max_seconds=0.05)  # a live slice while b shows the same untrained sweep
    assert a.core is not b.core and b.sweep.step == 0 and a.sweep.step > 0


def test_a_change_of_settings_is_the_changing_tabs_alone():
    a, b = Playground(TOY), Playground(TOY)
    a.share(), b.share()
    a.advance(max_steps=3)
    assert b.apply(replace(TOY, p=0.2), compare=True)
    assert b.core is not a.core
    assert b.run.model.hidden_rate == 0.2 and a.run.model.hidden_rate == 0.5
    assert not a.record.changes and b.record.changes == [{"step": 3, "p": 0.2}]
    c, d = RegressionLive(REGRESSION), RegressionLive(REGRESSION)
    c.share(), d.share()
    c.advance(max_steps=3)
    assert d.apply(replace(REGRESSION, p=0.4), compare=False)
    assert d.core is not c.core and not c.changes and d.changes == [{"step": 3, "p": 0.4}]


def test_a_run_paused_by_its_only_tab_takes_no_one_else():
    a, b = Playground(TOY), Playground(TOY)
    a.share()
    a.advance(max_steps=2)
    a.own()  # Pause: a paused run stays as it was
    b.share()
    assert b.core is not a.core
    b.advance(max_steps=4)
    assert a.run.step == 2


def test_only_an_untouched_unfinished_run_of_generated_data_is_shared(monkeypatch):
    trained, b = Playground(TOY), Playground(TOY)
    trained.advance(max_steps=1)
    trained.share()  # trained alone before Train: its own for good
    b.share()
    assert b.core is not trained.core

    done, late = Playground(TOY), Playground(TOY)
    done.share()
    done.advance(max_steps=10_000)
    late.share()
    assert late.core is not done.core and late.run.step == 0

    abandoned, later = Playground(TOY), Playground(TOY)  # a tab closed while it trained (kept until released)
    abandoned.share()
    abandoned.advance(max_steps=3)
    monkeypatch.setattr(settings, "ACTIVE_SECONDS", 0.0)  # its last slice is now long ago
    later.share()
    assert later.core is not abandoned.core and later.run.step == 0

    uploaded = [Playground(TOY, data=make_toy(TOY.data_config())) for _ in range(2)]
    for tab in uploaded:
        tab.share()
    assert uploaded[0].share_key() is None and uploaded[1].core is not uploaded[0].core
    # Two students' files may share a name: a run on uploaded points is never shared.
    points = replace(TOY, dataset="csv", data_file="points.csv", noise=0, label_noise=0)
    assert CoadaptationRuns(points, TOY_DATA).share_key() is None


def test_other_settings_are_another_run():
    a, b = Inspector(DIGITS, DIGIT_DATA), Inspector(replace(DIGITS, seed=1), DIGIT_DATA)
    a.share(), b.share()
    assert b.core is not a.core


# --- in the app ----------------------------------------------------------------

pytest.importorskip("streamlit")
from tests.test_app import PLAYGROUND, _button, _open  # noqa: E402

LINK = {"train_size": "40", "epochs": "200", "hidden": "16"}  # a run longer than a few slices


def _press(at, label: str) -> None:
    _button(at, label).click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_two_tabs_on_one_link_train_one_run_and_pause_apart():
    first, second = _open(PLAYGROUND, **LINK), _open(PLAYGROUND, **LINK)
    _press(first, "Train")
    _press(second, "Train")  # each run while training trains a slice (AppTest fires no timer)
    run = first.session_state["pg"].run
    assert second.session_state["pg"].run.core is run.core
    second.run()
    assert any("one run shared with 1 other tab on these settings" in c.value for c in second.caption)
    _press(second, "Pause")
    mine = second.session_state["pg"].run
    assert mine.core is not run.core and mine.run.step == run.run.step
    paused = mine.run.step
    first.run()
    assert run.run.step > paused == mine.run.step
    assert not any("shared" in c.value for c in first.caption)


def test_a_shared_run_keeps_its_latest_looks_and_the_new_one():
    kept = {}
    for t, look in enumerate(["a", "b", "c", "d", "e", "b"]):
        kept = with_look(kept, look, (None, float(t)))
        assert look in kept and len(kept) <= settings.UNC_LOOKS_KEPT
    assert set(kept) == {"c", "d", "e", "b"} and kept["b"] == (None, 5.0)
