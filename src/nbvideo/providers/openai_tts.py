"""OpenAI text to speech (audio.speech.create) as a VoiceModel.

Same client plumbing as the planner (providers/openai.py): the official AsyncOpenAI SDK,
OPENAI_BASE_URL for OpenAI-compatible servers, the SDK's own retries for 429/5xx/timeouts,
and every message redacted so a key never reaches an error, a log or the ledger.

The endpoint returns the audio itself and no usage, so cost comes from the catalog: tts-1
bills the characters read (exact); gpt-4o-mini-tts is priced by OpenAI's published estimate
per minute of audio, measured on what came back. We ask for WAV (no decoder delay, no
quality loss) and convert it to our 48 kHz mono line format; OpenAI streams WAV with a
placeholder length in its header, which ffmpeg reads to the end regardless.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from openai import AsyncOpenAI

from nbvideo.media.audio_io import convert_args, run_async, wav_duration
from nbvideo.providers import catalog
from nbvideo.providers.base import (
    ProviderOutputError,
    SpeechRequest,
    SpeechResult,
    Usage,
)
from nbvideo.providers.openai import _OpenAIBase
from nbvideo.providers.voices import OPENAI_VOICES, VOICES, estimate_seconds, get_voice

__all__ = ["OpenAISpeech"]

ResponseFormat = Literal["wav", "mp3", "flac", "aac", "opus"]
_NO_DIRECTION = ("tts-1", "tts-1-hd")
"""Models that do not take `instructions` (the API documents they ignore or refuse them)."""


class OpenAISpeech(_OpenAIBase):
    """VoiceModel over OpenAI's speech endpoint.

    Example: ``OpenAISpeech("gpt-4o-mini-tts")`` (key from OPENAI_API_KEY), or
    ``OpenAISpeech("kokoro", base_url="http://localhost:8880/v1")`` for a local server
    that speaks the same API (priced 0). `voice` in a request is one of our names
    (narrator-f, narrator-m, warm, bright) or an OpenAI voice such as "coral".
    """

    _kind = "audio"  # type: ignore[assignment]

    def __init__(self, model: str = "gpt-4o-mini-tts", *, api_key: str | None = None,
                 base_url: str | None = None, max_retries: int = 3, timeout_s: float = 120,
                 client: AsyncOpenAI | None = None, response_format: ResponseFormat = "wav"):
        super().__init__(model, api_key=api_key, base_url=base_url, max_retries=max_retries,
                         timeout_s=timeout_s, client=client)
        if self.spec.kind == "audio" and self.spec.price_basis == "per_image":
            # An unknown model on an OpenAI-compatible server: the base class priced it as an
            # image at 0; characters at 0 say what it really did.
            self.spec = catalog.ModelSpec(id=self.spec.id, provider="openai", kind="audio",
                                          ref=self.spec.ref, title=self.spec.title,
                                          price_basis="per_character", prices_usd={"mchar": 0.0})
        self.response_format: ResponseFormat = response_format

    def request_body(self, req: SpeechRequest) -> dict[str, Any]:
        """The arguments for audio.speech.create (also what a cache key should hash)."""
        if req.voice in VOICES:
            ours = get_voice(req.voice)
            voice, direction = ours.openai, ours.instructions
        elif req.voice in OPENAI_VOICES:
            voice, direction = req.voice, ""
        else:
            get_voice(req.voice)  # raises, listing our names
            raise AssertionError("unreachable")
        body: dict[str, Any] = {"model": self.spec.ref, "voice": voice, "input": req.text,
                                "response_format": self.response_format}
        if req.speed is not None:
            body["speed"] = req.speed
        direction = " ".join(x for x in (direction, req.instructions.strip()) if x)
        if direction and self.spec.ref not in _NO_DIRECTION:
            body["instructions"] = direction
        return body

    def _usage(self, req: SpeechRequest, seconds: float, request_id: str | None) -> Usage:
        usage = catalog.price(self.spec, seconds=seconds, characters=len(req.text))
        return usage.model_copy(update={"request_id": request_id})

    def estimate_usd(self, req: SpeechRequest) -> float:
        """An upper bound of what speaking `req` can cost, for the money gate to reserve:
        exact for a model billed by characters; for one billed by audio minutes, twice the
        line's likely length plus a second (no voice reads an ad line at half its pace)."""
        seconds = 2 * estimate_seconds(req.text, "narrator-f", req.speed) + 1.0
        return catalog.price(self.spec, seconds=seconds, characters=len(req.text)).cost_usd

    async def speak(self, req: SpeechRequest, out: Path) -> SpeechResult:
        body = self.request_body(req)
        request_id: str | None = None
        async with self._session("speech", lambda: Usage()) as client:
            response = await client.audio.speech.create(**body)
            request_id = response.response.headers.get("x-request-id")
            audio = response.content
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".part")
        try:
            with tempfile.TemporaryDirectory(prefix=".tts-") as tmp:
                raw = Path(tmp) / f"speech.{self.response_format}"
                raw.write_bytes(audio)
                code, err = await run_async(convert_args(raw, part))
            problem, duration = None, 0.0
            if code:
                problem = err.splitlines()[-1] if err else f"ffmpeg exit code {code}"
            elif (duration := wav_duration(part)) <= 0:
                problem = "no audio samples"
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if problem:
            part.unlink(missing_ok=True)
            # Billed all the same: by characters exactly, or by the line's likely length.
            billed = self._usage(req, estimate_seconds(req.text, "narrator-f", req.speed),
                                 request_id)
            raise ProviderOutputError(self._clean(
                f"OpenAI {self.model} returned audio that could not be read "
                f"({len(audio)} bytes): {problem}"), usage=billed)
        part.replace(out)
        return SpeechResult(path=out, duration_s=duration, voice=body["voice"],
                            usage=self._usage(req, duration, request_id))
