"""Captions that follow the voice word by word: karaoke, pop-in and boxed lines, drawn by
libass from a generated ASS file inside the export's single ffmpeg graph, and the ASS
sidecar that keeps each word's time for a player or an editor.

Why libass: it shapes and orders every line itself (HarfBuzz, FriBiDi), and one `ass` filter
draws hundreds of timed word states where drawtext would need one filter per word per line.
The bundled ffmpeg has it (`ffmpeg -filters` lists `ass` and `subtitles`).

The layout is still ours (`layout_text`: the safe area, the logo, the brand kit's font and
size), so libass only draws: each line is its own event at a fixed position, its runs in the
font `FontStack` chose for them (`\\fn`, with `\\fs` so every font has the same em size as in
Pillow and drawtext), and libass is pointed at a folder holding exactly those fonts, so
Arabic and emoji come from the bundled Noto fonts and never from whatever the system has.

Times are whole frames: an event that starts on frame f starts half a frame before it, like
drawtext's enable windows, so no rounding to ASS's centiseconds shows a word a frame early or
late (at up to 60 fps).
"""

from __future__ import annotations

import hashlib
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nbvideo.edit.captions import Cue, TextLayout, _font, filter_value, layout_text
from nbvideo.media.glyphs import FALLBACK_FONTS, face_metrics, warn_missing
from nbvideo.model.color import hex_rgb
from nbvideo.model.presets import Rect, SafeArea, TextItem
from nbvideo.model.speech import Timings, WordTiming
from nbvideo.model.state import CaptionLook
from nbvideo.store.brands import CaptionStyle

__all__ = [
    "CueWord", "WordBurn", "WordCue", "ass_sidecar", "burn_in_words", "cue_words",
    "fonts_dir",
]  # fmt: skip

DEFAULT_HIGHLIGHT = "#ffd21f"
"""The karaoke colour without a brand kit (or when the kit's accent is the text's colour)."""


class CueWord(BaseModel):
    """One word of a cue on the film's frames: said from `start_frame` until `end_frame`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    word: str = Field(min_length=1)
    start_frame: int = Field(ge=0)
    end_frame: int = Field(ge=0)


class WordCue(BaseModel):
    """A caption cue with its words' frames, and where those came from: the voice model's
    own timestamps (`"provider"`) or the audio and the text (`"estimated"`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cue: Cue
    words: list[CueWord]
    timings: Timings

    @model_validator(mode="after")
    def _inside(self) -> WordCue:
        last = self.cue.start_frame
        for w in self.words:
            if not (last <= w.start_frame <= w.end_frame <= self.cue.end_frame):
                raise ValueError(f"word {w.word!r} ({w.start_frame}-{w.end_frame}) is out of "
                                 f"order or outside its cue ({self.cue.start_frame}-"
                                 f"{self.cue.end_frame})")
            last = w.start_frame
        return self


def cue_words(cue: Cue, words: Sequence[WordTiming], offset_s: float, timings: Timings,
              tempo: float = 1.0) -> WordCue:
    """A cue's words on the film: each line-relative time played `tempo` times faster and
    placed `offset_s` into the film, snapped to the nearest frame and kept inside the cue and
    in order (a word cut off by the scene's end starts and ends on the cue's last frame)."""
    rate = Fraction(cue.fps).limit_denominator(1001)

    def frame(t: float) -> int:
        f = round(Fraction(offset_s + t / tempo).limit_denominator(10**6) * rate)
        return min(max(f, cue.start_frame), cue.end_frame)

    out: list[CueWord] = []
    last = cue.start_frame
    for w in words:
        a = max(frame(w.start_s), last)
        b = max(frame(w.end_s), a)
        out.append(CueWord(word=w.word, start_frame=a, end_frame=b))
        last = a
    return WordCue(cue=cue, words=out, timings=timings)


# ------------------------------------------------------------------------------- ASS text
def _colour(c: str, alpha: float = 1.0) -> str:
    """'#rrggbb' -> ASS '&HAABBGGRR' (ASS alpha: 00 opaque, FF clear)."""
    r, g, b = hex_rgb(c)
    return f"&H{round((1 - alpha) * 255):02X}{b:02X}{g:02X}{r:02X}"


def _bgr(c: str) -> str:
    r, g, b = hex_rgb(c)
    return f"&H{b:02X}{g:02X}{r:02X}&"


def _time(cs: int) -> str:
    h, rest = divmod(max(0, cs), 360_000)
    m, rest = divmod(rest, 6000)
    s, cs = divmod(rest, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def _edge(frame: int, fps: float) -> int:
    """Centiseconds half a frame before `frame` starts (see the module's note)."""
    rate = Fraction(fps).limit_denominator(1001)
    return max(0, round((frame - Fraction(1, 2)) / rate * 100))


def _escape(text: str) -> str:
    """Text as ASS shows it literally: no override blocks, no \\N or \\h escapes."""
    return (text.replace("\\", "\\\u2060").replace("{", "\\{").replace("}", "\\}")
            .replace("\n", " "))


_HEADER = """[Script Info]
; {note}
ScriptType: v4.00+
PlayResX: {w}
PlayResY: {h}
WrapStyle: {wrap}
ScaledBorderAndShadow: yes
YCbCr Matrix: None

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, \
Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
{styles}
[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


def _style_line(name: str, font: str, size: float, primary: str, secondary: str,
                outline: str, back: str, border_style: int, outline_px: float,
                align: int) -> str:
    # Encoding -1: libass finds each line's direction from its text (an Arabic line reads
    # right to left) instead of VSFilter's left-to-right default.
    return (f"Style: {name},{font},{size:.2f},{primary},{secondary},{outline},{back},"
            f"0,0,0,0,100,100,0,0,{border_style},{outline_px:g},0,{align},0,0,0,-1\n")


# ------------------------------------------------------------------------------- burn-in
@dataclass
class WordBurn:
    """The ASS script for the export graph, what it puts where (for `check_export`), and
    the filter that draws it once the script is written (`filter_for`)."""

    script: str
    fonts: tuple[Path, ...]
    items: list[TextItem]
    layouts: list[TextLayout]

    def filter_for(self, script_path: Path, fonts_path: Path) -> str:
        return (f"ass=filename={filter_value(script_path)}:"
                f"fontsdir={filter_value(fonts_path)}:shaping=complex")


def _pieces(lines: list[str], words: list[CueWord]) -> list[list[tuple[str, int]]]:
    """Each laid-out line as (text piece, word index) pairs, spaces between words as index
    -1; a long word the layout hard-broke over two lines is one word on both."""
    out: list[list[tuple[str, int]]] = []
    n, left = 0, words[0].word if words else ""
    for line in lines:
        row: list[tuple[str, int]] = []
        for k, piece in enumerate(line.split(" ")):
            if k:
                row.append((" ", -1))
            row.append((piece, min(n, len(words) - 1)))
            if left.startswith(piece) and len(piece) < len(left):
                left = left[len(piece):]
            else:
                n += 1
                left = words[n].word if n < len(words) else ""
        out.append(row)
    return out


class _Painter:
    """Writes one line's text with its font runs, and colour or visibility per word."""

    def __init__(self, lay: TextLayout, style: CaptionStyle) -> None:
        self.stack = _font(lay.font, lay.font_px)
        self.own = face_metrics(lay.font)
        self.px = lay.font_px
        self.style = style
        self.fonts: set[Path] = set()

    def run(self, text: str) -> str:
        out = []
        for part, font in self.stack.font_runs(text):
            if font is None:
                out.append(_escape(part))
            else:
                m = face_metrics(font)
                self.fonts.add(font)
                out.append(f"{{\\fn{m.family}\\fs{m.ass_size(self.px):.2f}}}{_escape(part)}"
                           f"{{\\fn{self.own.family}\\fs{self.own.ass_size(self.px):.2f}}}")
        return "".join(out)

    def descent(self, line: str) -> float:
        """What libass counts below the line's baseline: the largest descent of its fonts."""
        fonts = {f for _t, f in self.stack.font_runs(line) if f is not None}
        return max([self.own.descent(self.px)] + [face_metrics(f).descent(self.px)
                                                  for f in fonts])


def burn_in_words(cues: list[WordCue], look: CaptionLook, style: CaptionStyle,
                  frame_w: int, frame_h: int, safe_area: SafeArea | Rect, *,
                  highlight: str = DEFAULT_HIGHLIGHT, label: str = "caption",
                  base: Path | None = None, avoid: Rect | None = None,
                  warn: bool = True) -> WordBurn:
    """The ASS script that draws `cues` in `look` ('karaoke', 'pop-in' or 'boxed').

    Karaoke: each line whole, the word being said (from its first frame until the next word
    starts) in `highlight`. Pop-in: the words appear one by one as they are said, in place
    (the line does not reflow). Boxed: each line whole on its own box in the style's box
    colour. All in the style's font, colours and outline, laid out by `layout_text` inside
    the safe area and clear of `avoid` (the logo)."""
    if look == "lines":
        raise ValueError("'lines' captions are drawn by edit.captions.burn_in (drawtext)")
    boxed = look == "boxed"
    lay_style = style.model_copy(update={"box": True}) if boxed else style
    own = face_metrics(_font_path(style, base))
    outline_px = round(style.outline_px * frame_h / 1080)
    styles = _style_line("Caption", own.family, 10, _colour(style.color), _colour(style.color),
                         _colour(style.outline_color), _colour(style.outline_color), 1,
                         outline_px, 2)
    styles += _style_line("Box", own.family, 10, _colour(style.box_color, style.box_opacity),
                          _colour(style.box_color, style.box_opacity), "&H00000000",
                          "&H00000000", 1, 0, 7)
    events: list[str] = []
    items: list[TextItem] = []
    layouts: list[TextLayout] = []
    fonts: set[Path] = {_font_path(style, base)}
    for n, wc in enumerate(cues, 1):
        cue = wc.cue
        lay = layout_text(cue.text, lay_style, frame_w, frame_h, safe_area, base=base,
                          avoid=avoid)
        layouts.append(lay)
        items.append(TextItem(label=f"{label} {n}", rect=lay.rect, start_s=cue.start_s,
                              end_s=cue.end_s))
        paint = _Painter(lay, style)
        if warn:
            warn_missing(paint.stack, cue.text, f"{label} {n}")
        on, off = _edge(cue.start_frame, cue.fps), _edge(cue.end_frame, cue.fps)
        events += _boxes(lay, paint, boxed or style.box, boxed, on, off)
        size = f"\\fs{own.ass_size(lay.font_px):.2f}\\bord{lay.outline_px}"
        rows = _pieces(lay.lines, wc.words)
        states = _states(wc, look)
        for line, y, row in zip(lay.lines, lay.baselines, rows, strict=True):
            at = f"{{\\an2\\pos({lay.center_x},{y + paint.descent(line):.1f}){size}}}"
            for a, b, current in states:
                text = _paint_row(row, paint, look, current, highlight, style.color)
                events.append(f"Dialogue: 1,{_time(_edge(a, cue.fps))},"
                              f"{_time(_edge(b, cue.fps))},Caption,{wc.timings},0,0,0,,"
                              f"{at}{text}\n")
        fonts |= paint.fonts
    note = "nbvideo burned-in captions: one event per line and word state"
    # WrapStyle 2: no wrapping, every line is already where the layout put it
    script = (_HEADER.format(note=note, w=frame_w, h=frame_h, wrap=2, styles=styles)
              + "".join(events))
    return WordBurn(script=script, fonts=tuple(sorted(fonts)), items=items, layouts=layouts)


def _font_path(style: CaptionStyle, base: Path | None) -> Path:
    from nbvideo.store.brands import font_file

    return font_file(style.font, base)


def _states(wc: WordCue, look: CaptionLook) -> list[tuple[int, int, int]]:
    """(first frame, end frame, index of the word being said; -1 before the first) of each
    stretch of the cue that looks the same; boxed lines are one stretch."""
    cue = wc.cue
    if look == "boxed" or not wc.words:
        return [(cue.start_frame, cue.end_frame, -1)]
    cuts = [(cue.start_frame, -1)] + [(w.start_frame, i) for i, w in enumerate(wc.words)]
    out = []
    for (a, i), (b, _j) in zip(cuts, [*cuts[1:], (cue.end_frame, -2)], strict=True):
        if b > a:
            out.append((a, b, i))
    return out


def _paint_row(row: list[tuple[str, int]], paint: _Painter, look: CaptionLook, current: int,
               highlight: str, colour: str) -> str:
    out = []
    hidden = False
    for piece, i in row:
        if look == "pop-in" and not hidden and i > current:
            out.append("{\\alpha&HFF&}")  # the rest of the line is there, unseen
            hidden = True
        text = paint.run(piece)
        if look == "karaoke" and i == current and i >= 0:
            text = f"{{\\1c{_bgr(highlight)}}}{text}{{\\1c{_bgr(colour)}}}"
        out.append(text)
    return "".join(out)


def _boxes(lay: TextLayout, paint: _Painter, box: bool, per_line: bool, on: int,
           off: int) -> list[str]:
    """Box events under the text: one per line (boxed captions) or one for the block (a
    style with `box`), as libass drawings in frame pixels."""
    if not box:
        return []
    if not per_line:
        rects = [lay.rect]
    else:
        ascent, descent = paint.stack.getmetrics()
        rects, floor = [], lay.rect.y
        for line, y in zip(lay.lines, lay.baselines, strict=True):
            w = math.ceil(paint.stack.getlength(line)) + 2 * lay.pad[0] + 2 * lay.outline_px
            top = max(floor, y - ascent - lay.pad[1] - lay.outline_px)
            bottom = y + descent + lay.pad[1] + lay.outline_px
            rects.append(Rect(x=lay.center_x - w // 2, y=top, w=w, h=bottom - top))
            floor = bottom
    return [f"Dialogue: 0,{_time(on)},{_time(off)},Box,,0,0,0,,{{\\an7\\pos(0,0)\\p1}}"
            f"m {r.x} {r.y} l {r.right} {r.y} {r.right} {r.bottom} {r.x} {r.bottom}{{\\p0}}\n"
            for r in rects]


# ------------------------------------------------------------------------------- fonts
def fonts_dir(fonts: Sequence[Path], cache: Path) -> Path:
    """A folder libass reads fonts from holding `fonts`: the bundled fonts' own folder when
    they all live there, else a folder under `cache` named by the files' contents."""
    folders = {f.resolve().parent for f in fonts}
    bundled = FALLBACK_FONTS[0].resolve().parent
    if folders <= {bundled}:
        return bundled
    h = hashlib.sha256()
    for f in sorted(fonts, key=lambda p: p.name):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    out = cache / f"fonts-{h.hexdigest()[:16]}"
    if not out.is_dir():
        part = out.with_name(out.name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        for f in fonts:
            shutil.copyfile(f, part / f.name)
        part.replace(out)
    return out


# ------------------------------------------------------------------------------- sidecar
def ass_sidecar(cues: list[WordCue], look: CaptionLook, style: CaptionStyle, frame_w: int,
                frame_h: int, *, highlight: str = DEFAULT_HIGHLIGHT, base: Path | None = None,
                safe_area: SafeArea | Rect | None = None) -> str:
    """The ASS sidecar: one event per caption line cue, its words timed with karaoke `\\k`
    tags (centiseconds from the event's start, a word lasting until the next one starts; a
    leading `{\\k..}` before the first word is the wait for it). The Name field says where
    the times came from ('provider' or 'estimated'). Players show it in the chosen look:
    karaoke colours the said words, pop-in shows them as they are said, lines and boxed
    show the whole line (boxed in an opaque box), kept inside `safe_area` by the margins."""
    own = face_metrics(_font_path(style, base))
    scale = frame_h / 1080
    px = max(8, round(style.size_pct / 100 * frame_h))
    primary = _colour(highlight if look == "karaoke" else style.color)
    secondary = _colour(style.color, 0.0 if look == "pop-in" else 1.0)
    boxed = look == "boxed" or style.box
    back = _colour(style.box_color, style.box_opacity)
    safe = (safe_area.rect(frame_w, frame_h) if isinstance(safe_area, SafeArea) else
            safe_area or SafeArea().rect(frame_w, frame_h))
    styles = _style_line("Caption", own.family, own.ass_size(px), primary, secondary,
                         back if boxed else _colour(style.outline_color), back,
                         3 if boxed else 1, round(style.outline_px * scale), 2)
    styles = styles.replace(",0,0,0,-1\n", f",{safe.x},{frame_w - safe.right},"
                                            f"{frame_h - safe.bottom},-1\n")
    events = []
    for wc in cues:
        cue = wc.cue
        on, off = _edge(cue.start_frame, cue.fps), _edge(cue.end_frame, cue.fps)
        marks = [_edge(w.start_frame, cue.fps) for w in wc.words]
        parts = []
        if marks and marks[0] > on:
            parts.append(f"{{\\k{marks[0] - on}}}")
        for i, w in enumerate(wc.words):
            nxt = marks[i + 1] if i + 1 < len(marks) else off
            parts.append(f"{{\\k{max(0, nxt - marks[i])}}}{_escape(w.word)}"
                         + (" " if i + 1 < len(wc.words) else ""))
        text = "".join(parts) or _escape(cue.text)
        events.append(f"Dialogue: 0,{_time(on)},{_time(off)},Caption,{wc.timings},0,0,0,,"
                      f"{text}\n")
    note = "nbvideo captions: word timings as karaoke \\k tags; Name: provider or estimated"
    # WrapStyle 0: a player wraps a long line evenly, as the burned captions are set
    return (_HEADER.format(note=note, w=frame_w, h=frame_h, wrap=0, styles=styles)
            + "".join(events))
