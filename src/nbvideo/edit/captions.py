"""Captions and on-screen text: frame-exact cues, SRT/WebVTT sidecars, safe-area layout, and
the drawtext filters that burn them into the export's single ffmpeg graph.

Everything is counted in whole frames at the export's fps, like the export engine, so a cue
that starts on frame 31 is on screen from frame 31 in the MP4, the SRT and the VTT alike.
Layout is measured with Pillow on the same font file drawtext renders, so the box that
`layout_text` promises to keep inside the platform's safe area is the box that gets drawn.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from PIL import ImageFont
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nbvideo.media.glyphs import FontStack, warn_missing
from nbvideo.model.presets import Rect, SafeArea, TextItem
from nbvideo.store.brands import CaptionStyle, font_file

__all__ = [
    "BurnIn", "Cue", "TextLayout", "burn_in", "cues_from_lines", "filter_value", "layout_text",
    "srt_spans", "srt_text", "vtt_text", "write_srt", "write_text", "write_vtt",
]  # fmt: skip


# ------------------------------------------------------------------------------- cues
def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


class Cue(BaseModel):
    """Text shown on frames [start_frame, end_frame) at `fps`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_frame: int = Field(ge=0)
    end_frame: int
    fps: float = Field(gt=0)
    text: str = Field(min_length=1)

    @model_validator(mode="after")
    def _order(self) -> Cue:
        if self.end_frame <= self.start_frame:
            raise ValueError(f"cue {self.text!r}: end_frame must be after start_frame")
        return self

    @property
    def start_s(self) -> float:
        return float(self.start_frame / _rate(self.fps))

    @property
    def end_s(self) -> float:
        return float(self.end_frame / _rate(self.fps))


def cues_from_lines(lines: Iterable[tuple[float, float, str]], fps: float) -> list[Cue]:
    """(start_s, end_s, text) -> cues snapped to the nearest frame, in time order.

    A caption track shows one cue at a time, so a cue that runs into the next one is cut where
    the next begins; empty texts are dropped; every cue keeps at least one frame.
    """
    rate = _rate(fps)
    raw = []
    for start, end, text in lines:
        text = "\n".join(" ".join(ln.split()) for ln in str(text).splitlines() if ln.strip())
        if not text:
            continue
        if end < start:
            raise ValueError(f"cue {text!r}: end_s {end} is before start_s {start}")
        a = max(0, round(Fraction(start).limit_denominator(10**6) * rate))
        b = max(a + 1, round(Fraction(end).limit_denominator(10**6) * rate))
        raw.append((a, b, text))
    raw.sort(key=lambda c: c[0])
    out: list[Cue] = []
    for i, (a, b, text) in enumerate(raw):
        if i + 1 < len(raw):
            b = min(b, raw[i + 1][0])
        if b > a:  # two cues on one frame: the later one wins that frame
            out.append(Cue(start_frame=a, end_frame=b, fps=fps, text=text))
    return out


def _ms(frame: int, fps: float) -> int:
    """Milliseconds of a frame boundary, rounded DOWN: a player showing a cue for
    start <= t < end then shows exactly frames [start_frame, end_frame)."""
    return math.floor(frame * 1000 / _rate(fps))


def _stamp(ms: int, sep: str) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def srt_text(cues: list[Cue]) -> str:
    return "".join(
        f"{i}\n{_stamp(_ms(c.start_frame, c.fps), ',')} --> {_stamp(_ms(c.end_frame, c.fps), ',')}"
        f"\n{c.text}\n\n" for i, c in enumerate(cues, 1)
    )


def vtt_text(cues: list[Cue]) -> str:
    def esc(t: str) -> str:  # '-->' would end a cue's timing line; markup chars are escaped
        return t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    body = "".join(
        f"{_stamp(_ms(c.start_frame, c.fps), '.')} --> {_stamp(_ms(c.end_frame, c.fps), '.')}"
        f"\n{esc(c.text)}\n\n" for c in cues
    )
    return "WEBVTT\n\n" + body


def _write(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    tmp.replace(path)
    return path


def write_text(path: Path, text: str) -> Path:
    """A sidecar written whole or not at all (UTF-8, LF)."""
    return _write(path, text)


_SRT_TIMING = re.compile(r"^(\d+):(\d\d):(\d\d),(\d{3}) --> (\d+):(\d\d):(\d\d),(\d{3})\s*$",
                         re.MULTILINE)


def srt_spans(text: str) -> list[tuple[float, float]]:
    """(start, end) in seconds of each cue of an SRT file `srt_text` wrote: when a caption
    burned into the same export is on screen."""
    out = []
    for m in _SRT_TIMING.finditer(text):
        h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(g) for g in m.groups())
        out.append((h1 * 3600 + m1 * 60 + s1 + ms1 / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000))
    return out


def write_srt(cues: list[Cue], path: Path) -> Path:
    return _write(path, srt_text(cues))


def write_vtt(cues: list[Cue], path: Path) -> Path:
    return _write(path, vtt_text(cues))


# ------------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class TextLayout:
    """Where a block of text goes: the box (padding and outline included), its lines, the
    font size and each line's baseline y and centre x, in frame pixels."""

    rect: Rect
    lines: list[str]
    font_px: int
    baselines: list[int]
    center_x: int
    outline_px: int
    pad: tuple[int, int]
    font: Path
    fits: bool = True
    problem: str | None = None


def _font(path: Path, px: int) -> FontStack:
    """The style's font with the bundled fallbacks: a line it sets alone measures as before."""
    return FontStack(ImageFont.truetype(str(path), px))


def _wrap(text: str, font: FontStack, width: float) -> list[str]:
    out: list[str] = []
    for para in text.splitlines() or [text]:
        line = ""
        for word in para.split():
            while font.getlength(word) > width and len(word) > 1:  # hard-break a long word
                cut = max(1, int(len(word) * width / font.getlength(word)))
                while cut > 1 and font.getlength(word[:cut]) > width:
                    cut -= 1
                if line:
                    out.append(line)
                    line = ""
                out.append(word[:cut])
                word = word[cut:]
            if line and font.getlength(f"{line} {word}") <= width:
                line = f"{line} {word}"
            else:
                if line:
                    out.append(line)
                line = word
        if line:
            out.append(line)
    return out


def _balanced(text: str, font: FontStack, width: float,
              lines: list[str]) -> list[str]:
    """The narrowest width that gives the greedy wrap's line count: lines of even length
    instead of a full line and a one-word widow, as a subtitler would set them."""
    if len(lines) < 2 or len(lines) > 8:  # an overlong text is reported, not polished
        return lines
    lo = max(font.getlength(w) for w in text.split())
    hi = float(width)
    if lo >= hi:
        return lines
    while hi - lo > 1:
        mid = (lo + hi) / 2
        if len(_wrap(text, font, mid)) <= len(lines):
            hi = mid
        else:
            lo = mid
    return _wrap(text, font, hi)


def layout_text(text: str, style: CaptionStyle, frame_w: int, frame_h: int,
                safe_area: SafeArea | Rect, *, base: Path | None = None,
                position: str | None = None, avoid: Rect | None = None) -> TextLayout:
    """Wrap `text` to the safe area's width, shrinking the font toward `min_size_pct` until
    it fits in `max_lines` and the safe area's height.

    The box is always placed inside the safe area when it fits there at all; when even the
    smallest size does not fit, the layout says so in `fits`/`problem` (and the preset check
    reports the box that sticks out) rather than silently clipping words. A box that would
    cover `avoid` (the logo) is laid out again in the part of the safe area above, below or
    beside it; a box clear of it is exactly as without it.
    """
    safe = safe_area.rect(frame_w, frame_h) if isinstance(safe_area, SafeArea) else safe_area
    lay = _layout(text, style, frame_w, frame_h, safe, base, position)
    if avoid is None or not lay.rect.intersects(avoid):
        return lay
    gap = round(0.015 * min(frame_w, frame_h))
    regions = [Rect(x=safe.x, y=safe.y, w=safe.w, h=max(0, avoid.y - gap - safe.y)),
               Rect(x=safe.x, y=avoid.bottom + gap, w=safe.w,
                    h=max(0, safe.bottom - avoid.bottom - gap))]
    regions.sort(key=lambda r: -r.h)
    regions += sorted([Rect(x=safe.x, y=safe.y, w=max(0, avoid.x - gap - safe.x), h=safe.h),
                       Rect(x=avoid.right + gap, y=safe.y,
                            w=max(0, safe.right - avoid.right - gap), h=safe.h)],
                      key=lambda r: -r.w)
    for region in regions:
        if region.w < frame_w // 5 or region.h < frame_h // 10:
            continue
        moved = _layout(text, style, frame_w, frame_h, region, base, position)
        if moved.fits and not moved.rect.intersects(avoid):
            return moved
    return lay  # nowhere clear of it: the preset check reports text_over_logo


def _layout(text: str, style: CaptionStyle, frame_w: int, frame_h: int, safe: Rect,
            base: Path | None, position: str | None) -> TextLayout:
    pos = position or style.position
    path = font_file(style.font, base)
    scale = frame_h / 1080
    outline = round(style.outline_px * scale)
    margin = round(0.015 * min(frame_w, frame_h))
    px = max(8, round(style.size_pct / 100 * frame_h))
    floor = max(8, min(px, round(style.min_size_pct / 100 * frame_h)))
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    while True:
        font = _font(path, px)
        pad = (round(px * 0.45), round(px * 0.22)) if style.box else (0, 0)
        room_w = safe.w - 2 * margin - 2 * pad[0] - 2 * outline
        lines = _wrap(text, font, room_w) or [""]
        ascent, descent = font.getmetrics()
        pitch = round(px * style.line_spacing)
        text_h = ascent + descent + pitch * (len(lines) - 1)
        box_h = text_h + 2 * pad[1] + 2 * outline
        ok = len(lines) <= style.max_lines and box_h <= safe.h - 2 * margin
        if ok or px <= floor:
            break
        px = max(floor, math.floor(px * 0.92))
    lines = _balanced(text, font, room_w, lines)
    box_w = math.ceil(max(font.getlength(ln) for ln in lines)) + 2 * pad[0] + 2 * outline
    cx = safe.x + safe.w // 2
    x = cx - box_w // 2
    if pos == "top":
        y = safe.y + margin
    elif pos == "center":
        y = safe.y + (safe.h - box_h) // 2
    else:
        y = safe.bottom - margin - box_h
    rect = Rect(x=x, y=max(0, y), w=box_w, h=box_h)
    top = rect.y + pad[1] + outline
    baselines = [top + ascent + i * pitch for i in range(len(lines))]
    problem = None
    if not ok:
        problem = (f"{text[:40]!r} needs {len(lines)} line(s) and {box_h} px at the smallest "
                   f"size ({px} px); the style allows {style.max_lines} line(s) and the safe "
                   f"area {safe.h - 2 * margin} px")
    return TextLayout(rect=rect, lines=lines, font_px=px, baselines=baselines, center_x=cx,
                      outline_px=outline, pad=pad, font=path, fits=ok, problem=problem)


# ------------------------------------------------------------------------------- burn-in
_LEVEL1 = re.compile(r"([\\':])")  # an option value inside a filter's arguments
_LEVEL2 = re.compile(r"([\\'\[\],;])")  # a filter's arguments inside a filtergraph


def filter_value(v: object) -> str:
    """Escape a value for `name=key=VALUE:...` in a filtergraph string (both of ffmpeg's
    levels: the option parser's, then the graph parser's). Use it for paths and free text;
    never wrap the result in quotes."""
    return _LEVEL2.sub(r"\\\1", _LEVEL1.sub(r"\\\1", str(v)))


def _filter(name: str, **opts: object) -> str:
    return name + "=" + ":".join(f"{k}={filter_value(v)}" for k, v in opts.items())


def _hex(c: str, alpha: float | None = None) -> str:
    return "0x" + c.lstrip("#") + ("" if alpha is None else f"@{alpha:.3f}")


def _enable(cue: Cue) -> str:
    """Frame-exact window: half a frame before the first and before the end frame, so no
    timestamp rounding can show a cue one frame early or keep it one frame late."""
    rate = _rate(cue.fps)
    a = float((cue.start_frame - Fraction(1, 2)) / rate)
    b = float((cue.end_frame - Fraction(1, 2)) / rate)
    return f"between(t,{a:.6f},{b:.6f})"


@dataclass
class BurnIn:
    """A drawtext chain for the export graph plus what it puts where, for `check_export`."""

    filters: str
    items: list[TextItem] = field(default_factory=list)
    layouts: list[TextLayout] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [lay.problem for lay in self.layouts if lay.problem]


def _line_filters(line: str, lay: TextLayout, y: int, style: CaptionStyle,
                  enable: str) -> list[str]:
    """drawtext filters for one line. A line the style's font sets alone is one drawtext
    centred by its own text width (as it always was); any other line is one drawtext per run
    (font and direction, in visual order; see nbvideo.media.glyphs), each at the left edge Pillow
    measured, so Arabic is shaped right to left and emoji come from the emoji font."""

    def drawtext(font: Path, text: str, x: object) -> str:
        opts: dict[str, object] = {
            "fontfile": font, "text": text, "expansion": "none", "fontsize": lay.font_px,
            "fontcolor": _hex(style.color), "x": x, "y": y, "y_align": "baseline",
        }
        if lay.outline_px:
            opts |= {"borderw": lay.outline_px, "bordercolor": _hex(style.outline_color)}
        return _filter("drawtext", **opts, enable=enable)

    stack = _font(lay.font, lay.font_px)
    if stack.plain(line):
        return [drawtext(lay.font, line, f"{lay.center_x}-text_w/2")]
    left = lay.center_x - stack.getlength(line) / 2
    return [drawtext(run.font or lay.font, run.text, round(x))
            for run, x, _w in stack.placed(line, left) if run.text.strip()]


def burn_in(cues: list[Cue], style: CaptionStyle, frame_w: int, frame_h: int,
            safe_area: SafeArea | Rect, *, label: str = "caption", base: Path | None = None,
            position: str | None = None, warn: bool = True, avoid: Rect | None = None
            ) -> BurnIn:
    """drawbox/drawtext filters (comma-joined, no pad labels) that draw each cue exactly on
    its frames. Splice into a graph as `[v]{filters}[vout]`, or pass as `-vf`.

    One drawtext per line, centred by drawtext's own text width on the layout's centre and
    set on the layout's baseline, so the glyphs stay inside the box `layout_text` measured.
    Characters the style's font lacks are drawn in the bundled fallback fonts; any that no
    font has raise a GlyphWarning naming them (unless `warn=False`: the caller warned).
    """
    parts: list[str] = []
    items: list[TextItem] = []
    layouts: list[TextLayout] = []
    for n, cue in enumerate(cues, 1):
        lay = layout_text(cue.text, style, frame_w, frame_h, safe_area, base=base,
                          position=position, avoid=avoid)
        layouts.append(lay)
        items.append(TextItem(label=f"{label} {n}", rect=lay.rect, start_s=cue.start_s,
                              end_s=cue.end_s))
        enable = _enable(cue)
        if style.box:
            r = lay.rect
            parts.append(_filter("drawbox", x=r.x, y=r.y, w=r.w, h=r.h, t="fill",
                                 color=_hex(style.box_color, style.box_opacity), enable=enable))
        if warn:
            warn_missing(_font(lay.font, lay.font_px), cue.text, f"{label} {n}")
        for line, y in zip(lay.lines, lay.baselines):
            parts += _line_filters(line, lay, y, style, enable)
    return BurnIn(filters=",".join(parts) or "null", items=items, layouts=layouts)
