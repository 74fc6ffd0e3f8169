"""The fair gate at the server's cores: at most ``slots`` at once, first come first served, one turn per round."""

from __future__ import annotations

import threading
import time

import pytest

from explorer.core.turns import Turns


def test_at_most_slots_compute_at_once():
    gate, inside, peak, lock = Turns(2), [0], [0], threading.Lock()

    def work() -> None:
        with gate.turn():
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.01)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2 and gate.busy == 0 and gate.waiting == 0


def test_turns_go_in_arrival_order():
    gate, order = Turns(1), []
    with gate.turn():  # hold the only place while the others queue, one by one
        threads = []
        for i in range(5):
            def work(i: int = i) -> None:
                with gate.turn():
                    order.append(i)
            threads.append(threading.Thread(target=work))
            threads[-1].start()
            while gate.waiting < i + 1:
                time.sleep(0.001)
    for t in threads:
        t.join()
    assert order == [0, 1, 2, 3, 4]


def test_a_slow_session_gets_no_more_turns_than_a_fast_one():
    """Round robin: a session that queues again after its turn waits behind the others, so turns alternate."""
    gate, turns, stop = Turns(1), {"slow": 0, "fast": 0}, threading.Event()

    def session(name: str, seconds: float) -> None:
        while not stop.is_set():
            with gate.turn():
                turns[name] += 1
                time.sleep(seconds)

    threads = [threading.Thread(target=session, args=(n, s)) for n, s in (("slow", 0.02), ("fast", 0.002))]
    for t in threads:
        t.start()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert turns["fast"] >= 5 and abs(turns["slow"] - turns["fast"]) <= 2


def test_a_gate_needs_a_slot():
    with pytest.raises(ValueError, match="at least one slot"):
        Turns(0)


def test_sessions_counts_who_took_turns_lately_and_forgets_the_rest():
    gate = Turns(2)
    for who in ("a", "b", "c"):
        with gate.turn(who):
            pass
    assert gate.sessions(within=10.0) == 3
    time.sleep(0.05)
    with gate.turn("a"):
        assert gate.sessions(within=0.03) == 1  # only "a", which is having its turn now
    assert gate.sessions(within=10.0) == 1  # b and c were forgotten by the last count


def test_under_load_a_frame_trains_a_fair_share_of_a_round():
    pytest.importorskip("streamlit")
    from explorer import settings
    from pages.ui import controls

    gate = controls.TURNS
    interval, drawing = settings.FRAME_INTERVAL, 0.01
    alone = controls._slice(interval, drawing)
    for who in range(40):
        with gate.turn(("load", who)):
            pass
    crowded = controls._slice(interval, drawing)
    assert alone == pytest.approx((1 - settings.IDLE_SHARE) * interval - drawing)
    assert crowded == pytest.approx(max(settings.MIN_SLICE_SECONDS,
                                        gate.slots * settings.ROUND_SECONDS / gate.sessions(10.0) - drawing))
    assert crowded < alone


def test_slow_panels_slow_down_by_the_sessions_sharing_each_slot(monkeypatch: pytest.MonkeyPatch):
    """controls.load_scale: 1 with fewer sessions than slots, sessions / slots beyond (30 on 4 slots: 7.5)."""
    pytest.importorskip("streamlit")
    from pages.ui import controls

    gate = Turns(4)
    monkeypatch.setattr(controls, "TURNS", gate)
    assert controls.load_scale() == 1.0
    for who in range(3):
        with gate.turn(who):
            pass
    assert controls.load_scale() == 1.0
    for who in range(30):
        with gate.turn(who):
            pass
    assert controls.load_scale() == pytest.approx(7.5)


def test_a_check_that_raises_leaves_the_queue_and_the_next_in_line_goes_on():
    gate, order = Turns(1), []

    class Paused(Exception):
        pass

    def refuse() -> None:
        raise Paused

    def patient() -> None:
        with gate.turn("patient"):
            order.append("patient")

    with gate.turn("holder"):
        waiter = threading.Thread(target=patient)
        with pytest.raises(Paused):
            with gate.turn("paused", check=refuse):
                pass
        waiter.start()
        while gate.waiting < 1:
            time.sleep(0.001)
    waiter.join()
    assert order == ["patient"] and gate.waiting == 0 and gate.busy == 0


def test_an_urgent_turn_goes_ahead_of_the_training_frames_waiting():
    gate, order = Turns(1), []

    def take(name: str, urgent: bool) -> None:
        with gate.turn(name, urgent=urgent):
            order.append(name)

    with gate.turn("holder"):
        threads = []
        for i, (name, urgent) in enumerate((("frame 1", False), ("frame 2", False), ("click 1", True),
                                            ("click 2", True))):
            threads.append(threading.Thread(target=take, args=(name, urgent)))
            threads[-1].start()
            while gate.waiting < i + 1:
                time.sleep(0.001)
    for t in threads:
        t.join()
    assert order == ["click 1", "click 2", "frame 1", "frame 2"]
    assert gate.sessions(within=10.0) == 3  # holder and the two frames; urgent turns count for no session
