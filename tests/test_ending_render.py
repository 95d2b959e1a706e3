"""The music's ending in the rendered sound: with a voice-over the music fades out to
silence on a beat after the last word (the word itself whole), and the old ending (a fade
with the film's end) is still there when asked for. Probed from the exported MP4."""

from __future__ import annotations

from collections.abc import Iterator

import av
import numpy as np
import pytest

import nbvideo as nv
from nbvideo.media.audio_io import SAMPLE_RATE, decode
from nbvideo.sound.ending import TAIL_S

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nv.Project]:
    root = tmp_path_factory.mktemp("ending")
    p = nv.Project.open(root / "shoe", brief="8s ad for a waterproof trail shoe for weekend "
                        "hikers", aspect="16:9", duration_s=8.0, resolution="720p", fps=12)
    p.storyboard()
    p.generate_clips().wait()
    p.finish(voice="warm", music="bed", captions=False)
    p.export("beat", formats=["16:9"])
    p.finish(music_ending="film")
    p.export("film", formats=["16:9"])
    p.finish(music_ending="beat")
    yield p
    p.close()


def rms_db(x: np.ndarray, a: float, b: float) -> float:
    s = x[round(a * SAMPLE_RATE):round(b * SAMPLE_RATE)].astype(np.float64)
    return 10 * float(np.log10(np.mean(s ** 2) + 1e-14))


def sound(p: nv.Project, name: str) -> tuple[np.ndarray, float]:
    path = p.path / "exports" / f"{name}-16x9-720p.mp4"
    with av.open(str(path)) as c:  # the file has its sound stream, AAC as exported
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
    x = decode(path, channels=1)[:, 0]
    return x, len(x) / SAMPLE_RATE


def test_the_music_falls_silent_on_a_beat_after_the_last_word(spoken: nv.Project) -> None:
    words = spoken.voice_words()
    last = words.iloc[-1]
    x, total = sound(spoken, "beat")
    assert total == pytest.approx(8.0, abs=0.05)
    beats = np.asarray(spoken.timeline.beats)
    end = float(beats[beats >= last["film_end_s"] + TAIL_S - 1e-6][0])
    assert end <= total
    # the last word is all there: loud through its window
    assert rms_db(x, last["film_start_s"], last["film_end_s"]) > -35
    # the music's fade reaches silence on the beat: nothing after it (no voice either)
    assert rms_db(x, end + 0.01, total) < -70
    # ... and it was fading to it: the last 80 ms before the beat are far below the music
    # just after the last word
    assert rms_db(x, end - 0.08, end) < rms_db(x, last["film_end_s"] + 0.02,
                                                last["film_end_s"] + 0.12) - 6
    # the beat is a real one of the bed: a beat period from its neighbours
    assert np.min(np.abs(np.diff(beats) - 60 / spoken.timeline.tempo_bpm)) < 1e-3


def test_the_old_ending_fades_with_the_film_and_the_words_are_the_same(
        spoken: nv.Project) -> None:
    beat, _ = sound(spoken, "beat")
    film, total = sound(spoken, "film")
    words = spoken.voice_words()
    last = words.iloc[-1]
    end = float(np.asarray(spoken.timeline.beats)[
        np.asarray(spoken.timeline.beats) >= last["film_end_s"] + TAIL_S - 1e-6][0])
    assert rms_db(film, end + 0.01, total - 0.5) > -50  # the music went on past the beat
    # every word sounds the same in both (the ending never touches the voice): each word's
    # window within 1.5 dB (the music under it differs only in the last fade)
    for w in words.itertuples():
        a = rms_db(beat, w.film_start_s, w.film_end_s)
        b = rms_db(film, w.film_start_s, w.film_end_s)
        assert abs(a - b) < 1.5, (w.word, a, b)


def test_spoken_words_become_snap_points(spoken: nv.Project) -> None:
    pts = spoken.timeline.snap_points()
    got = pts[pts["kind"] == "word"]["t_s"].to_numpy()
    words = spoken.voice_words()
    want = np.unique(np.concatenate([words["film_start_s"], words["film_end_s"]]))
    assert np.allclose(np.unique(got), want[want <= spoken.timeline.duration_s], atol=1e-4)
    wave = spoken.timeline.waveforms()
    lines = wave[wave["source"] == "voice_line"]
    assert len(lines) == words["scene"].nunique()
    assert all(float(np.abs(r).max()) > 0.05 for r in lines["peaks"])


@pytest.mark.parametrize("fade_s", [1.0, 0.0])
def test_the_mix_silences_the_music_from_its_end(tmp_path, fade_s: float) -> None:
    from nbvideo.media.audio_io import write_wav
    from nbvideo.sound.mix import mix

    t = np.arange(6 * SAMPLE_RATE) / SAMPLE_RATE
    tone = write_wav(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 330 * t))
    out = mix(tmp_path / "m.wav", 6.0, music=tone, music_end_s=4.0, fade_out_s=fade_s,
              fade_in_s=0).path
    x = decode(out, channels=1)[:, 0]
    assert len(x) == 6 * SAMPLE_RATE  # as long as the film
    assert rms_db(x, 4.01, 6.0) < -80  # silent from the end on
    assert rms_db(x, 1.0, 2.5) > -20  # full level before the fade
    if fade_s:  # halfway through the fade, 6 dB down (a linear fade: half the amplitude)
        assert rms_db(x, 3.45, 3.55) == pytest.approx(rms_db(x, 1.0, 2.5) - 6.0, abs=1.0)
