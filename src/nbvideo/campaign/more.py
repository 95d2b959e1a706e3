"""More like a winner: the variants of a follow-up campaign (`Campaign.more_like`).

What is kept and what changes. A winner won on its hook and its look, so the follow-up keeps
the winning variant's recipe whole: the same scenes (the hook scene untouched, the same
structure and title), palette, providers and models, clip model and policy, aspect and
length. One axis changes per campaign, so the next comparison says what that axis is worth:

- ``"cta"`` (the default): the end card's line. Once a hook stops the scroll, the line that
  asks for the click is the next lever for ctr, and it costs one scene per variant. The
  lines are the ones you give, else the planner's other choices for its `cta` question.
- ``"seed"``: new takes of every scene but the hook (new frame and clip seeds): fresh
  pictures of the same recipe, for when the winner's audience tires of it.
- ``"copy"``: other on-screen lines for the scenes after the hook, one {beat: text} dict
  per variant (the benefit, the offer, ...), which the planner offers no alternatives for.
- ``"market"``: the winner in other markets (names, or name -> end-card text, or name ->
  {"cta": ..., "copy": {beat: text}}, as `nv.variants` takes them).

A different length would need a new plan (new scenes), which is not "more like" it: make that
with `nv.variants(durations=...)`. Scenes the new variants share with the winner make the
same requests, and the new campaign's asset store starts with the source's files (hard
links), so those come back as cache hits, not new spending.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import ValidationError

from nbvideo.campaign.models import Market, VariantSpec
from nbvideo.campaign.plan import apply_edits, parse_markets, variant_id
from nbvideo.errors import InvalidInput, from_validation, quote
from nbvideo.model.state import Scene
from nbvideo.plan.scenes import validated_scene
from nbvideo.plan.storyboard import scene_seed

Axis = Literal["cta", "seed", "copy", "market"]
AXES: tuple[str, ...] = ("cta", "seed", "copy", "market")
DEFAULT_N = 3


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _end_index(scenes: Sequence[Scene]) -> int:
    """The end card: the last call-to-action scene, else the last scene (as markets do)."""
    idx = [i for i, s in enumerate(scenes) if s.beat == "call-to-action"]
    return idx[-1] if idx else len(scenes) - 1


def end_card(spec: VariantSpec) -> str:
    """The on-screen text of the variant's end card."""
    return spec.scenes[_end_index(spec.scenes)].on_screen_text or ""


def planner_ctas(spec: VariantSpec) -> list[str]:
    """The planner's other lines for the end card: its `cta` question's choices, the answer
    given first, without the line the winner already has."""
    q = next((q for q in spec.questions if q.id == "cta"), None)
    lines = [spec.answers.get("cta") or "", *(q.choices if q else [])]
    seen = {_norm(end_card(spec))}
    out = []
    for line in lines:
        if line and _norm(line) not in seen:
            seen.add(_norm(line))
            out.append(line)
    return out


def _count(n: int | None, have: int, what: str, hint: str) -> int:
    if n is None:
        return have
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidInput(f"n must be a whole number >= 1, got {n!r}")
    if n > have:
        raise InvalidInput(f"more_like(n={n}) needs {n} {what} but there are only {have}; "
                           f"{hint}")
    return n


def specs_like(w: VariantSpec, vary: str, n: int | None, values: Any,
               taken_seeds: set[int], aspect: str | None) -> list[VariantSpec]:
    """The follow-up variants of `w`, one per value of the varied axis."""
    if vary not in AXES:
        raise InvalidInput(f"vary={vary!r} is not an axis more_like() varies; allowed: "
                           f"{', '.join(AXES)}")
    base = w.model_copy(deep=True)
    if aspect is not None:
        try:
            base = VariantSpec.model_validate({**w.model_dump(), "aspect": aspect,
                                               "brief": {**w.brief.model_dump(),
                                                         "aspect": aspect}})
        except ValueError:
            raise InvalidInput(f"aspect={aspect!r} is not an aspect; allowed: 9:16, 16:9, 1:1, "
                               f"4:5") from None
    fps = base.brief.fps
    out: list[VariantSpec] = []

    def add(vid: str, scenes: list[Scene], **changes: Any) -> None:
        out.append(base.model_copy(update={"id": vid, "project": f"variants/{vid}",
                                           "scenes": scenes, **changes}, deep=True))

    if vary == "cta":
        if values is None:
            lines = planner_ctas(w)
            k = _count(n if n is not None else min(DEFAULT_N, len(lines)) or 1, len(lines),
                       "end-card lines", f"the planner offers {[*lines]}; pass "
                       f"values=[...] with your own lines")
        else:
            lines = [values] if isinstance(values, str) else list(values)
            if not all(isinstance(x, str) and x.strip() for x in lines):
                raise InvalidInput(f"vary='cta' takes values=[end-card lines], got {values!r}")
            k = _count(n, len(lines), "end-card lines", "give more values or a smaller n")
        lines = lines[:k]
        if len({_norm(x) for x in lines}) != len(lines):
            raise InvalidInput(f"end-card lines repeat: {lines}; every variant needs its own")
        end = _end_index(base.scenes)
        for i, line in enumerate(lines, 1):
            scenes = [sc.model_copy(deep=True) for sc in base.scenes]
            try:
                scenes[end] = validated_scene(scenes[end], {"on_screen_text": line}, fps)
            except InvalidInput as exc:
                raise InvalidInput(f"end-card line {quote(line)}: {exc}") from None
            answers = dict(base.answers)
            if "cta" in answers or any(q.id == "cta" for q in base.questions):
                answers["cta"] = line
            add(variant_id([f"cta{i}", line[:40]]), scenes, answers=answers)
    elif vary == "seed":
        if values is None:
            want = n if n is not None else DEFAULT_N
            _count(want, want, "seeds", "")
            seeds, s = [], base.seed
            while len(seeds) < want:
                s += 1
                if s not in taken_seeds:
                    seeds.append(s)
        else:
            seeds = [values] if isinstance(values, int) else list(values)
            if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seeds):
                raise InvalidInput(f"vary='seed' takes values=[whole numbers >= 0], got "
                                   f"{values!r}")
            seeds = seeds[:_count(n, len(seeds), "seeds", "give more values or a smaller n")]
            if len(set(seeds)) != len(seeds) or base.seed in seeds:
                raise InvalidInput(f"seeds must differ from each other and from the winner's "
                                   f"({base.seed}), got {seeds}")
        hook = _hook_index(base.scenes)
        for seed in seeds:
            scenes = [sc if i == hook else sc.model_copy(update={
                "frame_seed": scene_seed(seed, sc.id, "frame"),
                "clip_seed": scene_seed(seed, sc.id, "clip")}) for i, sc in enumerate(base.scenes)]
            add(f"seed-{seed}", scenes, seed=seed)
    elif vary == "copy":
        rows = [values] if isinstance(values, dict) else list(values or [])
        if not rows or not all(isinstance(r, dict) and r for r in rows):
            raise InvalidInput(f"vary='copy' takes values=[{{beat: on-screen text}}, ...], one "
                               f"dict per variant, e.g. [{{'benefit': 'Dry all day'}}]; got "
                               f"{values!r}")
        rows = rows[:_count(n, len(rows), "sets of copy", "give more values or a smaller n")]
        beats = [sc.beat for sc in base.scenes]
        for i, row in enumerate(rows, 1):
            if "hook" in row:
                raise InvalidInput("vary='copy' keeps the hook that won; to try other hooks, "
                                   "make a campaign with nv.variants(hooks=[...])")
            absent = sorted(set(row) - set(beats))
            if absent:
                raise InvalidInput(f"copy {i}: the winner's plan has no {', '.join(absent)} "
                                   f"scene; its beats: {', '.join(dict.fromkeys(beats))}")
            try:
                m = Market(name=f"copy{i}", copy=row)
            except ValidationError as exc:
                raise from_validation(exc, prefix=f"copy {i}: ") from None
            add(f"copy{i}", apply_edits(base.scenes, fps, None, m))
    else:
        if values is None:
            raise InvalidInput("vary='market' needs values= the markets, e.g. {'DE': 'Jetzt "
                               "kaufen', 'FR': 'Achetez maintenant'}")
        markets = [m for m in parse_markets(values) if m is not None]
        markets = markets[:_count(n, len(markets), "markets", "give more markets or a smaller n")]
        for m in markets:
            if w.market is not None and _norm(m.name) == _norm(w.market):
                raise InvalidInput(f"market {quote(m.name)} is the winner's own; give others")
            add(variant_id([m.name]), apply_edits(base.scenes, fps, None, m), market=m.name)
    return out


def _hook_index(scenes: Sequence[Scene]) -> int:
    idx = [i for i, s in enumerate(scenes) if s.beat == "hook"]
    return idx[0] if idx else 0


def values_of(specs: Sequence[VariantSpec], vary: str, winner: VariantSpec) -> list[str]:
    """What each new variant tries, for the campaign's provenance line."""
    if vary == "cta":
        return [end_card(s) for s in specs]
    if vary == "seed":
        return [str(s.seed) for s in specs]
    if vary == "copy":
        return ["; ".join(f"{a.beat}: {a.on_screen_text}" for a, b in
                          zip(s.scenes, winner.scenes, strict=True)
                          if a.on_screen_text != b.on_screen_text) for s in specs]
    return [s.market or "" for s in specs]

