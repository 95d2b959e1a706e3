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
from nbvideo.media import ffmpeg_exe, probe, run_ffmpeg
from nbvideo.pipeline.finishing import VOICE_LEAD_S
from nbvideo.pipeline.loudness import measure_loudness
from nbvideo.pipeline.presets import ExportCheckFailed, Preset, get_preset

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
    first = p.timeline.frame().iloc[0]
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
    with pytest.raises(ExportCheckFailed, match=rf"scene {first.id} is \d+\.\d\d s longer"):
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
    from nbvideo.pipeline.overlays import end_card_image, logo_overlay

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
