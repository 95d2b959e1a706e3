"""The project look: one style, palette, seed and product reference for every scene.

Why: frames made scene by scene drift (a red shoe in scene 1, an orange one in scene 3). A Look
is applied to every frame request the same way, so local frames share a palette and paid
frames share style words, colour names, a seed and, where the model takes one, the product
reference image.

    >>> look = Look(style_words=["cinematic", "35mm film"], palette=["#14261f", "#f26a21"],
    ...             product="grey trail shoe with orange laces")
    >>> apply_look("wide shot of a hiker on a ridge", look)  # doctest: +ELLIPSIS
    'wide shot of a hiker on a ridge, the grey trail shoe with orange laces exactly as in ...'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from pydantic import ConfigDict, Field

from nbvideo.model.checked import Checked
from nbvideo.model.color import Color, hex_rgb, luma
from nbvideo.model.vocabulary import detect_category, load_structures, tone_key

__all__ = ["Kit", "Look", "apply_look", "color_name", "look_from", "palette_for"]

class Kit(Protocol):
    """What the look needs of a brand kit (nbvideo.store.brands.BrandKit is one), so the model does not
    import the layer that reads kits from disk."""

    @property
    def palette(self) -> list[str]: ...

    def logo_path(self) -> Path | None: ...


MAX_PROMPT = 2000  # Scene.visual_prompt's limit; a looked prompt must still fit a scene

# Names a text-to-image model understands better than hex codes (it never saw '#f26a21').
_NAMED: dict[str, tuple[int, int, int]] = {
    "black": (10, 10, 12), "charcoal": (40, 42, 46), "slate grey": (92, 100, 110),
    "grey": (128, 128, 128), "silver": (192, 192, 196), "white": (250, 250, 250),
    "off-white": (240, 236, 226), "cream": (232, 223, 207), "beige": (214, 196, 166),
    "sand": (194, 170, 130), "tan": (160, 132, 97), "brown": (107, 76, 48),
    "dark brown": (59, 42, 30), "deep forest green": (20, 38, 31), "forest green": (47, 74, 58),
    "sage green": (143, 168, 154), "olive": (110, 112, 50), "green": (40, 150, 70),
    "lime": (198, 255, 26), "mint": (170, 230, 200), "teal": (0, 128, 128),
    "navy": (20, 30, 70), "deep blue": (20, 50, 120), "blue": (40, 100, 220),
    "sky blue": (120, 180, 235), "purple": (110, 50, 150), "plum": (43, 27, 46),
    "mauve": (109, 59, 92), "blush pink": (243, 217, 211), "pink": (240, 120, 170),
    "magenta": (200, 30, 130), "red": (200, 30, 40), "burgundy": (110, 20, 40),
    "burnt orange": (242, 106, 33), "orange": (250, 140, 30), "gold": (201, 164, 106),
    "yellow": (245, 210, 40), "mustard": (200, 160, 40),
}  # fmt: skip


def color_name(c: str) -> str:
    """Nearest plain-English name of a '#rrggbb' colour (weighted RGB distance)."""
    r, g, b = hex_rgb(c)

    def dist(n: tuple[int, int, int]) -> float:
        rm = (r + n[0]) / 2  # "redmean" approximation of perceived difference
        return ((2 + rm / 256) * (r - n[0]) ** 2 + 4 * (g - n[1]) ** 2
                + (2 + (255 - rm) / 256) * (b - n[2]) ** 2)

    return min(_NAMED, key=lambda k: dist(_NAMED[k]))


class Look(Checked):
    """Style words, palette (darkest first after `look_from`), seed and product reference."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    style_words: list[str] = Field(default_factory=list, max_length=12)
    palette: list[Color] = Field(default_factory=list, max_length=8)
    seed: int = Field(7, ge=0, le=2**31 - 1, description="Same seed for every scene's frame.")
    product: str = Field("", max_length=120, description="How the product looks, in words.")
    reference_image: str | None = Field(
        None, description="Product photo sent to image models that accept a reference."
    )
    logo: str | None = Field(
        None, description="Logo PNG placed on local frames (the brand kit's, by default)."
    )


def _present(prompt: str, phrase: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(phrase.lower()) + r"(?!\w)", prompt.lower()) is not None


def apply_look(visual_prompt: str, look: Look) -> str:
    """The scene's prompt with the look's product, style words and colours woven in.

    Idempotent (words already in the prompt are not repeated, so re-applying is a no-op and a
    scene's request hash stays put) and never longer than a scene prompt may be: style words
    are dropped from the end before the scene's own words are.
    """
    base = " ".join(visual_prompt.split()).rstrip(" ,.")
    tail = ""
    for marker in (", highly detailed, no text, no watermark", ", no text, no watermark"):
        if base.lower().endswith(marker):  # the planner's closing words stay last
            base, tail = base[: -len(marker)], marker
            break
    parts: list[str] = []
    if look.product and not _present(base, look.product):
        parts.append(f"the {look.product} exactly as in every other scene")
    parts += [w.strip() for w in look.style_words if w.strip() and not _present(base, w.strip())]
    names = list(dict.fromkeys(color_name(c) for c in look.palette))
    if names and not _present(base, "colour palette of"):
        parts.append("colour palette of " + ", ".join(names))
    while parts and len(", ".join([base, *parts])) + len(tail) > MAX_PROMPT:
        parts.pop()
    out = ", ".join([base, *parts]) + tail
    return out[:MAX_PROMPT]


def palette_for(brief_text: str, answers: dict[str, str] | None = None,
                kit: Kit | None = None) -> list[str]:
    """'#rrggbb' colours, darkest first: the brand's palette if there is a kit, else the tone's
    (answer, brief, or category default) from the domain vocabulary. The one place this choice
    is made: the local planner, the look and the campaign all ask here."""
    if kit is not None:
        return sorted((c.lower() for c in kit.palette), key=luma)
    data = load_structures()
    key = tone_key((answers or {}).get("tone")) or tone_key(brief_text)
    key = key or tone_key(data["categories"][detect_category(brief_text)]["tone"]) or "energetic"
    return sorted((c.lower() for c in data["tones"][key]["palette"]), key=luma)


def look_from(brief_text: str, answers: dict[str, str] | None = None, *,
              kit: Kit | None = None, seed: int = 7, product: str = "",
              reference_image: str | None = None, style_words: list[str] | None = None) -> Look:
    """A project's Look from its brief, answers and brand kit.

    Style words default to the answered visual style (the planner's style names map to
    fuller phrases) plus the tone's mood, so paid frames read like the local storyboard.
    """
    if style_words is None:
        data = load_structures()
        answers = answers or {}
        style_words = []
        if style := answers.get("style"):
            style_words += [w.strip() for w in data["styles"].get(style, style).split(",")]
        tone = tone_key(answers.get("tone")) or tone_key(brief_text)
        if tone:
            style_words.append(data["tones"][tone]["lighting"])
    logo = kit.logo_path() if kit is not None else None
    return Look(style_words=[w for w in style_words if w][:12],
                palette=palette_for(brief_text, answers, kit), seed=seed, product=product,
                reference_image=reference_image, logo=str(logo) if logo else None)
