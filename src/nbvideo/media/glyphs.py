"""Text in any script: which font draws each character, right-to-left runs in their visual
order, and a warning naming the characters no font has.

Why: the brand fonts (Manrope, League Spartan) and Pillow's default cover Latin only, so
Arabic, Hebrew or emoji came out as boxes, question marks, or nothing at all (League Spartan's
missing-glyph shape is empty). A line is split into runs, each one font and one direction:
the line's own font keeps every character it has, so Latin text is drawn exactly as before,
and the rest falls back to the bundled Noto fonts (OFL). Runs are ordered by a compact form of
the Unicode bidi algorithm (no explicit embeddings); each run is then shaped by libraqm in
Pillow (HarfBuzz + FriBiDi: Arabic joining, mirrored brackets) or by drawtext's own
HarfBuzz + FriBiDi in ffmpeg. Pillow's wheel loads FriBiDi from the system (libfribidi0).

    stack = FontStack(ImageFont.truetype("Manrope-Regular.ttf", 40))
    stack.draw(ImageDraw.Draw(img), (20, 60), "Shop now تسوق الآن 🛒", fill="white")
"""

from __future__ import annotations

import functools
import io
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import ImageDraw, ImageFont

from nbvideo.errors import GlyphWarning, quote

__all__ = ["FALLBACK_FONTS", "FaceMetrics", "FontStack", "Run", "face_metrics", "has_rtl",
           "rtl_paragraph", "warn_missing"]

_FONTS = Path(__file__).parents[1] / "data" / "fonts"
FALLBACK_FONTS: tuple[Path, ...] = tuple(_FONTS / n for n in (
    "NotoSans.ttf", "NotoSansArabic.ttf", "NotoSansHebrew.ttf", "NotoSansSymbols.ttf",
    "NotoEmoji.ttf"))
"""Tried in order for a character the line's font lacks (Latin-extended, Cyrillic and Greek;
Arabic; Hebrew; symbols; emoji, monochrome). All are Noto, under data/fonts/OFL-Noto.txt."""

_TOFU = FALLBACK_FONTS[0]  # a character no font has is drawn as this font's box, never a blank
_INHERIT = {"Mn", "Me", "Cf", "Zs", "Cc", "Sk"}  # marks, joiners, spaces: their neighbour's font


@dataclass(frozen=True)
class Run:
    """Part of a line in one font and one direction; `text` is what the shaper is given: in
    typed order, or already reversed for a right-to-left run of neutrals (see `_settled`)."""

    text: str
    font: Path | None  # None: the line's own font
    rtl: bool


@functools.lru_cache(maxsize=64)
def _cmap_of(key: str, data: bytes | None) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    src: Any = io.BytesIO(data) if data is not None else key
    with TTFont(src, lazy=True, fontNumber=0) as tt:
        return frozenset(tt.getBestCmap() or {})


def _cmap(font: ImageFont.FreeTypeFont | Path) -> frozenset[int]:
    if isinstance(font, Path):
        return _cmap_of(str(font), None)
    path = font.path
    if isinstance(path, io.BytesIO):  # Pillow's built-in default font
        return _cmap_of("bytes:" + "-".join(font.getname() or ()), path.getvalue())
    return _cmap_of(str(path), None)


def _direction(ch: str) -> str:
    """'R' (right-to-left letter), 'L' (left-to-right letter), 'D' (digit) or 'N' (neutral)."""
    b = unicodedata.bidirectional(ch)
    if b in ("R", "AL"):
        return "R"
    if b == "L":
        return "L"
    if b in ("EN", "AN"):
        return "D"
    return "N"


def has_rtl(text: str) -> bool:
    return any(_direction(c) == "R" for c in text)


def rtl_paragraph(text: str) -> bool:
    """Whether the text reads right to left: its first letter is Arabic, Hebrew, ..."""
    return next((_direction(c) == "R" for c in text if _direction(c) in "RL"), False)


def _levels(text: str) -> list[int]:
    """Embedding levels of the implicit bidi rules (UAX #9 W1-W7, N1-N2, I1-I2, simplified):
    the paragraph's direction is its first letter's; digits after right-to-left letters
    are a left-to-right number inside them; neutrals between two like sides take that side,
    other neutrals the paragraph's."""
    kinds = [_direction(c) for c in text]
    base = next((1 if k == "R" else 0 for k in kinds if k in "RL"), 0)
    strong, last = [], "R" if base else "L"
    for k in kinds:  # a digit takes the side of the letter before it (R for 'digit in RTL')
        if k in "RL":
            last = k
        strong.append(("R" if last == "R" else "L") if k == "D" else k)
    out = list(strong)
    i = 0
    while i < len(out):
        if out[i] != "N":
            i += 1
            continue
        j = i
        while j < len(out) and out[j] == "N":
            j += 1
        before = strong[i - 1] if i else ("R" if base else "L")
        after = strong[j] if j < len(out) else ("R" if base else "L")
        side = before if before == after else ("R" if base else "L")
        out[i:j] = [side] * (j - i)
        i = j
    levels = []
    for k, kind in zip(out, kinds, strict=True):
        if base == 0:
            levels.append(2 if kind == "D" and k == "R" else 1 if k == "R" else 0)
        else:
            levels.append(1 if k == "R" and kind != "D" else 2)
    return levels


def _visual(runs: list[tuple[int, Run]]) -> list[Run]:
    """Rule L2 over runs: from the highest level down to the lowest odd one, reverse every
    stretch of runs at that level or above."""
    if not runs:
        return []
    order = list(runs)
    top = max(lv for lv, _ in order)
    low_odd = min((lv for lv, _ in order if lv % 2), default=top + 1)
    for level in range(top, low_odd - 1, -1):
        i = 0
        while i < len(order):
            if order[i][0] >= level:
                j = i
                while j < len(order) and order[j][0] >= level:
                    j += 1
                order[i:j] = order[i:j][::-1]
                i = j
            else:
                i += 1
    return [r for _, r in order]


_MIRROR = dict(zip("()[]{}<>«»", ")(][}{><»«", strict=True))


def _settled(run: Run) -> Run:
    """A right-to-left run with no right-to-left letter (spaces, dashes, an emoji) laid out
    here, reversed and mirrored: a shaper given it alone would see no direction and set it
    left to right, and Pillow and drawtext must agree on where each piece goes."""
    if not run.rtl or has_rtl(run.text):
        return run
    return Run("".join(_MIRROR.get(c, c) for c in reversed(run.text)), run.font, False)


class FontStack:
    """A font and the bundled fallbacks behind it, at the font's pixel size.

    `plain(text)` says whether the font alone draws the text left to right, in which case
    every method does exactly what the font would (same lengths, same pixels)."""

    def __init__(self, font: ImageFont.FreeTypeFont, fallbacks: Sequence[Path] = FALLBACK_FONTS):
        self.font = font
        self.size = font.size
        self.fallbacks = tuple(fallbacks)
        self._own = _cmap(font)

    def _sub(self, path: Path | None) -> ImageFont.FreeTypeFont:
        return self.font if path is None else _truetype(str(path), self.size)

    def _owner(self, ch: str) -> Path | None | bool:
        """Which font draws `ch`: None for the line's own, a fallback's path, or False."""
        cp = ord(ch)
        if cp in self._own:
            return None
        for path in self.fallbacks:
            if cp in _cmap(path):
                return path
        return False

    def missing(self, text: str) -> list[str]:
        """Characters of `text` that no font in the stack has, each once, in order."""
        out: list[str] = []
        for ch in text:
            if (unicodedata.category(ch) not in _INHERIT and ch not in out
                    and self._owner(ch) is False):
                out.append(ch)
        return out

    def plain(self, text: str) -> bool:
        cm = self._own
        return not has_rtl(text) and all(
            ord(c) in cm or unicodedata.category(c) in _INHERIT for c in text)

    def font_runs(self, text: str) -> list[tuple[str, Path | None]]:
        """The line split where its font changes, in typed (logical) order: (text, font),
        None for the line's own font. For a renderer that does its own bidi (libass).
        Spaces and marks go with the character before them (at the start: after them)."""
        inherit = object()
        firm = [inherit if unicodedata.category(ch) in _INHERIT else self._owner(ch)
                for ch in text]
        owners: list[Path | None] = []
        last: Any = next((o for o in firm if o is not inherit), None)
        for got in firm:
            if got is not inherit:
                last = got
            owners.append(_TOFU if last is False else last)  # type: ignore[arg-type]
        out: list[tuple[str, Path | None]] = []
        for ch, owner in zip(text, owners, strict=True):
            if out and out[-1][1] == owner:
                out[-1] = (out[-1][0] + ch, owner)
            else:
                out.append((ch, owner))
        return out

    def runs(self, text: str) -> list[Run]:
        """The line as runs in visual order, left to right on screen."""
        if not text:
            return []
        owners: list[Path | None] = []
        for ch in text:
            o = None if unicodedata.category(ch) in _INHERIT else self._owner(ch)
            owners.append(_TOFU if o is False else o)  # type: ignore[arg-type]
        # marks, joiners and spaces go with the character before them (or after, at the start)
        firm = [i for i, ch in enumerate(text) if unicodedata.category(ch) not in _INHERIT]
        last = firm[0] if firm else None
        for i, ch in enumerate(text):
            if unicodedata.category(ch) in _INHERIT:
                owners[i] = owners[last] if last is not None else None
            else:
                last = i
        levels = _levels(text)
        runs: list[tuple[int, Run]] = []
        start = 0
        for i in range(1, len(text) + 1):
            if i == len(text) or owners[i] != owners[start] or levels[i] != levels[start]:
                runs.append((levels[start],
                             Run(text[start:i], owners[start], levels[start] % 2 == 1)))
                start = i
        return [_settled(r) for r in _visual(runs)]

    def getlength(self, text: str) -> float:
        """Advance width of the line in pixels, as `draw` sets it."""
        if self.plain(text):
            return self.font.getlength(text)
        return sum(self._sub(r.font).getlength(r.text, **_direction_kw(self._sub(r.font), r.rtl))
                   for r in self.runs(text))

    def getmetrics(self) -> tuple[int, int]:
        return self.font.getmetrics()

    def placed(self, text: str, x: float) -> list[tuple[Run, float, float]]:
        """Each run with its left edge and width, the line starting at `x`."""
        out = []
        for r in self.runs(text):
            w = self._sub(r.font).getlength(r.text, **_direction_kw(self._sub(r.font), r.rtl))
            out.append((r, x, w))
            x += w
        return out

    def draw(self, draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str,
             anchor: str | None = None, **kw: Any) -> None:
        """ImageDraw.text with fallback fonts; `anchor` as Pillow's (default 'la')."""
        if self.plain(text):
            draw.text(xy, text, font=self.font, anchor=anchor, **kw)
            return
        anchor = anchor or "la"
        x, y = xy
        ascent, descent = self.font.getmetrics()
        width = self.getlength(text)
        x -= {"l": 0.0, "m": width / 2, "r": width}.get(anchor[0], 0.0)
        base = y + {"a": ascent, "t": ascent, "m": (ascent - descent) / 2, "s": 0,
                    "b": -descent, "d": -descent}.get(anchor[1], 0)
        placed = self.placed(text, x)
        if any(run.rtl for run, _x, _w in placed) and not rtl_shaping():
            warnings.warn(f"right-to-left text {quote(text)} is drawn unshaped (letters unjoined): "
                          "Pillow finds no FriBiDi on this system. Install it (Debian/Ubuntu: "
                          "apt-get install libfribidi0, as make test and make demo do) and "
                          "draw again", GlyphWarning, stacklevel=2)
        for run, left, _w in placed:
            sub = self._sub(run.font)
            draw.text((left, base), run.text, font=sub, anchor="ls",
                      **_direction_kw(sub, run.rtl), **kw)


@dataclass(frozen=True)
class FaceMetrics:
    """What libass needs to set a font at a given em size: its family name (name ID 1, what
    `\\fn` matches) and the OS/2 win ascent and descent, which libass takes as the font's
    height (a size of N pixels makes winAscent + winDescent N pixels, not the em)."""

    family: str
    units_per_em: int
    win_ascent: int
    win_descent: int

    def ass_size(self, em_px: float) -> float:
        """The ASS font size that draws this font at `em_px` pixels per em, as Pillow and
        drawtext do."""
        return em_px * (self.win_ascent + self.win_descent) / self.units_per_em

    def descent(self, em_px: float) -> float:
        """Pixels below the baseline libass counts as the line's descent at `em_px`."""
        return em_px * self.win_descent / self.units_per_em


@functools.lru_cache(maxsize=32)
def face_metrics(path: Path) -> FaceMetrics:
    from fontTools.ttLib import TTFont

    with TTFont(str(path), lazy=True, fontNumber=0) as tt:
        os2, upem = tt["OS/2"], tt["head"].unitsPerEm
        asc, desc = int(os2.usWinAscent), int(os2.usWinDescent)
        if asc + desc == 0:  # libass then uses hhea
            asc, desc = int(tt["hhea"].ascent), -int(tt["hhea"].descent)
        family = tt["name"].getDebugName(1) or path.stem
    return FaceMetrics(family=family, units_per_em=upem, win_ascent=asc, win_descent=desc)


@functools.cache
def rtl_shaping() -> bool:
    """Whether Pillow can shape right-to-left text: libraqm, with FriBiDi from the system."""
    from PIL import features

    return bool(features.check_feature("raqm") and features.check_feature("fribidi"))


def _direction_kw(font: ImageFont.FreeTypeFont, rtl: bool) -> dict[str, str]:
    """Pillow takes a direction only with libraqm (a font made with the basic layout, like
    Pillow's built-in one, refuses it); without it a right-to-left run is set unshaped."""
    return {"direction": "rtl" if rtl else "ltr"} if font.layout_engine == RAQM else {}


RAQM = ImageFont.Layout.RAQM


@functools.lru_cache(maxsize=64)
def _truetype(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def warn_missing(stack: FontStack, text: str, where: str, *, stacklevel: int = 3) -> list[str]:
    """Warn (GlyphWarning) naming the characters of `text` no font has; return them."""
    gone = stack.missing(text)
    if gone:
        names = ", ".join(f"{c!r} (U+{ord(c):04X} {unicodedata.name(c, 'unnamed')})"
                          for c in gone[:8])
        warnings.warn(f"{where}: no bundled font can draw {names}; it shows as a box. Remove "
                      "or replace the character, or give the brand kit a font that has it",
                      GlyphWarning, stacklevel=stacklevel)
    return gone
