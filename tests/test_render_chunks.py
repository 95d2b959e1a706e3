"""The memory gate (render/chunks.py): a film whose one filter graph would hold more than the
budget is rendered as consecutive chunks, each its own ffmpeg, and joined losslessly.

Fast tests check the plan on made-up timelines; slow ones render a small timeline with a
tiny forced budget and compare it with the same film rendered in one graph."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from nbvideo.media.ffmpeg import ffmpeg_exe, probe
from nbvideo.model.effects import Effects, KenBurns
from nbvideo.model.state import Transition
from nbvideo.render import chunks
from nbvideo.render.chunks import GRAPH_BUDGET_BYTES, Span, graph_bytes, plan_chunks
from nbvideo.render.engine import RenderClip, RenderSpec, export_timeline, plan_duration
from nbvideo.render.smart_render import export_smart

UHD = (3840, 2160)
HD = (1280, 720)


def _spans(n: int, frames: int = 240, xfade: int = 12, size: tuple[int, int] = UHD,
           cuts: tuple[int, ...] = ()) -> list[Span]:
    return [Span(frames=frames, xfade=0 if i == n - 1 or i in cuts else xfade, source=size)
            for i in range(n)]


def _positions(spans: list[Span]) -> list[int]:
    pos, at = [], 0
    for s in spans:
        pos.append(at)
        at += s.frames - s.xfade
    return pos


def _check_plan(spans: list[Span], plan: list[chunks.Chunk]) -> None:
    """Consecutive, whole frames, covering the film; no cut strictly inside a transition;
    each take is the clip's frames that fall in the chunk."""
    pos = _positions(spans)
    total = pos[-1] + spans[-1].frames
    assert plan[0].start == 0 and sum(c.frames for c in plan) == total
    for a, b in zip(plan, plan[1:]):
        assert a.start + a.frames == b.start
    for c in plan:
        assert isinstance(c.start, int) and isinstance(c.frames, int) and c.frames > 0
        for i, (s, p) in enumerate(zip(spans[:-1], pos[1:])):
            assert not p < c.start < p + s.xfade, f"cut at {c.start} inside transition {i}"
        # the takes, laid out with their kept transitions, are exactly the chunk's frames
        shown = sum(t.frames for t in c.takes) - sum(t.xfade for t in c.takes)
        assert shown == c.frames
        for t in c.takes:
            assert pos[t.clip] + t.skip >= c.start
            assert t.skip + t.frames <= spans[t.clip].frames


def test_a_film_that_fits_is_one_chunk() -> None:
    spans = _spans(6, size=HD)
    plan = plan_chunks(spans, HD)
    assert len(plan) == 1 and plan[0].frames == 6 * 240 - 5 * 12
    assert [t.clip for t in plan[0].takes] == list(range(6))
    assert [t.xfade for t in plan[0].takes] == [12] * 5 + [0]


def test_six_4k_clips_do_not_fit_one_graph_and_each_chunk_fits() -> None:
    spans = _spans(6)
    assert graph_bytes([UHD] * 6, UHD, transitions=5) > GRAPH_BUDGET_BYTES
    plan = plan_chunks(spans, UHD)
    assert len(plan) > 1
    _check_plan(spans, plan)
    for c in plan:
        assert c.bytes <= GRAPH_BUDGET_BYTES
        assert c.bytes == graph_bytes([UHD] * len(c.takes), UHD,
                                      transitions=sum(1 for t in c.takes if t.xfade))


@pytest.mark.parametrize("budget", [1, 700_000_000, 1_000_000_000, 1_400_000_000,
                                    GRAPH_BUDGET_BYTES])
def test_chunks_never_split_a_transition(budget: int) -> None:
    spans = _spans(7, frames=100, xfade=30, cuts=(2,))
    plan = plan_chunks(spans, UHD, budget=budget)
    _check_plan(spans, plan)
    pos = _positions(spans)
    for i, s in enumerate(spans[:-1]):
        if not s.xfade:
            continue
        # the chunk holding the transition's first frame holds all of it, and both clips
        at = pos[i + 1]
        c = next(c for c in plan if c.start <= at < c.start + c.frames)
        assert at + s.xfade <= c.start + c.frames
        take = next(t for t in c.takes if t.clip == i)
        assert take.xfade == s.xfade and any(t.clip == i + 1 for t in c.takes)


def test_budget_respected_unless_one_step_alone_is_over() -> None:
    spans = _spans(6)
    for budget in (800_000_000, 1_000_000_000, 1_400_000_000, 2_000_000_000):
        plan = plan_chunks(spans, UHD, budget=budget)
        _check_plan(spans, plan)
        for c in plan:  # over budget only where no smaller chunk exists from its start
            assert c.bytes <= budget or len(c.takes) <= 2
        bigger = plan_chunks(spans, UHD, budget=budget * 2)
        assert len(bigger) <= len(plan)
    # nothing fits: the smallest chunks there are (a clip, or a transition and its clips)
    tiny = plan_chunks(spans, UHD, budget=1)
    _check_plan(spans, tiny)
    assert len(tiny) == 6 and all(len(c.takes) <= 2 for c in tiny)


def test_hard_cuts_split_between_clips() -> None:
    spans = _spans(4, xfade=0)
    plan = plan_chunks(spans, UHD, budget=1)
    assert [(c.start, c.frames) for c in plan] == [(0, 240), (240, 240), (480, 240), (720, 240)]
    assert all(len(c.takes) == 1 and c.takes[0].skip == 0 for c in plan)


def test_encoder_bounds_at_2160p_only() -> None:
    bounds, params = chunks.encoder_bounds(UHD)
    assert "sync-lookahead=0" in params and f"rc-lookahead={chunks.HEAVY_LOOKAHEAD}" in params
    assert bounds[0] == "-threads"
    assert chunks.encoder_bounds(HD) == ([], [])
    # the estimate counts the bounded encoder: far less per frame at 4K than unbounded
    assert graph_bytes([], UHD) < graph_bytes([], UHD, encoder=False) + 1_000_000_000


def test_overlay_shift_moves_the_clock_once() -> None:
    g = "[vin]drawbox=enable='between(t,1,2)'[vout]"
    assert chunks.shifted_overlay(g, 0) == g
    s = chunks.shifted_overlay(g, 48)
    assert s.startswith("[vin]setpts=PTS+48[") and s.endswith("setpts=PTS-STARTPTS[vout]")
    assert s.count("[vin]") == 1 and s.count("[vout]") == 1
    assert chunks.overlay_sources("movie=filename=a.png[l];movie=filename=b.mp4[m]") == 2


# ------------------------------------------------------------------ rendered (slow)

FPS = 24
XF = Transition(kind="crossfade", duration_s=0.5)


def _make(path: Path, seconds: float, hue: int) -> Path:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"testsrc2=size=640x360:rate={FPS}:duration={seconds},hue=h={hue}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("chunk-src")
    return [_make(d / f"c{i}.mp4", 2.0, 70 * i) for i in range(4)]


def _spec(out: Path, **kw: Any) -> RenderSpec:
    return RenderSpec(aspect="16:9", resolution="720p", fps=FPS, out=out, preset="ultrafast",
                      crf=12, **kw)


def _frames(path: Path) -> list[tuple[Fraction, np.ndarray]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.time_base is not None
        return [(Fraction(f.pts) * s.time_base, f.to_ndarray(format="gray").astype(np.float32))
                for f in c.decode(s)]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def _timeline(src: list[Path]) -> list[RenderClip]:
    """A crossfade, a dip to black, a hard cut; Ken Burns (frame-numbered) on clip 1."""
    return [
        RenderClip(path=src[0], duration_s=2, transition=XF),
        RenderClip(path=src[1], duration_s=2, trim_in_s=0.25,
                   transition=Transition(kind="dip_black", duration_s=0.5),
                   effects=Effects(ken_burns=KenBurns(start_zoom=1.0, end_zoom=1.6))),
        RenderClip(path=src[2], duration_s=2, transition=Transition()),
        RenderClip(path=src[3], duration_s=2),
    ]


@pytest.mark.slow
def test_chunked_export_matches_the_one_graph_export(src: list[Path], tmp_path: Path) -> None:
    clips = _timeline(src)
    # a box over 1.0 s .. 3.0 s of the film: across the first chunk boundaries
    overlay = ("[vin]drawbox=x=20:y=20:w=120:h=80:color=white@1:t=fill:"
               "enable='between(t,1.0,3.0)'[vout]")
    whole = export_timeline(clips, _spec(tmp_path / "whole.mp4", overlay=overlay))
    cut = export_timeline(clips, _spec(tmp_path / "cut.mp4", overlay=overlay, max_graph_bytes=1))
    # [clip 0 to the crossfade], [crossfade, clip 1 to the dip], [dip, clip 2], [clip 3]
    assert whole.chunks == 1 and cut.chunks == 4
    planned, seconds = plan_duration(clips, FPS)
    for r in (whole, cut):
        assert r.frames == planned and probe(r.path, count_frames=True).frames == planned
        assert r.duration_s == pytest.approx(seconds, abs=1e-3)
    a, b = _frames(cut.path), _frames(whole.path)
    assert len(a) == len(b) == planned
    assert [t for t, _ in a] == [t for t, _ in b]  # same timestamps, frame by frame
    scores = [_psnr(x, y) for (_, x), (_, y) in zip(a, b)]
    worst = int(np.argmin(scores))
    assert scores[worst] > 38, f"frame {worst}: {scores[worst]:.1f} dB"
    # the box is on both sides of every boundary it spans (frames 36 and 66), on exactly
    # the frames of 1.0 s .. 3.0 s, as in the one-graph export
    box = (slice(40, 80), slice(40, 120))
    for n, (_, f) in enumerate(a):
        white = float(f[box].mean()) > 240 and float(f[box].std()) < 6
        assert white == (FPS <= n <= 3 * FPS), n
        assert abs(float(f[box].mean()) - float(b[n][1][box].mean())) < 3, n


@pytest.mark.slow
def test_chunk_boundaries_fall_at_transitions_and_cuts(src: list[Path], tmp_path: Path) -> None:
    clips = _timeline(src)
    cut = export_timeline(clips, _spec(tmp_path / "cut.mp4", max_graph_bytes=1))
    whole = export_timeline(clips, _spec(tmp_path / "whole.mp4"))
    a, b = _frames(cut.path), _frames(whole.path)
    # frames at each side of each chunk boundary, and mid crossfade / mid dip
    x = round(0.5 * FPS)
    c0 = 2 * FPS - x  # clip 1 starts (the crossfade)
    c1 = c0 + round(1.75 * FPS) - x  # clip 2 starts (the dip)
    c2 = c1 + 2 * FPS  # clip 3 starts (hard cut)
    for n in (c0 - 1, c0, c0 + x // 2, c1 - 1, c1, c1 + x // 2, c2 - 1, c2):
        assert _psnr(a[n][1], b[n][1]) > 38, n
    # the dip reaches black in the middle in both
    assert a[c1 + x // 2][1].mean() < 20 and b[c1 + x // 2][1].mean() < 20


@pytest.mark.slow
def test_smart_pieces_go_through_the_gate(src: list[Path], tmp_path: Path) -> None:
    # a box from 1.0 s to 5.0 s: one encoded piece over three clips joined by hard cuts
    clips = [RenderClip(path=p, duration_s=2) for p in src]
    overlay = ("[vin]drawbox=x=20:y=20:w=120:h=80:color=white@1:t=fill:"
               "enable='between(t,1.0,5.0)'[vout]")

    def smart(name: str, **kw: Any) -> Any:
        return export_smart(clips, _spec(tmp_path / f"{name}.mp4", overlay=overlay, **kw),
                            tmp_path / name, overlay_spans=[(1.0, 5.0)])

    whole, tiny = smart("whole"), smart("tiny", max_graph_bytes=1)
    assert whole.mode == tiny.mode == "smart" and not tiny.fallback
    # over the budget the piece is cut at the hard cuts: more, smaller pieces
    assert tiny.segments_encoded > whole.segments_encoded
    assert tiny.seconds_encoded == whole.seconds_encoded
    a, b = _frames(tiny.path), _frames(whole.path)
    assert len(a) == len(b) == plan_duration(clips, FPS)[0]
    assert [t for t, _ in a] == [t for t, _ in b]
    assert min(_psnr(x, y) for (_, x), (_, y) in zip(a, b)) > 38
    box = (slice(40, 80), slice(40, 120))
    for n, (_, f) in enumerate(a):  # the box on every frame of its time, both sides of cuts
        white = float(f[box].mean()) > 240 and float(f[box].std()) < 6
        assert white == (FPS <= n <= 5 * FPS), n


@pytest.mark.slow
def test_chunked_export_carries_the_soundtrack(src: list[Path], tmp_path: Path) -> None:
    clips = [RenderClip(path=src[0], duration_s=2, transition=XF),
             RenderClip(path=src[1], duration_s=2)]
    frames, seconds = plan_duration(clips, FPS)
    audio = tmp_path / "music.m4a"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", str(audio)],
                   check=True)
    r = export_timeline(clips, _spec(tmp_path / "a.mp4", audio=audio, max_graph_bytes=1))
    assert r.chunks == 2 and r.frames == frames
    info = probe(r.path, count_frames=True)
    assert info.has_audio and info.frames == frames
    with av.open(str(r.path)) as c:
        a = c.streams.audio[0]
        assert a.duration is not None and a.time_base is not None
        assert float(a.duration * a.time_base) == pytest.approx(seconds, abs=0.05)


@pytest.mark.slow
def test_chunks_of_sources_tagged_differently_still_join(src: list[Path], tmp_path: Path) -> None:
    """A camera file with no colour tags cut with bt709-tagged clips (a user's 4K import
    between animatics): each chunk's encoder would copy its first source's tags into the
    stream header, and headers that differ cannot be joined by stream copy. Chunks are
    tagged alike (bt709), so the film joins."""
    tagged = tmp_path / "tagged.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(src[1]), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-colorspace", "bt709",
                    "-color_primaries", "bt709", "-color_trc", "bt709", str(tagged)],
                   check=True)
    clips = [RenderClip(path=src[0], duration_s=2), RenderClip(path=tagged, duration_s=2)]
    cut = export_timeline(clips, _spec(tmp_path / "cut.mp4", max_graph_bytes=1))
    planned, _ = plan_duration(clips, FPS)
    assert cut.chunks == 2 and probe(cut.path, count_frames=True).frames == planned


_CHURN = """
import json, threading, psutil
from nbvideo.render import chunks

def rss():
    return psutil.Process().memory_info().rss

kept = []
together = threading.Barrier(4)

def churn():  # 100 MB in 100 KB blocks (under mmap's threshold), 1 in 40 kept; the four
    # threads hold theirs at once, so each allocates in an arena of its own, as the
    # storyboard's frame workers do
    blocks = [bytes(100_000) for _ in range(1000)]
    together.wait()
    kept.extend(blocks[::40])
    del blocks

before = rss()
workers = [threading.Thread(target=churn) for _ in range(4)]
for w in workers:
    w.start()
for w in workers:
    w.join()
held = rss() - before
hd = chunks.make_room((1280, 720))
after_hd = rss() - before
uhd = chunks.make_room((3840, 2160))
print(json.dumps({"held": held, "hd": hd, "after_hd": after_hd, "uhd": uhd,
                  "after_uhd": rss() - before, "kept": len(kept)}))
"""


@pytest.mark.skipif(chunks.release_free_heap() is False, reason="needs glibc's malloc_trim")
def test_a_4k_render_first_gives_back_the_heap_that_threads_freed() -> None:
    """What the storyboard's worker threads leave behind (freed, still resident in their
    arenas) is returned before a render above 1080p, not before a 1080p one. In a fresh
    interpreter, so the heap starts as a kernel's does, not as this test process's."""
    import json
    import sys

    out = subprocess.run([sys.executable, "-c", _CHURN], check=True, capture_output=True,
                         text=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["held"] > 20_000_000, "the threads' freed blocks stay resident"
    assert got["hd"] is False and got["after_hd"] > got["held"] * 0.8  # left alone at 1080p
    assert got["uhd"] is True
    assert got["after_uhd"] < got["held"] * 0.5, "most of what the threads freed went back"
    assert got["kept"] == 100
