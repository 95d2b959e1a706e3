"""Runway: image-to-video clips (Gen-4 Turbo, Gen-4.5, Veo 3.1) and gen4_image frames through
the official async SDK (runwayml).

API facts relied on, read in runwayml 5.24 (_client.py, _base_client.py, resources/
image_to_video.py, text_to_image.py, tasks.py, lib/polling.py, types/task_retrieve_response.py)
and Runway's docs (https://docs.dev.runwayml.com/api-details/errors, errors/task-failures/):
- `AsyncRunwayML(api_key, base_url, max_retries, timeout)` sends `Authorization: Bearer` and
  `X-Runway-Version: 2024-11-06` to {base_url}/v1/...; base_url falls back to
  RUNWAYML_BASE_URL, then https://api.dev.runwayml.com. Its retries (2 by default, 0.5-8 s
  backoff, honouring Retry-After) cover 408/409/429/5xx and connection errors on every
  method: Runway's own table says 429/502/503/504 "May retry" and "Runway's SDKs will handle
  retries automatically", so retries of status requests are left to the SDK. Creates are
  not: the SDK retries a POST whose answer was lost (a timeout or a dropped connection after
  the body went out) as readily as one refused, and it sends no idempotency key
  (runwayml 5.24 `_base_client.py`: `_idempotency_header` stays None in `AsyncRunwayML`, so
  the generated `idempotency_key` never becomes a header), so a retried create can start a
  second paid task. A create is therefore sent with `with_options(max_retries=0)` and
  retried here only when Runway answered that it made nothing (429 or 5xx) or no connection
  was made; a lost answer is reported as a task that "may exist", not retried (as the
  Replicate provider does, replicate_http.py), and not transient, so the clips phase does not
  send it again either.
- `image_to_video.create(...)` / `text_to_image.create(...)` answer {id} at once.
  `tasks.retrieve(id)` answers one of PENDING | THROTTLED (queued over the organisation's
  concurrency) | RUNNING (with `progress` 0-1) | SUCCEEDED (`output`: URLs that expire in
  24-48 h) | FAILED (`failure`, `failureCode`) | CANCELLED; terminal tasks carry
  `cost.credits` (what was charged; 0 when refunded), others `estimatedCost.credits`.
  "Consumers of this API should not expect updates more frequently than once every five
  seconds" (tasks.retrieve docstring): the poll interval defaults to 5 s.
  `tasks.delete(id)` cancels a pending/throttled/running task (deletes a finished one).
- The SDK's `wait_for_task_output` polls every 6 +- 1.5 s with no status callback and does
  not cancel the task when the waiting coroutine is canceled; we poll ourselves (same
  endpoint) so a canceled cell stops the task and the clip grid sees each status.
- No webhooks: a notebook kernel has no public URL for Runway to call back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import runwayml

from nbvideo.errors import InvalidInput, NbvideoError
from nbvideo.keys import Secret, key_destination
from nbvideo.providers.base import (
    ClipRequest,
    CreateMayExist,
    FrameRequest,
    MediaResult,
    PredictionFailed,
    ProviderAPIError,
    ProviderError,
    Ticket,
    Usage,
    VendorKey,
    WaitTimeout,
)
from nbvideo.providers.catalog import get_model, price
from nbvideo.providers.download import Fetcher, download, paid_video
from nbvideo.providers.replicate_inputs import fit_png
from nbvideo.providers.replicate_polling import age_s
from nbvideo.providers.runway_inputs import (
    USD_PER_CREDIT,
    clip_body,
    failure_hint,
    failure_transient,
    frame_body,
    image_data_uri,
)

log = logging.getLogger(__name__)

# Wall time (create -> SUCCEEDED) we expect for a 5 s clip or one image: where polling
# starts. Our own guesses from Runway's "Fast"/"Standard" labels (runwayml/skills
# rw-integrate-video), not published figures; each instance learns nothing beyond them, as
# Runway gives progress to poll by.
TYPICAL_LATENCY_S = {"gen4_turbo": 30.0, "gen4.5": 90.0, "veo3.1": 90.0, "veo3.1_fast": 45.0,
                     "gen4_image": 20.0}
POLL_S = 5.0
RUNWAY_API = "https://api.dev.runwayml.com"  # the SDK's default base URL
TERMINAL = ("succeeded", "failed", "canceled")
# Runway's task statuses -> ours (Ticket.status).
STATUS = {"PENDING": "starting", "THROTTLED": "starting", "RUNNING": "processing",
          "SUCCEEDED": "succeeded", "FAILED": "failed", "CANCELLED": "canceled"}


NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors raised before a request left this machine: a create that failed so made
no task, and may be sent again."""


def _pause(retry_after: str | None, attempt: int) -> float:
    """Seconds before create `attempt` + 1: the server's Retry-After (capped at a minute),
    else the SDK's own backoff (0.5 s doubling to 8 s, jittered)."""
    try:
        if retry_after is not None:
            return min(max(float(retry_after), 0.0), 60.0)
    except ValueError:
        pass
    return min(8.0, 0.5 * 2 ** attempt) * random.uniform(0.75, 1.0)


class TaskRefused(ProviderError):
    """A Runway task failed for a reason a new task of the same request would meet again
    (moderation, an unusable input, a rejected output): not retried on the same model.
    `ticket.error` has Runway's failure code and text; `code` the code alone."""

    transient = False

    def __init__(self, message: str, ticket: Ticket, code: str | None = None) -> None:
        super().__init__(message)
        self.ticket, self.code = ticket, code

    def __reduce__(self) -> Any:  # pickles (a campaign worker's error reaches the runner whole)
        return type(self), (str(self), self.ticket, self.code), self.__dict__


@dataclass
class _LoopClients:
    client: runwayml.AsyncRunwayML
    http: Fetcher  # output downloads: no auth header, checked addresses
    sem: asyncio.Semaphore


class _Runway(VendorKey):
    """What frames and clips share: a client per event loop, error mapping, task polling."""

    provider = "runway"
    _kind = ""

    def __init__(self, model: str, *, api_key: str | None = None, base_url: str | None = None,
                 allowed_download_hosts: frozenset[str] = frozenset(),
                 max_download_bytes: int = 512 << 20, concurrency: int | None = None,
                 typical_latency_s: float | None = None, poll_s: float = POLL_S,
                 max_retries: int = 2, key_on_use: bool = False) -> None:
        spec = get_model(model)
        if spec.provider != "runway" or spec.kind != self._kind:
            raise InvalidInput(f"{model} is a {spec.provider} {spec.kind} model, "
                               f"not a Runway {self._kind} model")
        self.spec, self.model = spec, model
        self._given = Secret(api_key) if api_key else None
        if not key_on_use:
            self.check_key()  # built to be used now: a missing key fails here, by name
        # the key goes only to Runway or a server named for it (RUNWAYML_BASE_URL / base_url=)
        self.base_url = key_destination("runway", base_url) or RUNWAY_API
        self.allowed_download_hosts = frozenset(allowed_download_hosts)
        self.max_download_bytes = max_download_bytes
        self.concurrency = concurrency or spec.max_concurrency
        self.typical_latency_s = typical_latency_s or TYPICAL_LATENCY_S.get(model, 60.0)
        self.poll_s = poll_s
        self.max_retries = max_retries
        self._loops: weakref.WeakKeyDictionary[Any, _LoopClients] = weakref.WeakKeyDictionary()
        self._asked: dict[str, tuple[str, float]] = {}  # task id -> (our resolution, seconds)
        self._credits: dict[str, int] = {}  # task id -> credits charged (terminal tasks)
        self._codes: dict[str, str | None] = {}  # task id -> failureCode
        self._final: set[str] = set()  # task ids seen finished: never DELETEd
        self._background: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    def _clients(self) -> _LoopClients:
        loop = asyncio.get_running_loop()
        st = self._loops.get(loop)
        if st is None:
            client = runwayml.AsyncRunwayML(
                api_key=str(self._key), base_url=self.base_url, max_retries=self.max_retries,
                # a create carries the frame as a data URI (up to 5 MB): room to send it
                timeout=httpx.Timeout(60.0, connect=10.0, write=300.0))
            st = self._loops[loop] = _LoopClients(client, Fetcher(self.allowed_download_hosts),
                                                  asyncio.Semaphore(self.concurrency))
        return st

    async def aclose(self) -> None:
        """Close this event loop's HTTP clients."""
        st = self._loops.pop(asyncio.get_running_loop(), None)
        if st is not None:
            await st.http.aclose()
            await st.client.close()

    async def _call(self, op: str, fn: Callable[[runwayml.AsyncRunwayML], Awaitable[Any]]) -> Any:
        """One API call (the SDK retries 429/5xx/connection errors); errors become ours.

        https://docs.dev.runwayml.com/api-details/errors: 400 a bad input (the body's `error`
        says which), 401 a bad key, 404 no such task, 429 over the daily limit, 502/503/504
        load shedding; ProviderAPIError's `transient` follows the status the same way."""
        st = self._clients()
        if op == "create":
            return await self._create_call(st, fn)
        try:
            async with st.sem:
                return await fn(st.client)
        except runwayml.APIError as e:
            raise self._refusal(op, e) from None

    def _refusal(self, op: str, e: runwayml.APIError) -> ProviderAPIError:
        """The SDK's error as ours, worded for the user (the key redacted)."""
        if isinstance(e, runwayml.APIStatusError):
            body = e.body if isinstance(e.body, dict) else {}
            detail = str(body.get("error") or body.get("message") or e.message)
            hint = " (check RUNWAYML_API_SECRET)" if e.status_code == 401 else ""
            return ProviderAPIError(self._clean(f"Runway refused the {op} (HTTP "
                                                f"{e.status_code}{hint}): {detail}"),
                                    status=e.status_code)
        if isinstance(e, runwayml.APITimeoutError):
            msg = f"Runway did not answer the {op} in time"
        elif isinstance(e, runwayml.APIConnectionError):
            msg = f"could not reach Runway for the {op}: {e}"
        else:
            msg = f"Runway sent an unreadable answer to the {op}"
        return ProviderAPIError(self._clean(msg), status=None)

    async def _create_call(self, st: _LoopClients,
                           fn: Callable[[runwayml.AsyncRunwayML], Awaitable[Any]]) -> Any:
        """A create, never retried blindly (see the module docstring): again only after an
        answer saying no task was made (429, 5xx; Retry-After honoured) or when no
        connection was made; a lost answer is a task that may exist, reported at once."""
        once = st.client.with_options(max_retries=0)
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                async with st.sem:
                    return await fn(once)
            except runwayml.APIStatusError as e:
                if last or not (e.status_code == 429 or e.status_code >= 500):
                    raise self._refusal("create", e) from None
                await asyncio.sleep(_pause(e.response.headers.get("retry-after"), attempt))
            except runwayml.APIConnectionError as e:
                if isinstance(e.__cause__, NOT_SENT):  # nothing reached Runway: safe again
                    if last:
                        raise self._refusal("create", e) from None
                    await asyncio.sleep(_pause(None, attempt))
                    continue
                what = ("no answer in time" if isinstance(e, runwayml.APITimeoutError)
                        else f"its answer was lost ({type(e.__cause__).__name__})")
                raise CreateMayExist(self._clean(
                    f"Runway create: {what}; the task may exist (see dev.runwayml.com) and "
                    "may be charged, so it was not sent again")) from None
            except runwayml.APIResponseValidationError:
                raise CreateMayExist("Runway sent an unreadable answer to the create; the "
                                     "task may exist (see dev.runwayml.com) and may be "
                                     "charged, so it was not sent again") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _ticket(self, task: Any, prev: Ticket) -> Ticket:
        """A Ticket from a tasks.retrieve answer, keeping what we learned before."""
        status = STATUS.get(task.status, "processing")
        cost = getattr(task, "cost", None)
        if cost is not None:
            self._credits[task.id] = int(cost.credits)
        error = None
        if status == "failed":
            code = getattr(task, "failure_code", None)
            self._codes[task.id] = code
            error = self._clean(f"{code or 'no failure code'}: {task.failure}")
        if status in TERMINAL:
            self._final.add(task.id)
        out = getattr(task, "output", None) or []
        return prev.model_copy(update={
            "status": status, "output_url": str(out[0]) if out else prev.output_url,
            "error": error,
            "created_at": prev.created_at or task.created_at,
            # Runway's progress counts from when the task left the queue, which it does not
            # report: the first answer that says RUNNING stands in (a little late, so the
            # time left it gives errs short: the next poll comes early, never late)
            "started_at": prev.started_at or (datetime.now(UTC) if status == "processing"
                                              else None),
            "progress": (min(1.0, max(0.0, float(task.progress)))
                         if getattr(task, "progress", None) is not None else prev.progress),
            "polls": prev.polls + 1})

    async def poll(self, ticket: Ticket) -> Ticket:
        """One status request (GET /v1/tasks/{id})."""
        task = await self._call("status request", lambda c: c.tasks.retrieve(ticket.id))
        return self._ticket(task, ticket)

    async def cancel(self, ticket: Ticket) -> Ticket:
        """Cancel remotely (DELETE /v1/tasks/{id}). A task we saw finish is left alone: a
        DELETE would erase its output (and never refunds it)."""
        if ticket.status in TERMINAL or ticket.id in self._final:
            return ticket
        await self._call("cancel", lambda c: c.tasks.delete(ticket.id))
        self._final.add(ticket.id)
        return ticket.model_copy(update={"status": "canceled"})

    async def _cancel_quietly(self, ticket: Ticket) -> None:
        """Cancel even while our own task is being canceled: shielded, bounded, best effort."""
        task = asyncio.ensure_future(self.cancel(ticket))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        try:
            await asyncio.wait_for(asyncio.shield(task), 15.0)
        except (TimeoutError, asyncio.CancelledError, NbvideoError):
            pass

    def _expected_s(self, task_id: str) -> float:
        asked = self._asked.get(task_id)
        scale = asked[1] / 5.0 if asked and self.spec.kind == "video" else 1.0
        return self.typical_latency_s * max(0.4, scale)

    def _delay(self, t: Ticket) -> float:
        """Seconds until the next status request: at the expected finish first (at once for
        a ticket of unknown age, rebuilt from a saved id), then from the task's progress over
        the time it has been running (not its age: a task queued 20 s that shows 10 % after
        1 s of running has 9 s left, not 180), never closer than `poll_s` apart (Runway
        updates a task every 5 s at most)."""
        if t.created_at is None:
            return 0.0 if t.polls == 0 else self.poll_s
        age = age_s(t.created_at)
        expected = self._expected_s(t.id)
        if t.polls == 0:
            return max(0.0, expected - age)
        if t.progress and 0 < t.progress < 1:
            ran = age_s(t.started_at) if t.started_at is not None else age
            left = ran * (1 - t.progress) / t.progress
        else:
            left = max(expected - age, expected / 4)
        return min(max(self.poll_s, left), max(self.poll_s, 30.0))

    async def wait(self, ticket: Ticket, on_status: Callable[[Ticket], Any] | None = None,
                   timeout_s: float = 900.0) -> Ticket:
        """Poll until the task ends. Raises PredictionFailed (worth another task) or
        TaskRefused (not) when it failed, WaitTimeout after `timeout_s`; when the awaiting
        task is canceled, the Runway task is canceled before re-raising."""
        t = ticket
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            while t.status not in TERMINAL:
                delay = self._delay(t)
                left = timeout_s - (loop.time() - start)
                if delay > left:
                    await asyncio.sleep(max(0.0, left))
                    raise WaitTimeout(f"Runway task {t.id} ({self.model}) is still {t.status} "
                                      f"after {timeout_s:g} s; it runs (and bills) until "
                                      "canceled", t)
                await asyncio.sleep(delay)
                t = await self.poll(t)
                if on_status is not None:
                    result = on_status(t)
                    if asyncio.iscoroutine(result):
                        await result
        except asyncio.CancelledError:
            if t.status not in TERMINAL:
                await self._cancel_quietly(t)
            raise
        if t.status == "failed":
            raise self._failure(t)
        return t

    def _failure(self, t: Ticket) -> ProviderError:
        code = self._codes.get(t.id)
        hint = failure_hint(code)
        msg = f"Runway task {t.id} ({self.model}) failed: {t.error}" + (f"; {hint}" if hint
                                                                          else "")
        exc: ProviderError = (PredictionFailed(msg, t) if failure_transient(code)
                              else TaskRefused(msg, t, code))
        charged = self._credits.get(t.id, 0)
        if charged:  # moderated tasks cost as much as successful ones (api-details/moderation)
            exc.usage = Usage(units=charged, unit="credit", unit_price_usd=USD_PER_CREDIT,
                              cost_usd=charged * USD_PER_CREDIT, request_id=t.id)
        return exc

    def _priced(self, task_id: str, usage: Usage) -> Usage:
        """The catalog's price, replaced by what Runway reports it charged when it says."""
        usage = usage.model_copy(update={"request_id": task_id})
        credits = self._credits.get(task_id)
        if credits is None:
            return usage
        cost = credits * USD_PER_CREDIT
        if cost > usage.cost_usd + 1e-9:  # the reservation was too low: the price moved
            log.warning("Runway charged %s credits ($%.2f) for %s; the catalog says $%.2f: "
                        "re-read %s", credits, cost, task_id, usage.cost_usd,
                        self.spec.price_source)
        return usage.model_copy(update={
            "cost_usd": cost,
            "unit_price_usd": cost / usage.units if usage.units else usage.unit_price_usd})

    async def _create(self, op: Callable[[runwayml.AsyncRunwayML], Awaitable[Any]]) -> Ticket:
        created = await self._call("create", op)
        return Ticket(id=created.id, model=self.model, status="starting",
                      created_at=datetime.now(UTC))

    async def _download(self, url: str | None, out: Path, types: tuple[str, ...]) -> str:
        if not url:
            raise ProviderError(f"{self.model} finished without an output URL")
        st = self._clients()
        async with st.sem:
            got = await download(url, out, max_bytes=self.max_download_bytes,
                                 content_types=types, client=st.http)
        return got.source_url


class RunwayVideo(_Runway):
    """VideoModel on Runway's image_to_video with the remote lifecycle: submit, wait, cancel,
    fetch (the task id is saved on the take before waiting)."""

    _kind = "video"

    def __init__(self, model: str = "gen4_turbo", **kwargs: Any) -> None:
        super().__init__(model, **kwargs)

    def key_inputs(self, req: ClipRequest) -> dict[str, Any]:
        """What Runway is really sent (the frame by name; the pipeline adds its checksum), so a
        3 s and a 4 s scene that both make a 4 s clip reuse one paid take."""
        return clip_body(self.spec, req, "<frame>")

    async def submit(self, req: ClipRequest) -> Ticket:
        """POST /v1/image_to_video and return at once with the task id (persist it)."""
        body = clip_body(self.spec, req, "<frame>")  # refuses a bad request before reading
        body["prompt_image"] = await asyncio.to_thread(image_data_uri, req.frame_path)
        ours = "1080p" if min(req.width, req.height) >= 1080 else "720p"
        t = await self._create(lambda c: c.image_to_video.create(**body))
        self._asked[t.id] = (ours, float(body["duration"]))
        return t

    async def fetch(self, ticket: Ticket, out: Path) -> MediaResult:
        """Download the MP4 (size-capped, video/mp4 only), probe it, price what was charged.

        A failure here still carries `usage`: the task succeeded, so it was paid for."""
        out = Path(out)
        if ticket.status != "succeeded":
            raise ProviderError(f"task {ticket.id} is {ticket.status}; nothing to fetch")
        if ticket.output_url is None or ticket.id not in self._credits:
            ticket = await self.poll(ticket)  # a resumed ticket: fresh URL and the charge
        asked = self._asked.get(ticket.id)
        usage = self._priced(ticket.id, price(self.spec, resolution=asked[0], seconds=asked[1])
                             if asked else Usage(unit="second"))
        source, info = await paid_video(self._download(ticket.output_url, out, ("video/mp4",)),
                                        out, ticket.id, usage)
        if asked is None:  # resumed in a new process: what was made is what was asked
            res = "1080p" if min(info.width, info.height) >= 1080 else "720p"
            usage = self._priced(ticket.id, price(self.spec, resolution=res,
                                                  seconds=float(round(info.duration_s))))
        return MediaResult(path=out, width=info.width, height=info.height,
                           duration_s=info.duration_s, fps=info.fps, usage=usage,
                           source_url=source)

    async def clip(self, req: ClipRequest, out: Path,
                   on_ticket: Callable[[Ticket], Any] | None = None) -> MediaResult:
        """submit + wait + fetch. `on_ticket` sees the ticket before any waiting (persist it).
        A wait that is canceled, times out or loses contact cancels the Runway task too."""
        t = await self.submit(req)
        try:
            if on_ticket is not None:
                result = on_ticket(t)
                if asyncio.iscoroutine(result):
                    await result
        except asyncio.CancelledError:
            await self._cancel_quietly(t)
            raise
        try:
            t = await self.wait(t)
        except (PredictionFailed, TaskRefused):
            raise
        except Exception as exc:
            await self._cancel_quietly(getattr(exc, "ticket", t))
            raise
        if t.status != "succeeded":
            raise ProviderError(f"Runway task {t.id} ({self.model}) was {t.status}")
        return await self.fetch(t, out)


class RunwayFrames(_Runway):
    """FrameModel on Runway's text_to_image (gen4_image); the look's product photo goes as a
    tagged reference image."""

    _kind = "image"

    def __init__(self, model: str = "gen4_image", **kwargs: Any) -> None:
        kwargs.setdefault("max_download_bytes", 64 << 20)
        super().__init__(model, **kwargs)

    async def frame(self, req: FrameRequest, out: Path) -> MediaResult:
        """Create, wait, download; saved as a PNG of exactly req.width x req.height."""
        out = Path(out)
        ref = None
        if req.reference_image is not None and self.spec.reference_input:
            ref = await asyncio.to_thread(image_data_uri, req.reference_image)
        body = frame_body(self.spec, req, ref)
        t = await self._create(lambda c: c.text_to_image.create(**body))
        try:
            t = await self.wait(t, timeout_s=300.0)  # cancels the task itself if canceled
        except WaitTimeout as exc:
            await self._cancel_quietly(exc.ticket)
            raise
        if t.status != "succeeded":
            raise ProviderError(f"Runway task {t.id} ({self.model}) was {t.status}")
        usage = self._priced(t.id, price(self.spec, images=1))
        src = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.src"
        dst = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.png"
        try:
            source = await self._download(t.output_url, src,
                                          ("image/png", "image/jpeg", "image/webp"))
            await asyncio.to_thread(fit_png, src, dst, req.width, req.height)
            os.replace(dst, out)
        except ProviderError as exc:
            exc.usage = usage  # made, so charged, even if we could not keep it
            raise
        finally:
            src.unlink(missing_ok=True)
            dst.unlink(missing_ok=True)
        return MediaResult(path=out, width=req.width, height=req.height, usage=usage,
                           source_url=source)
