"""Does a lesson's claim hold? Its run trained headless for each of its seeds, each expectation checked.

``check_links`` finds what makes a lesson unusable before anything trains (a
page no runner knows, a link the page would not use); ``verify`` trains and
judges. A metric an expectation names but the run does not produce is an error
of the lesson file, not a failed claim.
"""

from __future__ import annotations

import operator
import statistics
from dataclasses import dataclass
from typing import Any

from explorer.lessons.lesson import Expectation, Lesson, LessonError
from explorer.lessons.runners import RUNNERS, Metrics, Runner

COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def runner_for(lesson: Lesson) -> Runner:
    runner = RUNNERS.get((lesson.page, lesson.part))
    if runner is None:
        known = ", ".join(page + (f" (part={part})" if part else "") for page, part in RUNNERS)
        raise LessonError(f"{lesson.key}.toml: page: no lesson can run on {lesson.page!r}"
                          f"{f' part {lesson.part!r}' if lesson.part else ''}; choose from {known}")
    return runner


def settings_of(lesson: Lesson) -> Any:
    """The run the lesson's link describes, read as its page reads it; ``LessonError`` for a parameter not used."""
    try:  # focus: the panels presenter mode shows (pages.ui.present), not a setting of the run
        return runner_for(lesson).parse({k: v for k, v in lesson.link.items() if k != "focus"})
    except ValueError as err:
        if isinstance(err, LessonError):
            raise
        raise LessonError(f"{lesson.key}.toml: link: {err}") from None


@dataclass(frozen=True)
class Outcome:
    """One expectation, judged: the values compared for each seed (or their mean) and whether it holds."""

    expectation: Expectation
    left: list[float]
    bound: list[float]  # times·right + plus, per value of left
    holds: bool


@dataclass(frozen=True)
class Verdict:
    lesson: Lesson
    metrics: dict[int, Metrics]  # seed → metrics
    outcomes: list[Outcome]

    @property
    def holds(self) -> bool:
        return all(o.holds for o in self.outcomes)


def _value(lesson: Lesson, metrics: Metrics, name: str | float) -> float:
    if not isinstance(name, str):
        return name
    if name not in metrics:
        raise LessonError(f"{lesson.key}.toml: claim: no metric {name!r} on this page; it has "
                          f"{', '.join(sorted(metrics))}")
    return metrics[name]


def judge(lesson: Lesson, metrics: dict[int, Metrics]) -> list[Outcome]:
    """Each expectation against the seeds' metrics: every seed's, or their mean (``claim.over``)."""
    outcomes = []
    for e in lesson.claim.expect:
        left = [_value(lesson, m, e.left) for m in metrics.values()]
        bound = [e.times * _value(lesson, m, e.right) + e.plus for m in metrics.values()]
        if lesson.claim.over == "mean":
            left, bound = [statistics.fmean(left)], [statistics.fmean(bound)]
        holds = all(COMPARE[e.op](a, b) for a, b in zip(left, bound))
        outcomes.append(Outcome(e, left, bound, holds))
    return outcomes


def verify(lesson: Lesson) -> Verdict:
    """Train the lesson's run for each of its seeds and judge its claim."""
    settings = settings_of(lesson)
    run = runner_for(lesson).run
    metrics = {seed: run(settings, seed) for seed in lesson.claim.seeds}
    return Verdict(lesson, metrics, judge(lesson, metrics))


def verify_all(lessons: list[Lesson]) -> list[Verdict]:
    """``verify`` each, in one process: lessons on one page share runs (a lesson's twin is often the run of the
    lesson before), which ``runners`` keeps."""
    return [verify(lesson) for lesson in lessons]
