"""Errors a user can act on, in one tree under `NbvideoError`. The CLI prints these without a
traceback (one line, an exit code per kind); a widget shows the message on the view.

Outside values enter through one boundary, so their errors are made in one place too:
`from_validation` turns a pydantic `ValidationError` into an `InvalidInput` that names the
field and what is allowed, and `quote` shows at most ~80 characters of what was given, so a
1 MB brief or a control character never comes back whole in a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

QUOTE_LIMIT = 80


class NbvideoError(Exception):
    """Base for every error nbvideo raises on purpose."""


class InvalidInput(NbvideoError, ValueError):
    """A value a user passed is not allowed; the message names the field and what is."""


class ProjectNotFound(NbvideoError, FileNotFoundError):
    pass


class ProjectExists(NbvideoError):
    pass


class ProjectCorrupt(NbvideoError):
    """project.json cannot be read; it is left untouched for the user to inspect."""


class SchemaTooNew(NbvideoError):
    pass


class ProjectLocked(NbvideoError):
    pass


class ProjectStale(NbvideoError):
    """A save started from an older revision than the one on disk; nothing was overwritten."""


class PhaseNotReady(NbvideoError):
    """A phase was asked for before the one it builds on has run."""


class PathEscape(NbvideoError, ValueError):
    """A path would leave the project folder."""


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


class RoutingWarning(UserWarning):
    """model="auto" chose differently than its policy alone would, e.g. around a failing model."""


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """`repr` of a value, cut to about `limit` characters: what an error may echo back."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value):,} characters" if isinstance(value, str | bytes) else "cut"
    return f"{text[: limit - 1]}… ({size})"


def validation_message(exc: ValidationError, field: str | None = None,
                       hints: Mapping[str, str] | None = None) -> str:
    """The first problem of a pydantic error as one line: 'aspect: Input should be ...,
    got '21:9''. `field` prefixes the location ('finish: music: ...'); the value given is
    quoted, cut short.

    Errors that are not InvalidInput (a corrupt project.json, a bad template file) wrap
    this line in their own sentence, so every pydantic error reads the same way. `hints`
    replaces a pattern's regex, by field name, with words saying what the field takes."""
    err = exc.errors()[0]
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
                    hints: Mapping[str, str] | None = None) -> InvalidInput:
    """The first problem of a pydantic error as an `InvalidInput`: 'aspect: ... got '21:9''.

    `field` prefixes the location (e.g. "finish"); the value given is quoted, cut short."""
    return InvalidInput(validation_message(exc, field, hints))
