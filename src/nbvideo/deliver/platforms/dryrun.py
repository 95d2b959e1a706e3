"""A publishing platform on the local disk: no account, same steps as the real ones.

It keeps upload sessions and videos in a folder (NBVIDEO_DRYRUN_PLATFORM, default the user
cache's dry-run-platform/) and behaves like a resumable-upload API: a session remembers its
bytes, a chunk at the wrong offset is rejected, `finish` on a finished session gives back the
same video, and a video is "processing" until it is first checked. So a notebook can
rehearse a whole publish (and `nbvideo publish --due` a schedule) with nothing at stake, and
the tests can break it on purpose: `Faults` drops the connection after some chunks, loses
the answer to `finish` after the video was made, or fails the processing.

Its analytics (`metrics`) are the numbers in a metrics.json beside the video
(videos/<id>/metrics.json: any of model/metrics.METRICS, e.g. {"views": 1200, "likes": 40}),
which a user or a test drops there (source "file"); without one, a simulated audience seeded
by the video id, the same numbers every time (source "simulated"), so a notebook shows the
whole publish-and-measure loop with no account. Simulated numbers are never a platform's.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nbvideo.deliver.platforms.base import MetricsFailed, Publisher, PublishFailed, Remote
from nbvideo.model.metrics import PostMetrics
from nbvideo.model.posts import Post, UploadSession
from nbvideo.store.folder import atomic_write_bytes
from nbvideo.store.user_cache import user_cache_dir

__all__ = ["DryRunPlatform", "Faults", "platform_folder"]

ENV = "NBVIDEO_DRYRUN_PLATFORM"


def platform_folder() -> Path:
    """Where the dry-run platform keeps its sessions and videos."""
    given = os.environ.get(ENV, "").strip()
    return Path(given).expanduser().absolute() if given else user_cache_dir("dry-run-platform")


class Faults(BaseModel):
    """What to break, for rehearsing failures."""

    drop_after_chunks: int | None = None  # the connection drops after this many chunks
    lose_finish_answer: bool = False  # the video is made, then the answer never arrives
    fail_processing: bool = False  # the platform cannot process the video


class MetricsFile(BaseModel):
    """videos/<id>/metrics.json: the numbers to report for that video (any subset)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    views: float | None = Field(None, ge=0)
    impressions: float | None = Field(None, ge=0)
    watch_time_s: float | None = Field(None, ge=0)
    avg_view_s: float | None = Field(None, ge=0)
    retention: float | None = Field(None, ge=0, le=1)
    clicks: float | None = Field(None, ge=0)
    ctr: float | None = Field(None, ge=0, le=1)
    likes: float | None = Field(None, ge=0)
    shares: float | None = Field(None, ge=0)
    comments: float | None = Field(None, ge=0)
    spend_usd: float | None = Field(None, ge=0)


def simulated(vid: str) -> dict[str, float]:
    """A plausible audience for video `vid`, the same every time (seeded by the id)."""
    rng = random.Random(int.from_bytes(hashlib.sha256(vid.encode()).digest()[:8], "big"))
    impressions = float(rng.randint(2_000, 40_000))
    ctr = round(rng.uniform(0.02, 0.09), 4)
    views = float(round(impressions * rng.uniform(0.2, 0.55)))
    return {"impressions": impressions, "clicks": float(round(impressions * ctr)),
            "ctr": ctr, "views": views, "retention": round(rng.uniform(0.25, 0.8), 3),
            "likes": float(round(views * rng.uniform(0.02, 0.08))),
            "shares": float(round(views * rng.uniform(0.002, 0.01))),
            "comments": float(round(views * rng.uniform(0.001, 0.006)))}


class DryRunPlatform(Publisher):
    """The platform in `folder` (default `platform_folder()`)."""

    platform = "dry-run"
    poll_s = (0.05,)  # its processing is done at the first look after finishing

    def __init__(self, folder: Path | None = None, *, chunk_bytes: int = 256 * 1024,
                 faults: Faults | None = None) -> None:
        self.folder = folder or platform_folder()
        self.chunk_bytes = chunk_bytes
        self.faults = faults or Faults()
        self.chunks_sent = 0

    def _session_dir(self, ref: str) -> Path:
        if not ref.isalnum():
            raise PublishFailed(f"dry-run: no upload session {ref!r}")
        return self.folder / "sessions" / ref

    def videos(self) -> list[dict[str, object]]:
        """Every video on the platform, oldest first (what a channel page would list)."""
        root = self.folder / "videos"
        if not root.is_dir():
            return []
        found = [json.loads((d / "video.json").read_text()) for d in root.iterdir()
                 if (d / "video.json").is_file()]
        return sorted(found, key=lambda v: str(v["posted_at"]))

    async def open(self, post: Post, video: Path) -> UploadSession:
        ref = uuid.uuid4().hex
        d = self._session_dir(ref)
        d.mkdir(parents=True)
        (d / "upload.part").write_bytes(b"")
        size = video.stat().st_size
        atomic_write_bytes(d / "session.json", json.dumps({"size": size}).encode())
        return UploadSession(ref=ref, size=size, opened_at=datetime.now(UTC))

    async def offset(self, session: UploadSession) -> int | Remote:
        d = self._session_dir(session.ref)
        if not d.is_dir():
            raise PublishFailed("dry-run: the upload session has expired; publish again to "
                                "start a new one", transient=False)
        done = d / "video-id"
        if done.is_file():
            return await self._check(done.read_text())
        return (d / "upload.part").stat().st_size

    async def send(self, session: UploadSession, video: Path, offset: int) -> int:
        d = self._session_dir(session.ref)
        part = d / "upload.part"
        have = part.stat().st_size
        if offset != have:
            raise PublishFailed(f"dry-run: chunk rejected: it starts at byte {offset}, the "
                                f"session has {have}", transient=True)
        if (self.faults.drop_after_chunks is not None
                and self.chunks_sent >= self.faults.drop_after_chunks):
            raise PublishFailed("dry-run: the connection dropped during the upload",
                                transient=True)
        with video.open("rb") as src, part.open("ab") as out:
            src.seek(offset)
            out.write(src.read(self.chunk_bytes))
        self.chunks_sent += 1
        return part.stat().st_size

    async def finish(self, post: Post, session: UploadSession) -> Remote:
        d = self._session_dir(session.ref)
        done = d / "video-id"
        if done.is_file():  # finished before: the same video, never a second one
            return await self._check(done.read_text())
        part = d / "upload.part"
        if part.stat().st_size != session.size:
            raise PublishFailed(f"dry-run: the upload is incomplete ({part.stat().st_size} of "
                                f"{session.size} bytes)", transient=True)
        vid = uuid.uuid4().hex[:11]
        out = self.folder / "videos" / vid
        out.mkdir(parents=True)
        os.replace(part, out / "video.mp4")
        meta = {"id": vid, "post": post.id, "fields": post.fields,
                "posted_at": datetime.now(UTC).isoformat(), "checked": False,
                "failed": self.faults.fail_processing}
        atomic_write_bytes(out / "video.json", json.dumps(meta).encode())
        done.write_text(vid)
        if self.faults.lose_finish_answer:
            raise PublishFailed("dry-run: no answer to the finish request (the connection "
                                "dropped)", transient=True)
        return Remote(id=vid, url=self._url(vid), state="processing")

    def _url(self, vid: str) -> str:
        return (self.folder / "videos" / vid / "video.mp4").as_uri()

    async def _check(self, vid: str) -> Remote:
        f = self.folder / "videos" / vid / "video.json"
        if not f.is_file():
            raise PublishFailed(f"dry-run: no video {vid!r} (was it removed?)")
        meta = json.loads(f.read_text())
        if meta["failed"]:
            return Remote(id=vid, state="failed", error="dry-run: the platform could not "
                          "process the video")
        state = "posted" if meta["checked"] else "processing"
        if not meta["checked"]:  # processing takes until the first look
            meta["checked"] = True
            atomic_write_bytes(f, json.dumps(meta).encode())
        return Remote(id=vid, url=self._url(vid), state=state)  # type: ignore[arg-type]

    async def check(self, post: Post) -> Remote:
        if post.remote_id is None:
            raise PublishFailed("dry-run: the post has no video id yet")
        return await self._check(post.remote_id)

    async def metrics(self, post: Post) -> PostMetrics:
        if post.remote_id is None:
            raise MetricsFailed("dry-run: the post has no video id yet", transient=False)
        vid = post.remote_id
        d = self.folder / "videos" / vid
        if not vid.isalnum() or not (d / "video.json").is_file():
            raise MetricsFailed(f"dry-run: no video {vid!r} (was it removed?)",
                                transient=False)
        f = d / "metrics.json"
        if f.is_file():
            try:
                given = MetricsFile.model_validate_json(f.read_bytes())
            except ValidationError as exc:
                e = exc.errors()[0]
                raise MetricsFailed(f"dry-run: {f} cannot be read as metrics: {e['msg']} at "
                                    f"{'.'.join(map(str, e['loc'])) or 'the top'}",
                                    transient=False) from None
            return PostMetrics(post=post.id, platform=self.platform, remote_id=vid,
                               source="file", **given.model_dump())
        return PostMetrics(post=post.id, platform=self.platform, remote_id=vid,
                           source="simulated", **simulated(vid))
