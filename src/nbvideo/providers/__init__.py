"""Providers: one package or module per vendor, all behind the protocols in base.py.

`provider_set("local")` returns the planner, frame model and video model a project uses;
"openai" plans with OpenAI (questions and storyboard); "replicate" makes frames with
flux-schnell and clips with WAN 2.5; "openai+replicate" does both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from nbvideo.errors import InvalidInput
from nbvideo.providers.base import FrameModel, Planner, VideoModel

AVAILABLE = ("local", "openai", "replicate")


@dataclass(frozen=True)
class ProviderSet:
    name: str
    planner: Planner
    frames: FrameModel
    video: VideoModel


def provider_set(spec: str) -> ProviderSet:
    """Build the providers named by `spec` ("local"; paid vendors join with "+")."""
    names = [s.strip() for s in spec.split("+") if s.strip()]
    unknown = [n for n in names if n not in AVAILABLE]
    if not names or unknown:
        raise InvalidInput(
            f"providers={spec!r}: {', '.join(unknown) or 'nothing'} is not available; "
            f"allowed: {', '.join(AVAILABLE)}"
        )
    from nbvideo.providers.local import LocalAnimatic, LocalFrames, LocalPlanner

    planner: Planner = LocalPlanner()
    if "openai" in names:  # keys are checked here, so a missing one fails at open, by name
        from nbvideo.providers.openai import OpenAIPlanner

        planner = OpenAIPlanner()
    frames: FrameModel = LocalFrames()
    video: VideoModel = LocalAnimatic()
    if "replicate" in names:
        from nbvideo.providers.replicate import ReplicateFrames, ReplicateVideo

        opts = replicate_options()
        frames, video = ReplicateFrames(**opts), ReplicateVideo("wan-2.5-i2v-fast", **opts)
    return ProviderSet(name=spec, planner=planner, frames=frames, video=video)


def replicate_options() -> dict[str, object]:
    """Where to reach Replicate: REPLICATE_BASE_URL for a proxy or test double, and
    NBVIDEO_DOWNLOAD_HOSTS (comma-separated) for plain-http output hosts such as 127.0.0.1."""
    opts: dict[str, object] = {}
    if os.environ.get("REPLICATE_BASE_URL"):
        opts["base_url"] = os.environ["REPLICATE_BASE_URL"]
    hosts = [h.strip() for h in os.environ.get("NBVIDEO_DOWNLOAD_HOSTS", "").split(",") if h.strip()]
    if hosts:
        opts["allowed_download_hosts"] = frozenset(hosts)
    return opts
