"""The ad domain's vocabulary, read from ``model/data/structures.json``: ad structures and their
beats, product categories, tones (mood, lighting, palette), visual styles, the brief lexicon.

Why here: planning, the look, the storyboard and the campaign all speak these words; they are
the domain's, not the local provider's. Data, not code, so a director can add a structure
without touching Python.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

__all__ = ["ASPECTS", "DEFAULT_POLICY", "EXPORT_RESOLUTIONS", "POLICY_NAMES", "RESOLUTIONS",
           "SHORT_SIDES", "Aspect", "ExportResolution", "Resolution", "detect_category", "keyword",
           "load_structures", "mentioned_first", "tone_key"]

# The frames and sizes an ad is made in. Here, in a module that imports no pydantic, so the
# CLI can offer them as choices without loading the state models (`nbvideo --version` stays fast).
Aspect = Literal["16:9", "9:16", "1:1", "4:5"]
ASPECTS: tuple[str, ...] = ("16:9", "9:16", "1:1", "4:5")
Resolution = Literal["720p", "1080p"]
RESOLUTIONS: tuple[str, ...] = ("720p", "1080p")
# How model="auto" picks a video model per scene (plan/routing.py says what each means). One
# default for every entry point (generate_clips, regenerate_clip, estimate, `nbvideo run`,
# campaigns), here for the same reason: the CLI offers them without loading the planner.
POLICY_NAMES: tuple[str, ...] = ("complexity", "cheapest", "quality")
DEFAULT_POLICY = "complexity"

# What an export can be: the brief's resolutions (what clips are generated at) and 2160p,
# which no video model makes but imported 4K clips (p.import_clip) can fill.
ExportResolution = Literal["720p", "1080p", "2160p"]
EXPORT_RESOLUTIONS: tuple[str, ...] = ("720p", "1080p", "2160p")
SHORT_SIDES: dict[str, int] = {"720p": 720, "1080p": 1080, "2160p": 2160}

_B, _E = r"(?<![\w-])", r"(?![\w-])"  # word edges that keep 'high-energy' one word


@lru_cache(maxsize=1)
def load_structures() -> dict[str, Any]:
    """The domain data (structures, beats, vocabulary), read once from package data."""
    ref = resources.files("nbvideo.model") / "data" / "structures.json"
    data: dict[str, Any] = json.loads(ref.read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=8192)
def keyword(word: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive pattern: 'fast' must not match 'fast-paced' or 'breakfast'."""
    left, right = (_B if re.match(r"\w", word) else ""), (_E if re.search(r"\w$", word) else "")
    return re.compile(left + re.escape(word).replace(r"\ ", r"\s+") + right, re.IGNORECASE)


def mentioned_first(text: str, words: list[str]) -> tuple[int, str] | None:
    """(position, word) of the keyword mentioned first, so the brief's own order wins."""
    hits = [(m.start(), w) for w in words if (m := keyword(w).search(text))]
    return min(hits) if hits else None


def detect_category(brief_text: str) -> str:
    """Product category with the most keyword words hit; ties go to the earlier category."""
    cats = load_structures()["categories"]
    scores = {n: sum(len(k.split()) for k in c["keywords"] if keyword(k).search(brief_text))
              for n, c in cats.items()}  # 'power bank' says more than 'bank'

    best = max(scores.values())
    return next(n for n, s in scores.items() if s == best) if best else "generic"


def tone_key(text: str | None) -> str | None:
    """Map a tone answer or a brief to one of the tone classes in the data, or None."""
    tones = load_structures()["tones"]
    if not text or text.strip().lower() in tones:
        return text.strip().lower() if text else None
    hits = [(hit, name) for name, t in tones.items()
            if (hit := mentioned_first(text, t["keywords"]))]
    return min(hits)[1] if hits else None
