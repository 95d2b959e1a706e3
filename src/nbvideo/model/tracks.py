"""The timeline's tracks above and beside the scenes: overlays (V2 and up) and audio.

V1 is the scenes, as `Timeline.edits` has always held them. These models add:

- overlay tracks "V2".."V9" (a higher number is drawn on top): items that are an image (a
  logo, a product shot, a sticker), a clip (b-roll, a screen recording) or text, each with
  its own start and length on the film (independent of scene cuts: an item may span them),
  position, size, rotation, opacity, blend mode and keyframes;
- audio tracks "voice", "music", "sfx" and "clips" (the scene clips' own sound, muted by
  default as exports have always been), each with gain, mute and solo, holding audio items
  (a file in the project, or a built-in sound effect by name) with gain and fades.

Blend modes are the ones ffmpeg can draw per item: "normal" (the `overlay` filter's alpha
over), and "multiply", "screen", "overlay", "add" (the `blend` filter's all_mode multiply,
screen, overlay and addition, in RGB, under the item's alpha). Keyframes animate x, y,
scale, rotation and opacity; their time is seconds from the item's start.

Pure pydantic: this module imports nothing from nbvideo but the model's own boundary.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from nbvideo.model.checked import Checked
from nbvideo.model.effects import Effects

__all__ = [
    "ANCHORS", "ANIMATIONS", "AUDIO_TRACKS", "BLEND_MODES", "DIRECTIONS", "EASINGS", "KEYFRAMED",
    "AudioItem", "ClipItem", "ImageItem", "Keyframe", "OverlayItem", "TextAnimation", "TextItem",
    "Track", "default_tracks",
]

Easing = Literal["linear", "ease-in", "ease-out", "ease-in-out", "hold"]
EASINGS: tuple[str, ...] = ("linear", "ease-in", "ease-out", "ease-in-out", "hold")
BlendMode = Literal["normal", "multiply", "screen", "overlay", "add"]
BLEND_MODES: tuple[str, ...] = ("normal", "multiply", "screen", "overlay", "add")
Anchor = Literal["top-left", "top", "top-right", "left", "center", "right", "bottom-left",
                 "bottom", "bottom-right"]
ANCHORS: tuple[str, ...] = ("top-left", "top", "top-right", "left", "center", "right",
                            "bottom-left", "bottom", "bottom-right")
Animated = Literal["x", "y", "scale", "rotation", "opacity"]
KEYFRAMED: tuple[str, ...] = ("x", "y", "scale", "rotation", "opacity")
AnimationKind = Literal["pop", "slide", "typewriter", "words"]
ANIMATIONS: tuple[str, ...] = ("pop", "slide", "typewriter", "words")
Direction = Literal["left", "right", "up", "down"]
DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down")
TrackKind = Literal["overlay", "voice", "music", "sfx", "clips"]
AUDIO_TRACKS: tuple[str, ...] = ("voice", "music", "sfx", "clips")
OVERLAY_TRACKS: tuple[str, ...] = tuple(f"V{n}" for n in range(2, 10))

MAX_ITEM_S = 600.0
"""No item starts later or lasts longer than this (the longest film is 180 s plus an end card)."""
MAX_KEYFRAMES = 200
# What each keyframed property may be (and a static one too): (low, high, unit).
BOUNDS: dict[str, tuple[float, float, str]] = {
    "x": (-1.0, 2.0, "a fraction of the frame width (0 left edge, 1 right edge)"),
    "y": (-1.0, 2.0, "a fraction of the frame height (0 top edge, 1 bottom edge)"),
    "scale": (0.01, 10.0, "a factor on the item's size"),
    "rotation": (-3600.0, 3600.0, "degrees, clockwise"),
    "opacity": (0.0, 1.0, "0 (transparent) to 1 (opaque)"),
}
ITEM_ID = r"^i[0-9a-f]{8}$"
EFFECT_NAME = r"^[a-z][a-z0-9_-]{0,39}$"


def _inside_project(v: str | None) -> str | None:
    """The same rule as the state's ProjectPath: relative to the project folder, no '..'.
    (Where the file really lands, symlinks included, is checked by store.confine when it is
    added and again at export.)"""
    if v is None:
        return v
    parts = PurePosixPath(v).parts
    if not parts or v.startswith(("/", "\\")) or "\\" in v or ".." in parts or ":" in parts[0]:
        raise ValueError(f"{v[:80]!r} must be a path inside the project folder (relative, no '..')")
    return v


InProject = Annotated[str, AfterValidator(_inside_project)]
Seconds = Annotated[float, Field(ge=0.0, le=MAX_ITEM_S)]


class TrackModel(Checked):
    """Base of the track models: unknown fields refused, floats finite, text checked."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class Keyframe(TrackModel):
    """A property's value at `t_s` seconds into its item; `easing` shapes the way from this
    keyframe to the next ("hold" keeps this value until the next keyframe)."""

    t_s: Seconds
    value: float
    easing: Easing = "linear"


class _Timed(TrackModel):
    id: str = Field(pattern=ITEM_ID, description="The item's id, unique in the timeline.")
    start_s: Seconds = Field(0.0, description="Where on the film it starts (seconds).")
    duration_s: float = Field(gt=0.0, le=MAX_ITEM_S, description="How long it lasts (seconds).")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


class _Overlay(_Timed):
    """What every overlay item has: where, how big, how see-through, how blended, animated."""

    x: float = Field(0.5, ge=-1.0, le=2.0, description=BOUNDS["x"][2])
    y: float = Field(0.5, ge=-1.0, le=2.0, description=BOUNDS["y"][2])
    anchor: Anchor = Field("center", description="Which point of the item sits at (x, y).")
    width: float = Field(0.25, gt=0.0, le=4.0, description="Width, a fraction of the frame width.")
    height: float | None = Field(None, gt=0.0, le=4.0, description=(
        "Height, a fraction of the frame height; None: kept in proportion to the width."))
    scale: float = Field(1.0, ge=0.01, le=10.0, description=BOUNDS["scale"][2])
    rotation: float = Field(0.0, ge=-3600.0, le=3600.0, description=BOUNDS["rotation"][2])
    opacity: float = Field(1.0, ge=0.0, le=1.0, description=BOUNDS["opacity"][2])
    blend: BlendMode = "normal"
    keyframes: dict[Animated, list[Keyframe]] = Field(default_factory=dict, description=(
        "Per property (x, y, scale, rotation, opacity): values over time, in time order."))

    @model_validator(mode="after")
    def _keyframes_fit(self) -> _Overlay:
        for prop, kfs in self.keyframes.items():
            lo, hi, unit = BOUNDS[prop]
            if len(kfs) > MAX_KEYFRAMES:
                raise ValueError(f"keyframes.{prop}: at most {MAX_KEYFRAMES} keyframes")
            times = [k.t_s for k in kfs]
            if times != sorted(times) or len(set(times)) != len(times):
                raise ValueError(f"keyframes.{prop}: times must rise, one keyframe per time")
            for k in kfs:
                if not lo <= k.value <= hi:
                    raise ValueError(f"keyframes.{prop} at {k.t_s:g} s: value {k.value:g} is "
                                     f"out of range; {prop} is {unit}, from {lo:g} to {hi:g}")
                if k.t_s > self.duration_s + 1e-9:
                    raise ValueError(f"keyframes.{prop}: a keyframe at {k.t_s:g} s is past the "
                                     f"item's end ({self.duration_s:g} s)")
        return self

    def value(self, prop: str) -> float:
        """The property's static value (what it is where no keyframe animates it)."""
        return float(getattr(self, prop))


class ImageItem(_Overlay):
    """A still image from the project folder (PNG, JPEG, WebP; PNG transparency is kept)."""

    kind: Literal["image"] = "image"
    path: InProject = Field(description="The image, relative to the project folder.")
    effects: Effects = Field(default_factory=Effects, description=(
        "Ken Burns, look, LUT, blur, vignette (model/effects.py); the default does nothing."))


class ClipItem(_Overlay):
    """A video file from the project folder, played from `source_in_s` (b-roll, a screen
    recording). Its own sound, when `sound` is on, plays on the "clips" audio track."""

    kind: Literal["clip"] = "clip"
    path: InProject = Field(description="The video, relative to the project folder.")
    source_in_s: Seconds = Field(0.0, description="Where in the file it starts playing.")
    sound: bool = Field(False, description="Play its own sound on the 'clips' audio track.")
    effects: Effects = Field(default_factory=Effects, description=(
        "Speed, ramp, reverse, freeze, Ken Burns, look, LUT, blur, vignette "
        "(model/effects.py); the default does nothing."))


class TextAnimation(TrackModel):
    """How a text item comes in and goes out. "pop" and "slide" are written as the item's
    keyframes (scale and opacity; x or y and opacity), so they show and can be changed with
    the keyframe API; "typewriter" and "words" reveal the text a character or a word at a
    time over `in_s` (drawn by the export, frame by frame). `out_s` > 0 takes it out over the
    item's last `out_s` seconds (pop shrinks, slide leaves the way it came, typewriter and
    words fade). `direction` is the side a slide comes in from."""

    kind: AnimationKind
    in_s: float = Field(gt=0.0, le=MAX_ITEM_S, description="Seconds the way in takes.")
    out_s: float = Field(0.0, ge=0.0, le=MAX_ITEM_S, description="Seconds the way out takes.")
    direction: Direction = Field("left", description="slide: the side it comes in from.")


class TextItem(_Overlay):
    """Text set with the brand kit's caption font and colours unless given here."""

    kind: Literal["text"] = "text"
    text: str = Field(min_length=1, max_length=500)
    font: str | None = Field(None, max_length=500, description=(
        "A bundled font name or a .ttf/.otf path in the project; None: the kit's caption font."))
    color: str | None = Field(None, pattern=r"^#[0-9a-fA-F]{6}$",
                              description="'#rrggbb'; None: the kit's caption colour.")
    size: float = Field(0.08, gt=0.0, le=1.0,
                        description="Type size, a fraction of the frame height.")
    box: str | None = Field(None, pattern=r"^#[0-9a-fA-F]{6}$",
                            description="'#rrggbb' box behind the text; None: no box.")
    width: float = Field(0.0, ge=0.0, le=4.0, description=(
        "Width, a fraction of the frame width; 0: as wide as the text sets at `size`."))
    animation: TextAnimation | None = Field(None, description=(
        "pop, slide, typewriter or words (p.timeline.animate); None: none. Added after "
        "projects were made: left out of the history hash while None (store/history.py)."))

    @model_validator(mode="after")
    def _animation_fits(self) -> TextItem:
        a = self.animation
        if a is not None and a.in_s + a.out_s > self.duration_s + 1e-9:
            raise ValueError(f"animation: in_s + out_s ({a.in_s + a.out_s:g} s) must fit in "
                             f"the item's duration_s ({self.duration_s:g} s)")
        return self

    @field_validator("text")
    @classmethod
    def _words(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text must have something to draw")
        return v


OverlayItem = Annotated[ImageItem | ClipItem | TextItem, Field(discriminator="kind")]


class AudioItem(_Timed):
    """A sound on an audio track: a file in the project (from `source_in_s`) or a built-in
    sound effect by name, with gain and fades; `mute` silences this item only."""

    kind: Literal["audio"] = "audio"
    path: InProject | None = Field(None, description="An audio file in the project folder.")
    effect: str | None = Field(None, pattern=EFFECT_NAME,
                               description="A built-in sound effect's name (e.g. 'whoosh').")
    source_in_s: Seconds = 0.0
    gain_db: float = Field(0.0, ge=-60.0, le=24.0, description="Gain in dB (0: as recorded).")
    fade_in_s: float = Field(0.0, ge=0.0, le=MAX_ITEM_S)
    fade_out_s: float = Field(0.0, ge=0.0, le=MAX_ITEM_S)
    mute: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> AudioItem:
        if (self.path is None) == (self.effect is None):
            raise ValueError("an audio item plays a file (path=) or a sound effect (effect=): "
                             "give exactly one")
        if self.fade_in_s + self.fade_out_s > self.duration_s + 1e-9:
            raise ValueError(f"fade_in_s + fade_out_s ({self.fade_in_s + self.fade_out_s:g} s) "
                             f"must fit in duration_s ({self.duration_s:g} s)")
        return self


Item = Annotated[ImageItem | ClipItem | TextItem | AudioItem, Field(discriminator="kind")]


class Track(TrackModel):
    """One track: its items by id, and (audio) its gain, mute and solo. Muting an overlay
    track hides its items; solo is for audio tracks (any soloed: only those are heard)."""

    kind: TrackKind
    mute: bool = False
    solo: bool = False
    gain_db: float = Field(0.0, ge=-60.0, le=24.0, description="Audio tracks: gain in dB.")
    items: dict[str, Item] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _items_fit(self) -> Track:
        audio = self.kind != "overlay"
        for key, item in self.items.items():
            if key != item.id:
                raise ValueError(f"items: key {key!r} is not the item's id {item.id!r}")
            if audio != (item.kind == "audio"):
                raise ValueError(f"items: a {item.kind} item cannot go on a {self.kind} track"
                                 + (" (audio items go on voice, music, sfx or clips)"
                                    if item.kind == "audio" else " (overlays go on V2..V9)"))
        if self.solo and not audio:
            raise ValueError("solo is for audio tracks; hide an overlay track with mute=True")
        return self


def default_tracks() -> dict[str, Track]:
    """The tracks every timeline has: one overlay track and the four audio tracks. The
    "clips" track (the scene clips' own sound) starts muted: exports have always left it out."""
    return {"V2": Track(kind="overlay"), "voice": Track(kind="voice"),
            "music": Track(kind="music"), "sfx": Track(kind="sfx"),
            "clips": Track(kind="clips", mute=True)}


def check_tracks(tracks: dict[str, Track]) -> dict[str, Track]:
    """Track names match their kinds and item ids are unique across the timeline."""
    seen: dict[str, str] = {}
    for name, track in tracks.items():
        want = "overlay" if name in OVERLAY_TRACKS else name if name in AUDIO_TRACKS else None
        if want is None:
            raise ValueError(f"tracks: {name!r} is not a track name; use "
                             f"{', '.join(OVERLAY_TRACKS)} or {', '.join(AUDIO_TRACKS)}")
        if track.kind != want:
            raise ValueError(f"tracks: {name!r} must be a {want} track, not {track.kind}")
        for iid in track.items:
            if iid in seen:
                raise ValueError(f"tracks: item {iid!r} is on both {seen[iid]} and {name}")
            seen[iid] = name
    return tracks


def tracks_in_use(tracks: dict[str, Track]) -> bool:
    """Whether the tracks change an export (items, or audio tracks not as by default)."""
    return track_dump(tracks) != track_dump(default_tracks()) and (
        any(t.items for t in tracks.values())
        or any((t.mute, t.solo, t.gain_db) != (name == "clips", False, 0.0)
               for name, t in tracks.items() if t.kind != "overlay"))


def track_dump(tracks: dict[str, Track]) -> Any:
    """The tracks as saved JSON (to compare with the defaults)."""
    return {k: v.model_dump(mode="json") for k, v in tracks.items()}
