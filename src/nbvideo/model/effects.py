"""Per-item effects: what a scene (V1) or an overlay image/clip does to its picture and time.

One model, `Effects`, defaulted (no effect) on `ClipEdit` and on overlay image and clip
items, so a project saved before effects opens unchanged. The export turns it into one
ffmpeg filter chain (`media/effects.py`); the timeline uses the time arithmetic here
(`played_s`, `frames`) so cuts, captions and the smart-export plan count the same frames
the render makes.

Time effects act on the clip's kept source window (after its trims), in this order:
reverse (the window plays backwards), then speed (a constant factor, or a ramp: speed
keyframes over the window, linear between keys, the time each source instant lands at being
the integral of 1/speed), then freeze (the frame at `at_s` of the played clip held for
`hold_s`). The played length is that integral rounded to whole frames, plus the hold.

Picture effects act on the fitted frame, in this order: reframe focus (where a crop to
another aspect centres), Ken Burns (a zoom and pan from a start view to an end one), the
colour look, a `.cube` LUT, blur, vignette.

Pure pydantic and arithmetic: imports nothing from nbvideo but the model's own boundary.
"""

from __future__ import annotations

import math
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from nbvideo.model.checked import Checked
from nbvideo.model.vocabulary import Aspect

__all__ = ["LOOKS", "MAX_SPEED", "MIN_SPEED", "Effects", "Focus", "Freeze", "KenBurns",
           "SpeedKey", "looks"]

MIN_SPEED, MAX_SPEED = 0.25, 4.0
MAX_HOLD_S = 10.0
MAX_BLUR = 50.0
MAX_ZOOM = 4.0

LOOKS: dict[str, str] = {
    "warm": "golden: reds and yellows up, blues down",
    "cool": "blue: blues up, reds down",
    "mono": "black and white (no colour at all)",
    "vintage": "faded film: lifted blacks, softened colours, warm cast",
    "punchy": "more contrast and saturation",
    "teal-orange": "blockbuster split: teal shadows, orange highlights",
}
"""The built-in colour looks: name -> what it does (`nv.looks()`)."""

Look = Literal["warm", "cool", "mono", "vintage", "punchy", "teal-orange"]


def looks() -> dict[str, str]:
    """The built-in colour looks and what each does."""
    return dict(LOOKS)


def _cube_path(v: str | None) -> str | None:
    """A LUT is a `.cube` file inside the project folder (relative, no '..')."""
    if v is None:
        return v
    parts = PurePosixPath(v).parts
    if not parts or v.startswith(("/", "\\")) or "\\" in v or ".." in parts or ":" in parts[0]:
        raise ValueError(f"{v[:80]!r} must be a path inside the project folder (relative, no '..')")
    if not v.lower().endswith(".cube"):
        raise ValueError(f"{v[:80]!r} is not a .cube file (a 3D LUT in the Resolve/Adobe format)")
    return v


class EffectModel(Checked):
    """Base of the effect models: unknown fields refused, floats finite, text checked."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False,
                              frozen=True)


Speed = Annotated[float, Field(ge=MIN_SPEED, le=MAX_SPEED)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class SpeedKey(EffectModel):
    """The speed at `at`, a fraction (0 start, 1 end) of the clip's kept source window."""

    at: Fraction
    speed: Speed


class Freeze(EffectModel):
    """Hold the frame at `at_s` (seconds into the clip as played) for `hold_s` seconds."""

    at_s: float = Field(ge=0.0, le=600.0, description="Seconds into the played clip.")
    hold_s: float = Field(gt=0.0, le=MAX_HOLD_S, description="How long the frame is held.")


class KenBurns(EffectModel):
    """A zoom and pan over the clip: the view goes from (start_zoom, start_x, start_y) to
    (end_zoom, end_x, end_y). Zoom 1 is the whole frame, 2 half its width; x and y are the
    view's centre as fractions of the frame (0.5, 0.5 the middle), kept inside the frame."""

    start_zoom: float = Field(1.0, ge=1.0, le=MAX_ZOOM)
    end_zoom: float = Field(1.2, ge=1.0, le=MAX_ZOOM)
    start_x: Fraction = 0.5
    start_y: Fraction = 0.5
    end_x: Fraction = 0.5
    end_y: Fraction = 0.5
    easing: Literal["linear", "ease-in-out"] = "linear"


class Focus(EffectModel):
    """Where a crop to another aspect centres: x, y as fractions of the source frame."""

    x: Fraction = 0.5
    y: Fraction = 0.5


class Effects(EffectModel):
    """What an item does to its time and picture; the default does nothing."""

    speed: Speed = Field(1.0, description=f"Playback speed, {MIN_SPEED:g} to {MAX_SPEED:g}x "
                         "(sound keeps its pitch).")
    ramp: list[SpeedKey] = Field(default_factory=list, max_length=32, description=(
        "Speed keyframes over the clip (at: 0..1 of its kept source), linear between keys; "
        "replaces `speed`."))
    reverse: bool = Field(False, description="Play the clip backwards.")
    freeze: Freeze | None = Field(None, description="Hold one frame for a while.")
    ken_burns: KenBurns | None = Field(None, description="A zoom and pan (stills, animatics).")
    focus: dict[Aspect, Focus] = Field(default_factory=dict, description=(
        "Per export aspect: where a crop to it centres (default: the middle)."))
    look: Look | None = Field(None, description="A built-in colour look (nv.looks()).")
    lut: Annotated[str, AfterValidator(_cube_path)] | None = Field(
        None, max_length=500, description="A .cube 3D LUT in the project folder.")
    blur: float = Field(0.0, ge=0.0, le=MAX_BLUR, description=(
        "Gaussian blur sigma in pixels of a 1080-line frame (scaled to the export size)."))
    vignette: float = Field(0.0, ge=0.0, le=1.0, description=(
        "Darkened corners: 0 none, 1 the strongest."))

    @field_validator("ramp")
    @classmethod
    def _ramp(cls, v: list[SpeedKey]) -> list[SpeedKey]:
        if not v:
            return v
        if len(v) < 2:
            raise ValueError("a speed ramp needs at least two keys (e.g. at 0 and at 1)")
        ats = [k.at for k in v]
        if ats != sorted(ats) or len(set(ats)) != len(ats):
            raise ValueError("keys must be in rising order of `at`, one key per position")
        return v

    @model_validator(mode="after")
    def _one_speed(self) -> Effects:
        if self.ramp and self.speed != 1.0:
            raise ValueError("give speed or ramp, not both (a ramp sets the speed everywhere)")
        return self

    # ------------------------------------------------------------------ what it does
    @property
    def timed(self) -> bool:
        """Whether the effects change the clip's time (then it is rendered from its source)."""
        return self.speed != 1.0 or bool(self.ramp) or self.reverse or self.freeze is not None

    @property
    def active(self) -> bool:
        return self != Effects()

    def keys(self) -> list[tuple[float, float]]:
        """The speed profile as (position 0..1, speed) from 0 to 1."""
        if not self.ramp:
            return [(0.0, self.speed), (1.0, self.speed)]
        ks = [(k.at, k.speed) for k in self.ramp]
        if ks[0][0] > 0:
            ks.insert(0, (0.0, ks[0][1]))
        if ks[-1][0] < 1:
            ks.append((1.0, ks[-1][1]))
        return ks

    def segments(self, source_s: float) -> list[tuple[float, float, float, float, float]]:
        """(source start, source length, speed at start, speed at end, played start) of each
        stretch of the ramp over a `source_s` window."""
        out = []
        t = 0.0
        ks = self.keys()
        for (a, va), (b, vb) in zip(ks, ks[1:]):
            length = (b - a) * source_s
            if length <= 0:
                continue
            out.append((a * source_s, length, va, vb, t))
            t += _played(length, va, vb)
        return out

    def speed_s(self, source_s: float) -> float:
        """Seconds a `source_s` window plays for at this speed or ramp (no freeze)."""
        if not self.ramp:
            return source_s / self.speed
        return sum(_played(length, va, vb) for _s, length, va, vb, _t in
                   self.segments(source_s))

    def time_at(self, s: float, source_s: float) -> float:
        """Seconds into the played clip (before any freeze) at which source second `s` of
        a `source_s` window plays: the integral of 1/speed from 0 to s."""
        if not self.ramp:
            return s / self.speed
        for a, length, va, vb, t in self.segments(source_s):
            if s <= a + length:
                u = max(0.0, s - a)
                return t + _played(u, va, va + (vb - va) * u / length) if u else t
        return self.speed_s(source_s)

    def speed_frames(self, source_s: float, fps: int) -> int:
        return max(1, round(self.speed_s(source_s) * fps))

    def hold_frames(self, fps: int) -> int:
        return round(self.freeze.hold_s * fps) if self.freeze is not None else 0

    def frames(self, source_s: float, fps: int) -> int:
        """Whole frames the clip plays for: the speed's integral, rounded, plus the hold."""
        return self.speed_frames(source_s, fps) + self.hold_frames(fps)

    def played_s(self, source_s: float, fps: int) -> float:
        return self.frames(source_s, fps) / fps

    def source_for(self, played_s: float, fps: int) -> float:
        """The source seconds that play for `played_s` (an overlay clip's length on the film
        is given; this is how much of its file that uses). Bisection: played time rises with
        source time."""
        target = max(0.0, played_s - self.hold_frames(fps) / fps)
        if not self.ramp:
            return target * self.speed
        lo, hi = 0.0, target * MAX_SPEED + 1.0
        for _ in range(80):
            mid = (lo + hi) / 2
            if self.speed_s(mid) < target:
                lo = mid
            else:
                hi = mid
        return hi

    def freeze_frame(self, source_s: float, fps: int) -> int:
        """The played frame a freeze holds (within the clip)."""
        assert self.freeze is not None
        return min(round(self.freeze.at_s * fps), self.speed_frames(source_s, fps) - 1)


def _played(length: float, va: float, vb: float) -> float:
    """Seconds `length` source seconds play for while speed goes linearly va -> vb."""
    if abs(vb - va) < 1e-12:
        return length / va
    return length * math.log(vb / va) / (vb - va)
