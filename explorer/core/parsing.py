"""Text to checked values: the parsers behind every command-line flag and URL parameter.

Each returns a function that turns text into a value or raises ``ValueError``
with a sentence a person can act on, so a bad flag or link says what is wrong
instead of showing a traceback.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping


def _bounded(kind: Callable[[str], Any], noun: str, lo: Any, hi: Any, show: Callable[[Any], str]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"expected {noun}, got {text!r}") from None
        if not lo <= value <= hi:  # also rejects nan
            raise ValueError(f"must be between {show(lo)} and {show(hi)}, got {show(value)}")
        return value

    return parse


def whole(lo: int, hi: int) -> Callable[[str], int]:
    """A whole number in [lo, hi]."""
    return _bounded(int, "a whole number", lo, hi, str)


def number(lo: float, hi: float) -> Callable[[str], float]:
    """A number in [lo, hi] (NaN is refused)."""
    return _bounded(float, "a number", lo, hi, "{:g}".format)


def odd(lo: int, hi: int) -> Callable[[str], int]:
    """An odd whole number in [lo, hi]: a block centred on a pixel."""
    def parse(text: str) -> int:
        value = whole(lo, hi)(text)
        if value % 2 == 0:
            raise ValueError(f"must be odd (a block centred on a pixel), got {value}")
        return value

    return parse


def choice(options: Mapping[str, Any] | tuple[str, ...]) -> Callable[[str], str]:
    """One of ``options`` (a tuple, or a mapping's keys)."""
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"unknown value {text!r}; choose from {', '.join(options)}")
        return text

    return parse
