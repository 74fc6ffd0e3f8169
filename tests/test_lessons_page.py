"""The Lessons page through AppTest: the list, the link, predict and reveal, and each lesson opening its page with
its settings and nothing kept from before."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from explorer.lessons import load_lessons  # noqa: E402
from tests.test_app import PLAYGROUND, _link, _open, _warnings  # noqa: E402

LESSONS_PAGE = "pages/lessons.py"
LESSONS, _ = load_lessons()


def _open_button(at):
    return next(b for b in at.button if b.label.startswith("Open "))


def _follow(at, lesson):
    """Press the lesson's Open button: the browser goes to the lesson's page."""
    _open_button(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_page_lists_every_lesson_and_shows_the_first():
    at = _open(LESSONS_PAGE)
    assert [t.value for t in at.title] == ["Lessons"]
    picker = at.radio(key="ls_lesson")
    assert list(picker.options) == [f"{i}. {lesson.title}" for i, lesson in enumerate(LESSONS, 1)]
    assert at.subheader[0].value == "1. Overfitting"
    assert _link(at) == {"lesson": "01-overfitting"}
    assert _open_button(at).label == "Open the Playground with this lesson's settings"


def test_the_link_names_the_lesson_and_a_bad_one_is_reported():
    at = _open(LESSONS_PAGE, lesson="03-training-vs-inference")
    assert at.subheader[0].value == "3. Training vs inference" and not _warnings(at)
    at = _open(LESSONS_PAGE, lesson="99-nothing")
    assert at.subheader[0].value == "1. Overfitting"
    assert _warnings(at) == ["Link parameter not used: lesson: expected one of "
                             + ", ".join(lesson.key for lesson in LESSONS) + ", got '99-nothing'"]


def test_the_reveal_answers_the_prediction():
    at = _open(LESSONS_PAGE)
    guess = at.radio(key="ls_guess_01-overfitting")
    assert guess.value is None
    guess.set_value(0).run()
    revealed = " ".join(m.value for m in at.markdown)
    assert "You predicted: *It keeps falling, like the training loss.*" in revealed
    assert "**Answer:** It falls at first, then rises again" in revealed
    at.radio(key="ls_guess_01-overfitting").set_value(1).run()
    assert "You predicted it. **Answer:**" in " ".join(m.value for m in at.markdown)


def test_a_lesson_opens_its_page_with_its_settings_and_nothing_kept_from_before():
    at = _open(PLAYGROUND)
    at.sidebar.text_input(key="pg_hidden").set_value("8").run()
    at.sidebar.slider(key="pg_p").set_value(0.9).run()
    assert at.session_state["pg"].run.exp.hidden == (8,)
    at.switch_page(LESSONS_PAGE).run()
    at.radio(key="ls_lesson").set_value("02-dropout-closes-the-gap").run()
    _follow(at, LESSONS[1])
    assert [t.value for t in at.title] == ["Playground"]
    exp = at.session_state["pg"].run.exp
    assert (exp.dataset, exp.label_noise, exp.epochs, exp.p, exp.hidden) == ("moons", 0.1, 300, 0.5, (128, 128))
    assert _link(at) == {"dataset": "moons", "label_noise": "0.1", "epochs": "300", "batch_size": "100",
                         "focus": "boundary,twin,curves"}  # p = 0.5 is the default
    assert not at.session_state["pg"].running  # the students press Train themselves


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.key for lesson in LESSONS])
def test_every_lesson_opens_its_page_without_a_warning(lesson):
    at = _open(LESSONS_PAGE, lesson=lesson.key)
    _follow(at, lesson)
    assert not _warnings(at)
    link = _link(at)
    assert {k: v for k, v in lesson.link.items() if k in link} == {k: link[k] for k in lesson.link if k in link}
