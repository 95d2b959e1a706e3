"""A voice line longer than its scene: the export stops with three fixes as calls, each of
them works, and `accept=True` exports the line as it is. Needs espeak-ng (`make test`)."""

from __future__ import annotations

import re
import threading

import pytest

import nbvideo as nv
from nbvideo.media.audio_io import wav_duration
from nbvideo.media.ffmpeg import RenderCanceled, probe
from nbvideo.model.presets import ExportCheckFailed
from nbvideo.render.finishing import FIT_BREATH_S, VOICE_LEAD_S

LONG = ("This line goes on and on about the shoe, far longer than any short scene could "
        "ever hold, and then it goes on some more.")
WORDS = "Grip that holds on wet rock and dry trail alike all day long".split()


def _overrun(p: nv.Project, n: int) -> str:
    with pytest.raises(ExportCheckFailed) as err:
        p.export("long")
    (v,) = [v for v in err.value.violations if v.code == "voice_overrun"]
    assert v.item == p.scenes[n - 1].id
    return v.message


def test_an_overrun_names_the_scene_and_the_three_fixes_before_any_audio_is_made(
        rendered: nv.Project) -> None:
    p = rendered
    p.finish(voice="narrator-m")
    n = len(p.scenes)
    p.edit_scene(n, voice_line=LONG)
    msg = _overrun(p, n)
    sid = p.scenes[n - 1].id
    assert re.search(rf"scene {n} \({sid}\) runs \d+\.\d\d s, \d+\.\d\d s longer", msg)
    assert f"p.edit_scene({n}, voice_line=...)" in msg
    assert re.search(rf"p.edit_scene\({n}, duration_s=\d+(\.\d)?\), then p.generate_clips\(\)",
                     msg)
    assert 'p.finish(voice_fit="speed")' in msg and "accept=['voice_overrun']" in msg
    assert not p.exports and not list(p.path.glob("assets/soundtracks/*"))


def test_accept_true_exports_an_overrunning_last_line_faded_at_the_end(
        rendered: nv.Project) -> None:
    p = rendered
    p.finish(voice="narrator-m")
    n = len(p.scenes)
    p.edit_scene(n, voice_line=LONG)
    (rec,) = p.export("long", accept=True)
    assert rec.audio and any("voice_overrun" in w or "longer than its scene" in w
                             for w in rec.warnings)
    info = probe(p.path / rec.path)
    assert info.duration_s == pytest.approx(p.timeline.duration_s, abs=1 / 12)


def test_lengthening_the_scene_as_suggested_fits_the_line(rendered: nv.Project) -> None:
    p = rendered
    p.finish(voice="narrator-m")
    n = len(p.scenes)
    p.edit_scene(n, voice_line=" ".join(WORDS))
    msg = _overrun(p, n)
    longer = float(re.search(rf"p.edit_scene\({n}, duration_s=([\d.]+)\)", msg)[1])
    before = p.timeline.duration_s
    grown = longer - p.scenes[n - 1].duration_s
    p.edit_scene(n, duration_s=longer)
    p.generate_clips().wait()
    (rec,) = p.export("longer")
    assert not rec.warnings
    assert probe(p.path / rec.path).duration_s == pytest.approx(before + grown, abs=0.1)


def test_shortening_the_line_fits_it(rendered: nv.Project) -> None:
    p = rendered
    p.finish(voice="narrator-m")
    n = len(p.scenes)
    p.edit_scene(n, voice_line=LONG)
    _overrun(p, n)
    p.edit_scene(n, voice_line="Grip.")
    (rec,) = p.export("short")
    assert not rec.warnings and rec.audio


def test_voice_fit_speed_plays_a_line_faster_to_fit_its_scene(rendered: nv.Project) -> None:
    p = rendered
    p.finish(voice="narrator-m")
    n = len(p.scenes)
    sid = p.scenes[n - 1].id
    room = p.line_fits()[sid].scene_s - VOICE_LEAD_S - FIT_BREATH_S
    # Each probe speaks its line and checks it, then stops where encoding would start: a line
    # that fits needs no film here, only the check's answer.
    encode_nothing = threading.Event()
    encode_nothing.set()
    for k in range(3, len(WORDS) + 1):  # the shortest line that is too long, by < 1.4x
        p.edit_scene(n, voice_line=" ".join(WORDS[:k]))
        try:
            p.export("probe", cancel=encode_nothing)
        except RenderCanceled:
            continue  # it fits
        except ExportCheckFailed:
            fit = p.line_fits()[sid]
            assert fit.measured and not fit.fits
            break
    assert room < fit.voice_s < 1.4 * room
    p.finish(voice_fit="speed")
    fit = p.line_fits()[sid]
    assert fit.fits and 1 < fit.tempo <= 1.5 and fit.voice_s <= room + 0.02
    (rec,) = p.export("fast")
    assert not rec.warnings
    assert probe(p.path / rec.path).duration_s == pytest.approx(p.timeline.duration_s, abs=1 / 12)
    (fast,) = p.path.glob(f"assets/voice/{sid}-*-x*.wav")
    assert wav_duration(fast) <= room + 0.02
