"""Each Replicate model's own input schema, fetched before its first prediction and checked
against what we are about to send, so a mapping mistake is a clear error, not a paid failure.

API facts (Replicate HTTP API, "models.get" and "models.versions.get"; replicate-python 1.0.7
model.py `Models.async_get`, version.py `Version.openapi_schema`):
- GET /v1/models/{owner}/{name} answers the model with `latest_version`: {id, created_at,
  cog_version, openapi_schema}. A create through /v1/models/{owner}/{name}/predictions runs
  that latest version, so its schema is the one to check against.
- `openapi_schema` is an OpenAPI 3 document; `components.schemas.Input` is a JSON Schema
  object whose enum fields point (`allOf: [{$ref: "#/components/schemas/<field>"}]`) at
  sibling schemas holding the `enum`. A version id is a content hash: its schema never
  changes, so a schema recorded under its version id never goes stale.

What is checked (with `jsonschema`, the validator Jupyter already ships): unknown fields
(Replicate itself ignores them, which would silently drop a setting we meant to send), types,
enums, minimum/maximum, required fields. The error names the model, its version and the field.
"""

from __future__ import annotations

import asyncio
import logging
import math
import weakref
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from pydantic import BaseModel, Field

from nbvideo.errors import InvalidInput, NbvideoError
from nbvideo.providers.base import ProviderAPIError

log = logging.getLogger(__name__)
SOURCE = "GET {base}/v1/models/{ref}"


class InputRejected(InvalidInput):
    """Inputs a model's recorded schema does not accept: raised before anything is sent."""


class RecordedSchema(BaseModel):
    """One model version's input schema, as fetched, with where and when it came from."""

    model: str = Field(description="owner/name on Replicate")
    version: str
    fetched_at: datetime
    source: str
    components: dict[str, Any] = Field(description="openapi_schema.components.schemas")

    @property
    def input(self) -> dict[str, Any]:
        return dict(self.components.get("Input") or {})


class SchemaBook(Protocol):
    """Where fetched schemas are kept (the project's schemas/ folder, or memory)."""

    def get(self, model: str, version: str) -> dict[str, Any] | None: ...
    def latest(self, model: str) -> dict[str, Any] | None: ...
    def put(self, model: str, version: str, record: dict[str, Any]) -> None: ...


class MemoryBook:
    """A SchemaBook for a provider used outside a project: this process only."""

    def __init__(self) -> None:
        self._by: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, model: str, version: str) -> dict[str, Any] | None:
        return self._by.get((model, version))

    def latest(self, model: str) -> dict[str, Any] | None:
        mine = [r for (m, _v), r in self._by.items() if m == model]
        return max(mine, key=lambda r: str(r.get("fetched_at", "")), default=None)

    def put(self, model: str, version: str, record: dict[str, Any]) -> None:
        self._by[(model, version)] = record


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(model_id: str, rec: RecordedSchema, err: ValidationError,
             props: Mapping[str, Any]) -> str:
    where = f"{model_id} ({rec.model}, version {rec.version[:12]})"
    field = next((str(p) for p in err.absolute_path), None)
    schema = err.schema if isinstance(err.schema, dict) else {}
    if err.validator == "required":
        missing = str(err.message).split("'")[1] if "'" in err.message else err.message
        return f"{where}: the input field {missing!r} is required and was not sent"
    if err.validator == "enum":
        allowed = ", ".join(str(v) for v in schema.get("enum", []))
        return (f"{where}: input field {field!r} = {_describe(err.instance)} is not allowed; "
                f"allowed: {allowed}")
    if err.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        bounds = " to ".join(str(b) for b in (low, high) if b is not None)
        return (f"{where}: input field {field!r} = {_describe(err.instance)} is out of range "
                f"({err.validator} {err.validator_value}); allowed: {bounds}")
    if err.validator == "type":
        return (f"{where}: input field {field!r} = {_describe(err.instance)} has the wrong type;"
                f" the model takes {err.validator_value}")
    return f"{where}: input field {field!r}: {err.message}"


def check_inputs(model_id: str, rec: RecordedSchema, inputs: Mapping[str, Any]) -> None:
    """Raise InputRejected naming the model and field if `inputs` break `rec`'s Input schema."""
    props = rec.input.get("properties") or {}
    unknown = sorted(set(inputs) - set(props))
    if unknown:
        raise InputRejected(
            f"{model_id} ({rec.model}, version {rec.version[:12]}): input field "
            f"{unknown[0]!r} is not one of its inputs; it takes: {', '.join(sorted(props))}")
    for name, value in inputs.items():  # JSON has no NaN: Replicate would refuse the body
        if isinstance(value, float) and not math.isfinite(value):
            raise InputRejected(f"{model_id}: input field {name!r} is {value}, not a number")
    validator = Draft202012Validator({"$ref": "#/components/schemas/Input",
                                      "components": {"schemas": rec.components}})
    errors = sorted(validator.iter_errors(dict(inputs)),
                    key=lambda e: (list(e.absolute_path), e.validator != "enum"))
    if errors:
        raise InputRejected(_message(model_id, rec, errors[0], props))


def record_from_model(model_json: Mapping[str, Any], ref: str, source: str) -> RecordedSchema:
    """A RecordedSchema from a GET /v1/models/{owner}/{name} answer (or a Model object's
    latest_version), refusing an answer with no Input schema: unchecked is not an option."""
    latest = model_json.get("latest_version") or {}
    schema = latest.get("openapi_schema") or {}
    comps = ((schema.get("components") or {}).get("schemas") or {})
    if not latest.get("id") or "Input" not in comps:
        raise ProviderAPIError(f"Replicate's answer for {ref} has no input schema (latest "
                               "version or components.schemas.Input missing); nothing was sent")
    return RecordedSchema(model=ref, version=str(latest["id"]), fetched_at=datetime.now(UTC),
                          source=source, components=comps)


class SchemaGate:
    """Knows, per model, the schema of the version predictions run now, and checks inputs.

    One fetch per model per provider instance (the models endpoint names the current
    version); a prediction that reports another version drops it, so the next create
    fetches again. A fetch failure falls back to the newest schema recorded in the book,
    said in the log as a warning; with none recorded the create is refused, as transient.
    """

    def __init__(self, book: SchemaBook | None = None) -> None:
        self.book: SchemaBook = book or MemoryBook()
        self._current: dict[str, RecordedSchema] = {}
        # Scenes submitted together wait for one fetch (locks belong to one event loop).
        self._locks: weakref.WeakKeyDictionary[Any, dict[str, asyncio.Lock]] = (
            weakref.WeakKeyDictionary())

    def forget(self, ref: str) -> None:
        self._current.pop(ref, None)

    def saw_version(self, ref: str, version: str | None) -> None:
        """A prediction ran `version`; if it is not the one we checked against, re-fetch."""
        rec = self._current.get(ref)
        if rec is not None and version and version != "hidden" and version != rec.version:
            log.info("%s now runs version %s (checked against %s): its schema is fetched "
                     "again before the next prediction", ref, version[:12], rec.version[:12])
            self.forget(ref)

    async def current(self, ref: str, fetch: Callable[[], Awaitable[RecordedSchema]],
                      book: SchemaBook | None = None) -> RecordedSchema:
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        async with locks.setdefault(ref, asyncio.Lock()):
            return await self._current_locked(ref, fetch, book)

    async def _current_locked(self, ref: str, fetch: Callable[[], Awaitable[RecordedSchema]],
                              book: SchemaBook | None) -> RecordedSchema:
        rec = self._current.get(ref)
        if rec is not None:
            if book is not None and book.get(ref, rec.version) is None:
                book.put(ref, rec.version, rec.model_dump(mode="json"))
            return rec
        use = book or self.book
        try:
            rec = await fetch()
        except NbvideoError as exc:
            kept = use.latest(ref) or self.book.latest(ref)
            if kept is None:
                raise ProviderAPIError(
                    f"could not read the input schema of {ref} from Replicate ({exc}), and "
                    "none is recorded; nothing was sent or paid. Try again in a moment",
                    status=getattr(exc, "status", None)) from None
            rec = RecordedSchema.model_validate(kept)
            log.warning("could not fetch the input schema of %s (%s); checking against the "
                        "one recorded for version %s on %s", ref, exc, rec.version[:12],
                        rec.fetched_at.date().isoformat())
            return rec  # not kept as current: the next create tries the fetch again
        self._current[ref] = rec
        for b in {id(self.book): self.book, id(use): use}.values():
            if b.get(ref, rec.version) is None:
                b.put(ref, rec.version, rec.model_dump(mode="json"))
        return rec
