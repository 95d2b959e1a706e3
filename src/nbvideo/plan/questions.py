"""Phase 1: clarifying questions about what the brief leaves open, and their answers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from nbvideo.errors import InvalidInput, quote
from nbvideo.keys import redact
from nbvideo.model.checked import text_problem
from nbvideo.model.state import Question
from nbvideo.providers.base import (
    PlanContext,
    ProviderError,
    QuestionsResult,
    StoryboardResult,
)
from nbvideo.runtime.context import Runtime


def plan_context(rt: Runtime, fit_durations: tuple[float, ...] = ()) -> PlanContext:
    s = rt.state
    return PlanContext(brief=s.brief, questions=s.questions,
                       answers=effective_answers(s.questions, s.answers), seed=s.seed,
                       fit_durations=fit_durations)


R = TypeVar("R", QuestionsResult, StoryboardResult)


def planner_estimate(planner: Any, phase: Literal["questions", "storyboard"],
                     ctx: PlanContext) -> float:
    """What the money gate reserves for one planner call: the planner's own upper bound
    (`estimate_usd`, e.g. OpenAI's tokens at most), or 0 for a planner without a price."""
    estimate = getattr(planner, "estimate_usd", None)
    return float(estimate(phase, ctx)) if estimate is not None else 0.0


async def ask_planner(rt: Runtime, phase: Literal["questions", "storyboard"],
                      call: Callable[[PlanContext], Awaitable[R]], ctx: PlanContext) -> R:
    """Make one planner call through the money gate and log it; a failed paid call was
    still billed, so log that too."""
    planner = rt.providers.planner
    estimate = planner_estimate(planner, phase, ctx)
    common: dict[str, Any] = dict(phase=phase, provider=planner.provider, model=planner.model,
                                  estimated_usd=estimate or None)
    with rt.paid(phase=phase, provider=planner.provider, model=planner.model,
                 estimate_usd=estimate, item=f"{phase} from {planner.model}") as held:
        started = time.perf_counter()
        try:
            result = await call(ctx)
        except ProviderError as exc:
            held.actual_usd = exc.usage.cost_usd
            rt.log_usage(**common, usage=exc.usage, latency_s=time.perf_counter() - started,
                         status="failed", note=redact(str(exc))[:200])
            raise
        held.actual_usd = result.usage.cost_usd
        rt.log_usage(**common, usage=result.usage, latency_s=time.perf_counter() - started)
    return result


async def generate_questions(rt: Runtime, force: bool = False) -> list[Question]:
    """Ask the planner once; later calls reuse the stored questions (logged as a cache hit)."""
    planner = rt.providers.planner
    if rt.state.questions and not force:
        rt.log_cache_hit(phase="questions", provider=planner.provider, model=planner.model,
                         note="questions already asked")
        return rt.state.questions
    result = await ask_planner(rt, "questions", planner.questions, plan_context(rt))
    with rt.guard:
        rt.state.questions = result.questions
        known = {q.id for q in result.questions}
        rt.state.answers = {k: v for k, v in rt.state.answers.items() if k in known}
        rt.save()
    return result.questions


def validate_answers(questions: list[Question], given: dict[str, Any]) -> dict[str, str]:
    """Check answers against the questions; the error names the question and what is allowed."""
    by_id = {q.id: q for q in questions}
    out: dict[str, str] = {}
    for qid, value in given.items():
        q = by_id.get(qid)
        if q is None:
            raise InvalidInput(
                f"unknown question id {quote(qid)}; the questions are: {', '.join(by_id) or '(none yet)'}"
            )
        if value is None or not isinstance(value, str | int | float) or isinstance(value, bool):
            raise InvalidInput(f"answer to {qid!r} must be text, got {type(value).__name__}")
        text = " ".join(str(value).split())
        problem = text_problem(text)
        if problem:
            raise InvalidInput(f"answer to {qid!r}: text {problem}")
        if not text:
            if q.required:
                raise InvalidInput(f"answer to {qid!r} is required and cannot be empty ({q.prompt})")
            continue
        if len(text) > 500:
            raise InvalidInput(f"answer to {qid!r} is {len(text)} characters; at most 500")
        if q.kind == "choice" and not q.allow_other:
            match = next((c for c in q.choices if c.lower() == text.lower()), None)
            if match is None:
                raise InvalidInput(f"answer to {qid!r} must be one of: {', '.join(q.choices)}")
            text = match
        out[qid] = text
    return out


def effective_answers(questions: list[Question], answers: dict[str, str]) -> dict[str, str]:
    """Given answers, with each unanswered question's default filled in."""
    out = {q.id: q.default for q in questions if q.default}
    out.update(answers)
    return {k: v for k, v in out.items() if v}
