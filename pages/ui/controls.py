"""Train / Pause / Step / Reset and the live fragment: how every live page trains while it draws.

The run (a ``live_runs.LiveRun``) lives in the page's ``LiveState``. While training, a
fragment reruns every few tenths of a second, trains for a bounded time and
redraws; Streamlit only acts on a click between script runs, so a pure torch
loop would block Pause, and bounded slices keep it responsive. Train and Pause
flip a flag outside the fragment, which switches its timer on or off.
"""

from __future__ import annotations

import time
from collections import deque
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterable, Iterator

import streamlit as st
# Streamlit's check for a pending rerun or stop, the one its own cache waits poll (not in its public API).
from streamlit.runtime.scriptrunner_utils.script_run_context import get_run_yield_check

from explorer import settings
from explorer.core.admission import Admission, Floor, Place
from explorer.core.live_runs import LiveRun, LiveTraining
from explorer.core.turns import Turns
from pages.ui.state import LiveState, R

Make = Callable[[Any, bool], LiveRun]  # (what the page's state is made from, compare) → a new state of its kind
TURNS = Turns(settings.compute_slots())  # one per server process: every training session's frames take turns here
SEATS = Admission(settings.training_budget(), settings.SEAT_HOLD_SECONDS, settings.SEAT_TIMEOUT_SECONDS,
                  floor=Floor(rate=settings.FRAME_FLOOR, margin=settings.SEAT_RATE_MARGIN,
                              slack=settings.TAKE_BACK_SLACK, window=settings.RATE_FRAMES,
                              settle=settings.TAKE_BACK_SECONDS))
FLUSH_POLL_SECONDS = 0.02  # how often the pause after a frame looks for a click
_DRAWN = "_live_drawn"  # session state: the LiveStates that the page's current full run drew (``live``)
# The live pages' keys: Space trains and pauses, S steps, X resets (Streamlit keeps R and C for itself: rerun,
# clear cache). Streamlit ignores them while the focus is in a text field.
SHORTCUTS = {"play": "Space", "step": "S", "reset": "X"}
FRAME_COSTS: dict[str, float] = {}  # kind of page's run → what its training frames cost (moving average)


def current_run(state: LiveState[R], exp: Any, compare: bool, make: Callable[[Any, bool], R]) -> R:
    """The session's run, adjusted in place when possible, rebuilt when the change needs new weights."""
    run = state.run
    if run is None or not run.apply(exp, compare):
        run = make(exp, compare)
        replace_run(state, run)
    return run


def replace_run(state: LiveState, run: LiveRun) -> None:
    """A new run: an untrained one of settings that other tabs show is built and drawn once for all of them."""
    run.show()
    state.run, state.clock, state.notice = run, deque(maxlen=20), ""


def set_running(state: LiveState, on: bool) -> None:
    """Train (``on``) or Pause: the fragment's timer goes on or off at the next run. An untouched run joins the
    run of the same settings other tabs train (a class on one lesson's link trains it once); Pause makes it this
    tab's own."""
    state.running, state.forgotten = on, False
    state.run.share() if on else state.run.own()


def forget_page(prefixes: Iterable[str]) -> None:
    """Drop a page's state and its widgets' (keys ``prefix`` and ``prefix_…``), so its next visit starts from
    its link alone, as in a new session; a run it kept leaves its seat at the cores."""
    s = st.session_state
    for key in [k for k in s if any(k == p or k.startswith(p + "_") for p in prefixes)]:
        if isinstance(s[key], LiveState):
            SEATS.leave(id(s[key]))
        del s[key]


def page_run() -> None:
    """Before a page's full run (app.py): no live part drawn yet."""
    st.session_state[_DRAWN] = set()


def release_undrawn() -> None:
    """After a page's full run: a run of this session that it did not draw (its student left that page or part
    while it trained, or waited for a seat) gives its seat or place back now, not settings.SEAT_TIMEOUT_SECONDS
    later. It still counts as training: back on its page, it asks for a seat again."""
    drawn = st.session_state.get(_DRAWN, set())
    for value in list(st.session_state.values()):
        if isinstance(value, LiveState) and id(value) not in drawn:
            SEATS.leave(id(value))


def _step(state: LiveState) -> None:
    state.running = False
    state.run.own()
    state.run.advance(max_steps=1)


def reset(state: LiveState, make: Make) -> None:
    """A new run of the same settings from the seed, paused."""
    replace_run(state, make(state.run.exp, state.run.compare))
    state.running = False


def play_button(state: LiveState, done: bool, column: Any, label: str = "Train") -> bool:
    """Train (``label``) or Pause in ``column``, the Space key pressing it; returns whether the run is training."""
    if state.running:
        column.button("Pause", on_click=set_running, args=(state, False), type="primary", width="stretch",
                      shortcut=SHORTCUTS["play"], help="Key: Space.")
    else:
        column.button(label, on_click=set_running, args=(state, True), type="primary", width="stretch",
                      disabled=done, shortcut=SHORTCUTS["play"], help="Key: Space.")
    return state.running


def buttons(state: LiveState, run: LiveRun, make: Make, columns: list) -> bool:
    """Train (or Pause), Step and Reset in the first three ``columns``, each with its key; returns whether the
    run is training."""
    running = play_button(state, run.done, columns[0])
    columns[1].button("Step", on_click=_step, args=(state,), width="stretch", disabled=run.done,
                      shortcut=SHORTCUTS["step"], help="One training step, then pause. Key: S.")
    columns[2].button("Reset", on_click=reset, args=(state, make), width="stretch", shortcut=SHORTCUTS["reset"],
                      help="New weights from the seed; epoch 0. Key: X.")
    return running


def toolbar(state: LiveState, run: LiveRun, make: Make, aside: float = 4.0) -> tuple[bool, Any]:
    """Train (or Pause), Step and Reset in a row, and the row's rest (``aside`` times a button's width) for the
    page's own control or caption; returns whether the run is training, and that last column."""
    top = st.columns([1, 1, 1, aside], vertical_alignment="center")
    return buttons(state, run, make, top), top[3]


def phase(state: LiveState, done: bool, running: bool) -> str:
    """Training, finished, waiting for a seat or paused, and why the server paused a forgotten tab."""
    if running:
        return "training"
    if done:
        return "finished"
    if state.running:  # Train pressed, drawn as not training: its place in the queue is shown above
        return "waiting for a seat"
    return f"paused: no click for {settings.IDLE_PAUSE_SECONDS / 60:g} minutes" if state.forgotten else "paused"


def shared_note(run: LiveRun, running: bool) -> str:
    """While it trains a run other tabs train too (``Shareable``), how many: for the status line."""
    others = run.sharers if running else 0
    return f" · one run shared with {others} other tab{'s' * (others > 1)} on these settings" if others else ""


def status(state: LiveState, run: LiveTraining, running: bool) -> str:
    """Epoch, step and state; while training, epochs and screen updates per second over the last frames."""
    text = f"Epoch {run.run.epoch} of {run.exp.epochs} · step {run.run.step} · {phase(state, run.done, running)}"
    if not running:
        return text
    text += shared_note(run, running)
    clock = state.clock
    clock.append((time.perf_counter(), run.run.epoch))
    seconds = clock[-1][0] - clock[0][0]
    if len(clock) < 2 or seconds <= 0:
        return text
    return text + f" · {(clock[-1][1] - clock[0][1]) / seconds:.1f} epochs/s · {(len(clock) - 1) / seconds:.1f} updates/s"


def live(state: LiveState[R], running: bool, draw: Callable[[R, bool], None],
         interval: float = settings.FRAME_INTERVAL) -> None:
    """Run the page's live part: while ``running``, every ``interval`` s a fragment trains, then calls ``draw``.

    It trains for the part of the interval that the last draw and the idle
    gap (``busy_seconds``) leave, so a page whose drawing is slow (or a
    slow machine) trains less per frame instead of running frames back to back
    (a sweep alone on the server draws first and trains the rest: ``_slice``).
    A training frame (training and drawing) waits for its turn at ``TURNS``,
    so many sessions share the cores fairly and the server's own thread, which
    sends the frames and answers new visitors, is never starved. A tab left
    training without a click for settings.IDLE_PAUSE_SECONDS pauses, and its run
    drops what it can rebuild: a forgotten tab does not keep a share of a class's server.

    Training needs a seat (``SEATS``): beyond the seats a server has, Train
    waits in a queue whose place a small fragment of its own shows and polls,
    while the page is drawn once, as paused; it starts by itself when seated.
    """
    state.touched = time.monotonic()  # this is a full run of the page: its student is there
    st.session_state.setdefault(_DRAWN, set()).add(id(state))
    if running and state.run.done:  # a shared run that the tabs training it finished while this one waited
        state.running = False
        st.rerun()  # drawn as finished, and its seat or place in the queue left (below)
    training = running and not state.run.done
    if not training:
        SEATS.leave(id(state))
    elif not _ask(state).seated:
        _queue_line(state)
        training = False

    @st.fragment(run_every=interval if training else None)
    def fragment() -> None:
        # Streamlit may hand a click on Pause, Step or Reset to a fragment run;
        # the controls outside the fragment are then redrawn by a full run.
        if state.running != running:
            st.rerun()
        if not training:
            with TURNS.turn(urgent=True):  # a paused (or waiting) page, drawn once: ahead of the training frames
                _draw(state, draw, False)
            return
        if time.monotonic() - state.touched > settings.IDLE_PAUSE_SECONDS:
            _forget(state)
            st.rerun()
        if not _ask(state).seated:
            st.rerun()  # its seat went to those waiting: the full run shows its place in the queue
        check = get_run_yield_check()  # raises when a click (Pause) waits for this run to end

        def frame() -> None:
            _draw(state, draw, True)
            SEATS.drew(id(state))

        with _training_turn(state, interval, state.draw_seconds, check) as (seconds, alone):
            if alone:  # drawn first: the frame goes out while the run trains, which leaves no idle gap (_slice)
                frame()
            start, cpu = time.perf_counter(), time.thread_time()
            state.run.advance(max_seconds=seconds)
            trained = time.perf_counter() - start
            # A run trains in whole steps (a lab's one step of every lane): one that overran its slice costs at
            # least that much a frame, which its seat counts (in CPU time, as its drawing).
            state.least_train = time.thread_time() - cpu if trained > seconds + settings.MIN_SLICE_SECONDS else 0.0
            if state.run.done:
                state.running = False
                st.rerun()
            check()  # a Pause that came while it trained: its own run redraws the page, this frame need not
            if not alone:
                frame()

    fragment()


def _queue_line(state: LiveState) -> None:
    """The waiting tab's place in the queue, asked again every settings.QUEUE_POLL_SECONDS; seated, a full run
    starts the training."""
    @st.fragment(run_every=settings.QUEUE_POLL_SECONDS)
    def line() -> None:
        if state.run.done:
            st.rerun()  # the tabs training a shared run finished it meanwhile: ``live`` shows it finished
        place = _ask(state)
        if place.seated:
            st.rerun()
        st.info(waiting_text(place), icon=":material/hourglass_top:")

    line()


def waiting_text(place: Place) -> str:
    """What a waiting student reads: how many runs are ahead, about how long, and why."""
    runs = ("yours is next" if place.ahead == 0 else
            f"{place.ahead} run{'s' * (place.ahead > 1)} ahead of yours")
    why = (f"Your {settings.SEAT_HOLD_SECONDS / 60:g} minutes of training ended while others waited: "
           if place.rotated else
           f"This server's cores are full ({SEATS.seated} run{'s' * (SEATS.seated != 1)} training, each kept at a "
           "screen update a second or more): ")
    return f"{why}{runs}, about {_duration(place.wait_s)}. It starts by itself; Pause leaves the queue."


def _duration(seconds: float) -> str:
    return f"{max(5, round(seconds / 5) * 5):.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _ask(state: LiveState) -> Place:
    """The session's place at ``SEATS``, for a frame as costly as its drawing plus the least it trains (CPU
    seconds): measured on its own training frames, or before it has any, what the training frames of its kind of
    page cost (or if none has trained yet, its paused drawing, every panel at once: more than a training
    frame's, so a guess that seats it while the seats have room at all). A run other tabs train too
    (``shared_runs``) trains in their slices as well as its own: its seat counts its drawing alone."""
    kind, shared = type(state.run).__name__, state.run.sharers > 0
    training = 0.0 if shared else max(settings.MIN_SLICE_SECONDS, state.least_train)
    cost = state.draw_cpu + training + settings.FRAME_OVERHEAD_SECONDS
    if not shared:  # what a frame of its kind costs a tab alone: learned from its frames, or taken as a guess
        if state.trained_frames:
            known = FRAME_COSTS.get(kind)
            FRAME_COSTS[kind] = cost if known is None else _smoothed(known, cost, settings.COST_SMOOTHING)
        else:
            cost = FRAME_COSTS.get(kind, cost)
    guessed = kind not in FRAME_COSTS
    return SEATS.ask(id(state), max(settings.MIN_SEAT_COST, cost), _remaining(state), guessed)


def _smoothed(average: float, value: float, weight: float = settings.DRAW_SMOOTHING) -> float:
    return weight * value + (1 - weight) * average


def _remaining(state: LiveState) -> float | None:
    """Seconds the run still needs at its recent pace (the status line's clock of epochs), if known."""
    clock, exp = state.clock, getattr(state.run, "exp", None)
    if len(clock) < 2 or not hasattr(exp, "epochs"):
        return None
    (t0, e0), (t1, e1) = clock[0], clock[-1]
    if e1 <= e0 or t1 <= t0:
        return None
    return (exp.epochs - e1) * (t1 - t0) / (e1 - e0)


def _forget(state: LiveState) -> None:
    state.running, state.forgotten = False, True
    SEATS.leave(id(state))
    state.run.shed()


@contextmanager
def _training_turn(who: LiveState, interval: float, drawing: float,
                   check: Callable[[], None]) -> Iterator[tuple[float, bool]]:
    """A training frame's turn at the cores (``TURNS``), for the frame's training and drawing; yields the seconds
    it may train and whether its run is ``_alone`` (then on every core). A Pause while it waits ends the wait
    (``check``, Streamlit's yield check, raises)."""
    with TURNS.turn(id(who), check):
        alone = _alone(who.run)
        with settings.every_core() if alone else nullcontext():
            yield _slice(interval, drawing, gap=not alone), alone
    if TURNS.sessions(within=settings.ACTIVE_SECONDS) > 1:
        # The server's own thread sends a frame between script runs; under load this session's next run is
        # already queued and would drop the frame unsent. A pause here, out of the turn, lets it go out; a click
        # ends it, since the click's run redraws the page anyway.
        deadline = time.monotonic() + settings.FLUSH_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            check()
            time.sleep(min(left, FLUSH_POLL_SECONDS))


def _alone(run: Any) -> bool:
    """Whether ``run`` gains from more torch threads (``threaded``: a sweep's stacks, whose batched products
    release the interpreter) and its session is the only one training here: it then trains on every core (alone
    on two cores, the Sweeps page's sweep of four variants took 198 s on one thread) and without an idle gap
    (``_slice``); with others, on one thread, as every session."""
    return getattr(run, "threaded", False) and TURNS.sessions(within=settings.ACTIVE_SECONDS) <= 1


def load_scale() -> float:
    """How many sessions share each compute slot now, at least 1: under a class's load, panels that change
    slowly (analyses, histograms) are rebuilt this many times less often, so the frames that every session needs
    once a second fit."""
    return max(1.0, TURNS.sessions(within=settings.ACTIVE_SECONDS) / TURNS.slots)


def _slice(interval: float, drawing: float, gap: bool = True) -> float:
    """Seconds a frame trains: what the interval leaves after the last draw and the idle share (``gap``), and
    with many sessions training, what leaves a round of everyone's frames about settings.ROUND_SECONDS long.

    A run ``_alone`` leaves no gap: it draws its frame first, which the server's thread sends while the run
    trains (its products release the interpreter), and takes a click at the end of the slice; the gap only left
    the cores idle (the Sweeps page's sweep of four variants trained 80 % of the time: 139 s for 112 s of
    training). Drawn last with a shorter gap, half its frames were cut by the next one's start."""
    sessions = TURNS.sessions(within=settings.ACTIVE_SECONDS)
    fair = TURNS.slots * settings.ROUND_SECONDS / max(1, sessions)
    return max(settings.MIN_SLICE_SECONDS, min(busy_seconds(interval) if gap else interval, fair) - drawing)


def busy_seconds(interval: float) -> float:
    """Of a frame's ``interval``, what training and drawing may take: the rest is the idle gap that lets a
    click through (settings.IDLE_SHARE of it, at most settings.IDLE_MAX_SECONDS)."""
    return interval - min(settings.IDLE_SHARE * interval, settings.IDLE_MAX_SECONDS)


def _draw(state: LiveState[R], draw: Callable[[R, bool], None], running: bool) -> None:
    """Draw; a training frame's drawing time goes into the session's averages: a moving one on the wall clock (what
    its training slices leave free), and the mean CPU time of its last settings.COST_FRAMES frames (what its seat
    counts: the wall clock grows with the load, the CPU time does not; a page whose slow panels are redrawn every
    few frames costs their average). A paused page's drawing, which redraws every panel at once, stands in only
    until the first training frame, and that one until the second."""
    start, cpu = time.perf_counter(), time.thread_time()
    draw(state.run, running)
    seconds, cpu = time.perf_counter() - start, time.thread_time() - cpu
    if not running and state.trained_frames:
        return  # a paused page redrawn after training: what its training frames cost stands
    state.draw_seconds = _smoothed(state.draw_seconds, seconds) if state.trained_frames else seconds
    if state.trained_frames <= 1:  # the paused drawing, the first training frame, the second: each starts anew
        state.draw_cpus.clear()
    state.draw_cpus.append(cpu)
    if running:
        state.trained_frames += 1

