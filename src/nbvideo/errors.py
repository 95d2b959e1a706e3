"""Errors a user can act on, in one tree under `NbvideoError`. The CLI prints these without a
traceback (one line, an exit code per kind); a widget shows the message on the view.

Outside values enter through one boundary, so their errors are made in one place too:
`from_validation` turns a pydantic `ValidationError` into an `InvalidInput` that names the
field and what is allowed, and `quote` shows at most ~80 characters of what was given, so a
1 MB brief or a control character never comes back whole in a message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

QUOTE_LIMIT = 80
SENTENCE = "nbvideo_sentence"
"""The pydantic error type of a validator whose message is the whole sentence a user reads
(it names its field and quotes the value itself): `validation_message` adds nothing to it."""


class NbvideoError(Exception):
    """Base for every error nbvideo raises on purpose."""


class InvalidInput(NbvideoError, ValueError):
    """A value a user passed is not allowed; the message names the field and what is."""


class ProjectNotFound(NbvideoError, FileNotFoundError):
    pass


class MediaMissing(InvalidInput, FileNotFoundError):
    """A file the work needs (a clip, frame, audio or look file) is not there, e.g. deleted
    from the project's assets; the message names it. Also a FileNotFoundError."""


class ProjectExists(NbvideoError):
    pass


class ProjectCorrupt(NbvideoError):
    """project.json cannot be read; it is left untouched for the user to inspect."""


class SchemaTooNew(NbvideoError):
    pass


class ProjectLocked(NbvideoError):
    pass


class CardLocked(InvalidInput):
    """A board card someone else is editing in a shared notebook; nothing was changed. Only
    the person who tried sees it (the other screens are not told)."""


class ProjectStale(NbvideoError):
    """A save started from an older revision than the one on disk; nothing was overwritten."""


class ClusterUnavailable(NbvideoError):
    """A campaign's Dask cluster could not be reached, or lost what the run keeps on its
    scheduler (the campaign budget); nothing was sent to a paid provider."""


class PhaseNotReady(NbvideoError):
    """A phase was asked for before the one it builds on has run."""


class PathEscape(NbvideoError, ValueError):
    """A path would leave the project folder."""


class PathNotAllowed(PathEscape, InvalidInput):
    """A file to take into the project was named by a path it may not use (a `..` part, or
    outside the folders allowed): a PathEscape that is also a bad argument (InvalidInput)."""


class BudgetExceeded(NbvideoError):
    """A paid request was refused before sending: it could take spend over a budget.

    Carries the numbers so a notebook can act on them: the budget's name and limit, what was
    already spent and held in flight, the call's estimate and the item it was for."""

    def __init__(self, message: str, *, budget: str | None = None,
                 limit_usd: float | None = None, spent_usd: float | None = None,
                 in_flight_usd: float | None = None, estimate_usd: float | None = None,
                 item: str | None = None) -> None:
        super().__init__(message)
        self.budget = budget
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.in_flight_usd = in_flight_usd
        self.estimate_usd = estimate_usd
        self.item = item


class RoleRefused(NbvideoError, PermissionError):
    """An action the person's role in the workspace does not allow; nothing was changed and
    the refusal is in the workspace's audit log. Carries `user`, `action`, the role `needed`
    and the `role` the person has (None: no role)."""

    def __init__(self, message: str, *, user: str | None, action: str, needed: str | None,
                 role: str | None) -> None:
        super().__init__(message)
        self.user, self.action, self.needed, self.role = user, action, needed, role


class AuditBroken(NbvideoError):
    """The workspace's audit log was edited, cut or reordered; the message names the line."""


class RenderFailed(NbvideoError):
    """Making a frame, clip, preview or export failed. Carries where: the `scene` (when
    known), the `step` (e.g. "animatic", "normalize", "export 16:9", "mux") and the last
    lines of ffmpeg's stderr (`stderr_tail`), and the message shows all three."""

    def __init__(self, message: str, *, step: str | None = None, scene: str | None = None,
                 stderr_tail: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.detail = message
        self.step = step
        self.scene = scene
        self.stderr_tail = list(stderr_tail)

    def __str__(self) -> str:
        where = ", ".join(x for x in (f"scene {self.scene}" if self.scene else "",
                                      f"step {self.step}" if self.step else "") if x)
        return f"render failed ({where}): {self.detail}" if where else self.detail


class Canceled(NbvideoError):
    """Work stopped because the user asked it to (job.cancel(), a cancel event, Ctrl-C in
    a script): nothing failed, and no partial file was kept."""


class SceneCanceled(Canceled):
    """One scene of a job was canceled (e.g. from its tile) while the others went on."""


class ScenesFailed(ExceptionGroup, NbvideoError):  # type: ignore[misc]
    """Several scenes of one phase failed: one error naming each scene and its cause.

    An ExceptionGroup, so `except* nv.BudgetExceeded` (or any other kind) picks out the
    failures of that kind; `scenes` maps each failed scene id to its error. A job with a
    single failure raises that failure itself, not a group."""

    def __new__(cls, message: str, exceptions: Sequence[Exception],
                scenes: Sequence[str] = ()) -> ScenesFailed:
        return super().__new__(cls, message, exceptions)

    def __init__(self, message: str, exceptions: Sequence[Exception],
                 scenes: Sequence[str] = ()) -> None:
        super().__init__(message, exceptions)
        self.scenes: dict[str, Exception] = dict(zip(scenes, self.exceptions, strict=False))

    def __str__(self) -> str:  # the message names every scene; no "(n sub-exceptions)"
        return self.message

    def derive(self, excs: Sequence[Exception]) -> ScenesFailed:  # type: ignore[override]
        ids = [sid for sid, e in self.scenes.items() if e in excs]
        return ScenesFailed(self.message, excs, ids)

    @staticmethod
    def raise_for(failures: Sequence[tuple[str, BaseException]], total: int,
                  what: str = "scene") -> None:
        """Raise the failures of a phase that ran `total` scenes: nothing when there are
        none, the error itself when there is one (a BudgetExceeded stays one), else one
        ScenesFailed (a ScenesRefused when every failure is a budget refusal)."""
        if not failures:
            return
        import asyncio  # here, not at import: `import nbvideo` stays cheap

        found: list[tuple[str, Exception]] = []
        for sid, exc in failures:
            if isinstance(exc, asyncio.CancelledError):  # that scene alone was canceled
                exc = SceneCanceled(f"scene {sid} was canceled before its {what} was made")
            if not isinstance(exc, Exception):  # an interrupt is not a scene's failure
                raise exc
            found.append((sid, exc))
        if len(found) == 1:
            sid, exc = found[0]
            exc.add_note(f"({what} of scene {sid})")
            raise exc
        named = "; ".join(f"scene {sid}: {type(exc).__name__}: {exc}" for sid, exc in found)
        message = f"{len(found)} of {total} {what}(s) failed: {named}"
        ids = [sid for sid, _exc in found]
        excs = [exc for _sid, exc in found]
        if all(isinstance(e, BudgetExceeded) for e in excs):
            raise ScenesRefused(message, excs, ids)
        raise ScenesFailed(message, excs, ids)


class ScenesRefused(ScenesFailed, BudgetExceeded):
    """Several scenes refused by a budget: a ScenesFailed that is also a BudgetExceeded, so
    `except nv.BudgetExceeded` catches it; its numbers are the first refusal's."""

    def __init__(self, message: str, exceptions: Sequence[Exception],
                 scenes: Sequence[str] = ()) -> None:
        super().__init__(message, exceptions, scenes)
        first = self.exceptions[0]
        for name in ("budget", "limit_usd", "spent_usd", "in_flight_usd", "estimate_usd",
                     "item"):
            setattr(self, name, getattr(first, name, None))


class RoutingWarning(UserWarning):
    """model="auto" chose differently than its policy alone would, e.g. around a failing model."""


class ModelRetired(InvalidInput):
    """A model whose vendor has shut it down (its catalog shutdown date has passed): refused
    before anything is sent or paid. Carries `model`, `shutdown` (a date) and `successor`
    (the vendor's recommended replacement, or None)."""

    def __init__(self, message: str, *, model: str = "", shutdown: Any = None,
                 successor: str | None = None):
        super().__init__(message)
        self.model, self.shutdown, self.successor = model, shutdown, successor


class ModelRetiring(UserWarning):
    """A chosen model shuts down within 60 days (the catalog's lifecycle): switch before then."""


class PriceStale(UserWarning):
    """`nv.catalog()` shows a price read more than 90 days ago: check it against the vendor's
    pricing page (and `register` a corrected entry) before trusting a budget built on it."""


@contextlib.contextmanager
def render_step(step: str, scene: str | None = None) -> Iterator[None]:
    """Name the step (and scene) on a `RenderFailed` raised inside, so the message says
    where a render broke. Steps nest outermost first: "export 16:9 / mux"."""
    try:
        yield
    except RenderFailed as exc:
        exc.step = f"{step} / {exc.step}" if exc.step and exc.step != step else step
        exc.scene = exc.scene or scene
        raise


def unreadable(path: str | Path, what: str, exc: BaseException) -> InvalidInput:
    """An `InvalidInput` for a media file that cannot be read (not an image or video at
    all, cut short, or too large to decode safely), naming the file and the decoder's
    complaint on one line."""
    why = " ".join(str(getattr(exc, "strerror", None) or exc).split()) or type(exc).__name__
    return InvalidInput(f"{path} is not a readable {what} ({why[:160]}); replace the file or "
                        f"make it again")


class ProductImageSkipped(UserWarning):
    """A product page's image could not be used (not fetched, not an image, outside the saved
    page's folder); the project was made without it. The message says which and why."""


class GlyphWarning(UserWarning):
    """Text has characters that no bundled font can draw: they show as boxes, never as a
    blank, and the warning names them and where they are (a scene's text, the end card)."""


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """`repr` of a value, cut to about `limit` characters: what an error may echo back."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value):,} characters" if isinstance(value, str | bytes) else "cut"
    return f"{text[: limit - 1]}… ({size})"


def validation_message(exc: ValidationError, field: str | None = None,
                       hints: Mapping[str, str] | None = None,
                       rename: Mapping[str, str] | None = None) -> str:
    """The first problem of a pydantic error as one line: 'aspect: Input should be ...,
    got '21:9''. `field` prefixes the location ('finish: music: ...'); the value given is
    quoted, cut short.

    Errors that are not InvalidInput (a corrupt project.json, a bad template file) wrap
    this line in their own sentence, so every pydantic error reads the same way. `hints`
    replaces a pattern's regex, by field name, with words saying what the field takes;
    `rename` calls a field by the name the caller knows it by (Brief's `text` is the
    `brief` of Project.open) where the line starts with it."""
    line = _first_problem(exc, field, hints)
    for old, new in (rename or {}).items():
        if line.startswith((f"{old}:", f"{old} ")):
            return new + line[len(old):]
    return line


def _first_problem(exc: ValidationError, field: str | None,
                   hints: Mapping[str, str] | None) -> str:
    err = exc.errors()[0]
    if err["type"] == SENTENCE:
        return ": ".join(x for x in (field, str(err["msg"])) if x)
    where = ".".join(str(x) for x in err["loc"])
    where = ": ".join(x for x in (field, where) if x)  # a whole model's problem names its field
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not where:
        return msg
    if hints and err["type"] == "string_pattern_mismatch" and err["loc"]:
        msg = hints.get(str(err["loc"][0]), msg)
    if "input" in err and err["type"] not in ("missing", "extra_forbidden") and not (
            isinstance(err["input"], dict) and err["type"].startswith(("model_", "value_error"))):
        return f"{where}: {msg}, got {quote(err['input'])}"
    return f"{where}: {msg}"


def from_validation(exc: ValidationError, field: str | None = None,
                    hints: Mapping[str, str] | None = None, *,
                    rename: Mapping[str, str] | None = None, prefix: str = "") -> InvalidInput:
    """The first problem of a pydantic error as an `InvalidInput`: 'aspect: ... got '21:9''.

    The one place a pydantic error becomes a user's error. `field` prefixes the location
    (e.g. "finish"); the value given is quoted, cut short; `hints` and `rename` as in
    `validation_message`; `prefix` says where the value came from ("brand.json: ")."""
    return InvalidInput(prefix + validation_message(exc, field, hints, rename))
