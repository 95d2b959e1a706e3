"""Scene illustration for offline storyboard frames: everything that paints the picture.

Sky, ground, city, hills, mountains or sea, then a figure or a product (textured in detail
shots), drawn for a Palette and a Look at SS times the frame size with the caller's seeded RNG.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from nbvideo.providers.base import FrameRequest

RGB = tuple[int, int, int]
SS = 2  # the illustration is drawn at 2x and reduced: Pillow shapes have no antialiasing
WHITE: RGB = (246, 244, 238)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


@dataclass(frozen=True)
class Palette:
    """Colour roles the drawing uses; derived from the request's list, darkest first."""

    ink: RGB
    deep: RGB
    mid: RGB
    light: RGB
    accent: RGB


@dataclass(frozen=True)
class Look:
    """What the words ask for: where, when, weather, and what stands in the frame."""

    env: str
    time: str
    weather: str
    subject: str
    path: bool
    label: str = ""  # the generic package's printed name


# ---------------------------------------------------------------- drawing helpers
def _smooth(pts: list[tuple[float, float]], steps: int = 8, closed: bool = True):
    """Catmull-Rom curve through the points: organic shapes from a few numbers.

    An open curve ends at its last point, so the polygon closes with a straight edge.
    """
    out, n = [], len(pts)
    for i in range(n if closed else n - 1):
        if closed:
            p0, p1, p2, p3 = pts[i - 1], pts[i], pts[(i + 1) % n], pts[(i + 2) % n]
        else:
            p0, p1, p2, p3 = pts[max(i - 1, 0)], pts[i], pts[i + 1], pts[min(i + 2, n - 1)]
        for k in range(steps):
            t = k / steps
            out.append(tuple(0.5 * (2 * b + (c - a) * t + (2 * a - 5 * b + 4 * c - d) * t * t
                                    + (3 * b - a - 3 * c + d) * t ** 3)
                             for a, b, c, d in zip(p0, p1, p2, p3)))
    return out if closed else out + [pts[-1]]


def _vgrad(img: Image.Image, box: tuple[int, int, int, int], top: RGB, bottom: RGB) -> None:
    x0, y0, x1, y1 = box
    t = np.linspace(0.0, 1.0, max(1, y1 - y0))[:, None, None]
    col = (np.array(top) * (1 - t) + np.array(bottom) * t).round().astype(np.uint8)
    img.paste(Image.fromarray(col).resize((x1 - x0, y1 - y0), Image.Resampling.NEAREST), (x0, y0))


def _soft(img: Image.Image, bbox, colour: RGB, opacity: float, blur: float) -> None:
    """A blurred ellipse (glow, shadow, bokeh), built small and scaled up to stay cheap."""
    x0, y0, x1, y1 = bbox
    pad, k = int(blur * 2.5) + 2, 4
    bx, by = int(x0) - pad, int(y0) - pad
    bw, bh = int(x1 - x0) + 2 * pad, int(y1 - y0) + 2 * pad
    mask = Image.new("L", (max(2, bw // k), max(2, bh // k)))
    ImageDraw.Draw(mask).ellipse(((x0 - bx) / k, (y0 - by) / k, (x1 - bx) / k, (y1 - by) / k),
                                 fill=round(255 * opacity))
    mask = mask.filter(ImageFilter.GaussianBlur(blur / k))
    mask = mask.resize((bw, bh), Image.Resampling.BILINEAR)
    img.paste(colour, (bx, by, bx + bw, by + bh), mask)


def _ridge(rng: random.Random, w: int, base: float, amp: float, freq: float, sharp: bool):
    ph = [rng.uniform(0, math.tau) for _ in range(3)]
    pts = []
    for i in range(65):
        x = w * (i / 64 * 1.1 - 0.05)
        a = x / w * math.tau * freq
        wave = (1 - abs(math.sin(a / 2 + ph[0]))) if sharp else 0.5 + 0.5 * math.sin(a + ph[0])
        wave = 0.65 * wave + 0.25 * (0.5 + 0.5 * math.sin(a * 2.3 + ph[1]))
        pts.append((x, base - amp * (wave + 0.1 * math.sin(a * 6.1 + ph[2]))))
    return pts


# ---------------------------------------------------------------- backdrop
def _city(d: ImageDraw.ImageDraw, rng: random.Random, pal: Palette, size: tuple[int, int],
          hy: int, layer: int, col: RGB, night: bool) -> None:
    w, h = size
    x = -rng.uniform(0, .05) * w
    lit = _mix(pal.accent, WHITE, .4) if night else _mix(col, WHITE, .22)
    while x < w:
        bw, bh = rng.uniform(.05, .12) * w, rng.uniform(.08, .42 - .1 * layer) * h
        d.rectangle((x, hy - bh, x + bw, hy + 4), fill=col)
        if night or layer == 2:
            for yy in np.arange(hy - bh + .02 * h, hy - .03 * h, .035 * h):
                for xx in np.arange(x + .012 * w, x + bw - .02 * w, .022 * w):
                    if rng.random() < (.3 if night else .45):
                        d.rectangle((xx, yy, xx + .009 * w, yy + .014 * h), fill=lit)
        x += bw + rng.uniform(0, .012) * w


def _sky(look: Look, pal: Palette) -> tuple[RGB, RGB]:
    if look.env == "interior":
        return _mix(pal.light, pal.mid, .35), _mix(pal.light, pal.mid, .1)
    if look.time == "night":
        return _mix(pal.ink, (0, 0, 0), .3), _mix(pal.deep, pal.accent, .15)
    if look.time == "dusk":
        return _mix(pal.deep, (74, 52, 96), .45), _mix((248, 172, 112), pal.light, .3)
    top, bottom = _mix(pal.mid, pal.light, .35), _mix(pal.light, WHITE, .3)
    if look.weather == "rain":
        return _mix(top, pal.mid, .3), _mix(bottom, pal.mid, .2)
    return top, bottom


def _backdrop(img: Image.Image, look: Look, pal: Palette, rng: random.Random, hy: int) -> None:
    """Sky, sun or moon, far scenery and ground, with colours fading into the haze."""
    w, h = img.size
    s, d = min(w, h), ImageDraw.Draw(img)
    top, haze = _sky(look, pal)
    _vgrad(img, (0, 0, w, hy + 2), top, haze)
    night = look.time == "night"
    ground = _mix(pal.deep, pal.ink, .55 if night else .1)
    far = _mix(ground, haze, .45)
    if look.env == "interior":
        wx = rng.uniform(.12, .55) * w
        d.rectangle((wx, .12 * h, wx + .3 * w, hy - .1 * h), fill=_mix(haze, WHITE, .55))
        d.line((wx + .15 * w, .12 * h, wx + .15 * w, hy - .1 * h), fill=haze, width=max(2, s // 90))
        _vgrad(img, (0, hy, w, h), _mix(pal.mid, pal.deep, .35), _mix(pal.deep, pal.ink, .45))
        d.line((0, hy, w, hy), fill=_mix(pal.mid, WHITE, .35), width=max(2, s // 200))
        return
    if night:
        for _ in range(70):
            x, y, r = rng.uniform(0, w), rng.uniform(0, hy * .7), rng.uniform(.6, 1.8) * s / 700
            d.ellipse((x - r, y - r, x + r, y + r), fill=_mix(pal.light, top, rng.uniform(0, .5)))
    if look.weather != "rain" or night:
        sx, sy = rng.uniform(.15, .85) * w, hy - (.12 if look.time == "dusk" else .38) * h
        r = s * (.09 if look.time == "dusk" else .055)
        glow = (255, 214, 160) if look.time == "dusk" else _mix(pal.light, WHITE, .6)
        _soft(img, (sx - 3 * r, sy - 3 * r, sx + 3 * r, sy + 3 * r), glow, .45, r)
        d.ellipse((sx - r, sy - r, sx + r, sy + r), fill=_mix(glow, WHITE, .5))
    for i in range(3):
        col = _mix(far, ground, (i + 1) / 3 * .8)
        if look.env == "city":
            _city(d, rng, pal, (w, h), hy, i, _mix(col, haze, .3 * (2 - i)), night)
            continue
        if look.env == "mountain":
            pts = _ridge(rng, w, hy, h * (.34 - .1 * i), 1.3 + i, sharp=True)
        elif look.env == "sea":
            pts = _ridge(rng, w, hy, h * .05, .7, sharp=False) if i == 0 else []
        else:
            pts = _ridge(rng, w, hy + h * .03 * i, h * (.14 - .03 * i), .8 + .5 * i, sharp=False)
        if pts:
            d.polygon(pts + [(w * 1.05, hy + 4), (-w * .05, hy + 4)], fill=col)
    if look.env == "sea":
        _vgrad(img, (0, hy, w, h), _mix(pal.mid, haze, .4), _mix(pal.deep, pal.ink, .3))
        for _ in range(40):
            x, y = rng.uniform(0, w), hy + rng.uniform(.01, 1) ** 2 * (h - hy)
            ln = (y - hy) / h * .25 * w * rng.uniform(.3, 1)
            d.line((x, y, x + ln, y), fill=_mix(haze, WHITE, .3), width=max(1, s // 400))
    else:
        _vgrad(img, (0, hy, w, h), _mix(ground, haze, .25), _mix(ground, pal.ink, .5))
    if look.path:
        cx = rng.uniform(.35, .65) * w
        path = [(cx, hy), (cx + .01 * w, hy), (w * .78, h * 1.01), (w * .3, h * 1.01)]
        d.polygon(path, fill=_mix(ground, pal.light, .22 if not night else .08))


# ---------------------------------------------------------------- subjects
class _Pen:
    """Draws in subject units: (u, v) from the subject's base centre, v up is negative."""

    def __init__(self, img: Image.Image, ox: float, oy: float, s: float, dx: float = 0.0):
        self.d, self.ox, self.oy, self.s = ImageDraw.Draw(img), ox + dx, oy, s

    def p(self, u: float, v: float) -> tuple[float, float]:
        return (self.ox + u * self.s, self.oy + v * self.s)

    def poly(self, pts, fill: RGB, smooth: bool | str = False) -> list[tuple[float, float]]:
        xy = [self.p(*q) for q in pts]
        xy = _smooth(xy, closed=smooth != "open") if smooth else xy
        self.d.polygon(xy, fill=fill)
        return xy

    def rect(self, u0: float, v0: float, u1: float, v1: float, fill: RGB, r: float = 0.0) -> None:
        self.d.rounded_rectangle((*self.p(u0, v0), *self.p(u1, v1)), radius=r * self.s, fill=fill)

    def ellipse(self, u0: float, v0: float, u1: float, v1: float, fill: RGB) -> None:
        self.d.ellipse((*self.p(u0, v0), *self.p(u1, v1)), fill=fill)


RATIO = {"figure": .3, "shoe": 2.6, "bottle": .36, "phone": .5, "can": .56, "box": .8,
         "earbuds": 1.1, "light": 1.7}
FOCUS = {"shoe": (.9, -.2), "bottle": (.05, -.52), "phone": (.12, -.78), "can": (.05, -.8),
         "box": (-.03, -.46), "figure": (0, -.6), "earbuds": (0, -.55),
         "light": (.05, -.42)}  # fmt: skip


def _figure(pen: _Pen, pal: Palette, mono: RGB | None = None) -> list:
    """A stylised, faceless figure (storyboard mannequin); `mono` paints a rim silhouette."""
    c = (lambda col: mono or col)
    skin, jacket = _mix(pal.light, (196, 150, 118), .55), pal.accent
    pen.poly([(-.075, -.5), (-.004, -.5), (-.02, -.03), (-.066, -.03)], c(pal.deep))
    pen.poly([(.004, -.5), (.075, -.5), (.07, -.03), (.024, -.03)], c(_mix(pal.deep, pal.ink, .2)))
    pen.ellipse(-.09, -.04, -.004, .004, c(pal.ink))
    pen.ellipse(.014, -.04, .1, .004, c(pal.ink))
    body = pen.poly([(-.13, -.79), (-.06, -.815), (.06, -.815), (.13, -.79), (.115, -.62),
                     (.104, -.46), (-.104, -.46), (-.115, -.62)], c(jacket), smooth=True)
    pen.rect(-.004, -.79, .004, -.47, c(_mix(jacket, pal.ink, .3)))
    for side in (-1, 1):
        pen.poly([(side * .098, -.8), (side * .14, -.775), (side * .162, -.47), (side * .124, -.46),
                  (side * .104, -.66)], c(_mix(jacket, pal.ink, .18)), smooth=True)
        pen.ellipse(side * .143 - .02, -.49, side * .143 + .02, -.44, c(skin))
    pen.rect(-.026, -.865, .026, -.8, c(_mix(skin, pal.ink, .2)))
    pen.poly([(-.05, -.815), (.05, -.815), (0, -.765)], c(pal.light))
    pen.ellipse(-.061, -.978, .061, -.87, c(_mix(pal.ink, pal.deep, .3)))
    head = (*pen.p(-.058, -.962), *pen.p(.058, -.83))
    pen.d.ellipse(head, fill=c(skin))
    if mono is None:
        pen.d.chord(head, -70, 70, fill=_mix(skin, pal.ink, .12))
    return body


def _label(pen: _Pen, text: str, ink: RGB) -> None:
    """The product's name in up to three lines, fitted to the package's label."""
    from PIL import ImageFont

    words, lines = text.split(), []
    for w in words:
        if lines and len(lines[-1]) + 1 + len(w) <= 12:
            lines[-1] += " " + w
        else:
            lines.append(w)
    lines = lines[:3]
    x0, y0 = pen.p(-.3, -.64)
    x1, y1 = pen.p(.24, -.28)
    size = max(6, int(min((y1 - y0) / (len(lines) * 1.25),
                          (x1 - x0) / (max(len(x) for x in lines) * .62))))
    font = ImageFont.load_default(size=size)
    y = (y0 + y1) / 2 - len(lines) * size * 1.2 / 2
    for line in lines:
        w = pen.d.textlength(line.upper(), font=font)
        pen.d.text(((x0 + x1) / 2 - w / 2, y), line.upper(), fill=ink, font=font)
        y += size * 1.2


def _product(pen: _Pen, kind: str, pal: Palette, texture=None, label: str = "") -> None:
    """Product silhouettes in flat storyboard shading; `texture(surface)` adds close-up grain."""
    a, ink, lt = pal.accent, pal.ink, pal.light
    hi, lo = _mix(a, WHITE, .45), _mix(a, ink, .28)
    metal, metal_lo = _mix(lt, pal.mid, .25), _mix(lt, pal.mid, .6)
    if kind == "bottle":
        arc = [(.18 * math.cos(t), -.64 - .16 * math.sin(t))
               for t in np.linspace(0, math.pi, 25) if abs(math.cos(t)) > .36]
        outline = [(-.17, 0), (.17, 0), (.18, -.02)] + arc[:len(arc) // 2] + [
            (.065, -.76), (.065, -.9), (-.065, -.9), (-.065, -.76)] + arc[len(arc) // 2:] + [
            (-.18, -.02)]
        body = pen.poly(outline, a)
        pen.rect(.125, -.6, .165, -.05, lo, .015)
        pen.rect(-.085, -1.0, .085, -.875, ink, .02)
        pen.rect(-.181, -.46, .181, -.2, lt)
        pen.rect(-.181, -.43, .181, -.405, a)
        pen.rect(-.1, -.35, .1, -.32, ink)
        pen.rect(-.07, -.29, .07, -.27, pal.mid)
        pen.rect(-.135, -.62, -.105, -.06, hi, .015)
    elif kind == "can":
        pen.ellipse(-.28, -.07, .28, .005, metal_lo)
        body = pen.poly([(-.28, -.93), (.28, -.93), (.28, -.035), (-.28, -.035)], a)
        pen.rect(-.281, -.64, .281, -.36, lt)
        pen.rect(-.2, -.53, .2, -.47, a, .01)
        pen.rect(.18, -.93, .27, -.04, lo)
        pen.rect(-.19, -.9, -.15, -.07, hi, .02)
        pen.ellipse(-.28, -.99, .28, -.875, metal)
        pen.ellipse(-.24, -.975, .24, -.89, metal_lo)
        pen.rect(-.05, -.955, .09, -.915, metal, .02)
    elif kind == "phone":
        pen.rect(-.25, -1, .25, 0, ink, .07)
        body = pen.poly([(-.228, -.975), (.228, -.975), (.228, -.025), (-.228, -.025)],
                        _mix(a, pal.deep, .35))
        pen.d.rounded_rectangle((*pen.p(-.228, -.975), *pen.p(.228, -.6)), radius=.045 * pen.s,
                                fill=a)
        pen.rect(-.06, -.96, .06, -.935, ink, .0125)
        pen.ellipse(-.18, -.55, -.06, -.43, lt)
        for i in range(4):
            pen.rect(-.18, -.38 + i * .085, .18 - i * .04, -.34 + i * .085, _mix(lt, a, .3), .02)
        pen.rect(-.18, -.12, .18, -.06, hi, .03)
    elif kind == "shoe":
        body = pen.poly([(-1.25, -.2), (-1.28, -.6), (-1.15, -.92), (-.95, -.97), (-.7, -.82),
                         (-.35, -.86), (-.05, -1.0), (.14, -.92), (.26, -.7), (.8, -.52),
                         (1.12, -.43), (1.26, -.32), (1.3, -.2)], a, smooth="open")
        if texture:  # the mesh sits under laces and sole
            texture(body)
            texture = None
        pen.poly([(-1.05, -.35), (-.5, -.6), (.1, -.5), (.5, -.32), (.05, -.36), (-.55, -.42)],
                 lo, smooth=True)
        pen.poly([(-.95, -.93), (-.7, -.8), (-.38, -.84), (-.62, -.9)], ink, smooth=True)
        for i in range(5):
            u = -.18 + i * .16
            pen.d.line((pen.p(u, -.86 + i * .075), pen.p(u + .16, -.8 + i * .075)), fill=lt,
                       width=max(2, round(.025 * pen.s)))
        pen.poly([(-1.28, -.22), (-1.31, -.08), (-1.25, 0), (-1, 0), (.95, 0), (1.18, -.01),
                  (1.3, -.05), (1.36, -.13),
                  (1.32, -.22)], lt, smooth="open")
        pen.rect(-1.27, -.13, 1.31, -.1, metal_lo)
        for i in range(40):
            u = -1.2 + i * .06
            pen.d.line((pen.p(u, -.255), pen.p(u + .03, -.255)), fill=_mix(a, ink, .45),
                       width=max(1, round(.008 * pen.s)))
        for i in range(26):
            pen.rect(-1.2 + i * .095, -.035, -1.16 + i * .095, 0, _mix(lt, ink, .5))
    elif kind == "earbuds":  # an open charging case with its two buds
        pen.rect(-.5, -.5, .5, 0, lo, .2)
        body = pen.poly([(-.5, -.3), (.5, -.3), (.5, -.06), (-.5, -.06)], a)
        pen.rect(-.5, -.32, .5, -.28, metal_lo)
        pen.ellipse(-.04, -.2, .04, -.12, lt)
        bud, edge = _mix(lt, WHITE, .5), _mix(pal.deep, ink, .3)
        for u, flip in ((-.2, -1), (.22, 1)):
            hx = u - .13 * flip
            pen.rect(u - .055, -.7, u + .055, -.36, edge, .05)
            pen.rect(u - .04, -.69, u + .04, -.37, bud, .04)
            pen.ellipse(hx - .15, -.9, hx + .15, -.6, edge)
            pen.ellipse(hx - .13, -.88, hx + .13, -.62, bud)
            pen.ellipse(hx - .05, -.79, hx + .05, -.71, _mix(pal.mid, lt, .35))
            pen.ellipse(u - .03, -.46, u + .03, -.4, metal_lo)
    elif kind == "light":  # a bike light on its strap, beam thrown forward
        pen.poly([(.55, -.6), (1.7, -.95), (1.7, .05), (.55, -.2)], _mix(pal.light, WHITE, .55))
        pen.rect(-.2, -.22, .12, 0, ink, .03)
        body = pen.poly([(-.75, -.62), (.45, -.62), (.45, -.18), (-.75, -.18)], a)
        pen.rect(-.8, -.64, -.62, -.16, lo, .06)
        pen.ellipse(.32, -.66, .62, -.14, _mix(lt, WHITE, .7))
        pen.ellipse(.38, -.58, .56, -.22, WHITE)
        pen.rect(-.5, -.56, .2, -.5, hi, .02)
        pen.ellipse(-.3, -.44, -.18, -.32, lt)
    else:  # a clean generic package: the product's name on its label
        body = pen.poly([(-.4, -.86), (.4, -.86), (.4, 0), (-.4, 0)], a)
        pen.rect(-.41, -1, .41, -.84, lo, .02)
        pen.rect(.3, -.84, .4, 0, lo)
        pen.rect(-.32, -.66, .26, -.26, lt, .03)
        if label:
            _label(pen, label, ink)
        else:
            pen.rect(-.2, -.52, .1, -.47, ink)
            pen.rect(-.2, -.42, .04, -.39, pal.mid)
    if texture:
        texture(body)


def _texture(img: Image.Image, region: list, kind: str, pal: Palette, s: float,
             rng: random.Random) -> None:
    """Close-range surface texture (mesh, droplets, grain), clipped to the product surface."""
    w, h = img.size
    xs, ys = [p[0] for p in region], [p[1] for p in region]
    bx0, by0 = max(0, int(min(xs))), max(0, int(min(ys)))
    bx1, by1 = min(w, int(max(xs)) + 1), min(h, int(max(ys)) + 1)
    if bx1 <= bx0 or by1 <= by0:
        return
    size = (bx1 - bx0, by1 - by0)
    clip, tex, dark = (Image.new("L", size) for _ in range(3))
    ImageDraw.Draw(clip).polygon([(x - bx0, y - by0) for x, y in region], fill=255)
    td, dd = ImageDraw.Draw(tex), ImageDraw.Draw(dark)
    bw, bh = size
    if kind == "shoe":
        step = .022 * s
        for yi, y in enumerate(np.arange(0, bh, step * .8)):
            for x in np.arange((yi % 2) * step / 2, bw, step):
                r = step * .24
                dd.ellipse((x - r, y - r, x + r, y + r), fill=90)
    elif kind in ("bottle", "can"):
        for _ in range(150):
            x, y = rng.uniform(0, bw), rng.uniform(0, bh)
            r = rng.uniform(.002, .008) * s * (1 + 3 * (rng.random() > .9))
            dd.ellipse((x - r, y - r * .5, x + r, y + r * 1.25), fill=60)
            td.ellipse((x - r * .75, y - r * .8, x + r * .5, y + r * .6), fill=150)
    elif kind == "box":
        for _ in range(500):
            x, y, ln = rng.uniform(0, bw), rng.uniform(0, bh), rng.uniform(.01, .04) * s
            (td if rng.random() < .5 else dd).line((x, y, x + ln, y + ln * .1), fill=90, width=2)
    else:
        for i in range(-3, 4):
            x = w * (.5 + i * .22) - bx0
            td.polygon([(x, -by0), (x + .08 * w, -by0), (x - .12 * w, h - by0),
                        (x - .2 * w, h - by0)], fill=28)
    for layer, col in ((dark, _mix(pal.accent, pal.ink, .55)), (tex, _mix(pal.light, WHITE, .6))):
        img.paste(col, (bx0, by0, bx1, by1), ImageChops.multiply(layer, clip))


# ---------------------------------------------------------------- scene assembly
def _place(look: Look, shot: str, w: int, h: int, hy: int, rng: random.Random):
    """Subject origin and scale per shot: framing is the whole point of a storyboard."""
    kind, ratio = look.subject, RATIO[look.subject]
    portrait = h > w
    x = w * (.5 + rng.uniform(-.04, .04) if portrait else rng.choice((1 / 3, 2 / 3)))
    if shot == "detail":
        s = max(w, h) * {"shoe": .9, "phone": 1.2, "bottle": 1.8, "can": 1.6, "earbuds": .45,
                          "light": 1.1}.get(kind, 1.8)
        fu, fv = FOCUS[kind]
        return w * .5 - fu * s, h * .38 - fv * s, s
    if kind == "figure":
        if shot == "wide":
            s = .3 * min(h, 1.3 * w)
            return x, hy + (h - hy) * .36, s
        if shot == "medium":  # waist-up; in a tall frame, keep it looser than the close-up
            s = min(1.75 * h, 2.1 * w)
            return x, max(.13 * h + .965 * s, .86 * h + .48 * s), s
        s = min(3.9 * h, 3.1 * w)
        return (w * .5 if portrait else (x + w * .5) / 2), .36 * h + .905 * s, s
    if shot == "wide":
        s = .2 * min(h, 1.2 * w) / max(1.0, ratio * .6)
        return x, hy + (h - hy) * .36, s
    if shot == "medium":
        s = min(.5 * h, .5 * w / ratio)
        return x, .7 * h, s  # high enough that the caption band does not hide its base
    s = min(.8 * h, (.86 if portrait else .72) * w / ratio)
    return w * .5 if portrait else (x + w * .5) / 2, .46 * h + s / 2, s


def _defocus(img: Image.Image, radius: float) -> Image.Image:
    """Shallow depth of field for the backdrop: blur a small copy and scale it back."""
    small = img.reduce(4)
    small = small.filter(ImageFilter.GaussianBlur(radius / 4))
    return small.resize(img.size, Image.Resampling.BILINEAR)


def paint_scene(req: FrameRequest, pal: Palette, look: Look, rng: random.Random,
                marks: dict[str, tuple[float, float, float, float]] | None = None) -> Image.Image:
    """The picture without text or overlays, at SS times the frame size (the caller reduces it).

    `marks`, when given, receives where things were drawn (in the same SS-scaled pixels):
    "face" is the figure's head, for the offline lip sync."""
    w, h = req.width * SS, req.height * SS
    s = min(w, h)
    img = Image.new("RGB", (w, h))
    hy = round(h * {"wide": .62, "medium": .56, "close-up": .6, "detail": .52}[req.shot])
    _backdrop(img, look, pal, rng, hy)
    ox, oy, scale = _place(look, req.shot, w, h, hy, rng)
    blur = {"wide": 0.0, "medium": .006, "close-up": .014, "detail": .03}[req.shot] * s
    if blur:
        img = _defocus(img, blur)
    if req.shot == "detail":
        for _ in range(9):
            x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(.04, .12) * s
            _soft(img, (x - r, y - r, x + r, y + r), _mix(pal.light, pal.accent, .2), .35, r * .15)
    if req.shot != "detail" and look.env != "interior" or req.shot in ("wide", "medium"):
        sw = scale * RATIO[look.subject] * (1.4 if look.subject == "figure" else 1.1)
        _soft(img, (ox - sw / 2, oy - scale * .05, ox + sw / 2, oy + scale * .04),
              _mix(pal.ink, pal.deep, .3), .55, scale * .03)
    if look.subject == "figure":
        side = rng.choice((-1, 1))
        rim = _mix(_sky(look, pal)[1], WHITE, .5)
        _figure(_Pen(img, ox, oy, scale, dx=side * max(2.0, scale * .0035)), pal, mono=rim)
        _figure(_Pen(img, ox, oy, scale), pal)
        if marks is not None:
            pen = _Pen(img, ox, oy, scale)
            marks["face"] = (*pen.p(-.058, -.962), *pen.p(.058, -.83))
    else:
        tex = (lambda region: _texture(img, region, look.subject, pal, scale, rng)) \
            if req.shot == "detail" else None
        _product(_Pen(img, ox, oy, scale), look.subject, pal, tex, look.label)
    return img
