"""Offline, rule-based planner: clarifying questions and storyboards with no model and no key.

It asks only about what the brief leaves open (brief_facts.py reads the brief), and lays the
answers over an ad structure from the domain vocabulary (``nbvideo.model.vocabulary``) (data, not code, so a director can add
a structure or a category without touching Python), timed by timing.py over the project's
length (which the brief itself may state, see model/brief_length.py). Copy is the beat's neutral
templates plus the category's own lines (a line written for trail shoes never reaches a bike
light); grammar.py makes it agree with the product and audience it names; no two scenes of an
ad share a title. Same (context, seed)
gives the same plan: randomness comes from a Random seeded by SHA-256 of the inputs, never hash().
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Callable
from typing import Any

from nbvideo.model import complexity as profile
from nbvideo.model import grammar
from nbvideo.model.brief_facts import (
    PRIORITY,
    BriefFacts,
    _cap,
    _drop_leading,
    analyze_brief,
    extract_product,
)
from nbvideo.model.state import (
    CAMERA_MOVES,
    SHOT_TYPES,
    Brief,
    Question,
    Scene,
    Storyboard,
)
from nbvideo.model.templates import BriefTemplate, find_template
from nbvideo.model.vocabulary import load_structures, tone_key
from nbvideo.model.vocabulary import mentioned_first as _earliest
from nbvideo.providers.base import PlanContext, QuestionsResult, StoryboardResult, Usage
from nbvideo.providers.local.timing import (
    by_weight,
    fit_lengths,
    scene_count,
    split_duration,
    split_frames,
)

__all__ = [  # with the names re-exported from brief_facts and timing
    "BriefFacts", "LocalPlanner", "analyze_brief", "extract_product", "plan_questions",
    "plan_storyboard", "scene_count", "split_duration", "split_frames",
]  # fmt: skip

COPY_MAX = 40  # on-screen text must stay readable on a phone
MAX_QUESTIONS = 6
# A brief that says everything still gets 3 questions: first what a brief never states (style),
# then confirmations of the stated answers that are cheapest to change.
PADDING = ("style", "setting", "music", "platform", "tone", "benefit", "audience", "cta")
_ANSWER_MAX = 80  # long free-text answers are clipped so prompts stay within model limits


# --------------------------------------------------------------------------- text helpers

_mid = grammar.mid


def _clip(s: str, limit: int) -> str:
    """Shorten at a word boundary so copy never ends mid-word."""
    s = " ".join(s.split())
    if len(s) <= limit:
        return s
    cut = s[: limit + 1].rsplit(" ", 1)[0] if " " in s[: limit + 1] else s[:limit]
    return cut[:limit].rstrip(" ,;:-—")


# --------------------------------------------------------------------------- questions

def _defaults(facts: BriefFacts, brief: Brief, tone: str | None = None) -> dict[str, str]:
    """Answers for when nobody answered: what the brief says, else the category's best guess."""
    data = load_structures()
    cat = data["categories"][facts.category]
    tone = tone or facts.tone or cat["tone"]
    tdata = data["tones"][tone_key(tone) or tone_key(cat["tone"]) or "energetic"]
    return {"audience": facts.audience or cat["audiences"][0],
            "benefit": facts.benefit or cat["benefit"], "tone": tone,
            "cta": facts.cta or cat["ctas"][0],
            "platform": facts.platform or data["aspect_platform"][brief.aspect],
            "music": facts.music or tdata["music"], "setting": facts.setting or cat["settings"][0],
            "style": tdata["style"]}


def plan_questions(ctx: PlanContext) -> list[Question]:
    """3-6 questions about what the brief leaves open, most useful first."""
    data = load_structures()
    facts = analyze_brief(ctx.brief.text)
    defaults = _defaults(facts, ctx.brief)
    ids = [k for k in PRIORITY if not facts.stated(k)][:MAX_QUESTIONS]
    ids += [k for k in PADDING if k not in ids][: max(0, 3 - len(ids))]
    cat = data["categories"][facts.category]
    choices = {"audience": cat["audiences"], "tone": cat["tones"], "cta": cat["ctas"],
               "platform": list(data["platforms"]), "music": data["music"],
               "setting": cat["settings"], "style": list(data["styles"])}
    tmpl = find_template(ctx.brief.template)
    if tmpl is not None:
        return _template_questions(tmpl, facts, defaults, choices)
    order = {k: i for i, k in enumerate((*PRIORITY, "style"))}
    out = []
    for k in sorted(ids, key=order.__getitem__):
        default, opts = defaults[k], list(choices.get(k, []))
        if opts and default not in opts:  # a stated value being confirmed leads the list
            opts = [default, *opts][:6]
        out.append(Question(id=k, kind="choice" if opts else "text", choices=opts,
                            default=default, **data["questions"][k]))
    return out


def _template_questions(tmpl: BriefTemplate, facts: BriefFacts, defaults: dict[str, str],
                        choices: dict[str, list[str]]) -> list[Question]:
    """The template's questions, in its order: what the brief states wins as the default,
    then the template's, then the planner's; choices come from the template, else the data."""
    data = load_structures()
    out = []
    for tq in tmpl.questions:
        default = facts.stated(tq.id) or tq.default or defaults.get(tq.id)
        opts = list(tq.choices or choices.get(tq.id, []))
        if opts and default and default not in opts:
            opts = [default, *opts][:6]
        known = data["questions"].get(tq.id, {})
        out.append(Question(id=tq.id, prompt=tq.prompt, kind="choice" if opts else "text",
                            choices=opts, default=default, allow_other=tq.allow_other,
                            help=tq.help or known.get("help", "")))
    return out


# --------------------------------------------------------------------------- storyboard

def _structure(brief: Brief) -> dict[str, Any]:
    """The template named on the brief, else a keyword-triggered structure, else by duration."""
    tmpl = find_template(brief.template)
    if tmpl is not None:  # a brief template (templates/briefs/) brings its own structure
        return tmpl.structure()
    structs = sorted(load_structures()["structures"], key=lambda s: s["pick"])
    named = [s for s in structs if (brief.template or "").lower() == s["name"]]
    keyed = [s for s in structs if s["keywords"] and _earliest(brief.text, s["keywords"])]
    timed = [s for s in structs if ("min_s" in s or "max_s" in s)
             and s.get("min_s", 0) < brief.duration_s <= s.get("max_s", math.inf)]
    picked: dict[str, Any] = (named or keyed or timed or structs[-1:])[0]
    return picked


def _beats(structure: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """Hook, the n-2 most important middle beats in order (repeating 'fill' beats), CTA."""
    seq = structure["sequence"]
    head, mid, tail = seq[0], list(seq[1:-1]), seq[-1]
    if n - 2 <= len(mid):
        keep = sorted(range(len(mid)), key=lambda i: mid[i]["priority"])[: n - 2]
        return [head, *(mid[i] for i in sorted(keep)), tail]
    body, fill = list(mid), structure["fill"]
    for j in range(n - 2 - len(mid)):
        beat = fill[j % len(fill)]
        src = next((e for e in mid if e["beat"] == beat), {"beat": beat, "weight": 1.0})
        body.insert(max((i for i, e in enumerate(body) if e["beat"] == beat), default=-1) + 1, src)
    return [head, *body, tail]


def _vary(prefs: list[str], prev: str | None, rng: random.Random, pool: tuple[str, ...]) -> str:
    """Often the beat's first preference, never the same as the previous scene's."""
    opts = [p for p in prefs if p in pool] or list(pool)
    start = 0 if rng.random() < 0.5 else rng.randrange(len(opts))
    return next(o for o in (*opts[start:], *opts[:start], *pool) if o != prev)


def _fill(templates: list[str], values: dict[str, str], offset: int,
          ok: Callable[[str], bool] = bool, cap: bool = True) -> str | None:
    """First template (rotated by offset) whose placeholders all fill and whose text passes ok."""
    for t in templates[offset % len(templates):] + templates[: offset % len(templates)]:
        try:
            text = grammar.undouble(" ".join(t.format_map(values).split()))
        except KeyError:
            continue
        if ok(text := _cap(text) if cap else text):
            return text
    return None


SPEAKING_RATE_WPS = 2.4  # a voice-over's words per second, unhurried
BREATH_S = 0.4  # silence kept at each scene's end so lines do not run into each other


def voice_words(scene_s: float) -> int:
    """How many words of voice-over fit a scene of `scene_s` seconds."""
    return max(0, int((scene_s - BREATH_S) * SPEAKING_RATE_WPS))


def _words(facts: BriefFacts, v: dict[str, str], brief_text: str) -> dict[str, str]:
    """The product and audience in every form the copy uses, agreeing in number and article:
    'the trail shoe' / 'Flowly', 'weekend hikers know' / 'a busy mom knows'."""
    data = load_structures()
    aud = grammar.audience(v["audience"])
    short = " ".join(_drop_leading(facts.product.split(), set(data["benefits"]) | {
        k for t in data["tones"].values() for k in t["keywords"]})[-3:])
    prod = grammar.product(facts.product, short, brief_text)
    plural_short = not aud.collective
    out = {
        "product": prod.text, "product_short": prod.short,
        "the_product": prod.the(short=False), "The_product": _cap(prod.the(short=False)),
        "the_product_short": prod.the(), "The_product_short": _cap(prod.the()),
        "a_product_short": prod.a(),
        "p_is": "are" if prod.plural else "is", "p_it": "them" if prod.plural else "it",
        "p_take": grammar.verb("take", prod.plural),
        "p_arrive": grammar.verb("arrive", prod.plural),
        "audience": aud.text, "Audience": _cap(aud.text), "audience_pl": aud.many,
        "Audience_pl": _cap(aud.many), "audience_short": aud.short,
        "Audience_short": _cap(aud.short), "person": aud.one,
        "deserve": grammar.verb("deserve", plural_short),
        **{f"v_{w}": grammar.verb(w, aud.plural) for w in ("hit", "know", "feel", "put")},
    }
    if not aud.collective:  # 'Calling all everyone' is not English
        out["audience_all"] = aud.short
    return out


def _lines(line: str, values: dict[str, str]) -> str:
    """A line from the data with its placeholders filled (the generic category's name the
    product and the audience); a line that names something unknown stays as written."""
    try:
        return " ".join(line.format_map(values).split()) if "{" in line else line
    except (KeyError, IndexError, ValueError):
        return line


def _spare_title(fallback: str, used: set[str]) -> str:
    """The beat's fallback title, numbered if an earlier scene already took it."""
    n, title = 2, fallback
    while title.lower() in used:
        title, n = f"{fallback} {n}", n + 1
    return title


def _resolve(ctx: PlanContext, facts: BriefFacts) -> dict[str, str]:
    """Answer, else the asked question's default, else what the brief says, else a default."""
    qdef = {q.id: q.default for q in ctx.questions if q.default}
    given = {k: _clip(v, _ANSWER_MAX) for k, v in ctx.answers.items() if v and v.strip()}
    defaults = _defaults(facts, ctx.brief, given.get("tone") or qdef.get("tone"))
    return {k: given.get(k) or qdef.get(k) or facts.stated(k) or d for k, d in defaults.items()}


def plan_storyboard(ctx: PlanContext) -> Storyboard:
    """Lay the resolved answers over an ad structure: beats, timing, shots, copy, prompts."""
    data, brief = load_structures(), ctx.brief
    facts = analyze_brief(brief.text)
    v = _resolve(ctx, facts)
    cat = data["categories"][facts.category]
    tone = data["tones"][tone_key(v["tone"]) or tone_key(cat["tone"]) or "energetic"]
    structure = _structure(brief)
    count = scene_count(brief.duration_s, tone["pace_s"])
    try:  # asked to fit a model's clip lengths: as many scenes as those lengths make
        lengths = fit_lengths(brief.duration_s, ctx.fit_durations, count) \
            if ctx.fit_durations else None
    except ValueError:  # no mix of them makes the ad's length: timed freely
        lengths = None
    seq = _beats(structure, len(lengths) if lengths else count)
    durations = by_weight(lengths, [e["weight"] for e in seq]) if lengths else \
        split_duration(brief.duration_s, brief.fps, [e["weight"] for e in seq])
    key = hashlib.sha256(json.dumps([ctx.seed, brief.model_dump(mode="json"), v,
                                     structure["name"]], sort_keys=True).encode()).hexdigest()
    rng = random.Random(int(key[:16], 16))

    setting = _mid(v["setting"])
    if setting.split()[0].lower() not in data["lexicon"]["places"]:  # 'forest' -> 'in forest'
        setting = "in " + setting
    plat = next((p for name, p in data["platforms"].items() if name.lower() == v["platform"].lower()
                 or _earliest(v["platform"], p["keywords"])), None)
    style = next((s for n, s in data["styles"].items() if n.lower() == v["style"].lower()),
                 v["style"])
    look = ", ".join(x for x in (style, cat["style"], plat and plat["look"]) if x)
    values = _words(facts, v, brief.text) | {
        "setting_in": setting, "cta": _clip(v["cta"], COPY_MAX),
        "mood": tone["mood"].split(",")[0], "offer": facts.offer or "Limited-time offer"}
    # the category's own lines may name the product and the audience (the generic ones do)
    values |= {k: _lines(cat[k], values) for k in ("action", "problem", "product_visual",
                                                  "problem_line")}
    values["hook_q"] = _lines(rng.choice(cat["hook_q"]), values)
    product = facts.product
    # Answers to a template's own questions ({store}, {deal}, ...) fill its example copy.
    values |= {k: _clip(a, COPY_MAX) for k, a in ctx.answers.items()
               if k not in values and k not in v and a and a.strip()}
    tmpl = find_template(brief.template)
    tcopy = tmpl.copy_lines if tmpl is not None else {}
    scenes: list[Scene] = []
    titles: set[str] = set()  # every title in an ad is its own
    seen: dict[str, int] = {}
    prev_shot = prev_cam = None
    for i, (entry, dur) in enumerate(zip(seq, durations, strict=True)):
        beat, lib = entry["beat"], data["beats"][entry["beat"]]
        k = seen[beat] = seen.get(beat, -1) + 1  # occurrence of this beat: vary the copy
        line = v["benefit"] if k == 0 else _lines(
            cat["benefits"][(k - 1) % len(cat["benefits"])], values)
        line = line.rstrip(".!")
        vals = values | {"benefit_line": _clip(line, COPY_MAX), "benefit_lower": _mid(line)}
        if "," not in line and "wherever" not in line.lower():  # one clause takes a tail
            vals["benefit_long"] = vals["benefit_line"]
        if len(line.split()) <= 5:  # a long benefit makes a poor title: that template is skipped
            vals["benefit_title"] = line
        prev_shot = shot = _vary(entry.get("shots", lib["shots"]), prev_shot, rng, SHOT_TYPES)
        prev_cam = cam = _vary(entry.get("cameras", lib["cameras"]), prev_cam, rng, CAMERA_MOVES)
        title = _fill(lib["titles"], vals, k + rng.randrange(len(lib["titles"])),
                      lambda t: 2 <= len(t.split()) <= 5 and t.lower() not in titles) \
            or _spare_title(lib["fallback_title"], titles)
        titles.add(title.lower())
        own = tcopy.get(beat, [])[k:]  # the template's example copy first (a line per
        # occurrence of the beat), the library for repeats and lines that do not fit
        copy = (own and _fill(own, vals, 0, lambda t: len(t) <= COPY_MAX)) or _fill(
            lib["copy"], vals, k + rng.randrange(len(lib["copy"])),
            lambda t: len(t) <= COPY_MAX) or _clip(_fill(lib["copy"], vals, 0) or "", COPY_MAX)
        fits = voice_words(dur)
        voice = re.sub(r"([.!?])[.!?]*\.", r"\1", _fill(  # 'days.' + '.' reads 'days.'
            lib.get("voice") or [""], vals, 0, lambda t, n=fits: len(t.split()) <= n) or "")
        subject = _fill(lib["subject"], vals, k + rng.randrange(len(lib["subject"])), cap=False)
        visual = ", ".join([f"{data['shots'][shot]} of {subject or product}", setting,
                            tone["lighting"], f"{tone['mood']} mood",
                            f"{_clip(v['tone'].lower(), 30)} tone", look,
                            "highly detailed, no text, no watermark"])
        sid = "s" + hashlib.sha256(f"{key}:{i}".encode()).hexdigest()[:8]
        while any(s.id == sid for s in scenes):
            sid = "s" + hashlib.sha256(f"{sid}:{i}".encode()).hexdigest()[:8]
        fields = {"shot": shot, "camera": cam, "description": _fill(
            lib["description"], vals, k + rng.randrange(2)) or product,
            "visual_prompt": _clip(visual, 2000), "on_screen_text": copy, "voice_line": voice}
        scenes.append(Scene(
            id=sid, beat=beat, title=title, duration_s=dur, **fields,
            complexity=profile.derive(**fields, beat=beat, people_words=(v["audience"],),
                                      product_words=(product,))))
    name = " ".join(_cap(w) for w in product.split())
    return Storyboard(title=f"{name} — {brief.duration_s:g}s {structure['label'].lower()}",
                      structure=structure["name"], scenes=scenes)


class LocalPlanner:
    """The offline Planner: no key, no network, deterministic for (context, seed), cost 0."""

    provider = "local"
    model = "rule-planner-v1"

    @staticmethod
    def _usage() -> Usage:
        return Usage(units=1, unit="plan", unit_price_usd=0.0, cost_usd=0.0)

    async def questions(self, ctx: PlanContext) -> QuestionsResult:
        return QuestionsResult(questions=plan_questions(ctx), usage=self._usage())

    async def storyboard(self, ctx: PlanContext) -> StoryboardResult:
        return StoryboardResult(storyboard=plan_storyboard(ctx), usage=self._usage())
