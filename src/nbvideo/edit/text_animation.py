"""Text animations (pop, slide, typewriter, word by word) on a text item.

Pop and slide are nothing but keyframes: they are written onto the item's scale, opacity
and x or y, so the items table and `p.timeline.keyframe` show and change them, and the
export draws them as it draws any keyframe (frame-exact). Typewriter and words need a
time per character or word, which keyframes cannot say: the item keeps its `animation`
and the export reveals the text panel unit by unit (render/overlay_items.py); only their
way out (a fade) is keyframes.

Every time is snapped to whole frames here, so what the table shows is what is drawn.
"""

from __future__ import annotations

import re
from typing import Any

from nbvideo.errors import InvalidInput, quote
from nbvideo.model.checked import as_finite
from nbvideo.model.tracks import ANIMATIONS, BOUNDS, DIRECTIONS, TextAnimation, TextItem

__all__ = ["DEFAULT_IN_S", "POP", "SLIDE", "animated", "checked", "keyframes_for", "owned",
           "refit", "reveal_frames", "spec", "units"]

DEFAULT_IN_S = {"pop": 0.4, "slide": 0.5}
"""Seconds the way in takes when `in_s` is not given (typewriter: 0.06 s a character,
words: 0.3 s a word; every default is cut to fit the item)."""
POP = ((0.0, 0.3), (0.6, 1.12), (1.0, 1.0))
"""Pop's scale over its way in: (fraction of in_s, factor on the item's scale); opacity
rises from 0 to the item's over the first half."""
SLIDE = 0.15
"""How far a slide travels: a fraction of the frame (width for left/right, height up/down)."""


def units(text: str, kind: str) -> list[str]:
    """What a reveal shows one at a time, in reading order: every character but line
    breaks (typewriter; a space is a beat), or every run of non-space characters (words)."""
    lines = text.splitlines()
    if kind == "words":
        return [w for line in lines for w in re.findall(r"\S+", line)]
    return [c for line in lines for c in line]


def reveal_frames(n: int, in_frames: int) -> list[int]:
    """The item frame each of `n` units appears on: evenly over `in_frames`, the first at
    frame 0 (several on one frame when there are more units than frames)."""
    return [k * in_frames // n for k in range(n)]


def owned(anim: TextAnimation | None) -> set[str]:
    """The properties whose keyframes the animation writes (and so replaces)."""
    if anim is None:
        return set()
    if anim.kind == "pop":
        return {"scale", "opacity"}
    if anim.kind == "slide":
        return {"x" if anim.direction in ("left", "right") else "y", "opacity"}
    return {"opacity"} if anim.out_s > 0 else set()



def _points(pts: list[tuple[float, float, str]], fps: int, lo: float, hi: float
            ) -> list[dict[str, Any]]:
    """Keyframes from (t_s, value, easing), times on whole frames; of two on one frame the
    later wins (a way in of one frame is a cut)."""
    out: list[dict[str, Any]] = []
    for t, v, easing in pts:
        f = round(t * fps)
        kf = {"t_s": round(f / fps, 6), "value": round(min(hi, max(lo, v)), 6),
              "easing": easing}
        if out and out[-1]["t_s"] >= kf["t_s"]:
            out[-1] = kf
        else:
            out.append(kf)
    return out


def keyframes_for(item: TextItem, anim: TextAnimation, fps: int) -> dict[str, list[dict]]:
    """The keyframes `anim` writes on `item`, by property (values around the item's own
    scale, opacity and position, so the animation ends where the item was placed)."""
    d, a_in, a_out = item.duration_s, anim.in_s, anim.out_s
    o, s = item.opacity, item.scale
    out: dict[str, list[tuple[float, float, str]]] = {}
    if anim.kind in ("pop", "slide"):
        out["opacity"] = [(0.0, 0.0, "ease-out"),
                          (a_in * (0.5 if anim.kind == "pop" else 1.0), o, "linear")]
    if anim.kind == "pop":
        out["scale"] = [(f * a_in, s * k, "ease-out" if i == 0 else "ease-in-out")
                        for i, (f, k) in enumerate(POP)]
        if a_out > 0:
            out["scale"] += [(d - a_out, s, "ease-in"), (d, s * POP[0][1], "linear")]
    elif anim.kind == "slide":
        prop = "x" if anim.direction in ("left", "right") else "y"
        home = getattr(item, prop)
        away = home + (SLIDE if anim.direction in ("right", "down") else -SLIDE)
        out[prop] = [(0.0, away, "ease-out"), (a_in, home, "linear")]
        if a_out > 0:
            out[prop] += [(d - a_out, home, "ease-in"), (d, away, "linear")]
    if a_out > 0:
        out.setdefault("opacity", []).extend([(d - a_out, o, "ease-in"), (d, 0.0, "linear")])
    return {p: _points(pts, fps, *BOUNDS[p][:2]) for p, pts in out.items()}


def _in_default(item: TextItem, kind: str) -> float:
    if kind == "typewriter":
        return 0.06 * max(1, len(units(item.text, kind)))
    if kind == "words":
        return 0.3 * max(1, len(units(item.text, kind)))
    return DEFAULT_IN_S[kind]


def checked(item: Any, kind: Any, in_s: Any, out_s: Any, direction: Any, fps: int,
            where: str) -> TextAnimation | None:
    """The animation asked for, checked: a text item, a known kind and direction, seconds
    that fit in the item (whole frames, the way in at least one)."""
    if kind is None:
        return None
    if kind not in ANIMATIONS:
        raise InvalidInput(f"{where}: animation: {quote(kind)} is not a text animation; use "
                           f"one of {', '.join(ANIMATIONS)} (or None for none)")
    if not isinstance(item, TextItem):
        raise InvalidInput(f"{where}: animation: only text items animate ({', '.join(ANIMATIONS)});"
                           f" this is a {getattr(item, 'kind', '?')} item: move it with "
                           "p.timeline.keyframe")
    if direction not in DIRECTIONS:
        raise InvalidInput(f"{where}: direction: {quote(direction)} is not a side; use one of "
                           f"{', '.join(DIRECTIONS)}")
    frame = 1 / fps
    d = item.duration_s
    if out_s is None:
        out_s = 0.0
    o = as_finite(out_s)
    if o is None or o < 0:
        raise InvalidInput(f"{where}: out_s must be seconds (a finite number from 0), "
                           f"got {quote(out_s)}")
    o = round(round(o * fps) / fps, 6)
    if in_s is None:
        i = min(_in_default(item, kind), d - o)
        i = max(frame, round(round(i * fps) / fps, 6))
    else:
        v = as_finite(in_s)
        if v is None or v <= 0:
            raise InvalidInput(f"{where}: in_s must be seconds (a finite number above 0), "
                               f"got {quote(in_s)}")
        i = round(max(1, round(v * fps)) / fps, 6)
    if i + o > d + 1e-9:
        raise InvalidInput(f"{where}: in_s + out_s ({i + o:g} s) must fit in the item's "
                           f"duration_s ({d:g} s); shorten them or lengthen the item")
    return TextAnimation(kind=kind, in_s=i, out_s=o, direction=direction)


def animated(item: TextItem, anim: TextAnimation | None, fps: int,
             before: TextAnimation | None = None) -> dict[str, Any]:
    """The item's fields with `anim` set and its keyframes written: the properties the old
    animation (`before`) and the new one own lose their keyframes, the new one's are set."""
    frames = {p: [k.model_dump() for k in ks] for p, ks in item.keyframes.items()
              if p not in owned(before) | owned(anim)}
    if anim is not None:
        frames.update(keyframes_for(item, anim, fps))
    return {"animation": None if anim is None else anim.model_dump(), "keyframes": frames}


def refit(a: TextAnimation | None, duration_s: float, fps: int) -> TextAnimation | None:
    """An animation for an item now `duration_s` long: in_s and out_s cut in proportion
    when they no longer fit (whole frames, at least one frame in)."""
    if a is None or a.in_s + a.out_s <= duration_s + 1e-9:
        return a
    total = round(duration_s * fps)
    out_f = min(total - 1, int(a.out_s * duration_s / (a.in_s + a.out_s) * fps))
    in_f = max(1, total - out_f)
    return a.model_copy(update={"in_s": round(in_f / fps, 6), "out_s": round(out_f / fps, 6)})


_SPEC_KEYS = ("kind", "in_s", "out_s", "direction")


def spec(value: Any, where: str) -> tuple[Any, Any, Any, Any]:
    """An animation as given (a kind's name, a dict, a TextAnimation, None for none) as
    (kind, in_s, out_s, direction) for `checked`."""
    if value is None or isinstance(value, str):
        return (value, None, None, "left")
    if isinstance(value, TextAnimation):
        value = value.model_dump()
    if isinstance(value, tuple) and len(value) == 4:
        return value
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: animation must be one of {', '.join(ANIMATIONS)}, a dict "
                           f"with {', '.join(_SPEC_KEYS)}, or None; got {quote(value)}")
    bad = sorted(set(map(str, value)) - set(_SPEC_KEYS))
    if bad:
        raise InvalidInput(f"{where}: animation: {', '.join(bad)} is not an animation field; "
                           f"use {', '.join(_SPEC_KEYS)}")
    return (value.get("kind"), value.get("in_s"), value.get("out_s"),
            value.get("direction") or "left")
