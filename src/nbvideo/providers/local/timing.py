"""Scene timing for the offline planner: how many scenes an ad gets and how long each one runs.

Durations are whole frames: each scene stays within MIN_SCENE_S..MAX_SCENE_S and the frame
counts add up exactly to round(duration_s * fps).
"""

from __future__ import annotations

import itertools
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


def fit_lengths(duration_s: float, allowed: tuple[float, ...], near: int,
                fewest: int = 2) -> list[float]:
    """Scene lengths, longest first, drawn from a model's `allowed` clip lengths and adding up
    to `duration_s`, with a scene count as close to `near` as can be: no paid second is
    trimmed away. Where no mix of allowed lengths adds up exactly, one scene takes the
    remainder (at least MIN_SCENE_S), and the mix that wastes least of its clip is used."""
    sizes = sorted({float(d) for d in allowed if MIN_SCENE_S <= d <= MAX_SCENE_S}, reverse=True)
    if not sizes:
        raise ValueError(f"no allowed length within {MIN_SCENE_S:g}..{MAX_SCENE_S:g} s")
    best: tuple[tuple[float, int], list[float]] | None = None
    most = math.floor(duration_s / min(sizes)) + 1
    for n in range(max(1, fewest - 1), min(most, 12) + 1):
        for combo in itertools.combinations_with_replacement(sizes, n):
            rest = round(duration_s - sum(combo), 6)
            if abs(rest) <= 1e-6:
                lengths, waste = list(combo), 0.0
            elif MIN_SCENE_S - 1e-9 <= rest < min(sizes):  # one more scene, made at min(sizes)
                lengths, waste = [*combo, rest], min(sizes) - rest
            else:
                continue
            if len(lengths) < fewest:
                continue
            key = (waste, abs(len(lengths) - near))
            if best is None or key < best[0]:
                best = (key, sorted(lengths, reverse=True))
    if best is None:
        raise ValueError(f"{duration_s:g} s cannot be made of {sizes} s clips")
    return best[1]


def by_weight(lengths: list[float], weights: list[float]) -> list[float]:
    """`lengths` given out to scenes by weight: the heaviest scene gets the longest."""
    order = sorted(range(len(weights)), key=lambda i: (-weights[i], i))
    out = [0.0] * len(weights)
    for length, i in zip(sorted(lengths, reverse=True), order, strict=True):
        out[i] = length
    return out
