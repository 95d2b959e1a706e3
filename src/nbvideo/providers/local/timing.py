"""Scene timing for the offline planner: how many scenes an ad gets and how long each one runs.

Durations are whole frames: each scene stays within MIN_SCENE_S..MAX_SCENE_S and the frame
counts add up exactly to round(duration_s * fps).
"""

from __future__ import annotations

import math

from nbvideo.model.state import MAX_SCENE_S, MIN_SCENE_S


def scene_count(duration_s: float, pace_s: float = 5.0) -> int:
    """About one scene per `pace_s` seconds, clamped to [3, 12] and to what scene limits allow."""
    n = max(3, min(12, math.floor(duration_s / pace_s + 0.5)))
    n = max(n, math.ceil(duration_s / MAX_SCENE_S - 1e-9))  # long ads: longer scenes, not more
    return max(1, min(n, math.floor(duration_s / MIN_SCENE_S + 1e-9)))


def split_frames(total: int, weights: list[float], lo: int, hi: int) -> list[int]:
    """Share `total` frames by weight, each in [lo, hi], summing exactly (water-filling)."""
    n = len(weights)
    if not n or not n * lo <= total <= n * hi:
        raise ValueError(f"cannot split {total} frames into {n} scenes of {lo}..{hi} frames")
    alloc: dict[int, int] = {}
    while len(alloc) < n:
        free = [i for i in range(n) if i not in alloc]
        rem, wsum = total - sum(alloc.values()), sum(weights[i] for i in free)
        ideal = {i: rem * weights[i] / wsum for i in free}
        low = [i for i in free if ideal[i] < lo]
        high = [i for i in free if ideal[i] > hi] if not low else []
        if not low and not high:  # largest remainder rounding of the unclamped scenes
            base = {i: min(hi, max(lo, math.floor(ideal[i]))) for i in free}
            for i in sorted(free, key=lambda i: (base[i] - ideal[i], i))[
                    : max(0, rem - sum(base.values()))]:
                base[i] += 1
            alloc.update(base)
        alloc.update({i: lo for i in low} | {i: hi for i in high})
    out = [alloc[i] for i in range(n)]
    order = sorted(range(n), key=lambda i: (-weights[i], i))
    while diff := total - sum(out):  # repair rare clamp/rounding leftovers, heaviest first
        step = 1 if diff > 0 else -1
        out[next(i for i in (order if step > 0 else order[::-1]) if lo <= out[i] + step <= hi)] \
            += step
    return out


def split_duration(duration_s: float, fps: int, weights: list[float]) -> list[float]:
    """Scene durations in whole frames whose frame counts sum to round(duration_s * fps)."""
    lo, hi = math.ceil(MIN_SCENE_S * fps - 1e-9), math.floor(MAX_SCENE_S * fps + 1e-9)
    return [round(f / fps, 6) for f in split_frames(round(duration_s * fps), weights, lo, hi)]
