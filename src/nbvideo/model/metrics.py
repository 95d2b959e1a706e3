"""How a posted video is doing: one snapshot of its numbers, as a platform's analytics gave them.

A `PostMetrics` is what `Publisher.metrics(post)` answers and what the project keeps, one line
per fetch, in publish/metrics.jsonl (store/metrics.py), so `nv.performance(root,
refresh=False)` works offline and the history of each post's numbers is kept.

Every number is optional: None means the platform does not give it (TikTok has no watch time,
no platform's organic API gives spend), never 0, and becomes NaN in the performance frame.
Units are fixed here so platforms compare: seconds for time, 0-1 fractions for retention and
click-through, US dollars for spend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator

from nbvideo.model.checked import Checked

__all__ = ["METRICS", "MetricSource", "PostMetrics"]

MetricSource = Literal["api", "file", "simulated"]
"""Where the numbers came from: the platform's analytics API, a metrics file the user (or a
test) dropped beside a dry-run video, or the dry-run platform's simulated audience."""

METRICS: tuple[str, ...] = ("views", "impressions", "watch_time_s", "avg_view_s", "retention",
                            "clicks", "ctr", "likes", "shares", "comments", "spend_usd")
"""The numbers every platform maps onto, in the performance frame's order."""

_Count = Field(None, ge=0)


class PostMetrics(Checked):
    """One fetch of one post's numbers. None: the platform does not give that number."""

    post: str = Field(pattern=r"^post-[0-9a-f]{12}$")
    platform: str = Field(min_length=1, max_length=40)
    remote_id: str = Field(min_length=1, max_length=200)
    fetched_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: MetricSource = "api"
    views: float | None = _Count
    impressions: float | None = Field(None, ge=0, description="Times the video (or its "
                                      "thumbnail) was shown; not reach (unique accounts).")
    watch_time_s: float | None = Field(None, ge=0, description="Total time watched, seconds.")
    avg_view_s: float | None = Field(None, ge=0, description="Average time watched per view.")
    retention: float | None = Field(None, ge=0, le=1, description="Average fraction of the "
                                    "video watched, 0-1.")
    clicks: float | None = _Count
    ctr: float | None = Field(None, ge=0, le=1, description="Clicks per impression, 0-1.")
    likes: float | None = _Count
    shares: float | None = _Count
    comments: float | None = _Count
    spend_usd: float | None = Field(None, ge=0, description="What boosting the post cost, "
                                    "where the platform says.")
    extra: dict[str, float] = Field(default_factory=dict, description="Numbers only this "
                                    "platform gives (Instagram's reach and saved).")

    @field_validator("fetched_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("must say its time zone")
        return v.astimezone(UTC)
