"""Lessons: the story of dropout in short experiments, each opening one page with its settings.

A lesson is a TOML file in ``assets/lessons`` (``explorer.lessons``): its goal,
a question to answer before the run, the page and settings it opens, what to
watch, and the answer with the number the students should see. Every lesson's
claim is checked by training it headless (tests/test_lesson_claims.py).
"""

from __future__ import annotations

import streamlit as st

from explorer.lessons import load_lessons
from explorer.lessons.lesson import Lesson
from pages.ui import present, site
from pages.ui.controls import forget_page
from pages.ui.router import ensure_router

KEY = "ls_"  # prefix of this page's widget keys


def _start(lesson: Lesson) -> None:
    """The Open button's callback: what the session kept of the lesson's page is dropped, so the page starts
    from the lesson's settings alone, and the run that follows goes there."""
    forget_page(site.BY_PATH[lesson.page].state)
    st.session_state[KEY + "go"] = lesson.key


def _go(lesson: Lesson) -> None:
    """After the Open button: the lesson's page with its settings (a page switch cannot happen in a callback)."""
    if st.session_state.pop(KEY + "go", None) == lesson.key:
        st.switch_page(site.BY_PATH[lesson.page].script, query_params=lesson.link)


def _chosen(lessons: list[Lesson]) -> Lesson:
    """The lesson picked in the list; on the first visit the link's (``?lesson=01-overfitting``)."""
    keys = [lesson.key for lesson in lessons]
    s = st.session_state
    if KEY + "lesson" not in s:
        linked = st.query_params.get("lesson", keys[0])
        if linked not in keys:
            st.warning(f"Link parameter not used: lesson: expected one of {', '.join(keys)}, got {linked!r}")
            linked = keys[0]
        s[KEY + "lesson"] = linked
    titles = {lesson.key: f"{i}. {lesson.title}" for i, lesson in enumerate(lessons, 1)}
    st.radio("Lesson", keys, key=KEY + "lesson", format_func=titles.get, label_visibility="collapsed")
    return lessons[keys.index(s[KEY + "lesson"])]


def _lesson(lesson: Lesson, number: int) -> None:
    page = site.BY_PATH[lesson.page]
    title = page.named
    st.subheader(f"{number}. {lesson.title}")
    st.markdown(f"**Goal.** {lesson.goal}")
    st.markdown("**Predict first.** " + lesson.predict.text)
    guess = st.radio("Your prediction", range(len(lesson.predict.options)), index=None, key=f"{KEY}guess_{lesson.key}",
                     format_func=lambda i: lesson.predict.options[i])
    st.button(f"Open {title} with this lesson's settings", type="primary", icon=":material/play_arrow:",
              on_click=_start, args=(lesson,))
    _go(lesson)
    st.caption(f"Or share the link: `/{lesson.url}`. Then press **{page.start}**.")
    st.markdown(f"**Watch.** {lesson.watch}")
    with st.expander("Reveal the answer", icon=":material/visibility:"):
        right = lesson.predict.answer
        verdict = ("" if guess is None else "You predicted it. " if guess == right
                   else f"You predicted: *{lesson.predict.options[guess]}* ")
        st.markdown(f"{verdict}**Answer:** {lesson.predict.options[right]}")
        st.markdown(lesson.answer)
        st.markdown(f"**What you should see.** {lesson.numbers}")
        st.markdown(f"**What the paper found.** {lesson.paper}")
        claim = lesson.claim
        st.caption(f"Checked on every build, trained headless with seed{'s' * (len(claim.seeds) > 1)} "
                   f"{', '.join(map(str, claim.seeds))}"
                   f"{' (their mean)' if claim.over == 'mean' and len(claim.seeds) > 1 else ''}: "
                   + "; ".join(e.text for e in claim.expect) + ".")
    st.markdown(f"**Try next.** {lesson.try_next}")


def lessons_page() -> None:
    st.title("Lessons")
    present.explain("Short experiments that tell the story of dropout, in order. Each asks a question first: answer "
                    "it, open the page with the lesson's settings, press **Train** (**Run** on Sweeps), then come "
                    "back for the answer.")
    lessons, errors = load_lessons()
    for error in errors:
        st.error(f"A lesson file could not be read: {error}")
    if not lessons:
        return
    picker, body = st.columns([1, 3], gap="large")
    with picker:
        lesson = _chosen(lessons)
    with body:
        _lesson(lesson, lessons.index(lesson) + 1)
    st.query_params.from_dict({"lesson": lesson.key})


ensure_router()
lessons_page()
