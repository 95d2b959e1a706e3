"""Offline storyboard frames: the project's size, deterministic, framed by the shot, readable."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nbvideo.model.state import ASPECTS, frame_size
from nbvideo.providers.base import FrameModel, FrameRequest
from nbvideo.providers.local.animatic import always_visible
from nbvideo.providers.local.frames import (
    LocalFrames,
    caption_for,
    draw_frame,
    look_for,
    render_png,
    roles_of,
)

# Greys plus one magenta: the accent (jackets, product bodies) is the only magenta thing.
PROBE_PALETTE = ["#101018", "#303848", "#8090a0", "#f0f0f0", "#ff00ff"]
SHOTS = ("wide", "medium", "close-up", "detail")


def make_req(**kw) -> FrameRequest:
    base = {
        "scene_number": 2, "beat": "product", "title": "",
        "description": "A hiker laces up the waterproof trail shoe before the climb.",
        "visual_prompt": "hiker on a mountain trail, trail shoe, morning light",
        "shot": "medium", "camera": "static", "aspect": "16:9", "width": 320, "height": 180,
        "palette": ["#111827", "#1d4ed8", "#f43f5e", "#f59e0b", "#f9fafb"], "seed": 7,
    }
    return FrameRequest(**(base | kw))


def pixels(req: FrameRequest) -> np.ndarray:
    return np.asarray(draw_frame(req), dtype=np.int16)


def accent_coverage(req: FrameRequest) -> float:
    """Share of the frame in the accent's magenta hue (survives the caption scrim's darkening)."""
    a = pixels(req)
    return float((np.minimum(a[..., 0], a[..., 2]) - a[..., 1] > 25).mean())


def skin_coverage(req: FrameRequest) -> float:
    """Share of the frame in the figure's warm skin tone (nothing else in the palette is warm)."""
    a = pixels(req)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return float(((r - b > 25) & (g - b > 8) & (r > g)).mean())


def test_local_frames_is_a_free_frame_model():
    model = LocalFrames()
    assert isinstance(model, FrameModel)
    assert (model.provider, model.model) == ("local", "pillow-storyboard")


@pytest.mark.parametrize("aspect", ASPECTS)
def test_frame_is_written_at_the_project_size_for_every_aspect(tmp_path, aspect):
    w, h = frame_size(aspect, "720p")
    req = make_req(aspect=aspect, width=w, height=h, shot="close-up", camera="push-in")
    out = tmp_path / "frame.png"
    result = asyncio.run(LocalFrames().frame(req, out))
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == "RGB" and im.size == (w, h)
    assert (result.path, result.width, result.height) == (out, w, h)
    assert result.usage.cost_usd == 0
    assert [p.name for p in tmp_path.iterdir()] == ["frame.png"]  # no temp file left behind


def test_same_request_gives_identical_png_bytes(tmp_path):
    req = make_req(shot="detail", camera="pan-left")
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    asyncio.run(LocalFrames().frame(req, a))
    asyncio.run(LocalFrames().frame(req.model_copy(), b))
    assert a.read_bytes() == b.read_bytes() == render_png(req)


def test_different_seed_gives_a_different_image():
    a, b = pixels(make_req(seed=7, shot="wide")), pixels(make_req(seed=8, shot="wide"))
    assert np.abs(a - b).mean() > 2


@pytest.mark.parametrize("aspect", ASPECTS)
@pytest.mark.parametrize("product", ["bottle of cold brew", "trail shoe", "phone app",
                                     "can of soda"])
def test_product_fills_more_of_the_frame_from_wide_to_detail(aspect, product):
    w, h = frame_size(aspect, "720p")
    cover = [
        accent_coverage(make_req(shot=shot, visual_prompt=f"a {product}", description="x",
                                 aspect=aspect, width=w // 4, height=h // 4,
                                 palette=PROBE_PALETTE))
        for shot in SHOTS
    ]
    assert cover == sorted(cover) and len(set(cover)) == 4, dict(zip(SHOTS, cover))
    assert cover[0] < 0.05 and cover[3] > 0.2, dict(zip(SHOTS, cover))


@pytest.mark.parametrize("aspect", ASPECTS)
def test_figure_grows_from_wide_to_close_up(aspect):
    w, h = frame_size(aspect, "720p")
    skin = [
        skin_coverage(make_req(shot=shot, visual_prompt="a hiker on a mountain trail",
                               beat="benefit", description="x", aspect=aspect, width=w // 4, height=h // 4,
                               palette=PROBE_PALETTE))
        for shot in SHOTS[:3]
    ]
    assert skin[0] < 0.005 and skin[0] * 5 < skin[1] < skin[2], dict(zip(SHOTS, skin))


def test_shot_types_look_visibly_different():
    frames = [pixels(make_req(shot=shot)) for shot in SHOTS]
    for i, a in enumerate(frames):
        for b in frames[i + 1:]:
            assert np.abs(a - b).mean() > 10


@pytest.mark.parametrize("aspect", ASPECTS)
@pytest.mark.parametrize("camera", ["static", "push-in", "pan-left", "tilt-up"])
def test_caption_stays_inside_the_safe_area_the_camera_keeps(aspect, camera):
    w, h = frame_size(aspect, "720p")
    one = ("Every trail, every storm, every mile: our lightest waterproof shoe keeps you dry "
           "from the first step to the summit and back again, season after season")
    other = " ".join(reversed(one.split()))
    kw = {"aspect": aspect, "width": w, "height": h, "camera": camera, "shot": "wide"}
    # Both captions overflow to the same (maximum) number of lines, so the band is the same
    # and the changed pixels are exactly the caption's glyphs.
    changed = np.abs(pixels(make_req(on_screen_text=one, **kw))
                     - pixels(make_req(on_screen_text=other, **kw))).sum(axis=2) > 0
    ys, xs = np.nonzero(changed)
    margin = 0.06 * min(w, h)
    vx0, _, vx1, vy1 = always_visible(camera)
    assert xs.min() >= max(margin, vx0 * w) - 1 and xs.max() <= min(w - margin, vx1 * w) + 1
    assert ys.max() <= min(h - margin, vy1 * h) + 1
    assert ys.min() > h * 0.45  # the caption lives in the lower band, the picture stays clear


def test_camera_move_is_hinted_on_the_frame():
    static = pixels(make_req(camera="static", shot="wide"))
    for camera in ("push-in", "pull-out", "pan-left", "pan-right", "tilt-up", "tilt-down"):
        hinted = pixels(make_req(camera=camera, shot="wide"))
        top = slice(0, static.shape[0] * 2 // 5)  # above the caption band: only marks differ
        assert (np.abs(hinted[top] - static[top]).sum(axis=2) > 15).sum() > 15, camera


@pytest.mark.parametrize("aspect", ASPECTS)
def test_a_clean_frame_is_the_picture_without_the_boards_marks(aspect):
    """For an export that burns its own text: no scrim, labels, caption or move hints; the
    picture (and the logo, if asked for) is the board panel's, pixel for pixel."""
    w, h = frame_size(aspect, "720p")
    kw = {"aspect": aspect, "width": w, "height": h, "shot": "wide", "beat": "benefit",
          "on_screen_text": "Stay dry on every trail"}
    board = pixels(make_req(camera="static", **kw))
    clean = pixels(make_req(camera="static", annotations="clean", **kw))
    # above the board's caption band the two are the same picture
    top = slice(0, h * 2 // 5)
    assert np.array_equal(board[top], clean[top])
    # the band: the board darkens it under white text; the clean frame is the picture there
    band = slice(int(h * 0.7), h)
    assert board[band].mean() < clean[band].mean() - 10
    white = lambda a: ((a > 235).all(axis=2)).sum()
    assert white(board[band]) > 200 and white(clean[band]) < white(board[band]) / 20
    # no move hints either: the clip's camera really moves, and it does not change the picture
    for camera in ("push-in", "pan-left", "tilt-up"):
        assert np.array_equal(pixels(make_req(camera=camera, annotations="clean", **kw)), clean)


def test_caption_prefers_on_screen_text_then_title_then_first_sentence():
    assert caption_for(make_req(on_screen_text="Stay dry", title="T")) == "Stay dry"
    assert caption_for(make_req(title="Rain test")) == "Rain test"
    assert caption_for(make_req(description="It pours. Then it stops.")) == "It pours."


def test_caption_replaces_dashes_the_bundled_font_cannot_draw():
    assert caption_for(make_req(on_screen_text="Dry \u2014 always")) == "Dry - always"


def test_keywords_pick_the_subject_and_the_shot_decides_person_or_product():
    def subject(prompt: str, shot: str, beat: str = "benefit") -> str:
        return look_for(make_req(visual_prompt=prompt, description="x", shot=shot,
                                 beat=beat)).subject

    assert subject("a runner laces up her trail shoe", "wide") == "figure"
    assert subject("a runner laces up her trail shoe", "close-up") == "shoe"
    assert subject("a bottle of cold brew on a desk", "medium") == "bottle"
    assert subject("you can finally relax", "detail") == "box"  # the verb 'can' is not a can
    assert subject("a cold can of seltzer", "detail") == "can"


@pytest.mark.parametrize(("product", "kind"), [
    ("noise-cancelling earbuds", "earbuds"), ("rechargeable bike light", "light"),
    ("reusable water bottle", "bottle"), ("waterproof trail shoe", "shoe"),
    ("handmade ceramic vase", "box")])
@pytest.mark.parametrize("shot", SHOTS)
def test_product_shots_show_the_product_as_itself(product, kind, shot):
    """The product beat and detail shots draw the product, never only people; a product
    with no drawing is a clean package carrying its name (issue 23)."""
    req = make_req(shot=shot, beat="product", description=f"Reveal the {product}, with "
                   f"weekend hikers around it", visual_prompt=f"Medium shot of the {product} "
                   f"as the hero, a hiker nearby, highly detailed")
    look = look_for(req)
    assert look.subject == kind
    assert look.label == (product if kind == "box" else "")
    if shot == "detail":
        assert look_for(req.model_copy(update={"beat": "proof"})).subject == kind


def test_a_named_package_prints_the_name():
    plain = make_req(beat="product", shot="close-up", visual_prompt="a hiker nearby",
                     description="x", palette=PROBE_PALETTE)
    named = plain.model_copy(update={"visual_prompt": "Close-up shot of the ceramic vase as "
                                                      "the hero, a hiker nearby"})
    assert np.abs(pixels(plain) - pixels(named)).mean() > 0.5


def test_keywords_set_place_time_and_weather():
    look = look_for(make_req(visual_prompt="neon city street at night in the rain"))
    assert (look.env, look.time, look.weather) == ("city", "night", "rain")


def test_empty_palette_is_derived_deterministically_darkest_first():
    a, b = roles_of(make_req(palette=[])), roles_of(make_req(palette=[]))
    assert a == b
    dark, light = (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2] for c in (a.ink, a.light))
    assert dark < 60 and light > 200
    assert roles_of(make_req(palette=[], seed=99)) != a


def test_bad_palette_colour_is_refused_by_name():
    with pytest.raises(ValueError, match="palette"):
        draw_frame(make_req(palette=["#12345", "#ffffff"]))


def test_frame_png_round_trips_at_1080p():
    w, h = frame_size("9:16", "1080p")
    data = render_png(make_req(aspect="9:16", width=w, height=h, shot="detail"))
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (w, h)


def test_canceled_frame_call_writes_nothing(tmp_path):
    out = tmp_path / "frame.png"

    async def go() -> None:
        task = asyncio.ensure_future(LocalFrames().frame(make_req(width=1280, height=720), out))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())  # returns only after the drawing thread has finished
    assert not out.exists() and list(Path(tmp_path).iterdir()) == []
