"""Platform presets, the pre-render export checks, and the poster + preview of an export."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from nbvideo.errors import InvalidInput
from nbvideo.model.presets import (
    PRESETS,
    ExportCheckFailed,
    ExportFacts,
    Rect,
    TextItem,
    check_export,
    enforce,
    get_preset,
    get_presets,
)
from nbvideo.model.state import frame_size
from nbvideo.render.preview import poster_and_preview
from tests.brand_helpers import ffmpeg


def test_the_six_platform_presets_and_their_frames():
    assert list(PRESETS) == ["tiktok", "reels", "shorts", "youtube", "instagram-feed", "web"]
    sizes = {n: p.size for n, p in PRESETS.items()}
    assert sizes == {"tiktok": (1080, 1920), "reels": (1080, 1920), "shorts": (1080, 1920),
                     "youtube": (1920, 1080), "instagram-feed": (1080, 1350), "web": (1280, 720)}
    for p in PRESETS.values():
        assert p.size == frame_size(p.aspect, p.resolution)  # what the export engine makes
        assert p.fps == 30 and p.true_peak_db == -1.0 and p.video_kbps > 0
        assert p.safe_area.rect(*p.size).w > p.size[0] / 2
    reels = get_preset("reels").safe_area.rect(1080, 1920)
    # Meta's Reels guidance: 14 % top, 35 % bottom, 6 % each side.
    assert (reels.y, reels.bottom, reels.x, reels.right) == (269, 1248, 65, 1015)
    assert get_preset("tiktok").encoding(30).video_args() == [
        "-profile:v", "high", "-level:v", "4.0", "-maxrate", "8000k", "-bufsize", "16000k",
        "-flags", "+cgop"]
    assert get_preset("web").loudnorm() == "loudnorm=I=-16:TP=-1:LRA=11"


def test_presets_by_name_alias_or_list_and_a_helpful_error():
    assert get_preset("Instagram Reels").name == "reels"
    assert get_preset("youtube_shorts").name == "shorts"
    assert [p.name for p in get_presets(["reels", "ig-reels", "tiktok"])] == ["reels", "tiktok"]
    assert [p.name for p in get_presets("web")] == ["web"]
    with pytest.raises(InvalidInput, match="choose from tiktok, reels, shorts, youtube, "
                                           "instagram-feed, web"):
        get_preset("snapchat")
    with pytest.raises(InvalidInput, match="no preset given"):
        get_presets([])


def _facts(**kw) -> ExportFacts:
    base = {"duration_s": 30.0, "width": 1080, "height": 1920, "fps": 30, "has_audio": True,
            "audio_lufs": -14.2, "audio_true_peak_db": -1.5}
    return ExportFacts(**(base | kw))


def test_a_fitting_export_has_no_violations():
    assert check_export("tiktok", _facts()) == []
    assert check_export("web", _facts(width=1280, height=720, has_audio=False)) == []


def test_too_long_and_too_short_are_reported_with_the_numbers():
    (v,) = check_export("shorts", _facts(duration_s=64.5))
    assert (v.code, v.severity, v.preset) == ("too_long", "error", "shorts")
    assert v.message == "too long by 4.5 s: 64.5 s > 60 s, the YouTube Shorts limit"
    (v,) = check_export("tiktok", _facts(duration_s=3.2))
    assert v.message == "too short by 1.8 s: 3.2 s < 5 s, the TikTok minimum"
    (v,) = check_export("reels", _facts(duration_s=90.04))
    assert v.message == "too long by 0.04 s: 90.04 s > 90 s, the Instagram Reels limit"
    assert check_export("youtube", _facts(duration_s=170, width=1920, height=1080)) == []


def test_missing_audio_is_an_error_where_the_platform_needs_sound():
    tik, reel, web = (check_export(p, _facts(has_audio=False, width=w, height=h))
                      for p, w, h in (("tiktok", 1080, 1920), ("reels", 1080, 1920),
                                      ("web", 1280, 720)))
    assert [(v.code, v.severity) for v in tik] == [("no_audio", "error")]
    assert [(v.code, v.severity) for v in reel] == [("no_audio", "warning")]
    assert "missing audio" in reel[0].message and web == []


def test_loudness_true_peak_size_and_fps_carry_their_numbers():
    vs = {v.code: v for v in check_export("reels", _facts(audio_lufs=-19.2,
                                                          audio_true_peak_db=-0.2,
                                                          width=1280, height=720, fps=25))}
    assert vs["loudness"].message == "audio is -19.2 LUFS, 5.2 LU quieter than the -14 LUFS target"
    assert vs["true_peak"].message == "true peak -0.2 dBTP is 0.8 dB above the -1 dBTP ceiling"
    assert vs["wrong_size"].message == "frame is 1280x720; Instagram Reels needs 1080x1920 (9:16)"
    assert vs["wrong_fps"].message == "25 fps; Instagram Reels expects 30 fps"
    worst = check_export("reels", _facts(width=1280, height=720, fps=25, audio_lufs=-19.2))
    assert worst[0].severity == "error"  # errors come first


def test_text_under_the_apps_ui_is_an_error_naming_side_and_pixels():
    caption = TextItem(label="caption 3", rect=Rect(x=100, y=1400, w=800, h=110),
                       start_s=2.0, end_s=4.5)
    logo = Rect(x=900, y=50, w=150, h=40)
    vs = check_export("reels", _facts(texts=[caption], logo=logo))
    assert [v.code for v in vs] == ["text_unsafe", "logo_unsafe"]  # errors first
    assert vs[0].message == ("caption 3 (2\u20134.5 s) is outside the Instagram Reels 9:16 "
                             "safe area by 262 px at the bottom (box ends at y=1510, safe area "
                             "at y=1248)")
    assert vs[1].severity == "warning"
    assert "219 px at the top (box starts at y=50, safe area at y=269) and 35 px at the right" \
        in vs[1].message
    inside = TextItem(label="title", rect=Rect(x=200, y=900, w=600, h=100))
    over_logo = Rect(x=500, y=950, w=100, h=40)
    (v,) = check_export("reels", _facts(texts=[inside], logo=over_logo))
    assert (v.code, v.message) == ("text_over_logo", "title (0\u2013end s) overlaps the logo")


def test_errors_block_and_warnings_block_until_accepted():
    errors = check_export("tiktok", _facts(duration_s=61, has_audio=False))
    with pytest.raises(ExportCheckFailed) as e:
        enforce(errors, accept=True)  # errors cannot be accepted
    assert "[tiktok] error: too long by 1 s: 61 s > 60 s" in str(e.value)
    assert len(e.value.violations) == 2 and isinstance(e.value, InvalidInput)
    warn = check_export("reels", _facts(has_audio=False))
    with pytest.raises(ExportCheckFailed, match="missing audio"):
        enforce(warn)
    assert enforce(warn, accept=["no_audio"]) == warn
    assert enforce(warn, accept=True) == warn
    assert enforce([]) == []


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_each_export_gets_a_poster_and_a_short_small_preview(fmt, tmp_path):
    video = tmp_path / "ad-9x16.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=360x640:r=30:d=5", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(video))
    poster, preview = poster_and_preview(video, 1.5, tmp_path / "out", fmt=fmt)
    assert poster == tmp_path / "out" / "ad-9x16.jpg"
    assert preview == tmp_path / "out" / f"ad-9x16-preview.{fmt}"
    with Image.open(poster) as im:
        assert im.size == (360, 640)
    with Image.open(preview) as im:
        assert im.format == fmt.upper() and im.size == (320, 568)
        n = im.n_frames
        durations = []
        for i in range(n):
            im.seek(i)
            im.load()  # WebP sets a frame's duration when it is decoded
            durations.append(im.info.get("duration", 0))
    assert 30 <= n <= 37 and 2.7 <= sum(durations) / 1000 <= 3.1  # ~3 s at 12 fps
    assert preview.stat().st_size < 1_500_000
    assert not list((tmp_path / "out").glob(".*"))  # no temp files left behind
    with pytest.raises(ValueError, match="seconds"):
        poster_and_preview(video, 1.0, tmp_path, seconds=5)


def test_preview_rejects_an_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="'gif' or 'webp'"):
        poster_and_preview(Path("x.mp4"), 0, tmp_path, fmt="apng")  # type: ignore[arg-type]
