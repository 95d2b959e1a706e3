"""Offline providers: a rule-based planner, Pillow storyboard frames, ffmpeg animatics.

They need no key and no network, are deterministic for a seed, and cost 0 (still logged).
"""

from nbvideo.providers.local.animatic import LocalAnimatic
from nbvideo.providers.local.frames import LocalFrames
from nbvideo.providers.local.planner import LocalPlanner

__all__ = ["LocalAnimatic", "LocalFrames", "LocalPlanner"]
