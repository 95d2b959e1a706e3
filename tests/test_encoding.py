"""Encoding per platform (model/encoding.py): the H.264 profile, level and bitrate ceiling an
export for a platform is made with, probed on the files it makes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import pytest

import nbvideo as nv
from nbvideo.deliver.package import FORMS
from nbvideo.deliver.publish import RULES
from nbvideo.errors import InvalidInput
from nbvideo.media.ffmpeg import ffmpeg_exe, stream_format
from nbvideo.model.encoding import BUFFER_S, SAFETY, h264_level, plan_encoding, size_ceiling_kbps
from nbvideo.model.presets import PRESETS, Preset, get_preset
from nbvideo.render import smart_render
from nbvideo.render.engine import RenderClip, RenderSpec, export_timeline
from nbvideo.render.mezzanine import GOP_S

MB = 1024**2


# ----------------------------------------------------------------------------- arithmetic
def test_level_follows_size_fps_and_bitrate() -> None:
    assert h264_level(1920, 1080, 30) == "4.0"
    assert h264_level(1080, 1920, 30) == "4.0"  # vertical: the same macroblocks
    assert h264_level(1080, 1350, 30) == "4.0"
    assert h264_level(1920, 1080, 60) == "4.2"
    assert h264_level(1920, 1080, 30, 30_000, 60_000) == "4.1"  # over 4.0's 25 Mbit/s
    assert h264_level(3840, 2160, 30) == "5.1"
    assert h264_level(1280, 720, 30) == "3.1"
    with pytest.raises(InvalidInput, match="no H.264 level holds 8192x8192"):
        h264_level(8192, 8192, 60)


def test_a_short_ad_gets_the_platforms_recommended_ceiling() -> None:
    for p in PRESETS.values():
        plan = p.encoding(30)
        assert plan.maxrate_kbps == p.video_kbps and plan.limited_by == "recommendation"
        assert plan.bufsize_kbps == 2 * p.video_kbps and plan.profile == "high"
        assert plan.audio_kbps == p.audio_kbps and plan.max_bytes == p.max_upload_bytes
    assert get_preset("youtube").encoding(30).keyint_s == 0.5  # YouTube: half the frame rate
    assert get_preset("reels").encoding(30).keyint_s == 2.0  # Meta: closed GOP of 2-5 s


def test_a_long_reel_gets_a_ceiling_that_lands_under_instagrams_300_mb() -> None:
    reels = get_preset("reels")
    plan = reels.encoding(900)  # Instagram's longest Reel through the API: 15 min
    assert plan.limited_by == "size" and plan.maxrate_kbps < reels.video_kbps
    # the arithmetic, by hand: VBV bound of the video + the audio + the container
    video = plan.maxrate_kbps * 1000 / 8 * (900 + BUFFER_S)
    audio = 128 * 1000 / 8 * 900 * 1.05
    assert video + audio < 300 * MB * (1 - SAFETY)
    assert plan.worst_case_bytes() <= 300 * MB * (1 - SAFETY)
    # and it is the highest such ceiling: 1 kbit/s more would not fit the budget
    assert plan.maxrate_kbps == size_ceiling_kbps(300 * MB, 900, 128, 30)
    assert (plan.maxrate_kbps + 1) * 1000 / 8 * (900 + BUFFER_S) + audio > 300 * MB * 0.93
    # longer means lower, never over
    ceilings = [reels.encoding(d).maxrate_kbps for d in (60, 300, 600, 900, 1800)]
    assert ceilings == sorted(ceilings, reverse=True)


def test_every_preset_is_held_to_the_tightest_limit_where_it_is_posted() -> None:
    for rules in RULES.values():
        for name in rules.presets:
            assert PRESETS[name].max_upload_bytes <= rules.max_bytes, (rules.label, name)
    for name, form in FORMS.items():
        assert PRESETS[name].max_upload_bytes <= form.video_max_bytes, name


@pytest.mark.parametrize("bad", [0, -3, float("nan"), float("inf"), "30"])
def test_a_bad_duration_names_the_field(bad: object) -> None:
    with pytest.raises(InvalidInput, match="duration_s must be a number of seconds > 0"):
        plan_encoding(get_preset("reels"), bad)  # type: ignore[arg-type]


def test_a_bad_crf_or_an_ad_too_long_for_the_limit_names_the_field() -> None:
    with pytest.raises(InvalidInput, match="crf must be a whole number from 0 to 51, got 60"):
        plan_encoding(get_preset("reels"), 30, crf=60)
    with pytest.raises(InvalidInput, match=r"duration_s: a 36000 s export cannot fit the "
                       r"Instagram Reels limit of 300 MB .* under the 600 kbit/s floor .*"
                       r"at most 3,1\d\d s fits"):
        get_preset("reels").encoding(36000)


# ------------------------------------------------------------------------- real encodes
def _source(path: Path, seconds: float, noise: bool = False) -> Path:
    """A moving test pattern; with `noise`, film grain x264 cannot compress (the worst case)."""
    vf = f"testsrc2=size=640x360:rate=30:duration={seconds}"
    if noise:
        vf += ",noise=alls=60:allf=t"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", vf, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "8",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def _keyframes(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        return [i for i, p in enumerate(p for p in c.demux(c.streams.video[0]) if p.size)
                if p.is_keyframe]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _source(tmp_path_factory.mktemp("enc") / "clip.mp4", 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_export_probes_with_its_profile_level_and_ceiling(
        name: str, clip: Path, tmp_path: Path) -> None:
    preset = PRESETS[name]
    plan = preset.encoding(2.0)
    spec = RenderSpec(aspect=preset.aspect, resolution=preset.resolution, fps=preset.fps,
                      out=tmp_path / f"{name}.mp4", allow_copy=False,
                      video_args=plan.video_args(), gop_s=plan.keyint_s)
    result = export_timeline([RenderClip(path=clip, duration_s=2.0)], spec)
    fmt = stream_format(result.path)
    assert (fmt.codec, fmt.profile, fmt.level, fmt.pix_fmt) == ("h264", "High", plan.level,
                                                                "yuv420p")
    assert fmt.faststart
    assert fmt.video_kbps <= plan.maxrate_kbps * (2.0 + BUFFER_S) / 2.0
    gop = round(plan.keyint_s * preset.fps)  # at most this far apart (a scene cut adds one)
    keys = [*_keyframes(result.path), result.frames]
    assert keys[0] == 0 and max(b - a for a, b in zip(keys, keys[1:])) <= gop


@pytest.mark.slow
def test_a_smart_export_shares_one_setting_across_its_pieces(clip: Path, tmp_path: Path) -> None:
    preset = get_preset("reels")
    plan = preset.encoding(4.0)
    spec = RenderSpec(aspect=preset.aspect, resolution=preset.resolution, fps=preset.fps,
                      out=tmp_path / "smart.mp4", allow_copy=False,
                      video_args=plan.video_args(), gop_s=plan.keyint_s)
    clips = [RenderClip(path=clip, duration_s=2.0, trim_in_s=0.3),  # off a keyframe: encoded
             RenderClip(path=clip, duration_s=2.0)]
    result = smart_render.export_smart(clips, spec, tmp_path / "cache")
    assert result.mode == "smart" and result.segments_copied and result.segments_encoded
    fmt = stream_format(result.path)
    assert (fmt.profile, fmt.level, fmt.pix_fmt) == ("High", plan.level, "yuv420p")
    assert fmt.faststart and fmt.video_kbps <= plan.maxrate_kbps * 1.5


@pytest.mark.slow
def test_a_real_encode_honours_the_ceiling_and_the_size_limit(tmp_path: Path) -> None:
    grain = _source(tmp_path / "grain.mp4", 2, noise=True)
    # a platform that takes 400 kB: for 2 s of grain the size, not the recommendation, binds
    tight = Preset(name="tight", label="Tight", aspect="16:9", resolution="720p", fps=30,
                   video_kbps=5000, audio="optional", max_upload_bytes=400_000)
    plan = tight.encoding(2.0)
    assert plan.limited_by == "size" and plan.maxrate_kbps < 1000

    def encode(out: Path, args: list[str]) -> Path:
        spec = RenderSpec(aspect="16:9", resolution="720p", fps=30, out=out, preset="ultrafast",
                          allow_copy=False, video_args=args, gop_s=plan.keyint_s)
        return export_timeline([RenderClip(path=grain, duration_s=2.0)], spec).path

    capped = encode(tmp_path / "capped.mp4", plan.video_args())
    free = encode(tmp_path / "free.mp4", [])  # the same CRF without a ceiling
    assert free.stat().st_size > tight.max_upload_bytes  # the ceiling is what keeps it under
    assert capped.stat().st_size <= tight.max_upload_bytes
    assert stream_format(capped).video_kbps <= plan.maxrate_kbps * (2 + BUFFER_S) / 2
    assert stream_format(capped).level == plan.level


# ------------------------------------------------------------------- through the project
@pytest.mark.slow
def test_preset_exports_record_and_package_what_was_chosen(rendered: nv.Project) -> None:
    p = rendered
    p.set_metadata(hashtags=["trail"])
    df = p.package(["reels", "web"], name="launch", accept=True)
    for row in df.itertuples():
        record = next(r for r in p.exports if r.preset == row.preset)
        plan = record.encoding
        assert plan is not None and plan.preset == row.preset
        assert plan.maxrate_kbps == PRESETS[row.preset].video_kbps
        assert plan.duration_s == pytest.approx(record.duration_s, abs=0.1)
        assert not record.stream_copy
        if record.render is not None and record.render.mode == "smart":
            assert plan.keyint_s == GOP_S
        fmt = stream_format(Path(row.video))
        assert (fmt.profile, fmt.level, fmt.pix_fmt) == ("High", plan.level, "yuv420p")
        assert fmt.video_kbps <= plan.maxrate_kbps * 1.5 and fmt.faststart
        doc = json.loads((Path(row.folder) / "metadata.json").read_text())
        assert doc["video"]["encoding"]["level"] == plan.level
        assert doc["video"]["encoding"]["maxrate_kbps"] == plan.maxrate_kbps
        sheet = (Path(row.folder) / "upload.txt").read_text()
        assert f"H.264 High@{plan.level}" in sheet and f"{plan.maxrate_kbps} kbit/s" in sheet
    assert "H.264 High@" in p.costs["note"].str.cat(sep=" ")  # the ledger says it too


@pytest.mark.slow
def test_an_ad_too_long_for_the_size_limit_is_refused_before_encoding(
        rendered: nv.Project) -> None:
    p = rendered
    tiny = get_preset("web").model_copy(update={"name": "tiny", "max_upload_bytes": 200_000})
    with pytest.raises(InvalidInput, match=r"duration_s: a 8 s export cannot fit the Web MP4 "
                       r"limit of 200,000 bytes .* under the 300 kbit/s floor for "
                       r"1280x720; at most \d\.\d s fits"):
        p.export("long", preset=tiny, accept=True)
    assert not p.exports and not list((p.path / "exports").glob("long*"))
