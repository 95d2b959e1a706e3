"""OpenAI text to speech through the real SDK (AsyncOpenAI) over HTTP to the API double.

No test touches the internet and none asserts an upper time bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from nbvideo import keys
from nbvideo.errors import InvalidInput
from nbvideo.media.audio_io import SAMPLE_RATE
from nbvideo.providers.base import (
    ProviderAPIError,
    ProviderOutputError,
    SpeechRequest,
    SpeechResult,
    VoiceModel,
)
from nbvideo.providers.openai_tts import OpenAISpeech
from tests.doubles.openai_double import OpenAIDouble, speech_seconds, start_openai_double

KEY = "sk-test-" + "y" * 30
LINE = "Meet the Ridgeline. Waterproof from toe to collar."
PATH = "/v1/audio/speech"


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A developer's real key or base URL must never reach these tests (or the internet)."""
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)
    keys.forget_keys()
    yield
    keys.forget_keys()


@pytest.fixture
def double() -> Iterator[OpenAIDouble]:
    d = start_openai_double(api_key=KEY)
    yield d
    d.stop()


def voice(double: OpenAIDouble, model: str = "gpt-4o-mini-tts") -> OpenAISpeech:
    return OpenAISpeech(model, api_key=KEY, base_url=double.base_url, max_retries=2)


def speak(v: OpenAISpeech, out: Path, **req: object) -> SpeechResult:
    return asyncio.run(v.speak(SpeechRequest(**{"text": LINE, **req}), out))  # type: ignore[arg-type]


def stream(path: Path) -> tuple[str, int, int, float]:
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        n = sum(f.samples for f in c.decode(a))
        return a.codec_context.name, a.rate, a.channels, n / a.rate


@pytest.mark.parametrize("model", ["gpt-4o-mini-tts", "tts-1", "tts-1-hd"])
def test_cost_is_what_the_double_charged(double: OpenAIDouble, model: str,
                                         tmp_path: Path) -> None:
    v = voice(double, model)
    assert isinstance(v, VoiceModel) and v.provider == "openai" and v.model == model
    out = tmp_path / "lines" / "s1.wav"
    r = speak(v, out, voice="warm")
    assert double.charged_usd > 0
    assert r.usage.cost_usd == pytest.approx(double.charged_usd, rel=1e-9)
    assert r.usage.request_id == "req_double1"
    if model == "gpt-4o-mini-tts":
        assert r.usage.unit == "minute" and r.usage.units == pytest.approx(r.duration_s / 60)
    else:
        assert r.usage.unit == "character" and r.usage.units == len(LINE) == double.characters
    assert stream(out)[:3] == ("pcm_s16le", SAMPLE_RATE, 1)  # from the 24 kHz streamed WAV
    assert r.duration_s == pytest.approx(speech_seconds(LINE), abs=1e-3)
    assert not list(out.parent.glob("*.part"))


def test_request_maps_our_voice_and_direction(double: OpenAIDouble, tmp_path: Path) -> None:
    speak(voice(double), tmp_path / "a.wav", voice="bright", speed=1.2,
          instructions="Stress the word waterproof.")
    body = double.bodies(PATH)[-1]
    assert double.requests[-1]["headers"]["authorization"] == f"Bearer {KEY}"
    assert body["model"] == "gpt-4o-mini-tts" and body["voice"] == "nova"
    assert body["input"] == LINE and body["response_format"] == "wav" and body["speed"] == 1.2
    assert body["instructions"].startswith("Bright, upbeat")
    assert body["instructions"].endswith("Stress the word waterproof.")
    speak(voice(double, "tts-1"), tmp_path / "b.wav", voice="coral")  # an OpenAI name
    body = double.bodies(PATH)[-1]
    assert body["voice"] == "coral" and "instructions" not in body and "speed" not in body


def test_speed_makes_a_shorter_line(double: OpenAIDouble, tmp_path: Path) -> None:
    normal = speak(voice(double), tmp_path / "n.wav").duration_s
    fast = speak(voice(double), tmp_path / "f.wav", speed=2.0).duration_s
    assert fast < normal * 0.7


def test_rate_limit_is_retried_and_not_billed(double: OpenAIDouble, tmp_path: Path) -> None:
    double.fail("429", retry_after="0.6")
    r = speak(voice(double, "tts-1"), tmp_path / "s.wav")
    first, second = double.requests
    assert double.counts[PATH] == 2
    assert second["time"] - first["time"] >= 0.55  # Retry-After honoured; a lower bound only
    assert second["headers"]["x-stainless-retry-count"] == "1"
    assert r.usage.cost_usd == pytest.approx(double.charged_usd) and r.usage.units == len(LINE)


def test_server_errors_after_retries_are_a_provider_error(double: OpenAIDouble,
                                                          tmp_path: Path) -> None:
    double.fail("500", times=3, retry_after="0.01")
    out = tmp_path / "s.wav"
    with pytest.raises(ProviderAPIError, match="server had an error") as info:
        speak(voice(double), out)
    assert info.value.status == 500 and double.counts[PATH] == 3
    assert info.value.usage.cost_usd == 0 and not out.exists()


def test_key_never_shows_in_errors_or_reprs(double: OpenAIDouble, tmp_path: Path) -> None:
    v = voice(double)
    for text in (repr(v), str(v), repr(vars(v))):
        assert KEY not in text
    double.fail("401")  # the double echoes the bearer token back, as a careless server might
    with pytest.raises(ProviderAPIError) as info:
        speak(v, tmp_path / "s.wav")
    assert info.value.status == 401 and "***" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unreadable_audio_is_an_output_error_that_keeps_the_cost(double: OpenAIDouble,
                                                                  tmp_path: Path) -> None:
    double.fail("malformed")  # billed, but the WAV is cut off inside its header
    out = tmp_path / "s.wav"
    with pytest.raises(ProviderOutputError, match="could not be read") as info:
        speak(voice(double, "tts-1"), out)
    assert double.charged_usd > 0
    assert info.value.usage.cost_usd == pytest.approx(double.charged_usd)
    assert not out.exists() and not list(tmp_path.glob("*.part"))
    double.fail("garbage")  # a proxy's HTML page with status 200
    with pytest.raises(ProviderOutputError, match="could not be read"):
        speak(voice(double, "tts-1"), out)
    assert not out.exists()


def test_base_url_and_key_come_from_the_environment(double: OpenAIDouble, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", double.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    v = OpenAISpeech("tts-1")
    assert v.base_url == double.base_url
    r = speak(v, tmp_path / "s.wav")
    assert r.usage.cost_usd == pytest.approx(double.charged_usd)


def test_a_compatible_local_server_needs_no_key_and_costs_nothing(tmp_path: Path) -> None:
    d = start_openai_double(api_key="not-needed")
    try:
        v = OpenAISpeech("kokoro", base_url=d.base_url)  # not in the catalog
        r = speak(v, tmp_path / "s.wav")
        assert r.usage.cost_usd == 0 and r.usage.unit == "character"
        assert d.bodies(PATH)[0]["model"] == "kokoro"
    finally:
        d.stop()


def test_only_openai_speech_models_are_accepted() -> None:
    with pytest.raises(InvalidInput, match="gpt-4o-mini-tts"):
        OpenAISpeech("gpt-4o-mini", api_key=KEY)
    with pytest.raises(keys.MissingKey, match="OPENAI_API_KEY"):
        OpenAISpeech()


def test_unknown_voice_lists_ours(double: OpenAIDouble, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="narrator-f"):
        speak(voice(double), tmp_path / "s.wav", voice="gravel")
    assert double.counts[PATH] == 0
