"""A row of numbers (pages.ui.numbers): every cell's label and value, in order, escaped, as one element."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from streamlit.testing.v1 import AppTest  # noqa: E402

from pages.ui.numbers import Number, row_html  # noqa: E402
from tests.test_app import _numbers  # noqa: E402


def _row_app() -> None:
    from pages.ui.numbers import Number, number_row
    number_row([Number("mean |r|", "0.123"), Number("a < b & c", "<1%", note="of 10", why='say "why"')])


def test_a_row_is_one_element_with_each_label_and_value_in_order_escaped():
    at = AppTest.from_function(_row_app).run()
    assert len(at.get("html")) == 1 and not at.metric
    assert _numbers(at) == [("mean |r|", "0.123"), ("a < b & c", "<1%")]


def test_a_note_shows_under_its_value_and_a_why_on_hover():
    text = row_html([Number("x", "1", note="of 10", why='say "why"')])
    assert 'title="say &quot;why&quot;"' in text and ">of 10</div>" in text
    assert "title=" not in row_html([Number("x", "1")])
