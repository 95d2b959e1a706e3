"""The transitions vocabulary: every name a scene may hand over to the next one with.

Plain data, no ffmpeg: the names ffmpeg's `xfade` filter knows (its option list, ffmpeg 7-9,
libavfilter/vf_xfade.c), each with a family and a one-line description, plus three of our own
built from other filters ("dip_black", "dip_white", "whip") and "cut". Which xfade names the
bundled ffmpeg really has is asked of it at run time (`media.xfade.xfade_names`); this table
only says what each name means, so a name is accepted here and offered to users only when
both agree.

"crossfade" is the name projects saved before this table have: it is xfade's `fade`, and
"fade" given by a user is stored as "crossfade" (one name for one look).
"""

from __future__ import annotations

import difflib
from typing import NamedTuple

from nbvideo.errors import quote

__all__ = ["ALIASES", "BUILT", "CUT", "FAMILIES", "TRANSITIONS", "TransitionInfo",
           "canonical", "close_matches", "unknown_message", "xfade_name"]

CUT = "cut"


class TransitionInfo(NamedTuple):
    """One transition: its family, what it looks like, and the xfade name it renders with
    (None: a cut, or built from other filters)."""

    name: str
    family: str
    description: str
    xfade: str | None


def _x(name: str, family: str, description: str) -> TransitionInfo:
    return TransitionInfo(name, family, description, name)


_TABLE: tuple[TransitionInfo, ...] = (
    TransitionInfo("cut", "cut", "A hard cut: the next clip starts on the next frame.", None),
    TransitionInfo("crossfade", "fade",
                   "Both clips blend evenly from one to the other (ffmpeg's xfade 'fade').",
                   "fade"),
    _x("fadefast", "fade", "A crossfade that lets the next clip through early."),
    _x("fadeslow", "fade", "A crossfade that holds the first clip longer."),
    _x("fadeblack", "fade", "Darkens to black early, then fades up slowly into the next clip."),
    _x("fadewhite", "fade", "Brightens to white early, then fades down slowly into the next."),
    _x("fadegrays", "fade", "A crossfade through a grey-scale version of both clips."),
    _x("dissolve", "fade", "Scattered pixels of the next clip replace the first (random dither)."),
    _x("distance", "fade", "Pixels switch in order of how different the two clips are there."),
    TransitionInfo("dip_black", "dip",
                   "The first clip fades to black, the next fades up from it; black at "
                   "the midpoint.", None),
    TransitionInfo("dip_white", "dip",
                   "The first clip fades to white, the next fades down from it; white at "
                   "the midpoint.", None),
    _x("wipeleft", "wipe", "A hard edge moves right to left, uncovering the next clip."),
    _x("wiperight", "wipe", "A hard edge moves left to right, uncovering the next clip."),
    _x("wipeup", "wipe", "A hard edge moves bottom to top, uncovering the next clip."),
    _x("wipedown", "wipe", "A hard edge moves top to bottom, uncovering the next clip."),
    _x("wipetl", "wipe", "The first clip shrinks into the top-left corner, the next around it."),
    _x("wipetr", "wipe", "The first clip shrinks into the top-right corner, the next around it."),
    _x("wipebl", "wipe", "The first clip shrinks into the bottom-left corner, the next around it."),
    _x("wipebr", "wipe", "The first clip shrinks into the bottom-right corner, the next around it."),
    _x("smoothleft", "wipe", "A soft-edged wipe moving right to left."),
    _x("smoothright", "wipe", "A soft-edged wipe moving left to right."),
    _x("smoothup", "wipe", "A soft-edged wipe moving bottom to top."),
    _x("smoothdown", "wipe", "A soft-edged wipe moving top to bottom."),
    _x("diagtl", "wipe", "A soft diagonal wipe towards the top-left corner."),
    _x("diagtr", "wipe", "A soft diagonal wipe towards the top-right corner."),
    _x("diagbl", "wipe", "A soft diagonal wipe towards the bottom-left corner."),
    _x("diagbr", "wipe", "A soft diagonal wipe towards the bottom-right corner."),
    _x("radial", "wipe", "A clock hand sweeps round the centre, uncovering the next clip."),
    _x("slideleft", "slide", "The next clip pushes the first out to the left."),
    _x("slideright", "slide", "The next clip pushes the first out to the right."),
    _x("slideup", "slide", "The next clip pushes the first out upwards."),
    _x("slidedown", "slide", "The next clip pushes the first out downwards."),
    _x("coverleft", "slide", "The next clip slides in from the right over the still first."),
    _x("coverright", "slide", "The next clip slides in from the left over the still first."),
    _x("coverup", "slide", "The next clip slides up from below over the still first."),
    _x("coverdown", "slide", "The next clip slides down from above over the still first."),
    _x("revealleft", "slide", "The first clip slides out to the left over the still next."),
    _x("revealright", "slide", "The first clip slides out to the right over the still next."),
    _x("revealup", "slide", "The first clip slides out upwards over the still next."),
    _x("revealdown", "slide", "The first clip slides out downwards over the still next."),
    TransitionInfo("whip", "slide",
                   "A whip pan: a fast push to the left, smeared by motion blur at its "
                   "midpoint.", None),
    _x("circleopen", "shape", "The next clip appears in a soft circle growing from the centre."),
    _x("circleclose", "shape", "The first clip shrinks into a soft circle closing on the centre."),
    _x("circlecrop", "shape", "The first clip closes to a circle through black, the next opens."),
    _x("rectcrop", "shape", "The first clip closes to a rectangle through black, the next opens."),
    _x("vertopen", "shape", "The next clip opens out, soft-edged, from a vertical middle line."),
    _x("vertclose", "shape", "The next clip closes in, soft-edged, from the left and right."),
    _x("horzopen", "shape", "The next clip opens out, soft-edged, from a horizontal middle line."),
    _x("horzclose", "shape", "The next clip closes in, soft-edged, from the top and bottom."),
    _x("hlslice", "slice", "Staggered vertical strips wipe right to left."),
    _x("hrslice", "slice", "Staggered vertical strips wipe left to right."),
    _x("vuslice", "slice", "Staggered horizontal strips wipe bottom to top."),
    _x("vdslice", "slice", "Staggered horizontal strips wipe top to bottom."),
    _x("hlwind", "slice", "A ragged, wind-blown edge sweeps right to left."),
    _x("hrwind", "slice", "A ragged, wind-blown edge sweeps left to right."),
    _x("vuwind", "slice", "A ragged, wind-blown edge sweeps bottom to top."),
    _x("vdwind", "slice", "A ragged, wind-blown edge sweeps top to bottom."),
    _x("pixelize", "distort", "The picture breaks into big pixels while it turns into the next."),
    _x("hblur", "distort", "A horizontal blur rises over the first clip and clears on the next."),
    _x("zoomin", "distort", "Zooms into the first clip, then fades into the next."),
    _x("squeezeh", "distort", "The first clip is squashed into a thin horizontal band."),
    _x("squeezev", "distort", "The first clip is squashed into a thin vertical band."),
)

TRANSITIONS: dict[str, TransitionInfo] = {t.name: t for t in _TABLE}
"""Every transition name we know, in the order `nv.transitions()` lists them."""
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(t.family for t in _TABLE))
BUILT: frozenset[str] = frozenset(t.name for t in _TABLE if t.xfade is None and t.name != CUT)
"""Names built from other ffmpeg filters (no xfade name of their own)."""
ALIASES: dict[str, str] = {"fade": "crossfade", "dip-black": "dip_black",
                           "dip-white": "dip_white", "dip_to_black": "dip_black",
                           "dip_to_white": "dip_white"}
"""Other spellings users reach for, and the name each is stored as."""


def canonical(name: str) -> str | None:
    """The stored name for `name` (case and surrounding space ignored), or None if unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    return key if key in TRANSITIONS else None


def xfade_name(name: str) -> str | None:
    """The xfade transition `name` renders with; None for a cut or a built one."""
    return TRANSITIONS[name].xfade


def close_matches(name: str, among: list[str] | None = None, n: int = 4) -> list[str]:
    """Known names that look like `name` (a typo, a missing direction: 'wipe' -> wipeleft...)."""
    pool = among if among is not None else [*TRANSITIONS, *ALIASES]
    key = name.strip().lower()
    prefixed = [p for p in pool if key and p.startswith(key)]
    hits = [*prefixed, *difflib.get_close_matches(key, pool, n=n, cutoff=0.55)]
    return list(dict.fromkeys(ALIASES.get(h, h) for h in hits))[:n]


def unknown_message(name: object, among: list[str] | None = None) -> str:
    """'kind must be a transition name ..., got ...' with close matches, for an unknown name."""
    text = name if isinstance(name, str) and len(name) <= 40 else ""
    near = close_matches(text, among) if text.strip() else []
    hint = (f"; did you mean {', '.join(repr(m) for m in near)}?" if near
            else "; nv.transitions() lists them all")
    return (f"kind must be a transition name such as 'cut', 'crossfade' or 'wipeleft', "
            f"got {quote(name)}{hint}")
