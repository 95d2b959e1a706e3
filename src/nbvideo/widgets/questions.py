"""QuestionForm: the clarifying questions as cards; submitting records answers on the project."""

from __future__ import annotations

from typing import Any

import traitlets as t

from nbvideo import views
from nbvideo.widgets.base import ProjectView, action, esm


class QuestionForm(ProjectView):
    """The planner's questions, answerable with the keyboard alone; answers persist.

    Browser messages: ``answer {answers: {question_id: text}}`` -> ``Project.answer``.
    """

    _esm = esm("questions.js")
    questions = t.List(
        t.Dict(), help="Each question: id, prompt, kind (choice/text), choices, allow_other, "
        "required, default, help."
    ).tag(sync=True)
    answers = t.Dict(help="Answers recorded on the project so far, by question id.").tag(sync=True)

    def _state(self) -> dict[str, Any]:
        st = self.project.state
        return {"questions": [q.model_dump(mode="json") for q in st.questions],
                "answers": dict(st.answers)}

    @action("answer")
    def _answer(self, answers: dict[str, Any]) -> dict[str, str]:
        """Validates every answer first (Project.answer), so a bad one saves none of them."""
        return self.project.answer(**answers)

    def static_html(self) -> str:
        st = self.project.state
        return views.questions_html(st.questions, dict(st.answers))
