"""Platform presets and the checks an export must pass before it is rendered.

A preset says what a platform wants (aspect, size, fps, length, bitrate, loudness) and where
its app draws buttons over the video (the safe area). `check_export` compares what an export
WILL be (`ExportFacts`, built from the timeline and caption layouts before any encoding) with
a preset and says exactly what breaks it, with the numbers: "too long by 4.5 s: 64.5 s > 60 s".

Safe areas are insets per side as fractions of the frame. They are rounded from the platforms'
published guidance where there is some and from measuring the apps' overlays where there is
not; the apps change their UI, so treat them as a careful default, not a guarantee:
- Instagram Reels: Meta's Reels guidance keeps text and logos out of the top 14% (250 px of
  1920), the bottom 35% (670 px: caption, audio, buttons) and 6% at each side.
- TikTok: status bar and Following/For You tabs on top (~10%); caption, sound ticker and nav
  bar at the bottom (~22%); the like/comment/share column on the right (~14%).
- YouTube Shorts: like TikTok, with a slightly taller title area (~24%) at the bottom.
- YouTube (16:9): broadcast title-safe 5% at the sides and top; 10% at the bottom where the
  player's controls and progress bar sit when paused.
- Instagram feed (4:5) and the generic web MP4: no overlay UI; a 5% margin keeps text off
  the edge and out of rounded-corner crops.
Limits: TikTok in-feed ads run 5-60 s; Reels up to 90 s; Shorts kept at their classic 60 s
(longer Shorts exist since 2024 but do not get the Shorts ad placements); feed video 60 s.
Loudness: -14 LUFS integrated, -1 dBTP true peak, the level the social apps and YouTube
normalise to; the web preset uses -16 LUFS (AES streaming recommendation).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nbvideo.errors import InvalidInput, quote
from nbvideo.model.state import Aspect, ExportResolution, frame_size

if TYPE_CHECKING:
    from nbvideo.model.encoding import EncodingPlan

__all__ = [
    "PRESETS", "ExportCheckFailed", "ExportFacts", "Preset", "Rect", "SafeArea", "TextItem",
    "Violation", "check_export", "enforce", "get_preset", "get_presets",
]  # fmt: skip


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rect(_Model):
    """A pixel rectangle: x, y of the top-left corner; w, h in pixels."""

    x: int
    y: int
    w: int = Field(ge=0)
    h: int = Field(ge=0)

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    def contains(self, other: Rect) -> bool:
        return (other.x >= self.x and other.y >= self.y and other.right <= self.right
                and other.bottom <= self.bottom)

    def overflow(self, inner: Rect) -> dict[str, int]:
        """Pixels by which `inner` sticks out of self, per side (only sides that do)."""
        over = {"top": self.y - inner.y, "bottom": inner.bottom - self.bottom,
                "left": self.x - inner.x, "right": inner.right - self.right}
        return {k: v for k, v in over.items() if v > 0}

    def intersects(self, other: Rect) -> bool:
        return (self.x < other.right and other.x < self.right and self.y < other.bottom
                and other.y < self.bottom)


class SafeArea(_Model):
    """Insets per side as fractions of the frame that the platform's UI may cover."""

    top: float = Field(0.05, ge=0, lt=0.5)
    bottom: float = Field(0.05, ge=0, lt=0.5)
    left: float = Field(0.05, ge=0, lt=0.5)
    right: float = Field(0.05, ge=0, lt=0.5)

    def rect(self, w: int, h: int) -> Rect:
        """The safe area in pixels, rounded inward so a box inside it is always safe."""
        x0, y0 = math.ceil(self.left * w), math.ceil(self.top * h)
        x1, y1 = math.floor(w - self.right * w), math.floor(h - self.bottom * h)
        return Rect(x=x0, y=y0, w=x1 - x0, h=y1 - y0)


class Preset(_Model):
    name: str
    label: str
    aspect: Aspect
    resolution: ExportResolution = "1080p"
    fps: int = 30
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    video_kbps: int = Field(gt=0, description=(
        "The platform's recommended video bitrate for this size and fps: the ceiling of a "
        "short export (model/encoding.py); a long one gets less, to fit max_upload_bytes."))
    audio_kbps: int = Field(128, gt=0, description="AAC-LC bitrate of the soundtrack.")
    max_upload_bytes: int = Field(4 * 1024**3, gt=0, description=(
        "The platform's upload size limit (the tightest where the preset is posted)."))
    keyint_s: float = Field(2.0, gt=0, le=10, description=(
        "Keyframe interval (closed GOP) the platform recommends."))
    loudness_lufs: float = -14.0
    true_peak_db: float = -1.0
    audio: Literal["required", "recommended", "optional"] = "recommended"
    safe_area: SafeArea = Field(default_factory=SafeArea)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, as the export engine computes it for this aspect."""
        return frame_size(self.aspect, self.resolution)

    def encoding(self, duration_s: float, crf: int = 20) -> EncodingPlan:
        """The H.264 profile, level and bitrate ceiling of a `duration_s` export (capped CRF
        under the recommended rate and the size limit): see `model/encoding.py`."""
        from nbvideo.model.encoding import plan_encoding

        return plan_encoding(self, duration_s, crf=crf)

    def loudnorm(self) -> str:
        """ffmpeg audio filter bringing a mix to the preset's loudness and true peak."""
        return f"loudnorm=I={self.loudness_lufs:g}:TP={self.true_peak_db:g}:LRA=11"

    @model_validator(mode="after")
    def _durations(self) -> Preset:
        lo, hi = self.min_duration_s, self.max_duration_s
        if lo is not None and hi is not None and lo > hi:
            raise ValueError("min_duration_s must not exceed max_duration_s")
        return self


_VERTICAL: dict = {"aspect": "9:16", "resolution": "1080p", "fps": 30}
_MB, _GB = 1024**2, 1024**3
# Upload limits and keyframe intervals: see model/encoding.py for the platforms' pages.
# The limit is the tightest where the preset is posted (deliver/publish.RULES and the package
# forms): Instagram's 300 MB (Graph API) for Reels and feed, Facebook's 10 GB for the YouTube
# and web files (it takes them too), YouTube's 256 GB for Shorts, TikTok's 4 GB.
# YouTube asks for a closed GOP of half the frame rate, Meta for 2-5 s.
PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset(name="tiktok", label="TikTok", **_VERTICAL, min_duration_s=5, max_duration_s=60,
           video_kbps=8000, audio_kbps=128, audio="required", max_upload_bytes=4 * _GB,
           safe_area=SafeArea(top=0.10, bottom=0.22, left=0.06, right=0.14)),
    Preset(name="reels", label="Instagram Reels", **_VERTICAL, min_duration_s=3,
           max_duration_s=90, video_kbps=6000, audio_kbps=128, max_upload_bytes=300 * _MB,
           safe_area=SafeArea(top=0.14, bottom=0.35, left=0.06, right=0.06)),
    Preset(name="shorts", label="YouTube Shorts", **_VERTICAL, max_duration_s=60,
           video_kbps=8000, audio_kbps=192, max_upload_bytes=256 * _GB, keyint_s=0.5,
           safe_area=SafeArea(top=0.12, bottom=0.24, left=0.06, right=0.14)),
    Preset(name="youtube", label="YouTube", aspect="16:9", resolution="1080p", fps=30,
           video_kbps=8000, audio_kbps=384, max_upload_bytes=10 * _GB, keyint_s=0.5,
           safe_area=SafeArea(top=0.05, bottom=0.10, left=0.05, right=0.05)),
    Preset(name="instagram-feed", label="Instagram feed", aspect="4:5", resolution="1080p",
           fps=30, min_duration_s=3, max_duration_s=60, video_kbps=5000, audio_kbps=128,
           max_upload_bytes=300 * _MB),
    Preset(name="web", label="Web MP4", aspect="16:9", resolution="720p", fps=30,
           video_kbps=3000, audio_kbps=128, loudness_lufs=-16.0, audio="optional",
           max_upload_bytes=10 * _GB),
)}  # fmt: skip
_ALIASES = {
    "instagram-reels": "reels", "ig-reels": "reels", "youtube-shorts": "shorts",
    "yt-shorts": "shorts", "instagram": "instagram-feed", "ig-feed": "instagram-feed",
    "feed": "instagram-feed", "mp4": "web", "yt": "youtube",
}


def get_preset(name: str | Preset) -> Preset:
    """A preset by name (or alias, any case); the error lists the names there are."""
    if isinstance(name, Preset):
        return name
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    key = _ALIASES.get(key, key)
    if key not in PRESETS:
        raise InvalidInput(f"preset {quote(name)} is not known; choose from {', '.join(PRESETS)}")
    return PRESETS[key]


def get_presets(names: str | Preset | Sequence[str | Preset]) -> list[Preset]:
    """One or several presets (`export(preset=["reels", "shorts"])`), duplicates removed."""
    items = [names] if isinstance(names, str | Preset) else list(names)
    if not items:
        raise InvalidInput(f"no preset given; choose from {', '.join(PRESETS)}")
    out: dict[str, Preset] = {}
    for n in items:
        p = get_preset(n)
        out.setdefault(p.name, p)
    return list(out.values())


# ------------------------------------------------------------------------------- checks
class TextItem(_Model):
    """A text box drawn over the video from start_s to end_s (None: to the end)."""

    label: str
    rect: Rect
    start_s: float = Field(0.0, ge=0)
    end_s: float | None = None


class ExportFacts(_Model):
    """What an export will be, known before it is rendered."""

    duration_s: float = Field(gt=0)
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_audio: bool = False
    audio_lufs: float | None = None
    audio_true_peak_db: float | None = None
    texts: list[TextItem] = Field(default_factory=list)
    logo: Rect | None = None


class Violation(_Model):
    code: Literal["too_long", "too_short", "wrong_size", "wrong_fps", "no_audio", "loudness",
                  "true_peak", "text_unsafe", "logo_unsafe", "text_over_logo", "voice_overrun",
                  "upscaled"]
    severity: Literal["error", "warning"]
    message: str
    preset: str
    item: str | None = None

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


class ExportCheckFailed(InvalidInput):
    """An export would break its preset; `violations` says how, with the numbers."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        lines = "\n".join(f"  - [{v.preset}] {v}" for v in violations)
        super().__init__(f"export does not meet its preset:\n{lines}")


def _n(x: float) -> str:
    """Numbers for messages: 64.5 -> '64.5', 60.0 -> '60', 4.499999 -> '4.5'."""
    return f"{round(x, 2):g}"


def _span(t: TextItem) -> str:
    return f"{_n(t.start_s)}\u2013{'end' if t.end_s is None else _n(t.end_s)} s"


def _outside(what: str, box: Rect, safe: Rect, label: str) -> str:
    """'caption 3 (2-4.5 s) is outside ... by 13 px at the bottom (box ends at y=1510, ...)'"""
    edge = {"top": ("starts", "y", lambda r: r.y), "bottom": ("ends", "y", lambda r: r.bottom),
            "left": ("starts", "x", lambda r: r.x), "right": ("ends", "x", lambda r: r.right)}
    parts = []
    for side, px in safe.overflow(box).items():
        verb, axis, get = edge[side]
        parts.append(f"{px} px at the {side} (box {verb} at {axis}={get(box)}, "
                     f"safe area at {axis}={get(safe)})")
    return f"{what} is outside the {label} safe area by " + " and ".join(parts)


def check_export(preset: Preset | str, facts: ExportFacts) -> list[Violation]:
    """Everything about `facts` that breaks `preset`, errors first; [] when it is fine."""
    p = get_preset(preset)
    out: list[Violation] = []

    def add(code: str, sev: str, msg: str, item: str | None = None) -> None:
        out.append(Violation(code=code, severity=sev, message=msg,  # type: ignore[arg-type]
                             preset=p.name, item=item))

    d = facts.duration_s
    if p.max_duration_s is not None and d > p.max_duration_s + 1e-6:
        add("too_long", "error", f"too long by {_n(d - p.max_duration_s)} s: {_n(d)} s > "
            f"{_n(p.max_duration_s)} s, the {p.label} limit")
    if p.min_duration_s is not None and d < p.min_duration_s - 1e-6:
        add("too_short", "error", f"too short by {_n(p.min_duration_s - d)} s: {_n(d)} s < "
            f"{_n(p.min_duration_s)} s, the {p.label} minimum")
    w, h = p.size
    if facts.width is not None and facts.height is not None and (
            (facts.width, facts.height) != (w, h)):
        add("wrong_size", "error", f"frame is {facts.width}x{facts.height}; {p.label} needs "
            f"{w}x{h} ({p.aspect})")
    if facts.fps is not None and abs(facts.fps - p.fps) > 0.01:
        add("wrong_fps", "warning", f"{_n(facts.fps)} fps; {p.label} expects {p.fps} fps")
    if not facts.has_audio and p.audio != "optional":
        add("no_audio", "error" if p.audio == "required" else "warning",
            f"missing audio: {p.label} plays with sound on; add a voice-over or a music bed")
    if facts.has_audio and facts.audio_lufs is not None:
        diff = facts.audio_lufs - p.loudness_lufs
        if abs(diff) > 1.0:
            add("loudness", "warning", f"audio is {_n(facts.audio_lufs)} LUFS, {_n(abs(diff))} LU "
                f"{'louder' if diff > 0 else 'quieter'} than the {_n(p.loudness_lufs)} LUFS target")
    if facts.has_audio and facts.audio_true_peak_db is not None:
        over = facts.audio_true_peak_db - p.true_peak_db
        if over > 0.05:
            add("true_peak", "warning", f"true peak {_n(facts.audio_true_peak_db)} dBTP is "
                f"{_n(over)} dB above the {_n(p.true_peak_db)} dBTP ceiling")
    safe = p.safe_area.rect(w, h)
    for t in facts.texts:
        if not safe.contains(t.rect):
            add("text_unsafe", "error", _outside(f"{t.label} ({_span(t)})", t.rect, safe,
                                                 f"{p.label} {p.aspect}"), t.label)
        elif facts.logo is not None and t.rect.intersects(facts.logo):
            add("text_over_logo", "warning", f"{t.label} ({_span(t)}) overlaps the logo", t.label)
    if facts.logo is not None and not safe.contains(facts.logo):
        add("logo_unsafe", "warning", _outside("the logo", facts.logo, safe,
                                               f"{p.label} {p.aspect}"), "logo")
    return sorted(out, key=lambda v: v.severity != "error")


def enforce(violations: Iterable[Violation], accept: bool | Iterable[str] = ()) -> list[Violation]:
    """Raise ExportCheckFailed for any error and any warning not accepted; return the
    accepted warnings so the caller can still show them.

    `accept=True` accepts every warning; a list accepts warnings by code
    (`accept=["no_audio"]`). Errors cannot be accepted: fix the timeline or pick a preset.
    """
    vs = list(violations)
    codes: set[str] | None = None if accept is True else set(accept or ())
    blocking = [v for v in vs
                if v.severity == "error" or (codes is not None and v.code not in codes)]
    if blocking:
        raise ExportCheckFailed(blocking)
    return vs
