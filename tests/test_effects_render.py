"""What a viewer sees and hears of per-item effects: exact frame counts after speed, ramp and
freeze (full and smart export alike), a reversed clip starting on the source's last frame,
looks and LUTs changing colour as they should, vignette, blur, the reframe focus moving the
crop, Ken Burns moving the view, sound at 2x with its pitch kept, and a smart re-export
after one scene's effects changed re-making only that scene."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import av
import numpy as np
import pytest

import nbvideo as nv
from nbvideo.media.effects import effect_sound
from nbvideo.media.ffmpeg import ffmpeg_exe, probe
from nbvideo.model.effects import Effects
from nbvideo.render.engine import RenderClip, RenderSpec, export_timeline
from nbvideo.render.smart_render import export_smart

pytestmark = pytest.mark.slow

FPS = 30


def _make(path: Path, source: str, seconds: float = 3.0, audio: str | None = None) -> Path:
    args = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi",
            "-i", f"{source}:rate={FPS}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", audio, "-c:a", "aac", "-shortest"]
    subprocess.run([*args, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fx")
    return {
        "test": _make(d / "test.mp4", "testsrc2=size=640x360"),
        "tone": _make(d / "tone.mp4", "testsrc2=size=320x180", 2.0,
                      "sine=frequency=440:sample_rate=48000:duration=2"),
    }


def _halves(d: Path) -> Path:
    """Left half red, right half blue: where a crop lands shows in its colour."""
    out = d / "halves.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c=red:size=320x360:rate={FPS}:duration=1", "-f", "lavfi", "-i",
                    f"color=c=blue:size=320x360:rate={FPS}:duration=1", "-filter_complex",
                    "[0:v][1:v]hstack", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)],
                   check=True)
    return out


def frames(path: Path) -> list[np.ndarray]:
    """Every frame as RGB in int16: differences of pixels are exact and signed, and a mean is
    taken in float64 as numpy does for any integer array; a quarter of float64's memory and
    time (the speed-ramp film is some 270 frames of 720p)."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]


def spec(out: Path, aspect: str = "16:9") -> RenderSpec:
    return RenderSpec(aspect=aspect, resolution="720p", fps=FPS, out=out)  # type: ignore[arg-type]


def clip(path: Path, fx: Effects | None, trim_in: float = 0.5, trim_out: float = 0.5,
         seconds: float = 3.0, lut: Path | None = None) -> RenderClip:
    return RenderClip(path=path, duration_s=seconds, trim_in_s=trim_in, trim_out_s=trim_out,
                      effects=fx, lut=lut)


def test_speed_ramp_freeze_and_reverse_render_exactly_their_frames(
        media: dict[str, Path], tmp_path: Path) -> None:
    fxs = [Effects(speed=2), Effects(speed=0.5),
           Effects(ramp=[{"at": 0, "speed": 1}, {"at": 0.5, "speed": 0.4}, {"at": 1, "speed": 1}]),
           Effects(reverse=True, freeze={"at_s": 0.5, "hold_s": 0.4})]
    clips = [clip(media["test"], fx) for fx in fxs]
    want = [fx.frames(2.0, FPS) for fx in fxs]
    assert want == [30, 120, round(2 * 1.0 * np.log(0.4) / (0.4 - 1) * FPS), 72]
    full = export_timeline(clips, spec(tmp_path / "full.mp4"))
    smart = export_smart(clips, spec(tmp_path / "smart.mp4"), tmp_path / "cache")
    for r in (full, smart):
        assert probe(r.path).frames == sum(want)  # counted by decoding
        assert r.duration_s == pytest.approx(sum(want) / FPS, abs=1e-3)
    assert smart.mode == "smart" and smart.fallback is None
    # the smart film is the full one, frame for frame (both from the same chain)
    a, b = frames(full.path), frames(smart.path)
    assert max(np.abs(x - y).mean() for x, y in zip(a, b)) < 3.0


def test_a_reversed_clip_starts_on_the_last_frame_of_its_window(
        media: dict[str, Path], tmp_path: Path) -> None:
    plain = frames(export_timeline([clip(media["test"], None)], spec(tmp_path / "p.mp4")).path)
    rev = frames(export_timeline([clip(media["test"], Effects(reverse=True))],
                                 spec(tmp_path / "r.mp4")).path)
    assert len(rev) == len(plain) == 60
    assert np.abs(rev[0] - plain[-1]).mean() < 3.0
    assert np.abs(rev[-1] - plain[0]).mean() < 3.0
    assert np.abs(rev[0] - plain[0]).mean() > 10.0  # the content moves: this is not the start
    # a freeze holds its frame: frames at_s .. at_s + hold_s are one picture
    fz = frames(export_timeline([clip(media["test"], Effects(freeze={"at_s": 1.0,
                                                                      "hold_s": 0.5}))],
                                spec(tmp_path / "f.mp4")).path)
    assert len(fz) == 75
    assert all(np.abs(fz[k] - fz[30]).mean() < 1.0 for k in range(30, 46))
    assert np.abs(fz[46] - plain[31]).mean() < 3.0 and np.abs(fz[29] - plain[29]).mean() < 3.0


def _cube(path: Path, fn, n: int = 9) -> Path:
    rows = []
    for b in range(n):
        for g in range(n):
            for r in range(n):
                rows.append(" ".join(f"{v:.6f}" for v in fn(r / (n - 1), g / (n - 1),
                                                             b / (n - 1))))
    path.write_text(f"LUT_3D_SIZE {n}\n" + "\n".join(rows) + "\n")
    return path


def test_looks_luts_vignette_and_blur_change_the_picture_as_they_say(
        media: dict[str, Path], tmp_path: Path) -> None:
    ident = _cube(tmp_path / "id.cube", lambda r, g, b: (r, g, b))
    swap = _cube(tmp_path / "swap.cube", lambda r, g, b: (b, g, r))  # red <-> blue
    cases = [None, Effects(look="mono"), Effects(lut="id.cube"), Effects(lut="swap.cube"),
             Effects(vignette=0.8), Effects(blur=8), Effects(look="warm")]
    luts = [None, None, ident, swap, None, None, None]
    clips = [clip(media["test"], fx, 0.5, 2.0, lut=lut) for fx, lut in zip(cases, luts)]
    fr = frames(export_timeline(clips, spec(tmp_path / "looks.mp4")).path)
    assert len(fr) == 15 * len(cases)
    plain, mono, same, swapped, vig, blur, warm = (fr[15 * k + 7] for k in range(len(cases)))
    # mono: no colour left anywhere
    assert np.abs(mono[..., 0] - mono[..., 1]).mean() < 2.0
    assert np.abs(mono[..., 2] - mono[..., 1]).mean() < 2.0
    assert np.abs(plain[..., 0] - plain[..., 2]).mean() > 20.0  # the source has colour
    # an identity LUT leaves the pixels; a swap LUT swaps red and blue
    assert np.abs(same - plain).mean() < 2.0
    assert np.abs(swapped[..., 0] - plain[..., 2]).mean() < 4.0
    assert np.abs(swapped[..., 2] - plain[..., 0]).mean() < 4.0
    # vignette: corners darker, the centre as it was

    def corner(f: np.ndarray) -> float:
        return float(np.mean([f[:60, :60].mean(), f[:60, -60:].mean(),
                              f[-60:, :60].mean(), f[-60:, -60:].mean()]))
    assert corner(vig) < 0.75 * corner(plain)
    assert np.abs(vig[330:390, 610:670] - plain[330:390, 610:670]).mean() < 4.0
    # blur: far less edge energy

    def edges(f: np.ndarray) -> float:
        g = f.mean(axis=2)
        return float(np.abs(np.diff(g, axis=1)).mean() + np.abs(np.diff(g, axis=0)).mean())
    assert edges(blur) < 0.6 * edges(plain)
    # warm: redder and less blue than the source
    assert warm[..., 0].mean() > plain[..., 0].mean() + 3
    assert warm[..., 2].mean() < plain[..., 2].mean() - 3


def test_the_focus_point_moves_a_crop_to_another_aspect(
        media: dict[str, Path], tmp_path: Path) -> None:
    src = _halves(tmp_path)

    def middle(fx: Effects | None) -> np.ndarray:
        r = export_timeline([RenderClip(path=src, duration_s=1.0, effects=fx)],
                            spec(tmp_path / "crop.mp4", "9:16"))
        f = frames(r.path)[5]
        assert f.shape[:2] == (1280, 720)
        return f.reshape(-1, 3).mean(axis=0)

    centre = middle(None)  # half red, half blue
    assert centre[0] > 80 and centre[2] > 80
    left = middle(Effects(focus={"9:16": {"x": 0.1, "y": 0.5}}))
    right = middle(Effects(focus={"9:16": {"x": 0.9, "y": 0.5}}))
    assert left[0] > 200 and left[2] < 30  # all red
    assert right[2] > 200 and right[0] < 30  # all blue
    # a focus for another aspect does nothing here
    assert np.abs(middle(Effects(focus={"1:1": {"x": 0.1, "y": 0.5}})) - centre).max() < 3


def test_ken_burns_moves_from_its_start_view_to_its_end_view(
        media: dict[str, Path], tmp_path: Path) -> None:
    plain = frames(export_timeline([clip(media["test"], None)], spec(tmp_path / "p.mp4")).path)
    kb = Effects(ken_burns={"start_zoom": 1.0, "end_zoom": 2.0, "end_x": 0.25, "end_y": 0.25})
    fr = frames(export_timeline([clip(media["test"], kb)], spec(tmp_path / "kb.mp4")).path)
    assert len(fr) == 60
    assert np.abs(fr[0] - plain[0]).mean() < 4.0  # zoom 1: the whole frame
    # the end: the top-left quarter of the frame, doubled
    quarter = plain[-1][:360, :640].repeat(2, axis=0).repeat(2, axis=1)
    assert np.abs(fr[-1] - quarter).mean() < 12.0
    assert np.abs(fr[-1] - plain[-1]).mean() > 20.0


def _dominant_hz(path: Path) -> tuple[float, float]:
    with wave.open(str(path)) as w:
        rate, n = w.getframerate(), w.getnframes()
        x = np.frombuffer(w.readframes(n), dtype="<i2").astype(float)
    spec_ = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spec_.argmax()]), n / rate


def test_sound_at_twice_the_speed_keeps_its_pitch(media: dict[str, Path], tmp_path: Path) -> None:
    hz, seconds = _dominant_hz(effect_sound(media["tone"], tmp_path / "1x.wav", 0.0, 2.0,
                                            Effects(reverse=True), FPS))
    assert seconds == pytest.approx(2.0, abs=1e-4) and hz == pytest.approx(440, abs=3)
    hz, seconds = _dominant_hz(effect_sound(media["tone"], tmp_path / "2x.wav", 0.0, 2.0,
                                            Effects(speed=2), FPS))
    assert seconds == pytest.approx(1.0, abs=1e-4)  # half as long
    assert hz == pytest.approx(440, abs=3)  # the same note, not an octave up
    hz, seconds = _dominant_hz(effect_sound(media["tone"], tmp_path / "q.wav", 0.0, 2.0,
                                            Effects(speed=0.25), FPS))
    assert seconds == pytest.approx(8.0, abs=1e-4) and hz == pytest.approx(440, abs=3)
    ramp = Effects(ramp=[{"at": 0, "speed": 1}, {"at": 0.5, "speed": 0.4}, {"at": 1, "speed": 1}],
                   freeze={"at_s": 0.5, "hold_s": 0.5})
    hz, seconds = _dominant_hz(effect_sound(media["tone"], tmp_path / "r.wav", 0.0, 2.0, ramp,
                                            FPS))
    assert seconds == pytest.approx(ramp.frames(2.0, FPS) / FPS, abs=1e-4)
    assert hz == pytest.approx(440, abs=3)


def test_a_smart_re_export_after_one_scenes_effects_remakes_only_that_scene(
        old: nv.Project) -> None:
    first = old.export("fx", formats=["16:9"])[0]
    assert first.render is not None and first.render.mode == "smart"
    old.timeline.effects(3, speed=0.5, look="mono")  # the last scene, after a cut
    fps = old.state.brief.fps
    again = old.export("fx", formats=["16:9"])[0]
    r = again.render
    assert r is not None and r.mode == "smart" and r.fallback is None
    assert r.mezzanines_built == 1  # only scene 3's clip was made again, with its effects
    assert r.segments_copied >= first.render.segments_copied
    assert again.frames == round(old.timeline.duration_s * fps)
    assert probe(old.path / again.path).frames == again.frames
    # scene 3 is grey now; scenes 1 and 2 are as they were
    fr = frames(old.path / again.path)
    start3 = round(float(old.timeline.to_pandas().iloc[2]["start_s"]) * fps)
    f3 = fr[start3 + 3]
    assert np.abs(f3[..., 0] - f3[..., 2]).mean() < 2.5
    # the same export made in one filter graph has the same frames
    full = old.export("fx-full", formats=["16:9"], smart=False)[0]
    assert full.frames == again.frames
    ff = frames(old.path / full.path)
    assert max(np.abs(a - b).mean() for a, b in zip(fr, ff)) < 3.0


def test_overlay_items_play_with_their_effects(old: nv.Project) -> None:
    from PIL import Image

    clip_rel = next(old.path.glob("assets/clips/*.mp4")).relative_to(old.path).as_posix()
    item = old.timeline.add_clip(clip_rel, 0.5, 1.0, x=0.25, y=0.5, width=0.4)
    old.timeline.effects(item.id, speed=0.5, look="mono")  # 1 s of file over 2 s of film
    Image.new("RGB", (160, 90), (255, 0, 0)).save(old.path / "assets" / "still.png")
    still = old.timeline.add_image("assets/still.png", 0.0, 2.0, x=0.75, y=0.5, width=0.4)
    old.timeline.effects(still.id, vignette=1.0)
    rec = old.export("items", formats=["16:9"])[0]
    fps = old.state.brief.fps
    assert old.timeline.item(item.id).duration_s == 2.0
    fr = frames(old.path / rec.path)
    assert len(fr) == rec.frames == round(old.timeline.duration_s * fps)
    f = fr[round(1.0 * fps)]
    px = f[340:380, 300:340]  # inside the mono clip item
    assert np.abs(px[..., 0] - px[..., 2]).mean() < 3.0
    box = f[int(0.5 * 720) - 80:int(0.5 * 720) + 80, int(0.75 * 1280) - 250:int(0.75 * 1280) + 250]
    centre = f[355:365, 955:965].mean(axis=(0, 1))
    assert centre[0] > 200  # the still's middle is still red
    assert box[:8, :8].mean() < centre.mean()  # its corners darker (vignette)
