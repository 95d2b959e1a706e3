"""Audio tools on the timeline: waveforms (peak envelopes, cached by content), the music's
beats (the bed's known, a file's detected), snapping to cuts, edges, beats and words, and
where the music stops (on a beat after the last word). The maths here; the rendered sound
in test_ending_render.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nbvideo as nv
from nbvideo.edit.snap import SnapPoint, nearest, snap_move, snap_time
from nbvideo.errors import InvalidInput
from nbvideo.media.audio_io import SAMPLE_RATE, write_wav
from nbvideo.sound import waveform as wf
from nbvideo.sound.beats import bed_grid, detect_beats
from nbvideo.sound.ending import music_ending
from nbvideo.sound.music_bed import bed_beats, bed_tempo, synth_bed


def clicks(bpm: float, offset_s: float, seconds: float = 20.0) -> np.ndarray:
    x = np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)
    for t in np.arange(offset_s, seconds, 60 / bpm):
        i = round(t * SAMPLE_RATE)
        x[i:i + 240] += np.hanning(240)[:len(x) - i]
    return x


# --------------------------------------------------------------------------- waveforms

def test_peaks_are_the_min_and_max_of_each_bucket() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    x = np.where(t < 0.5, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0)
    p = wf.peaks(x, 10)
    assert p.shape == (10, 2)
    assert np.allclose(p[:5, 1], 0.5, atol=1e-3) and np.allclose(p[:5, 0], -0.5, atol=1e-3)
    assert not p[5:].any()  # the silent half is flat
    stereo = np.stack([x, -2 * x], axis=1)  # both channels count
    assert wf.peaks(stereo, 10)[0].tolist() == pytest.approx([-1.0, 1.0], abs=2e-3)
    assert wf.peaks(np.array([0.25]), 4)[:, 1].tolist() == [0.25] * 4  # fewer samples than buckets
    assert not wf.peaks(np.zeros(0), 8).any()
    with pytest.raises(InvalidInput, match="buckets must be a whole number"):
        wf.peaks(x, 0)


def test_a_file_waveform_is_cached_by_content_and_follows_an_edit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "tone.wav"
    x = np.concatenate([np.full(SAMPLE_RATE, 0.2), np.full(SAMPLE_RATE, 0.8)])
    write_wav(f, x)
    cache = tmp_path / "cache"
    whole = wf.file_waveform(f, cache_dir=cache, buckets=4)
    assert whole.duration_s == pytest.approx(2.0)
    assert whole.peaks[:, 1].tolist() == pytest.approx([0.2, 0.2, 0.8, 0.8], abs=1e-3)
    second = wf.file_waveform(f, cache_dir=cache, start_s=1.0, duration_s=2.0, buckets=2)
    assert second.peaks[:, 1].tolist() == pytest.approx([0.8, 0.0], abs=1e-3)  # past the end: silence
    assert len(list((cache / wf.WAVEFORM_DIR).glob("*.json"))) == 2

    def no_decoding(*a: object, **k: object) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(wf, "read_wav", no_decoding)
    monkeypatch.setattr(wf, "decode", no_decoding)
    again = wf.file_waveform(f, cache_dir=cache, buckets=4)
    assert again.key == whole.key and np.array_equal(again.peaks, whole.peaks)
    monkeypatch.undo()
    write_wav(f, -x)  # the same file rewritten: a new hash, read again
    changed = wf.file_waveform(f, cache_dir=cache, buckets=4)
    assert changed.key != whole.key and changed.peaks[:, 0].tolist()[-1] == pytest.approx(-0.8, abs=1e-3)
    assert len(whole.compact()) == 8 and max(whole.compact()) == 102  # 0.8 * 127


def test_a_file_that_is_not_sound_has_no_waveform(tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(InvalidInput, match="is not sound that can be decoded"):
        wf.file_waveform(bad)
    with pytest.raises(InvalidInput, match="no sound file at"):
        wf.file_waveform(tmp_path / "missing.wav")


# --------------------------------------------------------------------------- beats

def test_the_beds_tempo_is_known_and_its_drums_hit_on_its_beats() -> None:
    bed = synth_bed(8.0, seed=3, mood="driving")
    bpm = bed_tempo(seed=3, mood="driving")
    assert 116 <= bpm <= 128
    beats = bed_beats(8.0, seed=3, mood="driving")
    assert np.allclose(np.diff(beats), 60 / bpm, atol=1 / SAMPLE_RATE)
    # a kick or a clap starts on every beat: the 20 ms after it are louder than the 20 ms before
    mono = bed.mean(axis=1)
    for t in beats[1:-1]:
        i, w = round(t * SAMPLE_RATE), SAMPLE_RATE // 50
        assert np.abs(mono[i:i + w]).max() > np.abs(mono[i - w:i]).max()
    assert bed_tempo(seed=3, mood="calm", tempo_bpm=90) == 90.0
    with pytest.raises(InvalidInput, match="tempo_bpm must be within 40-200"):
        bed_tempo(tempo_bpm=300)


@pytest.mark.parametrize(("bpm", "offset"), [(93.0, 0.37), (120.0, 0.1), (76.0, 0.55)])
def test_beats_of_a_click_track_are_found_to_the_hundredth(bpm: float, offset: float) -> None:
    got = detect_beats(clicks(bpm, offset))
    assert got.source == "detected"
    assert got.tempo_bpm == pytest.approx(bpm, rel=0.005) or \
        got.tempo_bpm == pytest.approx(2 * bpm, rel=0.005)  # 76 BPM may be tapped double
    true = np.arange(offset, 20.0, 60 / bpm)
    err = np.abs(got.times[:, None] - true[None, :]).min(axis=1)
    on = err < 0.015
    assert on.mean() > 0.45 and np.median(err[on]) < 0.012
    assert got.times[0] < offset + 60 / bpm


@pytest.mark.parametrize(("mood", "seed"), [("upbeat", 3), ("driving", 7), ("upbeat", 11)])
def test_detection_finds_the_beds_own_beats(mood: str, seed: int) -> None:
    got = detect_beats(synth_bed(20.0, seed=seed, mood=mood))  # type: ignore[arg-type]
    known = bed_grid(20.0, seed=seed, mood=mood)  # type: ignore[arg-type]
    assert got.tempo_bpm == pytest.approx(known.tempo_bpm, rel=0.005)
    inner = got.times[(got.times > 0.5) & (got.times < 19.5)]
    err = np.abs(inner[:, None] - known.times[None, :]).min(axis=1)
    assert float(err.max()) < 0.02  # on the beats, not the offbeat hats


def test_noise_and_silence_have_no_beats() -> None:
    noise = np.random.default_rng(0).standard_normal(SAMPLE_RATE * 8).astype(np.float32) * 0.1
    assert detect_beats(noise).source == "none" and not len(detect_beats(noise).times)
    assert not len(detect_beats(np.zeros(SAMPLE_RATE * 4)).times)


# --------------------------------------------------------------------------- the ending

BEATS = np.arange(0.0, 30.01, 0.5)


def test_the_music_stops_on_the_first_beat_after_the_last_word_and_its_tail() -> None:
    e = music_ending(30.0, BEATS, last_word_s=22.3)
    assert (e.end_s, e.on_beat) == (23.0, True)  # 22.3 + 0.5 = 22.8 -> the beat at 23.0
    assert e.fade_s == pytest.approx(0.7) and e.fade_start_s == pytest.approx(22.3)
    long = music_ending(30.0, BEATS, last_word_s=10.0, tail_s=2.0)
    assert long.end_s == 12.0 and long.fade_s == 1.5  # the whole fade, ending on the beat


def test_the_music_never_runs_past_the_film_or_under_a_cut_word() -> None:
    e = music_ending(10.0, BEATS, last_word_s=9.3)  # no beat 0.5 s after: the last beat after
    assert e.end_s == 10.0 and e.on_beat and e.fade_s == pytest.approx(0.7)
    none = music_ending(10.0, BEATS, last_word_s=9.9)  # no beat after the word at all
    assert (none.end_s, none.on_beat, none.fade_s) == (10.0, False, 1.5)
    off = music_ending(10.5, np.arange(0.0, 11.0, 0.6), last_word_s=None)  # no voice-over
    assert off.end_s == pytest.approx(10.2) and off.fade_s == 1.5
    assert music_ending(7.0, [], last_word_s=3.0).end_s == 7.0  # no pulse: with the film
    assert music_ending(5.0, BEATS, last_word_s=1.0).end_s <= 5.0
    with pytest.raises(InvalidInput, match="film_s must be > 0"):
        music_ending(0.0, BEATS)


# --------------------------------------------------------------------------- snapping

PTS = [SnapPoint(0.0, "cut"), SnapPoint(2.0, "cut", "s2"), SnapPoint(2.04, "beat", "5"),
       SnapPoint(3.0, "word", "shoe"), SnapPoint(4.5, "edge", "i00000001")]


def test_snapping_takes_the_nearest_point_within_the_tolerance() -> None:
    assert nearest(PTS, 2.03, 0.1).kind == "beat"
    assert nearest(PTS, 2.02, 0.1).kind == "cut"  # a tie: the cut
    assert nearest(PTS, 3.2, 0.1) is None
    assert snap_time(PTS, 2.97) == 3.0 and snap_time(PTS, 3.5) == 3.5
    # a move sticks by whichever end is nearer a point
    assert snap_move(PTS, 1.95, 1.0) == 2.0  # start 0.05 from the cut
    assert snap_move(PTS, 3.47, 1.0) == pytest.approx(3.5)  # end 4.47 -> the edge at 4.5
    assert snap_move(PTS, 0.5, 0.7) == 0.5


def test_the_timeline_lists_its_snap_points_by_kind(old: nv.Project) -> None:
    pts = old.timeline.snap_points()
    assert list(pts.columns) == ["t_s", "kind", "label"]
    assert set(pts["kind"]) == {"cut", "beat"}  # no items, no spoken words yet
    cuts = pts[pts["kind"] == "cut"]["t_s"].tolist()
    assert cuts[0] == 0.0 and cuts[-1] == pytest.approx(old.timeline.duration_s)
    assert len(cuts) == len(old.timeline) + 1
    bpm = bed_tempo(seed=old.state.seed)
    assert old.timeline.tempo_bpm == bpm
    beats = old.timeline.beats
    assert pts[pts["kind"] == "beat"]["t_s"].tolist() == pytest.approx(beats, abs=1e-6)
    assert np.allclose(np.diff(beats), 60 / bpm, atol=1e-4)
    old.finish(music="none")
    assert old.timeline.beats == [] and old.timeline.tempo_bpm is None


def test_moving_and_trimming_with_snap_stick_to_a_beat_or_an_edge(old: nv.Project) -> None:
    write_wav(old.path / "assets" / "hit.wav", 0.5 * np.sin(np.arange(SAMPLE_RATE // 2) / 8))
    tl = old.timeline
    item = tl.add_audio("assets/hit.wav", 0.0, track="sfx")
    fps = old.state.brief.fps
    beats = [b for b in tl.beats if 1.0 < b < 3.5]
    target = beats[0]
    moved = tl.move(item.id, target + 0.06, snap=True)
    assert moved.start_s == pytest.approx(round(target * fps) / fps)  # the beat, on a frame
    free = tl.move(item.id, target + 0.06)  # without snap: where it was put
    assert free.start_s == pytest.approx(round((target + 0.06) * fps) / fps)
    other = tl.add_audio("assets/hit.wav", 3.0, duration_s=0.25, track="voice")
    trimmed = tl.trim(item.id, end_s=other.start_s - 0.05, snap=True)
    assert trimmed.end_s == pytest.approx(other.start_s)  # the other item's edge
    assert tl.trim(item.id, end_s=other.start_s - 0.3, snap=True).end_s == pytest.approx(
        round((other.start_s - 0.3) * fps) / fps)  # nothing near: as given
    with pytest.raises(InvalidInput, match="tolerance_s must be seconds from 0 to 5"):
        tl.move(item.id, 1.0, snap=True, tolerance_s=-1)


def test_waveforms_cover_each_sound_and_the_bed(old: nv.Project) -> None:
    tone = np.concatenate([np.zeros(SAMPLE_RATE // 2), 0.6 * np.ones(SAMPLE_RATE // 2)])
    write_wav(old.path / "assets" / "step.wav", tone)
    item = old.timeline.add_audio("assets/step.wav", 1.0, track="sfx")
    w = old.timeline.waveforms(buckets=10)
    assert list(w["source"]) == ["item", "music"]
    row = w[w["source"] == "item"].iloc[0]
    assert (row["id"], row["start_s"], row["end_s"]) == (item.id, 1.0, pytest.approx(2.0))
    assert row["peaks"][:5, 1].max() == 0 and row["peaks"][5:, 1].min() == pytest.approx(0.6, abs=1e-3)
    bed = w[w["source"] == "music"].iloc[0]
    assert bed["end_s"] == pytest.approx(old.timeline.duration_s)
    assert bed["peaks"][:, 1].max() > 0.3  # the bed's drums and pads
    assert (old.path / "cache" / "waveforms").is_dir()
    assert not (old.path / "assets" / "music").exists() or not any(
        (old.path / "assets" / "music").glob("bed-*"))  # drawn without writing the bed
