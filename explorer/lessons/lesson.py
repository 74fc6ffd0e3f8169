"""A lesson as a teacher writes it: one TOML file, read and checked field by field.

A lesson opens one page with settings of its own (the page's link
parameters), asks the students to predict what they will see, and reveals the
answer with the number they should see. Its ``[claim]`` says what must hold
when the lesson's run is trained headless; ``explorer.lessons.claims`` checks
it, and a lesson whose claim fails does not ship (tests/test_lesson_claims.py).
A malformed file raises ``LessonError`` naming the file and the field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

LESSONS_DIR = Path(__file__).resolve().parents[2] / "assets" / "lessons"
OPERATORS = (">", ">=", "<", "<=")
OVER = ("each", "mean")  # a claim holds for every seed, or for the mean over the seeds


class LessonError(ValueError):
    """A lesson file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Expectation:
    """``left op times·right + plus``: ``left`` a metric, ``right`` a metric or a number."""

    text: str  # what the lesson tells the students, in their words
    left: str
    op: str
    right: str | float
    times: float = 1.0
    plus: float = 0.0


@dataclass(frozen=True)
class Claim:
    seeds: tuple[int, ...]
    over: str
    expect: tuple[Expectation, ...]


@dataclass(frozen=True)
class Question:
    text: str
    options: tuple[str, ...]
    answer: int  # index into options


@dataclass(frozen=True)
class Lesson:
    key: str  # the file's name without .toml ("01-overfitting"): the order of the lessons
    title: str
    page: str  # the url path of the page it opens ("playground", "uncertainty"...)
    goal: str
    link: dict[str, str]  # the page's link parameters: the lesson's settings
    predict: Question
    watch: str
    answer: str
    numbers: str  # what the students should see
    paper: str  # what the paper found
    try_next: str
    claim: Claim

    @property
    def url(self) -> str:
        """The lesson's page and settings as a path on the app's server ("playground?p=0&compare=0")."""
        return self.page + (f"?{urlencode(self.link, safe=',')}" if self.link else "")

    @property
    def part(self) -> str:
        """The part of a page of parts (Uncertainty, Theory) the lesson opens; "" for a page of one part."""
        return self.link.get("part", "")


class _Fields:
    """Reads a TOML table's fields, each error naming the file and the field's dotted path."""

    def __init__(self, path: Path, table: dict[str, Any], prefix: str = "") -> None:
        self.path, self.table, self.prefix = path, table, prefix

    def error(self, name: str, why: str) -> LessonError:
        return LessonError(f"{self.path.name}: {self.prefix}{name}: {why}")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if name not in self.table:
            if default is ...:
                raise self.error(name, "missing")
            return default
        value = self.table[name]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.error(name, f"expected {_kind_name(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise self.error(name, f"expected {_kind_name(kind)}, got {value!r}")
        return value

    def text(self, name: str) -> str:
        value = self.get(name, str).strip()
        if not value:
            raise self.error(name, "empty")
        return value

    def sub(self, name: str) -> _Fields:
        return _Fields(self.path, self.get(name, dict), f"{self.prefix}{name}.")

    def no_others(self, known: set[str]) -> None:
        for name in self.table:
            if name not in known:
                raise self.error(name, f"unknown field; expected {', '.join(sorted(known))}")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "text", int: "a whole number", float: "a number", dict: "a table", list: "a list"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _link(fields: _Fields) -> dict[str, str]:
    link = {}
    for name, value in fields.get("link", dict).items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise fields.error(f"link.{name}", f"expected text or a number, got {value!r}")
        link[name] = value if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)
    return link


def _question(fields: _Fields) -> Question:
    q = fields.sub("predict")
    q.no_others({"question", "options", "answer"})
    options = q.get("options", list)
    if len(options) < 2 or not all(isinstance(o, str) and o.strip() for o in options):
        raise q.error("options", "expected a list of at least two non-empty texts")
    answer = q.get("answer", int)
    if not 1 <= answer <= len(options):
        raise q.error("answer", f"the number of the right option, 1 to {len(options)}; got {answer}")
    return Question(q.text("question"), tuple(o.strip() for o in options), answer - 1)


def _expectation(fields: _Fields) -> Expectation:
    fields.no_others({"text", "left", "op", "right", "times", "plus"})
    op = fields.text("op")
    if op not in OPERATORS:
        raise fields.error("op", f"expected one of {', '.join(OPERATORS)}, got {op!r}")
    right = fields.get("right", (str, int, float))
    return Expectation(fields.text("text"), fields.text("left"), op, right if isinstance(right, str) else float(right),
                       float(fields.get("times", (int, float), 1.0)), float(fields.get("plus", (int, float), 0.0)))


def _claim(fields: _Fields) -> Claim:
    c = fields.sub("claim")
    c.no_others({"seeds", "over", "expect"})
    seeds = c.get("seeds", list)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise c.error("seeds", "expected a list of seeds (whole numbers ≥ 0)")
    over = c.get("over", str, "each")
    if over not in OVER:
        raise c.error("over", f"expected one of {', '.join(OVER)}, got {over!r}")
    expect = c.get("expect", list)
    if not expect:
        raise c.error("expect", "a claim needs at least one [[claim.expect]]")
    found = []
    for i, table in enumerate(expect, 1):
        if not isinstance(table, dict):
            raise c.error(f"expect[{i}]", "expected a table ([[claim.expect]])")
        found.append(_expectation(_Fields(c.path, table, f"claim.expect[{i}].")))
    return Claim(tuple(seeds), over, tuple(found))


FIELDS = {"title", "page", "goal", "link", "predict", "watch", "reveal", "try_next", "claim"}


def read_lesson(path: Path) -> Lesson:
    """One lesson file, checked; ``LessonError`` names the file and the field at fault."""
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise LessonError(f"{path.name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise LessonError(f"{path.name}: not valid TOML: {err}") from None
    fields = _Fields(path, table)
    fields.no_others(FIELDS)
    reveal = fields.sub("reveal")
    reveal.no_others({"answer", "numbers", "paper"})
    return Lesson(
        key=path.stem, title=fields.text("title"), page=fields.text("page"), goal=fields.text("goal"),
        link=_link(fields), predict=_question(fields), watch=fields.text("watch"), answer=reveal.text("answer"),
        numbers=reveal.text("numbers"), paper=reveal.text("paper"), try_next=fields.text("try_next"),
        claim=_claim(fields),
    )
