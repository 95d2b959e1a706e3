"""The transitions library: names (from the bundled ffmpeg), the API that sets them, the export
that draws them (pixels checked against the sources), smart export around them, the strips.

Which half of a wipe shows which clip follows ffmpeg's definition (libavfilter/vf_xfade.c):
progress runs from 1 (the first input) to 0 (the second), and `wipeleft` draws the second
input where x > width * progress, so the edge moves right to left and, at the midpoint, the
left half is still clip A and the right half already clip B.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from pydantic import ValidationError

import nbvideo as nv
from nbvideo.media import xfade
from nbvideo.media.ffmpeg import ffmpeg_exe, probe
from nbvideo.model.state import ProjectState, Transition
from nbvideo.model.transitions import FAMILIES, TRANSITIONS, canonical
from nbvideo.render.engine import RenderClip, RenderSpec, export_timeline, plan_duration
from nbvideo.render.segments import Part, Piece
from nbvideo.render.smart_render import export_smart

FPS = 30
W, H = 320, 180

# The transition names of ffmpeg 4.3, the first release with xfade.
FFMPEG_43_NAMES = ["fade", "wipeleft", "wiperight", "wipeup", "wipedown", "slideleft",
                   "slideright", "slideup", "slidedown", "circlecrop", "rectcrop", "distance",
                   "fadeblack", "fadewhite", "radial", "smoothleft", "smoothright", "smoothup",
                   "smoothdown", "circleopen", "circleclose", "vertopen", "vertclose",
                   "horzopen", "horzclose", "dissolve", "pixelize", "diagtl", "diagtr", "diagbl",
                   "diagbr"]


def _help(names: list[str]) -> str:
    """xfade's help in the layout ffmpeg prints it, for these transition names."""
    rows = "".join(f"     {n:<15} {i:<12} ..FV....... {n} transition\n"
                   for i, n in enumerate(names))
    return ("Filter xfade\n  Cross fade one video with another video.\nxfade AVOptions:\n"
            f"   transition        <int>        ..FV....... set cross fade transition "
            f"(from -1 to {len(names) - 1}) (default fade)\n"
            f"     custom          -1           ..FV....... custom transition\n{rows}"
            "   duration          <duration>   ..FV....... set cross fade duration (default 1)\n")


@pytest.fixture
def board(fresh: nv.Project) -> nv.Project:
    """A project with a storyboard (no clips): enough to set transitions on."""
    fresh.storyboard()
    return fresh


# ---------------------------------------------------------------- names
def test_every_xfade_name_of_the_bundled_ffmpeg_is_offered_with_a_family_and_a_description():
    have = xfade.xfade_names()
    assert {"fade", "wipeleft", "slideleft", "circleopen", "radial", "pixelize"} <= have
    assert "custom" not in have
    offered = nv.transitions(strips=False)
    names = list(offered["name"])
    known = {t.xfade for t in TRANSITIONS.values() if t.xfade}
    assert have <= known, f"describe the new xfade names: {sorted(have - known)}"
    # every name ffmpeg has (fade under the name users have: crossfade) and ours
    assert {("crossfade" if n == "fade" else n) for n in have} | {
        "cut", "dip_black", "dip_white", "whip"} == set(names)
    assert len(names) == len(set(names))
    assert set(offered["family"]) <= set(FAMILIES)
    assert all(10 < len(d) <= 90 for d in offered["description"])
    assert list(offered.columns) == ["name", "family", "description"]


def test_the_names_come_from_the_ffmpeg_that_renders_them(monkeypatch: pytest.MonkeyPatch,
                                                          board: nv.Project) -> None:
    """An older ffmpeg (4.3: 31 names) offers only what it has; a newer name is refused
    naming close ones it does have."""
    assert xfade.parse_xfade_help(_help(FFMPEG_43_NAMES)) == set(FFMPEG_43_NAMES)
    assert xfade.parse_xfade_help("Unknown filter 'xfade'.\n") == frozenset()
    monkeypatch.setattr(xfade, "xfade_names", lambda: frozenset(FFMPEG_43_NAMES))
    have = xfade.available_transitions()
    assert "coverleft" not in have and "wipeleft" in have and "whip" in have
    with pytest.raises(nv.InvalidInput,
                       match=r"'coverleft'; did you mean 'wipeleft', 'slideleft'"):
        board.set_transition(1, "coverleft", 0.5)


def test_fade_is_stored_as_crossfade_and_case_does_not_matter() -> None:
    assert Transition(kind="fade", duration_s=0.5).kind == "crossfade"
    assert Transition(kind=" WipeLeft ", duration_s=0.5).kind == "wipeleft"
    assert canonical("dip-black") == "dip_black"
    assert canonical("nope") is None


@pytest.mark.parametrize(("name", "suggests"), [("wipe", "'wipeleft', 'wiperight'"),
                                                ("sldeleft", "'slideleft'"),
                                                ("dip", "'dip_black', 'dip_white'"),
                                                ("circle_open", "'circleopen'")])
def test_an_unknown_name_is_refused_listing_close_matches(board: nv.Project, name: str,
                                                          suggests: str) -> None:
    with pytest.raises(nv.InvalidInput, match=f"got '{name}'; did you mean {suggests}"):
        board.set_transition(1, name, 0.5)
    with pytest.raises(ValidationError, match=f"did you mean {suggests}"):
        Transition(kind=name, duration_s=0.5)
    assert board.timeline.to_pandas()["transition"][0] == "cut"  # nothing changed


def test_every_named_transition_takes_the_crossfade_bounds(board: nv.Project) -> None:
    board.set_transition(1, "WIPELEFT", 0.5)
    table = board.timeline.to_pandas()
    assert (table["transition"][0], table["transition_s"][0]) == ("wipeleft", 0.5)
    # a transition overlaps the clips like a crossfade: the film is shorter by the overlap
    cut_s = float(table["end_s"].iloc[-1]) + 0.5
    board.set_transition(1, "whip", 0.5)
    assert float(board.timeline.to_pandas()["end_s"].iloc[-1]) == pytest.approx(cut_s - 0.5)
    with pytest.raises(nv.InvalidInput, match="duration_s of a dip_black must be from one "
                                              "frame to 3 s, got 5"):
        board.set_transition(1, "dip_black", 5)
    with pytest.raises(nv.InvalidInput, match="duration_s of a whip must be"):
        board.set_transition(1, "whip", 0)
    with pytest.raises(ValidationError, match="a cut has no duration"):
        Transition(kind="cut", duration_s=0.5)
    with pytest.raises(ValidationError, match="a pixelize needs duration_s > 0"):
        Transition(kind="pixelize")
    board.set_transitions("dip_white", 0.4)
    assert set(board.timeline.to_pandas()["transition"][:-1]) == {"dip_white"}
    saved = json.loads((board.path / "project.json").read_text())
    assert {e["transition"]["kind"] for e in saved["timeline"]["edits"].values()} == {"dip_white"}
    board.set_transition(1, "cut", 0.7)  # a cut's duration is ignored, as before
    assert board.timeline.to_pandas()["transition_s"][0] == 0.0


def test_a_project_saved_with_crossfades_loads_unchanged(rendered: nv.Project) -> None:
    rendered.set_transitions("crossfade", 0.5)
    raw = json.loads((rendered.path / "project.json").read_text())
    edits = raw["timeline"]["edits"]
    assert {json.dumps(e["transition"]) for e in edits.values()} == {
        '{"kind": "crossfade", "duration_s": 0.5}'}
    state = ProjectState.model_validate(raw)
    assert state.model_dump(mode="json")["timeline"] == raw["timeline"]


def test_a_piece_key_changes_with_its_transition_and_a_crossfade_keeps_its_old_key() -> None:
    """The smart-export cache key: a crossfade's key is what it was before names existed (a
    cache filled then still serves), and another name over the same frames is another key."""
    def piece(kind: str) -> Piece:
        return Piece("encode", 75, 45, (Part(0, 75, 15, 15, kind), Part(1, 0, 30, 0)))

    keys = ["m0", "m1"]
    old = hashlib.sha256(json.dumps(
        ["p", [("m0", 75, 15, 15), ("m1", 0, 30, 0)]]).encode()).hexdigest()[:24]
    assert piece("crossfade").key(keys, "p", None) == old
    assert len({piece(k).key(keys, "p", None) for k in ("crossfade", "wipeleft", "whip")}) == 3


# ---------------------------------------------------------------- rendering
def _card(path: Path, hue: int, pattern: str) -> Path:
    """A moving test pattern: testsrc2 (A) or a mandelbrot (B), distinct everywhere."""
    src = (f"testsrc2=size={W}x{H}:rate={FPS}:duration=2,hue=h={hue}" if pattern == "a"
           else f"mandelbrot=size={W}x{H}:rate={FPS},trim=duration=2,hue=h={hue}")
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", src, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("transition-src")
    return {"a": _card(d / "a.mp4", 0, "a"), "b": _card(d / "b.mp4", 90, "b"),
            "c": _card(d / "c.mp4", 200, "a"), "d": _card(d / "d.mp4", 300, "b")}


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(np.float32) for f in c.decode(video=0)]


def _off(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _export(cards: dict[str, Path], kind: str, out: Path, seconds: float = 0.5) -> Path:
    clips = [RenderClip(path=cards["a"], duration_s=2,
                        transition=Transition(kind=kind, duration_s=seconds)),
             RenderClip(path=cards["b"], duration_s=2)]
    result = export_timeline(clips, RenderSpec(aspect="16:9", resolution="720p", fps=FPS,
                                               out=out, preset="ultrafast", crf=12))
    assert result.frames == plan_duration(clips, FPS)[0]
    return result.path


def _scaled(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Source frames at the export's 1280x720, to compare pixel for pixel."""
    from PIL import Image

    return [np.asarray(Image.fromarray(f.astype(np.uint8)).resize((1280, 720),
                                                                  Image.BILINEAR),
                       dtype=np.float32) for f in frames]


@pytest.fixture(scope="module")
def sources(cards: dict[str, Path]) -> dict[str, list[np.ndarray]]:
    return {k: _scaled(_frames(cards[k])) for k in ("a", "b")}


@pytest.mark.slow
def test_a_wipeleft_shows_clip_a_on_the_left_and_clip_b_on_the_right_at_its_midpoint(
        cards: dict[str, Path], sources: dict[str, list[np.ndarray]], tmp_path: Path) -> None:
    out = _export(cards, "wipeleft", tmp_path / "wipe.mp4")
    info = probe(out)
    assert info.frames == 60 + 60 - 15 and info.duration_s == pytest.approx(4.0 - 0.5)
    film, a, b = _frames(out), sources["a"], sources["b"]
    mid = 45 + 7  # the transition is output frames 45..59; clip A's 45..59 under clip B's 0..14
    left, right = (slice(None), slice(0, 560)), (slice(None), slice(720, None))
    assert _off(film[mid][left], a[mid][left]) < 6 < _off(film[mid][left], b[7][left])
    assert _off(film[mid][right], b[7][right]) < 6 < _off(film[mid][right], a[mid][right])
    # outside the transition the film is the sources themselves
    assert _off(film[44], a[44]) < 6 and _off(film[60], b[15]) < 6


@pytest.mark.slow
def test_dip_black_is_black_at_the_midpoint_and_the_sources_around_it(
        cards: dict[str, Path], sources: dict[str, list[np.ndarray]], tmp_path: Path) -> None:
    out = _export(cards, "dip_black", tmp_path / "dip.mp4")
    film, a, b = _frames(out), sources["a"], sources["b"]
    assert len(film) == 105
    assert film[45 + 7].mean() < 3 and film[45 + 7].max() < 20  # k // 2 = 7: pure black
    assert film[45 + 3].mean() < a[48].mean() * 0.8 and film[45 + 11].mean() > 3  # fading
    assert _off(film[45], a[45]) < 6 and _off(film[44], a[44]) < 6 and _off(film[60], b[15]) < 6
    white = _frames(_export(cards, "dip_white", tmp_path / "white.mp4"))
    assert white[45 + 7].mean() > 250


@pytest.mark.slow
def test_a_whip_differs_from_both_clips_at_its_midpoint_and_matches_them_outside(
        cards: dict[str, Path], sources: dict[str, list[np.ndarray]], tmp_path: Path) -> None:
    out = _export(cards, "whip", tmp_path / "whip.mp4")
    film, a, b = _frames(out), sources["a"], sources["b"]
    mid = film[45 + 7]
    assert _off(mid, a[52]) > 20 and _off(mid, b[7]) > 20
    # the midpoint is smeared sideways: its horizontal edges are far softer than either
    # source's, the vertical ones are not (gradient energy: a blur spreads a step, so the
    # plain sum of differences would stay the same)
    def detail(f: np.ndarray, axis: int) -> float:
        return float((np.diff(f, axis=axis) ** 2).mean())
    def sideways(f: np.ndarray) -> float:
        return detail(f, 1) / detail(f, 0)
    assert detail(mid, 1) < 0.25 * min(detail(a[52], 1), detail(b[7], 1))
    assert sideways(mid) < 0.6 * min(sideways(a[52]), sideways(b[7]))
    for k in (0, 30, 44):
        assert _off(film[k], a[k]) < 6
    for k in (60, 90, 104):
        assert _off(film[k], b[k - 45]) < 6


@pytest.mark.slow
def test_an_old_crossfade_exports_with_the_same_filter_as_before(cards: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    old = Transition.model_validate({"kind": "crossfade", "duration_s": 0.5})
    clips = [RenderClip(path=cards["a"], duration_s=2, transition=old),
             RenderClip(path=cards["b"], duration_s=2)]
    result = export_timeline(clips, RenderSpec(aspect="16:9", resolution="720p", fps=FPS,
                                               out=tmp_path / "x.mp4", preset="ultrafast"))
    graph = result.command[result.command.index("-filter_complex") + 1]
    # the line the engine wrote before there were other transitions, unchanged
    assert "[t0][h1]xfade=transition=fade:duration=0.500000:offset=0,format=yuv420p[x1]" in graph
    assert graph.count("xfade") == 1 and result.frames == 105


@pytest.mark.slow
def test_smart_export_re_renders_only_the_join_whose_transition_changed(
        cards: dict[str, Path], tmp_path: Path) -> None:
    def clips(kinds: list[str]) -> list[RenderClip]:
        return [RenderClip(path=cards[c], duration_s=2,
                           transition=Transition(kind=k, duration_s=0.5))
                for c, k in zip("abcd", [*kinds, "crossfade"])]

    cache = tmp_path / "cache"

    def spec(name: str) -> RenderSpec:
        return RenderSpec(aspect="16:9", resolution="720p", fps=FPS, out=tmp_path / name,
                          preset="ultrafast")

    first = export_smart(clips(["crossfade"] * 3), spec("a.mp4"), cache)
    assert (first.mode, first.segments_encoded, first.mezzanines_built) == ("smart", 3, 4)
    edited = clips(["crossfade", "whip", "crossfade"])
    second = export_smart(edited, spec("b.mp4"), cache)
    assert (second.segments_encoded, second.segments_cached, second.mezzanines_built) == (1, 2, 0)
    assert second.seconds_encoded < 1.0 and second.frames == first.frames == 4 * 60 - 3 * 15
    full = export_timeline(edited, spec("full.mp4"))
    smart_frames, full_frames = _frames(second.path), _frames(full.path)
    assert len(smart_frames) == len(full_frames)
    worst = max(_off(x, y) for x, y in zip(smart_frames, full_frames))
    assert worst < 3, worst  # the same pictures (two lossy encodes of them)
    whip_mid = 2 * 45 + 7  # the second join's midpoint: the whip, not a crossfade
    assert _off(smart_frames[whip_mid], _frames(first.path)[whip_mid]) > 10
    # changing it again to another name renders that join again, and only it
    third = export_smart(clips(["crossfade", "dip_black", "crossfade"]), spec("c.mp4"), cache)
    assert (third.segments_encoded, third.segments_cached) == (1, 2)
    assert _frames(third.path)[whip_mid].mean() < 3


# ---------------------------------------------------------------- strips
@pytest.mark.slow
def test_nv_transitions_shows_a_strip_for_each_made_once_and_cached(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from PIL import Image

    monkeypatch.setenv("NBVIDEO_CACHE_DIR", str(tmp_path / "cache"))
    table = nv.transitions()
    assert list(table.columns) == ["name", "family", "description", "strip"]
    assert len(table) == len(xfade.available_transitions())
    paths = dict(zip(table["name"], map(Path, table["strip"])))
    assert all(p.is_file() and p.is_relative_to(tmp_path / "cache") for p in paths.values())

    def tiles(name: str) -> list[np.ndarray]:
        with Image.open(paths[name]) as im:
            assert im.size == (5 * 96 + 4 * 2, 54)
            px = np.asarray(im.convert("RGB"), dtype=np.float32)
        return [px[:, k * 98:k * 98 + 96] for k in range(5)]

    dip, wipe, cut = tiles("dip_black"), tiles("wipeleft"), tiles("cut")
    assert dip[2].max() < 30 and dip[0].mean() > 60  # black at the midpoint, card A first
    assert _off(cut[0], cut[1]) < 3 and _off(cut[0], cut[4]) > 40  # A, A, then B
    assert _off(wipe[0], cut[0]) < 3 and _off(wipe[2][:, :30], cut[0][:, :30]) < 3
    assert _off(wipe[2][:, 66:], cut[4][:, 66:]) < 3
    html = table._repr_html_()
    assert html.count("data:image/png;base64,") == len(table) and "dip_white" in html
    before = {n: p.stat().st_mtime_ns for n, p in paths.items()}
    again = nv.transitions(family="dip")
    assert list(again["name"]) == ["dip_black", "dip_white"]
    assert {n: Path(p).stat().st_mtime_ns for n, p in zip(again["name"], again["strip"])} == {
        n: before[n] for n in ("dip_black", "dip_white")}
    with pytest.raises(nv.InvalidInput, match="family must be one of cut, fade, dip"):
        nv.transitions(family="wipes")


@pytest.mark.slow
def test_the_timeline_widget_offers_every_name_and_sends_the_chosen_ones_strip(
        rendered: nv.Project, wire: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("anywidget")
    from nbvideo.widgets.timeline import Timeline
    from tests.wire import send

    monkeypatch.setenv("NBVIDEO_CACHE_DIR", str(tmp_path / "cache"))
    tl = Timeline(rendered)
    offered = [t["name"] for t in tl.info["transitions"]]
    assert offered == xfade.available_transitions()
    send(tl, "set_transition", scene=tl.clips[0].key, transition="circleopen", duration_s=0.5)
    assert tl.clips[0].clip["transition"] == {"kind": "circleopen", "duration_s": 0.5}
    mark = wire.mark()
    send(tl, "transition_strip", name="circleopen")
    tl.settle()
    (reply,) = wire.replies(mark)
    assert reply["ok"] and reply["result"] == {"name": "circleopen"}
    assert reply["buffers"][0][:8] == b"\x89PNG\r\n\x1a\n"
    mark = wire.mark()
    send(tl, "transition_strip", name="circle")
    tl.settle()
    (reply,) = wire.replies(mark)
    assert not reply["ok"] and "did you mean 'circleopen', 'circleclose', 'circlecrop'" in (
        reply["error"])
