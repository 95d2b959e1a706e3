"""A campaign's variants packaged and posted together, one variant at a time.

Each variant is an ordinary project, so this is the project's own `package` and `publish`
run once per finished variant: the same limits, the same saved steps, the same "never twice".
What it adds is the bookkeeping a team wants across the set: one row per variant and
platform, a variant that fails is reported on its row and the others go on, and posts can be
staggered (a variant an hour apart, say) so a platform does not see a burst.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from nbvideo.errors import InvalidInput, NbvideoError

if TYPE_CHECKING:
    from nbvideo.campaign import Campaign

__all__ = ["package_variants", "publish_variants"]

PACKAGE_COLUMNS = ["variant", "preset", "folder", "error"]
POST_COLUMNS = ["variant", "post", "platform", "package", "status", "when", "remote_id",
                "error"]


def _finished(c: Campaign, variants: Sequence[str] | None) -> list[str]:
    """The variants to act on: the ones named, each finished; default every finished one."""
    results = c.results.set_index("variant")
    if variants is None:
        ids = [v for v in results.index if results.loc[v, "status"] == "done"]
        if not ids:
            raise InvalidInput(f"campaign {c.name} has no finished variant yet; run it first "
                               "with c.run()")
        return ids
    if isinstance(variants, str):
        variants = [variants]
    out = []
    for v in variants:
        if v not in results.index:
            raise InvalidInput(f"variants: no variant {v!r}; variants: "
                               f"{', '.join(results.index)}")
        if results.loc[v, "status"] != "done":
            raise InvalidInput(f"variants: {v} is {results.loc[v, 'status']}, not done; run "
                               "the campaign first (c.run())")
        out.append(v)
    return out


def package_variants(c: Campaign, presets: Sequence[str] | str, name: str = "ad", *,
                     variants: Sequence[str] | None = None,
                     accept: bool | Sequence[str] = ()) -> pd.DataFrame:
    """`p.package(presets)` in every finished variant: one row per variant and preset."""
    rows: list[dict[str, Any]] = []
    for v in _finished(c, variants):
        p = c.project(v)
        try:
            made = p.package(presets, name, accept=accept)
            for _, r in made.iterrows():
                rows.append({"variant": v, "preset": r["preset"],
                             "folder": str(Path(r["folder"]).name), "error": None})
        except NbvideoError as exc:  # reported on its row; the other variants still go
            rows.append({"variant": v, "preset": None, "folder": None, "error": str(exc)})
        finally:
            p.close()
    return pd.DataFrame(rows, columns=PACKAGE_COLUMNS)


def publish_variants(c: Campaign, platform: str, when: Any = None, *,
                     package: str | None = None, stagger: timedelta | None = None,
                     variants: Sequence[str] | None = None,
                     again: bool = False) -> pd.DataFrame:
    """`p.publish(platform, package, when)` in every finished variant, the i-th variant at
    `when + i * stagger`; one row per variant with the post as it stands."""
    from nbvideo.deliver.publish import _when  # the one reading of a time the posts use

    if stagger is not None and (not isinstance(stagger, timedelta)
                                or stagger < timedelta(0)):
        raise InvalidInput(f"stagger must be a datetime.timedelta of zero or more, such as "
                           f"timedelta(hours=1), got {stagger!r}")
    if stagger and when is None:
        raise InvalidInput("stagger needs when: the first variant's time, the others follow")
    start = _when(when, pd.Timestamp.now(tz="UTC").to_pydatetime()) if when is not None \
        else None
    rows: list[dict[str, Any]] = []
    for i, v in enumerate(_finished(c, variants)):
        at = start + i * stagger if start is not None and stagger else start
        p = c.project(v)
        try:
            post = p.publish(platform, package, at, again=again)
            rows.append({"variant": v, "post": post.id, "platform": post.platform,
                         "package": post.package, "status": post.status, "when": post.when,
                         "remote_id": post.remote_id, "error": post.error})
        except NbvideoError as exc:  # reported on its row; the other variants still go
            rows.append({"variant": v, "post": None, "platform": platform, "package": package,
                         "status": "refused" if isinstance(exc, InvalidInput) else "failed",
                         "when": at, "remote_id": None, "error": str(exc)})
        finally:
            p.close()
    return pd.DataFrame(rows, columns=POST_COLUMNS)
