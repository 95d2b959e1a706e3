"""QuestionForm driven by simulated browser messages, checked against project.json."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("anywidget")

import nbvideo as nv
from nbvideo.widgets.questions import QuestionForm
from tests.wire import Wire, send


def on_disk(p: nv.Project) -> dict:
    return json.loads((p.path / "project.json").read_text())


def test_form_shows_every_question_with_its_choices(fresh, wire: Wire):
    fresh.ask()
    form = QuestionForm(fresh)
    ids = [q["id"] for q in form.questions]
    assert ids == fresh.questions.ids
    tone = next(q for q in form.questions if q["id"] == "tone")
    assert tone["kind"] == "choice" and "Gritty" in tone["choices"]
    assert form.answers == {}


def test_submitted_answers_are_saved_in_project_json(fresh, wire: Wire):
    fresh.ask()
    form = QuestionForm(fresh)
    mark = wire.mark()
    send(form, "answer", answers={"tone": "Warm", "cta": "Find your size"})
    assert on_disk(fresh)["answers"] == {"tone": "Warm", "cta": "Find your size"}
    assert form.answers == {"tone": "Warm", "cta": "Find your size"}
    assert wire.replies(mark)[-1]["ok"] is True


def test_a_bad_answer_saves_none_of_the_batch_and_says_why(fresh, wire: Wire):
    fresh.ask()
    form = QuestionForm(fresh)
    send(form, "answer", answers={"tone": "Warm"})
    before = (fresh.path / "project.json").read_bytes()
    send(form, "answer", answers={"cta": "Shop now", "tone": ""})  # tone is required
    assert "'tone' is required" in form.error
    assert (fresh.path / "project.json").read_bytes() == before
    send(form, "answer", answers={"tone": 42.5, "cta": ["not", "text"]})
    assert "must be text" in form.error
    assert on_disk(fresh)["answers"] == {"tone": "Warm"}


def test_reopened_project_shows_the_answers_given(fresh, wire: Wire):
    fresh.ask()
    send(QuestionForm(fresh), "answer", answers={"tone": "Playful"})
    path = fresh.path
    fresh.close()
    with nv.Project.open(path) as again:
        assert QuestionForm(again).answers == {"tone": "Playful"}
