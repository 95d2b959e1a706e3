"""How the posted videos are doing: `nv.performance(root)`, one row per posted post.

Each posted post's numbers come from its platform's analytics (`Publisher.metrics`: YouTube
Analytics, TikTok's video query, Instagram media insights, the dry-run platform's file or
simulated audience), fetched concurrently, each fetch saved as a snapshot in the project's
publish/metrics.jsonl (store/metrics.py). So:

- `refresh=False` reads the last snapshots only: offline, no token needed;
- a platform that fails for one post (an expired token, a used-up quota) costs that post only:
  its row keeps the numbers last saved and says what went wrong in `error`;
- the history of every post's numbers stays in the file.

`root` is a project, a campaign (then each variant's posts, with the variant's hook, market,
aspect and length from campaign.json) or a folder of them. Numbers a platform does not give
are NaN, never 0. Two are filled in from the others when the platform gives one and not the
other, as definitions, not estimates: retention = avg_view_s / duration_s (capped at 1, since
loops can make the average exceed the length) and avg_view_s = retention * duration_s; and
watch_time_s = views * avg_view_s. `charts.performance_chart` compares groups of rows.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from nbvideo.deliver.platforms import Publisher, publisher_for
from nbvideo.errors import InvalidInput, NbvideoError
from nbvideo.keys import redact
from nbvideo.model.metrics import METRICS, PostMetrics
from nbvideo.model.posts import Post
from nbvideo.runtime.jobs import run_sync
from nbvideo.store.listing import find_projects
from nbvideo.store.metrics import FILE as METRICS_FILE
from nbvideo.store.metrics import MetricsStore
from nbvideo.store.posts import PostStore

__all__ = ["COLUMNS", "METRICS_FILE", "fetch", "performance"]

COLUMNS: list[str] = ["project", "variant", "post", "platform", "remote_id", "posted_at",
                      "fetched_at", "source", *METRICS, "hook", "market", "aspect",
                      "duration_s", "package", "error"]
"""The frame's columns, in order (other code reads them by these names)."""
CONCURRENCY = 8  # analytics requests in flight at once, across platforms
NOT_FETCHED = "no metrics saved yet: performance(refresh=True) fetches them"


class _Variant(BaseModel):
    """What the frame takes from a campaign.json variant (the rest of the spec is ignored)."""

    model_config = ConfigDict(extra="ignore")
    id: str
    project: str
    market: str | None = None
    hook: str | None = None
    duration_s: float | None = None
    aspect: str | None = None


class _Campaign(BaseModel):
    model_config = ConfigDict(extra="ignore")
    variants: list[_Variant] = []


def _campaign(folder: Path) -> dict[Path, _Variant]:
    """Each variant's project folder -> its spec, for the campaign at `folder`."""
    f = folder / "campaign.json"
    try:
        doc = _Campaign.model_validate_json(f.read_bytes())
    except (OSError, ValidationError):
        return {}
    return {(folder / v.project).resolve(): v for v in doc.variants}


def _targets(root: Path) -> list[tuple[Path, _Variant | None]]:
    """The project folders under `root` and, for a campaign's variant, its spec: every
    variant of each campaign found (campaign.json at most three folders down), then every
    other project."""
    variants: dict[Path, _Variant] = {}
    for pattern in ("campaign.json", "*/campaign.json", "*/*/campaign.json",
                    "*/*/*/campaign.json"):
        for f in sorted(root.glob(pattern)):
            variants.update(_campaign(f.parent))
    found: list[tuple[Path, _Variant | None]] = list(variants.items())
    found += [(p, None) for p in find_projects(root) if p.resolve() not in variants]
    return found


def _aspect(width: Any, height: Any) -> str | None:
    try:
        w, h = int(width), int(height)
    except (TypeError, ValueError):
        return None
    if w <= 0 or h <= 0:
        return None
    g = math.gcd(w, h)
    return f"{w // g}:{h // g}"


def _package_facts(project: Path, package: str) -> tuple[str | None, float | None]:
    """(aspect, duration_s) of a package as its metadata.json records them."""
    try:
        doc = json.loads((project / "packages" / package / "metadata.json").read_text("utf-8"))
        video = doc["video"]
        duration = float(video["duration_s"])
        return _aspect(video.get("width"), video.get("height")), duration
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def _posted_at(post: Post) -> datetime | None:
    times = [e.at for e in post.events if e.status == "posted"]
    return times[0] if times else None


async def _fetch_one(pub: Publisher | Exception, post: Post, gate: asyncio.Semaphore
                     ) -> PostMetrics | str:
    """The post's numbers now, or what went wrong (a message with no secret in it)."""
    if isinstance(pub, Exception):
        return redact(str(pub))[:500]
    async with gate:
        try:
            got = await pub.metrics(post)
        except NbvideoError as exc:  # MetricsFailed, MissingKey, KeyDestinationRefused...
            return redact(str(exc))[:500]
        except ValidationError as exc:  # a number out of range (a negative count)
            return redact(f"{post.platform}: its analytics answered a number nbvideo cannot "
                          f"use ({exc.errors()[0]['msg']})")[:500]
        except (OSError, TimeoutError, httpx.HTTPError) as exc:
            return redact(f"{post.platform}: no answer ({type(exc).__name__})")
    return got.model_copy(update={"post": post.id, "platform": post.platform})


async def _fetch_all(jobs: list[tuple[Publisher | Exception, Post]]
                     ) -> list[PostMetrics | str]:
    gate = asyncio.Semaphore(CONCURRENCY)
    return list(await asyncio.gather(*(_fetch_one(pub, post, gate) for pub, post in jobs)))


def fetch(posts: list[tuple[Path, Post]], publishers: Mapping[str, Publisher] | None = None
          ) -> list[PostMetrics | str]:
    """Each post's numbers now (saved in its project's metrics.jsonl), or the error text."""
    made: dict[str, Publisher | Exception] = dict(publishers or {})
    jobs: list[tuple[Publisher | Exception, Post]] = []
    for _, post in posts:
        if post.platform not in made:
            try:
                made[post.platform] = publisher_for(post.platform)
            except NbvideoError as exc:  # no token, no account id, a platform not here
                made[post.platform] = exc
        jobs.append((made[post.platform], post))
    got = run_sync(_fetch_all(jobs))
    by_project: dict[Path, list[PostMetrics]] = {}
    for (root, _), g in zip(posts, got, strict=True):
        if isinstance(g, PostMetrics):
            by_project.setdefault(root, []).append(g)
    for root, snaps in by_project.items():
        MetricsStore(root).append(snaps)
    return got


def _derive(row: dict[str, Any]) -> None:
    """Fill retention, avg_view_s and watch_time_s from each other where one is missing."""
    def known(k: str) -> bool:
        v = row.get(k)
        return v is not None and not (isinstance(v, float) and math.isnan(v))

    d = row.get("duration_s")
    if known("duration_s") and d > 0:
        if known("avg_view_s") and not known("retention"):
            row["retention"] = min(1.0, row["avg_view_s"] / d)
        elif known("retention") and not known("avg_view_s"):
            row["avg_view_s"] = row["retention"] * d
    if known("views") and known("avg_view_s") and not known("watch_time_s"):
        row["watch_time_s"] = row["views"] * row["avg_view_s"]


def performance(root: str | os.PathLike[str] = ".", refresh: bool = True, *,
                publishers: Mapping[str, Publisher] | None = None) -> pd.DataFrame:
    """One row per posted post under `root` (a project, a campaign or a folder of them) with
    its numbers from the platform: views, impressions, watch_time_s, avg_view_s, retention
    (0-1), clicks, ctr (0-1), likes, shares, comments, spend_usd; NaN where the platform does
    not give one. For a campaign's variants, variant, hook, market, aspect and duration_s
    come from the campaign; for a plain project, aspect and duration_s from the package.

    `refresh=True` asks each platform now and saves the numbers (publish/metrics.jsonl in
    each project); `refresh=False` shows the last saved ones, offline. A post its platform
    could not answer for keeps its last saved numbers and says why in `error`. `publishers`
    gives a client per platform name instead of the ones the environment sets up.

    >>> import nbvideo as nv
    >>> df = nv.performance("projects/trail-shoe-campaign")  # doctest: +SKIP
    >>> df.groupby("hook")["views"].mean()  # doctest: +SKIP
    """
    if not isinstance(refresh, bool):
        raise InvalidInput(f"refresh must be True or False, got {refresh!r}")
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise InvalidInput(f"root must be a project, a campaign or a folder of them, got "
                           f"{str(root)!r}")
    found: list[tuple[Path, _Variant | None, Post]] = []
    for project, variant in _targets(folder):
        for post in PostStore(project).all():
            if post.status == "posted" and post.remote_id:
                found.append((project, variant, post))
    errors: dict[str, str] = {}
    if refresh and found:
        got = fetch([(p, post) for p, _, post in found], publishers)
        errors = {post.id: g for (_, _, post), g in zip(found, got, strict=True)
                  if isinstance(g, str)}
    latest: dict[Path, dict[str, PostMetrics]] = {}
    rows = []
    for project, variant, post in found:
        if project not in latest:
            latest[project] = MetricsStore(project).latest()
        snap = latest[project].get(post.id)
        aspect, duration = _package_facts(project, post.package)
        row: dict[str, Any] = {
            "project": project.name, "variant": variant.id if variant else None,
            "post": post.id, "platform": post.platform, "remote_id": post.remote_id,
            "posted_at": _posted_at(post), "fetched_at": snap.fetched_at if snap else None,
            "source": snap.source if snap else None,
            **{m: (getattr(snap, m) if snap else None) for m in METRICS},
            "hook": variant.hook if variant else None,
            "market": variant.market if variant else None,
            "aspect": (variant.aspect if variant and variant.aspect else aspect),
            "duration_s": (variant.duration_s if variant and variant.duration_s else duration),
            "package": post.package,
            "error": errors.get(post.id) or (None if snap else NOT_FETCHED),
        }
        _derive(row)
        rows.append(row)
    df = pd.DataFrame(rows, columns=COLUMNS)
    for m in [*METRICS, "duration_s"]:
        df[m] = pd.to_numeric(df[m], errors="coerce").astype("float64")
    for t in ("posted_at", "fetched_at"):
        df[t] = pd.to_datetime(df[t], utc=True)
    return df.sort_values(["posted_at", "project", "post"], ignore_index=True,
                          na_position="last")
