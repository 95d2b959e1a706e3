"""The review sheet: what an agency sends a client for sign-off.

A PDF (A4 landscape, `per_page` scenes a page) and one PNG contact sheet of every scene:
each storyboard frame with its number, duration, on-screen text, voice line and cost (and,
once a review has started, its status on the frame and the latest comments), under
a header with the title, date and totals, with page numbers and a sign-off line. Drawn with
Pillow (no PDF library needed) in the bundled fonts, or the brand kit's when one is given.

    >>> sheet = review_sheet("Trail shoe - 30s", rows, None, "exports")   # doctest: +SKIP
    >>> sheet.pdf, sheet.png                 # the notebook shows the PNG inline
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict, Field

from nbvideo.media.ffmpeg import open_image
from nbvideo.media.glyphs import FontStack
from nbvideo.model.approvals import STATUS_COLOURS
from nbvideo.model.color import hex_rgb
from nbvideo.store.brands import BrandKit, font_file

__all__ = ["ReviewRow", "ReviewSheet", "ReviewTotals", "review_sheet"]

PAGE_PT = (842, 595)  # A4 landscape in points; everything below is laid out in points
PDF_DPI, PNG_DPI = 200, 144
INK, MUTED, RULE = (24, 26, 31), (104, 110, 122), (222, 225, 231)
PAPER, PANEL = (255, 255, 255), (243, 244, 247)
MARGIN, HEADER, FOOTER, GAP = 30, 66, 24, 14
TEXT_H = 98  # points of text under a landscape frame: number row, on-screen text, voice
COMMENTS_H = 34  # more text room under landscape frames when any scene has comments
STATUS_TEXT = {"draft": "DRAFT", "in_review": "IN REVIEW", "approved": "APPROVED",
               "changes_requested": "CHANGES REQUESTED"}


class ReviewRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1)
    frame_path: Path | None = None
    duration_s: float = Field(ge=0)
    on_screen_text: str = ""
    voice_line: str = ""
    cost_usd: float = Field(0.0, ge=0)
    title: str = ""
    status: Literal["draft", "in_review", "approved", "changes_requested"] | None = Field(
        None, description="Review status, drawn on the frame; None: no review yet.")
    comments: list[str] = Field(default_factory=list, description="'author: text', oldest first.")


class ReviewTotals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenes: int = Field(ge=0)
    duration_s: float = Field(ge=0)
    cost_usd: float = Field(ge=0)

    @classmethod
    def of(cls, rows: Sequence[ReviewRow]) -> ReviewTotals:
        return cls(scenes=len(rows), duration_s=sum(r.duration_s for r in rows),
                   cost_usd=sum(r.cost_usd for r in rows))


class ReviewSheet(NamedTuple):
    """(pdf, png). A notebook cell that ends with it shows the contact sheet."""

    pdf: Path
    png: Path

    def _repr_png_(self) -> bytes:
        return self.png.read_bytes()


class _Style:
    def __init__(self, kit: BrandKit | None, k: float) -> None:
        self.k = k
        head = kit.font_path("headline") if kit else font_file("manrope-extrabold")
        bold = font_file("manrope-extrabold")
        body = kit.font_path("body") if kit else font_file("manrope")
        self.accent = hex_rgb(kit.accent) if kit else (242, 106, 33)
        self.logo = kit.logo_path() if kit else None
        self._files = {"head": head, "bold": bold, "body": body}
        self._cache: dict[tuple[str, float], ImageFont.FreeTypeFont] = {}
        self.text_h: float = TEXT_H

    def font(self, role: str, pt: float) -> ImageFont.FreeTypeFont:
        key = (role, pt)
        if key not in self._cache:
            self._cache[key] = ImageFont.truetype(str(self._files[role]), round(pt * self.k))
        return self._cache[key]


def _money(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.01 or x == 0 else f"${x:.3f}"


def _secs(x: float) -> str:
    return f"{x:.1f} s"


def _wrap(text: str, font: ImageFont.FreeTypeFont | FontStack, width: float,
          max_lines: int) -> list[str]:
    words, lines = " ".join(text.split()).split(" "), [""]
    for word in words:
        trial = f"{lines[-1]} {word}".strip()
        if font.getlength(trial) <= width or not lines[-1]:
            lines[-1] = trial
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        while lines[-1] and font.getlength(lines[-1] + "\u2026") > width:
            lines[-1] = lines[-1][:-1]
        lines[-1] = lines[-1].rstrip(" ,.;:") + "\u2026"
    while lines and font.getlength(lines[-1]) > width and len(lines[-1]) > 1:  # one huge word
        lines[-1] = lines[-1][:-2] + "\u2026"
    return [ln for ln in lines if ln]


def _grid(per_page: int) -> tuple[int, int]:
    """(columns, rows) for a page: as close to the page's 3:2 as the count allows."""
    rows = max(1, round(math.sqrt(per_page / 1.6)))
    return math.ceil(per_page / rows), rows


def _frame(path: Path | None, w: int, h: int, st: _Style) -> Image.Image:
    """The frame resized to w x h (the caller keeps its aspect), or a labelled placeholder."""
    if path is None or not Path(path).is_file():
        panel = Image.new("RGB", (w, h), PANEL)
        ImageDraw.Draw(panel).text((w / 2, h / 2), "no frame yet", font=st.font("body", 9),
                                   fill=MUTED, anchor="mm")
        return panel
    with open_image(path, "frame") as im:
        return im.convert("RGB").resize((w, h), Image.Resampling.LANCZOS)


def _aspect(rows: Sequence[ReviewRow]) -> float:
    """Width / height of the board's frames (the first readable one; 16:9 if none)."""
    for r in rows:
        if r.frame_path is not None and Path(r.frame_path).is_file():
            with open_image(r.frame_path, "frame") as im:
                return im.width / im.height
    return 16 / 9


def _fit(text: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "\u2026") > width:
        text = text[:-1]
    return text.rstrip() + "\u2026"


def _card(d: ImageDraw.ImageDraw, img: Image.Image, row: ReviewRow, x: float, y: float,
          w: float, h: float, st: _Style, aspect: float) -> None:
    """A scene: the frame, then number, title, duration and cost, on-screen text and voice.

    Landscape frames sit above their text; portrait frames beside it, so a 9:16 board keeps
    frames big enough to read. Text is cut with an ellipsis before it can leave the cell.
    """
    k = st.k
    if aspect < 1:
        iw = min(w * 0.45, h * aspect)
        ih = iw / aspect
        tx, ty, tw, per_block = x + iw + 10, y, w - iw - 10, (3, 9)
    else:
        ih = min(h - st.text_h, w / aspect)
        iw = ih * aspect
        tx, ty, tw, per_block = x, y + ih + 8, iw, (2, 3)  # text as wide as its frame
    frame = _frame(row.frame_path, round(iw * k), round(ih * k), st)
    img.paste(frame, (round(x * k), round(y * k)))
    if row.status is not None:
        _status_pill(d, row.status, x + 5, y + 5, st)
    bottom = y + h
    num = f"{row.number:02d}"
    f_num, meta, body = st.font("head", 11), st.font("bold", 8), st.font("body", 8)
    nw = f_num.getlength(num) / k + 9
    d.rounded_rectangle((tx * k, ty * k, (tx + nw) * k, (ty + 16) * k), radius=3 * k,
                        fill=st.accent)
    d.text(((tx + nw / 2) * k, (ty + 8) * k), num, font=f_num, fill=PAPER, anchor="mm")
    facts = f"{_secs(row.duration_s)}  \u00b7  {_money(row.cost_usd)}"
    stacked = aspect < 1  # a narrow column: duration and cost go under the title
    room = tw - nw - 7 - (0 if stacked else body.getlength(facts) / k + 8)
    d.text(((tx + nw + 7) * k, (ty + 8) * k), _fit((row.title or "").upper(), meta, room * k),
           font=meta, fill=INK, anchor="lm")
    if stacked:
        ty += 20
        d.text((tx * k, (ty + 5) * k), facts, font=body, fill=MUTED, anchor="lm")
        ty += 16
    else:
        d.text(((tx + tw) * k, (ty + 8) * k), facts, font=body, fill=MUTED, anchor="rm")
        ty += 23
    label, screen_f, voice_f = st.font("bold", 6), st.font("bold", 9), st.font("body", 8.5)
    blocks = [("ON SCREEN", [row.on_screen_text], screen_f, per_block[0]),
              ("VOICE", [row.voice_line], voice_f, per_block[1])]
    if row.comments:
        blocks.append(("COMMENTS", row.comments[::-1][:2], st.font("body", 7.5), 2))  # newest first
    for caption, values, font, most in blocks:
        pitch = font.size / k * 1.3
        fit = int((bottom - ty - 8) // pitch)
        if fit < 1:
            break
        d.text((tx * k, ty * k), caption, font=label, fill=MUTED)
        ty += 8.5
        for value in values:
            left = int((bottom - ty - 4) // pitch)
            if left < 1:
                break
            stack = FontStack(font)  # Arabic, emoji... in the bundled fallback fonts
            shown = (_wrap(value, stack, tw * k, min(most, left)) if value.strip()
                     else ["\u2014"])
            for line in shown:
                stack.draw(d, (tx * k, ty * k), line, fill=INK if value.strip() else MUTED)
                ty += pitch
        ty += 5


def _status_pill(d: ImageDraw.ImageDraw, status: str, x: float, y: float, st: _Style) -> None:
    """The review status as a coloured label on the frame's top-left corner."""
    k, font = st.k, st.font("bold", 6.5)
    text = STATUS_TEXT[status]
    w = font.getlength(text) / k + 10
    d.rounded_rectangle((x * k, y * k, (x + w) * k, (y + 12) * k), radius=3 * k,
                        fill=STATUS_COLOURS[status])  # a "#rrggbb" Pillow reads
    d.text(((x + w / 2) * k, (y + 6) * k), text, font=font, fill=PAPER, anchor="mm")


def _cell(cols: int, grid_rows: int) -> tuple[float, float]:
    """Cell size in points of a page holding cols x grid_rows scenes."""
    pw, ph = PAGE_PT
    return ((pw - 2 * MARGIN - (cols - 1) * GAP) / cols,
            (ph - 2 * MARGIN - HEADER - FOOTER - (grid_rows - 1) * GAP) / grid_rows)


def _page(rows: Sequence[ReviewRow], title: str, subtitle: str, totals: ReviewTotals,
          cols: int, grid_rows: int, st: _Style, page: int, pages: int,
          cell: tuple[float, float], aspect: float) -> Image.Image:
    """One page (or, with pages=0, the contact sheet: as tall as its grid rows need)."""
    k = st.k
    pw = PAGE_PT[0]
    cell_w, cell_h = cell
    ph = 2 * MARGIN + HEADER + FOOTER + grid_rows * cell_h + (grid_rows - 1) * GAP
    img = Image.new("RGB", (round(pw * k), round(ph * k)), PAPER)
    d = ImageDraw.Draw(img)
    # Header: title and subtitle left, totals right, an accent rule under both.
    x0, y0 = MARGIN, MARGIN
    tx = x0
    if st.logo is not None:
        with open_image(st.logo, "logo") as lg:
            lg = lg.convert("RGBA")
            lh = 26 * k
            lg = lg.resize((round(lg.width * lh / lg.height), round(lh)), Image.Resampling.LANCZOS)
        img.paste(lg, (round(x0 * k), round((y0 + 2) * k)), lg)
        tx = x0 + lg.width / k + 14
    cx = pw - MARGIN
    for lab, val in (("COST", _money(totals.cost_usd)), ("DURATION", _secs(totals.duration_s)),
                     ("SCENES", str(totals.scenes))):
        vf = st.font("head", 17)
        d.text((cx * k, (y0 + 40) * k), val, font=vf, fill=INK, anchor="rs")
        d.text((cx * k, (y0 + 14) * k), lab, font=st.font("bold", 6.5), fill=MUTED, anchor="rs")
        cx -= max(vf.getlength(val), st.font("bold", 6.5).getlength(lab)) / k + 26
    head = st.font("head", 21)
    d.text((tx * k, (y0 + 22) * k), _fit(title, head, (cx - tx) * k), font=head, fill=INK,
           anchor="ls")
    d.text((tx * k, (y0 + 40) * k), subtitle, font=st.font("body", 9.5), fill=MUTED, anchor="ls")
    d.rectangle((x0 * k, (y0 + 54) * k, (pw - MARGIN) * k, (y0 + 55.2) * k), fill=RULE)
    d.rectangle((x0 * k, (y0 + 53.6) * k, (x0 + 40) * k, (y0 + 55.6) * k), fill=st.accent)
    gy = MARGIN + HEADER
    # Landscape frames narrower than their cell: spread the columns so the last frame ends
    # on the right margin, flush with the header rule, instead of leaving a ragged gap.
    used = min(cell_h - st.text_h, cell_w / aspect) * aspect if aspect >= 1 else cell_w
    step = (pw - 2 * MARGIN - used) / (cols - 1) if cols > 1 else 0
    for i, row in enumerate(rows):
        c, r = i % cols, i // cols
        _card(d, img, row, MARGIN + c * step, gy + r * (cell_h + GAP), cell_w, cell_h, st, aspect)
    fy = ph - MARGIN + 2
    small = st.font("body", 8)
    d.rectangle((x0 * k, (fy - 16) * k, (pw - MARGIN) * k, (fy - 15.4) * k), fill=RULE)
    d.text((x0 * k, fy * k), "Approved for production:  ______________________     "
           "Date:  ____________", font=small, fill=MUTED, anchor="ls")
    d.text(((pw - MARGIN) * k, fy * k), f"Page {page} of {pages}" if pages else "Contact sheet",
           font=small, fill=MUTED, anchor="rs")
    return img


def _atomic_save(img: Image.Image, out: Path, **kw: object) -> None:
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}{out.suffix}")
    try:
        img.save(tmp, **kw)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def review_sheet(title: str, rows: Sequence[ReviewRow], totals: ReviewTotals | None,
                 out_dir: Path, per_page: int = 6, *, kit: BrandKit | None = None,
                 date: _dt.date | None = None, stem: str = "review-sheet") -> ReviewSheet:
    """Write `<stem>.pdf` (ceil(len(rows) / per_page) pages) and `<stem>.png` (every scene
    on one contact sheet) into `out_dir`. Totals default to the sum of the rows."""
    if not rows:
        raise ValueError("a review sheet needs at least one scene")
    if not 1 <= per_page <= 24:
        raise ValueError(f"per_page must be from 1 to 24, got {per_page}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    totals = totals or ReviewTotals.of(rows)
    day = date or _dt.date.today()
    when = f"{day.day} {day:%B %Y}"  # '%-d' is not portable
    subtitle = f"Storyboard for client review  \u00b7  {when}"
    if any(r.status for r in rows):
        ok = sum(r.status == "approved" for r in rows)
        subtitle += f"  \u00b7  {ok} of {len(rows)} approved"
    text_h = TEXT_H + (COMMENTS_H if any(r.comments for r in rows) else 0)
    cols, grid_rows = _grid(per_page)
    st = _Style(kit, PDF_DPI / 72)
    st.text_h = text_h
    chunks = [rows[i:i + per_page] for i in range(0, len(rows), per_page)]
    cell, aspect = _cell(cols, grid_rows), _aspect(rows)
    pages = [_page(ch, title, subtitle, totals, cols, grid_rows, st, n, len(chunks), cell, aspect)
             for n, ch in enumerate(chunks, 1)]
    pdf = out_dir / f"{stem}.pdf"
    _atomic_save(pages[0], pdf, format="PDF", save_all=True, append_images=pages[1:],
                 resolution=PDF_DPI, quality=92, subsampling=0, title=title,
                 creator="nbvideo")
    # The contact sheet: the same layout, every scene, as many grid rows as it takes.
    png_style = _Style(kit, PNG_DPI / 72)
    png_style.text_h = text_h
    sheet = _page(rows, title, subtitle, totals, cols, math.ceil(len(rows) / cols),
                  png_style, 0, 0, cell, aspect)
    png = out_dir / f"{stem}.png"
    _atomic_save(sheet, png, format="PNG")
    return ReviewSheet(pdf=pdf, png=png)
