"""Lessons: short guided experiments, each a TOML file in ``assets/lessons``, each with a claim that is checked.

``load_lessons`` is what the Lessons page and ``python -m explorer lessons`` read: every file, checked as far as
it can be without training (fields, and a link its page would use); a bad file is reported, the others load.
"""

from __future__ import annotations

from pathlib import Path

from explorer.lessons.claims import settings_of
from explorer.lessons.lesson import LESSONS_DIR, Lesson, LessonError, read_lesson


def load_lessons(folder: Path = LESSONS_DIR) -> tuple[list[Lesson], list[str]]:
    """The usable lessons in ``folder`` (in the order of their file names), and one error per file that is not."""
    lessons, errors = [], []
    for path in sorted(folder.glob("*.toml")):
        try:
            lesson = read_lesson(path)
            settings_of(lesson)
        except LessonError as err:
            errors.append(str(err))
        else:
            lessons.append(lesson)
    return lessons, errors
