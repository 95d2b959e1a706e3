"""What every nbvideo view shares: the message protocol, child parts, refresh, a static repr.

- Request/reply: the browser sends ``{kind, id, ...}``; the view calls one Project method
  (which validates and saves), re-syncs its traits from the project, then replies
  ``{kind: "reply", id, ok, error, result}``. A refused value also sets the ``error`` trait,
  so the message shows on the widget; nothing saved is touched.
- Parts (lonboard style): only the top view is an AnyWidget. Per-scene data lives on small
  plain WidgetModels (``Part``), so changing one scene sends only that part's traits.
- Refresh: a view follows every save of its project (edits from any cell show up), at most
  every ``THROTTLE_S`` seconds, from whatever thread saved.
- A static HTML repr rides along in the mime bundle for saved notebooks, nbconvert, GitHub.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import anywidget
import ipywidgets
import traitlets as t
from pydantic import ValidationError, validate_call

from nbvideo.errors import CardLocked, NbvideoError, validation_message
from nbvideo.keys import redact

if TYPE_CHECKING:
    from nbvideo.project import Project

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
THROTTLE_S = 0.2
WORKERS = 4


def esm(*names: str) -> str:
    """The view's ES module: the shared helpers (common.js), then the given files in order
    (helpers a view shares with another first, the view's own file, with its default export,
    last).

    anywidget loads each widget's module from a string, where relative imports cannot
    resolve, so the helpers are prepended instead of imported."""
    if not names:
        raise ValueError("esm() needs at least the view's own file")
    return "\n".join((STATIC / n).read_text("utf-8") for n in ("common.js", *names))


def describe(exc: BaseException) -> str:
    """A one-line message for the widget: the field and the problem, never a traceback."""
    if isinstance(exc, ValidationError):
        msg = validation_message(exc)
    elif isinstance(exc, KeyError | IndexError) and exc.args:
        msg = str(exc.args[0])
    elif isinstance(exc, NbvideoError | ValueError | TypeError):
        msg = str(exc)
    else:
        log.exception("unexpected error in a widget action", exc_info=exc)
        msg = f"{type(exc).__name__}: {exc}"
    return redact(msg)


@dataclass
class Later:
    """Returned by an action whose work is slow: `work` runs on a worker thread, then the
    view refreshes and replies, so the kernel keeps answering other clicks meanwhile."""

    work: Callable[[], Any]


@dataclass
class WithBuffers:
    """An action result that carries binary buffers (JPEG/MP4 bytes) next to its JSON."""

    value: Any
    buffers: list[bytes] = field(default_factory=list)


def action(kind: str, *, buffers: bool = False,
           quiet: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a view method as the handler of browser messages of `kind`.

    The message's fields (all but kind and id) are its keyword arguments, checked by
    pydantic first: an unknown or mistyped field is refused with its name. With `buffers`,
    the message's binary buffers (a file's bytes) come as the `buffers` argument. A `quiet`
    action (presence, sent often, changing only the view's own traits) neither re-reads the
    project afterwards nor puts its refusal on the error line every screen shares: only the
    sender's reply carries it."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        checked = validate_call(fn, config={"arbitrary_types_allowed": True})
        checked._nbv_action = kind  # type: ignore[attr-defined]
        checked._nbv_buffers = buffers  # type: ignore[attr-defined]
        checked._nbv_quiet = quiet  # type: ignore[attr-defined]
        return checked

    return mark


class Throttle:
    """Run `fn` on a timer thread at most every `interval` s; pokes in between fold into one."""

    def __init__(self, fn: Callable[[], None], interval: float = THROTTLE_S) -> None:
        self._fn, self._interval = fn, interval
        self._lock = threading.Lock()
        self._running = threading.Lock()
        self._timer: threading.Timer | None = None
        self._last = 0.0
        self._closed = False

    def poke(self) -> None:
        with self._lock:
            if self._timer is not None or self._closed:
                return
            delay = max(0.05, self._last + self._interval - time.monotonic())
            self._timer = threading.Timer(delay, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._timer is None:  # flushed or closed meanwhile
                return
            self._timer = None
        self._run()

    def _run(self) -> None:
        with self._running:
            self._last = time.monotonic()
            try:
                self._fn()
            except Exception:
                log.exception("a throttled widget update failed")

    def cancel(self) -> None:
        """Drop a pending call: the caller is about to do the same work itself."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def flush(self) -> None:
        """Run a pending call now and wait for any running one (tests, settle())."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            self._run()
        with self._running:
            pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()


class Part(ipywidgets.Widget):  # type: ignore[misc]
    """Synced data for one item of a view (a scene's card, tile or clip).

    A plain WidgetModel with no view and no ES module of its own: the top view reads it
    through ``widget_manager.get_model``. Updating one part sends only its changed traits."""

    key = t.Unicode("", help="The scene id this part shows.").tag(sync=True)

    def update(self, **values: Any) -> None:
        """Set several traits in one message (only those that changed are sent)."""
        with self.hold_sync():
            for name, value in values.items():
                setattr(self, name, value)


class ProjectView(anywidget.AnyWidget):  # type: ignore[misc]
    """Base of every view: a thin window on one Project, which stays the source of truth."""

    _css = STATIC / "nbvideo.css"
    error = t.Unicode(
        "", help="Message of the last refused action, shown on the widget; '' when all is well."
    ).tag(sync=True)

    _actions: ClassVar[dict[str, Callable[..., Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, Callable[..., Any]] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                kind = getattr(value, "_nbv_action", None)
                if kind:
                    found[kind] = value
        cls._actions = found

    def __init__(self, project: Project, **kwargs: Any) -> None:
        self._project = project
        self._lock = threading.RLock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._throttle = Throttle(self._refresh_quietly)
        with self._lock:
            state = self._state()  # parts are made (their comms opened) before the view's
        super().__init__(**state, **kwargs)
        self.on_msg(self._on_msg)
        self._unsubscribe = project.on_change(self._throttle.poke)

    # ------------------------------------------------------------------ subclass hooks
    def _state(self) -> dict[str, Any]:
        """Every synced trait's value, read from the project now (parts updated in place)."""
        raise NotImplementedError

    def static_html(self) -> str:
        """What a notebook shows without a live kernel."""
        raise NotImplementedError

    # ------------------------------------------------------------------ syncing
    @property
    def project(self) -> Project:
        return self._project

    def refresh(self) -> None:
        """Re-read the project and send whatever changed (nothing, if nothing did)."""
        with self._lock:
            if self.comm is None:  # closed
                return
            # A change that poked the throttle before this read is covered by it: without
            # this, every click refreshed twice (here, then again from the timer).
            self._throttle.cancel()
            state = self._state()
            with self.hold_sync():
                for name, value in state.items():
                    setattr(self, name, value)

    def _refresh_quietly(self) -> None:
        try:
            self.refresh()
        except Exception:
            log.exception("%s: refresh from the project failed", type(self).__name__)

    def settle(self, timeout: float = 60.0) -> None:
        """Wait for background work and pending refreshes to finish (tests and scripts)."""
        deadline = time.monotonic() + timeout
        while True:
            pending = [f for f in list(self._pending) if not f.done()]
            if not pending:
                break
            concurrent.futures.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{type(self).__name__}: work still running after {timeout} s")
        self._throttle.flush()

    def close(self) -> None:
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe()
        if getattr(self, "_throttle", None) is not None:
            self._throttle.close()
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False)
        for part in self._parts():
            part.close()
        super().close()

    def _parts(self) -> list[Part]:
        return []

    # ------------------------------------------------------------------ messages
    def _on_msg(self, _widget: Any, content: Any, buffers: list[bytes] | None) -> None:
        if not isinstance(content, dict) or "kind" not in content:
            return
        kind, rid = content["kind"], content.get("id")
        if kind == "anywidget-command":  # anywidget's own protocol; not ours
            return
        handler = self._actions.get(kind)
        if handler is None:
            known = ", ".join(sorted(self._actions))
            self._fail(rid, f"unknown action {kind!r}; this view knows: {known}")
            return
        args = {k: v for k, v in content.items() if k not in ("kind", "id", "buffers")}
        if getattr(handler, "_nbv_buffers", False):
            args["buffers"] = [bytes(memoryview(b)) for b in buffers or []]
        quiet = getattr(handler, "_nbv_quiet", False)
        try:
            outcome = handler(self, **args)
        except Exception as exc:
            if quiet or isinstance(exc, CardLocked):  # one person's refusal, not everyone's
                self._reply(rid, False, describe(exc), None)
            else:
                self._fail(rid, describe(exc))
            return
        if isinstance(outcome, Later):
            self._in_background(rid, outcome.work)
        elif quiet:
            self._reply(rid, True, None, outcome)
        else:
            self._succeed(rid, outcome)

    def _in_background(self, rid: Any, work: Callable[[], Any]) -> None:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                WORKERS, thread_name_prefix=f"nbvideo-{type(self).__name__}")

        def run() -> None:
            try:
                result = work()
            except Exception as exc:
                self._fail(rid, describe(exc))
            else:
                self._succeed(rid, result)

        fut = self._pool.submit(run)
        self._pending.add(fut)
        fut.add_done_callback(self._pending.discard)

    def _succeed(self, rid: Any, result: Any) -> None:
        with self._lock:
            self.error = ""
        self.refresh()
        self._reply(rid, True, None, result)

    def _fail(self, rid: Any, message: str) -> None:
        with self._lock:
            self.error = message
        self._refresh_quietly()  # show the project as it is: the browser drops its local edit
        self._reply(rid, False, message, None)

    def _reply(self, rid: Any, ok: bool, error: str | None, result: Any) -> None:
        buffers: list[bytes] | None = None
        if isinstance(result, WithBuffers):
            result, buffers = result.value, result.buffers
        with self._lock:
            if self.comm is not None:
                self.send({"kind": "reply", "id": rid, "ok": ok, "error": error,
                           "result": result}, buffers)

    # ------------------------------------------------------------------ display
    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The live view, plus static HTML for frontends that cannot show the widget."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        try:
            data["text/html"] = self.static_html()
        except Exception:
            log.exception("%s: static repr failed", type(self).__name__)
        return data, metadata

    def __repr__(self) -> str:
        """A short repr that avoids serializing every trait."""
        return f"<{type(self).__name__} of {self._project.name!r}>"
