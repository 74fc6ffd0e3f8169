"""The fair gate at the server's cores: at most ``slots`` at once, one turn per session per round."""

from __future__ import annotations

import threading
import time

import pytest
import torch

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


def _turns_taken(gate: Turns, turn_seconds: dict[str, float], seconds: float, named: bool = True,
                 flush: float = 0.0) -> dict[str, int]:
    """Sessions that take turns at ``gate`` for ``seconds``, each turn of its own length, ``flush`` seconds apart
    (a frame going out before the session queues again): how many turns each had."""
    turns, stop = dict.fromkeys(turn_seconds, 0), threading.Event()

    def session(name: str) -> None:
        while not stop.is_set():
            with gate.turn(name if named else None):
                turns[name] += 1
                time.sleep(turn_seconds[name])
            time.sleep(flush)

    threads = [threading.Thread(target=session, args=(name,)) for name in turn_seconds]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return turns


def test_a_slow_session_gets_no_more_turns_than_a_fast_one():
    """Round robin: a session that queues again after its turn waits behind the others, so turns alternate."""
    turns = _turns_taken(Turns(1), {"slow": 0.02, "fast": 0.002}, 0.5, named=False)
    assert turns["fast"] >= 5 and abs(turns["slow"] - turns["fast"]) <= 2


def test_a_session_with_long_turns_gets_as_many_as_those_with_short_ones():
    """Each session's next turn comes a round after its last began: one whose turns are long and so queues again
    later (a lab's lanes beside Playgrounds) is not left behind. First come, first served, it had about 0.75 of
    the others' turns here."""
    lengths = {"heavy": 0.02} | {f"light {i}": 0.005 for i in range(8)}
    turns = _turns_taken(Turns(2), lengths, 1.5, flush=0.005)
    light = sorted(v for n, v in turns.items() if n != "heavy")
    assert light[0] >= 20 and turns["heavy"] >= 0.9 * light[len(light) // 2], turns


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
    alone, long_alone = controls._slice(interval, drawing), controls._slice(0.4, drawing)
    for who in range(40):
        with gate.turn(("load", who)):
            pass
    crowded = controls._slice(interval, drawing)
    assert alone == pytest.approx((1 - settings.IDLE_SHARE) * interval - drawing)  # the Playground's short frames
    assert long_alone == pytest.approx(0.4 - settings.IDLE_MAX_SECONDS - drawing)  # the Inside page's: the gap's cap
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


def test_a_sweep_alone_on_the_server_trains_on_every_core_and_shares_one_with_others(monkeypatch: pytest.MonkeyPatch):
    """controls' rule for a ``threaded`` run (the Sweeps page's): alone, torch's threads while it trains (back to the
    app's one after) and the whole interval, with no idle gap (it draws first); another run on the server, or a
    run that gains nothing from threads, keeps one thread and the gap."""
    from explorer import settings
    from pages.ui import controls

    monkeypatch.delenv("EXPLORER_THREADS", raising=False)
    monkeypatch.setattr(settings, "usable_cores", lambda: 3)
    monkeypatch.setattr(controls, "TURNS", Turns(2))
    sweep = type("State", (), {"run": type("Sweep", (), {"threaded": True})()})()
    playground = type("State", (), {"run": object()})()
    interval, drawing, threads = 0.5, 0.01, torch.get_num_threads()

    def turn(state: object) -> tuple[float, bool, int]:
        with controls._training_turn(state, interval, drawing, lambda: None) as (seconds, alone):
            return seconds, alone, torch.get_num_threads()

    try:
        torch.set_num_threads(1)
        assert turn(sweep) == (pytest.approx(interval - drawing), True, 3)
        assert torch.get_num_threads() == 1
        gapped = controls.busy_seconds(interval) - drawing
        assert turn(playground) == (pytest.approx(gapped), False, 1)
        assert turn(sweep) == (pytest.approx(gapped), False, 1), "two sessions train here now"
    finally:
        torch.set_num_threads(threads)
