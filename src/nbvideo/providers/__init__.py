"""Providers: one package or module per vendor, all behind the protocols in base.py.

`provider_set("local")` returns the planner, frame model and video model a project uses;
"openai" plans with OpenAI (questions and storyboard) and keeps the offline frames and clips.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbvideo.errors import InvalidInput
from nbvideo.providers.base import FrameModel, Planner, VideoModel

AVAILABLE = ("local", "openai")


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
    return ProviderSet(name=spec, planner=planner, frames=LocalFrames(), video=LocalAnimatic())
