"""The offline planner: questions skip what the brief states; storyboards fit time and structure.

Property tests run over briefs built from product / audience / tone / extra fragments plus a few
hand-written ones, durations in [5, 180] s and the common frame rates.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbvideo.model.look import palette_for
from nbvideo.model.state import MAX_SCENE_S, MIN_SCENE_S, Brief, Storyboard
from nbvideo.providers.base import PlanContext, Planner
from nbvideo.providers.local.planner import (
    LocalPlanner,
    analyze_brief,
    extract_product,
    scene_count,
    split_frames,
    voice_words,
)

PRODUCTS = ["waterproof trail shoe", "oat milk latte", "budgeting app", "vitamin C serum",
            "family dentist", "noise-cancelling headphones", "project management tool",
            "vegan protein bar", "electric bike", "pet insurance plan"]
AUDIENCES = ["for weekend hikers", "aimed at busy moms", "for small business owners",
             "targeting college students", ""]
TONES = ["gritty", "playful", "luxury", "calm", "energetic", "heartfelt", ""]
EXTRAS = ["shop now", "TikTok", "upbeat music", "on a rainy city street", "20% off",
          "with glowing customer reviews", "download the app", ""]
HANDWRITTEN = [
    "30s ad for a waterproof trail shoe",
    "Instagram reel promoting our new oat milk latte for busy moms, playful, shop now",
    "A 15-second spot for Bright Smile Dental, a family dentist in Austin. Book online today.",
    "60s commercial for a budgeting app aimed at young couples saving for a home",
    "Luxury face serum, 5-star reviews from real customers, 20% off this week, no music",
    "Cordless drill ad",
    "gritty ad for a waterproof trail shoe for weekend hikers on a muddy mountain trail, "
    "driving drum music, TikTok, shop now",
    "We need something for the launch of Flowly, a calm meditation app. Visit flowly.app",
]

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _compose(tone: str, product: str, audience: str, extra: str) -> str:
    text = f"{tone} ad for a {product} {audience}".strip()
    return f"{text}, {extra}" if extra else text


briefs = st.one_of(
    st.builds(_compose, st.sampled_from(TONES), st.sampled_from(PRODUCTS),
              st.sampled_from(AUDIENCES), st.sampled_from(EXTRAS)),
    st.sampled_from(HANDWRITTEN),
)
durations = st.floats(min_value=5, max_value=180, allow_nan=False, allow_infinity=False)
fpss = st.sampled_from([24, 25, 30])
seeds = st.integers(min_value=0, max_value=2**31 - 1)


def _questions(text: str, **brief: object) -> list:
    ctx = PlanContext(brief=Brief(text=text, **brief))
    return asyncio.run(LocalPlanner().questions(ctx)).questions


def _board(text: str, duration: float = 30, fps: int = 30, seed: int = 7,
           answers: dict[str, str] | None = None, ask: bool = True) -> Storyboard:
    brief = Brief(text=text, duration_s=duration, fps=fps)
    qs = _questions(text) if ask else []
    ctx = PlanContext(brief=brief, questions=qs, answers=answers or {}, seed=seed)
    return asyncio.run(LocalPlanner().storyboard(ctx)).storyboard


def test_is_a_planner_and_costs_nothing() -> None:
    p = LocalPlanner()
    assert isinstance(p, Planner)
    assert (p.provider, p.model) == ("local", "rule-planner-v1")
    ctx = PlanContext(brief=Brief(text=HANDWRITTEN[0]))
    q, s = asyncio.run(p.questions(ctx)), asyncio.run(p.storyboard(ctx))
    for usage in (q.usage, s.usage):
        assert usage.cost_usd == 0 and usage.unit_price_usd == 0 and usage.units > 0


# ------------------------------------------------------------------ questions

@SETTINGS
@given(text=briefs)
def test_questions_shape(text: str) -> None:
    qs = _questions(text)
    ids = [q.id for q in qs]
    assert 3 <= len(qs) <= 6
    assert len(set(ids)) == len(ids)
    for q in qs:
        assert q.help and q.prompt.endswith("?")
        assert q.default
        if q.kind == "choice":
            assert 3 <= len(q.choices) <= 6 and q.default in q.choices
            assert len(set(q.choices)) == len(q.choices)


@SETTINGS
@given(tone=st.sampled_from(TONES), product=st.sampled_from(PRODUCTS),
       audience=st.sampled_from(AUDIENCES), extra=st.sampled_from(EXTRAS))
def test_questions_skip_what_the_brief_states(tone: str, product: str, audience: str,
                                              extra: str) -> None:
    ids = {q.id for q in _questions(_compose(tone, product, audience, extra))}
    assert ("audience" in ids) == (not audience)
    assert ("tone" in ids) == (not tone)
    if extra in ("shop now", "download the app"):
        assert "cta" not in ids
    if extra == "TikTok":
        assert "platform" not in ids
    if extra == "upbeat music":
        assert "music" not in ids


@pytest.mark.parametrize(("text", "absent", "present"), [
    ("30s ad for a trail shoe for weekend hikers", {"audience"}, {"benefit", "tone", "cta"}),
    ("30s ad for a trail shoe, shop now", {"cta"}, {"audience", "benefit"}),
    ("30s ad for a waterproof trail shoe", {"benefit"}, {"audience", "tone", "cta"}),
    ("playful TikTok ad for a latte with upbeat music", {"tone", "platform", "music"},
     {"audience", "benefit", "cta"}),
    ("ad for a trail shoe, visit trailco.com", {"cta"}, {"audience"}),
])
def test_questions_specific(text: str, absent: set[str], present: set[str]) -> None:
    ids = {q.id for q in _questions(text)}
    assert not ids & absent
    assert present <= ids


def test_brief_that_says_everything_still_gets_three_questions() -> None:
    text = HANDWRITTEN[6]
    qs = _questions(text)
    assert len(qs) == 3
    assert {q.id for q in qs}.isdisjoint({"audience", "tone", "cta", "benefit"})
    setting = next(q for q in qs if q.id == "setting")
    assert setting.default == "On a muddy mountain trail"  # confirming what the brief said


def test_choices_follow_the_product_category() -> None:
    aud = {q.id: q for q in _questions("ad for a budgeting app")}["audience"].choices
    assert "First-time investors" in aud
    aud = {q.id: q for q in _questions("ad for a trail shoe")}["audience"].choices
    assert "Weekend hikers" in aud
    plat = {q.id: q for q in _questions("ad for a trail shoe", aspect="9:16")}["platform"]
    assert plat.default.startswith("TikTok")


def test_analyze_brief() -> None:
    f = analyze_brief(HANDWRITTEN[1])
    assert (f.product, f.category, f.audience, f.tone, f.cta) == (
        "oat milk latte", "drinks", "Busy moms", "Playful", "Shop now")
    f = analyze_brief("ad for an app, upbeat music, visit example.com")
    assert f.music == "Upbeat music" and f.tone is None and f.cta == "Visit example.com"
    f = analyze_brief("ad for new running socks aimed at marathon runners who hate blisters")
    assert f.audience == "Marathon runners" and f.product == "running socks"
    f = analyze_brief("ad for a pizza place, 20% off, on a rooftop in the city, no music")
    assert (f.offer, f.setting, f.music) == ("20% off", "On a rooftop", "No music")


@pytest.mark.parametrize(("text", "product"), [
    ("30s ad for a waterproof trail shoe", "waterproof trail shoe"),
    ("Instagram reel promoting our new oat milk latte, playful", "oat milk latte"),
    ("A 15-second spot for Bright Smile Dental, a family dentist", "Bright Smile Dental"),
    ("Cordless drill ad", "Cordless drill"),
    ("60s commercial for a budgeting app aimed at young couples", "budgeting app"),
    ("gritty TikTok ad for a trail shoe for weekend hikers", "trail shoe"),
    ("We need something for the launch of Flowly, a calm meditation app", "Flowly"),
    ("15s YouTube pre-roll for Acme CRM that saves sales teams hours", "Acme CRM"),
])
def test_extract_product(text: str, product: str) -> None:
    assert extract_product(text) == product


# ------------------------------------------------------------------ storyboard timing

@pytest.mark.parametrize(("duration", "lo", "hi"), [(15, 3, 4), (30, 5, 7), (60, 8, 12)])
@pytest.mark.parametrize("text", HANDWRITTEN + [_compose(t, "trail shoe", "", "") for t in TONES])
def test_scene_count_fits_duration(duration: float, lo: int, hi: int, text: str) -> None:
    assert lo <= len(_board(text, duration).scenes) <= hi


def test_long_briefs_get_longer_scenes_not_more() -> None:
    board = _board(HANDWRITTEN[0], 180, 24)
    assert len(board.scenes) == 12
    assert all(s.duration_s == MAX_SCENE_S for s in board.scenes)
    assert scene_count(5) == 3 and scene_count(100) == 12


@SETTINGS
@given(text=briefs, duration=durations, fps=fpss, seed=seeds)
def test_storyboard_invariants(text: str, duration: float, fps: int, seed: int) -> None:
    board = _board(text, duration, fps, seed)
    scenes = board.scenes
    assert 3 <= len(scenes) <= 12
    assert board.title and board.structure
    # timing: exact in frames, within scene limits
    assert abs(sum(s.duration_s for s in scenes) - duration) <= 0.5
    assert sum(round(s.duration_s * fps) for s in scenes) == round(duration * fps)
    for s in scenes:
        assert MIN_SCENE_S <= s.duration_s <= MAX_SCENE_S
        assert abs(s.duration_s * fps - round(s.duration_s * fps)) < 1e-3
    if 20 <= duration <= 60:
        assert 4 <= duration / len(scenes) <= 6.5
    # structure: hook first, call to action last, hook shorter than the longest scene
    assert scenes[0].beat == "hook" and scenes[-1].beat == "call-to-action"
    assert {s.beat for s in scenes[1:-1]}.isdisjoint({"hook", "call-to-action"})
    assert scenes[0].duration_s <= max(s.duration_s for s in scenes)
    # variety: never three equal shots in a row; camera moves vary too
    shots = [s.shot for s in scenes]
    assert all(not (a == b == c) for a, b, c in zip(shots, shots[1:], shots[2:], strict=False))
    assert len({s.camera for s in scenes}) >= 2
    # per-scene content
    assert len({s.id for s in scenes}) == len(scenes)
    for s in scenes:
        assert re.fullmatch(r"s[0-9a-f]{8}", s.id)
        assert 2 <= len(s.title.split()) <= 5, s.title
        assert 0 < len(s.on_screen_text) <= 40, s.on_screen_text
        assert s.description and s.visual_prompt and "{" not in s.description + s.visual_prompt
        assert not s.frame_takes and not s.clip_takes
        # the voice-over line fits its scene at the speaking rate, and reads as a sentence
        assert len(s.voice_line.split()) <= voice_words(s.duration_s), (s.duration_s, s.voice_line)
        assert "{" not in s.voice_line and ".." not in s.voice_line
    spoken = [s for s in scenes if s.duration_s >= 3]
    assert sum(1 for s in spoken if s.voice_line) >= len(spoken) - 1  # a script, not silence


@SETTINGS
@given(total_s=st.integers(5, 180), fps=fpss, weights=st.lists(
    st.floats(0.1, 5.0, allow_nan=False), min_size=3, max_size=12))
def test_split_frames(total_s: int, fps: int, weights: list[float]) -> None:
    n = len(weights)
    total = total_s * fps
    if not n * fps <= total <= n * 15 * fps:
        return
    out = split_frames(total, weights, fps, 15 * fps)
    assert sum(out) == total and all(fps <= f <= 15 * fps for f in out)


# ------------------------------------------------------------------ determinism and answers

@settings(max_examples=30, deadline=None)
@given(text=briefs, duration=durations, fps=fpss, seed=seeds)
def test_deterministic_for_a_seed(text: str, duration: float, fps: int, seed: int) -> None:
    a = _board(text, duration, fps, seed).model_dump()
    b = _board(text, duration, fps, seed).model_dump()
    assert a == b


def test_seed_changes_the_plan() -> None:
    dumps = {str(_board(HANDWRITTEN[0], seed=s).model_dump()) for s in range(8)}
    assert len(dumps) > 1


CTAS = ["Shop now", "Find your size", "Download free", "Book a table", "Visit trailco.com"]
AUDIENCE_ANSWERS = ["Weekend hikers", "Trail runners", "Busy parents", "Gen Z gamers"]
TONE_ANSWERS = ["Gritty", "Playful", "Luxury", "Calm", "Energetic", "Warm", "moody noir"]
SETTING_ANSWERS = ["On a muddy mountain trail", "In a misty forest", "rooftop garden"]


@SETTINGS
@given(text=briefs, duration=durations, cta=st.sampled_from(CTAS),
       audience=st.sampled_from(AUDIENCE_ANSWERS), tone=st.sampled_from(TONE_ANSWERS),
       setting=st.sampled_from(SETTING_ANSWERS), seed=seeds)
def test_answers_are_used(text: str, duration: float, cta: str, audience: str, tone: str,
                          setting: str, seed: int) -> None:
    answers = {"cta": cta, "audience": audience, "tone": tone, "setting": setting}
    scenes = _board(text, duration, 30, seed, answers).scenes
    assert cta in scenes[-1].on_screen_text
    descriptions = " ".join(s.description for s in scenes).lower()
    assert audience.lower() in descriptions
    assert setting.lower().removeprefix("in ").removeprefix("on ") in descriptions
    assert all(tone.lower() in s.visual_prompt.lower() for s in scenes)


def test_tone_changes_lighting_and_palette() -> None:
    gritty = _board(HANDWRITTEN[0], answers={"tone": "Gritty"}).scenes[0].visual_prompt
    playful = _board(HANDWRITTEN[0], answers={"tone": "Playful"}).scenes[0].visual_prompt
    assert "shadows" in gritty and "bright" in playful
    assert palette_for(HANDWRITTEN[0], {"tone": "Gritty"}) != palette_for(
        HANDWRITTEN[0], {"tone": "Playful"})


def test_platform_answer_does_not_change_timing() -> None:
    a = _board(HANDWRITTEN[0], answers={"platform": "TikTok / Reels / Shorts"})
    b = _board(HANDWRITTEN[0], answers={"platform": "Connected TV"})
    assert [s.duration_s for s in a.scenes] == [s.duration_s for s in b.scenes]


def test_question_defaults_fill_unanswered() -> None:
    board = _board("ad for a budgeting app", ask=True)
    assert "Open an account" in board.scenes[-1].on_screen_text
    board = _board("ad for a trail shoe for weekend hikers, shop now", ask=False)
    assert board.scenes[-1].on_screen_text == "Shop now"
    assert "weekend hikers" in " ".join(s.description for s in board.scenes)


@pytest.mark.parametrize(("text", "structure"), [
    ("30s ad for a trail shoe, 20% off this week", "offer"),
    ("30s ad for a trail shoe with glowing customer reviews", "testimonial"),
    ("30s ad for a trail shoe", "problem-solution"),
    ("15s ad for a trail shoe", "product-showcase"),
])
def test_structure_choice(text: str, structure: str) -> None:
    duration = 15 if text.startswith("15") else 30
    board = _board(text, duration)
    assert board.structure == structure
    if structure == "offer":
        assert any(s.beat == "offer" and "20% off" in s.on_screen_text for s in board.scenes)


def test_template_on_the_brief_picks_the_structure() -> None:
    brief = Brief(text="ad for a trail shoe", duration_s=30, template="testimonial")
    board = asyncio.run(LocalPlanner().storyboard(PlanContext(brief=brief))).storyboard
    assert board.structure == "testimonial"


# ------------------------------------------------------------------ palette

@SETTINGS
@given(text=briefs, tone=st.sampled_from(TONE_ANSWERS + [""]))
def test_palette(text: str, tone: str) -> None:
    answers = {"tone": tone} if tone else {}
    pal = palette_for(text, answers)
    assert 4 <= len(pal) <= 5 and pal == palette_for(text, answers)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in pal)

    def luma(c: str) -> float:
        r, g, b = (int(c[i:i + 2], 16) for i in (1, 3, 5))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    assert [luma(c) for c in pal] == sorted(luma(c) for c in pal)
