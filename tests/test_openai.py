"""The OpenAI provider through the real SDK (AsyncOpenAI) over HTTP to the API double on 127.0.0.1.

No test touches the internet and none asserts an upper time bound.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from nbvideo import keys
from nbvideo.errors import InvalidInput
from nbvideo.model.state import MAX_SCENE_S, MIN_SCENE_S, Brief, Question
from nbvideo.providers.base import FrameModel, FrameRequest, PlanContext, Planner
from nbvideo.providers.local.planner import voice_words
from nbvideo.providers.openai import (
    OpenAIImageFrames,
    OpenAIPlanner,
    ProviderAPIError,
    ProviderOutputError,
)
from tests.doubles.openai_double import OpenAIDouble, default_storyboard, start_openai_double

KEY = "sk-test-" + "x" * 30
BRIEF = "30s ad for a waterproof trail shoe"
QID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
SID = re.compile(r"^s[0-9a-f]{8}$")


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A developer's real key or base URL must never reach these tests (or the internet)."""
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)
    keys.forget_keys()
    yield
    keys.forget_keys()


@pytest.fixture
def double() -> Iterator[OpenAIDouble]:
    d = start_openai_double(api_key=KEY)
    yield d
    d.stop()


def planner(double: OpenAIDouble, **kw: Any) -> OpenAIPlanner:
    return OpenAIPlanner(api_key=KEY, base_url=double.base_url, max_retries=2, **kw)


def context(duration_s: float = 30.0, fps: int = 30,
            answers: dict[str, str] | None = None) -> PlanContext:
    questions = [Question(id="audience", prompt="Who is the ad for?", kind="text"),
                 Question(id="tone", prompt="What tone?", kind="choice",
                          choices=["gritty", "playful"])]
    return PlanContext(brief=Brief(text=BRIEF, duration_s=duration_s, fps=fps, aspect="9:16"),
                       questions=questions if answers else [], answers=answers or {})


def check_storyboard(sb: Any, ctx: PlanContext) -> None:
    fps = ctx.brief.fps
    assert sum(round(s.duration_s * fps) for s in sb.scenes) == round(ctx.brief.duration_s * fps)
    assert all(abs(s.duration_s * fps - round(s.duration_s * fps)) < 1e-3 for s in sb.scenes)
    assert all(MIN_SCENE_S <= s.duration_s <= MAX_SCENE_S for s in sb.scenes)
    assert sb.scenes[0].beat == "hook" and sb.scenes[-1].beat == "call-to-action"
    ids = [s.id for s in sb.scenes]
    assert all(SID.match(i) for i in ids) and len(set(ids)) == len(ids)


# --------------------------------------------------------------------------- happy paths

def test_questions_parse_into_state_types(double: OpenAIDouble) -> None:
    p = planner(double)
    assert isinstance(p, Planner) and p.provider == "openai" and p.model == "gpt-6-luna"
    result = asyncio.run(p.questions(context()))
    assert 3 <= len(result.questions) <= 6
    assert all(isinstance(q, Question) and QID.match(q.id) for q in result.questions)
    assert result.questions[0].id == "audience" and result.questions[2].kind == "text"
    assert result.usage.request_id == "chatcmpl-double1"
    assert result.usage.units == double.tokens["prompt"] + double.tokens["completion"]
    assert result.usage.cost_usd == pytest.approx(double.charged_usd) and double.charged_usd > 0


def test_storyboard_is_timed_to_the_brief_in_whole_frames(double: OpenAIDouble) -> None:
    ctx = context(answers={"audience": "weekend hikers", "tone": "gritty"})
    result = asyncio.run(planner(double).storyboard(ctx))
    sb = result.storyboard
    check_storyboard(sb, ctx)
    assert [s.beat for s in sb.scenes] == ["hook", "problem", "product", "proof", "call-to-action"]
    assert sb.structure == "problem-solution" and sb.title
    assert result.usage.cost_usd == pytest.approx(double.charged_usd)
    again = asyncio.run(planner(double).storyboard(ctx)).storyboard
    assert [s.id for s in again.scenes] == [s.id for s in sb.scenes]  # deterministic ids


def test_request_carries_brief_answers_and_a_strict_schema(double: OpenAIDouble) -> None:
    ctx = context(answers={"audience": "weekend hikers", "tone": "gritty"})
    asyncio.run(planner(double).storyboard(ctx))
    req = double.requests[-1]
    body = req["body"]
    assert req["headers"]["authorization"] == f"Bearer {KEY}"
    assert body["model"] == "gpt-6-luna"
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["name"] == "StoryboardOut"
    scene = fmt["json_schema"]["schema"]["$defs"]["SceneOut"]
    assert scene["additionalProperties"] is False
    assert set(scene["required"]) == set(scene["properties"])
    assert "call-to-action" in scene["properties"]["beat"]["enum"]
    system, user = (m["content"] for m in body["messages"])
    assert "hook" in system and "visual_prompt" in system and "8-12" in system
    for needle in (BRIEF, "weekend hikers", "gritty", "30 seconds", "9:16", "30 fps", "5-7 scenes"):
        assert needle in user


# --------------------------------------------------------------------------- messy answers

def test_messy_questions_are_normalised(double: OpenAIDouble) -> None:
    def q(qid: str, kind: str = "text", choices: list[str] | None = None) -> dict[str, Any]:
        return {"id": qid, "prompt": f"Question {qid}?", "kind": kind,
                "choices": choices or [], "default": "", "help": ""}

    double.push({"questions": [
        q("Target Audience!", "choice", ["Hikers", "Runners", "hikers "]), q("1tone"),
        q("tone"), q("tone"), q("", "text", ["leftover"]), q("music", "choice", ["only one"]),
        q("seventh"),
    ]})
    qs = asyncio.run(planner(double).questions(context())).questions
    assert [x.id for x in qs] == ["target_audience", "tone", "tone_2", "tone_3", "q5", "music"]
    assert qs[0].kind == "choice" and qs[0].choices == ["Hikers", "Runners", "hikers"]
    assert qs[4].choices == [] and qs[5].kind == "text" and qs[5].choices == []
    assert all(x.default is None for x in qs)


def test_too_few_questions_are_topped_up_from_the_offline_planner(double: OpenAIDouble) -> None:
    double.push({"questions": [{"id": "tone", "prompt": "Tone?", "kind": "text", "choices": [],
                                "default": "gritty", "help": ""}]})
    qs = asyncio.run(planner(double).questions(context())).questions
    assert len(qs) == 3 and qs[0].id == "tone" and len({x.id for x in qs}) == 3


def test_messy_storyboard_is_reordered_and_retimed(double: OpenAIDouble) -> None:
    sb = default_storyboard()
    beats = [("problem", 10.0), ("hook", 5.0), ("call-to-action", 10.0), ("product", 10.0),
             ("benefit", 5.0)]  # 40 s for a 30 s brief, hook and CTA misplaced
    sb["scenes"] = [dict(sb["scenes"][0], beat=b, duration_s=d, title=b) for b, d in beats]
    double.push(sb)
    ctx = context()
    out = asyncio.run(planner(double).storyboard(ctx)).storyboard
    check_storyboard(out, ctx)
    assert [s.title for s in out.scenes] == ["hook", "problem", "product", "benefit",
                                             "call-to-action"]
    assert [s.duration_s for s in out.scenes] == [3.766667, 7.5, 7.5, 3.733333, 7.5]


def test_too_many_scenes_are_cut_and_timed_within_limits(double: OpenAIDouble) -> None:
    sb = default_storyboard()
    sb["scenes"] = sb["scenes"][:1] * 3 + sb["scenes"][1:] * 2  # 11 scenes for a 5 s ad
    double.push(sb)
    ctx = context(duration_s=5, fps=12)
    out = asyncio.run(planner(double).storyboard(ctx)).storyboard
    check_storyboard(out, ctx)
    assert len(out.scenes) == 3  # a short format gets few scenes, as offline (issue 23)


def test_the_length_is_a_constraint_and_the_plan_is_held_to_it(double: OpenAIDouble) -> None:
    """The brief says 15 s, the project is 6 s: the model is told 6 s wins; its long plan is
    cut to a bumper's scenes, re-timed to 6 s, and no voice line runs over its scene."""
    sb = default_storyboard()
    sb["scenes"] = [dict(sc, duration_s=5.0, voice_line="This line is written for a much "
                         "longer scene. It keeps going well past what fits.")
                    for sc in sb["scenes"]]
    double.push(sb)
    ctx = PlanContext(brief=Brief(text="15s ad for a bike light", duration_s=6, fps=12))
    out = asyncio.run(planner(double).storyboard(ctx)).storyboard
    check_storyboard(out, ctx)
    assert 2 <= len(out.scenes) <= 3
    assert sum(s.duration_s for s in out.scenes) == pytest.approx(6, abs=0.5)
    assert all(len(s.voice_line.split()) <= voice_words(s.duration_s) for s in out.scenes)
    user = double.bodies()[-1]["messages"][1]["content"]
    assert "the ad runs exactly 6 seconds; if the brief names another length, 6 seconds wins" \
        in user


def test_a_plan_too_short_for_the_ad_is_retried_then_refused(double: OpenAIDouble) -> None:
    sb = default_storyboard()
    sb["scenes"] = sb["scenes"][:2]
    double.push(sb)
    double.push(sb)
    with pytest.raises(ProviderOutputError, match="needs at least 4"):
        asyncio.run(planner(double).storyboard(context(duration_s=60)))
    assert double.counts["/v1/chat/completions"] == 2


# --------------------------------------------------------------------------- bad output

@pytest.mark.parametrize("fault", ["malformed", "refusal", "length", "content_filter",
                                   "garbage"])
def test_one_unusable_answer_is_asked_again(double: OpenAIDouble, fault: str) -> None:
    double.fail(fault)
    ctx = context()
    result = asyncio.run(planner(double).storyboard(ctx))
    check_storyboard(result.storyboard, ctx)
    assert double.counts["/v1/chat/completions"] == 2
    retry = double.bodies()[-1]["messages"][-1]
    assert retry["role"] == "user" and "could not be used" in retry["content"]
    assert result.usage.units == double.tokens["prompt"] + double.tokens["completion"]
    assert result.usage.cost_usd == pytest.approx(double.charged_usd)  # both attempts billed
    assert result.usage.request_id == "chatcmpl-double2"


def test_malformed_twice_is_a_clear_error_that_keeps_the_cost(double: OpenAIDouble) -> None:
    double.fail("malformed", times=2)
    with pytest.raises(ProviderOutputError, match="not valid StoryboardOut JSON") as info:
        asyncio.run(planner(double).storyboard(context()))
    assert "after 2 attempts" in str(info.value)
    assert double.charged_usd > 0
    assert info.value.usage.cost_usd == pytest.approx(double.charged_usd)


def test_refusal_twice_names_the_refusal(double: OpenAIDouble) -> None:
    double.fail("refusal", times=2, text="I can't write ads for that product.")
    with pytest.raises(ProviderOutputError, match="refused: I can't write ads for that product"):
        asyncio.run(planner(double).questions(context()))
    assert double.counts["/v1/chat/completions"] == 2


# --------------------------------------------------------------------------- network faults

def test_rate_limit_is_retried_by_the_sdk_honouring_retry_after(double: OpenAIDouble) -> None:
    double.fail("429", retry_after="0.8")  # longer than the SDK's own first backoff (<= 0.5 s)
    result = asyncio.run(planner(double).questions(context()))
    assert len(result.questions) >= 3
    first, second = double.requests
    assert double.counts["/v1/chat/completions"] == 2
    assert second["time"] - first["time"] >= 0.75  # a lower bound only: never flaky
    assert second["headers"]["x-stainless-retry-count"] == "1"
    assert result.usage.cost_usd == pytest.approx(double.charged_usd)  # the 429 was not billed


def test_server_errors_are_retried_then_raised_as_a_provider_error(double: OpenAIDouble) -> None:
    double.fail("500", times=2, retry_after="0.01")
    asyncio.run(planner(double).questions(context()))
    assert double.counts["/v1/chat/completions"] == 3
    double.fail("500", times=3, retry_after="0.01")
    with pytest.raises(ProviderAPIError, match="server had an error") as info:
        asyncio.run(planner(double).questions(context()))
    assert info.value.status == 500 and double.counts["/v1/chat/completions"] == 6


# --------------------------------------------------------------------------- keys

def test_missing_key_names_the_environment_variable() -> None:
    with pytest.raises(keys.MissingKey, match="OPENAI_API_KEY"):
        OpenAIPlanner()
    with pytest.raises(keys.MissingKey, match="OPENAI_API_KEY"):
        OpenAIPlanner(base_url="https://llm.example.com/v1")


def test_a_local_server_needs_no_key() -> None:
    d = start_openai_double(api_key="not-needed")
    try:
        p = OpenAIPlanner("llama3.1:8b", base_url=d.base_url)  # not in the catalog: price 0
        result = asyncio.run(p.questions(context()))
        assert len(result.questions) >= 3 and result.usage.cost_usd == 0
        assert result.usage.units > 0 and d.bodies()[0]["model"] == "llama3.1:8b"
    finally:
        d.stop()


def test_the_key_never_shows_in_errors_or_reprs(double: OpenAIDouble) -> None:
    p = planner(double)
    for text in (repr(p), str(p), repr(vars(p))):
        assert KEY not in text
    double.fail("401")  # the double echoes the bearer token back, as a careless server might
    with pytest.raises(ProviderAPIError) as info:
        asyncio.run(p.questions(context()))
    assert info.value.status == 401 and "***" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    double.fail("refusal", times=2, text=f"I will not use {KEY}")
    with pytest.raises(ProviderOutputError) as out:
        asyncio.run(p.questions(context()))
    assert KEY not in str(out.value) and "I will not use ***" in str(out.value)


def test_only_openai_text_models_are_accepted() -> None:
    with pytest.raises(InvalidInput, match="gpt-4o-mini"):
        OpenAIPlanner("flux-schnell", api_key=KEY)


# --------------------------------------------------------------------------- frames

def test_image_frames_are_cropped_to_the_frame_size(double: OpenAIDouble, tmp_path: Path) -> None:
    frames = OpenAIImageFrames(api_key=KEY, base_url=double.base_url, max_retries=2)
    assert isinstance(frames, FrameModel) and frames.model == "gpt-image-2.6-flare"
    double.fail("429", retry_after="0.01")
    req = FrameRequest(scene_number=1, beat="hook", description="A hiker in rain",
                       visual_prompt="close-up of a trail shoe in a puddle", shot="close-up",
                       camera="push-in", aspect="9:16", width=720, height=1280,
                       palette=["#102030"])
    out = tmp_path / "frames" / "s1.png"
    result = asyncio.run(frames.frame(req, out))
    with Image.open(out) as im:
        assert im.size == (720, 1280) and im.format == "PNG"
    body = double.bodies("/v1/images/generations")[-1]
    assert body["size"] == "1024x1536" and body["model"] == "gpt-image-2.6-flare"
    assert "trail shoe in a puddle" in body["prompt"] and "No text" in body["prompt"]
    assert result.usage.cost_usd == pytest.approx(double.charged_usd) == 0.06
    assert result.usage.request_id == "req_double2" and not list(out.parent.glob("*.part"))
    assert math.isclose(result.width / result.height, 9 / 16)
