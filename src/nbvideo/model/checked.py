"""The outside boundary for text and numbers, in one base model every data model inherits.

Text and numbers from a user, a file (brand kit, look, template, project.json) or a provider
enter nbvideo through a pydantic model, so the check lives on the models' common base:

- Text: control characters are REFUSED, not stripped (a silent edit of a prompt or a
  caption is worse than an error that says where). Refused: NUL and the other C0 controls
  except tab, newline and carriage return; DEL and the C1 controls; the bidirectional
  override and isolate characters U+202A-U+202E and U+2066-U+2069 (they make text read in
  another order than it is stored: a spoofing risk); lone surrogates (they cannot be
  written as UTF-8). Ordinary right-to-left text (Arabic, Hebrew) and emoji are accepted.
- Length: each field has its own cap; every string has at least `MAX_TEXT` as a backstop,
  so a pasted megabyte is refused, and errors quote at most ~80 characters of it.
- Numbers: floats must be finite (`allow_inf_nan=False`): NaN and infinity are refused
  with the field's name, also in project.json, where they load as ProjectCorrupt.

Measurements nbvideo makes itself (QA metrics, loudness) may set `allow_inf_nan=True`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from nbvideo.errors import SENTENCE, from_validation, quote

MAX_TEXT = 100_000
"""Backstop length for any string in any model; user-facing fields have smaller caps."""

_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why `text` is refused at the boundary, or None when it is fine."""
    m = _REFUSED.search(text)
    if m is not None:
        ch = m.group()
        kind = ("a bidirectional override" if "\u202a" <= ch <= "\u2069"
                else "a lone surrogate" if "\ud800" <= ch <= "\udfff" else "a control character")
        return (f"contains {kind} (U+{ord(ch):04X} at position {m.start()}); control and "
                "bidi-override characters are not allowed in text")
    if len(text) > MAX_TEXT:
        return f"is {len(text):,} characters; at most {MAX_TEXT:,}"
    return None


def check_text(text: str) -> str:
    """`text` unchanged, or ValueError saying why it is refused (for AfterValidator)."""
    problem = text_problem(text)
    if problem:
        raise ValueError(f"text {problem}")
    return text


def _walk(value: Any, where: str, numbers: bool) -> None:
    """Raise ValueError for the first refused string (or non-finite float) inside `value`,
    a field's value (`where` names it). Nested models are skipped: they checked themselves
    when they were made."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise ValueError(f"{where} {problem}")
    elif isinstance(value, float):
        if numbers and not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number, not {value!r}")
    elif isinstance(value, list | tuple | set | frozenset):
        for i, v in enumerate(value):
            _walk(v, f"{where} item {i}", numbers)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(k, f"{where} key", numbers)
            _walk(v, f"{where} {str(k)[:40]!r}", numbers)


def as_finite(value: Any) -> float | None:
    """`value` as a float when it is a real, finite number (not a bool, not text, not an
    int too large for a float); else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


class Checked(BaseModel):
    """Base of every nbvideo data model: strings are checked, floats must be finite."""

    model_config = ConfigDict(allow_inf_nan=False)

    @model_validator(mode="after")
    def _boundary(self) -> Any:
        # One pass per model (not one validator per field) keeps a 100-scene project's
        # open fast; the message names the field, pydantic's location names the model.
        numbers = not self.model_config.get("allow_inf_nan", True)
        for name, value in self.__dict__.items():
            if isinstance(value, str):
                if len(value) > MAX_TEXT or _REFUSED.search(value) is not None:
                    _walk(value, name, numbers)
            elif isinstance(value, list | tuple) and value:
                if not isinstance(value[0], BaseModel):  # lists of models checked themselves
                    _walk(value, name, numbers)
            elif isinstance(value, dict | set | frozenset) and value:
                _walk(value, name, numbers)
            elif numbers and isinstance(value, float) and not math.isfinite(value):
                _walk(value, name, numbers)
        return self


def sentence(text: str) -> PydanticCustomError:
    """A validator's refusal that is the whole message a user reads ("retries must be a
    whole number from 0 to 10, got 11"): `from_validation` shows it as it is."""
    return PydanticCustomError(SENTENCE, "{message}", {"message": text})


def _budget(value: Any) -> float | None:
    if value is None:
        return None
    f = as_finite(value)
    if f is None or f < 0:
        raise sentence(f"budget_usd must be a finite number of dollars >= 0, or None for no "
                       f"cap, got {quote(value)}")
    return f


def _retries(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise sentence(f"retries must be a whole number from 0 to 10, got {quote(value)}")
    return value


def _timeout(value: Any) -> float:
    if (as_finite(value) or 0) <= 0:
        raise sentence(f"timeout_s must be a number of seconds > 0, got {quote(value)}")
    return float(value)


def _file_bytes(value: Any) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise sentence(f"music file: data must be the file's bytes, got {type(value).__name__}")
    return bytes(value)


BudgetUSD = Annotated[float | None, BeforeValidator(_budget)]
"""A budget: a finite number of dollars >= 0, or None for no cap."""
Retries = Annotated[int, BeforeValidator(_retries)]
"""Extra attempts on the same model: a whole number from 0 to 10."""
TimeoutS = Annotated[float, BeforeValidator(_timeout)]
"""Seconds to wait for one prediction: a finite number > 0."""
FileBytes = Annotated[bytes, BeforeValidator(_file_bytes)]
"""A file's content as bytes (bytearray and memoryview are copied); text is refused."""


class Options(Checked):
    """The options of one call, checked together before any work starts: the first one
    refused is named, with the value given, and nothing changes."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def check(cls, **values: Any) -> Self:
        """Validate `values` as this call's options, or raise InvalidInput naming the first
        refused one."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise from_validation(exc) from None


class BudgetOption(Options):
    budget_usd: BudgetUSD = None


class ClipOptions(Options):
    """`generate_clips`' limits on what one call may spend, retry and wait for."""

    budget_usd: BudgetUSD = None
    retries: Retries = 2
    timeout_s: TimeoutS = 900.0


class FileUpload(Options):
    """A file's bytes handed over from a notebook or a widget."""

    data: FileBytes


def budget(value: Any) -> float | None:
    """A budget: a finite number of dollars >= 0, or None for no cap."""
    return BudgetOption.check(budget_usd=value).budget_usd
