"""Jobs: long phases run on a background event loop so the kernel stays free.

A notebook cell gets a `Job` back at once; `await job` in the notebook (or `job.wait()` in a
script) waits for it, `job.cancel()` stops it. The loop lives in one daemon thread per
process, so the same code works under ipykernel's running loop and in a plain script.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import html
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from nbvideo.errors import Canceled

T = TypeVar("T")
log = logging.getLogger(__name__)

_loop: asyncio.AbstractEventLoop | None = None
_loop_guard = threading.Lock()


def background_loop() -> asyncio.AbstractEventLoop:
    """The process-wide loop that runs provider I/O, started on first use."""
    global _loop
    with _loop_guard:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=run, name="nbvideo-loop", daemon=True).start()
            ready.wait()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running notebook loop."""
    fut = asyncio.run_coroutine_threadsafe(coro, background_loop())
    try:
        return fut.result()
    except KeyboardInterrupt:
        fut.cancel()
        raise


EventStatus = Literal[
    "queued", "starting", "processing", "succeeded", "failed", "canceled", "cached"
]


class JobEvent(BaseModel):
    """One status change of one unit of work (a scene's clip, say). Widgets listen to these."""

    model_config = ConfigDict(extra="forbid")

    scene: str | None
    status: EventStatus
    message: str = ""
    time: float


JobState = Literal["running", "succeeded", "failed", "canceled"]


class Job(Generic[T]):
    """A handle on background work: awaitable, waitable, cancellable, and shows its progress."""

    def __init__(self, name: str, total: int) -> None:
        self.name = name
        self.total = total
        self.events: list[JobEvent] = []
        self._listeners: list[Callable[[JobEvent], None]] = []
        self._future: concurrent.futures.Future[T] | None = None
        self._started = time.monotonic()
        self._ended: float | None = None
        self._running = False
        self._settled = threading.Event()  # set when the work has run its cleanup, too
        self._units: dict[str, asyncio.Task[Any]] = {}  # scene -> the task working on it
        self._cancel_asked: set[str] = set()
        #: Set by the Project: returns the live view's mime bundle, or None outside a kernel.
        self.display_hook: Callable[[], Any] | None = None

    def start(self, coro: Coroutine[Any, Any, T]) -> Job[T]:
        async def run() -> T:
            self._running = True
            try:
                return await coro
            finally:
                self._settled.set()

        self._future = asyncio.run_coroutine_threadsafe(run(), background_loop())
        self._future.add_done_callback(lambda _f: setattr(self, "_ended", time.monotonic()))
        return self

    # ------------------------------------------------------------------ events
    def emit(self, scene: str | None, status: EventStatus, message: str = "") -> None:
        ev = JobEvent(scene=scene, status=status, message=message, time=time.monotonic())
        self.events.append(ev)
        if scene is not None:
            self._track(scene, status)
        for fn in list(self._listeners):
            try:
                fn(ev)
            except Exception:
                log.exception("job %s: a listener failed on %s", self.name, ev.status)

    def on_event(self, fn: Callable[[JobEvent], None]) -> None:
        self._listeners.append(fn)

    def _track(self, scene: str, status: EventStatus) -> None:
        """A unit emits from inside the task working on it: remember that task, so
        cancel(scene) can stop that unit alone (and one asked to stop before it started
        stops at its first event)."""
        if status in ("succeeded", "failed", "canceled", "cached"):
            self._units.pop(scene, None)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = asyncio.current_task()
        if running is not _loop or task is None:  # e.g. 'queued', emitted by the caller
            return
        self._units[scene] = task
        if scene in self._cancel_asked:
            task.cancel()

    # ------------------------------------------------------------------ control
    @property
    def future(self) -> concurrent.futures.Future[T]:
        if self._future is None:
            raise RuntimeError("job was not started")
        return self._future

    def done(self) -> bool:
        return self.future.done()

    @property
    def state(self) -> JobState:
        f = self.future
        if not f.done():
            return "running"
        if f.cancelled():
            return "canceled"
        return "failed" if f.exception() is not None else "succeeded"

    @property
    def elapsed_s(self) -> float:
        return (self._ended or time.monotonic()) - self._started

    def wait(self, timeout: float | None = None) -> T:
        """Block until the job ends and return its result (re-raises its error, as the
        type it was raised with; a canceled job raises `Canceled`).

        Ctrl-C cancels the job and waits (briefly) for its cleanup: remote predictions are
        canceled and recorded before the script that was waiting exits."""
        try:
            return self.future.result(timeout)
        except concurrent.futures.CancelledError:
            raise self._canceled() from None
        except KeyboardInterrupt:
            self.cancel()
            self.settle()
            raise

    def _canceled(self) -> Canceled:
        return Canceled(f"job {self.name} was canceled; what finished before is kept")

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until canceled or finished work has run its cleanup (not just been told to)."""
        if not self._running:
            return True
        return self._settled.wait(timeout)

    def result(self) -> T:
        try:
            return self.future.result(0)
        except concurrent.futures.CancelledError:
            raise self._canceled() from None

    def cancel(self, scene: str | None = None) -> bool:
        """Cancel the job; in-flight work is stopped and leaves no partial files.

        With `scene`, stop only that unit (its remote prediction is canceled too); the rest
        of the job goes on, and the job then ends failed, naming the canceled unit."""
        if scene is None:
            return self.future.cancel()
        if self.future.done():
            return False
        self._cancel_asked.add(scene)
        task = self._units.get(scene)
        if task is not None:
            background_loop().call_soon_threadsafe(task.cancel)
        return True

    def __await__(self) -> Generator[Any, None, T]:
        """`await job`: its result, or its error; a canceled job raises `Canceled` (while a
        cancel of the awaiting task itself stays an asyncio.CancelledError)."""
        with self._cancel_on_sigint():
            try:
                return (yield from asyncio.wrap_future(self.future).__await__())
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self.future.cancelled() and (task is None or not task.cancelling()):
                    raise self._canceled() from None
                raise

    @contextlib.contextmanager
    def _cancel_on_sigint(self) -> Iterator[None]:
        """While a notebook cell awaits this job, "interrupt kernel" cancels it.

        ipykernel delivers an interrupt to an awaiting cell only once what it awaits has
        finished (ipython/ipykernel#881), which for a clip job can be many paid minutes. A
        SIGINT handler of our own, held only for the await, cancels the job at once instead.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        try:
            previous = signal.signal(signal.SIGINT, lambda _sig, _frame: self.cancel())
        except ValueError:  # signals are not ours to set here (an embedded interpreter)
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    # ------------------------------------------------------------------ display
    def counts(self) -> dict[str, int]:
        last: dict[str | None, str] = {}
        for ev in self.events:
            last[ev.scene] = ev.status
        out: dict[str, int] = {}
        for status in last.values():
            out[status] = out.get(status, 0) + 1
        return out

    def __repr__(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts().items()))
        return f"<Job {self.name}: {self.state}, {self.total} item(s) [{counts}] {self.elapsed_s:.1f}s>"

    def _repr_html_(self) -> str:
        return f"<code>{html.escape(repr(self))}</code>"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The live view (a ClipGrid) when one is attached and a kernel can show it; None
        lets IPython fall back to the HTML repr."""
        return self.display_hook() if self.display_hook is not None else None


class UnitEvents:
    """What one unit of a job (a scene's clip, presenter shot or lip sync) reports while it is
    made: `events("processing")` emits a status for that unit, and `events.ticket` is the
    `on_status` callback a remote wait calls with each ticket it polls. With no job (a call
    made outside one) both do nothing, so the code that makes the unit need not ask."""

    def __init__(self, job: Job[Any] | None, unit: str) -> None:
        self.job, self.unit = job, unit

    def __call__(self, status: EventStatus, message: str = "") -> None:
        if self.job is not None:
            self.job.emit(self.unit, status, message)

    def ticket(self, ticket: Any) -> None:
        """A remote ticket's status, when it is one a unit reports while it runs."""
        if getattr(ticket, "status", None) in ("starting", "processing"):
            self(ticket.status)


async def gather_limited(
    factories: list[Callable[[], Awaitable[T]]], limit: int
) -> list[T | BaseException]:
    """Run awaitables with at most `limit` at once; exceptions are returned, cancels propagate."""
    sem = asyncio.Semaphore(max(1, limit))

    async def one(factory: Callable[[], Awaitable[T]]) -> T:
        async with sem:
            return await factory()

    tasks = [asyncio.ensure_future(one(f)) for f in factories]
    try:
        return await asyncio.gather(*tasks, return_exceptions=True)
    except asyncio.CancelledError:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
