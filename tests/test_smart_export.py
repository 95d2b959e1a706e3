"""Smart export: frame-exact against the full filter-graph path, incremental, and honest about
what it did.

Frame-exact here means: the same number of frames with the same timestamps as a full export
of the same timeline, and every frame within PSNR_FLOOR dB of the full export's frame (both
are lossy encodes of the same pixels; a frame off by one in a moving test pattern, a wrong
crossfade weight or a missing caption scores far below it). Measured: ~48 dB at ultrafast.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from nbvideo.edit.captions import burn_in, cues_from_lines
from nbvideo.media.ffmpeg import ffmpeg_exe, probe
from nbvideo.model.presets import SafeArea
from nbvideo.model.state import Transition
from nbvideo.render.cache import bound_cache, cache_size
from nbvideo.render.engine import RenderClip, RenderResult, RenderSpec, export_timeline
from nbvideo.render.smart_render import export_smart
from nbvideo.store.brands import CaptionStyle

pytestmark = pytest.mark.slow

FPS = 30
PSNR_FLOOR = 35.0
XF = Transition(kind="crossfade", duration_s=0.5)


def _make(path: Path, seconds: float, hue: int, rate: int = FPS, extra: str = "") -> Path:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=320x180:rate={rate}:duration={seconds},hue=h={hue}{extra}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
                   check=True)
    return path


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("smart-src")
    return {f"c{i}": _make(d / f"c{i}.mp4", 3, 50 * i) for i in range(5)}


def spec(out: Path, **kw: Any) -> RenderSpec:
    return RenderSpec(aspect="16:9", resolution="720p", fps=kw.pop("fps", FPS), out=out,
                      preset="ultrafast", **kw)


def frames(path: Path) -> list[tuple[Fraction, np.ndarray]]:
    """(timestamp in seconds, luma plane) of every frame."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.time_base is not None
        return [(Fraction(f.pts) * s.time_base, f.to_ndarray(format="gray").astype(np.float32))
                for f in c.decode(s)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


Decoded = list[tuple[Fraction, np.ndarray]]


def assert_frame_exact(smart: Path | Decoded, full: Path | Decoded,
                       rows: slice = slice(None)) -> list[float]:
    """Same frames, same timestamps, each frame (or its `rows`) above the PSNR floor.

    Takes paths or what `frames` decoded from them: a film compared more than once is
    decoded once (decoding 720p to arrays is most of these tests' time)."""
    a = frames(smart) if isinstance(smart, Path) else smart
    b = frames(full) if isinstance(full, Path) else full
    assert len(a) == len(b)
    assert [t for t, _ in a] == [t for t, _ in b]
    scores = [psnr(x[rows], y[rows]) for (_, x), (_, y) in zip(a, b)]
    worst = int(np.argmin(scores))
    assert scores[worst] > PSNR_FLOOR, f"frame {worst}: {scores[worst]:.1f} dB"
    return scores


def both(clips: list[RenderClip], tmp: Path, cache: Path, **kw: Any) -> tuple[RenderResult,
                                                                              RenderResult]:
    full = export_timeline(clips, spec(tmp / "full.mp4", **kw))
    smart = export_smart(clips, spec(tmp / "smart.mp4", **kw), cache,
                         overlay_spans=kw.pop("spans", None))
    return smart, full


def test_cuts_crossfades_and_off_keyframe_trims_match_the_full_export(src: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    clips = [RenderClip(path=src["c0"], duration_s=3, trim_in_s=0.1, transition=XF),
             RenderClip(path=src["c1"], duration_s=3, trim_out_s=0.2),  # a cut off a keyframe
             RenderClip(path=src["c2"], duration_s=3, trim_in_s=0.3, transition=XF),
             RenderClip(path=src["c3"], duration_s=3, trim_in_s=0.5)]  # a cut on a keyframe
    smart, full = both(clips, tmp_path, tmp_path / "cache")
    assert smart.mode == "smart" and smart.fallback is None and full.mode == "full"
    assert smart.frames == full.frames == 87 + 84 - 15 + 81 - 15 + 75
    assert_frame_exact(smart.path, full.path)
    # Only the frames around the joins were encoded; the rest was copied.
    assert smart.segments_copied == 4 and smart.segments_encoded >= 2
    assert 0 < smart.seconds_encoded < smart.seconds_total / 3
    assert smart.seconds_total == pytest.approx(full.duration_s, abs=1e-3)
    assert smart.mezzanines_built == 4
    with av.open(str(smart.path)) as c:  # one H.264 stream without B-frames
        assert c.streams.video[0].codec_context.has_b_frames == 0


def test_captions_over_part_of_the_film_are_re_encoded_there_only(src: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    clips = [RenderClip(path=src[f"c{i}"], duration_s=3, transition=XF) for i in range(3)]
    cues = cues_from_lines([(0.6, 1.8, "Dry feet"), (6.2, 7.0, "All weekend")], FPS)
    overlay = f"[vin]{burn_in(cues, CaptionStyle(), 1280, 720, SafeArea()).filters}[vout]"
    spans = [(c.start_s, c.end_s) for c in cues]
    full = export_timeline(clips, spec(tmp_path / "full.mp4", overlay=overlay))
    smart = export_smart(clips, spec(tmp_path / "smart.mp4", overlay=overlay), tmp_path / "c",
                         overlay_spans=spans)
    assert smart.mode == "smart"
    drawn, whole = frames(smart.path), frames(full.path)
    assert_frame_exact(drawn, whole)
    bottom = slice(540, 720)  # where the captions are: each must be on exactly its frames
    scores = assert_frame_exact(drawn, whole, rows=bottom)
    assert len(scores) == 3 * 90 - 2 * 15
    # the captions were drawn (the same film without them differs there)
    times = (0.6, 1.0, 6.2, 6.9)
    captioned = [drawn[round(t * FPS)][1] for t in times]
    del drawn, whole
    plain = export_smart(clips, spec(tmp_path / "plain.mp4"), tmp_path / "c")
    bare = frames(plain.path)
    for t, a in zip(times, captioned, strict=True):
        b = bare[round(t * FPS)][1]
        assert psnr(a[bottom], b[bottom]) < 25, t
    assert smart.seconds_encoded > plain.seconds_encoded


def test_one_changed_scene_re_encodes_only_its_joins(src: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    clips = [RenderClip(path=src[f"c{i}"], duration_s=3, transition=XF) for i in range(4)]
    clips[-1] = clips[-1].model_copy(update={"transition": Transition()})
    first = export_smart(clips, spec(tmp_path / "a.mp4"), cache)
    assert (first.segments_encoded, first.segments_cached, first.mezzanines_built) == (3, 0, 4)
    again = export_smart(clips, spec(tmp_path / "b.mp4"), cache)
    assert (again.segments_encoded, again.segments_cached, again.mezzanines_built) == (0, 3, 0)
    # Scene 3 gets another take: its mezzanine and the two crossfades around it are new.
    clips[2] = clips[2].model_copy(update={"path": src["c4"]})
    edited = export_smart(clips, spec(tmp_path / "c.mp4"), cache)
    assert (edited.segments_encoded, edited.segments_cached, edited.mezzanines_built) == (2, 1, 1)
    assert edited.seconds_encoded == pytest.approx(2 * 0.5, abs=0.2)
    full = export_timeline(clips, spec(tmp_path / "full.mp4"))
    whole = frames(full.path)
    assert_frame_exact(edited.path, whole)
    # The cache is only a cache: delete it and the same film comes back.
    shutil.rmtree(cache)
    rebuilt = export_smart(clips, spec(tmp_path / "d.mp4"), cache)
    assert (rebuilt.segments_encoded, rebuilt.mezzanines_built) == (3, 4)
    assert_frame_exact(rebuilt.path, whole)


def test_the_cache_is_bounded_least_recently_used_first(src: dict[str, Path],
                                                        tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    clips = [RenderClip(path=src[f"c{i}"], duration_s=3, transition=XF) for i in range(2)]
    export_smart(clips, spec(tmp_path / "a.mp4"), cache)
    other = [RenderClip(path=src[f"c{i}"], duration_s=3, transition=XF) for i in (3, 4)]
    export_smart(other, spec(tmp_path / "b.mp4"), cache, cache_bytes=0)
    # a zero budget keeps only what the last export used
    names = {p.name for p in cache.rglob("*.mp4")}
    assert len(names) == 3  # two mezzanines and one crossfade
    again = export_smart(clips, spec(tmp_path / "c.mp4"), cache)
    assert again.mezzanines_built == 2 and again.segments_encoded == 1
    assert bound_cache(cache, 0) and cache_size(cache) == 0


def test_an_overlay_over_the_whole_film_falls_back_and_says_so(src: dict[str, Path],
                                                               tmp_path: Path) -> None:
    clips = [RenderClip(path=src[f"c{i}"], duration_s=3, transition=XF) for i in range(2)]
    overlay = "[vin]drawbox=x=10:y=10:w=40:h=40:color=red:t=fill[vout]"  # like a watermark
    result = export_smart(clips, spec(tmp_path / "a.mp4", overlay=overlay), tmp_path / "c")
    assert result.mode == "full" and "whole film" in (result.fallback or "")
    assert probe(result.path).frames == 2 * 90 - 15
    assert not (tmp_path / "c" / "mezzanine").exists()  # nothing normalized for nothing


def test_audio_stays_in_sync_across_joins_over_60_seconds(tmp_path: Path) -> None:
    """Six 10 s scenes cut off keyframes; a white flash and a beep at 5 s into each scene.
    Video and audio must agree at the last scene as closely as at the first."""
    fps, n = 10, 6
    clips = []
    for i in range(n):
        flash = ",drawbox=c=white:t=fill:enable='between(t,5.29,5.35)'"
        path = _make(tmp_path / f"s{i}.mp4", 10.3, 40 * i, rate=fps, extra=flash)
        clips.append(RenderClip(path=path, duration_s=10.3, trim_in_s=0.3))
    audio = tmp_path / "track.m4a"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "aevalsrc='0.8*sin(2*PI*1000*t)*between(mod(t\\,10)\\,5\\,5.1)':s=48000:d=60",
                    "-c:a", "aac", "-b:a", "128k", str(audio)], check=True)
    result = export_smart(clips, spec(tmp_path / "film.mp4", fps=fps, audio=audio),
                          tmp_path / "cache")
    assert result.mode == "smart" and result.segments_encoded >= n - 1
    video = frames(result.path)
    assert len(video) == 60 * fps
    assert [t for t, _ in video] == [Fraction(k, fps) for k in range(60 * fps)]
    flashes = [float(t) for t, y in video if y.mean() > 200]
    assert flashes == pytest.approx([5.0 + 10 * k for k in range(n)], abs=1e-6)
    with av.open(str(result.path)) as c:
        a = c.streams.audio[0]
        rate = a.rate
        pcm = np.concatenate([f.to_ndarray()[0] for f in c.decode(a)])
        start = float(c.streams.video[0].start_time * c.streams.video[0].time_base)
        assert start == 0.0
    loud = np.abs(pcm) > 0.3
    beeps = [float(np.argmax(loud[int((10 * k + 4) * rate):]) / rate + 10 * k + 4)
             for k in range(n)]
    offsets = [b - f for b, f in zip(beeps, flashes)]
    assert all(abs(o) < 1 / fps for o in offsets), offsets
    assert abs(offsets[-1] - offsets[0]) < 0.005, offsets  # no drift over the minute
    assert len(pcm) / rate == pytest.approx(60, abs=0.05)


def test_project_exports_are_smart_by_default_and_recorded(rendered: Any) -> None:
    p = rendered
    p.set_transitions("crossfade", 0.5)
    out = p.export("smart", formats=["16:9", "9:16"])
    assert {r.render.mode for r in out} == {"smart"}
    first = out[0].render
    assert first.segments_copied > 0 and 0 < first.seconds_encoded < first.seconds_total
    assert first.mezzanines_built == len(p.scenes)
    cache = p.path / "cache" / "smart"
    assert len(list((cache / "mezzanine").rglob("*.mp4"))) == 2 * len(p.scenes)  # per format
    costs = p.costs
    mezz = costs[costs["note"].str.startswith("mezzanine")]
    assert len(mezz) == 2 * len(p.scenes)
    assert (mezz["cost_usd"] == 0).all() and (mezz["latency_s"] > 0).all()
    full = p.export("full", formats=["16:9"], smart=False)
    assert full[0].render.mode == "full" and full[0].frames == out[0].frames
    assert_frame_exact(p.path / out[0].path, p.path / full[0].path)
    again = p.export("smart", formats=["16:9"])  # nothing changed: nothing encoded
    assert (again[0].render.segments_encoded, again[0].render.mezzanines_built) == (0, 0)
    saved = json.loads((p.path / "project.json").read_text())
    assert saved["exports"][-1]["render"]["segments_cached"] == first.segments_encoded
    shutil.rmtree(cache)  # safe to delete
    assert p.export("smart", formats=["16:9"])[0].render.mezzanines_built == len(p.scenes)
