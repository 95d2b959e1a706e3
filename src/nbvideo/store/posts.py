"""Where a project's posts live: publish/posts/<id>.json, one file each, written whole.

A post file is rewritten at every step the platform remembers (see model/posts.py), so it
must never be half-written: temp file + fsync + rename, like project.json. Two processes may
look at the same posts (a notebook and `nbvideo publish --due` from cron): `claim` takes a
post for one of them under a lock, with a lease, so only one sends it; a lease that runs out
(its process died) lets the next runner take it over and resume from what was saved.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import filelock
from pydantic import ValidationError

from nbvideo.errors import InvalidInput, ProjectCorrupt
from nbvideo.model.posts import FINAL, Post
from nbvideo.store.folder import atomic_write_bytes

__all__ = ["LEASE", "PostStore", "me"]

FOLDER = Path("publish") / "posts"
LEASE = timedelta(minutes=30)  # an upload that is still going renews it at every chunk


def me() -> str:
    """This process, as a claim names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(holder: str) -> bool:
    """Whether the process a claim names may still be running: on another machine we cannot
    tell (the lease decides); on this one, a pid that is gone (a killed kernel) is not."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class PostStore:
    """The posts of the project at `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / FOLDER

    def _lock(self) -> filelock.BaseFileLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        return filelock.FileLock(str(self.folder / ".lock"), is_singleton=False,
                                 thread_local=False)

    def path(self, post_id: str) -> Path:
        return self.folder / f"{post_id}.json"

    def save(self, post: Post) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path(post.id), post.model_dump_json(indent=1).encode())

    def load(self, post_id: str) -> Post:
        f = self.path(post_id)
        if not f.is_file():
            known = ", ".join(p.id for p in self.all()) or "none yet"
            raise InvalidInput(f"post {post_id!r} is not one of this project's posts "
                               f"({known})")
        try:
            return Post.model_validate_json(f.read_bytes())
        except ValidationError as exc:
            raise ProjectCorrupt(f"{f} cannot be read as a post: "
                                 f"{exc.errors()[0]['msg']} at "
                                 f"{'.'.join(map(str, exc.errors()[0]['loc']))}") from None

    def all(self) -> list[Post]:
        """Every post, oldest first."""
        if not self.folder.is_dir():
            return []
        posts = [self.load(f.stem) for f in sorted(self.folder.glob("post-*.json"))]
        return sorted(posts, key=lambda p: (p.created_at, p.id))

    def claim(self, post_id: str, now: datetime | None = None) -> Post | None:
        """The post, now held by this process, or None: it is done, or another live
        process holds it. A claim older than LEASE, or whose process on this machine is
        gone (a killed kernel), is taken over."""
        now = now or datetime.now(UTC)
        with self._lock():
            post = self.load(post_id)
            if post.status in FINAL:
                return None
            held = post.claimed_by is not None and post.claimed_at is not None
            if (held and post.claimed_by != me() and now - post.claimed_at < LEASE  # type: ignore[operator]
                    and _alive(post.claimed_by)):  # type: ignore[arg-type]
                return None
            post.claimed_by, post.claimed_at = me(), now
            self.save(post)
            return post

    def renew(self, post: Post) -> None:
        """Save the post and extend this process's claim on it (an upload in progress)."""
        post.claimed_by, post.claimed_at = me(), datetime.now(UTC)
        self.save(post)

    def release(self, post: Post) -> None:
        """Save the post and let go of it."""
        post.claimed_by, post.claimed_at = None, None
        self.save(post)
