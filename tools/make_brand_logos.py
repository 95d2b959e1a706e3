"""Draw the logos of the bundled demo brand kits (templates/brands/*-logo.png).

The kits are fictional brands, so their logos are simple marks drawn here with Pillow and
committed as PNG; rerun this after changing a mark:  .venv/bin/python tools/make_brand_logos.py

Each logo is a lockup on its own opaque pill, so it stays readable over any video frame.
Drawn at 4x and reduced, which antialiases the vector shapes.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from nbvideo.store.brands import brands_dir, font_file, hex_rgb

SS = 4
H = 160  # final lockup height in pixels


def _lockup(word: str, font: str, bg: str, fg: str, mark, *, tracking: float = 0.0,
            size: float = 0.44) -> Image.Image:
    """Pill with a square mark on the left and the word on the right."""
    h = H * SS
    f = ImageFont.truetype(str(font_file(font)), round(h * size))
    letters = list(word)
    widths = [f.getlength(c) for c in letters]
    text_w = sum(widths) + tracking * h * (len(letters) - 1)
    pad, mark_w = h * 0.22, h * 0.64
    w = round(pad + mark_w + pad * 0.8 + text_w + pad * 1.25)
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, w - 1, h - 1), radius=h * 0.5, fill=hex_rgb(bg))
    mark(d, pad * 1.1, (h - mark_w) / 2, mark_w)
    x = pad * 1.1 + mark_w + pad * 0.8
    for c, cw in zip(letters, widths):
        d.text((x, h / 2), c, font=f, fill=hex_rgb(fg), anchor="lm")
        x += cw + tracking * h
    return img.resize((w // SS, H), Image.Resampling.LANCZOS)


def trailhead() -> Image.Image:
    def mark(d: ImageDraw.ImageDraw, x: float, y: float, s: float) -> None:
        d.ellipse((x, y, x + s, y + s), fill=hex_rgb("#f26a21"))
        d.ellipse((x + s * .56, y + s * .18, x + s * .76, y + s * .38), fill=hex_rgb("#fbe7c6"))
        base = y + s * .74  # the peaks' feet stay inside the circle
        d.polygon([(x + s * .10, base), (x + s * .38, y + s * .30), (x + s * .62, base)],
                  fill=hex_rgb("#14261f"))
        d.polygon([(x + s * .36, base), (x + s * .64, y + s * .44), (x + s * .90, base)],
                  fill=hex_rgb("#2f4a3a"))
        snow = [(x + s * .38, y + s * .30), (x + s * .30, y + s * .42), (x + s * .46, y + s * .42)]
        d.polygon(snow, fill=hex_rgb("#e8dfcf"))

    return _lockup("TRAILHEAD", "league-spartan", "#14261f", "#e8dfcf", mark, tracking=0.035)


def lumen() -> Image.Image:
    def mark(d: ImageDraw.ImageDraw, x: float, y: float, s: float) -> None:
        gold, plum = hex_rgb("#c9a46a"), hex_rgb("#2b1b2e")
        d.ellipse((x, y, x + s, y + s), fill=gold)
        d.ellipse((x + s * .26, y + s * .06, x + s * 1.02, y + s * .82), fill=plum)
        d.ellipse((x + s * .66, y + s * .62, x + s * .80, y + s * .76), fill=hex_rgb("#f3d9d3"))

    return _lockup("lumen", "manrope-extrabold", "#2b1b2e", "#fbf6f1", mark, tracking=0.01)


def volt() -> Image.Image:
    def mark(d: ImageDraw.ImageDraw, x: float, y: float, s: float) -> None:
        d.rounded_rectangle((x, y, x + s, y + s), radius=s * .24, fill=hex_rgb("#c6ff1a"))
        bolt = [(.58, .08), (.22, .56), (.46, .56), (.38, .92), (.78, .40), (.54, .40), (.66, .08)]
        d.polygon([(x + s * px, y + s * py) for px, py in bolt], fill=hex_rgb("#0d0d0f"))

    return _lockup("VOLT", "league-spartan", "#0d0d0f", "#ffffff", mark, tracking=0.05, size=0.5)


def main() -> None:
    out = brands_dir()
    for name, draw in (("trailhead", trailhead), ("lumen", lumen), ("volt", volt)):
        path = out / f"{name}-logo.png"
        draw().save(path, optimize=True)
        print(path)


if __name__ == "__main__":
    main()
