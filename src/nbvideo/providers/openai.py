"""OpenAI provider: the planner (structured outputs into our pydantic types) and GPT Image frames.

Speaks the official SDK (``AsyncOpenAI``), so any OpenAI-compatible server works through
``base_url``. Network faults (429 with Retry-After, 5xx, timeouts) are retried by the SDK's own
``max_retries``; an answer we cannot use (bad JSON, refusal, cut off) is asked again once and
then raised as ProviderOutputError. Every message that leaves this module is redacted.
"""

from __future__ import annotations

import base64
import contextlib
import io
import ipaddress
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import openai
import pydantic
from openai import AsyncOpenAI
from PIL import Image, ImageOps
from pydantic import BaseModel

from nbvideo import keys
from nbvideo.errors import InvalidInput
from nbvideo.providers import catalog
from nbvideo.providers.base import (
    FrameRequest,
    MediaResult,
    PlanContext,
    ProviderAPIError,
    ProviderError,
    ProviderOutputError,
    QuestionsResult,
    StoryboardResult,
    Usage,
    VendorKey,
)
from nbvideo.providers.openai_plan import (
    ORIENTATION,
    QuestionsOut,
    StoryboardOut,
    _Unusable,
    questions_messages,
    storyboard_messages,
    to_questions,
    to_storyboard,
)

__all__ = ["OpenAIImageFrames", "OpenAIPlanner", "ProviderAPIError", "ProviderError",
           "ProviderOutputError", "QuestionsOut", "StoryboardOut"]

PLACEHOLDER_KEY = "not-needed"  # local servers ignore the key, but the SDK sends a header
MAX_OUTPUT_TOKENS = 4096  # a 12-scene storyboard is ~2k tokens; the cap bounds a runaway answer
ATTEMPTS = 2  # an unusable answer is asked for once more; both attempts are billed
RETRY_NOTE_CHARS = 300  # what the second attempt quotes of the first one's problem


# --------------------------------------------------------------------------- client plumbing

def is_local_url(base_url: str | None) -> bool:
    """A server on this machine or the local network, where a key may be absent."""
    host = (urlsplit(base_url).hostname or "") if base_url else ""
    if host == "localhost" or host.endswith((".localhost", ".local")) or \
            host == "host.docker.internal":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_unspecified


class _OpenAIBase(VendorKey):
    """Key, base_url and SDK client handling shared by the planner and the image model."""

    provider = "openai"
    _kind: Literal["text", "image"] = "text"

    def __init__(self, model: str, *, api_key: str | None = None, base_url: str | None = None,
                 max_retries: int = 3, timeout_s: float = 60, client: AsyncOpenAI | None = None,
                 key_on_use: bool = False):
        # One gate (keys.key_destination): the key goes to api.openai.com, or to a server
        # named for OpenAI (base_url= or OPENAI_BASE_URL); anything else is refused by name.
        self.base_url = keys.key_destination("openai", base_url)
        local = is_local_url(self.base_url)
        try:
            self.spec = catalog.get_model(model)
        except InvalidInput:
            if not self.base_url:
                raise
            # A model served by an OpenAI-compatible server: tokens are counted, price unknown.
            self.spec = catalog.ModelSpec(
                id=model, provider="openai", kind=self._kind, ref=model, title=model,
                price_basis="per_token" if self._kind == "text" else "per_image",
                prices_usd={"input_mtok": 0.0, "output_mtok": 0.0} if self._kind == "text"
                else {"image": 0.0})
        if self.spec.provider != "openai" or self.spec.kind != self._kind:
            raise InvalidInput(f"model {model!r} is a {self.spec.provider} {self.spec.kind} model; "
                               f"this needs an openai {self._kind} model: " + ", ".join(
                                   m.id for m in catalog.models(self._kind, "openai")))
        self.model = self.spec.id
        self._local = local
        given = api_key or (client.api_key if client is not None else None)
        self._given = keys.Secret(given) if given else None
        if not key_on_use:
            self.check_key()  # built to be used now: a missing key fails here, by name
        self.max_retries, self.timeout_s, self._client = max_retries, timeout_s, client

    def check_key(self) -> None:
        """Raise MissingKey (naming OPENAI_API_KEY) if a call would need a key not set."""
        if self._given is None:
            keys.get_key("openai", required=not self._local)

    @property
    def _key(self) -> keys.Secret:
        """The key, looked up when a call is made (a key set after opening is used)."""
        if self._given is not None:
            return self._given
        return keys.get_key("openai", required=not self._local) or keys.Secret(PLACEHOLDER_KEY)

    def __repr__(self) -> str:
        where = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"{type(self).__name__}(model={self.model!r}{where})"

    @contextlib.asynccontextmanager
    async def _session(self, what: str, spent: Callable[[], Usage]) -> AsyncIterator[AsyncOpenAI]:
        """A client for one call (one per call: safe across event loops); API errors after the
        SDK's retries become a redacted ProviderAPIError without the original chained."""
        client = self._client or AsyncOpenAI(api_key=str(self._key), base_url=self.base_url,
                                             max_retries=self.max_retries, timeout=self.timeout_s)
        try:
            yield client
        except openai.APIStatusError as exc:
            msg = f"OpenAI {what} with {self.model} failed: {exc.message}"
            hint = " (check the API key)" if exc.status_code == 401 else ""
            rid = f" [request {exc.request_id}]" if exc.request_id else ""
            raise ProviderAPIError(self._clean(msg + hint + rid), status=exc.status_code,
                                   usage=spent()) from None
        except openai.APITimeoutError:
            raise ProviderAPIError(self._clean(
                f"OpenAI {what} with {self.model} timed out after {self.timeout_s:g} s "
                f"({self.max_retries} retries)"), usage=spent()) from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise ProviderAPIError(self._clean(
                f"OpenAI {what} with {self.model} could not reach "
                f"{self.base_url or 'api.openai.com'}: {cause}"), usage=spent()) from None
        finally:
            if self._client is None:
                await client.close()


# --------------------------------------------------------------------------- planner

def _json_object(response: Any) -> dict[str, Any]:
    """The response body as a dict, or {} (a broken body must not hide the tokens we paid)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")


class OpenAIPlanner(_OpenAIBase):
    """Planner over chat completions with strict structured outputs.

    Example: ``OpenAIPlanner("gpt-6-luna")`` (key from OPENAI_API_KEY), or
    ``OpenAIPlanner("llama3.1", base_url="http://localhost:11434/v1")`` for a local server.
    """

    def __init__(self, model: str = "gpt-6-luna", *, api_key: str | None = None,
                 base_url: str | None = None, max_retries: int = 3, timeout_s: float = 60,
                 client: AsyncOpenAI | None = None, key_on_use: bool = False):
        super().__init__(model, api_key=api_key, base_url=base_url, max_retries=max_retries,
                         timeout_s=timeout_s, client=client, key_on_use=key_on_use)

    async def questions(self, ctx: PlanContext) -> QuestionsResult:
        qs, usage = await self._ask("questions", QuestionsOut, questions_messages(ctx),
                                    lambda out: to_questions(out, ctx), ctx.seed)
        return QuestionsResult(questions=qs, usage=usage)

    async def storyboard(self, ctx: PlanContext) -> StoryboardResult:
        sb, usage = await self._ask("storyboard", StoryboardOut, storyboard_messages(ctx),
                                    lambda out: to_storyboard(out, ctx, self.model), ctx.seed)
        return StoryboardResult(storyboard=sb, usage=usage)

    def estimate_usd(self, what: Literal["questions", "storyboard"], ctx: PlanContext) -> float:
        """An upper bound of what one `questions` or `storyboard` call can cost, for the money
        gate to reserve: `ATTEMPTS` attempts, each with at most `MAX_OUTPUT_TOKENS` out and no
        more tokens in than the UTF-8 bytes of the messages, 1.5x the JSON schema, the retry
        note and 16 per message (a BPE token is at least one byte). The answer's real
        tokens settle it."""
        out_type, messages = ((QuestionsOut, questions_messages(ctx)) if what == "questions"
                              else (StoryboardOut, storyboard_messages(ctx)))
        sent = len(json.dumps(messages, ensure_ascii=False).encode())
        schema = len(json.dumps(out_type.model_json_schema()).encode())
        per_attempt = sent + schema * 3 // 2 + 4 * RETRY_NOTE_CHARS + 16 * (len(messages) + 1)
        return catalog.price(self.spec, input_tokens=ATTEMPTS * per_attempt,
                             output_tokens=ATTEMPTS * MAX_OUTPUT_TOKENS).cost_usd

    async def _ask(self, what: str, out_type: type[T], messages: list[dict[str, str]],
                   convert: Callable[[T], R], seed: int) -> tuple[R, Usage]:
        """Ask, and ask once more if the answer is unusable; tokens of both attempts count."""
        tokens = [0, 0]
        request_id: str | None = None
        problems: list[str] = []

        def spent() -> Usage:
            u = catalog.price(self.spec, input_tokens=tokens[0], output_tokens=tokens[1])
            return u.model_copy(update={"request_id": request_id})

        async with self._session(what, spent) as client:
            for attempt in range(ATTEMPTS):
                msgs = messages if not problems else [*messages, {"role": "user", "content": (
                    f"Your previous reply could not be used: {problems[-1][:RETRY_NOTE_CHARS]}."
                    " Reply again with "
                    "the complete answer as JSON that follows the schema exactly"
                    + (", keeping every text short." if "cut off" in problems[-1] else "."))}]
                raw = await client.chat.completions.with_raw_response.parse(
                    model=self.spec.ref, messages=msgs, response_format=out_type,  # type: ignore[arg-type]
                    seed=seed + attempt, max_completion_tokens=MAX_OUTPUT_TOKENS)
                body = _json_object(raw.http_response)
                usage = body.get("usage")
                usage = usage if isinstance(usage, dict) else {}
                tokens[0] += int(usage.get("prompt_tokens") or 0)
                tokens[1] += int(usage.get("completion_tokens") or 0)
                request_id = str(body.get("id") or raw.request_id or request_id or "") or None
                if not isinstance(body.get("choices"), list):
                    problems.append("the server's reply was not a chat completion")
                    continue
                try:
                    completion = raw.parse()
                    if not completion.choices:
                        raise _Unusable("the reply had no choices")
                    message = completion.choices[0].message
                    if message.refusal:
                        problems.append(f"the model refused: {message.refusal.strip()}")
                        continue
                    if message.parsed is None:
                        raise _Unusable("the reply was empty")
                    return convert(message.parsed), spent()
                except openai.LengthFinishReasonError:
                    problems.append("the reply was cut off at the output token limit")
                except openai.ContentFilterFinishReasonError:
                    problems.append("the reply was stopped by the content filter")
                except (pydantic.ValidationError, openai.APIResponseValidationError) as exc:
                    n = exc.error_count() if isinstance(exc, pydantic.ValidationError) else 1
                    problems.append(f"the reply was not valid {out_type.__name__} JSON "
                                    f"({n} error(s))")
                except _Unusable as exc:
                    problems.append(str(exc))
        tried = "; then ".join(dict.fromkeys(problems))
        raise ProviderOutputError(self._clean(
            f"OpenAI {self.model} gave no usable {what} after {ATTEMPTS} attempts: {tried}"),
            usage=spent())


# --------------------------------------------------------------------------- frames

def _mime(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in (".png", ".jpg", ".jpeg", ".webp"):
        raise InvalidInput(f"look.reference_image must be a PNG, JPEG or WebP file, got {path.name}")
    return "image/png" if ext == ".png" else "image/webp" if ext == ".webp" else "image/jpeg"


_SIZES = {"16:9": "1536x1024", "9:16": "1024x1536", "1:1": "1024x1024", "4:5": "1024x1536"}


class OpenAIImageFrames(_OpenAIBase):
    """FrameModel over the Images API (gpt-image-2.6-flare by default): b64 PNG, cropped to our
    exact frame size. gpt-image-1 (shut down 2026-10-23) and gpt-image-1.5/-mini (2026-12-01)
    are refused by the lifecycle (providers/lifecycle.py), naming this successor."""

    _kind = "image"

    def __init__(self, model: str = "gpt-image-2.6-flare", *, api_key: str | None = None,
                 base_url: str | None = None, max_retries: int = 3, timeout_s: float = 180,
                 client: AsyncOpenAI | None = None,
                 quality: Literal["low", "medium", "high", "auto"] = "medium",
                 key_on_use: bool = False):
        super().__init__(model, api_key=api_key, base_url=base_url, max_retries=max_retries,
                         timeout_s=timeout_s, client=client, key_on_use=key_on_use)
        self.quality = quality

    @staticmethod
    def prompt_for(req: FrameRequest) -> str:
        parts = [req.visual_prompt.rstrip(". "), f"{req.shot} shot",
                 f"{ORIENTATION[req.aspect]} {req.aspect} composition"]
        if req.palette and "colour palette of" not in req.visual_prompt:  # the look names them
            parts.append("colour palette " + ", ".join(req.palette))
        return ". ".join(parts) + ". No text, no logos, no watermark."

    async def frame(self, req: FrameRequest, out: Path) -> MediaResult:
        request_id: str | None = None

        def spent() -> Usage:
            return catalog.price(self.spec, images=1).model_copy(update={"request_id": request_id})

        async with self._session("image", lambda: Usage()) as client:
            if req.reference_image is not None and self.spec.reference_input:
                # The look's product photo: the edits endpoint (multipart) takes it as `image`.
                # No `input_fidelity`: the SDK (openai 3.60.0, types/image_edit_params.py)
                # documents it for gpt-image-1.5 and -mini only ("For gpt-image-2, omit this
                # parameter"), and the GPT Image 2.x models keep reference detail on their own.
                ref = req.reference_image
                raw = await client.images.with_raw_response.edit(
                    model=self.spec.ref, image=(ref.name, ref.read_bytes(), _mime(ref)),
                    prompt=self.prompt_for(req), size=_SIZES[req.aspect], quality=self.quality,
                    n=1)
            else:
                raw = await client.images.with_raw_response.generate(
                    model=self.spec.ref, prompt=self.prompt_for(req), size=_SIZES[req.aspect],
                    quality=self.quality, n=1)
            request_id = raw.request_id
            data = raw.parse().data or []
        b64 = data[0].b64_json if data else None
        if not b64:
            raise ProviderOutputError(f"OpenAI {self.model} returned no image data", usage=spent())
        try:
            with Image.open(io.BytesIO(base64.b64decode(b64))) as src:
                im = ImageOps.fit(src.convert("RGB"), (req.width, req.height),
                                  Image.Resampling.LANCZOS)
        except (OSError, ValueError) as exc:
            raise ProviderOutputError(f"OpenAI {self.model} returned an unreadable image: {exc}",
                                      usage=spent()) from None
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        im.save(tmp, "PNG")
        tmp.replace(out)  # never a partial file at `out`
        return MediaResult(path=out, width=req.width, height=req.height, usage=spent())
