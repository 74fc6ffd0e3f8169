"""Every lesson's claim holds: its run trained headless, each of its seeds, as ``python -m explorer lessons --check``.

A lesson tells students what they will see ("the dropout network ends with lower validation loss and higher
accuracy than its twin"); a lesson whose claim does not hold must not ship. These are the suite's slowest tests
(a few minutes of training), so the lessons train two at a time, in worker processes of one torch thread each.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor

import pytest

from explorer import settings
from explorer.lessons import load_lessons
from explorer.lessons.claims import Verdict, verify_all
from explorer.tools.lessons_cli import verdict_lines

LESSONS, _ = load_lessons()
WORKERS = 2


@pytest.fixture(scope="module")
def verdicts() -> dict[str, Future[list[Verdict]]]:
    """Every lesson's verdict, computing in the background from the first test on; the lessons of one page go to
    one worker, where they share runs."""
    pool = ProcessPoolExecutor(WORKERS, multiprocessing.get_context("spawn"), initializer=settings.configure_torch)
    pages: dict[str, list] = {}
    for lesson in LESSONS:
        pages.setdefault(lesson.page, []).append(lesson)
    futures = {}
    for page, lessons in pages.items():
        future = pool.submit(verify_all, lessons)
        futures |= {lesson.key: future for lesson in lessons}
    yield futures
    pool.shutdown(cancel_futures=True)


@pytest.mark.parametrize("key", [lesson.key for lesson in LESSONS])
def test_the_lesson_shows_what_it_tells_students(verdicts, key):
    verdict = next(v for v in verdicts[key].result() if v.lesson.key == key)
    assert verdict.holds, "\n".join(verdict_lines(verdict))
