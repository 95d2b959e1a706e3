"""Sound effects: the built-in library sounds like its names, imports are checked, placed
effects are saved with the project and heard in the export where they were placed.

Levels are measured on decoded samples with numpy; loudness and true peak with ffmpeg's
ebur128 (independent of the numpy meter the mastering uses)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import nbvideo as nv
from nbvideo.errors import InvalidInput
from nbvideo.media.audio_io import SAMPLE_RATE, decode, read_wav, write_wav
from nbvideo.model.state import ProjectState
from nbvideo.sound.loudness import measure_loudness
from nbvideo.sound.sfx import SFX_VERSION, effects_track, synth_effect

PROMISED = {"whoosh": 0.8, "whoosh-long": 1.6, "riser": 2.5, "riser-short": 1.2,
            "impact": 1.2, "click": 0.03, "pop": 0.12}


def energy_in(x: np.ndarray, parts: int) -> np.ndarray:
    """Share of the signal's energy in each of `parts` equal stretches."""
    e = np.array([np.sum(np.square(c)) for c in np.array_split(x, parts)])
    return e / e.sum()


def centroid_hz(x: np.ndarray) -> float:
    mono = x.mean(axis=1)
    mag = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    hz = np.fft.rfftfreq(len(mono), 1 / SAMPLE_RATE)
    return float(np.sum(hz * mag) / np.sum(mag))


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12))


# --------------------------------------------------------------------------- the library

def test_the_library_lists_every_built_in_with_what_it_is() -> None:
    table = nv.sound_effects()
    assert list(table["name"]) == list(PROMISED)
    assert {"whoosh", "riser", "impact", "click", "pop"} <= set(table["name"])
    assert (table["source"] == "built-in").all()
    assert table["description"].str.len().min() > 10 and table["tags"].str.len().min() > 2
    assert dict(zip(table["name"], table["duration_s"])) == PROMISED


@pytest.mark.parametrize("name", list(PROMISED))
def test_each_built_in_is_as_long_as_promised_audible_and_under_full_scale(
        name: str, fresh: nv.Project) -> None:
    p = fresh
    p.add_sound_effect(name, at=0.0)
    path = p.path / f"assets/sfx/builtin/{name}-v{SFX_VERSION}.wav"
    from nbvideo.sound.sfx import effect_files

    assert effect_files(p._rt, [name]) == {name: path}  # rendered on first use, into the project
    x, rate = read_wav(path)
    assert rate == SAMPLE_RATE and x.shape == (round(PROMISED[name] * SAMPLE_RATE), 2)
    assert rms_db(x) > -40  # not silent
    assert float(np.abs(x).max()) < 1.0
    if PROMISED[name] >= 0.4:  # ebur128 needs a 400 ms block for loudness; peaks it reads anyway
        assert measure_loudness(path).integrated_lufs > -40
    assert measure_loudness(path).true_peak_dbtp < 0.0
    again = synth_effect(name)  # fixed seeds: the same samples every time
    assert np.array_equal(again, synth_effect(name))


def test_a_riser_rises_in_level_and_in_pitch() -> None:
    x = synth_effect("riser")
    share = energy_in(x, 4)
    assert np.all(np.diff(share) > 0) and share[-1] > 0.5
    first, last = x[: len(x) // 4], x[-len(x) // 4:]
    assert centroid_hz(last) > 2 * centroid_hz(first)


def test_an_impact_is_front_loaded_and_a_whoosh_swells_in_the_middle() -> None:
    impact = energy_in(synth_effect("impact"), 4)
    assert impact[0] > 0.7 and np.all(np.diff(impact) < 0)
    whoosh = energy_in(synth_effect("whoosh"), 5)
    assert whoosh.argmax() in (2, 3) and whoosh[0] < 0.15 and whoosh[-1] < 0.15
    left, right = synth_effect("whoosh")[:, 0], synth_effect("whoosh")[:, 1]
    half = len(left) // 2  # it passes from left to right
    assert rms_db(left[:half]) > rms_db(right[:half]) and rms_db(right[half:]) > rms_db(left[half:])


def test_a_click_and_a_pop_are_short_and_sharp() -> None:
    click, pop = synth_effect("click"), synth_effect("pop")
    ms = SAMPLE_RATE // 1000
    for x, within in ((click, 10 * ms), (pop, 60 * ms)):
        cumulative = np.cumsum(np.sum(np.square(x), axis=1))
        assert cumulative[within] / cumulative[-1] > 0.95
    body = pop[10 * ms: 40 * ms, 0]  # its pitch has jumped up from 280 Hz to ~950 Hz
    spectrum = np.abs(np.fft.rfft(body * np.hanning(len(body)), 1 << 15))
    assert 800 < np.fft.rfftfreq(1 << 15, 1 / SAMPLE_RATE)[spectrum.argmax()] < 1000


# --------------------------------------------------------------------------- imports

def tone(path: Path, seconds: float, level: float = 0.3) -> Path:
    t = np.arange(round(seconds * 44_100)) / 44_100
    y = level * np.sin(2 * np.pi * 660 * t)
    import wave

    pcm = np.round(y * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:  # 44.1 kHz mono: the import converts it
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44_100)
        w.writeframes(pcm.tobytes())
    return path


def user_files(p: nv.Project) -> list[Path]:
    folder = p.path / "assets/sfx/user"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_an_imported_effect_is_copied_in_listed_and_placeable(fresh: nv.Project,
                                                              tmp_path: Path) -> None:
    p = fresh
    src = tone(tmp_path / "door slam.wav", 0.5)
    got = p.import_sound_effect(src, name="door", description="A door slams.", tags=["foley"])
    assert got.source == "imported" and got.duration_s == pytest.approx(0.5, abs=1e-3)
    kept = p.path / got.path
    x, rate = read_wav(kept)
    assert rate == SAMPLE_RATE and x.shape == (round(0.5 * SAMPLE_RATE), 2)
    assert kept.parent == p.path / "assets/sfx/user"
    row = p.sound_effects().set_index("name").loc["door"]
    assert (row["source"], row["tags"], row["description"]) == ("imported", "foley",
                                                                 "A door slams.")
    assert p.import_sound_effect(src, name="door").path == got.path  # same file: no copy
    cue = p.add_sound_effect("door", at=1.0)
    assert p.sound_effects_used()["effect"].tolist() == ["door"] and cue.effect == "door"


def test_a_bad_import_is_refused_clearly_and_copies_nothing(fresh: nv.Project,
                                                            tmp_path: Path) -> None:
    p = fresh
    junk = tmp_path / "boom.wav"
    junk.write_text("this is not audio")
    with pytest.raises(InvalidInput, match="not audio that can be decoded"):
        p.import_sound_effect(junk, name="boom")
    long = tone(tmp_path / "long.wav", 31.0)
    with pytest.raises(InvalidInput, match=r"31\.00 s long; an effect is 0\.01-30 s"):
        p.import_sound_effect(long, name="long")
    silent = write_wav(tmp_path / "silent.wav", np.zeros(SAMPLE_RATE))
    with pytest.raises(InvalidInput, match="holds no sound"):
        p.import_sound_effect(silent, name="quiet")
    good = tone(tmp_path / "ok.wav", 0.3)
    link = tmp_path / "link.wav"
    os.symlink(good, link)
    with pytest.raises(InvalidInput, match="is a symlink"):
        p.import_sound_effect(link, name="linked")
    text = tmp_path / "notes.txt"
    text.write_text("x")
    with pytest.raises(InvalidInput, match=r"is a \.txt"):
        p.import_sound_effect(text, name="notes")
    with pytest.raises(InvalidInput, match="built-in effect's name"):
        p.import_sound_effect(good, name="whoosh")
    with pytest.raises(InvalidInput, match="lower-case"):
        p.import_sound_effect(good, name="Door Slam")
    assert user_files(p) == []  # nothing copied, no scratch left
    assert list(p.sound_effects()["source"].unique()) == ["built-in"]
    p.import_sound_effect(good, name="ok")
    other = tone(tmp_path / "other.wav", 0.4)
    with pytest.raises(InvalidInput, match="already imported from another file"):
        p.import_sound_effect(other, name="ok")
    assert len(user_files(p)) == 2  # the first import's WAV and its note, untouched


# --------------------------------------------------------------------------- cues

def test_placed_effects_are_saved_listed_and_removed(fresh: nv.Project) -> None:
    p = fresh
    late = p.add_sound_effect("impact", at=4.0, gain_db=-3, fade_out_s=0.2)
    early = p.add_sound_effect("whoosh", at=1.5)
    used = p.sound_effects_used()
    assert used["effect"].tolist() == ["whoosh", "impact"]  # in time order
    assert used["end_s"].tolist() == [pytest.approx(2.3), pytest.approx(5.2)]
    assert used["plays"].all()
    p.add_sound_effect("pop", at=500.0)  # after the film's end: kept, but not played
    assert p.sound_effects_used()["plays"].tolist() == [True, True, False]
    with pytest.raises(InvalidInput, match="not in the library"):
        p.add_sound_effect("trumpet", at=1.0)
    with pytest.raises(InvalidInput, match="gain_db"):
        p.add_sound_effect("pop", at=1.0, gain_db=40)
    with pytest.raises(InvalidInput, match="start_s"):
        p.add_sound_effect("pop", at=-1.0)
    p.remove_sound_effect(3)
    path = p.path
    p.close()
    q = nv.Project.open(path)
    try:
        assert [c.id for c in q._rt.state.sound_effects] == [early.id, late.id]
        assert q._rt.state.sound_effects[1].gain_db == -3
        q.remove_sound_effect(early.id)
        assert q.sound_effects_used()["id"].tolist() == [late.id]
        with pytest.raises(InvalidInput, match="no placed effect"):
            q.remove_sound_effect(early.id)
    finally:
        q.close()


def test_a_project_saved_before_sound_effects_opens_with_none(fresh: nv.Project) -> None:
    saved = json.loads((fresh.path / "project.json").read_text())
    saved.pop("sound_effects", None)
    assert ProjectState.model_validate(saved).sound_effects == []


def test_the_effects_track_places_each_cue_to_the_sample_with_its_gain_and_fades(
        tmp_path: Path) -> None:
    from nbvideo.model.sfx import SfxCue

    click = write_wav(tmp_path / "c.wav", np.full((480, 2), 0.5))  # 10 ms of DC: easy to see
    cues = [SfxCue(id="x00000001", effect="c", start_s=0.5),
            SfxCue(id="x00000002", effect="c", start_s=1.0, gain_db=-6, fade_in_s=0.005),
            SfxCue(id="x00000003", effect="c", start_s=1.995)]  # cut by the end
    track = effects_track(cues, {"c": click}, 2.0)
    assert track is not None and track.shape == (2 * SAMPLE_RATE, 2)
    nz = np.flatnonzero(np.abs(track[:, 0]) > 0)
    assert nz[0] == SAMPLE_RATE // 2
    a = track[SAMPLE_RATE // 2 + 100, 0]
    b = track[SAMPLE_RATE + 400, 0]
    assert b / a == pytest.approx(10 ** (-6 / 20), rel=1e-3)
    assert track[SAMPLE_RATE, 0] == 0 and track[SAMPLE_RATE + 100, 0] < b  # fading in
    assert abs(track[-1, 0]) < a / 10  # faded out at the end, not cut at full level
    assert effects_track(cues[:1], {"c": click}, 0.4) is None  # starts after the end


@pytest.mark.slow
def test_an_export_with_a_whoosh_gets_louder_where_it_was_placed(rendered: nv.Project) -> None:
    """The same export twice, with and without a whoosh at 2.0 s: the soundtrack's loudest
    400 ms (BS.1770 momentary loudness) in the 0.8 s from 2.0 s, against the 0.8 s before."""
    from nbvideo.sound.master import max_momentary_lufs

    p = rendered
    p.finish(music="bed", voice=None, captions=False)

    def rise(name: str) -> float:
        (rec,) = p.export(name)
        x = decode(p.path / rec.path, channels=2)
        at, span = 2 * SAMPLE_RATE, 4 * SAMPLE_RATE // 5
        return max_momentary_lufs(x[at:at + span]) - max_momentary_lufs(x[at - span:at])

    without = rise("plain")
    p.add_sound_effect("whoosh", at=2.0)
    with_it = rise("whoosh")
    print(f"loudness from 2.0 s against the 0.8 s before: {without:+.1f} LU without the "
          f"whoosh, {with_it:+.1f} LU with it")
    assert abs(without) < 1.5  # the bed is steady there
    assert with_it - without > 2.0  # the whoosh, as loud as the bed: about +3 LU
    assert len(list((p.path / "assets/soundtracks").glob("*.m4a"))) == 2  # a new mix
