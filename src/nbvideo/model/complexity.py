"""How hard a scene is for a video model: the complexity profile routing reads.

The planner gives each scene a profile (what is on screen that a cheap model gets wrong:
faces, fast motion, a camera move, words that must stay legible, a product close-up, someone
speaking on camera); `model="auto"` turns it into the quality tier the scene needs (see
plan/routing.py). `derive` reads the same profile from a scene's own words, shot, camera,
on-screen text and voice line: the offline planner uses it, and a scene saved before
profiles existed (or planned by a model that gave none) gets it the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pydantic import ConfigDict, Field

from nbvideo.model.checked import Checked
from nbvideo.model.grammar import singularize
from nbvideo.model.vocabulary import load_structures


class Complexity(Checked):
    """What in a scene is hard to generate well; every flag defaults to False."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    people: bool = Field(False, description="People or faces on screen.")
    fast_motion: bool = Field(False, description="Fast action: running, jumping, splashing.")
    camera_move: bool = Field(False, description="The camera moves (anything but static).")
    legible_text: bool = Field(False, description="Text or a logo in the picture that must "
                               "stay readable (a label, a sign, a screen, a wordmark).")
    product_closeup: bool = Field(False, description="A close-up or detail shot of the product.")
    dialogue: bool = Field(False, description="Someone speaks on camera (lips must match).")

    def flags(self) -> list[str]:
        """The set flags, in a stable order, as short words for a reason column."""
        names = {"people": "faces", "fast_motion": "fast motion", "camera_move": "camera move",
                 "legible_text": "legible text", "product_closeup": "product close-up",
                 "dialogue": "dialogue"}
        return [w for k, w in names.items() if getattr(self, k)]

    def tier(self) -> int:
        """The quality tier (1 draft, 2 good, 3 cinematic) the scene needs.

        Dialogue needs 3 (lip sync); so do faces in fast motion (bodies and faces warp
        first) and three demanding things at once; any one of faces, fast motion, legible
        text or a product close-up needs 2. A camera move is what every image-to-video model
        does well: alone (or nothing) needs 1, and it adds nothing to the rest."""
        demanding = [self.people, self.fast_motion, self.legible_text, self.product_closeup]
        if self.dialogue or (self.people and self.fast_motion) or sum(demanding) >= 3:
            return 3
        return 2 if any(demanding) else 1


# Words are matched whole, lower-case, after phrases that deny them ("no text", "without a
# logo") are taken out: the offline planner's prompts end "no text, no watermark".
_NEGATED = re.compile(r"\b(?:no|without|not|never)\s+(?:any\s+|a\s+|an\s+)?[\w-]+"
                      r"|\b(?:space|room)\s+for\s+[^,.;]*")  # 'space for a logo': empty
_PEOPLE_EXTRA = ("person", "face", "faces", "man", "woman", "boy", "girl", "child", "kid",
                 "baby", "model", "athlete", "hiker", "runner", "chef", "barista", "rider",
                 "cyclist", "customer", "crowd", "group", "team", "friends", "family",
                 "couple", "mom", "dad", "portrait", "selfie", "smiles", "smiling", "smile",
                 "hands", "hand")
_FAST = ("run", "runs", "running", "sprint", "sprints", "sprinting", "jump", "jumps",
         "jumping", "leap", "leaps", "leaping", "race", "races", "racing", "splash",
         "splashes", "splashing", "dash", "dashing", "chase", "chasing", "spin", "spinning",
         "dance", "dancing", "skate", "skating", "surf", "surfing", "crash", "crashing",
         "explode", "explodes", "exploding", "burst", "bursts", "fast", "speed", "speeding",
         "rush", "rushing", "charging", "charge", "mid-motion", "kick", "kicking", "throw", "throwing",
         "pour", "pouring", "rain", "downhill", "stride", "striding", "ride", "riding",
         "whip", "whips", "swing", "swinging", "flip", "flips", "slam-dunk", "dunk")
_TEXT = ("logo", "logos", "label", "labels", "labelled", "labeled", "packaging", "package",
         "sign", "signage", "signs", "screen", "screens", "app", "phone", "website", "text",
         "lettering", "headline", "wordmark", "badge", "price", "tag", "menu", "typography",
         "wordmarks", "card", "qr", "billboard", "poster", "readable")
_PRODUCT = ("product", "hero", "packshot", "pack", "bottle", "jar", "box", "shoe",
            "shoes", "sneaker", "bag", "watch", "phone", "device", "cup", "mug", "tube")
_TALK = ("talking", "talks", "talk", "speaking", "speaks", "says", "saying", "tells",
         "telling", "interview", "interviewed", "testimonial", "testimonials", "to camera",
         "to the camera", "on camera", "lip", "lips", "conversation", "chatting", "explains",
         "share why")


@lru_cache(maxsize=1)
def _people_words() -> frozenset[str]:
    nouns = [p for p in load_structures()["people"] if " " not in p]
    return frozenset(nouns) | {singularize(p) for p in nouns} | set(_PEOPLE_EXTRA)


def _words(text: str) -> tuple[set[str], str]:
    low = _NEGATED.sub(" ", text.lower())
    return set(re.findall(r"[a-z][a-z'-]*", low)), " ".join(low.split())


def _has(words: set[str], joined: str, vocab: tuple[str, ...] | frozenset[str]) -> bool:
    return any((w in joined) if " " in w else (w in words) for w in vocab)


def derive(*, description: str = "", visual_prompt: str = "", shot: str = "medium", camera: str = "static", on_screen_text: str = "",
           voice_line: str = "", beat: str = "", people_words: tuple[str, ...] = (),
           product_words: tuple[str, ...] = ()) -> Complexity:
    """The profile a scene's own fields show (rules, no model).

    `people_words` and `product_words` are what the planner knows this ad calls its
    audience ('weekend hikers') and its product ('trail shoe'), so they count too."""
    # What is drawn and animated is the visual prompt: faces, the product, words in the
    # picture are read from it (the description is the director's note, naming the audience
    # in nearly every scene); motion and speech happen over time, so the description counts.
    seen, seen_joined = _words(visual_prompt or description)
    words, joined = _words(" ".join((description, visual_prompt)))
    heads = [w for p in people_words for w in re.findall(r"[a-z]+", p.lower())[-1:]]
    people = _has(seen, seen_joined, _people_words() | set(heads) | {singularize(w) for w in heads})
    product = _has(seen, seen_joined, _PRODUCT) or any(
        w in seen for p in product_words for w in re.findall(r"[a-z]+", p.lower())[-1:])
    first_person = bool(re.match(r"\s*(i|i'm|i've|we|we're|my|our)\b", voice_line.lower()))
    return Complexity(
        people=people,
        fast_motion=_has(words, joined, _FAST),
        camera_move=camera != "static",
        legible_text=_has(seen, seen_joined, _TEXT),
        # a close shot of the product itself: its beat is about it, or nobody shares the frame
        product_closeup=shot in ("close-up", "detail") and product and (
            not people or beat in ("product", "offer", "call-to-action")),
        dialogue=bool(voice_line.strip()) and people and (
            _has(words, joined, _TALK) or first_person),
    )


def of_scene(scene: object) -> Complexity:
    """A scene's profile: the one it carries, else derived from its fields."""
    given = getattr(scene, "complexity", None)
    if isinstance(given, Complexity):
        return given
    return derive(**{k: getattr(scene, k, "") for k in (
        "description", "visual_prompt", "shot", "camera", "on_screen_text",
        "voice_line", "beat")})
