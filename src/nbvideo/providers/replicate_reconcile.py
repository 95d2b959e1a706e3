"""Finding the prediction a create made when its answer was lost.

A create whose answer never arrived (a timeout while Replicate held the request open, a
dropped connection, a garbled body) may still have made a prediction that runs and is billed.
Sending the create again could pay twice; giving up leaves a paid clip behind. Replicate
lists an account's predictions, newest first, each with its model and the input it was given
(GET /v1/predictions, 100 per page, `next` cursor; replicate-python's
`predictions.async_list(cursor)`; https://replicate.com/docs/reference/http#predictions.list),
so the lost prediction can be found and adopted: polled and fetched like any other, billed once.

What identifies it: the same model, created no earlier than a little before we sent, an id
this process has not seen already (a failed earlier attempt of the same scene has the same
input), and the same plain input values (prompt, seed, duration, resolution...). File inputs
are left out of the comparison: the listing may show an uploaded file's URL where we sent a
data URI. The listing can lag a create by a moment, so it is read a few times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from nbvideo.providers.base import ProviderError

__all__ = ["LISTING_WAITS_S", "find_created", "remember"]

LISTING_WAITS_S = (0.5, 2.0, 5.0)
"""Pauses before each look at the listing (a just-made prediction may not be listed yet)."""
CLOCK_SKEW = timedelta(seconds=120)
"""How far Replicate's clock (created_at) may be behind ours (when we sent)."""
MAX_PAGES = 3

_seen: set[str] = set()


def remember(prediction_id: str) -> None:
    """An id this process has had an answer for: never the one a lost create made."""
    _seen.add(prediction_id)


def _plain(inp: dict[str, Any] | None) -> dict[str, Any]:
    """The input's values that the listing echoes as sent: no files, no URLs."""
    return {k: v for k, v in (inp or {}).items()
            if isinstance(v, bool | int | float) or (
                isinstance(v, str) and not v.startswith(("data:", "http://", "https://")))}


def _created(pred: Any) -> datetime | None:
    try:
        t = datetime.fromisoformat(str(pred.created_at).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


async def find_created(list_page: Callable[[Any], Any], model_ref: str, inp: dict[str, Any],
                       sent: datetime, sleep: Callable[[float], Any] = asyncio.sleep) -> Any:
    """The prediction `model_ref` made from `inp` after `sent` (UTC), or None.

    `list_page(cursor)` reads one page of the listing (`...` for the first); an error while
    reading it means not found (the caller then reports the create as one that may exist)."""
    want = _plain(inp)
    if not want:  # nothing to tell it from another prediction of the model
        return None
    since = sent - CLOCK_SKEW
    for pause in LISTING_WAITS_S:
        await sleep(pause)
        cursor: Any = ...
        try:
            for _ in range(MAX_PAGES):
                page = await list_page(cursor)
                older = False
                for pred in page.results:
                    created = _created(pred)
                    if created is None or created < since:
                        older = True  # newest first: the rest are older still
                        break
                    if (pred.model == model_ref and pred.id not in _seen
                            and _plain(pred.input) == want):
                        remember(pred.id)
                        return pred
                if older or not page.next:
                    break
                cursor = page.next
        except ProviderError:
            return None
    return None
