"""A page of parts whose picker comes back without a part shows the last part again, not a KeyError."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from tests.test_app import _open  # noqa: E402


@pytest.mark.parametrize("page,part,key", [("pages/uncertainty.py", "regression", "un_part"),
                                          ("pages/theory.py", "averaging", "th_part")])
def test_a_picker_left_without_a_part_shows_the_last_one(page, part, key):
    at = _open(page, part=part)
    assert at.session_state[key] == part
    at.session_state[key] = None  # as a rerun started by a key press while the page redrew once left it
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[key] == part
