"""When to ask Replicate how a prediction is doing: as few status requests as finishing on time
allows.

Replicate's GET /v1/predictions/{id} has no long-poll, and a notebook has no public URL for
webhooks, so status comes from polling. The schedule spends requests where they tell us
something:
- The first request goes when the prediction should be done (the model's typical latency,
  scaled by what this process has learned). For long models it goes at half that instead,
  as a probe: the answer's progress tells us when to come back.
- A running prediction's logs carry a tqdm bar (cog models print one; the SDK parses it as
  `Prediction.progress`). From the fraction done and the time since it started we predict
  the finish and ask then (or halfway there, if that is far off, to predict again).
- Without progress, we ask at the expected time, then back off geometrically (x1.5), so a
  latency guess that is 2x too low costs 3 requests and at most 1.5x the wait.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nbvideo.providers.base import Ticket

POLL_CAP_S = 15.0  # the longest gap between two requests for a prediction of typical length
PROBE_FROM_S = 20.0  # models expected to take longer get an early probe for their progress
MARGIN = 1.02  # ask a hair after the predicted finish: a request just before it is wasted


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def created_at(pred: Any, prev: Ticket | None) -> datetime:
    """Keep the ticket's clock; a ticket rebuilt from a bare id takes the server's."""
    if prev is not None and prev.created_at is not None:
        return prev.created_at
    if prev is not None:
        server = parse_time(pred.created_at)
        if server is not None:
            return server
    return datetime.now(UTC)


def age_s(when: datetime, now: datetime | None = None) -> float:
    """Seconds since `when` (a naive time is taken as UTC)."""
    now = now or datetime.now(UTC)
    return (now - (when if when.tzinfo else when.replace(tzinfo=UTC))).total_seconds()


def next_poll_offset(ticket: Ticket, age: float, expected_s: float) -> float:
    """Seconds after creation at which to send the next status request for `ticket`.

    `age` is how old the prediction is now; `expected_s` how long it should take in all.
    """
    min_step = max(0.5, expected_s / 20)
    max_step = max(POLL_CAP_S, expected_s / 4)
    if ticket.polls == 0:
        first = expected_s / 2 if expected_s >= PROBE_FROM_S else expected_s
        return max(first, age)
    p = ticket.progress
    if p and 0 < p < 1 and ticket.started_at and ticket.created_at:
        queued = age_s(ticket.created_at, ticket.started_at)
        running = age - queued
        if running > 0:
            finish = (queued + running / p) * MARGIN
            if finish - age <= max_step:
                return max(finish, age + min_step)
            return age + (finish - age) / 2  # far off: halve the gap, then predict again
    if age < expected_s:
        return expected_s
    return age + min(max(min_step, age / 2), max_step)
