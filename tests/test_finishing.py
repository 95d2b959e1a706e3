"""A finished export as a viewer and a platform see it: a soundtrack at the preset's loudness,
captions on screen on their frames with matching SRT/VTT, the logo and the end card, checks that
stop a bad export before encoding, and a review sheet for the client."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nbvideo as nv
from nbvideo.media.ffmpeg import ffmpeg_exe, probe, run_ffmpeg
from nbvideo.model.presets import ExportCheckFailed, Preset, get_preset
from nbvideo.render.finishing import VOICE_LEAD_S
from nbvideo.sound.loudness import measure_loudness

pytestmark = pytest.mark.slow


def frame_at(video: Path, seconds: float, out: Path) -> np.ndarray:
    run_ffmpeg(["-ss", f"{seconds:.4f}", "-i", str(video), "-frames:v", "1", str(out)],
               total_s=None)
    return np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)


def colour_tags(path: Path) -> tuple[int, int]:
    """(range, matrix) of the video stream as H.264 signals them: (1, 1) is limited-range BT.709."""
    import av

    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        return int(cc.color_range), int(cc.colorspace)


def has_audio(path: Path) -> bool:
    import av

    with av.open(str(path)) as c:
        return any(s.type == "audio" for s in c.streams)


def test_a_finished_web_export_has_voice_music_captions_logo_and_end_card(
        rendered: nv.Project, tmp_path: Path) -> None:
    p = rendered
    p.finish(brand="trailhead", voice="narrator-f", music="bed")
    timeline_s = p.timeline.duration_s
    (rec,) = p.export("fin", preset="web")
    out = p.path / rec.path
    kit_card_s = nv.load_brand("trailhead").end_card.duration_s
    info = probe(out)
    assert (info.width, info.height) == (1280, 720) and info.fps == pytest.approx(30)
    assert info.duration_s == pytest.approx(timeline_s + kit_card_s, abs=1 / 30)
    assert has_audio(out) and rec.audio
    # the watermark is blended in video YUV, so the clips' limited-range BT.709 survives (an
    # RGBA overlay once turned the whole film into RGB, tagged full range with an RGB matrix)
    assert colour_tags(out) == (1, 1)
    loud = measure_loudness(out)  # the soundtrack as muxed, measured from the export itself
    assert abs(loud.integrated_lufs - get_preset("web").loudness_lufs) <= 1.0
    assert loud.true_peak_dbtp <= -1.0 + 0.3
    # captions: SRT and VTT say the same, snapped to frames, starting at each line's scene
    srt = (out.with_suffix(".srt")).read_text()
    vtt = (out.with_suffix(".vtt")).read_text()
    starts = re.findall(r"(\d\d):(\d\d):(\d\d),(\d{3}) -->", srt)
    assert starts and len(starts) == vtt.count("-->")
    first = p.timeline.to_pandas().iloc[0]
    want = first["start_s"] + VOICE_LEAD_S
    got = int(starts[0][2]) + int(starts[0][3]) / 1000
    assert abs(got - want) <= 1 / 30 + 1e-3
    # the first caption is on screen at its start and not before: the frames differ there
    before = frame_at(out, max(0.0, got - 0.1), tmp_path / "a.png")
    during = frame_at(out, got + 0.2, tmp_path / "b.png")
    lower = slice(int(720 * 0.45), 720)
    assert np.abs(during[lower] - before[lower]).mean() > 3
    # the end card: the kit's dark background fills the last second, without the watermark
    last = frame_at(out, info.duration_s - 0.2, tmp_path / "c.png")
    assert last.mean() < 80
    assert (p.path / "exports/fin-web-720p-preview.gif").stat().st_size > 1000
    assert (p.path / "exports/fin-web-720p.jpg").is_file()
    # voice lines were made once and logged; a second export reuses them and the soundtrack
    voice = p.costs.query("phase == 'voice'")
    made = (voice["status"] == "succeeded").sum()
    assert made == sum(1 for s in p.scenes if s.voice_line)
    p.export("fin2", preset="web")
    again = p.costs.query("phase == 'voice'")
    assert (again["status"] == "succeeded").sum() == made
    assert (again["status"] == "cache_hit").sum() >= made


def test_platform_rules_stop_an_export_before_encoding_with_the_numbers(
        rendered: nv.Project) -> None:
    p = rendered
    short = Preset(name="tiny", label="Tiny", aspect="16:9", resolution="720p", fps=12,
                   max_duration_s=5, video_kbps=1000, audio="required")
    with pytest.raises(ExportCheckFailed) as err:
        p.export("x", preset=short)
    text = str(err.value)
    assert p.timeline.duration_s == pytest.approx(8)
    assert "too long by 3 s: 8 s > 5 s" in text and "missing audio" in text
    assert not list(p.path.glob("exports/x-*"))  # stopped before anything was encoded
    # a warning can be accepted by its code, and is kept on the record
    with pytest.raises(ExportCheckFailed, match="audio"):
        p.export("x", preset="reels")
    (rec,) = p.export("x", preset="reels", accept=["no_audio"])
    assert rec.warnings and "audio" in rec.warnings[0].lower()
    assert (rec.width, rec.height) == (1080, 1920)


def test_a_voice_line_longer_than_its_scene_is_reported_not_cut(rendered: nv.Project) -> None:
    p = rendered
    p.finish(voice="narrator-m")
    first = p.scenes[0]
    p.edit_scene(first.id, voice_line="This line goes on and on and on about the shoe, far "
                                      "longer than any short opening scene could ever hold.")
    with pytest.raises(ExportCheckFailed, match=rf"scene 1 \({first.id}\) runs \d+\.\d\d s"):
        p.export("long")
    assert not p.exports


def test_finish_refuses_bad_settings_by_name_and_keeps_the_saved_ones(
        rendered: nv.Project) -> None:
    p = rendered
    p.finish(music="bed")
    with pytest.raises(nv.InvalidInput, match="trailhead"):
        p.finish(brand="no-such-kit")
    with pytest.raises(nv.InvalidInput, match="narrator-f"):
        p.finish(voice="robot")
    with pytest.raises(nv.InvalidInput):
        p.finish(music="../outside.wav")
    with pytest.raises(nv.InvalidInput, match="colour"):
        p.finish(colour="red")
    assert nv.Project.open(p.path, read_only=True).state.finishing.music == "bed"
    assert p.state.finishing.brand is None


def test_review_sheet_has_a_page_per_six_scenes_and_shows_the_frames(
        rendered: nv.Project) -> None:
    sheet = rendered.review_sheet(per_page=2)
    pages = sheet.pdf.read_bytes().count(b"/Type /Page\n") or len(
        re.findall(rb"/Type\s*/Page[^s]", sheet.pdf.read_bytes()))
    assert pages == -(-len(rendered.scenes) // 2)
    png = np.asarray(Image.open(sheet.png).convert("RGB"))
    assert png.shape[0] > 300 and png.std() > 20


def test_ffmpeg_has_the_filters_finishing_uses() -> None:
    import subprocess

    filters = subprocess.run([ffmpeg_exe(), "-hide_banner", "-filters"], capture_output=True,
                             text=True, check=True).stdout
    for name in ("drawtext", "loudnorm", "sidechaincompress", "ebur128", "amix", "movie"):
        assert re.search(rf"\s{name}\s", filters), name


def test_a_project_opened_by_a_relative_path_exports_with_its_sidecars(
        rendered_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    shutil.copytree(rendered_template, tmp_path / "projects" / "shoe")
    monkeypatch.chdir(tmp_path)  # as a notebook does: projects/... next to it
    p = nv.Project.open("projects/shoe")
    (rec,) = p.export("rel", formats=["16:9"])
    assert rec.sidecars == ["exports/rel-16x9-720p.jpg", "exports/rel-16x9-720p-preview.gif"]
    p.close()


def test_presets_in_one_call_share_one_mix_and_show_the_logo_and_the_end_card(
        rendered: nv.Project, tmp_path: Path) -> None:
    from nbvideo.edit.overlays import end_card_image, logo_overlay

    p = rendered
    web = get_preset("web")
    hq = web.model_copy(update={"name": "web-hq", "audio_kbps": 256})  # same loudness target
    plain = p.path / p.export("plain", preset=web, accept=["no_audio"])[0].path
    p.finish(brand="trailhead", voice="narrator-f", music="bed")
    recs = p.export("two", preset=[web, hq])
    assert [r.preset for r in recs] == ["web", "web-hq"]
    masters = list((p.path / "assets/soundtracks").glob("master-*.wav"))
    assert len(masters) == 1  # one voice + music mix, encoded at each bitrate
    rates = []
    for rec in recs:
        out = p.path / rec.path
        loud = measure_loudness(out)
        assert abs(loud.integrated_lufs - web.loudness_lufs) <= 1.0
        assert loud.true_peak_dbtp <= web.true_peak_db + 0.3
        assert rec.loudness_lufs == pytest.approx(loud.integrated_lufs, abs=0.3)
        import av

        with av.open(str(out)) as c:
            rates.append(c.streams.audio[0].bit_rate)
    assert rates[1] > rates[0] * 1.4  # 256k vs 128k: really two encodes of the master
    # The logo: the finished frame differs from the plain one inside the kit's logo box,
    # and the end card closes the ad with the kit's own card.
    kit = nv.load_brand("trailhead")
    out = p.path / recs[0].path
    r = logo_overlay(kit.logo_path(), 1280, 720, kit.logo_placement, web.safe_area,
                     src="a", out="b").rect
    a, b = frame_at(out, 2.0, tmp_path / "f.png"), frame_at(plain, 2.0, tmp_path / "p.png")
    box = (slice(r.y, r.bottom), slice(r.x, r.right))
    assert np.abs(a[box] - b[box]).mean() > 20
    outside = (slice(r.bottom + 20, r.bottom + 80), slice(r.x, r.right))
    assert np.abs(a[outside] - b[outside]).mean() < np.abs(a[box] - b[box]).mean() / 4
    card = np.asarray(end_card_image(kit, 1280, 720, web.safe_area).convert("RGB"), dtype=np.int16)
    last = frame_at(out, probe(out).duration_s - 0.2, tmp_path / "e.png")
    assert np.abs(last - card).mean() < 6


def _first_cue(out: Path) -> tuple[float, float]:
    """Start and end (s) of the first caption in the export's SRT."""
    stamps = re.findall(r"(\d\d):(\d\d):(\d\d),(\d{3})", out.with_suffix(".srt").read_text())
    start, end = ((int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000)
                  for h, m, s, ms in stamps[:2])
    return start, end


def test_a_finish_set_after_the_clips_exports_clean_frames_under_its_captions(
        rendered: nv.Project, tmp_path: Path) -> None:
    """16:9, storyboard and clips first, then p.finish(...) (the demo's order reversed): the
    export redraws the local frames without the board's marks (free) and makes their
    animatics again, so the caption band holds the burned caption and nothing else."""
    from nbvideo.edit.captions import layout_text
    from nbvideo.model.presets import SafeArea

    p = rendered
    board_clip = p.path / p.scenes[0].clip.path
    p.finish(brand="trailhead", voice="narrator-f")
    (rec,) = p.export("fin", formats=["16:9"])
    out = p.path / rec.path
    first = p.scenes[0]
    clean_clip = p.path / first.clip.path
    start, end = _first_cue(out)
    t = min((start + end) / 2, first.duration_s - 0.3)
    shot = frame_at(out, t, tmp_path / "fin.png")
    clean = frame_at(clean_clip, t, tmp_path / "clean.png")
    board = frame_at(board_clip, t, tmp_path / "board.png")
    band = slice(int(720 * 0.6), 720)
    # the board's clip darkens the band under its labels and caption; the clean one does not
    assert board[band].mean() < clean[band].mean() - 8
    assert ((board[band] > 235).all(axis=2)).sum() > 20 * ((clean[band] > 235).all(axis=2)).sum()
    # the export is the clean clip plus the burned caption: they differ inside its box only
    kit = nv.load_brand("trailhead")
    r = layout_text(first.voice_line, kit.caption_style, 1280, 720, SafeArea(),
                    base=kit.base_dir).rect
    changed = np.abs(shot - clean).sum(axis=2) > 60
    assert changed[r.y:r.bottom, r.x:r.right].mean() > 0.02  # the caption is there
    changed[max(0, r.y - 6):r.bottom + 6, max(0, r.x - 6):r.right + 6] = False
    assert kit.logo_placement.corner == "top-right"
    changed[:int(720 * 0.2), int(1280 * 0.7):] = False  # the watermark's corner
    assert changed.mean() < 0.002
    # new takes, free; the board's are kept
    assert all(s.frame.inputs["annotations"] == "clean"
               and s.clip.inputs["frame_sha256"] == s.frame.checksum for s in p.scenes)
    assert clean_clip != board_clip and board_clip.is_file()
    assert p.costs["cost_usd"].fillna(0).sum() == 0


def test_a_demo_like_export_shows_the_logo_once_where_the_kit_puts_it(
        fresh: nv.Project, tmp_path: Path) -> None:
    """The demo's order (kit, look, voice captions, then storyboard and clips): the frames
    leave the logo to the export's watermark. With the watermark off the frames carry the
    look's logo in their top-left corner instead; the two exports differ at those two places
    and nowhere else."""
    from nbvideo.edit.overlays import logo_overlay

    p = fresh
    p.answer()
    p.finish(brand="trailhead", voice="narrator-f")
    p.set_look(product="grey trail shoe with orange laces")
    p.storyboard()
    p.generate_clips().wait()
    fin = p.path / p.export("fin", formats=["16:9"])[0].path
    fin_frames = {s.id: dict(s.frame.inputs) for s in p.scenes}
    p.finish(logo=False)
    bare = p.path / p.export("bare", formats=["16:9"])[0].path
    start, end = _first_cue(fin)
    t = min((start + end) / 2, p.scenes[0].duration_s - 0.3)
    a, b = frame_at(fin, t, tmp_path / "a.png"), frame_at(bare, t, tmp_path / "b.png")
    changed = np.abs(a - b).sum(axis=2) > 60
    kit = nv.load_brand("trailhead")
    r = logo_overlay(kit.logo_path(), 1280, 720, kit.logo_placement, None, src="a",
                     out="b").rect
    watermark = (slice(r.y, r.bottom), slice(r.x, r.right))
    corner = (slice(0, int(720 * 0.3)), slice(0, int(1280 * 0.35)))
    assert changed[watermark].mean() > 0.2  # the watermark: only in the finished export
    wm = Image.open(kit.logo_path()).convert("RGBA").resize((r.w, r.h))
    wm_ink = np.asarray(wm.getchannel("A")) > 250
    wm_rgb = np.asarray(wm.convert("RGB"), dtype=np.int16)[wm_ink]
    assert np.abs(a[watermark][wm_ink] - wm_rgb).mean() < 30  # at 90% opacity
    assert changed[corner].mean() > 0.01  # the frames' logo: only with the watermark off
    # where the two differ in that corner, the one without the watermark shows the logo
    # (its own pixels, scaled to the box) and the finished one shows the picture
    near = changed[corner]
    rows, cols = np.nonzero(near.sum(axis=1) >= 3)[0], np.nonzero(near.sum(axis=0) >= 3)[0]
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    mark = Image.open(kit.logo_path()).convert("RGBA").resize((x1 - x0, y1 - y0))
    ink = np.asarray(mark.getchannel("A")) > 250
    rgb = np.asarray(mark.convert("RGB"), dtype=np.int16)[ink]
    assert np.abs(b[y0:y1, x0:x1][ink] - rgb).mean() < 25
    assert np.abs(a[y0:y1, x0:x1][ink] - rgb).mean() > 60
    changed[watermark] = False
    changed[corner] = False
    assert changed.mean() < 0.002  # the same film everywhere else
    # the export redrew the frames (and their clips) for the watermark's change, free
    assert all("logo_sha256" not in v for v in fin_frames.values())
    assert all("logo_sha256" in s.frame.inputs for s in p.scenes)
    assert p.costs["cost_usd"].fillna(0).sum() == 0


def test_clips_made_after_a_finish_come_from_clean_frames(fresh: nv.Project) -> None:
    """Storyboard, then p.finish(...), then clips: the frames are redrawn first (free), so
    every clip is made once, from the frame the export wants."""
    p = fresh
    p.answer()
    p.storyboard()
    p.finish(voice="narrator-f")
    p.generate_clips().wait()
    for s in p.scenes:
        assert s.frame.inputs["annotations"] == "clean"
        assert s.clip.inputs["frame_sha256"] == s.frame.checksum
        assert len(s.clip_takes) == 1 and len(s.frame_takes) == 2
    p.export("fin", formats=["16:9"])  # nothing left to redraw
    assert all(len(s.clip_takes) == 1 and len(s.frame_takes) == 2 for s in p.scenes)


def test_an_export_refused_by_its_preset_redraws_nothing(fresh: nv.Project) -> None:
    """The preset's checks come first: a refused export makes no frame, no clip and no file,
    even where the finishing now calls for other frame marks."""
    p = fresh
    p.answer()
    p.finish(voice="narrator-f")  # captions burned in: clean frames
    p.storyboard()
    p.generate_clips().wait()
    p.finish(voice=None, music="none")  # no text burned now: the frames would be board panels
    takes = {s.id: (len(s.frame_takes), len(s.clip_takes), s.clip.id) for s in p.scenes}
    before = (p.path / "project.json").read_bytes()
    with pytest.raises(nv.NbvideoError, match="audio"):
        p.export("silent", preset="tiktok")
    assert {s.id: (len(s.frame_takes), len(s.clip_takes), s.clip.id) for s in p.scenes} == takes
    assert (p.path / "project.json").read_bytes() == before
    assert not list((p.path / "exports").glob("silent*"))
    p.finish(music="bed")  # sound, still no text burned: the export goes on, and redraws
    p.export("silent", preset="tiktok")
    assert all(s.frame.inputs.get("annotations") is None for s in p.scenes)
    assert all(len(s.clip_takes) == takes[s.id][1] + 1 for s in p.scenes)
