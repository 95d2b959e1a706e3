"""ElevenLabs text to speech with word timings, through the official `elevenlabs` SDK.

One call per line: POST /v1/text-to-speech/{voice_id}/with-timestamps (the SDK's
`AsyncElevenLabs().text_to_speech.convert_with_timestamps`), which answers with the audio as
base64 and a character alignment (`alignment`: the text as sent; `normalized_alignment`: as
spoken after number/date expansion). The alignment of the text as sent becomes the line's
word timings, marked `"provider"`, so captions can follow the voice word by word.

Sources (read 2026-12-05): the elevenlabs 2.78 SDK (text_to_speech/raw_client.py,
types/audio_with_timestamps_response.py, types/character_alignment_response_model.py,
types/voice_settings.py, text_to_speech/types/..._output_format.py, voices/raw_client.py,
core/http_client.py for retries); elevenlabs.io/docs/api-reference (authentication by the
`xi-api-key` header; response headers `request-id` and `character-cost`, per
github.com/elevenlabs/elevenlabs-js/issues/407); help.elevenlabs.io "API Error Code 400 or
401" (`detail.status`: invalid_api_key, quota_exceeded, voice_not_found, ...).

The SDK retries 408/409/429/5xx itself (`max_retries`, default 2) honouring Retry-After;
what still fails becomes a redacted ProviderAPIError. ElevenLabs bills characters, so a
refused or failed request costs nothing; a 200 whose audio cannot be read was billed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import tempfile
import wave
from pathlib import Path
from typing import Any, Literal

from nbvideo import keys
from nbvideo.errors import InvalidInput
from nbvideo.media.audio_io import convert_args, run_async, wav_duration
from nbvideo.media.word_times import words_from_alignment
from nbvideo.model.speech import SPEED_RANGE
from nbvideo.providers import catalog
from nbvideo.providers.base import (
    ProviderAPIError,
    ProviderOutputError,
    SpeechRequest,
    SpeechResult,
    Usage,
    VendorKey,
    WordTiming,
)
from nbvideo.providers.voices import ELEVENLABS_VOICE_ID, VOICES, get_voice

__all__ = ["CREDITS_PER_CHARACTER", "ElevenLabsSpeech", "OutputFormat", "list_voices",
           "list_voices_sync"]

# Output formats we can turn into our 48 kHz WAV without a lossy decode: raw 16-bit PCM
# (little-endian, mono) or WAV at these rates. The SDK docstring: "PCM and WAV formats with
# 44.1kHz sample rate requires you to be subscribed to Pro tier or above", so the default is
# 24 kHz (every tier; the rate OpenAI's voices come at too).
OutputFormat = Literal["pcm_16000", "pcm_22050", "pcm_24000", "pcm_44100", "pcm_48000",
                       "wav_16000", "wav_22050", "wav_24000", "wav_44100", "wav_48000"]

CREDITS_PER_CHARACTER = {"eleven_multilingual_v2": 1.0, "eleven_v3": 1.0,
                         "eleven_flash_v2_5": 0.5}
"""Credits one character of text costs, by model (help.elevenlabs.io "How are credits
consumed": Flash/Turbo 0.5 per character, Multilingual v2 and v3 1): the `character-cost`
response header counts credits, so dividing by this gives the characters billed (a library
voice with a price multiplier bills more than the text's length)."""

DEFAULT_BASE_URL = "https://api.elevenlabs.io"


def _detail(body: Any) -> tuple[str, str]:
    """(status, message) of an ElevenLabs error body {"detail": {"status", "message"}} (a
    422 has {"detail": [{"loc", "msg"}, ...]}); empty strings when it has neither."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        return str(detail.get("status") or ""), str(detail.get("message") or "")
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        where = ".".join(str(x) for x in first.get("loc", []) if x != "body")
        return "invalid_request", f"{where}: {first.get('msg', '')}".strip(": ")
    if isinstance(detail, str):
        return "", detail
    return "", str(body)[:300] if body else ""


_HINTS = {
    "invalid_api_key": "check ELEVENLABS_API_KEY (nbvideo.set_keys(elevenlabs=...))",
    "quota_exceeded": "the account's credits are used up: wait for the monthly reset, enable "
                      "usage-based billing (Creator and above) or switch voice_model",
    "voice_not_found": "the voice id is not on this account: see nv.voices(provider="
                       "'elevenlabs')",
    "too_many_concurrent_requests": "the plan's concurrency limit: fewer lines at once",
    "system_busy": "ElevenLabs is busy: try again shortly",
}


def _client(key: str, base_url: str, timeout_s: float) -> tuple[Any, Any]:
    import httpx
    from elevenlabs.client import AsyncElevenLabs

    http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=True)
    return AsyncElevenLabs(api_key=key, base_url=base_url, timeout=timeout_s,
                           httpx_client=http), http


class ElevenLabsSpeech(VendorKey):
    """VoiceModel over ElevenLabs' text to speech with timestamps.

    Example: ``ElevenLabsSpeech("eleven-multilingual-v2")`` (key from ELEVENLABS_API_KEY;
    ELEVENLABS_BASE_URL points it at a proxy or a test double). `voice` in a request is one
    of our names (narrator-f, narrator-m, warm, bright, mapped onto ElevenLabs default
    voices) or an ElevenLabs voice id from ``nv.voices(provider="elevenlabs")``.
    """

    provider = "elevenlabs"

    def __init__(self, model: str = "eleven-multilingual-v2", *, api_key: str | None = None,
                 base_url: str | None = None, max_retries: int = 2, timeout_s: float = 120,
                 output_format: OutputFormat = "pcm_24000", key_on_use: bool = False,
                 client: Any = None) -> None:
        self.spec = catalog.get_model(model)
        if self.spec.provider != "elevenlabs" or self.spec.kind != "audio":
            raise InvalidInput(f"model {model!r} is a {self.spec.provider} {self.spec.kind} "
                               "model; this needs an ElevenLabs voice model: " + ", ".join(
                                   m.id for m in catalog.models("audio", "elevenlabs")))
        if output_format not in OutputFormat.__args__:  # type: ignore[attr-defined]
            raise InvalidInput(f"output_format={output_format!r}: one of "
                               f"{', '.join(OutputFormat.__args__)} (PCM we can read exactly)")  # type: ignore[attr-defined]
        self.model = self.spec.id
        # the key goes only to ElevenLabs or a server named for it (ELEVENLABS_BASE_URL / base_url=)
        self.base_url = keys.key_destination("elevenlabs", base_url)
        self.output_format: OutputFormat = output_format
        self.max_retries, self.timeout_s, self._client = max_retries, timeout_s, client
        self._given = keys.Secret(api_key) if api_key else None
        if not key_on_use:
            self.check_key()

    def __repr__(self) -> str:
        where = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"ElevenLabsSpeech(model={self.model!r}{where})"

    def _new_client(self) -> tuple[Any, Any]:
        """(SDK client, its httpx client): one per call (safe across event loops), closed
        by the caller; base_url replaces https://api.elevenlabs.io for a proxy or a double."""
        return _client(str(self._key), self.base_url or DEFAULT_BASE_URL, self.timeout_s)

    # ------------------------------------------------------------------ the request
    def voice_id(self, voice: str) -> str:
        """Our voice name -> its ElevenLabs default voice; an ElevenLabs voice id as it is."""
        if voice in VOICES:
            return get_voice(voice).elevenlabs
        if ELEVENLABS_VOICE_ID.match(voice):
            return voice
        raise InvalidInput(f"voice {voice!r} is not known; voices: {', '.join(VOICES)}, or an "
                           "ElevenLabs voice id (20 letters and digits) from "
                           "nv.voices(provider='elevenlabs')")

    def request_body(self, req: SpeechRequest) -> dict[str, Any]:
        """The arguments of convert_with_timestamps for `req` (what the API receives: the
        voice id in the path, output_format in the query, the rest as the JSON body)."""
        settings = dict(req.settings.given()) if req.settings is not None else {}
        settings.pop("speed", None)  # the request's own speed wins (it carries the setting)
        if req.speed is not None:
            lo, hi = SPEED_RANGE
            if not lo <= req.speed <= hi:
                raise InvalidInput(f"speed={req.speed:g}: ElevenLabs takes {lo} to {hi} "
                                   "(voice_settings.speed)")
            settings["speed"] = req.speed
        body: dict[str, Any] = {"voice_id": self.voice_id(req.voice), "text": req.text,
                                "model_id": self.spec.ref, "output_format": self.output_format,
                                "seed": req.seed}
        if settings:
            body["voice_settings"] = settings
        return body

    def _usage(self, req: SpeechRequest, credits: float | None, request_id: str | None) -> Usage:
        """Characters billed at the catalog price: the text's length, or what the
        `character-cost` header's credits come to (a voice with a multiplier bills more)."""
        chars = float(len(req.text))
        per = CREDITS_PER_CHARACTER.get(self.spec.ref, 1.0)
        if credits is not None and credits / per > chars:
            chars = credits / per
        usage = catalog.price(self.spec, characters=chars)  # type: ignore[arg-type]
        return usage.model_copy(update={"request_id": request_id})

    def estimate_usd(self, req: SpeechRequest) -> float:
        """What speaking `req` costs, for the money gate: exact for a default voice (billed by
        the characters of the text)."""
        return catalog.price(self.spec, characters=len(req.text)).cost_usd

    # ------------------------------------------------------------------ the call
    async def _call(self, body: dict[str, Any]) -> tuple[Any, dict[str, str]]:
        from elevenlabs.core.api_error import ApiError
        from elevenlabs.types import VoiceSettings as SdkVoiceSettings

        client, http = (self._client, None) if self._client else self._new_client()
        args = dict(body)
        voice_id = args.pop("voice_id")
        if "voice_settings" in args:
            args["voice_settings"] = SdkVoiceSettings(**args["voice_settings"])
        try:
            raw = await client.text_to_speech.with_raw_response.convert_with_timestamps(
                voice_id, **args, request_options={"max_retries": self.max_retries,
                                                   "timeout_in_seconds": int(self.timeout_s)})
            return raw.data, {k.lower(): v for k, v in raw.headers.items()}
        except ApiError as exc:
            status, message = _detail(exc.body)
            hint = _HINTS.get(status, "")
            code = exc.status_code
            rid = (exc.headers or {}).get("request-id")
            text = (f"ElevenLabs speech with {self.model} failed (HTTP {code}"
                    f"{', ' + status if status else ''}): {message or 'no message'}"
                    f"{'; ' + hint if hint else ''}{f' [request {rid}]' if rid else ''}")
            # quota_exceeded is a 401/400 that waiting does not fix within a call
            raise ProviderAPIError(self._clean(text), status=code,
                                   transient=None if status != "quota_exceeded" else False
                                   ) from None
        except Exception as exc:  # network: httpx timeouts and transport errors
            import httpx

            if not isinstance(exc, httpx.HTTPError):
                raise
            where = self.base_url or DEFAULT_BASE_URL
            kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not reach"
            raise ProviderAPIError(self._clean(
                f"ElevenLabs speech with {self.model} {kind} {where}: {exc}"), status=None
                ) from None
        finally:
            if http is not None:
                await http.aclose()

    async def speak(self, req: SpeechRequest, out: Path) -> SpeechResult:
        body = self.request_body(req)  # refuses a bad voice or speed before any request
        data, headers = await self._call(body)
        request_id = headers.get("request-id")
        try:
            credits: float | None = float(headers["character-cost"])
        except (KeyError, ValueError):
            credits = None
        billed = self._usage(req, credits, request_id)
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".part")
        problem: str | None = None
        duration = 0.0
        try:
            audio = base64.b64decode(data.audio_base_64 or "", validate=True)
        except (binascii.Error, ValueError):
            audio, problem = b"", "audio_base64 is not base64"
        try:
            if not problem:
                problem = await self._to_wav(audio, part)
            if not problem and (duration := wav_duration(part)) <= 0:
                problem = "no audio samples"
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if problem:
            part.unlink(missing_ok=True)
            raise ProviderOutputError(self._clean(
                f"ElevenLabs {self.model} returned audio that could not be read "
                f"({len(audio)} bytes, {self.output_format}): {problem}"), usage=billed)
        words, timings = self._words(data, duration)
        part.replace(out)
        return SpeechResult(path=out, duration_s=duration, voice=body["voice_id"], usage=billed,
                            words=words, timings=timings)

    async def _to_wav(self, audio: bytes, part: Path) -> str | None:
        """Write `audio` (in our output format) as our 48 kHz mono WAV; a problem or None."""
        if not audio:
            return "empty audio"
        with tempfile.TemporaryDirectory(prefix=".eleven-") as tmp:
            raw = Path(tmp) / "speech.wav"
            if self.output_format.startswith("pcm_"):
                if len(audio) % 2:
                    return f"odd byte count {len(audio)} for 16-bit PCM"
                rate = int(self.output_format.split("_")[1])
                with wave.open(str(raw), "wb") as w:  # raw s16le mono -> a WAV ffmpeg reads
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(rate)
                    w.writeframes(audio)
            else:
                raw.write_bytes(audio)
            code, err = await run_async(convert_args(raw, part))
        if code:
            return err.splitlines()[-1] if err else f"ffmpeg exit code {code}"
        return None

    def _words(self, data: Any, duration: float) -> tuple[list[WordTiming], Any]:
        """The alignment of the text as sent, as words; none (to be estimated) if missing."""
        al = getattr(data, "alignment", None)
        if al is None:
            return [], None
        try:
            words = words_from_alignment(al.characters, al.character_start_times_seconds,
                                         al.character_end_times_seconds, duration)
        except (ValueError, TypeError):
            return [], None  # a broken alignment is estimated from the audio instead
        return (words, "provider") if words else ([], None)


# ---------------------------------------------------------------------- the account's voices

async def list_voices(*, api_key: str | None = None, base_url: str | None = None,
                      search: str | None = None, category: str | None = None,
                      max_voices: int = 500) -> list[dict[str, Any]]:
    """The voices this account can use (default voices and its own), via GET /v2/voices
    (`voices.search`, 100 a page, following `next_page_token`), as plain rows."""
    from elevenlabs.core.api_error import ApiError

    key = keys.Secret(api_key) if api_key else keys.get_key("elevenlabs")
    where = keys.key_destination("elevenlabs", base_url) or DEFAULT_BASE_URL
    client, http = _client(str(key), where, 60.0)
    rows: list[dict[str, Any]] = []
    ours = {v.elevenlabs: v.name for v in VOICES.values()}
    token: str | None = None
    try:
        while len(rows) < max_voices:
            page = await client.voices.search(page_size=100, next_page_token=token,
                                              search=search, category=category)
            for v in page.voices:
                labels = v.labels or {}
                rows.append({"voice_id": v.voice_id, "name": v.name or "",
                             "category": str(v.category or ""),
                             "gender": labels.get("gender", ""), "age": labels.get("age", ""),
                             "accent": labels.get("accent", ""),
                             "use_case": labels.get("use_case", labels.get("use case", "")),
                             "description": v.description or labels.get("description", ""),
                             "our_name": ours.get(v.voice_id, ""),
                             "preview_url": v.preview_url or ""})
            if not page.has_more or not page.next_page_token:
                break
            token = page.next_page_token
    except ApiError as exc:
        status, message = _detail(exc.body)
        raise ProviderAPIError(keys.redact(
            f"ElevenLabs voices could not be listed (HTTP {exc.status_code}"
            f"{', ' + status if status else ''}): {message}"), status=exc.status_code) from None
    finally:
        await http.aclose()
    return rows[:max_voices]


def list_voices_sync(**kwargs: Any) -> list[dict[str, Any]]:
    """`list_voices` from sync code, also inside a running notebook loop (in a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(list_voices(**kwargs))
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, list_voices(**kwargs)).result()

