"""Thumbnail candidates (`p.thumbnails`) and the chosen thumbnail in packages
(`p.package(..., thumbnail=...)`), on the small offline project conftest renders."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

import nbvideo as nv
from nbvideo.deliver import package as package_mod
from nbvideo.deliver import thumbnails as thumbs
from nbvideo.deliver.thumbnails import THUMB_SPECS, ThumbnailRefused, score_frame
from nbvideo.edit.captions import cues_from_lines, srt_spans, srt_text
from nbvideo.errors import InvalidInput, MediaMissing, PathNotAllowed
from nbvideo.media.ffmpeg import open_image
from nbvideo.model.presets import Rect


def _frame(p: nv.Project, number: int) -> Image.Image:
    with open_image(p.path / p.state.scenes[number - 1].frame.path) as im:  # type: ignore[union-attr]
        return im.convert("RGB")


def _windows(p: nv.Project) -> list[tuple[float, float]]:
    """(start, end) of each transition on the timeline, as the export plays it."""
    tl = p.timeline.to_pandas()
    return [(float(tl.loc[k + 1, "start_s"]), float(tl.loc[k + 1, "start_s"]) + float(d))
            for k, d in enumerate(tl["transition_s"][:-1]) if d > 0]


def _rect(d: dict[str, int]) -> Rect:
    return Rect(**d)


# ------------------------------------------------------------------------------ scoring
def test_a_blurred_black_or_blown_frame_scores_lower_than_a_sharp_one(
        rendered: nv.Project) -> None:
    sharp_im = _frame(rendered, 2).resize((320, 180))
    sharp = score_frame(np.asarray(sharp_im))
    blurred = score_frame(np.asarray(sharp_im.filter(ImageFilter.GaussianBlur(6))))
    black = score_frame(np.zeros((180, 320, 3), np.uint8))
    blown = score_frame(np.full((180, 320, 3), 255, np.uint8))
    dark = score_frame((np.asarray(sharp_im) * 0.12).astype(np.uint8))
    assert sharp.sharpness > 2 * blurred.sharpness and blurred.laplacian_var < sharp.laplacian_var
    assert black.sharpness == blown.sharpness == 0.0
    assert black.exposure == blown.exposure == 0.0 and black.clipped == 1.0
    assert sharp.exposure > 0.8 > dark.exposure
    # the weighted score a candidate gets ranks them the same way
    total = {k: thumbs.WEIGHTS["sharpness"] * s.sharpness + thumbs.WEIGHTS["exposure"] * s.exposure
             for k, s in {"sharp": sharp, "blurred": blurred, "black": black,
                          "dark": dark}.items()}
    assert total["sharp"] > max(total["blurred"], total["dark"]) > total["black"]


# ------------------------------------------------------------------------------ candidates
@pytest.mark.slow
def test_no_candidate_lies_in_a_transition_and_each_shows_why_it_ranked(
        rendered: nv.Project) -> None:
    p = rendered
    p.set_transition(1, "crossfade", 1.0)  # a long one: a third of the film is a blend
    p.set_transition(2, "dip_black", 1.0)
    p.export("ad")
    windows = _windows(p)
    assert len(windows) == 2
    found = p.thumbnails(n=8)
    assert 3 <= len(found) <= 8 and found.export == "exports/ad-16x9-720p.mp4"
    for c in found:
        assert not any(a - 0.2 <= c.time_s <= b + 0.2 for a, b in windows), (c.time_s, windows)
        assert 0 <= c.sharpness <= 1 and 0 <= c.exposure <= 1 and c.product_from == "beat"
        assert c.preview_jpeg[:2] == b"\xff\xd8"
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    assert found.dropped["in a transition or by a cut"] > 0
    assert len({c.scene for c in found}) == 3  # spread over the film, not one second of it
    table = found.to_pandas()
    assert {"time_s", "score", "sharpness", "exposure", "product", "scene", "beat"} <= set(table)
    html = found._repr_html_()
    assert html.count("<img") == len(found) and "dropped" in html
    # Without the timeline (a fade it does not name), the frame difference finds the blends.
    video = p.path / found.export
    blind = thumbs.candidates_from(video, found.export, n=8)
    assert blind.dropped["mid-fade (frame difference)"] >= 3
    inner = [(a + 0.1, b - 0.1) for a, b in windows]
    assert not [c.time_s for c in blind if any(a <= c.time_s <= b for a, b in inner)]


@pytest.mark.slow
def test_a_frame_with_a_burned_caption_ranks_below_one_between_lines(
        rendered: nv.Project) -> None:
    p = rendered
    p.finish(voice="warm")  # captions are on: each voice line is burned in and in the SRT
    p.export("ad")
    srt = next(s for s in p.exports[-1].sidecars if s.endswith(".srt"))
    cues = srt_spans((p.path / srt).read_text())
    assert cues and all(0 <= a < b <= p.exports[-1].duration_s for a, b in cues)
    found = p.thumbnails(n=8)
    assert {c.caption for c in found} == {True, False}  # both kinds among the picks
    for c in found:
        assert c.caption == any(a <= c.time_s < b for a, b in cues), (c.time_s, cues)
        plain = sum(thumbs.WEIGHTS[k] * getattr(c, k) for k in thumbs.WEIGHTS)
        penalty = thumbs.CAPTION_PENALTY if c.caption else 1.0
        assert c.score == pytest.approx(plain * penalty, abs=1e-3)
    assert "caption on screen" in found._repr_html_()
    assert "caption" in found.to_pandas()
    # an export with no captions burned: nothing is scored down
    p.finish(captions=False)
    p.export("plain")
    assert not any(c.caption for c in p.thumbnails(n=8, export="exports/plain-16x9-720p.mp4"))


def test_srt_spans_read_back_the_cues_an_export_writes() -> None:
    cues = cues_from_lines([(0.0, 1.5, "Wet feet again?"), (2.25, 4.0, "a --> b"),
                            (3725.0, 3726.5, "an hour in")], 24.0)
    spans = srt_spans(srt_text(cues))
    assert spans == [(c.start_frame / 24.0, c.end_frame / 24.0) for c in cues]
    assert srt_spans("") == [] and srt_spans("1\nnot a timing\n\n") == []


@pytest.mark.slow
def test_the_product_scene_is_preferred_when_the_product_photo_is_given(
        rendered: nv.Project) -> None:
    p = rendered
    p.export("ad")
    product_scene = next(s for s in p.state.scenes if s.beat == "product")
    number = p.state.scenes.index(product_scene) + 1
    photo = _frame(p, number)
    w, h = photo.size
    (p.path / "assets" / "product").mkdir(parents=True)
    photo.crop((0, 0, int(w * 0.6), int(h * 0.75))).save(p.path / "assets/product/shoe.png")
    p.set_look(reference_image="assets/product/shoe.png")
    found = p.thumbnails(n=6)  # the look's reference image
    assert {c.product_from for c in found} == {"photo"}
    best = max(found, key=lambda c: c.product or 0)
    assert best.scene == product_scene.id and found[0].scene == product_scene.id
    others = [c.product or 0 for c in found if c.scene != product_scene.id]
    mine = [c.product or 0 for c in found if c.scene == product_scene.id]
    assert min(mine) > max(others)
    # a photo of another scene moves the preference there: it is the photo, not the beat
    other = next(n for n in (1, 2, 3) if n != number)
    _frame(p, other).crop((int(w * 0.2), int(h * 0.2), int(w * 0.8), int(h * 0.8))).save(
        p.path / "assets/product/other.png")
    moved = p.thumbnails(n=6, product="assets/product/other.png")
    assert max(moved, key=lambda c: c.product or 0).scene == p.state.scenes[other - 1].id
    assert {c.product_from for c in p.thumbnails(n=3, product=False)} == {"beat"}


# ------------------------------------------------------------------------------ packages
TITLE = "Storm-proof trails — مقاوم للماء 🥾"


@pytest.mark.slow
def test_a_candidate_becomes_each_platforms_poster_with_the_title_in_the_safe_area(
        rendered: nv.Project, tmp_path: Path) -> None:
    p = rendered
    p.finish(brand="trailhead")
    p.export("ad")
    found = p.thumbnails(n=4)
    df = p.package(["youtube", "reels"], thumbnail=1, thumbnail_text=TITLE, accept=True)
    chosen = found[1]
    for row in df.itertuples():
        folder = Path(row.folder)
        doc = json.loads((folder / "metadata.json").read_text())
        made = doc["thumbnail"]
        spec = THUMB_SPECS[row.preset]
        poster = folder / "poster.jpg"
        with Image.open(poster) as im:
            assert im.format == "JPEG"
            size = im.size
        assert poster.stat().st_size == made["bytes"] <= spec.max_bytes
        assert made["kind"] == "candidate" and made["time_s"] == chosen.time_s
        assert made["candidate"]["score"] == chosen.score
        assert made["cover_ms"] == round(chosen.time_s * 1000)
        assert size == (spec.width, spec.height)
        text, safe, logo = (_rect(made["text_rect"]), _rect(made["safe"]),
                            _rect(made["logo_rect"]))
        assert safe.contains(text) and not text.intersects(logo)
        assert made["text"] == TITLE
        if row.preset == "reels":
            assert doc["fields"]["thumb_offset"] == made["cover_ms"]
            assert doc["fields"]["cover"] == "poster.jpg"
        else:
            assert doc["fields"]["thumbnail"] == "poster.jpg"
        # the text is drawn where the record says: the box differs from the bare frame
        bare = thumbs.fit_frame(thumbs.grab_frame(p.path / next(
            r.path for r in p.exports if r.preset == row.preset), chosen.time_s), *size)
        with Image.open(poster) as im:
            drawn = np.asarray(im.convert("RGB"), np.float32)
        ref = np.asarray(bare, np.float32)
        inside = np.abs(drawn - ref)[text.y:text.bottom, text.x:text.right].mean()
        outside = np.abs(drawn - ref)[:safe.y, :].mean()
        assert inside > 20 > outside
    # TikTok (a 9:16 export like the reels one, not rendered again here): its cover is the
    # frame itself, by time, with no title drawn on it
    reels = next(r for r in p.exports if r.preset == "reels")
    maker = thumbs.PosterMaker(p.path, thumbs.ThumbnailPick(
        kind="candidate", time_s=chosen.time_s, text=TITLE), p._rt.brand_kit())
    made = maker.make("tiktok", reels, tmp_path / "poster.jpg")
    with Image.open(tmp_path / "poster.jpg") as im:
        assert im.size == (1080, 1920)
    assert made["text_rect"] is None and made["cover_ms"] == round(chosen.time_s * 1000)
    fields = package_mod.form_fields(p.metadata, "tiktok", reels, {"video": "v.mp4"},
                                     made["cover_ms"])
    assert fields["video_cover_timestamp_ms"] == made["cover_ms"]
    assert package_mod.form_fields(p.metadata, "tiktok", reels, {"video": "v.mp4"}
                                   )["video_cover_timestamp_ms"] == 1000  # none chosen


@pytest.mark.slow
def test_a_users_own_picture_and_a_time_end_up_in_the_package(
        rendered: nv.Project, tmp_path: Path) -> None:
    p = rendered
    mine = tmp_path / "cover.png"
    Image.new("RGB", (1600, 900), "#3a7d44").save(mine)
    df = p.package(["web"], thumbnail=str(mine), accept=True)
    folder = Path(df.loc[0, "folder"])
    doc = json.loads((folder / "metadata.json").read_text())
    made = doc["thumbnail"]
    assert made["kind"] == "file" and made["source"] == "cover.png" and made["time_s"] is None
    assert made["image"].startswith("assets/thumbnails/") and (p.path / made["image"]).is_file()
    assert made["text"] == "" and made["text_rect"] is None  # your picture, as you made it
    with Image.open(folder / "poster.jpg") as im:
        assert im.size == (1280, 720)
        r, g, b = im.convert("RGB").getpixel((640, 360))
    assert abs(r - 0x3A) < 8 and abs(g - 0x7D) < 8 and abs(b - 0x44) < 8
    assert doc["fields"]["poster"] == "poster.jpg"
    # a time: the frame there, under the metadata's title
    df = p.package(["web"], thumbnail=3.0, accept=True)
    doc = json.loads((Path(df.loc[0, "folder"]) / "metadata.json").read_text())
    assert doc["thumbnail"]["kind"] == "time" and doc["thumbnail"]["time_s"] == 3.0
    assert doc["thumbnail"]["text"] == p.metadata.title and doc["thumbnail"]["cover_ms"] == 3000


@pytest.mark.slow
def test_with_no_choice_the_poster_is_the_best_frame_under_the_title(
        rendered: nv.Project) -> None:
    p = rendered
    df = p.package(["web", "reels"], accept=True)
    for row in df.itertuples():  # each export is scored: a 9:16 crop is not the wide frame
        doc = json.loads((Path(row.folder) / "metadata.json").read_text())
        made, best = doc["thumbnail"], p.thumbnails(n=4, export=row.preset).best
        assert made["kind"] == "best" and made["time_s"] == best.time_s != 1.0
        assert made["candidate"]["score"] == best.score and made["cover_ms"] == round(
            best.time_s * 1000)
        assert made["text"] == p.metadata.title and (
            f"no thumbnail was chosen: the best-scoring frame of {made['candidate']['export']}"
            in made["note"]) and row.preset in made["candidate"]["export"]
    assert doc["fields"]["thumb_offset"] == made["cover_ms"]  # reels: the cover is that frame
    folder = Path(df.loc[0, "folder"])
    doc = json.loads((folder / "metadata.json").read_text())
    made, best = doc["thumbnail"], p.thumbnails(n=4, export="web").best
    assert doc["fields"]["poster"] == "poster.jpg"
    # the picture is that frame, with the title drawn in its box and nothing else changed
    size = (THUMB_SPECS["web"].width, THUMB_SPECS["web"].height)
    web = next(r for r in p.exports if r.preset == "web")
    bare = np.asarray(thumbs.fit_frame(thumbs.grab_frame(p.path / web.path, best.time_s),
                                       *size), np.float32)
    with Image.open(folder / "poster.jpg") as im:
        assert im.size == size
        drawn = np.asarray(im.convert("RGB"), np.float32)
    text, safe = _rect(made["text_rect"]), _rect(made["safe"])
    assert np.abs(drawn - bare)[text.y:text.bottom, text.x:text.right].mean() > 20
    assert np.abs(drawn - bare)[:safe.y, :].mean() < 20
    # '' for no title; a title you give that cannot fit is refused before anything renders
    doc = json.loads((Path(p.package(["web"], thumbnail_text="", accept=True).loc[
        0, "folder"]) / "metadata.json").read_text())
    assert doc["thumbnail"]["text"] == "" and doc["thumbnail"]["text_rect"] is None
    exports = len(p.state.exports)
    with pytest.raises(ThumbnailRefused, match="does not fit a 1280x720 thumbnail"):
        p.package(["web"], thumbnail_text="waterproof " * 200, accept=True)
    assert len(p.state.exports) == exports
    # the metadata's own title, when it cannot fit, leaves the poster untitled and says so
    maker = thumbs.BestFramePoster(p._rt, "waterproof " * 200, None, ["web"])
    assert maker.pick.text == "" and "does not fit the thumbnail" in maker.note


def test_bad_thumbnail_choices_are_named_and_nothing_is_written(
        rendered: nv.Project, tmp_path: Path) -> None:
    p = rendered
    (p.path / "notes.png").write_text("not a picture")
    small = p.path / "tiny.png"
    Image.new("RGB", (200, 100)).save(small)
    os.symlink(small, p.path / "linked.png")
    cases: list[tuple[object, type[Exception], str]] = [
        ("missing.png", MediaMissing, "thumbnail: 'missing.png' does not exist"),
        ("notes.png", InvalidInput, "is not an image that can be read"),
        ("../outside.png", PathNotAllowed, "has a '..' part"),
        ("linked.png", InvalidInput, "is a symlink"),
        ("tiny.png", InvalidInput, "is 200x100 pixels; a thumbnail needs at least 640x360"),
        (math.nan, ThumbnailRefused, "a time must be a finite number of seconds from 0, got nan"),
        (-1.0, ThumbnailRefused, "a time must be a finite number of seconds from 0"),
        (999.0, ThumbnailRefused, "999 s is beyond the end of the video"),
        (True, ThumbnailRefused, "is not a thumbnail choice"),
        (b"cover.png", ThumbnailRefused, "is not a thumbnail choice"),
    ]
    for given, kind, words in cases:
        with pytest.raises(kind) as caught:
            p.package(["web"], thumbnail=given, accept=True)
        assert words in str(caught.value), (given, str(caught.value))
    with pytest.raises(ThumbnailRefused, match="does not fit a 1280x720 thumbnail"):
        p.package(["web"], thumbnail=2.0, thumbnail_text="waterproof " * 200, accept=True)
    with pytest.raises(nv.PhaseNotReady, match="no export yet"):
        p.package(["web"], thumbnail=0, accept=True)  # an index needs candidates
    assert not (p.path / "packages").exists() and not any((p.path / "exports").iterdir())
    assert not (p.path / "assets" / "thumbnails").exists() and p.state.exports == []


def _striped(busy_rows: slice) -> Image.Image:
    """A flat wall with fine light-and-dark stripes (like a board's lettering) in some rows."""
    px = np.full((720, 1280, 3), 90, np.uint8)
    band = px[busy_rows]
    band[:, ::6] = 230
    band[::5, :] = 20
    return Image.fromarray(px)


def test_the_title_goes_where_the_frame_is_calmest() -> None:
    """A title is not drawn over text already in the picture: the lower third when it is
    calm, the top when the lower third is busy, and the lower third on a flat frame."""
    spec = THUMB_SPECS["youtube"]

    def where(frame: Image.Image) -> Rect:
        _, done = thumbs.render_thumbnail(frame, spec, TITLE)
        assert done.text_rect is not None and done.safe.contains(done.text_rect)
        return done.text_rect

    flat = where(Image.new("RGB", (1280, 720), (90, 90, 90)))
    assert flat.y > 720 / 2  # the usual place
    over_text = where(_striped(slice(400, 720)))  # a caption or label in the lower part
    assert over_text.bottom < 720 / 2
    assert where(_striped(slice(0, 330))).y > 720 / 2  # busy top: the lower third
    # a small label in a corner of the lower third's box (a board's "PRODUCT DETAIL", as on
    # the offline animatic) outweighs a faint pattern up top, though averaged over the
    # whole box it weighed less
    px = np.full((720, 1280, 3), 90, np.uint8)
    px[:430:24, :] = 75
    px[:430, ::24] = 75
    label = px[520:550, 300:450]
    label[:, ::6] = 230
    label[::5, :] = 20
    assert where(Image.fromarray(px)).bottom < 720 / 2


def test_a_whole_number_past_the_candidates_says_a_time_is_a_float() -> None:
    one = thumbs.ThumbnailCandidate(index=0, time_s=1.5, export="exports/ad.mp4", score=0.9,
                                    sharpness=0.9, exposure=0.9, laplacian_var=300.0,
                                    mean_luma=0.5, clipped=0.0)
    found = thumbs.Thumbnails([one], "exports/ad.mp4")
    assert found[0] is one and found[-1] is one
    with pytest.raises(ThumbnailRefused, match=r"from 0 to 0, got 5; for the frame at 5 s "
                                               r"give a float, thumbnail=5\.0"):
        found[5]
    with pytest.raises(ThumbnailRefused, match=r"got '5'$"):
        found["5"]  # type: ignore[index]
    with pytest.raises(ThumbnailRefused, match=r"exports/ad.mp4 has no thumbnail candidates "
                                               r"to pick from; give a PNG"):
        thumbs.Thumbnails([], "exports/ad.mp4")[0]
