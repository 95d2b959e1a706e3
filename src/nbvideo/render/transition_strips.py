"""`nv.transitions()`: every transition this ffmpeg can render, each with a thumbnail strip.

A strip is five 96x54 frames across a one-second transition between two test cards drawn
with Pillow (a warm card "A" and a cool card "B", different in colour, shape and texture so
every kind of transition shows). It is rendered by the export engine's own transition lines
(`render/transitions.py`) with the bundled ffmpeg, on first use, and kept in the user cache
(`store/user_cache.py`) under a key of everything that decides its pixels.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from nbvideo.errors import InvalidInput
from nbvideo.media.ffmpeg import ffmpeg_exe, run_ffmpeg
from nbvideo.media.xfade import available_transitions
from nbvideo.model.transitions import FAMILIES, TRANSITIONS, canonical, unknown_message
from nbvideo.render.transitions import transition_lines
from nbvideo.store.user_cache import user_cache_dir

__all__ = ["STRIP_FRAMES", "STRIP_SIZE", "TransitionsFrame", "strip", "transition_choices",
           "transitions_table"]

STRIP_SIZE = (96, 54)
STRIP_FPS = 20
STRIP_LENGTH = 20  # frames: a one-second transition
STRIP_FRAMES = (0, 5, 10, 15, 19)
"""Which transition frames the strip shows: the start, quarters, midpoint, the last."""
_GAP = 2
_VERSION = "1"  # bump when the cards or the strip layout change


def _font(size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _card(which: str, path: Path) -> Path:
    """Test card A (orange, a white disc, diagonal stripes) or B (teal, a yellow square on a
    grid): distinct in hue, brightness and shape, so a wipe's edge and a blend both show."""
    from PIL import Image, ImageDraw

    w, h = STRIP_SIZE
    if which == "A":
        im = Image.new("RGB", (w, h), (236, 120, 40))
        d = ImageDraw.Draw(im)
        for x in range(-h, w, 16):
            d.line([(x, h), (x + h, 0)], fill=(180, 70, 20), width=5)
        d.ellipse([w - 44, 8, w - 8, 44], fill=(250, 246, 236))
        d.text((10, 8), "A", fill=(40, 20, 10), font=_font(34))
    else:
        im = Image.new("RGB", (w, h), (20, 110, 140))
        d = ImageDraw.Draw(im)
        for x in range(0, w, 12):
            d.line([(x, 0), (x, h)], fill=(40, 150, 180), width=1)
        for y in range(0, h, 12):
            d.line([(0, y), (w, y)], fill=(40, 150, 180), width=1)
        d.rectangle([10, 12, 40, 42], fill=(250, 214, 60))
        d.text((w - 34, 8), "B", fill=(236, 246, 250), font=_font(34))
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.png")
    im.save(tmp)
    os.replace(tmp, path)
    return path


def _key(name: str) -> str:
    body = f"{_VERSION}|{Path(ffmpeg_exe()).name}|{name}|{STRIP_SIZE}|{STRIP_FRAMES}"
    return hashlib.sha256(body.encode()).hexdigest()[:12]


def _graph(name: str) -> str:
    n, fps, size = STRIP_LENGTH, STRIP_FPS, STRIP_SIZE
    lines = [f"[{i}:v:0]trim=end_frame={n},setpts=PTS-STARTPTS,format=yuv420p,setsar=1,"
             f"settb=1/{fps}[{c}]" for i, c in enumerate("ab")]
    if name == "cut":  # half a second of each card, joined
        lines += [f"[a]trim=end_frame={n // 2}[a1]",
                  f"[b]trim=end_frame={n - n // 2}[b1]",
                  "[a1][b1]concat=n=2:v=1:a=0[x]"]
    else:
        lines += transition_lines(name, "a", "b", "x", n, fps, size, "tr")
    pick = "+".join(f"eq(n\\,{k})" for k in STRIP_FRAMES)
    lines.append(f"[x]select='{pick}',tile={len(STRIP_FRAMES)}x1:padding={_GAP}:color=white,"
                 "format=rgb24[out]")
    return ";".join(lines)


def strip(name: str) -> Path:
    """The PNG strip of transition `name` (made now if the cache has none)."""
    kind = canonical(name) if isinstance(name, str) else None
    have = available_transitions()
    if kind is None or kind not in have:
        raise InvalidInput(unknown_message(name, have))
    folder = user_cache_dir("transitions")
    out = folder / f"{kind}-{_key(kind)}.png"
    if out.is_file():
        return out
    cards = [folder / f"card-{c}-v{_VERSION}.png" for c in "AB"]
    for c, p in zip("AB", cards):
        if not p.is_file():
            _card(c, p)
    tmp = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.png")
    try:
        run_ffmpeg([*(a for p in cards for a in ("-loop", "1", "-framerate", str(STRIP_FPS),
                                                  "-i", str(p))),
                    "-filter_complex", _graph(kind), "-map", "[out]", "-frames:v", "1",
                    "-c:v", "png", "-f", "image2", "-update", "1", str(tmp)], total_s=None)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def transition_choices() -> list[dict[str, str]]:
    """name, family and description of every transition this ffmpeg can render (a picker's
    options, without making any strip)."""
    return [{"name": n, "family": TRANSITIONS[n].family,
             "description": TRANSITIONS[n].description} for n in available_transitions()]


class TransitionsFrame(pd.DataFrame):
    """A DataFrame of transitions whose notebook display shows each one's strip."""

    @property
    def _constructor(self) -> type[TransitionsFrame]:
        return TransitionsFrame

    def _repr_html_(self) -> str:  # type: ignore[override]
        if "strip" not in self.columns or self.empty:
            return super()._repr_html_() or ""
        shown = [c for c in self.columns if c != "strip"]
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [*shown, "strip"])
        rows = []
        for _, r in self.iterrows():
            cells = [f"<td>{html.escape(str(r[c]))}</td>" for c in shown]
            cells.append(_strip_cell(r["strip"], str(r.get("name", ""))))
            rows.append("<tr>" + "".join(cells) + "</tr>")
        return (f'<table class="dataframe nbvideo-transitions"><thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(rows)}</tbody></table>")


def _strip_cell(path: object, name: str) -> str:
    if not isinstance(path, str) or not os.path.isfile(path):
        return "<td></td>"
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return (f'<td><img src="data:image/png;base64,{data}" alt="{html.escape(name)} strip" '
            f'style="image-rendering:auto;display:block"></td>')


def transitions_table(family: str | None = None, strips: bool = True) -> TransitionsFrame:
    """Every transition the bundled ffmpeg can render: name, family, description and, with
    `strips`, the path of its thumbnail strip (made on first use, then cached).

    `family` keeps one family: cut, fade, dip, wipe, slide, shape, slice or distort."""
    if family is not None and family not in FAMILIES:
        raise InvalidInput(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    rows = [r for r in transition_choices() if family is None or r["family"] == family]
    names = [r["name"] for r in rows]
    frame = TransitionsFrame(rows, columns=["name", "family", "description"])
    if strips:
        with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
            frame["strip"] = [str(p) for p in pool.map(strip, names)]
    return frame
