"""The interfaces that used to exist by convention only: every live state is a ``LiveRun`` for the pages' controls,
a ``BoundedRun`` cannot be made without ``done`` and ``_train_step``, every ``analyze --what`` module is an
``Analysis``."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from explorer.core.analysis import ANALYSES, Analysis, load_analysis
from explorer.theory.l2.state import DropoutL2, analysis_defaults
from explorer.core.experiment import check, defaults_for, make_data
from explorer.lab.state import Lab, lane
from explorer.core.live_runs import LiveRun, LiveRuns, LiveTraining
from explorer.uncertainty.regression.analysis import RegressionConfig
from explorer.core.training import BoundedRun
from explorer.uncertainty.regression.state import RegressionLive

TINY = replace(defaults_for("moons"), train_size=20, val_size=20, hidden=(4,), epochs=3)


def test_every_live_state_is_a_live_run_and_those_with_one_run_show_its_epoch():
    data = make_data(TINY)
    with_one_run = [LiveRuns(TINY, data), LiveRuns(TINY, data, compare=False), DropoutL2(analysis_defaults()),
                    RegressionLive(RegressionConfig())]
    for state in with_one_run:
        assert isinstance(state, LiveTraining) and isinstance(state.run, BoundedRun), type(state).__name__
        assert state.advance(max_steps=1) == 1 and not state.done
        assert state.apply(state.exp, state.compare), "its own settings apply in place"
    lab = Lab([lane(TINY, "standard"), lane(TINY, "gaussian")], data)
    assert isinstance(lab, LiveRun) and not isinstance(lab, LiveTraining), "the lab has lanes, not one run"


def test_a_bounded_run_needs_done_and_a_train_step():
    class Half(BoundedRun):
        @property
        def done(self) -> bool:
            return self.step >= 3

    with pytest.raises(TypeError, match="_train_step"):
        Half(torch.nn.Identity())

    class Counting(Half):
        def _train_step(self) -> None:
            self.step += 1

    run = Counting(torch.nn.Identity())
    assert (run.step, run.epoch, run.train_seconds) == (0, 0, 0.0)
    assert run.run(max_steps=2) == 2 and run.run() == 1 and run.done


@pytest.mark.parametrize("key", ANALYSES)
def test_every_analysis_module_offers_the_analysis_contract(key):
    module = load_analysis(key)
    assert isinstance(module, Analysis), f"{ANALYSES[key]} lacks part of the analysis contract"
    exp = module.analysis_defaults()
    assert check(exp) == [] and module.analysis_problems(exp) == [], "an analysis's defaults can run"
