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

from nbvideo.model.posts import Post, UploadSession
from nbvideo.providers.base import ProviderError

__all__ = ["PublishFailed", "Publisher", "Remote"]


class PublishFailed(ProviderError):
    """A platform refused or lost a publish step. `transient`: trying again may work (a
    dropped connection, a 5xx, a quota that resets); the post keeps its session, so a retry
    resumes where it stopped."""


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
