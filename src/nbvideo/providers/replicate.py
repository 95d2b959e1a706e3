"""Replicate: flux-schnell frames and image-to-video clips through the official async client.

API facts relied on, read in replicate-python 1.0.7 (client.py, prediction.py, model.py,
helpers.py) and Replicate's docs (topics/predictions/create-a-prediction, input-files):
- `Client(api_token, base_url=..., timeout=..., **httpx_kwargs)` sends `Authorization: Bearer`
  to {base_url}/v1/...; extra kwargs (our `event_hooks`) reach the httpx client.
- `client.models.predictions.async_create(model="owner/name", input=..., wait=N)` POSTs
  /v1/models/{owner}/{name}/predictions with `Prefer: wait=N` (1-60 s; read timeout N+0.5 s).
  Unfinished by then, it answers starting|processing; file outputs may come before the status
  flips. `predictions.async_get(id)` GETs /v1/predictions/{id} (no wait option, hence our
  schedule); `async_cancel(id)` POSTs .../cancel. A Prediction has id, model, version, status,
  input, output, error, logs, metrics{predict_time, total_time}, created_at, urls{get, cancel}.
- Retries the SDK leaves out are in replicate_http; when to poll is in replicate_polling.
- Webhooks where there is a way in: a kernel has no public URL, but a notebook server behind
  JupyterHub's proxy has one. When the nbvideo server extension (nbvideo.serverext) announces
  itself in the spool (webhooks.py), a video create carries `webhook` and
  `webhook_events_filter: ["completed"]` (replicate.com/docs/topics/webhooks/setup-webhook;
  the SDK passes both through, prediction.py CreatePredictionParams), and the wait looks in
  the spool for the verified prediction between status requests, which then come only every
  `webhook_fallback_s` (a lost webhook costs time, not the clip). Without the extension (a
  laptop) status comes from polling, scheduled from the expected latency and the model's own
  progress bar.
- File inputs: by default the client uploads files (POST /v1/files) and passes their URL;
  with file_encoding_strategy="base64" it inlines a data URI. We inline a data URI we build
  ourselves: one request instead of two, no upload to expire or delete, nothing a resumed
  ticket depends on. Replicate recommends data URIs under 1 MB, so bigger frames go as JPEG.
Input schemas: before a model's first prediction its current version's schema is fetched
(GET /v1/models/{owner}/{name}) and every input checked against it (replicate_schema.py), so a
mapping mistake is refused before anything is created or paid.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import replicate
from replicate.prediction import Prediction

from nbvideo.errors import InvalidInput, NbvideoError
from nbvideo.keys import Secret, key_destination
from nbvideo.providers.base import (
    ClipRequest,
    CreateMayExist,
    FrameRequest,
    MediaResult,
    PredictionFailed,
    ProviderError,
    Ticket,
    VendorKey,
    WaitTimeout,
)
from nbvideo.providers.catalog import get_model, price
from nbvideo.providers.download import download, paid_video
from nbvideo.providers.replicate_http import ReplicateHTTP
from nbvideo.providers.replicate_inputs import (
    VIDEO_FIELDS,
    clip_input,
    fit_png,
    frame_input,
    image_data_uri,
)
from nbvideo.providers.replicate_polling import age_s, created_at, next_poll_offset, parse_time
from nbvideo.providers.replicate_reconcile import find_created, remember
from nbvideo.providers.replicate_schema import (
    RecordedSchema,
    SchemaBook,
    SchemaGate,
    check_inputs,
    record_from_model,
)
from nbvideo.webhooks import EVENTS_FILTER, Spool

# Typical wall time (create -> succeeded) of a 5 s 720p clip or one image; the polling
# schedule starts from it and each instance then learns its own scale from real completions.
TYPICAL_LATENCY_S = {"flux-schnell": 2.0, "flux-kontext-pro": 8.0, "wan-2.5-i2v-fast": 60.0, "kling-v2.1": 150.0,
                     "veo-3-fast": 75.0, "hailuo-02": 120.0}
log = logging.getLogger(__name__)
SYNC_HOLD_MAX_S = 5  # hold a video create open only if the model should finish within this
TERMINAL = ("succeeded", "failed", "canceled")
WEBHOOK_FALLBACK_S = 60.0  # with a webhook asked for, a status request at most this often
SPOOL_CHECK_S = 0.25  # how often a waiter looks for its webhook (a local stat, no request)
WEBHOOK_MISSES = 3  # hooked predictions in a row that only a poll saw end: stop asking


async def _run_to_end(fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn` in a thread; if canceled, let it finish first so nothing writes behind us."""
    fut = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        await asyncio.wait({fut})
        raise


async def _notify(callback: Callable[[Ticket], Any] | None, ticket: Ticket) -> None:
    if callback is not None:
        result = callback(ticket)
        if inspect.isawaitable(result):
            await result


class _Replicate(VendorKey):
    """What frames and clips share: client per event loop, retries, polling, redaction."""

    provider = "replicate"
    _kind = ""

    def __init__(self, model: str, *, api_token: str | None = None, base_url: str | None = None,
                 allowed_download_hosts: frozenset[str] = frozenset(),
                 max_download_bytes: int = 512 << 20, concurrency: int | None = None,
                 typical_latency_s: float | None = None, sync_wait_s: int | None = None,
                 retries: int = 5, backoff_s: float = 0.5, key_on_use: bool = False,
                 webhooks: bool = True, webhook_fallback_s: float = WEBHOOK_FALLBACK_S,
                 webhook_spool: str | Path | None = None) -> None:
        spec = get_model(model)
        if spec.provider != "replicate" or spec.kind != self._kind:
            raise InvalidInput(f"{model} is a {spec.provider} {spec.kind} model, "
                               f"not a Replicate {self._kind} model")
        self.spec, self.model = spec, model
        self._given = Secret(api_token) if api_token else None
        if not key_on_use:
            self.check_key()  # built to be used now: a missing token fails here, by name
        # One gate (keys.key_destination): the token goes to api.replicate.com, or to a server
        # named for Replicate (base_url= or REPLICATE_BASE_URL); anything else is refused.
        self.base_url = key_destination("replicate", base_url)
        self.allowed_download_hosts = frozenset(allowed_download_hosts)
        self.max_download_bytes = max_download_bytes
        self.typical_latency_s = typical_latency_s or TYPICAL_LATENCY_S.get(model, 60.0)
        self.sync_wait_s = sync_wait_s
        self._api = ReplicateHTTP(lambda: self._key, base_url, retries=retries, backoff_s=backoff_s,
                                  concurrency=concurrency or spec.max_concurrency,
                                  clean=self._clean,
                                  allowed_download_hosts=self.allowed_download_hosts)
        self._schemas = SchemaGate()
        self._scale = 1.0  # learned: observed latency / typical latency
        self._asked: dict[str, tuple[str, float]] = {}  # id -> billed (resolution, seconds)
        self._total_s: dict[str, float] = {}
        self._background: set[asyncio.Task[Any]] = set()
        # Webhooks: asked for only while a live server extension announces a URL in the spool.
        self.webhook_fallback_s = webhook_fallback_s
        self._spool = ((Spool(Path(webhook_spool)) if webhook_spool else Spool.default())
                       if webhooks else None)
        self._hooked: set[str] = set()  # prediction ids created with a webhook
        self._misses = 0  # hooked predictions in a row whose webhook never came

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        """Close this event loop's HTTP clients."""
        await self._api.aclose()

    async def input_schema(self, book: SchemaBook | None = None) -> RecordedSchema:
        """The current version's input schema: fetched once, then kept (and put in `book`)."""
        ref = self.spec.ref

        async def fetch() -> RecordedSchema:
            model = await self._api.call("get", lambda c: c.models.async_get(ref))
            latest = model.latest_version
            body = {"latest_version": {"id": latest.id, "openapi_schema": latest.openapi_schema}
                    if latest is not None else None}
            where = (self.base_url or "https://api.replicate.com").rstrip("/")
            return record_from_model(body, ref, f"GET {where}/v1/models/{ref}")

        return await self._schemas.current(ref, fetch, book)

    async def check_inputs(self, inp: dict[str, Any], book: SchemaBook | None = None) -> None:
        """InputRejected (naming model and field) if the model's schema refuses `inp`."""
        check_inputs(self.model, await self.input_schema(book), inp)

    def _ticket(self, pred: Any, prev: Ticket | None = None, polls: int = 0) -> Ticket:
        remember(pred.id)
        self._schemas.saw_version(self.spec.ref, getattr(pred, "version", None))
        out = pred.output[0] if isinstance(pred.output, list) and pred.output else pred.output
        if pred.input:
            self._asked[pred.id] = self._billed(pred.input)
        metrics = pred.metrics or {}
        if metrics.get("total_time"):
            self._total_s[pred.id] = float(metrics["total_time"])
        return Ticket(id=pred.id, model=self.model, status=pred.status,
                      output_url=str(out) if isinstance(out, str) else None,
                      error=self._clean(str(pred.error)) if pred.error else None,
                      created_at=created_at(pred, prev),
                      started_at=parse_time(pred.started_at),
                      progress=pred.progress.percentage if pred.progress else None,
                      predict_time_s=metrics.get("predict_time"),
                      polls=(prev.polls if prev else 0) + polls)

    def _billed(self, inp: dict[str, Any]) -> tuple[str, float]:
        """(our resolution, seconds) a prediction was asked for: what Replicate bills."""
        if self.spec.kind != "video":
            return "720p", 0.0
        field = VIDEO_FIELDS[self.model][1]
        ours = next((k for k, v in self.spec.resolutions.items() if v == inp.get(field)), "720p")
        return ours, float(inp.get("duration") or min(self.spec.durations_s or (5.0,)))

    def _expected_s(self, asked: tuple[str, float] | None) -> float:
        """Typical latency, scaled for longer or 1080p clips and by what we have learned."""
        base = self.typical_latency_s
        if asked and asked[1] and self.model in TYPICAL_LATENCY_S:
            base *= asked[1] / 5.0 * (1.5 if asked[0] == "1080p" else 1.0)
        return base * self._scale

    def webhook_url(self) -> str | None:
        """Where Replicate should call when a prediction ends, if anywhere (see the module
        docstring): the URL a live nbvideo server extension announced, else None."""
        if self._spool is None or self._misses >= WEBHOOK_MISSES:
            return None
        return self._spool.live_url()

    def _count_webhook(self, ticket: Ticket, came: bool) -> None:
        """A server that announces a URL Replicate cannot reach (a hub whose public_url is
        wrong) would slow every clip to the fallback poll: after WEBHOOK_MISSES misses in a
        row this provider stops asking and polls as on a laptop."""
        if ticket.id not in self._hooked:
            return
        self._misses = 0 if came else self._misses + 1
        if self._misses == WEBHOOK_MISSES:
            log.warning("Replicate's webhooks have not arrived for %d predictions in a row; "
                        "%s polls instead (can the internet reach the Jupyter server's public "
                        "URL?)", WEBHOOK_MISSES, self.model)

    async def _create(self, inp: dict[str, Any], hold: int, hook: bool = False) -> Ticket:
        """Create; with `hold` > 0 the request stays open up to that many seconds (max 60).
        The inputs are checked against the model's schema first (no request if refused).
        With `hook`, ask for a webhook when there is a way in (`webhook_url`)."""
        await self.check_inputs(inp)
        url = self.webhook_url() if hook else None
        extra: dict[str, Any] = ({"webhook": url, "webhook_events_filter": list(EVENTS_FILTER)}
                                 if url else {})

        def create(c: replicate.Client) -> Awaitable[Any]:
            if hold > 0:
                return c.models.predictions.async_create(model=self.spec.ref, input=inp,
                                                         wait=min(60, hold), **extra)
            return c.models.predictions.async_create(model=self.spec.ref, input=inp, **extra)
        sent = datetime.now(UTC)
        try:
            pred = await self._api.call("create", create)
        except asyncio.CancelledError:  # stopped before the answer came: it may run and bill
            await self._cancel_made(inp, sent)
            raise
        except CreateMayExist:  # made, perhaps: adopt it if Replicate lists it
            pred = await find_created(self._list_page, self.spec.ref, inp, sent)
            if pred is None:
                raise
            log.warning("Replicate's answer to a %s create was lost; found its prediction %s "
                        "in the listing and carried on with it", self.model, pred.id)
        t = self._ticket(pred)
        if url:
            self._hooked.add(t.id)
        return t

    async def _list_page(self, cursor: Any) -> Any:
        """One page of the account's predictions, newest first."""
        return await self._api.call("list", lambda c: c.predictions.async_list(cursor))

    def _from_webhook(self, ticket: Ticket) -> Ticket | None:
        """The prediction's verified webhook, if the server extension spooled one."""
        data = self._spool.take(ticket.id) if self._spool is not None else None
        if data is None:
            return None
        try:
            pred = Prediction(**data)
        except (TypeError, ValueError):  # not a prediction after all: poll instead
            return None
        return self._ticket(pred, ticket)

    async def _sleep_or_hook(self, ticket: Ticket, seconds: float, watch: bool) -> Ticket | None:
        """Sleep `seconds`; with `watch`, look in the spool meanwhile and return the webhook's
        ticket if one came (one spooled before we started waiting is found at once)."""
        if not watch:
            await asyncio.sleep(seconds)
            return None
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while True:
            got = self._from_webhook(ticket)
            left = end - loop.time()
            if got is not None or left <= 0:
                return got
            await asyncio.sleep(min(SPOOL_CHECK_S, left))

    async def poll(self, ticket: Ticket) -> Ticket:
        """One status request."""
        pred = await self._api.call("get", lambda c: c.predictions.async_get(ticket.id))
        return self._ticket(pred, ticket, polls=1)

    async def cancel(self, ticket: Ticket) -> Ticket:
        """Cancel remotely (a finished prediction is returned unchanged)."""
        pred = await self._api.call("cancel", lambda c: c.predictions.async_cancel(ticket.id))
        return self._ticket(pred, ticket)

    async def _cancel_made(self, inp: dict[str, Any], sent: datetime) -> None:
        """Cancel the prediction a create stopped in flight may have made: nobody will wait
        for it, so it must not run on and be billed."""
        async def find_and_cancel() -> None:
            pred = await find_created(self._list_page, self.spec.ref, inp, sent)
            if pred is not None:
                log.warning("A %s create was stopped before its answer came; canceling the "
                            "prediction %s it made", self.model, pred.id)
                await self.cancel(self._ticket(pred))
        await self._finish_shielded(find_and_cancel())

    async def _cancel_quietly(self, ticket: Ticket) -> None:
        """Cancel even while our own task is being canceled."""
        await self._finish_shielded(self.cancel(ticket))

    async def _finish_shielded(self, work: Awaitable[None]) -> None:
        """Run clean-up to its end even while our own task is being canceled: shielded,
        bounded (15 s), best effort."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        try:
            await asyncio.wait_for(asyncio.shield(task), 15.0)
        except (TimeoutError, asyncio.CancelledError, NbvideoError):
            pass

    async def wait(self, ticket: Ticket, on_status: Callable[[Ticket], Any] | None = None,
                   timeout_s: float = 900.0) -> Ticket:
        """Poll on the `next_poll_offset` schedule until the prediction ends.

        Raises PredictionFailed when it failed and WaitTimeout after `timeout_s`; when the
        awaiting task is canceled, the remote prediction is canceled before re-raising.
        """
        t = ticket
        loop = asyncio.get_running_loop()
        start = loop.time()
        asked_at = 0.0  # the prediction's age at its last status answer (the create's: 0)
        # Watch the spool for our own webhooks, and for a resumed prediction's while a server
        # receives them (it may have been created with one by the kernel before us).
        watch = self._spool is not None and (t.id in self._hooked or bool(self.webhook_url()))
        came = False
        try:
            while t.status not in TERMINAL:
                # A ticket of unknown age (rebuilt from a saved id) is asked about at once.
                delay = 0.0
                if t.created_at is not None:
                    age = age_s(t.created_at)
                    expected = self._expected_s(self._asked.get(t.id))
                    offset = next_poll_offset(t, age, expected)
                    if t.id in self._hooked:  # the webhook wakes us: poll only as a fallback
                        offset = max(offset, asked_at + self.webhook_fallback_s)
                    delay = max(0.0, offset - age)
                left = timeout_s - (loop.time() - start)
                hooked = await self._sleep_or_hook(t, max(0.0, min(delay, left)), watch)
                if hooked is not None:
                    t, came = hooked, True
                elif delay > left:
                    raise WaitTimeout(f"prediction {t.id} ({self.model}) is still {t.status} "
                                      f"after {timeout_s:g} s; it runs (and bills) until "
                                      "canceled", t)
                else:
                    t = await self.poll(t)
                    asked_at = age_s(t.created_at) if t.created_at is not None else 0.0
                await _notify(on_status, t)
        except asyncio.CancelledError:
            if t.status not in TERMINAL:
                await self._cancel_quietly(t)
            raise
        self._count_webhook(t, came)
        if t.status == "failed":
            raise PredictionFailed(f"Replicate prediction {t.id} ({self.model}) failed: "
                                   f"{t.error or 'no error text'}", t)
        if t.status == "succeeded" and t.created_at is not None:
            self._learn(t, t.created_at)
        return t

    def _learn(self, t: Ticket, created: datetime) -> None:
        observed = self._total_s.get(t.id) or age_s(created)
        expected = self._expected_s(self._asked.get(t.id)) / self._scale
        self._scale = min(5.0, max(0.2, 0.7 * self._scale + 0.3 * observed / expected))

    async def _download(self, url: str | None, out: Path, types: tuple[str, ...]) -> str:
        """Fetch an output; returns its source URL without the query (safe to keep)."""
        if not url:
            raise ProviderError(f"{self.model} finished without an output URL")
        st = self._api.clients()
        async with st.sem:
            got = await download(url, out, max_bytes=self.max_download_bytes, content_types=types,
                                 client=st.http)
        return got.source_url


class ReplicateFrames(_Replicate):
    """FrameModel on Replicate (flux-schnell, or flux-kontext-pro with the look's product
    photo): one synchronous create, polling only as fallback."""

    _kind = "image"

    def __init__(self, model: str = "flux-schnell", **kwargs: Any) -> None:
        kwargs.setdefault("max_download_bytes", 64 << 20)
        super().__init__(model, **kwargs)

    async def preflight(self, req: FrameRequest, book: SchemaBook | None = None) -> None:
        """Check this frame's real input against the model's schema (before the money gate)."""
        await self.check_inputs(await asyncio.to_thread(frame_input, self.spec, req), book)

    async def frame(self, req: FrameRequest, out: Path) -> MediaResult:
        """Generate, download, and save as a PNG of exactly req.width x req.height."""
        out = Path(out)
        inp = await asyncio.to_thread(frame_input, self.spec, req)  # may read the reference
        # flux-schnell takes 1-3 s: hold the create long enough that the answer is the image.
        t = await self._create(inp, self.sync_wait_s
                               or max(5, math.ceil(3 * self._expected_s(None))))
        if t.output_url is None or t.status == "failed":
            t = await self.wait(t)
        if t.status == "canceled":
            raise ProviderError(f"prediction {t.id} ({self.model}) was canceled")
        src = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.src"
        dst = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.png"
        usage = price(self.spec, images=1).model_copy(update={"request_id": t.id})
        try:
            source = await self._download(t.output_url, src,
                                          ("image/png", "image/webp", "image/jpeg"))
            await _run_to_end(fit_png, src, dst, req.width, req.height)
            os.replace(dst, out)
        except ProviderError as exc:
            exc.usage = usage  # generated, so billed, even if we could not keep it
            raise
        finally:
            src.unlink(missing_ok=True)
            dst.unlink(missing_ok=True)
        return MediaResult(path=out, width=req.width, height=req.height, usage=usage,
                           source_url=source)


class ReplicateVideo(_Replicate):
    """VideoModel on Replicate with the remote lifecycle: submit, poll/wait, cancel, fetch."""

    _kind = "video"

    def __init__(self, model: str = "wan-2.5-i2v-fast", *, negative_prompt: str = "",
                 **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.negative_prompt = negative_prompt

    def key_inputs(self, req: ClipRequest) -> dict[str, Any]:
        """What the model is really sent (the frame stands in by name; the pipeline adds its
        checksum), so scene edits that send the same request reuse the paid take."""
        return clip_input(self.spec, req, "<frame>", self.negative_prompt)

    async def preflight(self, req: ClipRequest, book: SchemaBook | None = None) -> None:
        """Check this clip's real input against the model's schema (before the money gate)."""
        await self.check_inputs(self.key_inputs(req), book)

    async def submit(self, req: ClipRequest) -> Ticket:
        """Create the prediction and return at once with its id (persist it before waiting).

        The create is held open (Prefer: wait) only when the model should finish within
        SYNC_HOLD_MAX_S, so the answer is the result itself and no status request is needed.
        """
        image = await asyncio.to_thread(image_data_uri, req.frame_path)
        inp = clip_input(self.spec, req, image, self.negative_prompt)
        expected = self._expected_s(self._billed(inp))
        hold = (self.sync_wait_s if self.sync_wait_s is not None
                else math.ceil(1.5 * expected) if 1.5 * expected <= SYNC_HOLD_MAX_S else 0)
        return await self._create(inp, hold, hook=hold == 0)  # a held create needs no webhook

    async def fetch(self, ticket: Ticket, out: Path) -> MediaResult:
        """Download the MP4 (size-capped, video/mp4 only), probe it, price what was billed.

        A failure here still carries `usage`: the prediction succeeded, so it was paid for.
        """
        out = Path(out)
        if ticket.status != "succeeded":
            raise ProviderError(f"prediction {ticket.id} is {ticket.status}; nothing to fetch")
        if ticket.output_url is None or ticket.id not in self._asked:
            ticket = await self.poll(ticket)
        ours, seconds = self._asked[ticket.id]
        usage = price(self.spec, resolution=ours, seconds=seconds).model_copy(
            update={"request_id": ticket.id})
        source, info = await paid_video(self._download(ticket.output_url, out, ("video/mp4",)),
                                        out, ticket.id, usage)
        return MediaResult(path=out, width=info.width, height=info.height,
                           duration_s=info.duration_s, fps=info.fps, usage=usage,
                           source_url=source)

    async def clip(self, req: ClipRequest, out: Path,
                   on_ticket: Callable[[Ticket], Any] | None = None) -> MediaResult:
        """submit + wait + fetch. `on_ticket` sees the ticket before any waiting (persist it).

        If the wait is canceled, times out or loses contact, the remote prediction is canceled
        too: nobody will fetch its result, so it should stop costing money.
        """
        t = await self.submit(req)
        try:
            await _notify(on_ticket, t)
        except asyncio.CancelledError:
            await self._cancel_quietly(t)
            raise
        try:
            t = await self.wait(t)  # cancels remotely itself when canceled
        except PredictionFailed:
            raise
        except Exception as exc:
            await self._cancel_quietly(getattr(exc, "ticket", t))
            raise
        if t.status != "succeeded":
            raise ProviderError(f"prediction {t.id} ({self.model}) was {t.status}")
        return await self.fetch(t, out)
