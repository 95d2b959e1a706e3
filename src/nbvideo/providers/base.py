"""Protocols every provider implements, and the request/response models at that boundary.

The pipeline speaks only these types. A provider knows nothing about projects, widgets or
the ledger: it takes a request, does the work (locally or over HTTP), writes the asset where
it is told, and reports what it used so the pipeline can price and log it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nbvideo.errors import NbvideoError
from nbvideo.keys import Secret, get_key, redact
from nbvideo.model.speech import Timings, VoiceSettings, WordTiming
from nbvideo.model.state import Aspect, Beat, Brief, CameraMove, Question, ShotType, Storyboard


class _Boundary(BaseModel):
    model_config = ConfigDict(extra="forbid")


__all__ = [
    "ClipRequest", "CreateMayExist", "FrameModel", "FrameRequest", "LipSyncModel", "LipSyncRequest", "MediaResult",
    "PlanContext", "Planner", "PredictionFailed", "PresenterRequest", "ProviderAPIError",
    "ProviderError", "ProviderOutputError", "QuestionsResult",
    "RemoteVideoModel", "SpeechRequest", "SpeechResult", "StoryboardResult", "Ticket", "Usage",
    "VideoModel", "VoiceModel", "VoiceSettings", "VoiceUnavailable", "WaitTimeout", "WordTiming",
]


class VendorKey:
    """A paid model's key: the one it was built with, else this session's (typed, or from the
    environment), looked up at each use so a key set after opening is used. One place for the
    lookup, the early check and scrubbing the key out of a vendor's error text."""

    provider: str  # the vendor, as keys.ENV names it
    _given: Secret | None = None

    def check_key(self) -> None:
        """Raise MissingKey (naming the variable to set) if a call would need a key not set."""
        if self._given is None:
            get_key(self.provider)

    @property
    def _key(self) -> Secret:
        return self._given or get_key(self.provider)  # type: ignore[return-value]

    def _clean(self, text: str) -> str:
        """`text` with every key of this session, and the one given, replaced by ***."""
        text = redact(text)
        given = self._given or ""
        return text.replace(given, "***") if len(given) >= 8 else text


class Usage(_Boundary):
    """What one call consumed, in the unit its price is quoted in."""

    units: float = 0.0
    unit: str = "call"
    unit_price_usd: float = 0.0
    cost_usd: float = 0.0
    request_id: str | None = None


TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""HTTP answers that say "not now" rather than "no": worth trying again later."""


class ProviderError(NbvideoError):
    """A paid call failed; `usage` is what was already spent (log it: it was billed).

    `transient` says whether trying again later may work (a timeout, a rate limit, a 5xx,
    a dropped connection) or not until something changes (a refused key, a bad request, a
    failed prediction, an unusable answer). The message carries the vendor's own words,
    with keys redacted."""

    transient: bool = False

    def __init__(self, message: str, *, usage: Usage | None = None,
                 transient: bool | None = None) -> None:
        super().__init__(message)
        self.usage = usage or Usage()
        if transient is not None:
            self.transient = transient


class ProviderOutputError(ProviderError):
    """The model answered, twice, with something we cannot use (bad JSON, refusal, cut off)."""


class ProviderAPIError(ProviderError):
    """The API failed after the SDK's own retries (auth, quota, 5xx, network). `status` is
    the HTTP status (None: no answer at all); transient unless the API said no (4xx other
    than a timeout or rate limit)."""

    def __init__(self, message: str, *, status: int | None = None, usage: Usage | None = None,
                 transient: bool | None = None):
        if transient is None:
            transient = status is None or status in TRANSIENT_STATUS or status >= 500
        super().__init__(message, usage=usage, transient=transient)
        self.status = status


class CreateMayExist(ProviderAPIError):
    """A create whose answer never came back usable (a timeout after sending, a dropped
    connection, a garbled body): the vendor may have made, and will bill, the job.

    Never transient: sending it again could pay twice. The money gate counts the call at its
    estimate (runtime.context), and the clips phase neither retries nor falls back for that
    scene, so the budget holds whatever the vendor did with it."""

    def __init__(self, message: str, *, status: int | None = None,
                 usage: Usage | None = None) -> None:
        super().__init__(message, status=status, usage=usage, transient=False)


class _TicketError(ProviderError):
    def __init__(self, message: str, ticket: Ticket) -> None:
        super().__init__(message)
        self.ticket = ticket

    def __reduce__(self) -> Any:  # pickles (a campaign worker's error reaches the runner whole)
        return type(self), (str(self), self.ticket), self.__dict__


class PredictionFailed(_TicketError):
    """The remote prediction ran and ended `failed`; `ticket.error` is the provider's text.
    Transient: a new prediction often succeeds (the clips phase retries it)."""

    transient = True


class WaitTimeout(_TicketError):
    """Still running after the wait's timeout; `wait` did not cancel it (transient: it may
    still finish, and its ticket is kept to resume)."""

    transient = True


class PlanContext(_Boundary):
    """Everything a planner may use: the brief, the questions asked and the answers given."""

    brief: Brief
    questions: list[Question] = Field(default_factory=list)
    answers: dict[str, str] = Field(default_factory=dict)
    seed: int = 7
    fit_durations: tuple[float, ...] = Field(
        (), description="Clip lengths a video model makes: scene lengths are planned from "
        "them so no paid second is trimmed (empty: timed freely, the default).")


class QuestionsResult(_Boundary):
    questions: list[Question]
    usage: Usage = Field(default_factory=Usage)


class StoryboardResult(_Boundary):
    storyboard: Storyboard
    usage: Usage = Field(default_factory=Usage)


class FrameRequest(_Boundary):
    """One storyboard frame. `palette` is a list of '#rrggbb' colours, darkest first.

    The project look reaches a model through it: paid models get the style words woven into
    `visual_prompt` and, if they take one, `reference_image`; local frames get the palette
    and `logo` (placed in `logo_corner`) and `annotations`: whether the panel carries the
    board's marks or is the picture alone, for an export that burns its own text.

    Nothing about the scene's place in the storyboard is asked for: a frame depends on what
    the scene is, so a reorder neither makes it stale nor costs a new one (views show the
    number beside the frame)."""

    scene_number: int | None = Field(None, ge=1, description=(
        "Ignored and left out of cache keys; accepted so older callers still validate."))
    beat: Beat
    title: str = ""
    description: str
    visual_prompt: str
    shot: ShotType
    camera: CameraMove
    on_screen_text: str = ""
    aspect: Aspect
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    palette: list[str] = Field(default_factory=list)
    seed: int = 0
    logo: Path | None = Field(None, description="Brand logo (PNG) drawn on local frames.")
    logo_corner: Literal["top-left", "top-right"] = "top-left"
    annotations: Literal["board", "clean"] = Field("board", description=(
        "Local frames: 'board' marks the panel (beat, shot and camera, caption, move hints); "
        "'clean' draws the picture alone. Models that draw no marks ignore it."))
    reference_image: Path | None = Field(
        None, description="Product photo, sent only to models that take a reference image.")


class ClipRequest(_Boundary):
    """One clip from a frame. `duration_s` is exact: frames = round(duration_s * fps)."""

    frame_path: Path
    prompt: str
    camera: CameraMove
    duration_s: float = Field(gt=0)
    fps: int = Field(gt=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    seed: int = 0


class PresenterRequest(_Boundary):
    """One presenter shot: `avatar` says `text` in `voice` over `background` ('frame': the
    picture at `frame_path`; else a colour '#rrggbb'). Presenter models answer it through the
    same verbs as clips (`clip`, or `submit`/`wait`/`fetch`), so the clips phase drives them.
    `duration_s` is exact: the shot is conformed to it (a longer line is cut, a shorter one
    holds the presenter listening)."""

    text: str = Field("", max_length=4096, description="The line; empty: a silent presenter.")
    voice: str = Field(min_length=1, max_length=200)
    avatar: str = Field(min_length=1, max_length=200)
    background: str = Field("frame", pattern=r"^(frame|#[0-9a-f]{6})$")
    frame_path: Path | None = None
    palette: list[str] = Field(default_factory=list, description="'#rrggbb', darkest first.")
    duration_s: float = Field(gt=0)
    fps: int = Field(gt=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    seed: int = 0


class MediaResult(_Boundary):
    """What a frame or clip call produced, written to the path it was given."""

    path: Path
    width: int
    height: int
    duration_s: float | None = None
    fps: float | None = None
    usage: Usage = Field(default_factory=Usage)
    source_url: str | None = Field(None, description="Where a remote output came from (no query).")


class Ticket(_Boundary):
    """A remote generation in flight. Its id is saved on the take before anyone waits on it,
    so a new process can pick the same prediction up instead of paying for it twice."""

    id: str
    model: str
    status: Literal["starting", "processing", "succeeded", "failed", "canceled"] = "starting"
    output_url: str | None = None
    error: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = Field(None, description="When it left the queue and ran.")
    progress: float | None = Field(None, ge=0, le=1, description="From the model's log bar.")
    predict_time_s: float | None = None
    polls: int = 0

    def age_s(self) -> float | None:
        """Seconds since it was created (a naive time is UTC), or None if unknown."""
        if self.created_at is None:
            return None
        when = self.created_at if self.created_at.tzinfo else self.created_at.replace(tzinfo=UTC)
        return (datetime.now(UTC) - when).total_seconds()


@runtime_checkable
class Planner(Protocol):
    """Text model: clarifying questions and storyboards as our pydantic types."""

    provider: str
    model: str

    async def questions(self, ctx: PlanContext) -> QuestionsResult: ...

    async def storyboard(self, ctx: PlanContext) -> StoryboardResult: ...


@runtime_checkable
class FrameModel(Protocol):
    """Image model: one frame per request, written to `out` (PNG)."""

    provider: str
    model: str

    async def frame(self, req: FrameRequest, out: Path) -> MediaResult: ...


@runtime_checkable
class VideoModel(Protocol):
    """Video model: one clip per request, written to `out` (MP4, H.264, yuv420p).

    Remote providers implement this as submit / poll / cancel with a persisted ticket; the
    local animatic renderer does the work in-process. Cancellation arrives as
    asyncio.CancelledError and must leave no partial file at `out`.
    """

    provider: str
    model: str

    async def clip(self, req: ClipRequest, out: Path) -> MediaResult: ...


@runtime_checkable
class RemoteVideoModel(VideoModel, Protocol):
    """A video model that runs elsewhere: submit, wait (polling), cancel, fetch the output.

    `wait` must cancel the remote prediction when the awaiting task is canceled, then
    re-raise; `fetch` downloads the output into `out` (temp file + rename)."""

    async def submit(self, req: ClipRequest) -> Ticket: ...

    async def wait(self, ticket: Ticket, on_status: Callable[[Ticket], None] | None = None,
                   timeout_s: float = 900.0) -> Ticket: ...

    async def cancel(self, ticket: Ticket) -> Ticket: ...

    async def fetch(self, ticket: Ticket, out: Path) -> MediaResult: ...


# --------------------------------------------------------------------------- speech

class VoiceUnavailable(NbvideoError):
    """A voice model cannot run here (e.g. espeak-ng is not installed); the message says how
    to make it available. Nothing was spent."""


class SpeechRequest(_Boundary):
    """One voice-over line. `voice` is one of our voice names (providers/voices.py), which
    each voice model maps onto its own voices; `speed` scales that voice's pace."""

    text: str = Field(min_length=1, max_length=4096)
    voice: str = "narrator-f"
    speed: float | None = Field(None, ge=0.25, le=4.0)
    instructions: str = Field("", max_length=2000,
                              description="How to say it, for models that take direction.")
    seed: int = 0
    settings: VoiceSettings | None = Field(None, description=(
        "stability, similarity_boost, style, use_speaker_boost for models that take them "
        "(ElevenLabs); others ignore it. Left out of cache keys while None, so lines spoken "
        "before it existed keep their keys."))

    @field_validator("text")
    @classmethod
    def _has_words(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise ValueError("text is empty")
        return v


class SpeechResult(_Boundary):
    """A spoken line, written where it was asked: 48 kHz mono 16-bit WAV."""

    path: Path
    duration_s: float = Field(ge=0)
    sample_rate: int = 48_000
    channels: int = 1
    voice: str = Field(description="The provider's own voice that spoke it.")
    usage: Usage = Field(default_factory=Usage)
    words: list[WordTiming] = Field(default_factory=list, description=(
        "When each word is said, in seconds from the start of the audio."))
    timings: Timings | None = Field(None, description=(
        "'provider': the model reported the words' times; 'estimated': found from the "
        "audio's loudness; None: not worked out yet (the pipeline estimates them)."))


@runtime_checkable
class VoiceModel(Protocol):
    """Text to speech: one line per request, written to `out` (48 kHz mono WAV).

    The output format is fixed so lines from any model place and mix alike. Cancellation
    arrives as asyncio.CancelledError and must leave no partial file at `out`.
    """

    provider: str
    model: str

    async def speak(self, req: SpeechRequest, out: Path) -> SpeechResult: ...


# --------------------------------------------------------------------------- lip sync

class LipSyncRequest(_Boundary):
    """Make the person in `video_path` say the line in `audio_path` (48 kHz mono WAV, already
    as long as the clip: the line's lead silence and tail are in it, so the output lines up
    with the clip frame for frame).

    `face_box` is where the face is in the clip's source frame, as fractions (x0, y0, x1,
    y1), and `camera` the move the clip makes over that frame: known for local animatics
    of a drawn figure, None otherwise (a remote model finds the face itself; the offline
    model cannot, and says so)."""

    video_path: Path
    audio_path: Path
    duration_s: float = Field(gt=0)
    face_box: tuple[float, float, float, float] | None = None
    camera: CameraMove = "static"


@runtime_checkable
class LipSyncModel(Protocol):
    """Lip sync: one new clip (MP4 with the line's audio) per request, written to `out`."""

    provider: str
    model: str

    async def lip_sync(self, req: LipSyncRequest, out: Path) -> MediaResult: ...
