"""Offline, rule-based planner: clarifying questions and storyboards with no model and no key.

It reads the brief with keywords and regexes, asks only about what the brief leaves open, and
lays the answers over an ad structure from ``data/structures.json`` (data, not code, so a
director can add a structure or a category without touching Python). Same (context, seed)
gives the same plan: randomness comes from a Random seeded by SHA-256 of the inputs, never hash().
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, cast

from nbvideo.providers.base import PlanContext, QuestionsResult, StoryboardResult, Usage
from nbvideo.state import (
    CAMERA_MOVES, MAX_SCENE_S, MIN_SCENE_S, SHOT_TYPES, Brief, CameraMove, Question, Scene,
    ShotType, Storyboard,
)

COPY_MAX = 40  # on-screen text must stay readable on a phone
MAX_QUESTIONS = 6
PRIORITY = ("audience", "benefit", "tone", "cta", "platform", "music", "setting")
# A brief that says everything still gets 3 questions: first what a brief never states (style),
# then confirmations of the stated answers that are cheapest to change.
PADDING = ("style", "setting", "music", "platform", "tone", "benefit", "audience", "cta")
_ANSWER_MAX = 80  # long free-text answers are clipped so prompts stay within model limits
_B, _E = r"(?<![\w-])", r"(?![\w-])"  # word edges that keep 'high-energy' one word


@lru_cache(maxsize=1)
def load_structures() -> dict[str, Any]:
    """The planner's data (structures, beats, vocabulary), read once from package data."""
    ref = resources.files("nbvideo") / "data" / "structures.json"
    data: dict[str, Any] = json.loads(ref.read_text(encoding="utf-8"))
    return data


# --------------------------------------------------------------------------- text helpers

@lru_cache(maxsize=8192)
def _kw(word: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive pattern: 'fast' must not match 'fast-paced' or 'breakfast'."""
    left, right = (_B if re.match(r"\w", word) else ""), (_E if re.search(r"\w$", word) else "")
    return re.compile(left + re.escape(word).replace(r"\ ", r"\s+") + right, re.I)


def _earliest(text: str, words: list[str]) -> tuple[int, str] | None:
    """(position, word) of the keyword mentioned first, so the brief's own order wins."""
    hits = [(m.start(), w) for w in words if (m := _kw(w).search(text))]
    return min(hits) if hits else None


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _mid(s: str) -> str:
    """Lower-case the first letter for use mid-sentence, but keep acronyms ('Gen Z', 'SEO')."""
    return s[:1].lower() + s[1:] if s[1:2].islower() else s


def _clip(s: str, limit: int) -> str:
    """Shorten at a word boundary so copy never ends mid-word."""
    s = " ".join(s.split())
    if len(s) <= limit:
        return s
    cut = s[: limit + 1].rsplit(" ", 1)[0] if " " in s[: limit + 1] else s[:limit]
    return cut[:limit].rstrip(" ,;:-—")


def _drop_leading(words: list[str], vocab: set[str]) -> list[str]:
    while len(words) > 1 and words[0].lower().strip(",") in vocab:
        words = words[1:]
    return words


@lru_cache(maxsize=1)
def _rx() -> dict[str, re.Pattern[str]]:
    """Brief-parsing regexes, built once from the word lists in the data's lexicon."""
    data = load_structures()
    lex = data["lexicon"]

    def alt(words: list[str]) -> str:
        return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))

    det = r"(?:a|an|the|our|my|your|this|that|its|their|every|each|one|some)\b"
    made = {
        "dur": r"\b(?:(?:a|an)\s+)?\d+(?:\.\d+)?\s*-?\s*(?:s|secs?|seconds?|mins?|minutes?)\b\.?",
        "anchor_ad": rf"\b(?:{alt(lex['ad_words'])})\s+(?:{alt(lex['ad_links'])})\s+(.+)",
        "anchor_verb": rf"\b(?:{alt(lex['pitch_verbs'])})\s+(?:of\s+)?(.+)",
        "anchor_tail": r"^(.+?)\s+(?:ad|advert|advertisement|commercial|promo|video|spot)\b",
        "stop": rf"\s*(?:[,.;:!?()\[\]]|\s[-—]\s|\b(?:{alt(lex['product_stops'])})\b)",
        "lead": rf"^(?:(?:{alt(lex['determiners'])})\s+)+",
        "audience": rf"(?=\b(?:{alt(lex['audience_leads'])})\s+((?!{det})[\w'-]+"  # overlapping
                    rf"(?:\s+(?!(?:{alt(lex['audience_stops'])})\b)[\w'-]+){{0,3}}))",
        "music": rf"{_B}(?:(?!(?:with|and|to|a|an|the|some|set)\b)[\w-]+\s+){{0,2}}"
                 rf"(?:{alt(lex['music_words'])}){_E}",
        "silent": rf"{_B}(?:{alt(lex['silent_words'])}){_E}",
        "benefit": rf"{_B}(?:that|which|to)\s+((?:{alt(lex['benefit_verbs'])})\s+[^,.;!?]+)",
        "url": rf"(?<![\w@.-])(?:https?://)?(?:www\.)?[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\."
               rf"(?:{alt(lex['tlds'])})(?:/[^\s,;]*)?{_E}",
        "offer": rf"{_B}(?:{'|'.join(lex['offers'])})",
        "cta": rf"{_B}(?:{'|'.join(data['cta_patterns'])}){_E}",
        "setting": rf"{_B}(?:{alt(lex['places'])})\s+(?:(?:a|an|the|some|their|our)\s+)?"
                   rf"(?:[\w'-]+\s+){{0,2}}(?:{alt(data['settings'])}){_E}",
    }
    return {k: re.compile(v, re.I) for k, v in made.items()}


# --------------------------------------------------------------------------- brief parsing

def extract_product(brief_text: str) -> str:
    """The product noun phrase ('30s ad for a waterproof trail shoe' -> 'waterproof trail shoe')."""
    data, rx = load_structures(), _rx()
    text = rx["dur"].sub(" ", " ".join(brief_text.split())).strip()
    found = next((m.group(1) for k in ("anchor_ad", "anchor_verb", "anchor_tail")
                  if (m := rx[k].search(text)) and m.group(1).strip()), text)
    if stop := rx["stop"].search(found, 1):
        found = found[: stop.start()]
    noise = {"ad", "ads", "video", "spot", "promo"}
    noise |= {k for t in (*data["tones"].values(), *data["platforms"].values())
              for k in t["keywords"]}
    words = _drop_leading(rx["lead"].sub("", found.strip()).split(), noise)
    return " ".join(words[:6]).strip(" ,.;:!?-—'\"") or "product"


def detect_category(brief_text: str) -> str:
    """Product category with the most keyword hits; ties go to the more specific category."""
    cats = load_structures()["categories"]
    scores = {n: sum(1 for k in c["keywords"] if _kw(k).search(brief_text))
              for n, c in cats.items()}
    best = max(scores.values())
    return next(n for n, s in scores.items() if s == best) if best else "generic"


def _tone_key(text: str | None) -> str | None:
    """Map a tone answer or a brief to one of the tone classes in the data, or None."""
    tones = load_structures()["tones"]
    if not text or text.strip().lower() in tones:
        return text.strip().lower() if text else None
    hits = [(hit, name) for name, t in tones.items() if (hit := _earliest(text, t["keywords"]))]
    return min(hits)[1] if hits else None


def _audience(text: str) -> str | None:
    """'for weekend hikers' is an audience, 'for a trail shoe' is not: it must name people."""
    people = load_structures()["people"]
    for m in _rx()["audience"].finditer(text):
        words = m.group(1).split()
        for end in range(len(words), 0, -1):  # cut after the last people-noun
            head = " ".join(words[:end]).lower()
            if any(head.endswith(p) for p in people) or re.search(r"(?:ers|ists|ians)$", head):
                return _cap(" ".join(words[:end]))
    return None


def _cta(text: str) -> str | None:
    url = _rx()["url"].search(text)
    if m := _rx()["cta"].search(text):
        cta = " ".join(m.group(0).split()[:5])
        if url and not cta.lower().startswith("visit") and len(cta) + len(url.group(0)) < 37:
            cta = f"{cta} at {url.group(0)}"
        return _cap(cta)
    return f"Visit {url.group(0)}" if url else None


@dataclass(frozen=True)
class BriefFacts:
    """What the brief already says; None where it leaves a question open."""

    product: str
    category: str
    audience: str | None = None
    benefit: str | None = None
    tone: str | None = None
    cta: str | None = None
    platform: str | None = None
    music: str | None = None
    setting: str | None = None
    offer: str | None = None

    def stated(self, key: str) -> str | None:
        return getattr(self, key) if key in PRIORITY else None


def analyze_brief(brief_text: str) -> BriefFacts:
    """Parse a one-line brief into facts with keywords and regexes (no ML, deterministic)."""
    data, rx = load_structures(), _rx()
    text = " ".join(brief_text.split())
    music = rx["music"].search(text)
    tone = _tone_key(rx["music"].sub(" ", text))  # 'upbeat music' is music, not tone
    benefit = None
    if m := rx["benefit"].search(text):
        benefit = _cap(" ".join(m.group(1).split()[:7]))
    elif hit := _earliest(text, list(data["benefits"])):
        benefit = data["benefits"][hit[1]]
    plats = [name for name, p in data["platforms"].items() if _earliest(text, p["keywords"])]
    offer, setting = rx["offer"].search(text), rx["setting"].search(text)
    offer_words = next(s["keywords"] for s in data["structures"] if s["name"] == "offer")
    return BriefFacts(
        product=extract_product(text), category=detect_category(text), audience=_audience(text),
        benefit=benefit, tone=tone.capitalize() if tone else None, cta=_cta(text),
        platform=plats[0] if plats else None, setting=setting and _cap(setting.group(0)),
        music="No music" if rx["silent"].search(text) else music and _cap(music.group(0)),
        offer=_cap(offer.group(0)) if offer else (
            "Limited-time offer" if _earliest(text, offer_words) else None))


def _defaults(facts: BriefFacts, brief: Brief, tone: str | None = None) -> dict[str, str]:
    """Answers for when nobody answered: what the brief says, else the category's best guess."""
    data = load_structures()
    cat = data["categories"][facts.category]
    tone = tone or facts.tone or cat["tone"]
    tdata = data["tones"][_tone_key(tone) or _tone_key(cat["tone"]) or "energetic"]
    return {"audience": facts.audience or cat["audiences"][0],
            "benefit": facts.benefit or cat["benefit"], "tone": tone,
            "cta": facts.cta or cat["ctas"][0],
            "platform": facts.platform or data["aspect_platform"][brief.aspect],
            "music": facts.music or tdata["music"], "setting": facts.setting or cat["settings"][0],
            "style": tdata["style"]}


# --------------------------------------------------------------------------- questions

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
    order = {k: i for i, k in enumerate((*PRIORITY, "style"))}
    out = []
    for k in sorted(ids, key=order.__getitem__):
        default, opts = defaults[k], list(choices.get(k, []))
        if opts and default not in opts:  # a stated value being confirmed leads the list
            opts = [default, *opts][:6]
        out.append(Question(id=k, kind="choice" if opts else "text", choices=opts,
                            default=default, **data["questions"][k]))
    return out


# --------------------------------------------------------------------------- durations

def scene_count(duration_s: float, pace_s: float = 5.0) -> int:
    """About one scene per `pace_s` seconds, clamped to [3, 12] and to what scene limits allow."""
    n = max(3, min(12, math.floor(duration_s / pace_s + 0.5)))
    n = max(n, math.ceil(duration_s / MAX_SCENE_S - 1e-9))  # long ads: longer scenes, not more
    return max(1, min(n, math.floor(duration_s / MIN_SCENE_S + 1e-9)))


def split_frames(total: int, weights: list[float], lo: int, hi: int) -> list[int]:
    """Share `total` frames by weight, each in [lo, hi], summing exactly (water-filling)."""
    n = len(weights)
    if not n or not n * lo <= total <= n * hi:
        raise ValueError(f"cannot split {total} frames into {n} scenes of {lo}..{hi} frames")
    alloc: dict[int, int] = {}
    while len(alloc) < n:
        free = [i for i in range(n) if i not in alloc]
        rem, wsum = total - sum(alloc.values()), sum(weights[i] for i in free)
        ideal = {i: rem * weights[i] / wsum for i in free}
        low = [i for i in free if ideal[i] < lo]
        high = [i for i in free if ideal[i] > hi] if not low else []
        if not low and not high:  # largest remainder rounding of the unclamped scenes
            base = {i: min(hi, max(lo, math.floor(ideal[i]))) for i in free}
            for i in sorted(free, key=lambda i: (base[i] - ideal[i], i))[
                    : max(0, rem - sum(base.values()))]:
                base[i] += 1
            alloc.update(base)
        alloc.update({i: lo for i in low} | {i: hi for i in high})
    out = [alloc[i] for i in range(n)]
    order = sorted(range(n), key=lambda i: (-weights[i], i))
    while diff := total - sum(out):  # repair rare clamp/rounding leftovers, heaviest first
        step = 1 if diff > 0 else -1
        out[next(i for i in (order if step > 0 else order[::-1]) if lo <= out[i] + step <= hi)] \
            += step
    return out


def split_duration(duration_s: float, fps: int, weights: list[float]) -> list[float]:
    """Scene durations in whole frames whose frame counts sum to round(duration_s * fps)."""
    lo, hi = math.ceil(MIN_SCENE_S * fps - 1e-9), math.floor(MAX_SCENE_S * fps + 1e-9)
    return [round(f / fps, 6) for f in split_frames(round(duration_s * fps), weights, lo, hi)]


# --------------------------------------------------------------------------- storyboard

def palette_for(brief_text: str, answers: dict[str, str] | None = None) -> list[str]:
    """5 '#rrggbb' colours, darkest first, from the tone (answer, brief, or category default)."""
    data = load_structures()
    key = _tone_key((answers or {}).get("tone")) or _tone_key(brief_text)
    key = key or _tone_key(data["categories"][detect_category(brief_text)]["tone"]) or "energetic"

    def luma(c: str) -> float:
        r, g, b = (int(c[i:i + 2], 16) for i in (1, 3, 5))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    return sorted((c.lower() for c in data["tones"][key]["palette"]), key=luma)


def _structure(brief: Brief) -> dict[str, Any]:
    """The template named on the brief, else a keyword-triggered structure, else by duration."""
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
            text = " ".join(t.format_map(values).split())
        except KeyError:
            continue
        if ok(text := _cap(text) if cap else text):
            return text
    return None


def _person(audience: str) -> str:
    """One member of the audience for image prompts: 'weekend hikers' -> 'a weekend hiker'."""
    irregular = load_structures()["lexicon"]["irregular"]
    words = _mid(audience).split() or ["person"]
    cut = next((i for i, w in enumerate(words) if i and w.lower() in
                {"over", "under", "who", "with", "in", "on", "from", "aged", "new", "that"}),
               len(words))
    w = words[cut - 1]
    if w.lower() in irregular:
        w = irregular[w.lower()]
    elif w.lower().endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.lower().endswith("s") and not w.lower().endswith("ss"):
        w = w[:-1]
    phrase = " ".join([*words[: cut - 1], w, *words[cut:]])
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


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
    tone = data["tones"][_tone_key(v["tone"]) or _tone_key(cat["tone"]) or "energetic"]
    structure = _structure(brief)
    seq = _beats(structure, scene_count(brief.duration_s, tone["pace_s"]))
    durations = split_duration(brief.duration_s, brief.fps, [e["weight"] for e in seq])
    key = hashlib.sha256(json.dumps([ctx.seed, brief.model_dump(mode="json"), v,
                                     structure["name"]], sort_keys=True).encode()).hexdigest()
    rng = random.Random(int(key[:16], 16))

    product, audience, setting = facts.product, _mid(v["audience"]), _mid(v["setting"])
    if setting.split()[0].lower() not in data["lexicon"]["places"]:  # 'forest' -> 'in forest'
        setting = "in " + setting
    plat = next((p for name, p in data["platforms"].items() if name.lower() == v["platform"].lower()
                 or _earliest(v["platform"], p["keywords"])), None)
    style = next((s for n, s in data["styles"].items() if n.lower() == v["style"].lower()),
                 v["style"])
    look = ", ".join(x for x in (style, cat["style"], plat and plat["look"]) if x)
    values = {
        "product": product, "audience": audience, "Audience": _cap(audience),
        "product_short": " ".join(_drop_leading(product.split(), set(data["benefits"]) | {
            k for t in data["tones"].values() for k in t["keywords"]})[-3:]),
        "audience_short": " ".join(audience.split()[-2:]) if len(audience.split()) > 3
        else audience, "person": _person(audience), "setting_in": setting,
        "cta": _clip(v["cta"], COPY_MAX), "mood": tone["mood"].split(",")[0],
        "hook_q": rng.choice(cat["hook_q"]), "offer": facts.offer or "Limited-time offer",
        **{k: cat[k] for k in ("action", "problem", "product_visual", "problem_line")},
    }
    scenes: list[Scene] = []
    seen: dict[str, int] = {}
    prev_shot = prev_cam = None
    for i, (entry, dur) in enumerate(zip(seq, durations, strict=True)):
        beat, lib = entry["beat"], data["beats"][entry["beat"]]
        k = seen[beat] = seen.get(beat, -1) + 1  # occurrence of this beat: vary the copy
        line = v["benefit"] if k == 0 else cat["benefits"][(k - 1) % len(cat["benefits"])]
        line = line.rstrip(".!")
        vals = values | {"benefit_line": _clip(line, COPY_MAX), "benefit_lower": _mid(line)}
        if len(line.split()) <= 5:  # a long benefit makes a poor title: that template is skipped
            vals["benefit_title"] = line
        prev_shot = shot = _vary(entry.get("shots", lib["shots"]), prev_shot, rng, SHOT_TYPES)
        prev_cam = cam = _vary(entry.get("cameras", lib["cameras"]), prev_cam, rng, CAMERA_MOVES)
        title = _fill(lib["titles"], vals, k + rng.randrange(len(lib["titles"])),
                      lambda t: 2 <= len(t.split()) <= 5) or lib["fallback_title"]
        copy = _fill(lib["copy"], vals, k + rng.randrange(len(lib["copy"])),
                     lambda t: len(t) <= COPY_MAX) or _clip(_fill(lib["copy"], vals, 0) or "",
                                                            COPY_MAX)
        subject = _fill(lib["subject"], vals, k + rng.randrange(len(lib["subject"])), cap=False)
        visual = ", ".join([f"{data['shots'][shot]} of {subject or product}", setting,
                            tone["lighting"], f"{tone['mood']} mood",
                            f"{_clip(v['tone'].lower(), 30)} tone", look,
                            "highly detailed, no text, no watermark"])
        sid = "s" + hashlib.sha256(f"{key}:{i}".encode()).hexdigest()[:8]
        while any(s.id == sid for s in scenes):
            sid = "s" + hashlib.sha256(f"{sid}:{i}".encode()).hexdigest()[:8]
        scenes.append(Scene(
            id=sid, beat=beat, title=title, duration_s=dur, shot=cast(ShotType, shot),
            camera=cast(CameraMove, cam),
            description=_fill(lib["description"], vals, k + rng.randrange(2)) or product,
            visual_prompt=_clip(visual, 2000), on_screen_text=copy))
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
