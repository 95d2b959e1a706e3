"""Providers: one package or module per vendor, all behind the protocols in base.py.

`provider_set("local")` returns the planner, frame model and video model a project uses;
"openai" plans with OpenAI (questions and storyboard); "replicate" makes frames with
flux-schnell and clips with WAN 2.5; "runway" makes frames with gen4_image and clips with
Gen-4 Turbo; "openai+replicate" does both. "auto" asks for it: each
paid vendor whose key is set, and the offline providers for the rest (a Binder visitor with
no keys gets the offline project; the same notebook with keys gets the paid one).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nbvideo.errors import InvalidInput, NbvideoError, quote
from nbvideo.providers import lifecycle
from nbvideo.providers.base import FrameModel, Planner, VideoModel
from nbvideo.providers.catalog import ModelSpec, get_model
from nbvideo.providers.catalog import models as catalog_models

AVAILABLE = ("local", "openai", "replicate", "runway")
AVAILABLE += ("heygen",)  # presenter scenes only (providers/heygen.py)
AUTO = "auto"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderSet:
    """The models a project uses, plus any other video model of its vendors on demand
    (`video_for`), for per-scene model choice and fallback."""

    name: str
    planner: Planner
    frames: FrameModel
    video: VideoModel
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Extra constructor options per vendor, e.g. {"replicate": {"typical_latency_s": 2}}."""
    keys_now: bool = True
    """False: paid models ask for their key at their first call, not when built."""
    _videos: dict[str, VideoModel] = field(default_factory=dict, repr=False, compare=False)

    @property
    def vendors(self) -> tuple[str, ...]:
        """The paid vendors named by the project, then "local" (always available)."""
        names = [n.strip() for n in self.name.split("+") if n.strip() and n.strip() != "local"]
        return (*names, "local")

    def check_video(self, model_id: str) -> ModelSpec:
        """The catalog entry of a video model these providers can serve, or a clear error."""
        spec = get_model(model_id)
        if model_id == self.video.model:
            return spec
        if spec.kind != "video" or spec.provider not in self.vendors:
            usable = [m.id for m in catalog_models("video") if m.provider in self.vendors]
            raise InvalidInput(
                f"model={quote(model_id)} is a {spec.provider} {spec.kind} model; with providers "
                f"{self.name!r} a video model is one of: {', '.join(usable)}"
            )
        return spec

    def video_for(self, model_id: str) -> VideoModel:
        """The video model `model_id`, built once and kept (its client learns latencies)."""
        if model_id == self.video.model:
            return self.video
        if model_id not in self._videos:
            self._videos[model_id] = _build(self.check_video(model_id), self.options,
                                            self.keys_now)
        return self._videos[model_id]

    def typical_latency_s(self, model_id: str) -> float | None:
        """How long a video model's client expects a typical (5 s) clip to take, before what
        it has learned; None for a model it has no expectation of (health's yardstick)."""
        try:
            video = self.video_for(model_id)
        except NbvideoError:
            return None
        value = getattr(video, "typical_latency_s", None)
        return float(value) if isinstance(value, (int, float)) else None

    def require_key(self, vendor: str) -> None:
        """Raise MissingKey (naming the variable to set) if `vendor`'s models need a key that
        is not set: called just before a paid call, so a cached answer needs no key."""
        for model in (self.planner, self.frames, self.video, *self._videos.values()):
            check = getattr(model, "check_key", None)
            if getattr(model, "provider", None) == vendor and check is not None:
                check()


KINDS = ("text", "image", "video")
# The model each kind uses when the project names none, by the vendors it has.
# The text default moved from gpt-4o-mini (shut down 2027-01-14, see catalog.py) to
# gpt-6-luna, the successor OpenAI names, before that date.
DEFAULTS = {
    "text": (("openai", "gpt-6-luna"), ("local", "rule-planner-v1")),
    "image": (("replicate", "flux-schnell"), ("runway", "gen4_image"),
              ("local", "pillow-storyboard")),
    "video": (("replicate", "wan-2.5-i2v-fast"), ("runway", "gen4_turbo"),
              ("local", "ffmpeg-animatic")),
}


def provider_set(spec: str, models: Mapping[str, str] | None = None,
                 options: Mapping[str, Mapping[str, Any]] | None = None,
                 keys_now: bool = True, refuse_retired: bool = True) -> ProviderSet:
    """Build the providers named by `spec` ("local"; paid vendors join with "+").

    `models` picks a catalog model per kind, e.g. {"video": "kling-v2.1"}; the model's
    vendor must be one of the providers (local models are always allowed). Keys are checked
    here (a missing one fails by name) unless `keys_now` is False: then each paid model asks
    for its key when a call is about to be made, so a reopened project reads without keys.
    A model its vendor shut down is refused (`ModelRetired`, naming the successor);
    `refuse_retired=False` (reopening a project that names one) warns instead, so it opens
    and can be switched, and the money gate refuses its calls.
    """
    if spec.strip() == AUTO:
        spec, models = _with_keys_present(models or {})
    names = [s.strip() for s in spec.split("+") if s.strip()]
    unknown = [n for n in names if n not in AVAILABLE]
    if not names or unknown:
        raise InvalidInput(
            f"providers={quote(spec)}: {', '.join(unknown) or 'nothing'} is not available; "
            f"allowed: {', '.join(AVAILABLE)} (joined with '+'), or {AUTO!r}"
        )
    chosen = resolve_models(names, models or {})
    for model in chosen.values():
        lifecycle.check(model, refuse=refuse_retired)
    opts = options or {}
    return ProviderSet(name=spec, planner=_build(chosen["text"], opts, keys_now),
                       frames=_build(chosen["image"], opts, keys_now),
                       video=_build(chosen["video"], opts, keys_now), options=opts,
                       keys_now=keys_now)


def _with_keys_present(models: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """providers="auto": the paid vendors whose key is set, else local; model choices whose
    vendor has no key give way to the default (said in the log, never silently paid for)."""
    from nbvideo.keys import get_key

    have = [v for v in AVAILABLE if v != "local" and get_key(v, required=False)]
    kept = {}
    for kind, model in models.items():
        vendor = get_model(model).provider
        if vendor in (*have, "local"):
            kept[kind] = model
        else:
            log.warning("providers='auto': no %s key, so %s uses the default instead of %s",
                        vendor, kind, model)
    return "+".join(have) or "local", kept


def resolve_models(names: list[str], models: Mapping[str, str]) -> dict[str, ModelSpec]:
    """The catalog model for each kind; errors name the kind and what is allowed."""
    bad = sorted(set(models) - set(KINDS))
    if bad:
        raise InvalidInput(f"models: unknown kind {', '.join(bad)}; kinds are {', '.join(KINDS)}")
    out = {}
    for kind in KINDS:
        if kind in models:
            spec = get_model(models[kind])
            usable = [m.id for m in catalog_models(kind) if m.provider in (*names, "local")
                      and not m.presenter]
            if spec.presenter:
                raise InvalidInput(
                    f"models[{kind!r}]: {spec.id} is a presenter model: it makes presenter "
                    f"scenes (p.scene(n).present(model=...)), not b-roll; a {kind} model is "
                    f"one of: {', '.join(usable)}")
            if spec.kind != kind or spec.provider not in (*names, "local"):
                raise InvalidInput(
                    f"models[{kind!r}]: {spec.id} is a {spec.provider} {spec.kind} model; with "
                    f"providers {'+'.join(names)!r} a {kind} model is one of: {', '.join(usable)}"
                )
        else:
            spec = get_model(next(m for vendor, m in DEFAULTS[kind] if vendor in (*names, "local")))
        out[kind] = spec
    return out


def _build(spec: ModelSpec, options: Mapping[str, Mapping[str, Any]],
           keys_now: bool = True) -> Any:
    if spec.presenter and spec.provider == "local":
        from nbvideo.providers.local.presenter import LocalPresenter

        return LocalPresenter()
    if spec.provider == "heygen":
        from nbvideo.providers.heygen import HeyGenPresenter, heygen_options

        return HeyGenPresenter(spec.id, key_on_use=not keys_now,
                               **{**heygen_options(), **dict(options.get("heygen", {}))})
    if spec.provider == "local":
        from nbvideo.providers.local import LocalAnimatic, LocalFrames, LocalPlanner

        return {"text": LocalPlanner, "image": LocalFrames, "video": LocalAnimatic}[spec.kind]()
    if spec.provider == "openai":
        from nbvideo.providers.openai import OpenAIImageFrames, OpenAIPlanner

        return (OpenAIPlanner if spec.kind == "text" else OpenAIImageFrames)(
            spec.id, key_on_use=not keys_now)
    if spec.provider == "runway":
        from nbvideo.providers.runway import RunwayFrames, RunwayVideo

        return (RunwayFrames if spec.kind == "image" else RunwayVideo)(
            spec.id, key_on_use=not keys_now,
            **{**runway_options(), **dict(options.get("runway", {}))})
    from nbvideo.providers.replicate import ReplicateFrames, ReplicateVideo

    extra = dict(options.get("replicate", {}))
    return (ReplicateFrames if spec.kind == "image" else ReplicateVideo)(
        spec.id, key_on_use=not keys_now, **{**replicate_options(), **extra})  # type: ignore[arg-type]


def replicate_options() -> dict[str, object]:
    """Where Replicate's outputs may come from: NBVIDEO_DOWNLOAD_HOSTS (comma-separated exact
    hosts, such as 127.0.0.1) for output hosts that may be plain http or private (test
    doubles); no wildcards. REPLICATE_BASE_URL (a proxy or test double) is read by the
    provider itself, through the key gate (keys.key_destination), so the token only goes to
    a server named for Replicate."""
    from nbvideo.providers.download import allowed_hosts_from

    opts: dict[str, object] = {}
    hosts = allowed_hosts_from(os.environ.get("NBVIDEO_DOWNLOAD_HOSTS", ""))
    if hosts:
        opts["allowed_download_hosts"] = hosts
    opts.update(_webhook_options())
    return opts


def _webhook_options() -> dict[str, object]:
    """NBVIDEO_WEBHOOKS=0 never asks Replicate for webhooks; NBVIDEO_WEBHOOK_FALLBACK_S is how
    often a clip with one asked for still polls (see providers/replicate.py)."""
    opts: dict[str, object] = {}
    if os.environ.get("NBVIDEO_WEBHOOKS", "").strip().lower() in ("0", "off", "false", "no"):
        opts["webhooks"] = False
    raw = os.environ.get("NBVIDEO_WEBHOOK_FALLBACK_S", "").strip()
    if raw:
        try:
            seconds = float(raw)
        except ValueError:
            seconds = -1.0
        if not 0 < seconds < float("inf"):
            raise InvalidInput(f"NBVIDEO_WEBHOOK_FALLBACK_S={quote(raw)}: allowed is a number "
                               "of seconds above 0, such as 60")
        opts["webhook_fallback_s"] = seconds
    return opts


def runway_options() -> dict[str, object]:
    """Where to reach Runway: RUNWAYML_BASE_URL (the SDK's own variable) for a proxy or test
    double, and NBVIDEO_DOWNLOAD_HOSTS for output hosts that may be plain http or private."""
    from nbvideo.providers.download import allowed_hosts_from

    opts: dict[str, object] = {}  # RUNWAYML_BASE_URL is read by the key gate (keys.key_destination)
    hosts = allowed_hosts_from(os.environ.get("NBVIDEO_DOWNLOAD_HOSTS", ""))
    if hosts:
        opts["allowed_download_hosts"] = hosts
    return opts
