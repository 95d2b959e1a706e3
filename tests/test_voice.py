"""Voice-over lines: the offline espeak-ng voice and the voice table both models share.

Real files, opened with PyAV to check what they hold. espeak-ng is a system package that
`make test` installs; where it cannot be, the tests that need it are skipped and say why.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import av
import numpy as np
import pytest

from nbvideo.errors import InvalidInput
from nbvideo.media.audio_io import SAMPLE_RATE, read_wav
from nbvideo.providers import catalog
from nbvideo.providers.base import SpeechRequest, VoiceModel, VoiceUnavailable
from nbvideo.providers.local.voice import EspeakVoice, find_espeak
from nbvideo.providers.voices import OPENAI_VOICES, VOICES, estimate_seconds, get_voice

needs_espeak = pytest.mark.skipif(
    find_espeak() is None, reason="espeak-ng is not installed: sudo apt-get install espeak-ng")

LINE = "Mud. Rain. Another weekend on the trail, and your feet stay dry."


def speak(req: SpeechRequest, out: Path, voice: EspeakVoice | None = None):  # type: ignore[no-untyped-def]
    return asyncio.run((voice or EspeakVoice()).speak(req, out))


def audio_stream(path: Path) -> tuple[str, int, int, float]:
    """(codec, sample rate, channels, seconds) as PyAV reads the file."""
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        frames = sum(f.samples for f in c.decode(a))
        return a.codec_context.name, a.rate, a.channels, frames / a.rate


@needs_espeak
def test_espeak_speaks_a_line_of_plausible_length(tmp_path: Path) -> None:
    v = EspeakVoice()
    assert isinstance(v, VoiceModel) and v.provider == "local" and v.model == "espeak-ng"
    out = tmp_path / "lines" / "s1.wav"
    r = speak(SpeechRequest(text=LINE, voice="narrator-f"), out)
    codec, rate, channels, seconds = audio_stream(out)
    assert (codec, rate, channels) == ("pcm_s16le", SAMPLE_RATE, 1)
    assert r.path == out and r.duration_s == pytest.approx(seconds, abs=1e-3)
    # 12 words: a person takes ~3.5-5 s; espeak at 160 wpm about 4.5 s
    assert 2.5 < r.duration_s < 8.0
    assert r.duration_s == pytest.approx(estimate_seconds(LINE, "narrator-f"), rel=0.35)
    samples, _ = read_wav(out)
    rms_db = 20 * np.log10(np.sqrt(np.mean(samples**2)))
    assert rms_db > -30  # speech, not silence
    active = np.mean(np.abs(samples[:, 0]) > 0.01)
    assert 0.3 < active < 0.98  # words and pauses
    assert r.voice == "en-us+f3" and r.usage.cost_usd == 0
    assert r.usage.unit == "second" and r.usage.units == pytest.approx(r.duration_s)
    assert not list(out.parent.glob("*.part"))


@needs_espeak
def test_espeak_is_deterministic_and_voices_differ(tmp_path: Path) -> None:
    digests = {}
    for name, voice in (("a", "warm"), ("b", "warm"), ("c", "bright")):
        speak(SpeechRequest(text=LINE, voice=voice, seed=3), tmp_path / f"{name}.wav")
        digests[name] = hashlib.sha256((tmp_path / f"{name}.wav").read_bytes()).hexdigest()
    assert digests["a"] == digests["b"]
    assert digests["a"] != digests["c"]


@needs_espeak
def test_speed_scales_the_pace(tmp_path: Path) -> None:
    normal = speak(SpeechRequest(text=LINE), tmp_path / "n.wav").duration_s
    fast = speak(SpeechRequest(text=LINE, speed=1.5), tmp_path / "f.wav").duration_s
    assert fast < normal * 0.8


@needs_espeak
def test_every_voice_name_speaks_offline(tmp_path: Path) -> None:
    for name in VOICES:
        r = speak(SpeechRequest(text="Shop now.", voice=name), tmp_path / f"{name}.wav")
        assert r.duration_s > 0.3 and r.voice == get_voice(name).espeak


@needs_espeak
def test_text_that_looks_like_an_option_is_just_read(tmp_path: Path) -> None:
    r = speak(SpeechRequest(text="--help -w /etc/passwd"), tmp_path / "odd.wav")
    assert r.duration_s > 0.5 and (tmp_path / "odd.wav").is_file()


def test_missing_espeak_names_how_to_install_it(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    v = EspeakVoice()
    assert not v.available()
    out = tmp_path / "s1.wav"
    with pytest.raises(VoiceUnavailable, match=r"apt-get install espeak-ng") as info:
        speak(SpeechRequest(text=LINE), out, v)
    assert "not installed" in str(info.value) and "gpt-4o-mini-tts" in str(info.value)
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_unknown_voice_lists_the_voices(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="narrator-f, narrator-m, warm, bright"):
        speak(SpeechRequest(text=LINE, voice="gravel"), tmp_path / "x.wav")


def test_requests_are_checked_at_the_boundary() -> None:
    assert SpeechRequest(text="  Shop \n now.  ").text == "Shop now."
    for bad in ({"text": "   "}, {"text": "x" * 4097}, {"text": "hi", "speed": 5.0},
                {"text": "hi", "colour": "red"}):
        with pytest.raises(ValueError):
            SpeechRequest(**bad)  # type: ignore[arg-type]


def test_voice_table_maps_every_name_for_both_models() -> None:
    assert {"narrator-f", "narrator-m", "warm", "bright"} <= set(VOICES)
    for v in VOICES.values():
        assert v.openai in OPENAI_VOICES and "+" in v.espeak and v.instructions
    assert len({v.openai for v in VOICES.values()}) == len(VOICES)


def test_speech_models_are_in_the_catalog_with_their_price_basis() -> None:
    df = catalog.catalog_table().set_index("model")
    assert df.loc["espeak-ng", "price_basis"] == "free" and df.loc["espeak-ng", "kind"] == "audio"
    assert df.loc["tts-1", "price_basis"] == "per_character"
    assert df.loc["gpt-4o-mini-tts", "price_basis"] == "per_audio_minute"
    tts1 = catalog.price(catalog.get_model("tts-1"), characters=2000)
    assert tts1.cost_usd == pytest.approx(0.03) and tts1.unit == "character"
    mini = catalog.price(catalog.get_model("gpt-4o-mini-tts"), seconds=30)
    assert mini.cost_usd == pytest.approx(0.0075) and mini.units == pytest.approx(0.5)


@needs_espeak
def test_a_canceled_line_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "long.wav"

    async def go() -> None:
        task = asyncio.create_task(EspeakVoice().speak(SpeechRequest(text=LINE * 60), out))
        await asyncio.sleep(0.05)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(go())
    assert not out.exists() and not list(tmp_path.glob("*.part"))
