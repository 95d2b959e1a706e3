"""Replicate's HTTP layer: one client per event loop, and the retries the SDK leaves out.

Read in replicate-python 1.0.7: the client's RetryTransport retries GET (idempotent methods)
on 429/503/504 only, honouring a numeric Retry-After (uncapped), else 0.1*2^n s +-10 %, 10
attempts. POSTs (create, cancel), 500/502 and network errors are not retried, and
ReplicateError drops Retry-After. `call` covers exactly that gap with tenacity; an httpx
response hook reads Retry-After for it. GET 429/503/504 are left to the transport so
attempts never multiply.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import replicate
from replicate.exceptions import ReplicateError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from nbvideo.keys import Secret
from nbvideo.providers.base import CreateMayExist, ProviderAPIError
from nbvideo.providers.download import Fetcher


class _HTTPStatus(Exception):
    """A 429/5xx seen by the response hook, with the Retry-After the client would drop."""

    def __init__(self, status: int, retry_after: float | None, detail: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.retry_after, self.detail = status, retry_after, detail


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


async def _raise_retryable(response: httpx.Response) -> None:
    if response.status_code == 429 or response.status_code >= 500:
        await response.aread()
        try:
            body = response.json()
            detail = str(body.get("detail") or "") if isinstance(body, dict) else ""
        except ValueError:
            detail = response.text[:200]
        raise _HTTPStatus(response.status_code,
                         retry_after_s(response.headers.get("retry-after")), detail)


UPLOAD_TIMEOUT_S = 300.0
"""Seconds a request body may take to send (a create carries its frame as a data URI)."""


async def _upload_timeout(request: httpx.Request) -> None:
    """Give a POST's body its own write timeout.

    The SDK's wait mode (replicate 1.0.7, prediction.py `_create_prediction_timeout`) sends a
    create with `httpx.Timeout(5.0, read=wait + 0.5)`: 5 s to write the whole body, which a
    large reference image on a slow uplink overruns; the create then ends in a write timeout
    after (part of) it was sent, stranded as "may exist". httpx reads the timeout from
    `request.extensions` after the request hooks run, so this widens only the write limit
    (the SDK's connect and read limits, which the wait relies on, are kept)."""
    if request.method != "POST":
        return
    timeout = dict(request.extensions.get("timeout") or {})
    if timeout.get("write") is not None:
        timeout["write"] = max(float(timeout["write"]), UPLOAD_TIMEOUT_S)
        request.extensions["timeout"] = timeout


@dataclass
class LoopClients:
    client: replicate.Client
    http: Fetcher  # for output downloads (no auth header, checked addresses)
    sem: asyncio.Semaphore


class ReplicateHTTP:
    """Clients and the concurrency limit are bound to one event loop; keep one set per loop."""

    def __init__(self, token: Secret | Callable[[], Secret], base_url: str | None, *,
                 concurrency: int, retries: int, backoff_s: float, clean: Callable[[str], str],
                 allowed_download_hosts: frozenset[str] = frozenset()) -> None:
        self._token, self.base_url = token, base_url
        self.allowed_download_hosts = allowed_download_hosts
        self.concurrency, self.retries, self.backoff_s = concurrency, max(1, retries), backoff_s
        self._clean = clean
        self._loops: weakref.WeakKeyDictionary[Any, LoopClients] = weakref.WeakKeyDictionary()

    def clients(self) -> LoopClients:
        loop = asyncio.get_running_loop()
        st = self._loops.get(loop)
        if st is None:
            client = replicate.Client(
                api_token=str(self._token() if callable(self._token) else self._token),
                base_url=self.base_url,
                timeout=httpx.Timeout(10.0, read=30.0, write=30.0, pool=60.0),
                event_hooks={"request": [_upload_timeout], "response": [_raise_retryable]})
            http = Fetcher(self.allowed_download_hosts)
            st = self._loops[loop] = LoopClients(client, http,
                                                 asyncio.Semaphore(self.concurrency))
        return st

    async def aclose(self) -> None:
        st = self._loops.pop(asyncio.get_running_loop(), None)
        if st is not None:
            await st.http.aclose()
            await st.client._async_client.aclose()  # the client offers no public close

    async def call(self, op: str, fn: Callable[[replicate.Client], Awaitable[Any]]) -> Any:
        """One API call with bounded retries for what the client's transport does not retry.

        A create is retried on 429/5xx answers (the API reports it not done) and when no
        connection was made; a timeout or garbled answer after sending may mean the prediction
        exists, and a retry could pay twice, so those are reported instead.
        """
        st = self.clients()

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, _HTTPStatus):  # GET 429/503/504 were retried by the transport
                return not (op in ("get", "list") and exc.status in (429, 503, 504))
            if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
                return True
            return op != "create" and isinstance(exc, (httpx.TransportError, ValueError))

        def pause(rs: RetryCallState) -> float:
            exc = rs.outcome.exception() if rs.outcome else None
            if isinstance(exc, _HTTPStatus) and exc.retry_after is not None:
                return min(exc.retry_after, 60.0) * random.uniform(1.0, 1.1)
            backoff = min(8.0, self.backoff_s * 2 ** (rs.attempt_number - 1))
            return backoff * random.uniform(0.5, 1.5)

        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(self.retries), wait=pause,
                                               retry=retry_if_exception(retryable), reraise=True):
                with attempt:
                    async with st.sem:
                        return await fn(st.client)
        except _HTTPStatus as e:
            status: int | None = e.status
            msg = f"Replicate {op} failed with HTTP {e.status}: {e.detail or 'no detail'}"
        except ReplicateError as e:
            status = e.status
            hint = " (check REPLICATE_API_TOKEN)" if e.status == 401 else ""
            msg = f"Replicate refused the {op} (HTTP {e.status}{hint}): {e.detail or e.title}"
        except httpx.TransportError as e:
            status = None
            msg = f"no usable answer from Replicate to the {op}: {type(e).__name__}"
            if op == "create":
                raise CreateMayExist(self._clean(
                    msg + "; the prediction may exist (see replicate.com/predictions) and was"
                    " not retried so it is not paid twice")) from None
        except ValueError:
            status = None
            msg = f"Replicate sent an unreadable answer to the {op}"
            if op == "create":
                raise CreateMayExist(self._clean(
                    msg + "; the prediction may exist and was not retried so it is not paid"
                    " twice")) from None
        raise ProviderAPIError(self._clean(msg), status=status) from None
