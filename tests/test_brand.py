"""Brand kits, the project look, the logo watermark and the end card, alone and in one graph."""

from __future__ import annotations

import json
import shutil

import av
import numpy as np
import pytest
from PIL import Image

from nbvideo.edit.captions import burn_in, cues_from_lines
from nbvideo.edit.overlays import end_card, end_card_image, logo_overlay, logo_rect
from nbvideo.errors import InvalidInput
from nbvideo.model.color import hex_rgb, luma
from nbvideo.model.look import Look, apply_look, color_name, look_from, palette_for
from nbvideo.model.presets import SafeArea, get_preset
from nbvideo.store.brands import (
    BrandKit,
    LogoPlacement,
    font_file,
    list_brands,
    load_brand,
    reference_for,
)
from tests.brand_helpers import assert_inside, file_frames, raw_frames, solid_clip

BRIEFS = ["30s ad for a waterproof trail shoe for weekend hikers",
          "playful 15s spot for a sparkling seltzer can", "luxury serum, calm and minimal"]


# ------------------------------------------------------------------------------- kits
def test_bundled_kits_load_with_their_fonts_and_logos():
    assert list_brands() == ["lumen", "trailhead", "volt"]
    for name in list_brands():
        kit = load_brand(name)
        assert kit.base_dir is not None and len(kit.palette) >= 4
        for role in ("headline", "body", "caption"):
            assert kit.font_path(role).is_file()  # type: ignore[arg-type]
        with Image.open(kit.logo_path()) as im:
            assert im.mode == "RGBA" and im.width > 2 * im.height
            alpha = im.getchannel("A")
            assert alpha.getpixel((0, 0)) == 0  # a pill on a transparent ground
            assert alpha.getpixel((im.width // 2, im.height // 2)) == 255
        assert kit.darkest in kit.palette and kit.accent in kit.palette


def test_a_kit_file_anywhere_resolves_its_paths_relative_to_itself(tmp_path):
    src = tmp_path / "client" / "kit"
    (src / "fonts").mkdir(parents=True)
    shutil.copy(font_file("league-spartan"), src / "fonts" / "Display.otf")
    shutil.copy(load_brand("volt").logo_path(), src / "mark.png")
    data = {"name": "Client", "palette": ["#101010", "#FFCC00"], "logo": "mark.png",
            "fonts": {"headline": "fonts/Display.otf", "body": "manrope"},
            "caption_style": {"font": "fonts/Display.otf", "position": "top"}}
    (src / "client.json").write_text(json.dumps(data))
    moved = tmp_path / "elsewhere"
    shutil.move(src, moved)  # a kit folder can be copied anywhere
    kit = load_brand(moved / "client.json")
    assert kit.palette == ["#101010", "#ffcc00"]
    assert kit.font_path("headline") == (moved / "fonts" / "Display.otf").resolve()
    assert kit.font_path("caption") == kit.font_path("headline")
    assert kit.font_path("body").name == "Manrope-Regular.ttf"
    assert kit.logo_path() == (moved / "mark.png").resolve()


def test_kit_errors_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "Bad", "palette": ["#000000", "orange"]}))
    with pytest.raises(InvalidInput, match=r"bad\.json: palette\.1: .*'#rrggbb'"):
        load_brand(bad)
    bad.write_text(json.dumps({"name": "Bad", "palette": ["#000000"], "logo": "gone.png"}))
    with pytest.raises(InvalidInput, match="logo 'gone.png' not found"):
        load_brand(bad)
    bad.write_text(json.dumps({"name": "Bad", "palette": ["#000000"],
                               "fonts": {"headline": "Comic.ttf"}}))
    with pytest.raises(InvalidInput, match="bundled font .*manrope, manrope-extrabold"):
        load_brand(bad)
    bad.write_text("{not json")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        load_brand(bad)
    with pytest.raises(InvalidInput, match="bundled kits are lumen, trailhead, volt"):
        load_brand("acme")


# ------------------------------------------------------------------------------- look
def test_the_look_weaves_product_style_and_colour_names_into_every_prompt():
    kit = load_brand("trailhead")
    look = look_from(BRIEFS[0], {"style": "Cinematic live action", "tone": "gritty"}, kit=kit,
                     product="grey trail shoe with orange laces", seed=11)
    assert look.palette[0] == "#14261f" and look.seed == 11
    assert "35mm film look" in look.style_words
    prompt = ("wide shot of a hiker on a ridge, cinematic live action, highly detailed, no text, "
              "no watermark")
    out = apply_look(prompt, look)
    assert out.startswith("wide shot of a hiker on a ridge, cinematic live action, the grey "
                          "trail shoe")
    assert out.endswith(", highly detailed, no text, no watermark")  # planner's close stays last
    assert out.count("cinematic live action") == 1
    assert "burnt orange" in out and "deep forest green" in out and "#" not in out
    assert apply_look(out, look) == out  # idempotent: a scene's request hash stays put
    huge = apply_look("x" * 1990, look)
    assert len(huge) <= 2000 and huge.startswith("x" * 1990)
    assert [color_name(c) for c in ("#ffffff", "#0d0d0f", "#c6ff1a")] == ["white", "black", "lime"]


def test_a_kit_palette_wins_over_the_tone_and_both_come_darkest_first():
    for brief in BRIEFS:
        for answers in (None, {"tone": "luxury"}):
            pal = palette_for(brief, answers)
            assert pal and pal == sorted(pal, key=luma)
    kit = load_brand("volt")
    assert palette_for(BRIEFS[1], kit=kit) == ["#0d0d0f", "#1f2126", "#c6ff1a", "#ffffff"]


def test_the_reference_image_goes_only_to_models_that_take_one(tmp_path):
    ref = tmp_path / "shoe.png"
    Image.new("RGB", (8, 8)).save(ref)
    look = Look(reference_image="shoe.png")
    assert reference_for(look, accepts_reference=False, base=tmp_path) is None
    assert reference_for(look, accepts_reference=True, base=tmp_path) == ref
    with pytest.raises(InvalidInput, match="look.reference_image 'missing.png' not found"):
        reference_for(Look(reference_image="missing.png"), True, base=tmp_path)


# ------------------------------------------------------------------------------- logo
def _frames_with_logo(tmp_path, placement: LogoPlacement, w=640, h=360, safe=None, odd=False):
    clip = solid_clip(tmp_path / f"bg{w}.mp4", w, h, 10, 0.3, color="0x808080")
    logo = load_brand("trailhead").logo_path()
    if odd:  # a path the filtergraph parser would choke on unless escaped
        folder = tmp_path / "it's [client], logos; v:2"
        folder.mkdir(exist_ok=True)
        logo = shutil.copy(logo, folder / "mark's.png")
    lo = logo_overlay(logo, w, h, placement, safe, src="v", out="vout")
    frames = raw_frames(["-i", str(clip), "-filter_complex", f"[0:v]null[v];{lo.graph}",
                         "-map", "[vout]"], w, h)
    bg = raw_frames(["-i", str(clip)], w, h)
    return frames, bg, lo.rect


@pytest.mark.slow
def test_the_logo_watermark_sits_in_its_corner_at_its_opacity(tmp_path):
    safe = SafeArea(top=0.1, bottom=0.1, left=0.05, right=0.05)
    full, bg, r = _frames_with_logo(tmp_path, LogoPlacement(corner="top-right", margin=0.03,
                                                            scale=0.3, opacity=1.0), safe=safe)
    s = safe.rect(640, 360)
    # 0.3 x 360 wide, 3 % (11 px) in from the safe area, then to even pixels away from its edge
    assert (r.right, r.y) == (s.right - 12, s.y + 12) and r.w == 108
    assert r.x % 2 == 0 and r.y % 2 == 0
    diff = np.abs(full.astype(int) - bg.astype(int)).max(axis=3)
    ys, xs = np.nonzero(diff[0] > 24)
    assert r.x <= xs.min() and xs.max() < r.right and r.y <= ys.min() and ys.max() < r.bottom
    assert (diff[0][r.y:r.bottom, r.x:r.right] > 24).mean() > 0.6  # the opaque pill is there
    # The mark's orange is in the watermark, on every frame.
    crop = full[:, r.y:r.bottom, r.x:r.right].astype(int)
    orange = np.abs(crop - hex_rgb("#f26a21")).sum(axis=3) < 90
    assert orange.any(axis=(1, 2)).all()
    half, _, r2 = _frames_with_logo(tmp_path, LogoPlacement(corner="top-right", margin=0.03,
                                                            scale=0.3, opacity=0.5), safe=safe,
                                    odd=True)
    assert r2 == r
    d_full = diff[0][r.y:r.bottom, r.x:r.right].mean()
    d_half = np.abs(half[0].astype(int) - bg[0].astype(int)).max(axis=2)
    d_half = d_half[r.y:r.bottom, r.x:r.right].mean()
    assert 0.4 < d_half / d_full < 0.6


@pytest.mark.parametrize("corner", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_each_corner_is_taken_inside_the_safe_area(corner):
    p = get_preset("tiktok")
    w, h = p.size
    s = p.safe_area.rect(w, h)
    r = logo_rect(load_brand("volt").logo_path(), w, h,
                  LogoPlacement(corner=corner, margin=0.02, scale=0.2), p.safe_area)
    m = round(0.02 * 1080)
    assert r.w == 216 and r.w % 2 == 0 and r.h % 2 == 0 and s.contains(r)
    # the margin, plus a pixel where that lands on an odd one (yuv420p overlays sit on even)
    assert (r.x - s.x if "left" in corner else s.right - r.right) in (m, m + 1)
    assert (r.y - s.y if "top" in corner else s.bottom - r.bottom) in (m, m + 1)
    assert r.x % 2 == 0 and r.y % 2 == 0


# ------------------------------------------------------------------------------- end card
def test_the_end_card_has_the_brand_background_cta_and_logo(tmp_path):
    kit = load_brand("trailhead")
    p = get_preset("tiktok")
    w, h = p.size
    out = end_card(kit, w, h, tmp_path / "card.png", safe_area=p.safe_area)
    img = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert img.shape == (h, w, 3)
    bg = np.array(hex_rgb(kit.end_card.background))
    for y, x in ((0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)):
        assert np.abs(img[y, x] - bg).max() <= 2  # brand background at the edges
    ink = np.abs(img - bg).max(axis=2) > 60  # text, rule and logo; the glow stays below this
    assert_inside(ink, p.safe_area.rect(w, h))
    # CTA in the kit's text colour: a wide band of it across the middle of the card.
    text = np.abs(img - np.array(hex_rgb("#e8dfcf"))).sum(axis=2) < 30
    rows = np.nonzero(text.sum(axis=1) > 0)[0]
    cols = np.nonzero(text.any(axis=0))[0]
    assert text.sum() > 8000 and cols.max() - cols.min() > w * 0.4
    # The logo's orange mark sits above the CTA; the accent rule uses the kit's accent too.
    orange = np.abs(img - np.array(hex_rgb(kit.accent))).sum(axis=2) < 30
    assert orange.sum() > 2000 and np.nonzero(orange)[0].min() < rows.min()


def test_end_card_clip_has_exact_frames_and_no_temp_files(tmp_path):
    kit = load_brand("volt")
    clip = end_card(kit, 540, 960, tmp_path / "end.mp4", fps=24)
    frames = file_frames(clip)
    assert frames.shape == (round(kit.end_card.duration_s * 24), 960, 540, 3)
    assert np.abs(frames[0, 2, 2].astype(int) - hex_rgb("#0d0d0f")).max() <= 6
    assert [p.name for p in tmp_path.iterdir()] == ["end.mp4"]
    with av.open(str(clip)) as c:  # tagged like the scene clips: limited-range BT.709
        cc = c.streams.video[0].codec_context
        assert (int(cc.color_range), int(cc.colorspace), int(cc.color_primaries)) == (1, 1, 1)
    with pytest.raises(ValueError, match=".png or .mp4"):
        end_card(kit, 540, 960, tmp_path / "end.gif")


def test_end_card_without_a_logo_or_url_still_centres_its_cta():
    kit = BrandKit(name="Plain", palette=["#202020", "#fafafa"], end_card={"cta": "Go", "url": ""})
    img = np.asarray(end_card_image(kit, 640, 360)).astype(int)
    ink = np.abs(img - np.array([32, 32, 32])).max(axis=2) > 60
    ys, xs = np.nonzero(ink)
    assert abs((xs.min() + xs.max()) / 2 - 320) < 6 and abs((ys.min() + ys.max()) / 2 - 180) < 30


# ------------------------------------------------------------------------------- together
@pytest.mark.slow
def test_captions_logo_and_end_card_in_one_export_graph(tmp_path):
    """How the export engine splices the pieces in: concat, captions, then the watermark,
    hidden under the end card (which shows the logo itself)."""
    kit, p = load_brand("trailhead"), get_preset("reels")
    w, h, fps = 360, 640, 10
    scene = solid_clip(tmp_path / "scene.mp4", w, h, fps, 1.0, color="0x6080a0")
    card = end_card(kit, w, h, tmp_path / "end.mp4", fps=fps, duration_s=1.0,
                    safe_area=p.safe_area)
    cues = cues_from_lines([(0.2, 0.8, "Stays dry in any weather")], fps)
    burn = burn_in(cues, kit.caption_style, w, h, p.safe_area, base=kit.base_dir)
    logo = logo_overlay(kit.logo_path(), w, h, kit.logo_placement, p.safe_area, src="cap",
                        out="vout", until_s=1.0)
    graph = (f"[0:v][1:v]concat=n=2:v=1:a=0,settb=1/{fps}[base];"
             f"[base]{burn.filters}[cap];{logo.graph}")
    frames = raw_frames(["-i", str(scene), "-i", str(card), "-filter_complex", graph,
                         "-map", "[vout]"], w, h)
    plain = raw_frames(["-i", str(scene)], w, h)[0].astype(int)
    card0 = file_frames(card)[0].astype(int)
    assert len(frames) == 2 * fps
    r, c = logo.rect, burn.items[0].rect

    def changed(frame, ref, rect) -> bool:
        crop = (slice(rect.y, rect.bottom), slice(rect.x, rect.right))
        return bool((np.abs(frame[crop].astype(int) - ref[crop]).max(axis=2) > 40).any())

    assert [changed(f, plain, c) for f in frames[:fps]] == [False] * 2 + [True] * 6 + [False] * 2
    assert all(changed(f, plain, r) for f in frames[:fps])  # watermark over the scene
    assert not any(changed(f, card0, r) for f in frames[fps:])  # not over the end card
