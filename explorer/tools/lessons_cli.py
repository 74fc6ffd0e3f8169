"""``python -m explorer lessons``: list the lessons, or train each headless and check what it tells students.

A teacher preparing a class (or writing a lesson of their own, ``--dir``) runs
``--check`` to see every claim's numbers seed by seed before showing it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, NoReturn

from explorer import settings
from explorer.lessons import load_lessons
from explorer.lessons.claims import Verdict, verify
from explorer.lessons.lesson import LESSONS_DIR, Lesson, LessonError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("lessons", help="list the lessons, or check their claims (--check)",
                            description="List the lessons, or train each one's run headless and check its claim.")
    parser.add_argument("--check", action="store_true", help="train every lesson's run (each seed) and check its claim; "
                        "exit 1 if one does not hold")
    parser.add_argument("--only", metavar="KEY,...", help="lessons whose file name starts with one of these "
                        "(e.g. 01,04-masks)")
    parser.add_argument("--dir", type=Path, default=LESSONS_DIR, help=f"the lessons' folder (default {LESSONS_DIR})")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _chosen(args: argparse.Namespace) -> list[Lesson]:
    if not args.dir.is_dir():
        raise LessonError(f"--dir: no folder {args.dir}")
    lessons, errors = load_lessons(args.dir)  # a link its page would not use is an error before anything trains
    if errors:
        raise LessonError(errors[0])
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        lessons = [lesson for lesson in lessons if any(lesson.key.startswith(w) for w in wanted)]
        if not lessons:
            raise LessonError(f"--only: no lesson file starts with {', '.join(wanted)}")
    return lessons


def _verdict_json(v: Verdict) -> dict:
    return {"lesson": v.lesson.key, "holds": v.holds, "metrics": {str(k): m for k, m in v.metrics.items()},
            "expect": [{"text": o.expectation.text, "left": o.left, "bound": o.bound, "holds": o.holds}
                       for o in v.outcomes]}


def verdict_lines(v: Verdict) -> list[str]:
    lines = [f"{v.lesson.key}: {'holds' if v.holds else 'DOES NOT HOLD'} (seeds {', '.join(map(str, v.metrics))}, "
             f"{v.lesson.claim.over})"]
    for o in v.outcomes:
        e = o.expectation
        right = e.right if isinstance(e.right, str) else f"{e.right:g}"
        scaled = (f"{e.times:g}×" if e.times != 1 else "") + right + (f" {e.plus:+g}" if e.plus else "")
        values = ", ".join(f"{a:.4g} {e.op} {b:.4g}" for a, b in zip(o.left, o.bound))
        lines.append(f"  [{'ok' if o.holds else 'FAIL'}] {e.text}: {e.left} {e.op} {scaled}: {values}")
    return lines


def cmd_lessons(args: argparse.Namespace, fail: Callable[[str], NoReturn]) -> None:
    try:
        lessons = _chosen(args)
    except LessonError as err:
        fail(str(err))
    if not args.check:
        rows = [{"lesson": lesson.key, "title": lesson.title, "url": lesson.url} for lesson in lessons]
        if args.json:
            print(json.dumps({"lessons": rows}))
        for row in rows if not args.json else []:
            print(f"{row['lesson']:<28} {row['title']:<40} {row['url']}")
        return
    settings.configure_torch(shared=False)
    verdicts = []
    for lesson in lessons:
        try:
            verdicts.append(verify(lesson))
        except LessonError as err:
            fail(str(err))
        if not args.json:
            print("\n".join(verdict_lines(verdicts[-1])), flush=True)
    if args.json:
        print(json.dumps({"lessons": [_verdict_json(v) for v in verdicts]}))
    if not all(v.holds for v in verdicts):
        raise SystemExit(1)
