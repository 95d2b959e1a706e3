"""What the OpenAI planner asks for and how its answers become our state types.

Pure functions and pydantic models, no SDK: the wire models the strict JSON schema is built
from, the prompts, and the normalising that turns a model's answer (which may have 7 questions,
bad ids, or durations that do not add up) into the same Questions and Storyboard the offline
planner returns, within every limit in model/state.py.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Literal

from pydantic import ConfigDict, Field

from nbvideo.model import complexity as profile
from nbvideo.model.checked import Checked
from nbvideo.model.state import (
    MAX_SCENE_S,
    MIN_SCENE_S,
    Beat,
    CameraMove,
    Question,
    Scene,
    ShotType,
    Storyboard,
)
from nbvideo.providers.base import PlanContext
from nbvideo.providers.local.planner import plan_questions, voice_words
from nbvideo.providers.local.timing import by_weight, fit_lengths, split_duration

ORIENTATION = {"16:9": "horizontal", "9:16": "vertical", "1:1": "square", "4:5": "portrait"}


# --------------------------------------------------------------------------- wire models
# Strict structured outputs need every field required and no free-form dicts; the enums come
# from model/state.py so the API itself refuses a beat or camera move we cannot render.

class _Wire(Checked):
    model_config = ConfigDict(extra="forbid")


class QuestionOut(_Wire):
    id: str = Field(description="short snake_case key, e.g. 'audience'")
    prompt: str = Field(description="the question, one short plain sentence")
    kind: Literal["choice", "text"]
    choices: list[str] = Field(description="3-5 short options for 'choice'; empty for 'text'")
    default: str = Field(description="best guess from the brief")
    help: str = Field(description="one sentence: how the answer changes the ad")


class QuestionsOut(_Wire):
    questions: list[QuestionOut]


class ComplexityOut(_Wire):
    """The scene's complexity profile (model/complexity.py), every flag answered."""

    people: bool = Field(description="people or faces on screen")
    fast_motion: bool = Field(description="fast action: running, jumping, splashing, sport")
    camera_move: bool = Field(description="the camera moves (true unless camera is static)")
    legible_text: bool = Field(description="text or a logo in the picture that must stay "
                               "readable: a label, a sign, a screen, a wordmark")
    product_closeup: bool = Field(description="a close-up or detail shot of the product")
    dialogue: bool = Field(description="someone on screen speaks (lips must match the words)")


class SceneOut(_Wire):
    beat: Beat
    title: str
    description: str
    visual_prompt: str
    shot: ShotType
    camera: CameraMove
    duration_s: float
    on_screen_text: str
    voice_line: str
    # Required in the strict schema the SDK sends (nullable: None defaults are stripped);
    # an answer without it (or null) gets the profile derived from the scene's fields.
    complexity: ComplexityOut | None = None


class StoryboardOut(_Wire):
    title: str
    structure: str
    scenes: list[SceneOut]



# --------------------------------------------------------------------------- prompts

QUESTIONS_SYSTEM = """\
You are the creative director of a studio that makes short video ads. Before storyboarding, you \
ask the client a few clarifying questions about what their brief leaves open.
- Ask 3 to 6 questions, most useful first. Ask only what the brief does not already settle. \
Never ask about length, aspect ratio or frame rate: they are fixed.
- Good topics: target audience, the one key benefit, tone, call to action, platform, visual \
style, setting, music, offer, brand must-haves.
- id: a short snake_case key ("audience", "tone", "cta").
- kind "choice" with 3-5 short, concrete, distinct choices whenever sensible answers can be \
listed; kind "text" with an empty choices list otherwise.
- default: your best guess from the brief (for a choice question, one of its choices).
- help: one sentence on how the answer changes the ad."""

STORYBOARD_SYSTEM = """\
You are the creative director and storyboard artist of a studio that makes short video ads. \
Turn the brief and the client's answers into a storyboard: an ordered list of scenes, one shot \
each. A text-to-image model draws each scene's frame and an image-to-video model animates it.
Structure: build the ad from these beats: hook, problem, product, benefit, proof, offer, \
call-to-action. The first scene is always the hook (stop the scroll in the first 2 seconds) and \
the last is always the call-to-action; choose the middle beats this brief needs, in a persuasive \
order. In `structure` name the pattern: problem-solution, product-showcase, testimonial, offer, \
or a short kebab-case name of your own.
Scene count: about one scene per 4-6 seconds (6 s bumper: 2-3 scenes, 15 s: 3-4, 30 s: 5-7, \
60 s: 8-12).
Durations: duration_s per scene between 1 and 15 seconds, summing to the ad's length; keep \
the hook short.
Per scene:
- title: 2-5 words. description: what happens, 1-2 sentences, for the director.
- visual_prompt: a self-contained text-to-image prompt for one still frame, 30-70 words: the \
subject and what it is doing, the setting, shot type and camera angle, lighting, colour palette, \
mood and visual style (e.g. "cinematic photo, 35mm lens, shallow depth of field"). Describe the \
product and any recurring person the same way in every scene so they stay consistent. Use \
concrete, visible details, not marketing words. No text, logos, captions or watermarks in the \
image: words belong in on_screen_text. Compose for the frame's aspect ratio.
- shot: wide, medium, close-up or detail; vary it between neighbouring scenes.
- camera: the move the clip makes: static, push-in, pull-out, pan-left, pan-right, tilt-up or \
tilt-down.
- on_screen_text: at most 40 characters, readable on a phone, or "" for none; the \
call-to-action scene states the call to action.
- voice_line: what the voice-over says during this scene, spoken at about 2.5 words a second \
with a short breath, so at most 2 words per second of the scene; "" for silence. Lines across \
the scenes read as one script.
- complexity: what makes the clip hard to generate, each true or false: people (people or \
faces on screen), fast_motion, camera_move (true unless camera is static), legible_text (text \
or a logo in the picture that must stay readable), product_closeup, dialogue (someone on \
screen speaks). A router picks a better, dearer video model for harder scenes: be accurate.
Use the client's answers (audience, tone, benefit, call to action, ...) throughout."""


def scene_range(duration_s: float) -> tuple[int, int]:
    """The scene count to ask for: about one per 4-6 s, 3..12, and what scene limits allow."""
    lo = max(3, min(8, math.floor(duration_s / 6)))
    hi = min(12, max(lo, math.floor(duration_s / 4 + 0.25)))
    need, most = math.ceil(duration_s / MAX_SCENE_S - 1e-9), math.floor(duration_s / MIN_SCENE_S)
    return max(min(lo, most), need), max(min(hi, most), need)


def _format(ctx: PlanContext) -> str:
    b = ctx.brief
    lines = [f"Brief: {b.text}", (f"Format: {b.duration_s:g} seconds, {b.aspect} "
                                  f"({ORIENTATION[b.aspect]}), {b.fps} fps, {b.resolution}."),
             f"Length: the ad runs exactly {b.duration_s:g} seconds; if the brief names "
             f"another length, {b.duration_s:g} seconds wins."]
    if b.template:
        lines.append(f"Requested structure: {b.template}.")
    return "\n".join(lines)


def _answers(ctx: PlanContext) -> str:
    asked = {q.id: q.prompt for q in ctx.questions}
    given = [f"- {asked.get(k, k.replace('_', ' '))} ({k}): {' '.join(v.split())[:300]}"
             for k, v in ctx.answers.items() if v and v.strip()]
    return ("The client's answers:\n" + "\n".join(given)) if given else \
        "The client gave no answers: decide from the brief."


def questions_messages(ctx: PlanContext) -> list[dict[str, str]]:
    return [{"role": "system", "content": QUESTIONS_SYSTEM},
            {"role": "user", "content": _format(ctx) + "\nAsk your clarifying questions."}]


def storyboard_messages(ctx: PlanContext) -> list[dict[str, str]]:
    lo, hi = scene_range(ctx.brief.duration_s)
    count = f"{lo}" if lo == hi else f"{lo}-{hi}"
    user = (f"{_format(ctx)}\n{_answers(ctx)}\n"
            f"Plan {count} scenes whose durations add up to {ctx.brief.duration_s:g} seconds.")
    if ctx.fit_durations:
        user += ("\nThe video model makes clips of exactly "
                 + " or ".join(f"{d:g}" for d in sorted(ctx.fit_durations))
                 + " seconds: give every scene one of those durations, so no paid second "
                   "is cut away.")
    return [{"role": "system", "content": STORYBOARD_SYSTEM}, {"role": "user", "content": user}]


# --------------------------------------------------------------------------- normalising

class _Unusable(ValueError):
    """Valid JSON that still cannot become a plan (e.g. too few scenes): worth one retry."""


def _clip(s: str, limit: int) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else (s[: limit + 1].rsplit(" ", 1)[0] or s)[:limit]


def _clean_id(raw: str, n: int, taken: set[str]) -> str:
    """A Question id ('^[a-z][a-z0-9_]{0,39}$'), unique among `taken`."""
    s = re.sub(r"^[^a-z]+", "", re.sub(r"[^a-z0-9]+", "_", raw.lower()).strip("_"))
    s = s[:40].rstrip("_") or f"q{n}"
    base, k = s[:36].rstrip("_"), 2
    while s in taken:
        s, k = f"{base}_{k}", k + 1
    taken.add(s)
    return s


def to_questions(out: QuestionsOut, ctx: PlanContext) -> list[Question]:
    """3-6 valid questions: ids cleaned and unique, kinds fit their choices; short lists are
    topped up from the offline planner so the form is never empty."""
    taken: set[str] = set()
    result: list[Question] = []
    for i, q in enumerate(out.questions, 1):
        prompt = _clip(q.prompt, 300)
        if not prompt or len(result) == 6:
            continue
        choices = list(dict.fromkeys(c for c in (_clip(c, 80) for c in q.choices) if c))[:8]
        kind: Literal["choice", "text"] = "choice" if q.kind == "choice" and len(choices) >= 2 \
            else "text"
        result.append(Question(id=_clean_id(q.id, i, taken), prompt=prompt, kind=kind,
                               choices=choices if kind == "choice" else [],
                               default=_clip(q.default, 200) or None, help=_clip(q.help, 300)))
    for extra in plan_questions(ctx):
        if len(result) >= 3:
            break
        if extra.id not in taken:
            taken.add(extra.id)
            result.append(extra)
    return result


def _hook_first_cta_last(scenes: list[SceneOut]) -> list[SceneOut]:
    """Move a misplaced hook to the front and a call-to-action to the end, else relabel."""
    s = list(scenes)
    if s[0].beat != "hook" and (i := next((i for i, x in enumerate(s) if x.beat == "hook"), 0)):
        s.insert(0, s.pop(i))
    last = max((i for i, x in enumerate(s) if x.beat == "call-to-action" and i), default=0)
    if s[-1].beat != "call-to-action" and last:
        s.append(s.pop(last))
    s[0] = s[0].model_copy(update={"beat": "hook"})
    s[-1] = s[-1].model_copy(update={"beat": "call-to-action"})
    return s


def fit_voice(line: str, scene_s: float) -> str:
    """The line as spoken within its scene at the planner's rate: whole sentences while they
    fit, else the first words that do, so no line runs over its re-timed scene."""
    most = voice_words(scene_s)
    if len(line.split()) <= most:
        return line
    kept: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", line):
        if len(" ".join([*kept, sentence]).split()) > most:
            break
        kept.append(sentence)
    if kept:
        return " ".join(kept)
    words = line.split()[:most]
    return (" ".join(words).rstrip(",;:—-") + ".") if words else ""


def to_storyboard(out: StoryboardOut, ctx: PlanContext, model_id: str) -> Storyboard:
    """Our Storyboard: hook first, CTA last, the model's durations used as weights and re-timed
    to the brief exactly in whole frames, ids 's'+8 hex from (seed, context, index)."""
    brief = ctx.brief
    raw = [s for s in out.scenes if s.description.strip() or s.visual_prompt.strip()]
    total = round(brief.duration_s * brief.fps)
    lo = math.ceil(MIN_SCENE_S * brief.fps - 1e-9)
    hi = math.floor(MAX_SCENE_S * brief.fps + 1e-9)
    need, most = max(2, math.ceil(total / hi)), total // lo
    if len(raw) < need:
        raise _Unusable(f"it planned {len(raw)} usable scene(s); a {brief.duration_s:g} s ad "
                        f"needs at least {need}")
    most = min(most, scene_range(brief.duration_s)[1])  # a bumper is not cut into six
    if len(raw) > most:
        raw = raw[: most - 1] + raw[-1:]
    raw = _hook_first_cta_last(raw)
    weights = [min(max(s.duration_s, 0.1), 60.0) if math.isfinite(s.duration_s) else 1.0
               for s in raw]
    durations = split_duration(brief.duration_s, brief.fps, weights)
    if ctx.fit_durations:  # asked for a model's clip lengths: kept exactly, scenes to match
        try:
            lengths = fit_lengths(brief.duration_s, ctx.fit_durations, len(raw))
        except ValueError:
            lengths = []
        if 2 <= len(lengths) <= len(raw):
            raw = raw[: len(lengths) - 1] + raw[-1:]
            weights = weights[: len(lengths) - 1] + weights[-1:]
            durations = by_weight(lengths, weights)
    key = hashlib.sha256(json.dumps([ctx.seed, brief.model_dump(mode="json"), ctx.answers,
                                     "openai", model_id], sort_keys=True).encode()).hexdigest()
    scenes: list[Scene] = []
    for i, (s, dur) in enumerate(zip(raw, durations, strict=True)):
        sid = "s" + hashlib.sha256(f"{key}:{i}".encode()).hexdigest()[:8]
        while any(x.id == sid for x in scenes):
            sid = "s" + hashlib.sha256(f"{sid}:{i}".encode()).hexdigest()[:8]
        description = _clip(s.description, 2000) or _clip(s.visual_prompt, 2000)
        scene = Scene(
            id=sid, beat=s.beat, title=_clip(s.title, 80), description=description,
            visual_prompt=_clip(s.visual_prompt, 2000) or description, shot=s.shot,
            camera=s.camera, duration_s=dur, on_screen_text=_clip(s.on_screen_text, 200),
            voice_line=fit_voice(_clip(s.voice_line, 400), dur))
        given = (profile.Complexity(**s.complexity.model_dump()) if s.complexity is not None
                 else profile.of_scene(scene))
        # the camera field is the truth about a camera move, whatever the flag said
        scenes.append(scene.model_copy(update={"complexity": given.model_copy(
            update={"camera_move": s.camera != "static"})}))
    structure = re.sub(r"[^a-z0-9]+", "-", out.structure.lower()).strip("-")[:40]
    title = _clip(out.title, 120) or f"{_clip(brief.text, 60)} — {brief.duration_s:g}s ad"
    return Storyboard(title=title, structure=structure, scenes=scenes)
