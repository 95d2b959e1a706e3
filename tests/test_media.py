"""ffmpeg runner and media probes, against the bundled ffmpeg."""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
from pathlib import Path

import pytest

from nbvideo.media.ffmpeg import (
    FFmpegError,
    RenderCanceled,
    ffmpeg_exe,
    probe,
    probe_mp4_header,
    run_ffmpeg,
)

LAVFI = ["-f", "lavfi", "-i"]


def _encode(path: Path, src: str, *extra: str) -> Path:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *LAVFI, src,
                    *extra, str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    src = "testsrc2=size=160x90:rate={}:duration=1"
    x264 = ["-c:v", "libx264", "-preset", "ultrafast"]
    return {
        "plain": _encode(d / "plain.mp4", src.format(30), *x264, "-pix_fmt", "yuv420p"),
        "full_range": _encode(d / "full.mp4", src.format(25), *x264, "-pix_fmt", "yuvj420p"),
        "ten_bit": _encode(d / "p10.mp4", src.format(25), *x264, "-pix_fmt", "yuv420p10le"),
        "ntsc_444_sar": _encode(d / "s444.mp4", src.format("30000/1001"), *x264,
                                "-pix_fmt", "yuv444p", "-vf", "setsar=4/3"),
        "high_faststart": _encode(d / "fs.mp4", src.format(24), "-c:v", "libx264",
                                  "-profile:v", "high", "-movflags", "+faststart"),
        "baseline": _encode(d / "base.mp4", src.format(24), *x264, "-profile:v", "baseline"),
        "mpeg4": _encode(d / "m4.mp4", src.format(24), "-c:v", "mpeg4"),
        "fragmented": _encode(d / "frag.mp4", src.format(24), *x264,
                              "-movflags", "+frag_keyframe+empty_moov"),
    }


@pytest.mark.parametrize("name", ["plain", "full_range", "ten_bit", "ntsc_444_sar",
                                  "high_faststart", "baseline"])
def test_header_probe_agrees_with_pyav(samples, name):
    fast = probe_mp4_header(samples[name])
    assert fast is not None
    assert fast == probe(samples[name], count_frames=False)


@pytest.mark.parametrize("name", ["mpeg4", "fragmented"])
def test_header_probe_declines_what_it_cannot_read(samples, name):
    assert probe_mp4_header(samples[name]) is None


def test_header_probe_declines_a_file_that_is_not_mp4(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4096))
    assert probe_mp4_header(junk) is None


def test_probe_counts_frames_and_sees_audio(tmp_path):
    path = _encode(tmp_path / "a.mp4", "testsrc2=size=160x90:rate=30:duration=1", *LAVFI,
                   "sine=duration=1", "-c:v", "libx264", "-preset", "ultrafast", "-shortest")
    info = probe(path)
    assert (info.frames, info.fps, info.has_audio) == (30, 30.0, True)
    assert probe_mp4_header(path) == probe(path, count_frames=False)


def test_run_ffmpeg_reports_monotonic_progress_ending_at_one(tmp_path):
    seen: list[float] = []
    run_ffmpeg([*LAVFI, "testsrc2=size=640x360:rate=30:duration=4", "-c:v", "libx264",
                "-preset", "ultrafast", str(tmp_path / "p.mp4")],
               total_s=4.0, on_progress=seen.append)
    assert seen[-1] == 1.0 and seen.count(1.0) == 1
    assert all(a < b for a, b in itertools.pairwise(seen))
    assert all(0.0 <= f <= 1.0 for f in seen)


def test_run_ffmpeg_error_carries_stderr_but_not_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NBVIDEO_FAKE_KEY", "sk-should-never-appear")
    missing = tmp_path / "missing.mp4"
    with pytest.raises(FFmpegError) as err:
        run_ffmpeg(["-i", str(missing), "-f", "null", "-"], total_s=1.0)
    assert err.value.returncode != 0
    assert "missing.mp4" in str(err.value) and "No such file" in str(err.value)
    assert err.value.stderr_tail
    assert "sk-should-never-appear" not in str(err.value)
    assert "NBVIDEO_FAKE_KEY" not in str(err.value)


def test_run_ffmpeg_does_not_deadlock_on_a_flood_of_stderr():
    # debug logging writes far more than a pipe buffer holds; an undrained pipe would hang.
    run_ffmpeg(["-loglevel", "debug", *LAVFI, "testsrc2=size=160x90:rate=30:duration=2",
                "-f", "null", "-"], total_s=2.0)


def test_cancel_kills_ffmpeg_promptly_and_deletes_nothing(tmp_path):
    out = tmp_path / "partial.mkv"
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    with pytest.raises(RenderCanceled):
        run_ffmpeg([*LAVFI, "testsrc2=size=320x180:rate=30:duration=600", "-c:v", "libx264",
                    "-preset", "ultrafast", str(out)], total_s=600, cancel=cancel)
    timer.cancel()
    assert out.exists()  # what to do with a partial output is the caller's choice


def test_an_exception_in_the_progress_callback_stops_ffmpeg(tmp_path):
    def boom(_: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ffmpeg([*LAVFI, "testsrc2=size=320x180:rate=30:duration=600", "-f", "null", "-"],
                   total_s=600, on_progress=boom)
