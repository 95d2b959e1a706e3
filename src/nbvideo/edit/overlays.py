"""Brand overlays for the export: the logo watermark (a filtergraph fragment) and the end
card (a still or a clip rendered with Pillow from the kit).

The watermark is read inside the graph with the `movie` source, so adding it to an export
needs no extra ffmpeg input: splice `logo_overlay(...).graph` in after the timeline's last
filter. The end card is a clip of its own that the export appends like any scene.
"""

from __future__ import annotations

import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nbvideo.edit.captions import filter_value
from nbvideo.media.ffmpeg import RGB_TO_BT709, TAG_BT709, open_image, run_ffmpeg
from nbvideo.media.glyphs import FontStack, warn_missing
from nbvideo.media.threads import encoder_threads
from nbvideo.model.color import hex_rgb
from nbvideo.model.presets import Rect, SafeArea
from nbvideo.store.brands import BrandKit, LogoPlacement

__all__ = ["LogoOverlay", "end_card", "end_card_falls_back", "end_card_image",
           "warn_end_card", "logo_overlay", "logo_rect"]


def _safe(w: int, h: int, safe_area: SafeArea | Rect | None) -> Rect:
    if safe_area is None:
        return Rect(x=0, y=0, w=w, h=h)
    return safe_area.rect(w, h) if isinstance(safe_area, SafeArea) else safe_area


def logo_rect(logo: Path, frame_w: int, frame_h: int, placement: LogoPlacement,
              safe_area: SafeArea | Rect | None = None) -> Rect:
    """Where the watermark lands: its corner of the safe area, `margin` in from the edges,
    `scale` x the short side wide. Size and position are even, as a yuv420p overlay needs
    (ffmpeg would move an odd position itself); the position rounds away from the edge."""
    with open_image(logo, "logo") as im:
        iw, ih = im.size
    short = min(frame_w, frame_h)
    lw = max(2, round(placement.scale * short / 2) * 2)
    lh = max(2, round(lw * ih / iw / 2) * 2)
    safe = _safe(frame_w, frame_h, safe_area)
    m = round(placement.margin * short)
    x = safe.x + m if placement.corner.endswith("left") else safe.right - m - lw
    y = safe.y + m if placement.corner.startswith("top") else safe.bottom - m - lh
    x = x + x % 2 if placement.corner.endswith("left") else x - x % 2
    y = y + y % 2 if placement.corner.startswith("top") else y - y % 2
    return Rect(x=x, y=y, w=lw, h=lh)


@dataclass(frozen=True)
class LogoOverlay:
    """`graph` reads [src] and writes [out]; `rect` is where the logo is, for the checks."""

    graph: str
    rect: Rect


def logo_overlay(logo: Path, frame_w: int, frame_h: int, placement: LogoPlacement,
                 safe_area: SafeArea | Rect | None = None, *, src: str = "vin",
                 out: str = "vout", until_s: float | None = None) -> LogoOverlay:
    """Filtergraph lines that lay the logo over [src] at its opacity, output [out].

    `until_s` hides the watermark from that time on (e.g. under an end card that shows the
    logo itself). The logo is one frame; overlay repeats it to the end of the video. [src] is
    expected to be BT.709 limited-range yuv420p, as the timeline's clips are.
    """
    r = logo_rect(Path(logo), frame_w, frame_h, placement, safe_area)
    chain = [f"movie=filename={filter_value(Path(logo).resolve())}", "format=rgba",
             f"scale={r.w}:{r.h}:flags=lanczos"]
    if placement.opacity < 1:
        chain.append(f"colorchannelmixer=aa={placement.opacity:.3f}")
    # The one logo frame becomes BT.709 video YUV here, and the film is pinned to yuv420p
    # where it meets the logo, so the overlay blends in yuv420p. Left to negotiate, ffmpeg
    # turned the whole timeline into RGB (or 4:4:4) and back for every frame, ~20% of an
    # export's CPU, and an RGB pick tagged the export full range with an RGB matrix.
    chain.append("scale=out_color_matrix=bt709:out_range=tv,format=yuva420p")
    ov = f"overlay=x={r.x}:y={r.y}:format=yuv420"
    if until_s is not None:
        ov += f":enable=lt(t\\,{until_s:.6f})"
    graph = (f"{','.join(chain)}[{out}_logo];[{src}]format=yuv420p[{out}_main];"
             f"[{out}_main][{out}_logo]{ov}[{out}]")
    return LogoOverlay(graph=graph, rect=r)


# ------------------------------------------------------------------------------- end card
def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


def _fit_font(path: Path, text: str, width: float, start: int, floor: int) -> FontStack:
    """The kit's font at the largest size (down to `floor`) that sets `text` within `width`,
    with the bundled fallbacks for characters it lacks (Arabic, emoji, ...)."""
    px = start
    while px > floor and FontStack(ImageFont.truetype(str(path), px)).getlength(text) > width:
        px = max(floor, math.floor(px * 0.93))
    return FontStack(ImageFont.truetype(str(path), px))


def end_card_falls_back(kit: BrandKit) -> bool:
    """Whether the card sets any of its text in a fallback font (Arabic, emoji, ...): such
    cards are keyed apart from those made before fallback fonts existed (they were blank)."""
    return not all(FontStack(ImageFont.truetype(str(kit.font_path(role)), 20)).plain(text)
                   for role, text in (("headline", kit.end_card.cta), ("body", kit.end_card.url)))


def warn_end_card(kit: BrandKit) -> None:
    """A GlyphWarning for each end-card text with characters no bundled font has."""
    for role, field, text in (("headline", "CTA", kit.end_card.cta),
                              ("body", "URL", kit.end_card.url)):
        stack = FontStack(ImageFont.truetype(str(kit.font_path(role)), 20))
        warn_missing(stack, text, f"brand kit {kit.name!r}: end card {field}", stacklevel=4)


def end_card_image(kit: BrandKit, width: int, height: int,
                   safe_area: SafeArea | Rect | None = None, *, warn: bool = True
                   ) -> Image.Image:
    """The closing card as an RGB image: brand background with a soft centre glow, logo,
    CTA in the headline font, an accent rule and the URL, all inside the safe area.

    Characters the kit's fonts lack are set in the bundled Noto fonts; any that none has
    show as a box and raise a GlyphWarning naming them (unless `warn=False`)."""
    card = kit.end_card
    bg = hex_rgb(card.background or kit.darkest)
    fg = hex_rgb(card.text_color or kit.lightest)
    acc = hex_rgb(kit.accent)
    w, h, s = width, height, min(width, height)
    # A gentle radial lift toward the centre reads as "designed", a flat fill as a placeholder.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx - w / 2) / (w / 2)) ** 2 + ((yy - h * 0.45) / (h / 2)) ** 2)
    glow = np.clip(1 - r, 0, 1)[..., None] ** 1.6 * 0.10
    base = np.array(bg, np.float32)
    # A fixed-seed dither of +-1 level breaks the glow's 8-bit steps into grain; without it
    # the encoder turns them into visible rings.
    grain = np.random.default_rng(0).uniform(-1, 1, (h, w, 1)).astype(np.float32)
    glow_rgb = base + (np.array(fg, np.float32) - base) * glow + grain * (glow > 0.002)
    img = Image.fromarray(np.clip(np.rint(glow_rgb), 0, 255).astype(np.uint8))
    safe = _safe(w, h, safe_area)
    d = ImageDraw.Draw(img)
    room = safe.w * 0.84
    u = s * (1.3 if h > w else 1.0)  # a phone held upright: bigger type, same card
    head = _fit_font(kit.font_path("headline"), card.cta, room, round(u * 0.11), round(s * 0.05))
    body = _fit_font(kit.font_path("body"), card.url, room, round(u * 0.045), round(s * 0.025))
    if warn:
        warn_end_card(kit)
    logo = kit.logo_path()
    # (kind, height); text blocks are ascent + descent tall and drawn on their baseline, so
    # descenders never touch the rule below them.
    blocks: list[tuple[str, float]] = []
    if logo is not None:
        with open_image(logo, "logo") as im:
            lg = im.convert("RGBA")
        lw = min(room, u * 0.5)
        lg = lg.resize((round(lw), round(lw * lg.height / lg.width)), Image.Resampling.LANCZOS)
        blocks += [("logo", lg.height), ("gap", u * 0.08)]
    blocks += [("cta", sum(head.getmetrics())), ("gap", u * 0.035), ("rule", max(3, s * 0.008))]
    if card.url:
        blocks += [("gap", u * 0.04), ("url", sum(body.getmetrics()))]
    y = safe.y + (safe.h - sum(b[1] for b in blocks)) / 2
    cx = safe.x + safe.w / 2
    for kind, bh in blocks:
        if kind == "logo":
            img.paste(lg, (round(cx - lg.width / 2), round(y)), lg)
        elif kind == "cta":
            head.draw(d, (cx, y + head.getmetrics()[0]), card.cta, fill=fg, anchor="ms")
        elif kind == "rule":
            rw = u * 0.09
            d.rounded_rectangle((cx - rw / 2, y, cx + rw / 2, y + bh), radius=bh / 2, fill=acc)
        elif kind == "url":
            body.draw(d, (cx, y + body.getmetrics()[0]), card.url, fill=_mix(fg, bg, 0.22),
                      anchor="ms")
        y += bh
    return img


def _temp_beside(out: Path, suffix: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(f".{out.name}.{secrets.token_hex(4)}{suffix}")


def end_card(kit: BrandKit, width: int, height: int, out: Path, *, fps: int = 30,
             duration_s: float | None = None, safe_area: SafeArea | Rect | None = None,
             warn: bool = True) -> Path:
    """Write the end card to `out`: a .png still, or an .mp4 clip of exactly
    round(duration_s * fps) frames (default: the kit's duration) that the export engine
    can append as one more clip. Written beside `out` and renamed, so never half a file."""
    out = Path(out)
    ext = out.suffix.lower()
    if ext not in (".png", ".mp4"):
        raise ValueError(f"end card must be a .png or .mp4 path, got {out.name!r}")
    img = end_card_image(kit, width, height, safe_area, warn=warn)
    tmp = _temp_beside(out, ext)
    try:
        if ext == ".png":
            img.save(tmp, format="PNG")
        else:
            frames = max(1, round((duration_s or kit.end_card.duration_s) * fps))
            still = _temp_beside(out, ".png")
            try:
                img.save(still, format="PNG", compress_level=1)
                # The still is decoded and converted once and repeated by the loop filter:
                # a third of the CPU of `-loop 1` on the input, which decodes it every frame.
                # BT.709 and tagged like the scene clips, so joining them keeps the tags.
                run_ffmpeg(["-i", str(still), "-vf", f"{RGB_TO_BT709},{TAG_BT709},"
                            f"loop=loop={frames - 1}:size=1:start=0,setpts=N/{fps}/TB",
                            "-frames:v", str(frames), "-c:v", "libx264", "-preset", "veryfast",
                            "-crf", "18", "-tune", "stillimage", *encoder_threads(),
                            "-pix_fmt", "yuv420p",
                            "-r", str(fps), "-movflags", "+faststart", "-f", "mp4", str(tmp)],
                           total_s=None)
            finally:
                still.unlink(missing_ok=True)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
