"""Brief analysis for the offline planner: what a one-line brief already says, as BriefFacts.

Keywords and regexes only, no model: product, category, audience, benefit, tone, call to action,
platform, music, setting and offer, read with the domain vocabulary (``nbvideo.model.vocabulary``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from nbvideo.model.brief_length import without_length
from nbvideo.model.grammar import singularize
from nbvideo.model.vocabulary import detect_category, load_structures, tone_key
from nbvideo.model.vocabulary import mentioned_first as _earliest

# The facts a clarifying question may ask about, most useful first.
PRIORITY = ("audience", "benefit", "tone", "cta", "platform", "music", "setting")
_B, _E = r"(?<![\w-])", r"(?![\w-])"  # word edges that keep 'high-energy' one word


# --------------------------------------------------------------------------- text helpers

def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


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
        "audience_lead": rf"(?=\b(?:{alt(lex['audience_leads'])})\s+(?:(a|an|the|every|each|"
                         rf"our|your)\s+)?((?!{det})[\w'-]+(?:\s+(?!(?:for|"
                         rf"{alt(lex['audience_stops'])})\b)[\w'-]+){{0,3}}))",  # overlapping
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
    return {k: re.compile(v, re.IGNORECASE) for k, v in made.items()}


# --------------------------------------------------------------------------- brief parsing

def extract_product(brief_text: str) -> str:
    """The product noun phrase ('30s ad for a waterproof trail shoe' -> 'waterproof trail shoe')."""
    data, rx = load_structures(), _rx()
    text = rx["dur"].sub(" ", without_length(brief_text)).strip()
    found = next((m.group(1) for k in ("anchor_ad", "anchor_verb", "anchor_tail")
                  if (m := rx[k].search(text)) and m.group(1).strip()), text)
    found = re.sub(r"^\s*(?:for|about|on|of)\s+", "", found, flags=re.IGNORECASE)
    if stop := rx["stop"].search(found, 1):
        found = found[: stop.start()]
    noise = {"ad", "ads", "video", "spot", "promo", "bumper", "cutdown", "teaser"}
    noise |= {k for t in (*data["tones"].values(), *data["platforms"].values())
              for k in t["keywords"]}
    words = _drop_leading(rx["lead"].sub("", found.strip()).split(), noise)
    return " ".join(words[:6]).strip(" ,.;:!?-—'\"") or "product"


def _audience(text: str) -> str | None:
    """'for weekend hikers' is an audience, 'for a trail shoe' is not: it must name people.

    Taken whole: 'for people in open-plan offices', 'for women over 40', 'for a busy mom';
    a place that is the setting ('hikers on a muddy mountain trail') stays out of it."""
    people = load_structures()["people"]
    ones = {singularize(p.split()[-1]) for p in people} - {"person"} | {"person"}
    lead = _rx()["audience_lead"]
    for m in lead.finditer(text):
        det, words = m.group(1) or "", m.group(2).split()
        for end in range(len(words), 0, -1):  # cut after the last people-noun
            head = " ".join(words[:end]).lower()
            last = words[end - 1].lower()
            if det:  # 'for a busy mom', 'for every new parent': one person
                if det.lower() in ("the", "our", "your") or last not in ones \
                        or end < len(words):  # 'a family dentist' is not a family
                    continue
            elif not (any(head.endswith(p) for p in people)
                      or re.search(r"(?:ers|ists|ians)$", head)):
                continue
            found = words[:end]
            if det.lower() in ("every", "each"):
                found = [det, *found]
            spans = list(re.finditer(r"\S+", text[m.start(2):]))
            after = m.start(2) + spans[end - 1].end()
            return _cap(" ".join(found + _qualifier(text, after)))
    return None


def _qualifier(text: str, at: int) -> list[str]:
    """'in open-plan offices', 'over 40' after an audience, unless it is the ad's setting."""
    tail = text[at:]
    rest = tail.split()
    if not rest or rest[0].lower() not in {"in", "on", "at", "over", "under", "aged", "from"}:
        return []
    if (m := _rx()["setting"].match(tail.lstrip())) and m.start() == 0:
        return []  # 'hikers on a muddy mountain trail': that is where, not who
    out = [rest[0]]
    for w in rest[1:4]:
        bare = w.rstrip(",.;:!?)")
        if bare.lower() in {"who", "that", "and", "with", "to", "for", "or", "but", "so"}:
            break
        out.append(bare)
        if bare != w:
            break
    if len(out) < 2 or out[-1].lower() in {"a", "an", "the", "their", "our", "of"}:
        return []
    return out


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
    tone = tone_key(rx["music"].sub(" ", text))  # 'upbeat music' is music, not tone
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
