"""Text the brand fonts cannot draw: Arabic read right to left, emoji, and a warning naming
any character no bundled font has, in frames, burned captions and the end card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import nbvideo as nv
from nbvideo.edit.captions import burn_in, cues_from_lines
from nbvideo.edit.overlays import end_card_image
from nbvideo.errors import GlyphWarning
from nbvideo.media.glyphs import FALLBACK_FONTS, FontStack
from nbvideo.model.presets import SafeArea
from nbvideo.providers.base import FrameRequest
from nbvideo.providers.local.frames import draw_frame
from nbvideo.store.brands import CaptionStyle, font_file, load_brand
from tests.brand_helpers import raw_frames

ARABIC = "تسوق الآن"  # "shop now": two words, the first one typed is the right-hand one
SWAPPED = "الآن تسوق"  # the same words in the wrong (left-to-right) order
NOTDEF = "\U0010fffd"  # private use: no font has it
FONTS = Path(nv.__file__).parent / "data" / "fonts"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _ink(text: str, font: Path, px: int, size: tuple[int, int], xy: tuple[float, float]
         ) -> np.ndarray:
    img = Image.new("L", size, 0)
    ImageDraw.Draw(img).text(xy, text, font=ImageFont.truetype(str(font), px), fill=255,
                             anchor="ls")
    return np.asarray(img) > 100


def _req(text: str) -> FrameRequest:
    return FrameRequest(beat="call-to-action", title="Offer", description="A shop counter.",
                        visual_prompt="a trail shoe on a shop counter", shot="medium",
                        camera="static", on_screen_text=text, aspect="16:9", width=480,
                        height=270, seed=1)


def test_noto_fallback_fonts_ship_with_their_licence():
    for path in FALLBACK_FONTS:
        assert ImageFont.truetype(str(path), 20).getlength("x") > 0
    assert "SIL OPEN FONT LICENSE Version 1.1" in (FONTS / "OFL-Noto.txt").read_text()


def test_arabic_and_emoji_in_a_storyboard_frame_are_drawn_not_question_marks():
    """The board used to turn every character its font lacks into '?'."""
    text = f"{ARABIC} 👟"
    drawn = np.asarray(draw_frame(_req(text)))
    marks = np.asarray(draw_frame(_req("?" * len(text.replace(" ", "")))))
    assert (np.abs(drawn.astype(int) - marks).max(axis=2) > 60).sum() > 200


def test_latin_text_keeps_its_exact_pixels_and_filters():
    """Lines the font draws alone go through the same single call as before fallbacks."""
    font = ImageFont.truetype(str(font_file("manrope")), 36)
    a, b = Image.new("RGB", (400, 80)), Image.new("RGB", (400, 80))
    ImageDraw.Draw(a).text((200, 50), "Trail-ready — 50% off!", font=font, anchor="ms",
                           fill="white", stroke_width=1, stroke_fill="black")
    FontStack(font).draw(ImageDraw.Draw(b), (200, 50), "Trail-ready — 50% off!", anchor="ms",
                         fill="white", stroke_width=1, stroke_fill="black")
    assert a.tobytes() == b.tobytes()
    cue = cues_from_lines([(0, 1, "Stay dry")], 10)
    burn = burn_in(cue, CaptionStyle(font="manrope"), 480, 270, SafeArea())
    assert burn.filters.count("drawtext=") == 1 and "-text_w/2" in burn.filters


def _text_pixels(img: Image.Image, colour: str) -> int:
    """Pixels of the card in its text colour (the glow only lifts the background ~10%)."""
    rgb = np.asarray(img).astype(int)
    target = np.array(Image.new("RGB", (1, 1), colour).getpixel((0, 0)))
    return int((np.abs(rgb - target).max(axis=2) < 40).sum())


def test_end_card_cta_in_arabic_or_emoji_is_drawn_not_blank():
    """League Spartan (the trailhead headline) has an empty missing-glyph shape: an Arabic
    or emoji CTA used to leave the card without its call to action."""
    kit = load_brand("trailhead")
    fg = kit.end_card.text_color or kit.lightest

    def card(cta: str) -> Image.Image:
        end = kit.end_card.model_copy(update={"cta": cta, "url": ""})
        return end_card_image(kit.model_copy(update={"end_card": end}), 640, 360)

    blank = _text_pixels(card("\u00a0"), fg)
    assert _text_pixels(card(ARABIC), fg) > blank + 300
    assert _text_pixels(card("👟👟👟"), fg) > blank + 300


def test_arabic_runs_are_laid_right_to_left_among_latin_words():
    font = ImageFont.truetype(str(font_file("manrope")), 40)
    stack = FontStack(font)
    runs = stack.runs(f"Shop {ARABIC} now")
    assert [r.text.strip() for r in runs if r.text.strip()] == ["Shop", ARABIC, "now"]
    assert runs[1].rtl and runs[1].font is not None and runs[1].font.name == "NotoSansArabic.ttf"
    # in an Arabic paragraph the Latin word comes after, i.e. on the left
    assert [r.text.strip() for r in stack.runs(f"{ARABIC} 👟 Go") if r.text.strip()] == [
        "Go", "👟", ARABIC]
    img = Image.new("L", (400, 80))
    stack.draw(ImageDraw.Draw(img), (10, 60), ARABIC, anchor="ls", fill=255)
    drawn = np.asarray(img) > 100
    right = _ink(ARABIC, runs[1].font, 40, (400, 80), (10, 60))
    swapped = _ink(SWAPPED, runs[1].font, 40, (400, 80), (10, 60))
    assert _iou(drawn, right) > 0.95 and _iou(drawn, swapped) < 0.5


@pytest.mark.slow
def test_burned_arabic_caption_is_shaped_right_to_left_by_drawtext():
    w, h = 480, 270
    style = CaptionStyle(font="manrope", size_pct=12, outline_px=0, box=False)
    burn = burn_in(cues_from_lines([(0, 1, ARABIC)], 10), style, w, h, SafeArea())
    frame = raw_frames(["-f", "lavfi", "-i", f"color=c=black:s={w}x{h}:r=10:d=0.2",
                        "-vf", burn.filters], w, h)[0, :, :, 0] > 100
    lay = burn.layouts[0]
    stack = FontStack(ImageFont.truetype(str(lay.font), lay.font_px))
    (run, left, _w), = stack.placed(ARABIC, lay.center_x - stack.getlength(ARABIC) / 2)
    assert run.rtl and run.font is not None and run.font.name == "NotoSansArabic.ttf"
    right = _ink(ARABIC, run.font, lay.font_px, (w, h), (round(left), lay.baselines[0]))
    swapped = _ink(SWAPPED, run.font, lay.font_px, (w, h), (round(left), lay.baselines[0]))
    assert _iou(frame, right) > 0.6 and _iou(frame, right) > _iou(frame, swapped) + 0.2


@pytest.mark.slow
def test_burned_emoji_comes_from_the_emoji_font_not_a_box():
    w, h = 480, 270
    style = CaptionStyle(font="manrope", size_pct=12, outline_px=0, box=False)
    src = ["-f", "lavfi", "-i", f"color=c=black:s={w}x{h}:r=10:d=0.2"]
    shoe = burn_in(cues_from_lines([(0, 1, "Go 👟")], 10), style, w, h, SafeArea())
    assert "NotoEmoji.ttf" in shoe.filters
    with pytest.warns(GlyphWarning, match="U\\+10FFFD"):
        box = burn_in(cues_from_lines([(0, 1, f"Go {NOTDEF}")], 10), style, w, h, SafeArea())
    a = raw_frames([*src, "-vf", shoe.filters], w, h)[0]
    b = raw_frames([*src, "-vf", box.filters], w, h)[0]
    assert (np.abs(a.astype(int) - b).max(axis=2) > 60).sum() > 100


def test_a_character_no_font_has_is_a_warning_naming_it_and_shows_as_a_box():
    kit = load_brand("trailhead")
    odd = kit.model_copy(update={"end_card": kit.end_card.model_copy(
        update={"cta": f"Shop {NOTDEF}"})})
    with pytest.warns(GlyphWarning, match=r"end card CTA: no bundled font can draw .*U\+10FFFD"):
        card = np.asarray(end_card_image(odd, 320, 180).convert("L")).astype(int)
    plain = kit.model_copy(update={"end_card": kit.end_card.model_copy(update={"cta": "Shop"})})
    ref = np.asarray(end_card_image(plain, 320, 180).convert("L")).astype(int)
    assert (np.abs(card - ref) > 60).sum() > 20  # the box is drawn, not a blank
    with pytest.warns(GlyphWarning, match="storyboard frame .*U\\+10FFFD"):
        draw_frame(_req(f"Sale {NOTDEF}"))


def test_export_names_the_scene_whose_text_has_no_glyph(rendered: nv.Project):
    p = rendered
    p.finish(scene_text=True)
    p.edit_scene(2, on_screen_text=f"Grip {NOTDEF}")
    with pytest.warns(GlyphWarning, match=rf"scene 2 \({p.scenes[1].id}\) on-screen text"):
        (rec,) = p.export("odd")
    assert (p.path / rec.path).is_file()


def test_review_sheet_sets_arabic_scene_text_not_boxes(rendered: nv.Project):
    p = rendered

    def sheet(text: str) -> np.ndarray:
        p.edit_scene(1, on_screen_text=text)
        return np.asarray(Image.open(p.review_sheet(per_page=6).png).convert("L")).astype(int)

    shaped = sheet(ARABIC)
    boxes = sheet(NOTDEF * 4 + " " + NOTDEF * 4)  # what each missing glyph used to be
    assert (np.abs(shaped - boxes) > 60).sum() > 100


def test_right_to_left_text_without_fribidi_is_a_warning_not_silent(
        monkeypatch: pytest.MonkeyPatch):
    """Pillow's wheel loads FriBiDi from the system: without it Arabic letters come out
    unjoined, which the user must be told (and how to fix), not find later in the video."""
    from nbvideo.media import glyphs
    monkeypatch.setattr(glyphs, "rtl_shaping", lambda: False)
    with pytest.warns(GlyphWarning, match="unshaped.*libfribidi0"):
        draw_frame(_req(ARABIC))
    monkeypatch.setattr(glyphs, "rtl_shaping", lambda: True)
    draw_frame(_req(ARABIC))  # shaped: no warning (nbvideo's warnings are errors in tests)


def test_a_board_frame_drawn_with_question_marks_is_drawn_again_with_real_glyphs(
        fresh: nv.Project):
    """Frames made before the fallback fonts drew '?' for Arabic or emoji captions: their key
    now carries the fallback, so the next storyboard redraws them (free, local); a Latin
    caption keeps the key it always had."""
    fresh.storyboard()
    latin = fresh.scene(1).frame
    assert "glyphs" not in latin.inputs
    fresh.edit_scene(2, on_screen_text=f"{ARABIC} 👟")
    fresh.storyboard()
    frame = fresh.scene(2).frame
    assert frame.inputs["glyphs"] == "fallback"
    assert fresh.scene(1).frame.id == latin.id  # untouched scenes keep their takes
