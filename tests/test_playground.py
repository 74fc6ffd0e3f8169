"""The Playground's state object: live changes, the twin kept in step, and safety across script threads."""

from __future__ import annotations

import threading
from dataclasses import replace

import plotly.graph_objects as go

from explorer.core.experiment import Experiment
from explorer.playground.state import Playground

SMALL = Experiment(train_size=40, val_size=40, hidden=(16, 16), epochs=50)


def test_rate_and_optimiser_changes_apply_in_place_and_others_need_a_new_run():
    pg = Playground(SMALL)
    pg.advance(max_steps=5)
    weights = pg.run.model.linears[0].weight.clone()
    assert pg.apply(replace(SMALL, p=0.2, input_p=0.1, lr=0.001, epochs=80), compare=True)
    assert pg.run.step == 5 and (pg.run.model.linears[0].weight == weights).all()
    assert [d.p for d in pg.run.model.dropouts] == [0.1, 0.2, 0.2]
    assert [d.p for d in pg.twin.model.dropouts] == [0.0, 0.0, 0.0]  # the twin never drops
    assert all(g["lr"] == 0.001 for t in pg.trainers for g in t.optimizer.param_groups)
    assert pg.run.cfg.epochs == pg.twin.cfg.epochs == 80
    assert not pg.apply(replace(SMALL, dataset="moons"), compare=True)
    assert not pg.apply(SMALL, compare=False)


def test_the_twin_takes_exactly_the_runs_steps():
    pg = Playground(SMALL)
    for steps in (1, 3, 7):
        pg.advance(max_steps=steps)
        assert pg.run.step == pg.twin.step
    pg.advance(max_seconds=0.05)
    assert pg.run.step == pg.twin.step


def test_every_frame_figure_is_a_valid_plotly_figure():
    pg = Playground(SMALL)
    for _ in range(2):  # before any step, then after some
        frame = pg.frame()
        assert set(frame) == {"boundary", "twin", "network", "kept", "curves"}
        for spec in frame.values():
            go.Figure(spec)  # raises on any invalid property
        pg.advance(max_steps=10)


def test_two_script_threads_cannot_step_the_network_at_once():
    """Streamlit may start a new script run while the last one is still training; both advance the same run."""
    pg = Playground(SMALL)
    errors: list[BaseException] = []

    def train() -> None:
        try:
            for _ in range(20):
                pg.advance(max_steps=3)
                pg.frame()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=train) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert pg.run.step == pg.twin.step == 100  # 50 epochs of 2 steps: 180 asked for, stopped at the end
