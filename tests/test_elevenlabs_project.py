"""A project voiced by ElevenLabs (through the API double), and word timings on every line.

What a user would notice: the exported film has the voice, each line is a ledger row priced
per character, the words of each line are there with their times (ElevenLabs' own, or
estimated from the audio for the offline voice), a budget stops a line before any request,
and the key never reaches the project folder.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

import nbvideo as nv
from nbvideo import keys
from nbvideo.edit.timeline import entries
from nbvideo.media.word_times import words_from_alignment
from nbvideo.providers import catalog
from nbvideo.providers.local.voice import find_espeak
from nbvideo.render.finishing import speak_lines, words_path
from tests.doubles.elevenlabs_double import ElevenLabsDouble, start_elevenlabs_double

KEY = "el-proj-" + "w" * 32
MODEL = "eleven-multilingual-v2"
PRICE = catalog.get_model(MODEL).prices_usd["mchar"] / 1e6

needs_espeak = pytest.mark.skipif(
    find_espeak() is None, reason="espeak-ng is not installed: sudo apt-get install espeak-ng")


@pytest.fixture
def eleven(monkeypatch: pytest.MonkeyPatch) -> Iterator[ElevenLabsDouble]:
    """The ElevenLabs double with the SDK pointed at it (key and base URL from the env)."""
    d = start_elevenlabs_double(KEY)
    monkeypatch.setenv("ELEVENLABS_API_KEY", KEY)
    monkeypatch.setenv("ELEVENLABS_BASE_URL", d.base_url)
    keys.forget_keys()
    yield d
    d.stop()


def voiced(p: nv.Project) -> list[tuple[str, str]]:
    """(scene id, line) of each scene with a voice line, in film order."""
    return [(s.id, s.voice_line.strip()) for s in p.scenes if s.voice_line.strip()]


def files_holding(root: Path, secret: str) -> list[Path]:
    return [f for f in root.rglob("*") if f.is_file() and secret.encode() in f.read_bytes()]


@pytest.mark.slow
def test_an_ad_voiced_by_elevenlabs_exports_with_priced_lines_and_their_words(
        eleven: ElevenLabsDouble, rendered: nv.Project) -> None:
    p = rendered
    lines = voiced(p)
    assert len(lines) >= 2
    p.finish(voice="narrator-f", voice_model=MODEL, music="none",
             voice_settings={"stability": 0.4, "style": 0.2})
    out = p.export("ad", formats=["16:9"], accept=["voice_overrun"])
    film = out[0]
    with av.open(str(p.path / film.path)) as c:
        assert c.streams.audio and c.streams.video
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac"
        seconds = float(c.duration) / av.time_base
    assert seconds == pytest.approx(film.duration_s, abs=0.15)

    sent = eleven.speech_requests()
    assert [r["body"]["text"] for r in sent] == [t for _sid, t in lines]
    assert all(r["body"]["voice_settings"] == {"stability": 0.4, "style": 0.2} for r in sent)
    assert {r["path"].split("/")[3] for r in sent} == {"EXAVITQu4vr4xnSDxMaL"}

    rows = p.costs[(p.costs["phase"] == "voice") & (p.costs["status"] == "succeeded")]
    assert list(rows["provider"]) == ["elevenlabs"] * len(lines)
    assert list(rows["unit"]) == ["character"] * len(lines)
    assert list(rows["units"]) == [len(t) for _sid, t in lines]
    assert list(rows["cost_usd"]) == pytest.approx([len(t) * PRICE for _sid, t in lines])
    assert rows["cost_usd"].sum() == pytest.approx(eleven.charged_usd)

    words = p.voice_words()
    assert set(words["timings"]) == {"provider"} and set(words["provider"]) == {"elevenlabs"}
    starts = {e.scene.id: e.start_s for e in entries(p.runtime)}
    for (sid, text), answer in zip(lines, eleven.responses, strict=True):
        mine = words[words["scene"] == sid]
        al = answer["alignment"]
        expect = words_from_alignment(al["characters"], al["character_start_times_seconds"],
                                      al["character_end_times_seconds"])
        assert list(mine["word"]) == text.split() == [w.word for w in expect]
        assert list(mine["start_s"]) == pytest.approx([w.start_s for w in expect], abs=1e-4)
        assert list(mine["end_s"]) == pytest.approx([w.end_s for w in expect], abs=1e-4)
        assert list(mine["film_start_s"]) == pytest.approx(
            [starts[sid] + 0.15 + w.start_s for w in expect], abs=1e-3)

    # a re-export speaks nothing again and keeps the words
    p.export("again", formats=["16:9"], accept=["voice_overrun"])
    assert len(eleven.speech_requests()) == len(lines)
    assert p.voice_words().equals(words)
    assert files_holding(p.path, KEY) == []
    reopened = nv.Project.open(p.path, read_only=True)
    assert reopened.state.finishing.voice_settings.stability == 0.4
    assert reopened.voice_words().equals(words)


def test_a_budget_refuses_a_line_before_any_request(eleven: ElevenLabsDouble,
                                                    rendered: nv.Project) -> None:
    p = rendered
    lines = voiced(p)
    p.finish(voice="narrator-m", voice_model=MODEL, music="none")
    p.budget_usd = p.spent_usd + len(lines[0][1]) * PRICE / 2  # less than the first line
    with pytest.raises(nv.BudgetExceeded, match="voice line for scene") as err:
        speak_lines(p.runtime, entries(p.runtime))
    assert eleven.speech_requests() == [] and eleven.charged_usd == 0
    assert err.value.estimate_usd == pytest.approx(len(lines[0][1]) * PRICE)
    refused = p.costs[(p.costs["phase"] == "voice") & (p.costs["status"] == "refused")]
    assert len(refused) == 1 and refused["provider"].iloc[0] == "elevenlabs"
    assert p.voice_words().empty


def test_lines_and_words_are_kept_and_priced_without_rendering(eleven: ElevenLabsDouble,
                                                               rendered: nv.Project) -> None:
    p = rendered
    lines = voiced(p)
    p.finish(voice="bright", voice_model=MODEL)
    spoken = speak_lines(p.runtime, entries(p.runtime))
    assert set(spoken) == {sid for sid, _t in lines}
    for sid, (wav, secs) in spoken.items():
        kept = json.loads(words_path(wav).read_text())
        assert kept["timings"] == "provider" and kept["duration_s"] == pytest.approx(secs)
        assert [w["word"] for w in kept["words"]] == dict(lines)[sid].split()
    assert eleven.charged_usd > 0 and p.spent_usd == pytest.approx(eleven.charged_usd)
    assert files_holding(p.path, KEY) == []


def test_every_elevenlabs_line_is_spoken_inside_the_money_gate(
        eleven: ElevenLabsDouble, rendered: nv.Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbvideo.providers.elevenlabs import ElevenLabsSpeech
    from nbvideo.runtime.budget import inside_gate

    seen: list[bool] = []
    real = ElevenLabsSpeech.speak

    def watched(self: ElevenLabsSpeech, *args: object, **kw: object) -> object:
        seen.append(inside_gate())
        return real(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ElevenLabsSpeech, "speak", watched)
    p = rendered
    p.finish(voice="narrator-f", voice_model=MODEL)
    speak_lines(p.runtime, entries(p.runtime))
    assert seen and all(seen)
    paid = p.costs[p.costs["cost_usd"] > 0]
    assert (paid["cost_usd"] <= paid["estimated_usd"] + 1e-12).all()


def test_a_project_without_a_key_keeps_its_spoken_lines(eleven: ElevenLabsDouble,
                                                        rendered: nv.Project,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    p = rendered
    p.finish(voice="warm", voice_model=MODEL)
    speak_lines(p.runtime, entries(p.runtime))
    monkeypatch.delenv("ELEVENLABS_API_KEY")
    assert speak_lines(p.runtime, entries(p.runtime))  # cached: no key needed
    assert len(p.voice_words()) > 0
    p.edit_scene(1, voice_line="Shop the Ridgeline now.")
    with pytest.raises(keys.MissingKey, match="ELEVENLABS_API_KEY"):
        speak_lines(p.runtime, entries(p.runtime))


@needs_espeak
def test_the_offline_voice_gets_estimated_words_inside_its_audio(rendered: nv.Project) -> None:
    p = rendered
    lines = voiced(p)
    p.finish(voice="narrator-f", voice_model="espeak-ng")
    spoken = speak_lines(p.runtime, entries(p.runtime))
    words = p.voice_words()
    assert set(words["timings"]) == {"estimated"} and set(words["provider"]) == {"local"}
    for sid, text in lines:
        mine = words[words["scene"] == sid]
        assert list(mine["word"]) == text.split()
        secs = spoken[sid][1]
        starts, ends = list(mine["start_s"]), list(mine["end_s"])
        assert all(0 <= s <= e <= secs + 1e-6 for s, e in zip(starts, ends, strict=True))
        assert starts == sorted(starts) and ends == sorted(ends)
        assert all(e <= s2 + 1e-6 for e, s2 in zip(ends, starts[1:], strict=False))
        assert ends[-1] - starts[0] > 0.5 * secs  # they span the spoken line, not a corner


def test_finish_checks_voice_settings_and_models_by_name(eleven: ElevenLabsDouble,
                                                         rendered: nv.Project) -> None:
    p = rendered
    p.finish(voice="narrator-f", voice_model=MODEL, voice_settings={"stability": 0.3})
    p.finish(voice_settings={"speed": 1.1})  # a partial change keeps the rest
    assert p.state.finishing.voice_settings.stability == 0.3
    assert p.state.finishing.voice_settings.speed == 1.1
    with pytest.raises(nv.InvalidInput, match="stability"):
        p.finish(voice_settings={"stability": 1.5})
    with pytest.raises(nv.InvalidInput, match="speed"):
        p.finish(voice_settings={"speed": 2.0})
    with pytest.raises(nv.InvalidInput, match="volume"):
        p.finish(voice_settings={"volume": 1})
    with pytest.raises(nv.InvalidInput, match="eleven-multilingual-v2"):
        p.finish(voice_model="flux-schnell")
    p.finish(voice="Zk3x9TQp7Lm2Wq8Rt4Yv")  # an ElevenLabs voice id, with an ElevenLabs model
    with pytest.raises(nv.InvalidInput, match="narrator-f"):
        p.finish(voice_model="espeak-ng")  # espeak cannot speak that id
    saved = nv.Project.open(p.path, read_only=True).state.finishing
    assert saved.voice == "Zk3x9TQp7Lm2Wq8Rt4Yv" and saved.voice_settings.speed == 1.1


def test_an_old_project_opens_with_default_voice_settings(rendered: nv.Project,
                                                          tmp_path: Path) -> None:
    p = rendered
    p.finish(voice="narrator-f")
    p.close()
    doc = json.loads((p.path / "project.json").read_text())
    del doc["finishing"]["voice_settings"]  # as written before voice settings existed
    old = tmp_path / "old"
    shutil.copytree(p.path, old)
    (old / "project.json").write_text(json.dumps(doc))
    q = nv.Project.open(old, read_only=True)
    assert q.state.finishing.voice == "narrator-f"
    assert q.state.finishing.voice_settings.given() == {}


def test_nv_voices_lists_our_voices_and_the_accounts(eleven: ElevenLabsDouble) -> None:
    ours = nv.voices()
    assert {"narrator-f", "warm"} <= set(ours["voice"]) and "elevenlabs" in ours.columns
    theirs = nv.voices(provider="elevenlabs")
    assert "Trailhead Brand Voice" in set(theirs["name"])
