"""A post: one distribution package going to one platform, now or at a set time.

The record is what makes a publish safe to retry. It is written before anything is sent, and
again at every step that the platform remembers: the upload session it opened (a resumable
upload URL, TikTok's publish id, a Graph API container), how far the upload got, and the id
the platform gave the video. A retry after a dropped connection or a killed kernel reads it
and carries on from there, asking the platform what it already has, so it never opens a
second upload and never posts twice.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from nbvideo.model.checked import Checked

__all__ = ["FINAL", "PLATFORMS", "Platform", "Post", "PostEvent", "PostStatus", "UploadSession",
           "new_post_id"]

Platform = Literal["youtube", "tiktok", "instagram", "facebook", "dry-run"]
PLATFORMS: tuple[str, ...] = ("youtube", "tiktok", "instagram", "facebook", "dry-run")
PostStatus = Literal["scheduled", "uploading", "processing", "posted", "failed", "missed",
                     "canceled"]
FINAL: frozenset[str] = frozenset({"posted", "failed", "missed", "canceled"})
_ID = re.compile(r"^post-[0-9a-f]{12}$")


def new_post_id() -> str:
    return f"post-{uuid.uuid4().hex[:12]}"


def _utc(v: datetime) -> datetime:
    if v.tzinfo is None or v.utcoffset() is None:
        raise ValueError("must say its time zone (e.g. 2026-12-24T09:00+01:00, or a datetime "
                         "with tzinfo); a time without one is ambiguous")
    return v.astimezone(UTC)


class UploadSession(Checked):
    """What the platform opened for this upload and how far it got. `ref` is the platform's
    handle for it (an upload URL, a publish id, a container id); `offset` the bytes it has."""

    ref: str = Field(min_length=1, max_length=4000)
    size: int = Field(ge=0)
    offset: int = Field(0, ge=0)
    opened_at: datetime
    extra: dict[str, str] = Field(default_factory=dict, description="Other handles the "
                                  "platform gave (a second URL, a creation id).")


class PostEvent(Checked):
    """One step of a post, for the record: when, what it became, and why."""

    at: datetime
    status: PostStatus
    note: str = Field("", max_length=2000)


class Post(Checked):
    """One package to one platform: what goes, when, and how far it got."""

    id: str
    platform: Platform
    package: str = Field(min_length=1, max_length=200, description="The package folder "
                         "under packages/, e.g. 'ad-reels'.")
    video: str = Field(description="The video's path in the project.")
    video_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)
    fields: dict[str, Any] = Field(default_factory=dict, description="Title, description, "
                                   "tags or caption as sent (the package's form fields).")
    when: datetime | None = Field(None, description="When to post (UTC); None: at once.")
    created_at: datetime
    status: PostStatus
    session: UploadSession | None = None
    remote_id: str | None = Field(None, max_length=200)
    remote_url: str | None = Field(None, max_length=2000)
    attempts: int = Field(0, ge=0)
    error: str | None = Field(None, max_length=2000)
    claimed_by: str | None = Field(None, max_length=200, description="The process posting "
                                   "it now (host:pid), so two runners never both do.")
    claimed_at: datetime | None = None
    events: list[PostEvent] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"post id must look like post-0123456789ab, got {v!r}")
        return v

    @field_validator("when", "created_at", "claimed_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        return None if v is None else _utc(v)

    def step(self, status: PostStatus, note: str = "") -> None:
        """Move to `status`, noting why (kept in `events`)."""
        self.status = status
        self.events.append(PostEvent(at=datetime.now(UTC), status=status, note=note[:2000]))

    def note(self, text: str) -> None:
        """Record what happened without a change of status (an upload that stopped)."""
        self.step(self.status, text)
