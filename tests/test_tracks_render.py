"""What a viewer sees and hears from the tracks: overlay items in the exported frames exactly
during their span (across a cut), keyframed opacity frame-exact, text drawn, blend modes,
audio items' gain and fades in the decoded sound, mute and solo, and a project saved before
tracks exporting the same picture and sound as it did."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import nbvideo as nv
from nbvideo.media.audio_io import SAMPLE_RATE, decode, write_wav
from tests.conftest import PROJECT_V4

pytestmark = pytest.mark.slow

FPS = 12  # the fixture's
W, H = 1280, 720


def frames(path: Path) -> list[np.ndarray]:
    """Every frame as RGB in int16: differences of pixels are exact and signed, means are
    taken in float64 as for any integer array, at a quarter of float64's memory and time."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]


def patch(frame: np.ndarray, x: float, y: float, r: int = 4) -> np.ndarray:
    """Mean RGB of a small square around (x, y), given as fractions of the frame."""
    cx, cy = round(x * W), round(y * H)
    return frame[cy - r:cy + r, cx - r:cx + r].reshape(-1, 3).mean(axis=0)


def export(p: nv.Project, name: str, smart: bool = True) -> Path:
    rec = p.export(name, formats=["16:9"], smart=smart)[0]
    return p.path / rec.path


def solid(p: nv.Project, name: str, rgb: tuple[int, int, int], size=(64, 32)) -> str:
    Image.new("RGBA", size, (*rgb, 255)).save(p.path / "assets" / name)
    return f"assets/{name}"


def is_red(px: np.ndarray) -> bool:
    return px[0] > 230 and px[1] < 30 and px[2] < 30


def test_a_logo_shows_at_its_place_only_during_its_span_across_a_cut(old: nv.Project) -> None:
    table = old.timeline.to_pandas()
    cut = float(table.iloc[1]["end_s"])  # scene 2 -> 3 is a cut
    assert table.iloc[1]["transition"] == "cut"
    start, end = cut - 1.0, cut + 1.0
    old.timeline.add_image(solid(old, "logo.png", (255, 0, 0)), start, end - start,
                           x=0.95, y=0.05, anchor="top-right", width=0.2)
    # the logo's box: right edge at 95% of the width, top at 5%, 20% of the width wide
    inside = (0.95 - 0.1, 0.05 + 0.05)
    for smart in (True, False):
        fr = frames(export(old, f"logo-{smart}", smart=smart))
        first, last = round(start * FPS), round(end * FPS) - 1
        shown = [n for n, f in enumerate(fr) if is_red(patch(f, *inside))]
        assert shown == list(range(first, last + 1)), smart
        assert round(cut * FPS) in shown  # across the cut
        outside = patch(fr[first], 0.95 - 0.1, 0.05 + 0.2)  # below the box: not red
        assert not is_red(outside)


def test_keyframed_opacity_is_exact_at_its_keyframes_and_halfway_linear(
        old: nv.Project) -> None:
    base = frames(export(old, "base"))
    item = old.timeline.add_image(solid(old, "white.png", (255, 255, 255), (64, 64)), 2.0, 2.0,
                                  x=0.3, y=0.7, width=0.2)
    old.timeline.keyframe(item.id, "opacity", 0.0, 0.0)
    old.timeline.keyframe(item.id, "opacity", 1.0, 1.0)
    fr = frames(export(old, "fade"))

    def alpha(n: int) -> float:
        b, got = patch(base[n], 0.3, 0.7), patch(fr[n], 0.3, 0.7)
        return float(((got - b) / (255 - b)).mean())

    assert alpha(24) == pytest.approx(0.0, abs=0.03)  # t0 = 2.0 s: the keyframe's 0
    assert alpha(30) == pytest.approx(0.5, abs=0.05)  # halfway, linear
    assert alpha(36) == pytest.approx(1.0, abs=0.03)  # t1 = 3.0 s: the keyframe's 1
    assert alpha(27) < alpha(30) < alpha(33)
    assert alpha(23) == pytest.approx(0.0, abs=0.03)  # before the item: not drawn
    assert alpha(47) == pytest.approx(1.0, abs=0.03)  # held at the last keyframe's value


def test_a_text_item_and_a_multiply_blend_are_drawn(old: nv.Project) -> None:
    base = frames(export(old, "base"))
    old.timeline.add_text("GO", 1.0, 1.0, x=0.5, y=0.5, color="#00ff00", size=0.3,
                          box="#00ff00")
    old.timeline.add_image(solid(old, "grey.png", (128, 128, 128), (64, 64)), 1.0, 1.0,
                           x=0.2, y=0.2, width=0.2, blend="multiply", track="V3")
    fr = frames(export(old, "text"))
    green = patch(fr[18], 0.5, 0.5)
    assert green[1] > 200 and green[0] < 40 and green[2] < 40
    assert not (patch(fr[25], 0.5, 0.5)[1] > 200 and patch(fr[25], 0.5, 0.5)[0] < 40)
    under, got = patch(base[18], 0.2, 0.2), patch(fr[18], 0.2, 0.2)
    np.testing.assert_allclose(got, under * 128 / 255, atol=6)  # multiply by mid grey
    np.testing.assert_allclose(patch(fr[25], 0.2, 0.2), patch(base[25], 0.2, 0.2), atol=4)


def _rms(x: np.ndarray, a: float, b: float) -> float:
    seg = x[round(a * SAMPLE_RATE):round(b * SAMPLE_RATE)]
    return float(np.sqrt(np.mean(seg ** 2)))


def test_audio_items_gain_fade_mute_and_solo_in_the_decoded_sound(old: nv.Project) -> None:
    tone = 0.25 * np.sin(2 * np.pi * 440 * np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE)
    write_wav(old.path / "assets" / "tone.wav", tone)
    tl = old.timeline
    tl.track("music", mute=True)  # the bed out of the way: only the items are heard
    tl.add_audio("assets/tone.wav", 0.5, 1.0)
    tl.add_audio("assets/tone.wav", 3.0, 1.5, gain_db=-12, fade_in_s=0.5)
    muted = tl.add_audio("assets/tone.wav", 2.0, 0.5, mute=True)
    pcm = decode(export(old, "sfx"), channels=1)[:, 0]
    loud = _rms(pcm, 0.6, 1.4)
    assert loud > 0.01
    assert 20 * np.log10(_rms(pcm, 3.6, 4.4) / loud) == pytest.approx(-12, abs=0.7)
    assert _rms(pcm, 1.7, 2.9) < loud / 100  # the muted item and the gaps are silent
    # the fade in: rising over its first 0.5 s, halfway at its middle
    steady = _rms(pcm, 3.6, 4.4)
    assert _rms(pcm, 3.0, 3.05) < 0.2 * steady
    assert _rms(pcm, 3.2, 3.3) / steady == pytest.approx(0.5, abs=0.1)
    # solo the voice track (empty): nothing is heard; un-solo, mute sfx: nothing either
    tl.set(muted.id, mute=False)
    tl.track("voice", solo=True)
    assert not old.export("solo", formats=["16:9"])[0].audio
    tl.track("voice", solo=False)
    tl.track("music", mute=False)
    tl.track("sfx", solo=True)  # the music (unmuted) is silenced by the solo
    pcm = decode(export(old, "solo-sfx"), channels=1)[:, 0]
    assert _rms(pcm, 1.7, 1.95) < loud / 100 and _rms(pcm, 2.1, 2.4) > loud / 10
    old.undo()  # un-solo: the music bed is back under everything
    pcm = decode(export(old, "bed"), channels=1)[:, 0]
    assert _rms(pcm, 1.7, 1.95) > loud / 100


def test_smart_export_re_encodes_only_around_the_item(old: nv.Project) -> None:
    export(old, "first")
    old.timeline.add_image(solid(old, "logo.png", (255, 0, 0)), 4.0, 0.5, x=0.8, y=0.2)
    again = old.export("first", formats=["16:9"])[0]
    assert again.render.mode == "smart" and again.render.segments_copied >= 1
    assert again.render.seconds_encoded < again.render.seconds_total
    fr = frames(old.path / again.path)
    assert is_red(patch(fr[50], 0.8, 0.2)) and not is_red(patch(fr[40], 0.8, 0.2))
    # a second item far from the first; then one of them changes: the other's piece is
    # found in the cache, only the changed one's is encoded again
    old.timeline.add_image(solid(old, "blue.png", (0, 0, 255)), 0.5, 0.5, x=0.2, y=0.2)
    both = old.export("first", formats=["16:9"])[0].render
    old.timeline.set(old.timeline.items["id"].iloc[0], opacity=0.5)
    one = old.export("first", formats=["16:9"])[0].render
    assert (both.segments_encoded, both.segments_cached) == (1, 1)  # the red one's was kept
    assert (one.segments_encoded, one.segments_cached) == (1, 1)
    assert one.seconds_encoded < one.seconds_total / 2


def test_a_project_saved_before_tracks_exports_the_same_picture_and_sound(
        old: nv.Project) -> None:
    saved = PROJECT_V4 / "exports" / "ad-16x9-720p.mp4"
    before = frames(saved)
    rec_before = old.state.exports[0]
    # The music's ending is the one thing meant to change (sound/ending.py: it now stops on a
    # beat); with the ending exports had then, everything is the same, end to end. The next
    # test checks the new ending against this same saved file.
    old.finish(music_ending="film")
    rec = old.export("ad", formats=["16:9"])[0]
    now = frames(old.path / rec.path)
    assert (rec.frames, rec.width, rec.height) == (rec_before.frames, rec_before.width,
                                                   rec_before.height)
    assert len(now) == len(before)
    assert max(float(np.abs(a - b).mean()) for a, b in zip(now, before)) < 1.0
    assert rec.loudness_lufs == pytest.approx(rec_before.loudness_lufs, abs=0.1)
    a, b = decode(saved, channels=1)[:, 0], decode(old.path / rec.path, channels=1)[:, 0]
    n = min(len(a), len(b))
    assert abs(len(a) - len(b)) < SAMPLE_RATE // 100
    # The sound is the same mix: the mastering that levels it changed (one numpy pass instead
    # of ffmpeg's loudnorm, sound/master.py), so compare the envelope, not the samples.
    win = SAMPLE_RATE // 10
    k = n // win

    def envelope(x: np.ndarray) -> np.ndarray:
        rms = np.sqrt((x[:k * win].reshape(k, win).astype(np.float64) ** 2).mean(axis=1))
        return 20 * np.log10(np.maximum(rms, 1e-6))

    ea, eb = envelope(a), envelope(b)
    heard = (ea > -45) & (eb > -45)
    assert heard.sum() > k // 2
    diff = np.abs(ea - eb)[heard]
    assert float(np.median(diff)) < 0.5 and float(np.quantile(diff, 0.95)) < 1.5


def _envelope_db(x: np.ndarray, win: int) -> np.ndarray:
    k = len(x) // win
    rms = np.sqrt((x[:k * win].reshape(k, win).astype(np.float64) ** 2).mean(axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-6))


def test_an_old_projects_music_now_stops_on_a_beat_and_is_the_same_before_it(
        old: nv.Project) -> None:
    saved = PROJECT_V4 / "exports" / "ad-16x9-720p.mp4"
    assert old.state.finishing.music_ending == "beat"  # opened with the default rule
    rec = old.export("ad", formats=["16:9"])[0]
    total = rec.duration_s
    beats = old.timeline.beats
    assert old.state.finishing.voice is None  # no voice-over: the last beat before the end
    end = max(b for b in beats if b <= total + 1e-6)
    assert total - end < 60 / old.timeline.tempo_bpm + 1e-6
    a, b = decode(saved, channels=1)[:, 0], decode(old.path / rec.path, channels=1)[:, 0]
    win = SAMPLE_RATE // 10
    ea, eb = _envelope_db(a, win), _envelope_db(b, win)
    # before the new fade begins (1.5 s before the beat) the sound is the mix it was
    n = int((end - 1.5) * 10)
    heard = (ea[:n] > -45) & (eb[:n] > -45)
    assert heard.sum() > n // 2
    diff = np.abs(ea[:n] - eb[:n])[heard]
    assert float(np.median(diff)) < 0.5 and float(np.quantile(diff, 0.95)) < 1.5
    # the fade reaches silence on the beat: nothing after it, where the old export still
    # had music; and the last 100 ms before it are already far down
    at = round(end * SAMPLE_RATE)
    after = b[at + SAMPLE_RATE // 100:]
    if len(after) > SAMPLE_RATE // 20:
        assert float(np.sqrt(np.mean(after ** 2))) < 10 ** (-70 / 20)
        assert float(np.sqrt(np.mean(a[at + SAMPLE_RATE // 100:] ** 2))) > 10 ** (-45 / 20)
    last = b[at - SAMPLE_RATE // 10:at]
    peak_db = 20 * np.log10(float(np.sqrt(np.mean(b[:at] ** 2))))
    assert 20 * np.log10(float(np.sqrt(np.mean(last ** 2))) + 1e-9) < peak_db - 15
