"""The review sheet: a PDF with one page per `per_page` scenes and a PNG that shows the frames."""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import pytest
from PIL import Image

from nbvideo.deliver.review import ReviewRow, ReviewSheet, ReviewTotals, review_sheet
from nbvideo.store.brands import load_brand

# Saturated, far-apart colours: each frame can be found in the sheet by colour alone.
COLOURS = [(230, 30, 30), (30, 200, 40), (30, 60, 230), (240, 200, 20), (200, 30, 200),
           (20, 200, 210), (250, 120, 0), (120, 60, 20), (0, 0, 0), (150, 150, 255)]


def _rows(tmp_path, n: int, size=(320, 180)) -> list[ReviewRow]:
    rows = []
    for i in range(n):
        frame = tmp_path / f"frame{i + 1}.png"
        Image.new("RGB", size, COLOURS[i % len(COLOURS)]).save(frame)
        rows.append(ReviewRow(number=i + 1, frame_path=frame, duration_s=2.5 + i / 10,
                              on_screen_text=f"Copy for scene {i + 1}",
                              voice_line="A voice line that is long enough to wrap over two "
                                         "lines in the card of a review sheet, maybe three.",
                              cost_usd=0.25 * (i % 3), title=f"Scene {i + 1}"))
    return rows


def _pdf_pages(path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", path.read_bytes()))


@pytest.mark.parametrize(("n", "per_page"), [(1, 6), (6, 6), (7, 6), (10, 4), (9, 9)])
def test_the_pdf_has_one_page_per_n_scenes(tmp_path, n, per_page):
    sheet = review_sheet("Trail shoe", _rows(tmp_path, n), None, tmp_path / "out",
                         per_page=per_page)
    assert _pdf_pages(sheet.pdf) == math.ceil(n / per_page)
    assert sheet.pdf.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["review-sheet.pdf",
                                                                   "review-sheet.png"]


def _find(img: np.ndarray, colour) -> tuple[float, float, int]:
    """Centroid (x, y) and pixel count of one frame's colour in the sheet."""
    mask = np.abs(img - np.array(colour, np.int16)).sum(axis=2) < 12
    ys, xs = np.nonzero(mask)
    return (xs.mean(), ys.mean(), len(xs)) if len(xs) else (-1, -1, 0)


def test_the_png_contact_sheet_shows_every_frame_in_grid_order(tmp_path):
    rows = _rows(tmp_path, 8)
    sheet = review_sheet("Trail shoe", rows, None, tmp_path / "out", per_page=6)
    img = np.asarray(Image.open(sheet.png).convert("RGB")).astype(np.int16)
    found = [_find(img, COLOURS[i]) for i in range(8)]
    areas = [a for _, _, a in found]
    assert min(areas) > 0.8 * max(areas) > 20_000  # every frame, all the same size
    # 3 columns (per_page 6 -> 3 x 2): rows of the grid top to bottom, columns left to right.
    xs, ys = [x for x, _, _ in found], [y for _, y, _ in found]
    for i in range(8):
        col, row = i % 3, i // 3
        assert abs(xs[i] - xs[col]) < 2 and abs(ys[i] - ys[3 * row]) < 2
    assert xs[0] < xs[1] < xs[2] and ys[0] < ys[3] < ys[6]
    # The frame keeps its 16:9 shape on the sheet.
    mask = np.abs(img - np.array(COLOURS[0], np.int16)).sum(axis=2) < 12
    ys0, xs0 = np.nonzero(mask)
    assert abs((np.ptp(xs0) + 1) / (np.ptp(ys0) + 1) - 16 / 9) < 0.05
    assert sheet._repr_png_() == sheet.png.read_bytes()


def test_portrait_frames_sit_beside_their_text(tmp_path):
    rows = _rows(tmp_path, 3, size=(180, 320))
    sheet = review_sheet("Vertical", rows, None, tmp_path / "out", per_page=6)
    img = np.asarray(Image.open(sheet.png).convert("RGB"))
    ys, xs = np.nonzero(np.abs(img.astype(int) - np.array(COLOURS[0])).sum(axis=2) < 12)
    assert abs((np.ptp(xs) + 1) / (np.ptp(ys) + 1) - 9 / 16) < 0.05
    # The card's text starts right of the frame: dark ink in the band beside it.
    band = img[ys.min():ys.min() + 60, xs.max() + 5:xs.max() + 200].astype(int)
    assert (band.sum(axis=2) < 200).sum() > 200


def test_pdf_pages_are_a4_landscape_and_totals_default_to_the_rows(tmp_path):
    rows = _rows(tmp_path, 7)
    sheet = review_sheet("Trail shoe", rows, None, tmp_path, per_page=6,
                         date=dt.date(2026, 5, 4), kit=load_brand("trailhead"), stem="board")
    assert isinstance(sheet, ReviewSheet) and sheet.pdf.name == "board.pdf"
    media_box = rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]"
    boxes = re.findall(media_box, sheet.pdf.read_bytes())
    assert len(boxes) == 2
    for w, h in boxes:
        assert abs(float(w) - 842) < 1 and abs(float(h) - 595) < 1
    totals = ReviewTotals.of(rows)
    assert totals.scenes == 7 and totals.duration_s == pytest.approx(19.6)
    assert totals.cost_usd == pytest.approx(1.5)


def test_a_scene_without_a_frame_gets_a_placeholder(tmp_path):
    rows = [ReviewRow(number=1, frame_path=tmp_path / "missing.png", duration_s=3),
            ReviewRow(number=2, frame_path=None, duration_s=2, on_screen_text="Shop now")]
    sheet = review_sheet("Early draft", rows, ReviewTotals(scenes=2, duration_s=5, cost_usd=0),
                         tmp_path, per_page=6)
    assert _pdf_pages(sheet.pdf) == 1 and sheet.png.is_file()
    with pytest.raises(ValueError, match="at least one scene"):
        review_sheet("Empty", [], None, tmp_path)
    with pytest.raises(ValueError, match="per_page"):
        review_sheet("x", rows, None, tmp_path, per_page=0)
