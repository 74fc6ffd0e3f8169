"""Seats for training sessions (explorer.core.admission), on a clock the tests move by hand."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer import settings
from explorer.core.admission import Admission, Floor, Place
from explorer.tools.st_client import WAITING, Session
from pages.ui import controls
from pages.ui.state import LiveState
from tests.test_memory import serving

ROOT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _admission(seats: int = 2, hold: float = 60.0, timeout: float = 10.0) -> tuple[Admission, Clock]:
    """Room for ``seats`` frames of COST seconds."""
    clock = Clock()
    return Admission(seats * COST, hold, timeout, clock), clock


COST = 0.1


def test_the_first_sessions_are_seated_and_the_rest_queue_in_arrival_order() -> None:
    seats, _ = _admission()
    assert seats.ask("a", COST) == Place(seated=True)
    assert seats.ask("b", COST).seated
    c, d = seats.ask("c", COST), seats.ask("d", COST)
    assert (c.seated, c.ahead, d.seated, d.ahead) == (False, 0, False, 1)
    assert (seats.seated, seats.waiting) == (2, 2)


def test_a_costly_frame_takes_more_of_the_budget() -> None:
    seats, _ = _admission(seats=4)
    assert seats.ask("lab", 3 * COST).seated
    assert seats.ask("playground", COST).seated
    assert not seats.ask("inside", 2 * COST).seated  # 0.3 + 0.1 + 0.2 > 0.4
    assert not seats.ask("small", COST).seated, "first come, first served: no one jumps the queue"
    seats.leave("lab")
    assert seats.ask("inside", 2 * COST).seated and seats.ask("small", COST).seated


def test_a_guessed_cost_is_seated_while_the_seats_have_room_and_overruns_by_at_most_itself() -> None:
    """A kind of page that never trained here asks with its paused drawing (every panel at once): more than its
    training frames will cost. It is seated while the load is within the budget, and then no one else."""
    seats, _ = _admission(seats=4)
    for who in "ab":
        assert seats.ask(who, COST).seated
    assert not seats.ask("measured", 3 * COST).seated  # 0.2 + 0.3 > 0.4
    seats.leave("measured")
    assert seats.ask("guess", 3 * COST, guessed=True).seated  # 0.2 <= 0.4: room at all
    assert seats.load == pytest.approx(5 * COST)
    assert not seats.ask("next", COST).seated and not seats.ask("next guess", COST, guessed=True).seated
    assert seats.ask("guess", COST).seated  # measured at last: the load falls, the next in line is seated
    assert seats.ask("next", COST).seated


def test_a_session_asks_with_its_training_frames_cost_or_before_any_with_its_kinds(monkeypatch) -> None:
    """A waiting page was drawn once, paused, every panel at once: no measure of its training frames. Before its
    first, it asks with what the training frames of its kind of page cost (learned from the others)."""
    seats = Admission(budget=10.0, hold=120.0, timeout=15.0)
    monkeypatch.setattr(controls, "SEATS", seats)
    monkeypatch.setattr(controls, "FRAME_COSTS", {})

    class Inside:
        sharers = 0  # trained by this tab alone (explorer.core.shared_runs)

    class Other(Inside):
        pass

    # The seat counts CPU time; the wall clock (draw_seconds, which grows with the load) sizes the slices only.
    trained = LiveState(run=Inside(), draw_seconds=2.0, draw_cpus=deque([0.3]), least_train=0.05, trained_frames=5)
    overhead = settings.FRAME_OVERHEAD_SECONDS  # what a frame costs the server beyond the page's own work
    controls._ask(trained)
    assert seats.load == pytest.approx(0.35 + overhead)
    arrived = LiveState(run=Inside(), draw_cpus=deque([0.9]))  # kept: a session is known by its id
    stranger = LiveState(run=Other(), draw_cpus=deque([0.2]))
    controls._ask(arrived)
    assert seats.load == pytest.approx(2 * (0.35 + overhead))
    asked = []
    monkeypatch.setattr(seats, "ask", lambda *args: asked.append(args) or Place(seated=True))
    controls._ask(stranger)  # a kind never seen training: its paused drawing, plus the least slice, as a guess
    assert asked == [(id(stranger), pytest.approx(0.2 + settings.MIN_SLICE_SECONDS + overhead), None, True)]
    controls._ask(arrived)
    assert asked[-1][-1] is False
    shared = Inside()
    shared.sharers = 29  # a lesson's run that 29 other tabs train too: its seat counts its drawing alone
    controls._ask(LiveState(run=shared, draw_cpus=deque([0.3]), least_train=0.5, trained_frames=5))
    assert asked[-1][1] == pytest.approx(0.3 + overhead)
    assert controls.FRAME_COSTS["Inside"] == pytest.approx(0.35 + overhead)  # what a tab alone costs stays


def test_a_seat_counts_the_mean_cpu_of_the_last_training_frames_after_the_first(monkeypatch) -> None:
    """The first training frame also sends every slow panel (as the paused page did): it stands in alone until
    the second; from then on the seat counts the mean CPU time of the last settings.COST_FRAMES frames."""
    clock = iter(range(10_000))

    class FakeTime:  # each frame's drawing "takes" the CPU seconds it is given below, one wall second each
        cpu = 0.0

        @staticmethod
        def perf_counter() -> float:
            return float(next(clock))

        @classmethod
        def thread_time(cls) -> float:
            return cls.cpu

    def draw_costing(cpu: float):
        def draw(run, running) -> None:
            FakeTime.cpu += cpu
        return draw

    monkeypatch.setattr(controls, "time", FakeTime)
    state = LiveState(run=object())
    controls._draw(state, draw_costing(0.5), False)  # paused: every panel at once
    assert state.draw_cpu == pytest.approx(0.5)
    controls._draw(state, draw_costing(0.3), True)
    assert state.draw_cpu == pytest.approx(0.3)
    for cost in (0.02, 0.04):
        controls._draw(state, draw_costing(cost), True)
    assert state.draw_cpu == pytest.approx(0.03)
    for _ in range(settings.COST_FRAMES):
        controls._draw(state, draw_costing(0.01), True)
    assert state.draw_cpu == pytest.approx(0.01)
    assert state.trained_frames == 3 + settings.COST_FRAMES


def test_a_session_alone_is_seated_however_costly() -> None:
    seats, _ = _admission(seats=1)
    assert seats.ask("six lanes", 50 * COST).seated


def test_a_seat_that_frees_goes_to_the_first_in_line() -> None:
    seats, _ = _admission()
    for who in "abcd":
        seats.ask(who, COST)
    seats.leave("a")
    assert seats.ask("c", COST).seated
    assert seats.ask("d", COST) == Place(False, 0, seats.ask("d", COST).wait_s)
    seats.leave("d")  # a waiting session that pauses leaves the queue
    assert seats.waiting == 0


def test_while_others_wait_a_seat_is_held_for_hold_seconds_then_goes_to_the_back() -> None:
    seats, clock = _admission(seats=1, hold=60.0, timeout=1000.0)
    seats.ask("a", COST)
    seats.ask("b", COST)
    clock.now = 59.0
    assert seats.ask("a", COST).seated
    clock.now = 60.0
    a = seats.ask("a", COST)
    assert (a.seated, a.ahead, a.rotated) == (False, 0, True)
    assert seats.ask("b", COST).seated


def test_alone_a_session_keeps_its_seat() -> None:
    seats, clock = _admission(seats=1, hold=60.0, timeout=1000.0)
    seats.ask("a", COST)
    clock.now = 600.0
    assert seats.ask("a", COST).seated


def test_a_silent_session_loses_its_seat_and_its_place() -> None:
    seats, clock = _admission(seats=1, hold=60.0, timeout=10.0)
    for who in "abc":
        seats.ask(who, COST)
    clock.now = 5.0
    seats.ask("c", COST)  # b and a fall silent (closed tabs)
    clock.now = 11.0
    c = seats.ask("c", COST)
    assert c.seated and (seats.seated, seats.waiting) == (1, 0)


def test_the_wait_counts_seats_freeing_and_each_run_ahead_holding_its_seat() -> None:
    seats, clock = _admission(seats=2, hold=60.0, timeout=1000.0)
    seats.ask("a", COST, remaining=20.0)  # ends on its own in 20 s
    seats.ask("b", COST)                  # holds its seat the whole 60 s
    clock.now = 10.0
    assert seats.ask("c", COST).wait_s == pytest.approx(10.0)   # a's run ends at 20
    assert seats.ask("d", COST).wait_s == pytest.approx(60.0 - 10.0)  # then b's hold ends at 60
    assert seats.ask("e", COST, remaining=5.0).wait_s == pytest.approx(20.0 + 60.0 - 10.0)  # c took a's seat at 20


def test_never_more_seated_than_fit_under_threads() -> None:
    seats = Admission(3 * COST, hold=0.001, timeout=60.0)
    most, lock, start = [0], threading.Lock(), threading.Barrier(12)

    def student(who: int) -> None:
        start.wait()
        for _ in range(3000):
            seats.ask(who, COST)
            with lock:
                most[0] = max(most[0], seats.seated)
        seats.leave(who)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 1 <= most[0] <= 3 and (seats.seated, seats.waiting) == (0, 0)


def test_the_budget_comes_from_the_cores_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPU seconds a second: the process's cores (its share of them under make serve), at most what one
    interpreter uses."""
    cores = settings.usable_cores()
    from_cores = min(cores, settings.INTERPRETER_CORES)
    monkeypatch.delenv("EXPLORER_TRAINING_BUDGET", raising=False)
    monkeypatch.delenv("EXPLORER_WORKERS", raising=False)
    assert settings.training_budget() == pytest.approx(from_cores)
    monkeypatch.setenv("EXPLORER_WORKERS", str(2 * cores))
    assert settings.training_budget() == pytest.approx(0.5), "half a core each"
    monkeypatch.delenv("EXPLORER_WORKERS")
    monkeypatch.setenv("EXPLORER_TRAINING_BUDGET", "0.25")
    assert settings.training_budget() == 0.25
    monkeypatch.setenv("EXPLORER_TRAINING_BUDGET", "none")
    assert settings.training_budget() == pytest.approx(from_cores)


def test_an_admission_needs_a_budget() -> None:
    with pytest.raises(ValueError, match="budget above 0"):
        Admission(0.0, hold=60.0, timeout=10.0)


# --- on the pages ------------------------------------------------------------------------------

def _playground(seed: int = 0, **link: str) -> AppTest:
    """A tab on the Playground's link (``link``, and ``seed``); tabs on identical settings would train one run
    (explorer.core.shared_runs): the seed sets them apart."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.query_params.update(seed=str(seed), **link)
    at.switch_page("pages/playground.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _click(at: AppTest, label: str) -> None:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_a_second_train_press_waits_for_the_one_seat_then_trains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controls, "SEATS", Admission(0.001, hold=600.0, timeout=60.0))  # room for one
    first, second = _playground(), _playground(seed=1)
    _click(first, "Train")
    _click(second, "Train")
    waiting = second.session_state["pg"]
    assert waiting.running is True and waiting.run.run.step == 0
    assert any("yours is next" in i.value and "1 run training" in i.value for i in second.info), \
        [i.value for i in second.info]
    assert any("waiting for a seat" in c.value for c in second.caption)
    second.run()
    assert waiting.run.run.step == 0, "a waiting run does not train"
    _click(first, "Pause")
    second.run()  # its queue line asks again (a timer in the browser), is seated, and the page trains
    second.run()
    assert waiting.run.run.step > 0
    assert not any("ahead" in i.value or "next" in i.value for i in second.info)


def test_a_student_who_leaves_a_training_page_gives_its_seat_back_at_once_and_takes_one_on_return(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not settings.SEAT_TIMEOUT_SECONDS later: the page left behind has no frames to draw, and a newcomer (or
    the student's own next page) would wait for its seat meanwhile."""
    monkeypatch.setattr(controls, "SEATS", Admission(0.001, hold=600.0, timeout=600.0))  # room for one
    tab = _playground()
    _click(tab, "Train")
    run = tab.session_state["pg"]
    assert controls.SEATS.seated == 1 and run.running
    tab.switch_page("pages/inside.py").run()
    assert not tab.exception, [e.value for e in tab.exception]
    assert controls.SEATS.seated == 0 and controls.SEATS.waiting == 0
    other = _playground(seed=1)
    _click(other, "Train")
    assert controls.SEATS.seated == 1 and not other.info, "the seat the first tab left is free"
    _click(other, "Pause")
    step = run.run.run.step
    tab.switch_page("pages/playground.py").run()  # back: still training, seated again
    tab.run()
    assert controls.SEATS.seated == 1 and run.running and run.run.run.step > step


def test_a_tab_waiting_for_a_seat_on_a_shared_run_shows_it_finished_when_the_others_finish_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controls, "SEATS", Admission(0.001, hold=600.0, timeout=60.0))  # room for one
    first, second = (_playground(train_size="40", epochs="60") for _ in range(2))  # one link, one run
    _click(first, "Train")
    _click(second, "Train")
    waiting = second.session_state["pg"]
    assert waiting.run.core is first.session_state["pg"].run.core and any("yours is next" in i.value
                                                                          for i in second.info)
    for _ in range(50):
        if waiting.run.done:
            break
        first.run()  # each run trains a slice (AppTest fires no timer)
    assert waiting.run.done
    second.run()  # its queue line asks again: the run is finished, not waiting
    second.run()
    assert waiting.running is False and controls.SEATS.waiting == 0
    assert any("finished" in c.value for c in second.caption) and not second.info


def test_the_waiting_message_counts_the_runs_ahead_and_the_wait() -> None:
    assert controls.waiting_text(Place(False, 0, 12.0)).count("yours is next, about 10 s") == 1
    assert "3 runs ahead of yours, about 20 s" in controls.waiting_text(Place(False, 3, 21.0))
    assert "1 run ahead of yours, about 4 min" in controls.waiting_text(Place(False, 1, 240.0))
    assert "minutes of training ended" in controls.waiting_text(Place(False, 0, 5.0, rotated=True))


def test_a_waiting_tab_starts_by_itself_on_a_real_server(tmp_path: Path) -> None:
    """Two tabs, one seat: the second waits, and starts training without a click once the first pauses."""
    with serving(tmp_path, EXPLORER_TRAINING_BUDGET="0.001") as (url, _):  # room for one
        async def class_of_two() -> None:
            first, second = (Session(url, "playground", f"epochs={n}") for n in (2000, 1999))  # two runs
            await first.open(60.0)
            await first.press("Train")
            await first.wait(lambda: first.status is not None and first.status.state == "training", 60.0)
            await second.open(60.0)
            await second.press("Train")
            await second.wait(lambda: second.status is not None and second.status.state == WAITING, 60.0)
            await asyncio.sleep(2.0)
            assert second.status.step == 0
            await first.press("Pause")
            await second.wait(lambda: second.status.state == "training" and second.status.step > 0, 30.0)
            for tab in (first, second):
                await tab.close()

        asyncio.run(class_of_two())


def test_workers_on_one_machine_share_its_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPLORER_COMPUTE_SLOTS", raising=False)
    monkeypatch.delenv("EXPLORER_WORKERS", raising=False)
    alone = settings.compute_slots()
    assert alone == settings.SLOTS_PER_CORE * settings.usable_cores()
    monkeypatch.setenv("EXPLORER_WORKERS", "2")
    assert settings.compute_slots() == max(1, alone // 2)
    monkeypatch.setenv("EXPLORER_WORKERS", str(10 * alone))
    assert settings.compute_slots() == 1
    monkeypatch.setenv("EXPLORER_COMPUTE_SLOTS", "3")
    assert settings.compute_slots() == 3


FLOOR = Floor(rate=1.0, margin=1.05, slack=0.95, window=4, settle=10.0, quorum=3)


def _floored(sessions: int) -> tuple[Admission, Clock]:
    """Seats whose CPU budget has room for everyone: only the measured rates limit them."""
    clock = Clock()
    seats = Admission(100 * COST, 600.0, 60.0, clock, floor=FLOOR)
    for who in range(sessions):
        clock.now += 0.01  # seated one after the other: the last is the newest
        assert seats.ask(who, COST).seated
    return seats, clock


def _frames(seats: Admission, clock: Clock, sessions: int, rate: float, count: int = FLOOR.window) -> None:
    """Every seated session draws ``count`` frames at ``rate`` a second, and asks for its seat after each."""
    for _ in range(count):
        clock.now += 1.0 / rate
        for who in range(sessions):
            seats.drew(who)  # a session that is not seated draws no training frame: not counted
        for who in range(sessions):
            seats.ask(who, COST)


def test_a_floor_is_checked() -> None:
    with pytest.raises(ValueError, match="slack"):
        Floor(rate=1.0, slack=8.0)


def test_seats_under_the_floor_go_back_newest_first_as_many_as_the_rates_fall_short() -> None:
    seats, clock = _floored(10)
    _frames(seats, clock, 10, rate=0.8)  # a fifth below the floor: two of the ten seats go back
    assert seats.seated == 8
    assert [seats.ask(who, COST).ahead for who in (8, 9)] == [0, 1], "the newest seats wait at the head of the queue"
    assert seats.ask("late", COST).ahead == 2, "a newcomer queues behind the seats taken back"


def test_seats_are_taken_back_once_a_settle_and_never_the_last() -> None:
    seats, clock = _floored(4)
    _frames(seats, clock, 4, rate=0.5)
    assert seats.seated == 2, "half the rate: half the seats"
    _frames(seats, clock, 4, rate=0.5, count=2)  # still slow, but the rates have not shown the change yet
    assert seats.seated == 2
    clock.now += FLOOR.settle
    _frames(seats, clock, 4, rate=0.1)
    assert seats.seated == 1, "a session alone keeps its seat, however slow"


def test_a_newcomer_waits_while_the_measured_rates_leave_no_room_above_the_floor() -> None:
    seats, clock = _floored(4)
    _frames(seats, clock, 4, rate=1.0)  # at the floor: no seat taken back, none given
    assert seats.seated == 4
    assert not seats.ask("new", COST).seated
    _frames(seats, clock, 4, rate=1.5)  # the class's frames come faster: room for a fifth (and more)
    assert seats.ask("new", COST).seated


def test_rates_a_little_under_the_floor_keep_their_seats_and_give_none() -> None:
    """Between the slack and the floor: no churn (a seat taken back costs its page a full redraw), no newcomer."""
    seats, clock = _floored(4)
    _frames(seats, clock, 4, rate=0.97, count=3 * FLOOR.window)
    assert seats.seated == 4 and not seats.ask("new", COST).seated


def test_fast_frames_do_not_seat_beyond_the_cpu_budget() -> None:
    """The rates only ever hold the seats back: a few sessions are fast because they are few, and the rate of a
    light load says little about a heavy one."""
    clock = Clock()
    seats = Admission(2 * COST, 600.0, 60.0, clock, floor=FLOOR)
    assert seats.ask(0, COST).seated and seats.ask(1, COST).seated
    _frames(seats, clock, 2, rate=3.0)
    assert not seats.ask("third", COST).seated


def test_before_the_rates_are_known_the_cpu_budget_alone_seats() -> None:
    seats, clock = _floored(4)
    _frames(seats, clock, 4, rate=0.5, count=FLOOR.window - 1)  # not yet a whole window of frames
    assert seats.seated == 4 and seats.ask("new", COST).seated


def test_a_frame_that_is_overdue_counts_as_drawn_now() -> None:
    """A session whose frames stop coming (its turn stalled) is as slow as the wait so far says."""
    seats, clock = _floored(4)
    _frames(seats, clock, 4, rate=2.0)
    clock.now += 8.0  # no frame for 8 s: four frames in 9.5 s, 0.42 a second; three of the four seats go back
    assert seats.ask(0, COST).seated and seats.seated == 1
