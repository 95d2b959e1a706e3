"""The interface every publishing platform's client gives the publish step.

The steps are the ones resumable uploads share (YouTube's resumable protocol, TikTok's
init/upload/status, the Graph API's container/upload/publish): open a session the platform
remembers, learn how many bytes it has, send the rest in chunks, finish, then wait out its
processing. A client never decides to post twice: `finish` on a session already finished
answers with the video it made, and `offset` on a finished session says so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from nbvideo.model.metrics import PostMetrics
from nbvideo.model.posts import Post, UploadSession
from nbvideo.providers.base import ProviderError

__all__ = ["MetricsFailed", "NoAnalytics", "PublishFailed", "Publisher", "Remote"]


class PublishFailed(ProviderError):
    """A platform refused or lost a publish step. `transient`: trying again may work (a
    dropped connection, a 5xx, a quota that resets); the post keeps its session, so a retry
    resumes where it stopped."""


class MetricsFailed(PublishFailed):
    """A platform refused or lost a request for a post's numbers (an expired token, a used-up
    quota, a video it no longer has). `nv.performance` records it in that post's row, with
    the numbers last saved, and goes on with the other posts."""


class NoAnalytics(MetricsFailed):
    """This platform's client gives no analytics (in this version)."""


class Remote(BaseModel):
    """A video as the platform has it."""

    id: str = Field(min_length=1, max_length=200)
    url: str | None = None
    state: Literal["processing", "posted", "failed"]
    error: str | None = None


class Publisher(ABC):
    """One platform's client. Async: uploads are network I/O."""

    platform: str
    chunk_bytes: int = 8 * 1024 * 1024
    poll_s: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0)  # waiting out processing

    @abstractmethod
    async def open(self, post: Post, video: Path) -> UploadSession:
        """Open an upload session for `video` (nothing is posted yet)."""

    @abstractmethod
    async def offset(self, session: UploadSession) -> int | Remote:
        """How many bytes the platform has for this session; the video, if the session
        was already finished (a crash after `finish`, before its answer was saved)."""

    @abstractmethod
    async def send(self, session: UploadSession, video: Path, offset: int) -> int:
        """Send the chunk of `video` starting at `offset`; return the platform's new offset."""

    @abstractmethod
    async def finish(self, post: Post, session: UploadSession) -> Remote:
        """Make the uploaded file a video with the post's fields. Idempotent per session."""

    @abstractmethod
    async def check(self, post: Post) -> Remote:
        """The video's state now (processing, posted or failed)."""

    async def metrics(self, post: Post) -> PostMetrics:
        """The posted video's numbers now, from the platform's analytics (`post.remote_id`
        is its video). A platform adds analytics by overriding this one method; numbers it
        does not give stay None (NaN in `nv.performance`), never 0. This default raises
        NoAnalytics, so a platform without it gets a row saying so, not a crash."""
        raise NoAnalytics(f"{self.platform} gives no analytics in this version: its posts "
                          "are listed without numbers", transient=False)
