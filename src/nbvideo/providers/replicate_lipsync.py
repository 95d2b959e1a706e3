"""Lip sync on Replicate (sync/lipsync-2): a clip of a person plus a voice line, made to speak it.

Speaks Replicate through the same `_Replicate` machinery as frames and clips (the official
async client, retries, the polling schedule, webhooks, guarded downloads, redaction); only
the input mapping and the billing differ.

Input fields, read on the model's API page (replicate.com/sync/lipsync-2/versions/
0f054fe9.../api, read 2026-12-05; the schema is kept in tests/fixtures/
replicate_schemas/lipsync-2.json and the inputs we send are validated against it in the tests):
- `video` (string/uri, "Input video file (.mp4)") and `audio` (string/uri, "Input audio file
  (.wav)"): sent inline as data URIs, as the frames of image-to-video models are
  (replicate_inputs.image_data_uri; Replicate accepts a data URI wherever a file is taken,
  replicate.com/docs/topics/predictions/input-files).
- `sync_mode` (default "loop"): "cut_off" here. The audio we send is already exactly as
  long as the clip (lead silence, the line, silence to the end), so nothing is looped or
  cut; "cut_off" only guards against a rounding difference of a frame.
- `temperature` (0-1, default 0.5, "how expressive"): the default, sent explicitly so the
  cache key says what was asked.
Output: one URI (string) of an MP4 with the audio muxed. Billing: per second of output
(sync. bills per output frame), so the price is taken from the probed output length.
"""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbvideo.errors import InvalidInput
from nbvideo.providers.base import (
    LipSyncRequest,
    MediaResult,
    ProviderError,
    ProviderOutputError,
    Ticket,
)
from nbvideo.providers.catalog import price
from nbvideo.providers.download import paid_video
from nbvideo.providers.replicate import _notify, _Replicate

MAX_INLINE_BYTES = 20 << 20
"""Largest clip or line sent inline (sync.'s own upload limit is 20 MB, sync.so/docs/
api-reference); a longer or heavier clip is refused by name rather than sent to fail."""
SYNC_MODE = "cut_off"
TEMPERATURE = 0.5


def media_data_uri(path: Path, mime: str, field: str) -> str:
    """A file as a data URI, refused by name when over MAX_INLINE_BYTES."""
    data = Path(path).read_bytes()
    if len(data) > MAX_INLINE_BYTES:
        raise InvalidInput(f"{field}: {Path(path).name} is {len(data) / 1e6:.1f} MB; at most "
                           f"{MAX_INLINE_BYTES / 1e6:.0f} MB can be sent to a lip-sync model")
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def lipsync_input(req: LipSyncRequest, video: str, audio: str) -> dict[str, Any]:
    """sync/lipsync-2's own input for one request (fields from its API page, see above)."""
    return {"video": video, "audio": audio, "sync_mode": SYNC_MODE, "temperature": TEMPERATURE}


class ReplicateLipSync(_Replicate):
    """LipSyncModel on Replicate with the remote lifecycle: submit, wait, cancel, fetch."""

    _kind = "lipsync"

    def __init__(self, model: str = "lipsync-2", **kwargs: Any) -> None:
        kwargs.setdefault("typical_latency_s", 90.0)
        super().__init__(model, **kwargs)

    def key_inputs(self, req: LipSyncRequest) -> dict[str, Any]:
        """What the model is sent, with the files standing in by name (the caller adds
        their checksums), so the same clip and line reuse the paid take."""
        return lipsync_input(req, "<video>", "<audio>")

    async def submit(self, req: LipSyncRequest) -> Ticket:
        """Create the prediction and return at once with its id (persist it before waiting)."""
        video = await asyncio.to_thread(media_data_uri, req.video_path, "video/mp4", "video")
        audio = await asyncio.to_thread(media_data_uri, req.audio_path, "audio/wav", "audio")
        return await self._create(lipsync_input(req, video, audio), 0, hook=True)

    async def fetch(self, ticket: Ticket, out: Path, expected_s: float) -> MediaResult:
        """Download the MP4 (size-capped, video/mp4 only), probe it, price its seconds.

        A failure here still carries `usage` (priced at `expected_s`): the prediction
        succeeded, so it was paid for."""
        out = Path(out)
        if ticket.status != "succeeded":
            raise ProviderError(f"prediction {ticket.id} is {ticket.status}; nothing to fetch")
        if ticket.output_url is None:
            ticket = await self.poll(ticket)
        usage = price(self.spec, seconds=expected_s).model_copy(update={"request_id": ticket.id})
        source, info = await paid_video(self._download(ticket.output_url, out, ("video/mp4",)),
                                        out, ticket.id, usage)
        if not info.has_audio:
            out.unlink(missing_ok=True)
            raise ProviderOutputError(f"the output of {ticket.id} has no audio track; a "
                                      "lip-synced clip carries its line", usage=usage)
        # Billed per output frame at 25 fps (sync.so/docs/product/billing.mdx): the picture's
        # length, in whole 1/25 s.
        frames_s = info.frames / info.fps if info.fps else info.duration_s
        usage = price(self.spec, seconds=math.ceil(round(frames_s * 25, 6)) / 25).model_copy(
            update={"request_id": ticket.id})
        return MediaResult(path=out, width=info.width, height=info.height,
                           duration_s=info.duration_s, fps=info.fps, usage=usage,
                           source_url=source)

    async def lip_sync(self, req: LipSyncRequest, out: Path,
                       on_ticket: Callable[[Ticket], Any] | None = None) -> MediaResult:
        """submit + wait + fetch; `on_ticket` sees the ticket before any waiting."""
        t = await self.submit(req)
        await _notify(on_ticket, t)
        t = await self.wait(t)
        if t.status != "succeeded":
            raise ProviderError(f"prediction {t.id} ({self.model}) was {t.status}")
        return await self.fetch(t, out, req.duration_s)
