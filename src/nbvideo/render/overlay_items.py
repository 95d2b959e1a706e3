"""The overlay tracks (V2..V9) as one filter-graph fragment from [src] to [out], laid over the
film in the export's single graph (and, in a smart export, in each piece an item overlaps).

Each item is read inside the graph with the `movie` source (like the logo watermark), so it
needs no extra ffmpeg input, and its frames are stamped in film time: frame n of an item
that starts at film frame s has pts s + n in a 1/fps time base, the timeline's own. So the
`overlay` filter pairs each film frame with the item frame of the same time, and every
expression below can use the film time t.

Keyframed properties are ffmpeg expressions in t, evaluated per frame on whole frames
(F = round(t * fps) - item's first frame), so at a keyframe's frame the property has exactly
the keyframe's value: x, y in the `overlay` filter's position; opacity in a `geq` on the
item's alpha; scale in a `geq` that samples the item about its centre on a fixed canvas
(the overlay input keeps one size); rotation in `rotate`. Blend modes other than "normal"
take the film under the item (`crop` at the same keyframed position, in RGB), mix it with
the item in `blend` (all_mode multiply, screen, overlay, addition) and lay the result over
the film under the item's alpha.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbvideo.edit.captions import filter_value
from nbvideo.model.tracks import OVERLAY_TRACKS, ClipItem, ImageItem, Keyframe, TextItem, Track

__all__ = ["ItemsGraph", "eased", "items_graph", "kf_expr", "reveal_image", "reveals",
           "text_image"]

_BLEND = {"multiply": "multiply", "screen": "screen", "overlay": "overlay", "add": "addition"}
_ANCHOR = {"top-left": (0, 0), "top": (0.5, 0), "top-right": (1, 0), "left": (0, 0.5),
           "center": (0.5, 0.5), "right": (1, 0.5), "bottom-left": (0, 1),
           "bottom": (0.5, 1), "bottom-right": (1, 1)}
_TO_YUVA = "scale=out_color_matrix=bt709:out_range=tv,format=yuva420p"


@dataclass(frozen=True)
class ItemsGraph:
    """`graph` reads [src] and writes [out]; `spans` are the film seconds items draw on."""

    graph: str
    spans: list[tuple[float, float]]


def _num(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def eased(easing: str, u: str) -> str:
    """The easing curve as an expression of u in [0, 1] (hold is handled by the caller)."""
    return {"linear": f"({u})", "ease-in": f"(({u})*({u}))",
            "ease-out": f"(1-(1-({u}))*(1-({u})))",
            "ease-in-out": f"(({u})*({u})*(3-2*({u})))"}[easing]


def kf_expr(kfs: Sequence[Keyframe], static: float, first_frame: int, fps: int,
            tvar: str = "t") -> str:
    """A property over film time `tvar`: `static` without keyframes; else the first value
    before the first keyframe, the last after the last, and each keyframe's easing between.
    Counted in whole frames, so the value at a keyframe's frame is the keyframe's."""
    if not kfs:
        return _num(static)
    f = f"(floor({tvar}*{fps}+0.5)-{first_frame})"
    frames = [round(k.t_s * fps) for k in kfs]
    expr = _num(kfs[-1].value)
    for i in range(len(kfs) - 2, -1, -1):
        a, b, va, vb = frames[i], frames[i + 1], kfs[i].value, kfs[i + 1].value
        if kfs[i].easing == "hold" or va == vb or b == a:
            seg = _num(va)
        else:
            u = f"({f}-{a})/{b - a}"
            seg = f"({_num(va)}+({_num(vb - va)})*{eased(kfs[i].easing, u)})"
        expr = f"if(lt({f},{b}),{seg},{expr})"
    return f"if(lt({f},{frames[0]}),{_num(kfs[0].value)},{expr})"


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


# A yuv420 `overlay` puts its input at x & ~1, y & ~1 (after truncating toward zero): an
# item whose top-left fell on an odd pixel (half a canvas of odd half-width, an odd x * W)
# was drawn a pixel up or left of its place, and a value a hair under a whole number two
# pixels off. So the top-left is rounded to the nearest pixel P, the overlay goes to the
# even pixel at or below P, and the content moves right/down by P's parity inside a canvas
# two pixels larger: by `pad` when the item stands still, by a `geq` per frame when it moves.
# Both return (overlay x, overlay y, canvas width, canvas height, filters to append).

def _fixed_on_even(fx: float, fy: float, cw: int, ch: int
                   ) -> tuple[str, str, int, int, list[str]]:
    rx, ry = math.floor(fx + 0.5), math.floor(fy + 0.5)
    dx, dy = rx % 2, ry % 2
    if not (dx or dy):
        return str(rx), str(ry), cw, ch, []
    return (str(rx - dx), str(ry - dy), cw + 2, ch + 2,
            [f"pad={cw + 2}:{ch + 2}:{dx}:{dy}:color=black@0"])


def _moving_on_even(at_t: tuple[str, str], at_T: tuple[str, str], cw: int, ch: int
                    ) -> tuple[str, str, int, int, list[str]]:
    """`at_t`: the corner in the overlay's film time t; `at_T`: the same in geq's T."""
    def even(e: str) -> str:
        return f"2*floor(floor({e}+0.5)/2)"

    dx, dy = (f"(floor({e}+0.5)-{even(e)})" for e in at_T)
    at = f"X+1-{dx},Y+1-{dy}"
    return (even(at_t[0]), even(at_t[1]), cw + 2, ch + 2,
            [f"pad={cw + 2}:{ch + 2}:1:1:color=black@0",
             f"geq=r='r({at})':g='g({at})':b='b({at})':a='alpha({at})':i=nearest"])


def _fingerprint(path: Path) -> str:
    """A file's version (size and mtime) in the graph's pad labels: a replaced image under the
    same name changes the graph, so the smart render cache keys it apart."""
    st = path.stat()
    return hashlib.sha256(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:8]


def _source_size(path: Path, video: bool) -> tuple[int, int]:
    if video:
        from nbvideo.media.ffmpeg import probe

        info = probe(path, count_frames=False)
        return info.width, info.height
    from nbvideo.media.ffmpeg import open_image

    with open_image(path, "overlay image") as im:
        return im.size


def _used_frames(item: ClipItem, nf: int, fps: int) -> int:
    """Frames of its file a clip item plays: its length on the film at its effects' speed."""
    fx = item.effects
    return max(1, round(fx.source_for(nf / fps, fps) * fps)) if fx.timed else nf


def _effect_filters(item: ImageItem | ClipItem | TextItem, size: tuple[int, int], fps: int,
                    nf: int, resolve_lut: Callable[[str], Path] | None) -> list[str]:
    """The item's effects (media/effects.py) at its own size, on frames counted from its
    start: a clip's time effects from its window to `nf` frames, then the picture effects."""
    fx = getattr(item, "effects", None)
    if fx is None or not fx.active:
        return []
    from nbvideo.media.effects import check_cube, picture_filters, time_filters

    out = ["setpts=PTS-STARTPTS"]
    if isinstance(item, ClipItem) and fx.timed:
        out += [f"settb=1/{fps}", "setpts=N",
                *time_filters(fx, fx.source_for(nf / fps, fps), fps),
                "tpad=stop_mode=clone:stop=-1", f"trim=end_frame={nf}"]
    lut = None
    if fx.lut is not None and resolve_lut is not None:
        lut = resolve_lut(fx.lut)
        check_cube(lut, f"item {item.id}: effects.lut")
    pic = picture_filters(fx, (_even(size[0]), _even(size[1])), fps, nf, lut)
    if fx.ken_burns is not None:  # zoompan needs an even frame
        pic.insert(0, f"scale={_even(size[0])}:{_even(size[1])}")
    return out + pic


def _item_lines(n: int, item: ImageItem | ClipItem | TextItem, file: Path, size: tuple[int, int],
                frame: tuple[int, int], fps: int, src: str, out: str,
                resolve_lut: Callable[[str], Path] | None = None) -> list[str]:
    W, H = frame
    sw, sh = size
    sf = round(item.start_s * fps)
    nf = max(1, round(item.duration_s * fps))
    tag = f"it{n}_{_fingerprint(file)}"
    kf = item.keyframes
    w = item.width * W if item.width else sw
    h = item.height * H if item.height else w * sh / sw
    if isinstance(item, TextItem) and not item.width:
        w, h = sw, sh  # set at its size already
    scales = [k.value for k in kf.get("scale", [])]
    smax = max(scales) if scales else item.scale
    w, h = w * smax, h * smax  # the item's largest size: scaled down, never up, in the graph
    wi, hi = _even(w), _even(h)
    rotating = bool(kf.get("rotation")) or item.rotation % 360 != 0
    canvas = bool(scales) or rotating
    if canvas:
        side = math.hypot(wi, hi) if rotating else 0
        cw, ch = (_even(side + 4), _even(side + 4)) if rotating else (wi + 4, hi + 4)
    else:
        cw, ch = wi, hi
    chain = [f"movie=filename={filter_value(file.resolve())}"]
    if isinstance(item, ClipItem):
        s0 = round(item.source_in_s * fps)
        chain += ["setpts=PTS-STARTPTS", f"fps={fps}", "tpad=stop_mode=clone:stop=-1",
                  f"trim=start_frame={s0}:end_frame={s0 + _used_frames(item, nf, fps)}"]
    else:
        chain += [f"loop=loop={nf - 1}:size=1:start=0", f"trim=end_frame={nf}"]
    if isinstance(item, TextItem) and reveals(item):
        chain += reveal_filters(item, size, fps)
    chain += _effect_filters(item, size, fps, nf, resolve_lut)
    chain += [f"settb=1/{fps}", f"setpts=N+{sf}", "format=rgba", f"scale={wi}:{hi}:flags=lanczos"]
    if canvas:
        chain.append(f"pad={cw}:{ch}:(ow-iw)/2:(oh-ih)/2:color=black@0")
    op = kf_expr(kf.get("opacity", []), item.opacity, sf, fps, "T")
    if scales:
        k = f"(({kf_expr(kf['scale'], item.scale, sf, fps, 'T')})/{_num(smax)})"
        cx, cy = f"{cw / 2:g}", f"{ch / 2:g}"
        at = f"{cx}+(X-{cx})/{k},{cy}+(Y-{cy})/{k}"
        alpha = f"alpha({at})" + ("" if op == "1" else f"*clip({op},0,1)+0.5")
        chain.append(f"geq=r='r({at})':g='g({at})':b='b({at})':a='{alpha}'")
    elif kf.get("opacity"):
        chain.append(f"geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='alpha(X,Y)*clip({op},0,1)+0.5'")
    elif item.opacity < 1:
        chain.append(f"colorchannelmixer=aa={item.opacity:.4f}")
    if rotating:
        rot = kf_expr(kf.get("rotation", []), item.rotation, sf, fps, "t")
        chain.append(f"rotate=a='({rot})*PI/180':c=none:ow={cw}:oh={ch}")
    # Where the canvas's top-left goes: the anchor point of the (scaled) item at (x, y).
    ax, ay = _ANCHOR[item.anchor]

    def corner(tv: str) -> tuple[str, str]:
        px = f"({kf_expr(kf.get('x', []), item.x, sf, fps, tv)})*{W}"
        py = f"({kf_expr(kf.get('y', []), item.y, sf, fps, tv)})*{H}"
        if not canvas:
            return f"{px}-{ax * wi:g}", f"{py}-{ay * hi:g}"
        s = (f"(({kf_expr(kf['scale'], item.scale, sf, fps, tv)})/{_num(smax)})"
             if scales else "1")
        return (f"{px}-{cw / 2:g}+({0.5 - ax:g})*{s}*{wi}",
                f"{py}-{ch / 2:g}+({0.5 - ay:g})*{s}*{hi}")

    if kf.get("x") or kf.get("y") or (scales and (ax, ay) != (0.5, 0.5)):
        ox, oy, cw, ch, shift = _moving_on_even(corner("t"), corner("T"), cw, ch)
    else:  # standing still: corner()'s numbers (a scaled item here is centred: no s term)
        fx, fy = ((item.x * W - cw / 2 + (0.5 - ax) * wi, item.y * H - ch / 2 + (0.5 - ay) * hi)
                  if canvas else (item.x * W - ax * wi, item.y * H - ay * hi))
        ox, oy, cw, ch, shift = _fixed_on_even(fx, fy, cw, ch)
    chain += shift
    lines: list[str] = []
    end = (sf + nf) / fps
    if item.blend == "normal":
        chain.append(_TO_YUVA)
        lines.append(",".join(chain) + f"[{tag}]")
        lines.append(f"[{src}]format=yuv420p[{tag}_m]")
        lines.append(f"[{tag}_m][{tag}]overlay=x='{ox}':y='{oy}':format=yuv420:eof_action=pass"
                     f":eval=frame[{out}]")
        return lines
    # Other modes: the film under the item, mixed with it in RGB, laid back under its alpha.
    lines.append(",".join(chain) + f",format=rgba,split=2[{tag}_c][{tag}_a]")
    lines.append(f"[{tag}_c]format=gbrp[{tag}_top]")
    lines.append(f"[{tag}_a]alphaextract[{tag}_mask]")
    lines.append(f"[{src}]format=yuv420p,split=2[{tag}_m][{tag}_u]")
    lines.append(
        f"[{tag}_u]trim=start={sf / fps:.6f}:end={end:.6f},"
        "scale=in_color_matrix=bt709:in_range=tv,format=gbrp,"
        f"pad={W + 2 * cw}:{H + 2 * ch}:{cw}:{ch}:color=black,"
        f"crop=w={cw}:h={ch}:x='{ox}+{cw}':y='{oy}+{ch}'[{tag}_under]")
    lines.append(f"[{tag}_under][{tag}_top]blend=all_mode={_BLEND[item.blend]},format=gbrap"
                 f"[{tag}_mix]")
    lines.append(f"[{tag}_mix][{tag}_mask]alphamerge,{_TO_YUVA}[{tag}_bl]")
    lines.append(f"[{tag}_m][{tag}_bl]overlay=x='{ox}':y='{oy}':format=yuv420:eof_action=pass"
                 f":eval=frame[{out}]")
    return lines


def items_graph(tracks: dict[str, Track], frame: tuple[int, int], fps: int, total_s: float,
                resolve: Callable[[str], Path], text_png: Callable[[TextItem], Path],
                src: str = "vin", out: str = "vout",
                window: tuple[float, float] | None = None) -> ItemsGraph | None:
    """The overlay items of every unmuted overlay track, V2 first (drawn lowest), each track's
    items by start; items are cut at the film's end. None when there is nothing to draw.
    `resolve` turns a project path into the checked file; `text_png` sets a text item.
    `window` (film seconds): only the items on it, a frame of margin each side."""
    items = []
    for name in OVERLAY_TRACKS:
        t = tracks.get(name)
        if t is None or t.mute:
            continue
        items += sorted(t.items.values(), key=lambda i: (i.start_s, i.id))
    fl = round(total_s * fps)
    items = [i for i in items if round(i.start_s * fps) < fl]
    if window is not None:
        a, b = window[0] - 1 / fps, window[1] + 1 / fps
        items = [i for i in items if i.start_s < b and i.end_s > a]
    if not items:
        return None
    lines: list[str] = []
    spans: list[tuple[float, float]] = []
    cur = src
    for n, item in enumerate(items):
        sf = round(item.start_s * fps)
        nf = min(round(item.duration_s * fps), fl - sf)
        item = item.model_copy(update={"duration_s": nf / fps})
        if isinstance(item, TextItem):
            file = text_png(item)
            size = _source_size(file, video=False)
            if reveals(item):  # three panels stacked: the text is the top one
                size = (size[0], size[1] // 3)
        else:
            file = resolve(item.path)
            size = _source_size(file, video=isinstance(item, ClipItem))
        nxt = out if n == len(items) - 1 else f"ov{n}"
        lines += _item_lines(n, item, file, size, frame, fps, cur, nxt, resolve)
        spans.append((sf / fps, (sf + nf) / fps))
        cur = nxt
    return ItemsGraph(graph=";".join(lines), spans=spans)


def _set_text(item: TextItem, font_file: Path, color: str, outline: str | None,
              frame: tuple[int, int]) -> tuple[Any, Any, list[tuple[str, float, float]], Any]:
    """The text item set: (the panel, the panel with its box only, each line with its left
    edge and baseline, the font stack)."""
    from PIL import Image, ImageDraw, ImageFont

    from nbvideo.media.glyphs import FontStack
    from nbvideo.model.color import hex_rgb

    W, H = frame
    px = max(6, round(item.size * H))
    lines = item.text.splitlines() or [item.text]
    stack = FontStack(ImageFont.truetype(str(font_file), px))
    if item.width:
        room = item.width * W
        widest = max(stack.getlength(line) for line in lines)
        if widest > room:
            px = max(6, math.floor(px * room / widest))
            stack = FontStack(ImageFont.truetype(str(font_file), px))
    ascent, descent = stack.getmetrics()
    pitch = round((ascent + descent) * 1.15)
    stroke = max(1, round(px / 24)) if outline else 0
    pad = round(px * 0.3) if item.box else stroke + 2
    tw = max(stack.getlength(line) for line in lines)
    w = _even(tw + 2 * pad)
    h = _even(pitch * (len(lines) - 1) + ascent + descent + 2 * pad)
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    if item.box:
        d.rounded_rectangle((0, 0, w - 1, h - 1), radius=round(px * 0.2),
                            fill=(*hex_rgb(item.box), 255))
    base = img.copy()
    fill = (*hex_rgb(color), 255)
    placed = []
    for k, line in enumerate(lines):
        y = pad + ascent + k * pitch
        kw = {"stroke_width": stroke, "stroke_fill": (*hex_rgb(outline), 255)} if stroke and \
            outline else {}
        stack.draw(d, (w / 2, y), line, anchor="ms", fill=fill, **kw)
        placed.append((line, w / 2 - stack.getlength(line) / 2, float(y - (ascent - descent) / 2)))
    return img, base, placed, stack


def _png(img: Any) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def text_image(item: TextItem, font_file: Path, color: str, outline: str | None,
               frame: tuple[int, int]) -> bytes:
    """A text item set as a transparent PNG: the font at `item.size` of the frame height (or
    shrunk to fit `item.width` of the frame width), fallback fonts for characters it lacks,
    a thin outline in `outline` (the caption style's), an optional box behind it."""
    return _png(_set_text(item, font_file, color, outline, frame)[0])


def reveals(item: Any) -> bool:
    """Whether the item is a text revealed unit by unit (typewriter, words)."""
    a = getattr(item, "animation", None)
    return a is not None and a.kind in ("typewriter", "words")


def reveal_image(item: TextItem, font_file: Path, color: str, outline: str | None,
                 frame: tuple[int, int]) -> bytes:
    """The panels a typewriter or word reveal draws from, stacked in one PNG of three times
    the text's height: the text set as `text_image` sets it; the same without its letters
    (its box, or nothing); and which unit (character or word, in reading order, from 1)
    each pixel of ink belongs to, as 256 * red + green (0: no ink, always shown).

    A pixel belongs to the unit whose advance (from the font's own measure of the line up
    to it) holds its column, on the line whose middle is nearest its row; right-to-left
    lines count from the right."""
    import numpy as np
    from PIL import Image

    from nbvideo.edit.text_animation import units
    from nbvideo.media.glyphs import rtl_paragraph

    assert item.animation is not None
    kind = item.animation.kind
    img, base, placed, stack = _set_text(item, font_file, color, outline, frame)
    full, bare = np.asarray(img), np.asarray(base)
    w, h = img.size
    ink = np.any(full != bare, axis=2)
    idx = np.zeros((h, w), dtype=np.int64)
    mids = np.array([m for _l, _x, m in placed])
    row_line = np.abs(np.arange(h)[:, None] + 0.5 - mids[None, :]).argmin(axis=1)
    cols = np.arange(w) + 0.5
    first = 1
    for k, (line, left, _mid) in enumerate(placed):
        n = len(units(line, kind))
        if n == 0:
            continue
        if kind == "words":
            cuts = [mt.start() for mt in re.finditer(r"\S+", line)][1:]
        else:
            cuts = [i for i, c in enumerate(line) if c not in "\r\n"][1:]
        edges = np.array([stack.getlength(line[:i]) for i in cuts], dtype=float)
        if rtl_paragraph(line):
            local = np.searchsorted(edges, left + stack.getlength(line) - cols, side="right")
        else:
            local = np.searchsorted(edges, cols - left, side="right")
        on = (row_line == k)[:, None] & ink
        idx[on] = np.broadcast_to(first + local, (h, w))[on]
        first += n
    code = np.zeros((h, w, 4), dtype=np.uint8)
    code[..., 0], code[..., 1], code[..., 3] = idx >> 8, idx & 255, 255
    out = Image.new("RGBA", (w, 3 * h))
    out.paste(img, (0, 0))
    out.paste(base, (0, h))
    out.paste(Image.fromarray(code, "RGBA"), (0, 2 * h))
    return _png(out)


def reveal_filters(item: TextItem, size: tuple[int, int], fps: int) -> list[str]:
    """The reveal on the stacked panels (`reveal_image`), `size` the text's own: on item
    frame N a unit shows when it is one of the first K = min(n, ceil((N + 1) n / F)), F the
    way in in frames (so unit k from frame floor(k F / n), as edit.text_animation's
    `reveal_frames`), the box (or nothing) where it does not; then the text panel alone."""
    from nbvideo.edit.text_animation import units

    assert item.animation is not None
    n = max(1, len(units(item.text, item.animation.kind)))
    f = max(1, round(item.animation.in_s * fps))
    w, h = size
    shown = f"lte(r(X,Y+{2 * h})*256+g(X,Y+{2 * h}),min({n},ceil((N+1)*{n}/{f}-1e-6)))"
    planes = ":".join(f"{c}='if({shown},{fn}(X,Y),{fn}(X,Y+{h}))'"
                      for c, fn in (("r", "r"), ("g", "g"), ("b", "b"), ("a", "alpha")))
    return ["format=rgba", f"geq={planes}:i=nearest", f"crop={w}:{h}:0:0"]
