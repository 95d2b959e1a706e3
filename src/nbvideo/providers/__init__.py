"""Providers: one package or module per vendor, all behind the protocols in base.py.

`provider_set("local")` returns the planner, frame model and video model a project uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbvideo.errors import InvalidInput
from nbvideo.providers.base import FrameModel, Planner, VideoModel

AVAILABLE = ("local",)


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

    return ProviderSet(name=spec, planner=LocalPlanner(), frames=LocalFrames(),
                       video=LocalAnimatic())
