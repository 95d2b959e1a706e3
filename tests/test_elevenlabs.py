"""ElevenLabs voices through the official SDK (AsyncElevenLabs) over HTTP to the API double.

Each mapping is checked against a recorded example of the real shapes; no test touches the
internet and none asserts an upper time bound.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from nbvideo import keys
from nbvideo.errors import InvalidInput
from nbvideo.media.audio_io import SAMPLE_RATE, read_wav
from nbvideo.media.word_times import estimate_words, words_from_alignment
from nbvideo.model.speech import VoiceSettings
from nbvideo.providers import catalog
from nbvideo.providers.base import (
    ProviderAPIError,
    ProviderOutputError,
    SpeechRequest,
    SpeechResult,
    VoiceModel,
)
from nbvideo.providers.elevenlabs import ElevenLabsSpeech, list_voices
from nbvideo.providers.voice_table import voices_table
from nbvideo.providers.voices import VOICES
from tests.doubles.elevenlabs_double import (
    CLONED,
    PREMADE,
    ElevenLabsDouble,
    start_elevenlabs_double,
)

KEY = "el-test-" + "q" * 32
LINE = "Mud. Rain. Another weekend on the trail, and your feet stay dry."

# A recorded example of the real exchange (shapes from the API reference,
# elevenlabs.io/docs/api-reference/text-to-speech/convert-with-timestamps, and the 2.78 SDK's
# raw_client.py): the request as it goes over the wire, and the answer's JSON, whose alignment
# is the reference's own "Hello" example grown to two words.
RECORDED_REQUEST = {
    "method": "POST", "path": "/v1/text-to-speech/EXAVITQu4vr4xnSDxMaL/with-timestamps",
    "query": {"output_format": "pcm_24000"},
    "body": {"text": "Hello world", "model_id": "eleven_multilingual_v2", "seed": 7,
             "voice_settings": {"stability": 0.5, "similarity_boost": 0.75, "style": 0.0,
                                "use_speaker_boost": True, "speed": 1.0}},
}
RECORDED_ALIGNMENT = {
    "characters": ["H", "e", "l", "l", "o", " ", "w", "o", "r", "l", "d"],
    "character_start_times_seconds": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    "character_end_times_seconds": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1],
}


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A developer's real key or base URL must never reach these tests (or the internet)."""
    for var in ("ELEVENLABS_API_KEY", "ELEVENLABS_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    keys.forget_keys()
    yield
    keys.forget_keys()


@pytest.fixture
def double() -> Iterator[ElevenLabsDouble]:
    d = start_elevenlabs_double(KEY)
    yield d
    d.stop()


def voice(double: ElevenLabsDouble, model: str = "eleven-multilingual-v2",
          **kw: object) -> ElevenLabsSpeech:
    return ElevenLabsSpeech(model, api_key=KEY, base_url=double.base_url, **kw)  # type: ignore[arg-type]


def speak(v: ElevenLabsSpeech, out: Path, **req: object) -> SpeechResult:
    return asyncio.run(v.speak(SpeechRequest(**{"text": LINE, **req}), out))  # type: ignore[arg-type]


def stream(path: Path) -> tuple[str, int, int, float]:
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        n = sum(f.samples for f in c.decode(a))
        return a.codec_context.name, a.rate, a.channels, n / a.rate


# ------------------------------------------------------------------ the mappings
def test_the_request_is_the_recorded_shape(double: ElevenLabsDouble, tmp_path: Path) -> None:
    v = voice(double)
    settings = VoiceSettings(stability=0.5, similarity_boost=0.75, style=0.0,
                             use_speaker_boost=True)
    asyncio.run(v.speak(SpeechRequest(text="Hello world", voice="narrator-f", seed=7,
                                      speed=1.0, settings=settings), tmp_path / "h.wav"))
    got = double.speech_requests()[-1]
    assert {k: got[k] for k in ("method", "path", "query", "body")} == RECORDED_REQUEST
    assert got["headers"]["xi-api-key"] == KEY
    assert got["headers"]["content-type"] == "application/json"


def test_our_voice_names_map_onto_elevenlabs_default_voices(double: ElevenLabsDouble,
                                                           tmp_path: Path) -> None:
    premade = {v[0] for v in PREMADE}
    v = voice(double)
    for name in VOICES:
        assert v.voice_id(name) in premade
        speak(v, tmp_path / f"{name}.wav", text="Shop now.", voice=name)
        assert double.speech_requests()[-1]["path"].split("/")[3] == VOICES[name].elevenlabs
    assert len({x.elevenlabs for x in VOICES.values()}) == len(VOICES)
    # an account's own voice, by its id (as nv.voices(provider="elevenlabs") lists it)
    r = speak(v, tmp_path / "own.wav", text="Shop now.", voice=CLONED[0])
    assert r.voice == CLONED[0]


def test_settings_left_unset_are_not_sent(double: ElevenLabsDouble, tmp_path: Path) -> None:
    speak(voice(double), tmp_path / "a.wav", text="Shop now.")
    body = double.speech_requests()[-1]["body"]
    assert "voice_settings" not in body and body["model_id"] == "eleven_multilingual_v2"
    speak(voice(double, "eleven-flash-v2.5"), tmp_path / "b.wav", text="Shop now.",
          settings=VoiceSettings(style=0.3))
    body = double.speech_requests()[-1]["body"]
    assert body["voice_settings"] == {"style": 0.3} and body["model_id"] == "eleven_flash_v2_5"


def test_the_alignment_becomes_words_with_their_times() -> None:
    words = words_from_alignment(RECORDED_ALIGNMENT["characters"],
                                 RECORDED_ALIGNMENT["character_start_times_seconds"],
                                 RECORDED_ALIGNMENT["character_end_times_seconds"])
    assert [(w.word, w.start_s, w.end_s) for w in words] == [("Hello", 0.0, 0.5),
                                                              ("world", 0.6, 1.1)]
    clipped = words_from_alignment(["H", "i"], [0.0, 0.2], [0.2, 0.9], duration_s=0.5)
    assert clipped[0].end_s == 0.5
    with pytest.raises(ValueError, match="differ in length"):
        words_from_alignment(["a", "b"], [0.0], [0.1, 0.2])


def test_a_line_is_our_wav_with_the_doubles_words(double: ElevenLabsDouble,
                                                  tmp_path: Path) -> None:
    v = voice(double)
    assert isinstance(v, VoiceModel) and v.provider == "elevenlabs"
    out = tmp_path / "lines" / "s1.wav"
    r = speak(v, out, voice="warm")
    codec, rate, channels, seconds = stream(out)
    assert (codec, rate, channels) == ("pcm_s16le", SAMPLE_RATE, 1)  # from 24 kHz PCM
    assert r.duration_s == pytest.approx(seconds, abs=1e-3) and r.duration_s > 3
    assert r.timings == "provider"
    sent = double.responses[-1]["alignment"]
    expect = words_from_alignment(sent["characters"], sent["character_start_times_seconds"],
                                  sent["character_end_times_seconds"])
    assert r.words == expect and [w.word for w in r.words] == LINE.split()
    assert all(0 <= w.start_s < w.end_s <= r.duration_s for w in r.words)
    assert not list(out.parent.glob("*.part"))


def test_wav_output_formats_read_the_same(double: ElevenLabsDouble, tmp_path: Path) -> None:
    a = speak(voice(double, output_format="wav_22050"), tmp_path / "w.wav", text="Shop now.")
    b = speak(voice(double, output_format="pcm_44100"), tmp_path / "p.wav", text="Shop now.")
    assert a.duration_s == pytest.approx(b.duration_s, abs=2e-3)
    assert [q["query"]["output_format"] for q in double.speech_requests()] == ["wav_22050",
                                                                               "pcm_44100"]
    with pytest.raises(InvalidInput, match="pcm_24000"):
        voice(double, output_format="mp3_44100_128")


def test_estimated_words_land_near_the_real_ones(double: ElevenLabsDouble,
                                                 tmp_path: Path) -> None:
    """The estimate from the audio alone, against the double's true alignment."""
    r = speak(voice(double), tmp_path / "a.wav")
    samples, rate = read_wav(r.path)
    est = estimate_words(samples, rate, LINE)
    assert [w.word for w in est] == [w.word for w in r.words]
    starts = [abs(e.start_s - w.start_s) for e, w in zip(est, r.words, strict=True)]
    assert max(starts) < 0.25 and sum(starts) / len(starts) < 0.1


# ------------------------------------------------------------------ cost
def test_cost_is_what_the_double_charged_per_character(double: ElevenLabsDouble,
                                                       tmp_path: Path) -> None:
    r = speak(voice(double), tmp_path / "a.wav")
    assert r.usage.unit == "character" and r.usage.units == len(LINE) == double.characters
    assert double.charged_usd > 0
    assert r.usage.cost_usd == pytest.approx(double.charged_usd, rel=1e-9)
    price = catalog.get_model("eleven-multilingual-v2").prices_usd["mchar"] / 1e6
    assert r.usage.cost_usd == pytest.approx(len(LINE) * price)
    assert r.usage.request_id == "req0001double"
    assert voice(double).estimate_usd(SpeechRequest(text=LINE)) == pytest.approx(
        r.usage.cost_usd)


def test_catalog_entries_carry_source_date_and_lifecycle() -> None:
    rows = catalog.models("audio", "elevenlabs")
    assert {m.id for m in rows} == {"eleven-multilingual-v2", "eleven-v3", "eleven-flash-v2.5"}
    for m in rows:
        assert m.price_basis == "per_character" and m.prices_usd["mchar"] > 0
        assert "Creator" in m.price_source and m.price_date is not None
        assert m.shutdown is None and "elevenlabs.io/docs" in m.lifecycle_source
    flash = catalog.get_model("eleven-flash-v2.5").prices_usd["mchar"]
    assert flash == catalog.get_model("eleven-v3").prices_usd["mchar"] / 2  # 0.5 credit a char


# ------------------------------------------------------------------ faults
def test_a_rate_limit_is_retried_by_the_sdk_and_billed_once(double: ElevenLabsDouble,
                                                            tmp_path: Path) -> None:
    double.fail("429", retry_after="1")
    r = speak(voice(double), tmp_path / "a.wav", text="Shop now.")
    first, second = double.speech_requests()
    assert second["time"] - first["time"] >= 0.9  # Retry-After honoured; a lower bound only
    assert r.usage.cost_usd == pytest.approx(double.charged_usd) and double.characters == 9


def test_server_errors_after_retries_are_a_transient_provider_error(
        double: ElevenLabsDouble, tmp_path: Path) -> None:
    double.fail("503", times=2, retry_after="1")
    out = tmp_path / "a.wav"
    with pytest.raises(ProviderAPIError, match="system_busy") as info:
        speak(voice(double, max_retries=1), out)
    assert info.value.status == 503 and info.value.transient
    assert info.value.usage.cost_usd == 0 and double.charged_usd == 0 and not out.exists()
    assert len(double.speech_requests()) == 2


def test_quota_exceeded_says_so_and_is_not_retried(double: ElevenLabsDouble,
                                                   tmp_path: Path) -> None:
    double.fail("quota")
    with pytest.raises(ProviderAPIError, match="quota_exceeded.*credits remaining") as info:
        speak(voice(double), tmp_path / "a.wav")
    assert info.value.status == 401 and not info.value.transient
    assert "usage-based billing" in str(info.value) and len(double.speech_requests()) == 1


def test_a_refused_key_never_shows_in_errors_or_reprs(double: ElevenLabsDouble,
                                                      tmp_path: Path) -> None:
    v = voice(double)
    for text in (repr(v), str(v), repr(vars(v))):
        assert KEY not in text
    double.fail("401")  # the double echoes the key back in its message
    with pytest.raises(ProviderAPIError) as info:
        speak(v, tmp_path / "a.wav")
    assert info.value.status == 401 and "invalid_api_key" in str(info.value)
    assert KEY not in str(info.value) and "***" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unreadable_audio_is_an_output_error_that_keeps_the_cost(double: ElevenLabsDouble,
                                                                  tmp_path: Path) -> None:
    double.fail("garbled")
    out = tmp_path / "a.wav"
    with pytest.raises(ProviderOutputError, match="could not be read") as info:
        speak(voice(double), out)
    assert double.charged_usd > 0
    assert info.value.usage.cost_usd == pytest.approx(double.charged_usd)
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_a_missing_alignment_leaves_the_words_to_be_estimated(double: ElevenLabsDouble,
                                                              tmp_path: Path) -> None:
    double.fail("no_alignment")
    r = speak(voice(double), tmp_path / "a.wav")
    assert r.words == [] and r.timings is None and r.duration_s > 1


def test_bad_voice_or_speed_is_refused_before_any_request(double: ElevenLabsDouble,
                                                          tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="narrator-f.*ElevenLabs voice id"):
        speak(voice(double), tmp_path / "a.wav", voice="gravel")
    with pytest.raises(InvalidInput, match=r"0\.7 to 1\.2"):
        speak(voice(double), tmp_path / "a.wav", speed=2.0)
    assert double.speech_requests() == []


def test_key_and_base_url_come_from_the_environment(double: ElevenLabsDouble, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(keys.MissingKey, match="ELEVENLABS_API_KEY"):
        ElevenLabsSpeech()
    assert ElevenLabsSpeech(key_on_use=True).model == "eleven-multilingual-v2"  # asks later
    monkeypatch.setenv("ELEVENLABS_BASE_URL", double.base_url)
    keys.set_keys(elevenlabs=KEY, prompt=False)
    v = ElevenLabsSpeech()
    assert v.base_url == double.base_url
    r = speak(v, tmp_path / "a.wav", text="Shop now.")
    assert r.usage.cost_usd == pytest.approx(double.charged_usd)


def test_only_elevenlabs_voice_models_are_accepted() -> None:
    with pytest.raises(InvalidInput, match="eleven-multilingual-v2"):
        ElevenLabsSpeech("tts-1", api_key=KEY)


# ------------------------------------------------------------------ the account's voices
def test_the_accounts_voices_are_listed_across_pages(double: ElevenLabsDouble,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rows = asyncio.run(list_voices(api_key=KEY, base_url=double.base_url))
    assert [r["voice_id"] for r in rows] == [v[0] for v in PREMADE] + [CLONED[0]]
    pages = [r for r in double.requests if r["path"] == "/v2/voices"]
    assert len(pages) == 2 and pages[1]["query"]["next_page_token"] == "3"
    assert pages[0]["query"]["page_size"] == "100" and pages[0]["headers"]["xi-api-key"] == KEY
    mine = {r["voice_id"]: r for r in rows}
    assert mine["pFZP5JQG7iQjIQuC4Bku"]["our_name"] == "warm"
    assert mine[CLONED[0]]["category"] == "cloned"
    monkeypatch.setenv("ELEVENLABS_API_KEY", KEY)
    monkeypatch.setenv("ELEVENLABS_BASE_URL", double.base_url)
    df = voices_table(provider="elevenlabs", search="british")
    assert set(df["name"]) == {"Lily", "George"} and "preview_url" in df.columns
    assert list(voices_table()["voice"]) == list(VOICES)
    with pytest.raises(InvalidInput, match="elevenlabs"):
        voices_table(provider="playht")


def test_a_refused_listing_names_the_status(double: ElevenLabsDouble) -> None:
    with pytest.raises(ProviderAPIError, match="invalid_api_key") as info:
        asyncio.run(list_voices(api_key="wrong-" + "k" * 20, base_url=double.base_url))
    assert info.value.status == 401


def test_the_recorded_answer_decodes_as_the_sdk_reads_it() -> None:
    """The SDK's own response model reads the recorded shape (aliases included)."""
    from elevenlabs.types import AudioWithTimestampsResponse

    pcm = (b"\x00\x10" * 2400)
    got = AudioWithTimestampsResponse.model_validate(
        {"audio_base64": base64.b64encode(pcm).decode(), "alignment": RECORDED_ALIGNMENT,
         "normalized_alignment": RECORDED_ALIGNMENT})
    assert base64.b64decode(got.audio_base_64) == pcm
    assert got.alignment is not None and got.alignment.characters[0] == "H"
