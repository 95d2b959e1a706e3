"""The length a brief states: "15-second", "15s", "15 sec", ":15", "half a minute", "one minute".

Why here and not in the planner: the length is the project's, not a plan's. The brief sets
``Brief.duration_s`` when no length is given, so every planner (offline or OpenAI), the
board's target and the export all see the same number. Imports nothing from nbvideo.

Only a length that reads as the ad's own counts: "a 6-second bumper", "30s ad", ":15 spot",
"one minute" do; "set up in 5 minutes", "the first 3 seconds", "saves 10 minutes a day" do not.
"""

from __future__ import annotations

import re

__all__ = ["length_note", "stated_duration", "without_length"]

_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15,
    "twenty": 20, "thirty": 30, "forty": 40, "forty-five": 45, "fortyfive": 45, "fifty": 50,
    "sixty": 60, "ninety": 90, "hundred twenty": 120, "one hundred twenty": 120,
    "a hundred twenty": 120, "twenty-five": 25, "twenty five": 25, "forty five": 45,
}  # fmt: skip
_NUM = r"\d+(?:\.\d+)?|" + "|".join(re.escape(w).replace(r"\ ", r"[\s-]")
                                    for w in sorted(_NUMBERS, key=len, reverse=True))
_SEC = r"s|secs?|seconds?|\"|''"
_MIN = r"m|mins?|minutes?"
# What may follow a length that is the ad's own ("30s ad", "a 15 second TikTok spot").
_AD_WORDS = (r"ad|ads|advert|advertisement|spot|video|commercial|promo|bumper|cut|version|edit|"
             r"clip|reel|teaser|trailer|film|story|pre-?roll|short|explainer|piece|cutdown|"
             r"long|length|runtime|format|tv|tiktok|youtube|instagram|social")
# Words before a number that make it something other than the ad's length.
_NOT_LENGTH = (r"in|within|under|over|after|before|every|first|last|than|takes?|took|saves?|"
               r"saving|spend|spends|spent|per|each|next|only|just|for|lasts?|ready|charge|"
               r"charges|charging|battery|up\s+to|less|more")
_LENGTH = re.compile(
    rf"(?<![\w:.$%-])(?P<half>half\s+a\s+minute|half-minute|a\s+minute\s+and\s+a\s+half)"
    rf"(?![\w-])"
    rf"|(?<![\w:.$%-])(?P<num>{_NUM})\s*(?P<hy>-\s*)?(?P<unit>{_SEC}|{_MIN})(?P<long>-long)?"
    rf"(?![\w-])"
    rf"|(?<![\w:])(?P<colon>(?:0?0)?:(?P<cs>[0-5]\d))(?![\w:])",
    re.IGNORECASE)
_AFTER_AD = re.compile(rf"^\s*(?:[\w'-]+\s+){{0,2}}?(?:{_AD_WORDS})\b", re.IGNORECASE)
_BEFORE_BLOCK = re.compile(rf"\b(?:{_NOT_LENGTH})\s+(?:(?:a|an|the|about|around)\s+)?$",
                           re.IGNORECASE)
_TAIL_BLOCK = re.compile(r"^\s*(?:a|an|per|each|every)\s+(?:day|week|month|year|morning|night|"
                         r"time|session|use|charge)\b|^\s*(?:later|ago|of|to|or\s+less)\b",
                         re.IGNORECASE)


def _value(m: re.Match[str]) -> float | None:
    if m.group("half"):
        return 90.0 if "and" in m.group("half").lower() else 30.0
    if m.group("colon"):
        return float(m.group("cs"))
    raw = m.group("num").lower()
    n = float(raw) if raw[0].isdigit() else _NUMBERS.get(re.sub(r"[\s-]+", " ", raw),
                                                         _NUMBERS.get(raw))
    if n is None:
        return None
    unit = m.group("unit").lower()
    return float(n * 60 if unit[0] == "m" else n)


def _is_own_length(text: str, m: re.Match[str]) -> bool:
    """Hyphenated ('15-second'), ':15', 'half a minute', leading the brief or followed by an
    ad word is the ad's length; after 'in', 'first', 'saves' ... or before 'a day' it is not."""
    before, after = text[: m.start()], text[m.end():]
    if _BEFORE_BLOCK.search(before) or _TAIL_BLOCK.match(after):
        return False
    if m.group("colon") or m.group("half") or m.group("hy") or m.group("long"):
        return True
    if re.search(rf"\b(?:{_AD_WORDS})\s*$", before, re.IGNORECASE) and not after.strip(" .!"):
        return True  # '... bike light ad 10s'
    if not before.strip(" \"'(") or re.search(r"(?:^|[.!?:;]\s*)(?:a|an)?\s*$", before,
                                              re.IGNORECASE):
        return True  # '15s ad for ...', 'Brief: 30 seconds, ...', 'A 15 second spot'
    alone = re.match(r"^\s*(?:[,.;!?)]|$)", after) and re.search(r"[,(;:]\s*$", before)
    return bool(_AFTER_AD.match(after) or alone)


def stated_duration(text: str) -> float | None:
    """The ad's length in seconds as the brief states it (the first stated), else None.

    >>> stated_duration("A 6-second bumper for a bike light")
    6.0
    >>> stated_duration("half a minute for noise-cancelling earbuds")
    30.0
    >>> stated_duration("ad for an app you set up in 5 minutes") is None
    True
    """
    text = " ".join(text.split())
    for m in _LENGTH.finditer(text):
        value = _value(m)
        if value and _is_own_length(text, m):
            return value
    return None


def length_note(text: str, duration_s: float) -> str | None:
    """A note for when an explicit length overrides the one the brief states, else None."""
    stated = stated_duration(text)
    if stated is None or abs(stated - duration_s) < 0.05:
        return None
    return (f"the brief says {stated:g} s but duration_s={duration_s:g} was given; "
            f"the project is {duration_s:g} s (the explicit length wins)")


def without_length(text: str) -> str:
    """The brief with every stated length taken out ('A 6-second bumper for x' -> 'A bumper
    for x'), so the length is never read as part of the product or the audience."""
    text = " ".join(text.split())
    cuts = [m.span() for m in _LENGTH.finditer(text) if _is_own_length(text, m)]
    for a, b in reversed(cuts):
        text = text[:a] + " " + text[b:]
    return " ".join(text.split())
