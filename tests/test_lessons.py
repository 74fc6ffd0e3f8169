"""Lesson files: every shipped lesson loads and opens a page it can run on; a malformed one is reported by file and
field; claims are judged as written (the training behind them: test_lesson_claims.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.lessons import load_lessons
from explorer.lessons.claims import judge, runner_for, settings_of
from explorer.lessons.lesson import LESSONS_DIR, LessonError, read_lesson

GOOD = (LESSONS_DIR / "02-dropout-closes-the-gap.toml").read_text(encoding="utf-8")


def _write(tmp_path: Path, text: str, name: str = "09-mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_shipped_lesson_loads_and_its_link_is_one_its_page_uses():
    lessons, errors = load_lessons()
    assert errors == []
    assert [lesson.key.split("-")[0] for lesson in lessons] == ["01", "02", "03", "04", "05", "05b", "06", "07", "08"]
    for lesson in lessons:
        runner_for(lesson)
        settings_of(lesson)
        assert lesson.predict.answer in range(len(lesson.predict.options))


def test_a_lesson_reads_as_written():
    lesson = read_lesson(LESSONS_DIR / "01-overfitting.toml")
    assert lesson.page == "playground"
    assert lesson.link == {"dataset": "moons", "label_noise": "0.1", "epochs": "300", "batch_size": "100", "p": "0",
                           "compare": "0"}
    assert lesson.url == "playground?dataset=moons&label_noise=0.1&epochs=300&batch_size=100&p=0&compare=0"
    assert lesson.predict.answer == 1  # the file counts options from 1
    assert lesson.claim.seeds == (0, 1, 2) and lesson.claim.over == "each"


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace('title = "Dropout closes the gap"\n', ""), "09-mine.toml: title: missing"),
    (lambda t: t.replace('title = "Dropout closes the gap"', "title = 3"), "09-mine.toml: title: expected text, got 3"),
    (lambda t: t.replace('title = "Dropout closes the gap"', 'title = "  "'), "09-mine.toml: title: empty"),
    (lambda t: 'colour = "red"\n' + t, "09-mine.toml: colour: unknown field"),
    (lambda t: t + 'colour = "red"\n', "09-mine.toml: claim.expect[3].colour: unknown field; expected left, op"),
    (lambda t: t.replace("answer = 2\n", "answer = 4\n", 1), "09-mine.toml: predict.answer: the number of the right "
                                                             "option, 1 to 3; got 4"),
    (lambda t: t.replace("answer = 2\n", "answer = true\n", 1), "09-mine.toml: predict.answer: expected a whole number"),
    (lambda t: t.replace('op = ">="', 'op = "=>"', 1), "09-mine.toml: claim.expect[1].op: expected one of >, >=, <, "
                                                      "<=, got '=>'"),
    (lambda t: t.replace("seeds = [0, 1, 2]", "seeds = []"), "09-mine.toml: claim.seeds: expected a list of seeds"),
    (lambda t: t.replace('over = "each"', 'over = "most"'), "09-mine.toml: claim.over: expected one of each, mean"),
    (lambda t: t.replace("p = 0.5\n", "p = [0.5]\n", 1), "09-mine.toml: link.p: expected text or a number"),
    (lambda t: t.replace("[reveal]\n", "[reveal]\nhint = 1\n"), "09-mine.toml: reveal.hint: unknown field"),
    (lambda t: t.replace("epochs = 300", "epochs = 300\nepochs = 4"), "09-mine.toml: not valid TOML"),
])
def test_a_malformed_lesson_names_its_file_and_field(tmp_path, change, message):
    with pytest.raises(LessonError) as err:
        read_lesson(_write(tmp_path, change(GOOD)))
    assert str(err.value).startswith(message)


def test_a_file_that_is_not_text(tmp_path):
    path = tmp_path / "09-binary.toml"
    path.write_bytes(b"\xff\xfe\x00title")
    with pytest.raises(LessonError, match="09-binary.toml: not UTF-8 text"):
        read_lesson(path)


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace('page = "playground"', 'page = "gallery"'), "09-mine.toml: page: no lesson can run on "
                                                                      "'gallery'; choose from playground, inside"),
    (lambda t: t.replace('dataset = "moons"', 'dataset = "mnist"'), "09-mine.toml: link: dataset: the Playground "
                                                                    "trains on 2-D toy data (moons"),
    (lambda t: t.replace("epochs = 300", "epochs = 0"), "09-mine.toml: link: epochs: "),
    (lambda t: t.replace("epochs = 300", "epoch = 300"), "09-mine.toml: link: unknown parameter 'epoch'"),
])
def test_a_link_its_page_would_not_use_is_an_error_before_anything_trains(tmp_path, change, message):
    _write(tmp_path, change(GOOD))
    lessons, errors = load_lessons(tmp_path)
    assert lessons == [] and len(errors) == 1
    assert errors[0].startswith(message)


def test_a_bad_file_is_reported_and_the_others_load(tmp_path):
    _write(tmp_path, GOOD, "01-good.toml")
    _write(tmp_path, GOOD.replace('goal = "', 'goal = 1 #'), "02-bad.toml")
    lessons, errors = load_lessons(tmp_path)
    assert [lesson.key for lesson in lessons] == ["01-good"]
    assert errors == ["02-bad.toml: goal: expected text, got 1"]


def test_a_claim_is_judged_per_seed_or_on_the_mean(tmp_path):
    lesson = read_lesson(_write(tmp_path, GOOD))
    metrics = {0: {"dropout.val_acc": 0.90, "no_dropout.val_acc": 0.85, "dropout.val_loss": 0.3,
                   "no_dropout.val_loss": 0.6, "dropout.train_acc": 0.9, "no_dropout.train_acc": 1.0},
               1: {"dropout.val_acc": 0.86, "no_dropout.val_acc": 0.85, "dropout.val_loss": 0.3,
                   "no_dropout.val_loss": 0.6, "dropout.train_acc": 0.9, "no_dropout.train_acc": 1.0}}
    each = judge(lesson, metrics)
    assert [o.holds for o in each] == [False, True, True]  # seed 1 gains 1 point, the lesson promises 2
    assert each[0].left == [0.90, 0.86] and each[0].bound == pytest.approx([0.87, 0.87])
    assert each[1].bound == pytest.approx([0.45, 0.45])  # times 0.75
    mean = judge(read_lesson(_write(tmp_path, GOOD.replace('over = "each"', 'over = "mean"'))), metrics)
    assert mean[0].holds and mean[0].left == [pytest.approx(0.88)]


def test_a_metric_the_page_does_not_have_is_an_error_of_the_file(tmp_path):
    lesson = read_lesson(_write(tmp_path, GOOD.replace('left = "dropout.val_acc"', 'left = "dropout.val_accuracy"')))
    with pytest.raises(LessonError, match="09-mine.toml: claim: no metric 'dropout.val_accuracy' on this page"):
        judge(lesson, {0: {"dropout.val_acc": 0.9}})


LAB_LESSON = (LESSONS_DIR / "08-variants-and-schedules.toml").read_text(encoding="utf-8")


def test_a_lab_lesson_sets_a_lanes_own_settings_as_its_link_does(tmp_path):
    _write(tmp_path, LAB_LESSON.replace('variants = "', '"early.schedule_cutoff" = 50\n"late.p" = 0.3\nvariants = "'))
    [lesson], errors = load_lessons(tmp_path)
    lanes = runner_for(lesson).parse({k: str(v) for k, v in lesson.link.items()})
    by_key = {e.variant: e for e in lanes}
    assert errors == [] and by_key["early"].schedule_cutoff == 50 and by_key["late"].p == 0.3
    assert by_key["standard"].p == by_key["gaussian"].p != 0.3


def test_a_lab_lessons_bad_lane_setting_is_an_error_of_the_file(tmp_path):
    _write(tmp_path, LAB_LESSON.replace('variants = "', '"early.schedule_cutoff" = -1\nvariants = "'))
    lessons, [error] = load_lessons(tmp_path)
    assert lessons == [] and error.startswith("09-mine.toml: link: early.schedule_cutoff: ")
