"""Pydantic models for everything nbvideo keeps on disk.

These models are the single source of truth: the store reads and writes them, providers
return them, and (later) widgets serialize them at the trait boundary. Every model forbids
unknown fields so a typo in a file or a call is an error that names the field.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from nbvideo.errors import quote
from nbvideo.model import transitions as _transitions
from nbvideo.model.brief_length import stated_duration
from nbvideo.model.checked import Checked
from nbvideo.model.complexity import Complexity
from nbvideo.model.effects import Effects
from nbvideo.model.encoding import EncodingPlan
from nbvideo.model.look import Look
from nbvideo.model.sfx import SfxCue
from nbvideo.model.speech import VoiceSettings
from nbvideo.model.tracks import Track, check_tracks, default_tracks

# ASPECTS and RESOLUTIONS live in vocabulary (no pydantic, so the CLI reads them cheaply) and
# are re-exported here for the modules that import them with the state.
from nbvideo.model.vocabulary import ASPECTS as ASPECTS
from nbvideo.model.vocabulary import EXPORT_RESOLUTIONS as EXPORT_RESOLUTIONS
from nbvideo.model.vocabulary import RESOLUTIONS as RESOLUTIONS
from nbvideo.model.vocabulary import SHORT_SIDES, Aspect, ExportResolution, Resolution

SCHEMA_VERSION = 5
"""2: scenes carry a review status and comments (both default, so a version 1 file opens).
3: the state carries its save `revision` (0 for an older file), so a stale save is refused.
4: scenes carry a `kind` ("broll" for an older file) and presenter settings (None), may
   carry a complexity profile (None for an older file: derived from its fields) and a pinned
   video model; the state says whether clips are stretched to fit (False before).
5: the timeline carries tracks (model/tracks.py): overlay track V2 and the audio tracks voice,
   music, sfx and clips, set up empty (clips muted) for an older file."""

ShotType = Literal["wide", "medium", "close-up", "detail"]
SHOT_TYPES: tuple[str, ...] = ("wide", "medium", "close-up", "detail")
CameraMove = Literal[
    "static", "push-in", "pull-out", "pan-left", "pan-right", "tilt-up", "tilt-down"
]
CAMERA_MOVES: tuple[str, ...] = (
    "static", "push-in", "pull-out", "pan-left", "pan-right", "tilt-up", "tilt-down"
)
Beat = Literal["hook", "problem", "product", "benefit", "proof", "offer", "call-to-action"]
Fit = Literal["crop", "pad"]
Phase = Literal["questions", "storyboard", "frames", "clips", "voice", "export"]
ReviewStatus = Literal["draft", "in_review", "approved", "changes_requested"]
REVIEW_STATUSES: tuple[str, ...] = ("draft", "in_review", "approved", "changes_requested")
CommentKind = Literal["comment", "submitted", "approved", "changes_requested", "system"]

# Scene durations the local animatic renderer accepts; paid models narrow this per model.
MIN_SCENE_S = 1.0
MAX_SCENE_S = 15.0
MIN_DURATION_S = 5.0
MAX_DURATION_S = 180.0

PositiveSeconds = Annotated[float, Field(gt=0)]
AssetId = Annotated[str, Field(pattern=r"^asset:[0-9a-f]{12}$")]


def _project_relative(v: str | None) -> str | None:
    """Asset paths on disk are relative to the project folder and can never climb out of it."""
    if v is None:
        return v
    parts = PurePosixPath(v).parts
    if not parts or v.startswith(("/", "\\")) or "\\" in v or ".." in parts or ":" in parts[0]:
        raise ValueError(f"{quote(v)} must be a path inside the project folder (relative, no '..')")
    return v


ProjectPath = Annotated[str, AfterValidator(_project_relative)]


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def frame_size(aspect: str, resolution: str) -> tuple[int, int]:
    """Pixel size for an aspect at a resolution: the short side is 720, 1080 or 2160 (16:9
    at 2160p is 3840x2160, 9:16 2160x3840, 4:5 2160x2700), both even."""
    short = SHORT_SIDES.get(resolution, 1080)
    w_ratio, h_ratio = (int(x) for x in aspect.split(":"))
    if w_ratio >= h_ratio:
        h = short
        w = round(short * w_ratio / h_ratio / 2) * 2
    else:
        w = short
        h = round(short * h_ratio / w_ratio / 2) * 2
    return w, h


class Model(Checked):
    """Base for all state models: unknown fields are refused, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Record(BaseModel):
    """Base for what nbvideo records about its own work (takes, QA, exports): unknown fields
    refused, floats finite, but text is not held to the outside boundary. A provider's error
    message or URL is kept as given (a control character in it must not fail a save halfway
    through a job), and these many small models stay fast to load."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class Brief(Model):
    text: str = Field(min_length=3, max_length=4000, description="The one-line ad brief.")
    aspect: Aspect = "16:9"
    duration_s: float = Field(30.0, ge=MIN_DURATION_S, le=MAX_DURATION_S, description=(
        "Given (or None): the length the brief states ('15-second', ':15', 'one minute'), "
        "else 30; an explicit length wins."))
    resolution: Resolution = "720p"
    fps: int = Field(30, ge=12, le=60)
    template: str | None = Field(None, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _length_from_text(cls, data: Any) -> Any:
        """No length given: the brief's own stated length, kept within the limits."""
        if isinstance(data, dict) and data.get("duration_s") is None and \
                isinstance(data.get("text"), str):
            stated = stated_duration(data["text"])
            data = {**data, "duration_s": 30.0 if stated is None
                    else min(MAX_DURATION_S, max(MIN_DURATION_S, stated))}
        return data

    @field_validator("text")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = " ".join(v.split())
        if len(v) < 3:
            raise ValueError("the brief needs at least a few words")
        return v


class Question(Model):
    """A clarifying question the planner asks about what the brief leaves open."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    prompt: str = Field(max_length=500)
    kind: Literal["choice", "text"]
    choices: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list,
                                                                  max_length=20)
    allow_other: bool = Field(
        True, description="For choice questions: accept a free-text answer outside the choices."
    )
    required: bool = True
    default: str | None = Field(None, max_length=500)
    help: str = Field("", max_length=1000)

    @model_validator(mode="after")
    def _choices_fit_kind(self) -> Question:
        if self.kind == "choice" and len(self.choices) < 2:
            raise ValueError(f"choice question {self.id!r} needs at least two choices")
        if self.kind == "text" and self.choices:
            raise ValueError(f"text question {self.id!r} cannot have choices")
        return self


class QACheck(Record):
    name: Literal["decodes", "duration", "size", "black", "frozen", "motion", "audio"]
    passed: bool
    detail: str = ""


class QAResult(Record):
    """What automatic QA found in one clip (see nbvideo.generate.qa)."""

    model_config = ConfigDict(allow_inf_nan=True)  # measurements nbvideo makes itself
    passed: bool
    checks: list[QACheck] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    checked_at: _dt.datetime = Field(default_factory=utcnow)

    @classmethod
    def of(cls, checks: list[QACheck], metrics: dict[str, float]) -> QAResult:
        return cls(passed=all(c.passed for c in checks), checks=checks, metrics=metrics)

    @property
    def problems(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]


class QAPolicy(Model):
    """What a failed clip QA does: nothing ('off' skips QA), a warning, or new takes (a new
    seed each, within budget) up to `retries` times before warning."""

    mode: Literal["off", "warn", "retry"] = "warn"
    retries: int = Field(1, ge=0, le=5)


class Take(Record):
    """One generation: a frame image or a clip. Takes are never deleted or overwritten."""

    id: str
    kind: Literal["frame", "clip"]
    key: str = Field(description="Request hash of (provider, model, canonical inputs, seed).")
    provider: str
    model: str
    seed: int
    inputs: dict[str, Any] = Field(default_factory=dict)
    path: ProjectPath | None = Field(None, description="Asset path relative to the project folder.")
    status: Literal["pending", "running", "succeeded", "failed", "canceled"] = "pending"
    error: str | None = None
    cost_usd: float = 0.0
    created_at: _dt.datetime = Field(default_factory=utcnow)
    finished_at: _dt.datetime | None = None
    request_id: str | None = Field(None, description="Remote prediction id while in flight.")
    checksum: str | None = None
    source_url: str | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    qa: QAResult | None = Field(None, description="Automatic QA of a clip, once checked.")

    @property
    def ok(self) -> bool:
        return self.status == "succeeded" and self.path is not None


class Comment(Model):
    """A note on a scene: a reviewer's comment, an approval, a change request, or a system
    note (e.g. why an approved scene went back to draft). Comments are records: undo and
    restore keep them."""

    id: str = Field(pattern=r"^m[0-9a-f]{10}$")
    author: str = Field(min_length=1, max_length=80)
    time: _dt.datetime = Field(default_factory=utcnow)
    kind: CommentKind = "comment"
    text: str = Field("", max_length=2000)


SceneKind = Literal["broll", "presenter"]
SCENE_KINDS: tuple[str, ...] = ("broll", "presenter")
PRESENTER_BACKGROUNDS = "'frame' (the scene's storyboard frame) or a colour '#rrggbb'"


class Presenter(Model):
    """Who says a presenter scene's voice line, in which voice, over what.

    `avatar` and `voice` are the presenter model's own ids: for the offline presenter one of
    `providers.local.presenter.AVATARS` and one of our voice names (providers/voices.py); for
    HeyGen a look id (its v3 avatar_id; a photo avatar for a talking photo) and a voice_id from `p.presenter_avatars("heygen")`
    and `p.presenter_voices("heygen")`. `model` picks the catalog presenter model; None: HeyGen
    where the project has it, else the offline presenter."""

    avatar: str = Field("ava", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$",
                        description="The presenter's avatar id.")
    voice: str = Field("narrator-f", min_length=1, max_length=200,
                       pattern=r"^[A-Za-z0-9_.\-]+$", description="The voice id it speaks in.")
    background: str = Field("frame", description=f"Behind the presenter: {PRESENTER_BACKGROUNDS}.")
    model: str | None = Field(None, max_length=100,
                              description="Catalog presenter model; None: by vendor.")

    @field_validator("background")
    @classmethod
    def _background(cls, v: str) -> str:
        import re

        v = v.strip()
        if v != "frame" and not re.fullmatch(r"#[0-9a-fA-F]{6}", v):
            raise ValueError(f"{quote(v)} is not a background; use {PRESENTER_BACKGROUNDS}")
        return v.lower()


class Scene(Model):
    id: str = Field(pattern=r"^s[0-9a-f]{8}$")
    beat: Beat
    title: str = Field("", max_length=200)
    description: str = Field(min_length=1, max_length=2000)
    visual_prompt: str = Field(min_length=1, max_length=2000)
    shot: ShotType = "medium"
    camera: CameraMove = "static"
    duration_s: float = Field(ge=MIN_SCENE_S, le=MAX_SCENE_S)
    on_screen_text: str = Field("", max_length=200)
    voice_line: str = Field("", max_length=400, description="What the voice-over says here.")
    frame_seed: int = Field(0, ge=0, description="Seed of the frame this scene wants now.")
    clip_seed: int = Field(0, ge=0, description="Seed of the clip this scene wants now.")
    frame_takes: list[Take] = Field(default_factory=list)
    clip_takes: list[Take] = Field(default_factory=list)
    frame_take_id: str | None = None
    clip_take_id: str | None = None
    review_status: ReviewStatus = Field(
        "draft", description="Client sign-off: draft, in_review, approved, changes_requested."
    )
    comments: list[Comment] = Field(default_factory=list)
    kind: SceneKind = Field("broll", description=(
        "'broll': a clip made from the frame; 'presenter': an avatar says the voice line."))
    presenter: Presenter | None = Field(
        None, description="Presenter settings; a presenter scene without them uses the defaults.")
    complexity: Complexity | None = Field(
        None, description="What makes the scene hard to generate (faces, fast motion, ...), "
        "as the planner saw it; None: derived from the scene's fields (model/complexity.py).")
    video_model: str | None = Field(
        None, max_length=100, description="A catalog video model pinned for this scene: it "
        "wins over model='auto' routing and the project's model; None: not pinned.")

    @model_validator(mode="before")
    @classmethod
    def _presenter_settings(cls, data: Any) -> Any:
        """A presenter scene always has settings (the defaults where none are given)."""
        if isinstance(data, dict) and data.get("kind") == "presenter" \
                and data.get("presenter") is None:
            data = {**data, "presenter": {}}
        return data

    def take(self, take_id: str) -> Take:
        for t in (*self.frame_takes, *self.clip_takes):
            if t.id == take_id:
                return t
        raise KeyError(f"scene {self.id} has no take {quote(take_id)}")

    @property
    def frame(self) -> Take | None:
        return self.take(self.frame_take_id) if self.frame_take_id else None

    @property
    def clip(self) -> Take | None:
        return self.take(self.clip_take_id) if self.clip_take_id else None


class Storyboard(Model):
    """What a planner returns: scenes without takes, in order."""

    title: str = Field("", max_length=200)
    structure: str = Field("", max_length=100,
                           description="Name of the ad structure the plan follows.")
    scenes: list[Scene]


class Transition(Model):
    """How one clip hands over to the next: a cut, or a named transition (model/transitions.py:
    every ffmpeg xfade name, dip_black, dip_white, whip; "crossfade" as saved before) that
    overlaps the two clips by duration_s."""

    kind: str = Field("cut", description="'cut', 'crossfade' or another name in "
                      "nv.transitions(); 'fade' is stored as 'crossfade'.")
    duration_s: float = Field(0.0, ge=0.0, le=3.0)

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, v: Any) -> Any:
        name = _transitions.canonical(v) if isinstance(v, str) else None
        if name is None:
            raise ValueError(_transitions.unknown_message(v))
        return name

    @model_validator(mode="after")
    def _duration_fits_kind(self) -> Transition:
        if self.kind == "cut" and self.duration_s:
            raise ValueError("a cut has no duration; use kind='crossfade' for a blend")
        if self.kind != "cut" and self.duration_s <= 0:
            raise ValueError(f"a {self.kind} needs duration_s > 0")
        return self


class ClipEdit(Model):
    """Trim of one clip on the timeline: keep [trim_in_s, clip_duration - trim_out_s)."""

    trim_in_s: float = Field(0.0, ge=0.0)
    trim_out_s: float = Field(0.0, ge=0.0)
    transition: Transition = Field(
        default_factory=Transition, description="Transition into the next clip."
    )
    effects: Effects = Field(default_factory=Effects, description=(
        "Speed, ramp, reverse, freeze, Ken Burns, reframe focus, look, LUT, blur, vignette "
        "(model/effects.py); the default does nothing."))


class Timeline(Model):
    """Edits keyed by scene id; the order always follows the storyboard."""

    edits: dict[str, ClipEdit] = Field(default_factory=dict)
    tracks: dict[str, Track] = Field(
        default_factory=default_tracks, description="V1 is the scenes (`edits`); these are "
        "the overlay tracks V2.. and the audio tracks voice, music, sfx, clips (model/tracks.py).")

    @field_validator("tracks")
    @classmethod
    def _tracks(cls, v: dict[str, Track]) -> dict[str, Track]:
        return check_tracks(v)


CaptionLook = Literal["lines", "karaoke", "pop-in", "boxed"]
"""Caption styles `Finishing.caption_style` takes; all but 'lines' follow the word timings."""


class Finishing(Model):
    """What turns the timeline into a deliverable: brand kit, voice-over, music, text on screen.

    Off by default (an export is the picture alone) until `p.finish(...)` says otherwise."""

    brand: str | None = Field(None, max_length=500,
                              description="A bundled kit name or a path to a kit .json.")
    voice: str | None = Field(None, max_length=500,
                              description="Our voice name for the voice-over; None: none.")
    voice_model: str | None = Field(None, max_length=500,
                                    description="Catalog speech model; None: by vendor.")
    voice_fit: Literal["warn", "speed"] = Field(
        "warn", description="A voice line longer than its scene: 'warn' (the export stops with "
        "the voice_overrun warning and the choices) or 'speed' (played up to 1.5x faster).")
    music: str = Field("none", max_length=500,
                       description="'bed' (generated), 'none', or a music file path.")
    music_ending: Literal["beat", "film"] = Field(
        "beat", description="Where the music stops: 'beat' (on a beat after the last spoken "
        "word, fading out to it; sound/ending.py) or 'film' (a fade that ends with the film, "
        "as exports before the rule had it).")
    captions: bool = Field(True, description="Voice lines as burned captions and SRT/VTT.")
    caption_style: CaptionLook = Field(
        "lines", description="How burned captions follow the voice: 'lines' (each line whole, "
        "as drawn since captions began), 'karaoke' (the word being said in the brand's accent "
        "colour), 'pop-in' (words appear as they are said), 'boxed' (a box behind each line).")
    scene_text: bool = Field(False, description="Burn each scene's on-screen text in.")
    logo: bool = Field(True, description="The kit's logo as a watermark.")
    end_card: bool = Field(True, description="The kit's end card after the last scene.")
    voice_settings: VoiceSettings = Field(
        default_factory=VoiceSettings, description="How the voice reads: speed for every "
        "voice model; stability, similarity_boost, style, use_speaker_boost for ElevenLabs.")


class Metadata(Model):
    """What a platform's upload form asks for, drafted from the brief and brand kit and
    editable before packaging (`p.set_metadata`). Platform limits are checked at packaging."""

    title: str = Field("", max_length=200)
    description: str = Field("", max_length=5000)
    hashtags: list[Annotated[str, Field(pattern=r"^#?[^\s#]{1,100}$")]] = Field(
        default_factory=list, max_length=100, description="Words without spaces; '#' optional.")
    cta: str = Field("", max_length=80, description="Call to action, e.g. 'Shop now'.")
    link: str = Field("", max_length=500, pattern=r"^(https?://\S+)?$")
    language: str = Field("en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
                          description="The ad's language as a BCP-47 tag ('en', 'de', "
                          "'pt-BR'): YouTube's video and caption language.")

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        out: list[str] = []
        for t in tags:
            tag = "#" + t.lstrip("#")
            if tag.lower() not in (o.lower() for o in out):
                out.append(tag)
        return out


class RenderStats(Record):
    """How an export was made: what a re-export after a small edit saved."""

    mode: Literal["copy", "full", "smart"]
    fallback: str | None = Field(None, description="Why smart export ran the full path.")
    segments_copied: int = 0
    segments_encoded: int = Field(0, description="Pieces encoded by this export.")
    segments_cached: int = Field(0, description="Encoded pieces reused from the cache.")
    seconds_encoded: float = 0.0
    seconds_total: float = 0.0
    mezzanines_built: int = 0


class ExportRecord(Record):
    model_config = ConfigDict(allow_inf_nan=True)  # measurements nbvideo makes itself

    path: ProjectPath
    aspect: Aspect
    resolution: ExportResolution
    fit: Fit
    width: int
    height: int
    duration_s: float
    frames: int
    fps: float
    size_bytes: int
    stream_copy: bool
    preset: str | None = None
    audio: bool = False
    loudness_lufs: float | None = None
    sidecars: list[ProjectPath] = Field(default_factory=list, description="SRT/VTT, poster, preview.")
    warnings: list[str] = Field(default_factory=list, description="Accepted export-check warnings.")
    render: RenderStats | None = None
    encoding: EncodingPlan | None = Field(default=None, description=(
        "A preset export's H.264 profile, level, bitrate ceiling and why (model/encoding.py)."))
    assets: list[str] = Field(default_factory=list, description="Ids of the asset-library "
                              "assets the export used (frames, clips, overlays, music).")
    created_at: _dt.datetime = Field(default_factory=utcnow)


class ProjectState(Model):
    schema_version: int = SCHEMA_VERSION
    revision: int = Field(
        0, ge=0, description="Saves so far; the store refuses a save from an older revision.")
    name: str
    created_at: _dt.datetime = Field(default_factory=utcnow)
    updated_at: _dt.datetime = Field(default_factory=utcnow)
    providers: str = "local"
    models: dict[Literal["text", "image", "video"], str] = Field(
        default_factory=dict, description="Catalog model per kind; unset kinds use the default."
    )
    seed: int = Field(7, ge=0, le=2**31 - 1)
    brief: Brief
    questions: list[Question] = Field(default_factory=list)
    answers: dict[str, Annotated[str, Field(max_length=500)]] = Field(default_factory=dict)
    palette: list[str] = Field(
        default_factory=list, description="'#rrggbb' colours, darkest first, for local frames."
    )
    storyboard_title: str = Field("", max_length=200)
    structure: str = Field("", max_length=100)
    scenes: list[Scene] = Field(default_factory=list)
    archived_scenes: list[Scene] = Field(
        default_factory=list, description="Scenes removed or replaced by a re-plan, takes intact."
    )
    timeline: Timeline = Field(default_factory=Timeline)
    exports: list[ExportRecord] = Field(default_factory=list)
    finishing: Finishing = Field(default_factory=Finishing)
    look: Look | None = Field(
        None, description="Style words, palette, seed, product and logo for every frame.")
    budget_usd: float | None = Field(None, ge=0, description="Dollars (finite, >= 0); None: no cap.")
    metadata: Metadata | None = Field(None, description="Edited upload metadata; None: drafted.")
    qa_policy: QAPolicy = Field(default_factory=QAPolicy)
    stretch_clips: bool = Field(
        False, description="Make a clip up to 1.25x shorter than its scene and slow it to "
        "fill the scene, where that costs less than the next clip length up (recorded by "
        "p.generate_clips(stretch=...)); False: the next length up, trimmed (the default).")
    sound_effects: list[SfxCue] = Field(
        default_factory=list, description="Sound effects placed on the film "
        "(p.add_sound_effect); the mix renders them. Empty in projects saved before them.")
    library_files: dict[ProjectPath, AssetId] = Field(
        default_factory=dict, description="Files copied in from an asset library "
        "(scene.use_asset, p.use_asset): project path -> asset id, so an export can say "
        "which assets it used. Empty in projects saved before the library.")

    def assets_used(self) -> list[str]:
        """The library assets the film uses now: the chosen clips, the chosen frames the
        clips were made from, the overlay and audio items, the music file."""
        if not self.library_files:
            return []
        paths: list[str | None] = [self.finishing.music]
        for s in self.scenes:
            clip, frame = s.clip, s.frame
            paths.append(clip.path if clip is not None else None)
            if frame is not None and (clip is None
                                      or clip.inputs.get("frame_sha256") == frame.checksum):
                paths.append(frame.path)
        for track in self.timeline.tracks.values():
            paths.extend(getattr(item, "path", None) for item in track.items.values())
        found = [self.library_files[p] for p in paths if p in self.library_files]
        return sorted(set(found))

    def scene(self, ref: str | int) -> Scene:
        """Look a scene up by id or by 1-based position."""
        if isinstance(ref, int) and not isinstance(ref, bool):
            if not 1 <= ref <= len(self.scenes):
                raise IndexError(f"scene number {ref} is out of range 1..{len(self.scenes)}")
            return self.scenes[ref - 1]
        for s in self.scenes:
            if s.id == ref:
                return s
        raise KeyError(f"no scene with id {quote(ref)}; scene ids are {[s.id for s in self.scenes]}")
