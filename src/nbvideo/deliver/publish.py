"""Publishing a distribution package to a platform, now or at a set time, never twice.

One path posts everything (`p.publish`, `p.schedule` when it comes due, `nbvideo publish
--due` from cron): `send` claims the post, and every step the platform remembers is saved on
the post before the next one starts (see model/posts.py), so a dropped connection or a killed
kernel resumes where it stopped and a finished upload is never sent again:

1. the package is checked against the platform's limits (size, duration, aspect, the form's
   fields) before anything is sent: a package that breaks one is refused, naming the field;
2. the upload session is opened and saved; then each chunk, with the offset the platform
   acknowledged; a retry first asks the platform what it has;
3. `finish` makes the video, and the id is saved; then processing is waited out.

A scheduled post that is found more than `grace` after its time is marked missed and
reported, never posted late without a word.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError

from nbvideo.deliver.package import FORMS, PackageCheckFailed, check_metadata
from nbvideo.deliver.platforms import Publisher, PublishFailed, Remote, publisher_for
from nbvideo.errors import InvalidInput, NbvideoError, quote
from nbvideo.model.posts import FINAL, PLATFORMS, Post, new_post_id
from nbvideo.model.state import Metadata
from nbvideo.runtime.jobs import run_sync
from nbvideo.store.posts import PostStore

__all__ = ["GRACE", "RULES", "PlatformRules", "calendar", "cancel", "posts_table", "publish",
           "run_due"]

GRACE = timedelta(hours=24)


class PlatformRules(BaseModel):
    """What a platform accepts, from its upload documentation (late 2026)."""

    label: str
    presets: tuple[str, ...]  # the package presets made for it (empty: any)
    max_bytes: int
    min_s: float = 0.0
    max_s: float
    aspects: tuple[str, ...] = ()  # empty: any


GB, MB = 1024**3, 1024**2
RULES: dict[str, PlatformRules] = {
    # YouTube Data API videos.insert: 256 GB, 12 h; Shorts up to 3 min, vertical or square.
    "youtube": PlatformRules(label="YouTube", presets=("youtube", "shorts"), max_bytes=256 * GB,
                             max_s=12 * 3600),
    # TikTok Content Posting API: up to 4 GB, 3 s to 10 min.
    "tiktok": PlatformRules(label="TikTok", presets=("tiktok",), max_bytes=4 * GB, min_s=3,
                            max_s=600),
    # Instagram Graph API Reels: up to 300 MB, 3 s to 15 min, 0.01:1 to 10:1 (9:16 shown whole).
    "instagram": PlatformRules(label="Instagram", presets=("reels", "instagram-feed"),
                               max_bytes=300 * MB, min_s=3, max_s=900),
    # Facebook Graph API video (resumable): up to 10 GB, 4 h.
    "facebook": PlatformRules(label="Facebook", presets=("reels", "web", "youtube"),
                              max_bytes=10 * GB, min_s=1, max_s=4 * 3600),
    "dry-run": PlatformRules(label="Dry run", presets=(), max_bytes=10 * GB, max_s=4 * 3600),
}
SHORTS = {"max_s": 180.0, "aspects": ("9:16", "1:1")}
# Facebook Reels Publishing API: a reel is 3 to 90 s (developers.facebook.com/docs/video-api/
# guides/reels-publishing); a Page video takes the platform's own limits above.
FACEBOOK_REELS = {"min_s": 3.0, "max_s": 90.0}


def _check_platform(platform: Any) -> str:
    if platform not in PLATFORMS:
        raise InvalidInput(f"platform must be one of {', '.join(PLATFORMS)}, got "
                           f"{quote(str(platform))}")
    return str(platform)


def _when(when: Any, now: datetime) -> datetime | None:
    if when is None:
        return None
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            raise InvalidInput(f"when must be a date and time with its zone, such as "
                               f"'2026-12-24T09:00+01:00', got {quote(when)}") from None
    if not isinstance(when, datetime):
        raise InvalidInput(f"when must be a datetime or an ISO 8601 text such as "
                           f"'2026-12-24T09:00+01:00', got {type(when).__name__}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidInput(f"when {when.isoformat()} has no time zone; say which, e.g. "
                           f"'{when.isoformat()}+00:00' (a time without one is ambiguous)")
    return when.astimezone(UTC)


# --------------------------------------------------------------------------- the package

def _package_doc(folder: Path) -> dict[str, Any]:
    try:
        doc = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"package {folder.name}: its metadata.json cannot be read "
                           f"({type(exc).__name__}); make it again with p.package(...)") from None
    if not isinstance(doc, dict) or not {"preset", "files", "video", "metadata"} <= set(doc):
        raise InvalidInput(f"package {folder.name}: its metadata.json is not a package's; "
                           "make it again with p.package(...)")
    return doc


def find_package(root: Path, platform: str, package: str | None) -> tuple[Path, dict[str, Any]]:
    """The package folder to post and its metadata.json: the one named, else the newest
    made for this platform."""
    rules = RULES[platform]
    base = root / "packages"
    if package is not None:
        name = str(package)
        if not name or "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
            raise InvalidInput(f"package must be a package folder's name in packages/ (such "
                               f"as 'ad-reels'), got {quote(name)}")
        folder = base / name
        if not (folder / "metadata.json").is_file():
            have = sorted(d.name for d in base.glob("*") if (d / "metadata.json").is_file()) \
                if base.is_dir() else []
            raise InvalidInput(f"package {quote(name)} is not in {base}; packages: "
                               f"{', '.join(have) or 'none yet (make them with p.package)'}")
        doc = _package_doc(folder)
        if rules.presets and doc["preset"] not in rules.presets:
            raise InvalidInput(f"package {name} was made for {doc['preset']}, not "
                               f"{rules.label}; make one with p.package("
                               f"{list(rules.presets[:1])!r}) or name another")
        return folder, doc
    found = [d for d in base.glob("*") if (d / "metadata.json").is_file()] \
        if base.is_dir() else []
    found = [d for d in found if not rules.presets
             or _package_doc(d)["preset"] in rules.presets]
    if not found:
        wanted = " or ".join(rules.presets) or "any platform"
        raise InvalidInput(f"no package for {rules.label} in {base}: make one first with "
                           f"p.package([{', '.join(repr(p) for p in rules.presets[:1])}]) "
                           f"(presets: {wanted})")
    folder = max(found, key=lambda d: (d / "metadata.json").stat().st_mtime_ns)
    return folder, _package_doc(folder)


def check_package(platform: str, folder: Path, doc: dict[str, Any]) -> list[str]:
    """Every way the package breaks the platform's limits (empty: it may go)."""
    rules = RULES[platform]
    facts = doc["video"]
    preset = doc["preset"]
    problems: list[str] = []
    video = folder / doc["files"].get("video", "")
    size = video.stat().st_size if video.is_file() else 0
    if not video.is_file():
        problems.append(f"video: {video.name} is missing from the package")
    if size > rules.max_bytes:
        problems.append(f"video size: {size / MB:,.1f} MB; {rules.label} takes at most "
                        f"{rules.max_bytes / MB:,.0f} MB")
    reel = platform == "facebook" and preset == "reels"
    max_s = SHORTS["max_s"] if preset == "shorts" else FACEBOOK_REELS["max_s"] if reel else \
        rules.max_s
    min_s = FACEBOOK_REELS["min_s"] if reel else rules.min_s
    kind = " Shorts" if preset == "shorts" else " Reels" if reel else ""
    duration = float(facts.get("duration_s") or 0)
    if duration > max_s:
        problems.append(f"duration: {duration:g} s; {rules.label}{kind} takes at most "
                        f"{max_s:g} s")
    if duration < min_s:
        problems.append(f"duration: {duration:g} s; {rules.label}{kind} takes at least "
                        f"{min_s:g} s")
    w, h = int(facts.get("width") or 0), int(facts.get("height") or 0)
    aspects = SHORTS["aspects"] if preset == "shorts" else rules.aspects
    if aspects and w and h:
        shape = {16 / 9: "16:9", 9 / 16: "9:16", 1.0: "1:1", 4 / 5: "4:5"}
        got = min(shape, key=lambda r: abs(r - w / h))
        if shape[got] not in aspects or abs(got - w / h) > 0.02:
            problems.append(f"aspect: {w}x{h}; {rules.label}"
                            f"{' Shorts' if preset == 'shorts' else ''} takes "
                            f"{' or '.join(aspects)}")
    if preset in FORMS:
        try:
            meta = Metadata.model_validate(doc["metadata"])
        except ValidationError as exc:
            problems.append(f"metadata: {exc.errors()[0]['msg']}")
        else:
            problems += check_metadata(meta, preset)
    return problems


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- posting

async def _wait_processing(pub: Publisher, post: Post, save: Callable[[Post], None],
                           wait_s: float) -> Remote:
    remote = await pub.check(post)
    waited, i = 0.0, 0
    while remote.state == "processing" and waited < wait_s:
        pause = pub.poll_s[min(i, len(pub.poll_s) - 1)]
        await asyncio.sleep(pause)
        waited, i = waited + pause, i + 1
        remote = await pub.check(post)
        save(post)  # keeps the claim fresh while waiting
    return remote


async def _advance(pub: Publisher, post: Post, video: Path, store: PostStore,
                   wait_s: float) -> None:
    """Take a claimed post as far as it goes: upload (resuming), finish, processing."""
    if post.remote_id is None:
        if post.session is None:
            post.session = await pub.open(post, video)
            post.step("uploading", f"upload session opened ({post.size_bytes:,} bytes)")
            store.renew(post)  # saved before a byte is sent: a retry resumes this session
        have = await pub.offset(post.session)
        if isinstance(have, Remote):  # finished before, its answer lost
            post.remote_id, post.remote_url = have.id, have.url
            post.step("processing", "the platform had already made the video")
            store.renew(post)
        else:
            post.session.offset = have
            while post.session.offset < post.session.size:
                post.session.offset = await pub.send(post.session, video, post.session.offset)
                store.renew(post)
            remote = await pub.finish(post, post.session)
            post.remote_id, post.remote_url = remote.id, remote.url
            post.step("processing", f"uploaded; the platform's id is {remote.id}")
            store.renew(post)
    remote = await _wait_processing(pub, post, store.renew, wait_s)
    post.remote_url = remote.url or post.remote_url
    if remote.state == "posted":
        post.error = None
        post.step("posted", f"posted as {remote.id}")
    elif remote.state == "failed":
        post.error = remote.error or "the platform could not process the video"
        post.step("failed", post.error)


def send(root: Path, post_id: str, *, publisher: Publisher | None = None,
         wait_s: float = 120.0, now: datetime | None = None) -> Post:
    """Post (or carry on posting) one post. Returns it as it stands: posted, failed, still
    processing, or as another process holds it. A transient failure keeps the session and
    raises; calling again resumes."""
    store = PostStore(root)
    post = store.claim(post_id, now)
    if post is None:
        return store.load(post_id)
    folder = root / "packages" / post.package
    video = root / post.video
    try:
        if post.remote_id is None:
            doc = _package_doc(folder)
            problems = check_package(post.platform, folder, doc)
            if not video.is_file() or _sha256(video) != post.video_sha256:
                problems.append(f"video: {post.video} changed or was removed since the post "
                                "was made; make the package again and publish it anew")
            if problems:
                post.error = "; ".join(problems)
                post.step("failed", post.error)
                raise PackageCheckFailed(f"{RULES[post.platform].label} would refuse "
                                         f"package {post.package}: {post.error}")
        post.attempts += 1
        pub = publisher or publisher_for(post.platform)
        run_sync(_advance(pub, post, video, store, wait_s))
    except PublishFailed as exc:
        post.error = str(exc)
        if exc.transient:
            at = f"{post.session.offset:,} of {post.session.size:,} bytes" if post.session else \
                "before the upload began"
            post.note(f"stopped at {at}: {exc}")
            raise PublishFailed(f"{exc}; the upload stopped at {at}: publish again to resume "
                                f"it (post {post.id})", transient=True) from None
        post.step("failed", str(exc))
        raise
    except NbvideoError as exc:  # no token yet, say: kept as it was, with the reason
        if post.status not in FINAL:
            post.error = str(exc)
            post.note(f"not sent: {exc}")
        raise
    finally:
        store.release(post)
    return post


def publish(root: Path, platform: str, package: str | None = None, when: Any = None, *,
            again: bool = False, publisher: Publisher | None = None, wait_s: float = 120.0,
            now: datetime | None = None) -> Post:
    """Post a package to `platform` now, or record it for `when`. The same package and
    video already posted (or on its way) is that post, not a second one, unless `again`."""
    platform = _check_platform(platform)
    now = now or datetime.now(UTC)
    at = _when(when, now)
    folder, doc = find_package(root, platform, package)
    problems = check_package(platform, folder, doc)
    if problems:
        raise PackageCheckFailed(f"{RULES[platform].label} would refuse package "
                                 f"{folder.name}: " + "; ".join(problems))
    video = folder / doc["files"]["video"]
    sha = _sha256(video)
    store = PostStore(root)
    if not again:
        for old in store.all():
            if (old.platform, old.package, old.video_sha256) == (platform, folder.name, sha) \
                    and old.status not in ("failed", "canceled", "missed"):
                # one still waiting for its time is that post (asked for at another time, it
                # is refused: cancel it first); one due (or to go now) that stopped before
                # its upload opened, as a rate limit leaves it, is sent now
                waiting = old.status == "scheduled" and old.when is not None and old.when > now
                if waiting and old.when != at:
                    was = old.when.isoformat() if old.when else "now"
                    raise InvalidInput(
                        f"package {folder.name} is already scheduled on {platform} for {was} "
                        f"(post {old.id}); cancel it with p.cancel_post({old.id!r}) to change "
                        "its time, or pass again=True for a second post")
                if old.status in FINAL or waiting:
                    return old
                return send(root, old.id, publisher=publisher, wait_s=wait_s, now=now)
    fields = doc.get("fields") if isinstance(doc.get("fields"), dict) else {}
    post = Post(id=new_post_id(), platform=platform, package=folder.name,  # type: ignore[arg-type]
                video=video.relative_to(root).as_posix(), video_sha256=sha,
                size_bytes=video.stat().st_size, fields=fields, when=at, created_at=now,
                status="scheduled")
    post.step("scheduled", f"for {at.isoformat()}" if at else "to post now")
    store.save(post)
    if at is not None and at > now:
        return post
    return send(root, post.id, publisher=publisher, wait_s=wait_s, now=now)


def cancel(root: Path, post_id: str) -> Post:
    """Take a scheduled post off the schedule (one already on its way cannot be)."""
    store = PostStore(root)
    post = store.claim(post_id)
    if post is None or post.status != "scheduled":
        current = store.load(post_id)
        if post is not None:
            store.release(post)
        raise InvalidInput(f"post {post_id} is {current.status}; only a scheduled post can "
                           "be canceled")
    post.step("canceled", "canceled before it was due")
    store.release(post)
    return post


def run_due(roots: Iterable[Path], *, now: datetime | None = None, grace: timedelta = GRACE,
            publisher: Callable[[str], Publisher] | None = None,
            wait_s: float = 60.0) -> pd.DataFrame:
    """Post whatever is due in these projects, carry on posts left half-way (their process
    died), and mark missed what is more than `grace` late. One row per post touched:
    project, post, platform, status, note. Safe to run from cron: a post another runner
    holds is left to it, and none is ever posted twice."""
    now = now or datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for root in roots:
        store = PostStore(root)
        for post in store.all():
            due = post.status == "scheduled" and (post.when is None or post.when <= now)
            stuck = post.status in ("uploading", "processing")
            if not (due or stuck):
                continue
            if due and post.when is not None and now - post.when > grace:
                held = store.claim(post.id, now)
                if held is None:
                    continue
                late = now - post.when
                held.error = (f"due at {post.when.isoformat()}, found {late} later (more than "
                              f"the {grace} grace): not posted; publish it again or "
                              f"reschedule it")
                held.step("missed", held.error)
                store.release(held)
                rows.append(_row(root, held, held.error))
                continue
            try:
                got = send(root, post.id, wait_s=wait_s, now=now,
                           publisher=publisher(post.platform) if publisher else None)
                rows.append(_row(root, got, got.events[-1].note if got.events else ""))
            except Exception as exc:  # reported per post; the others still go
                rows.append(_row(root, store.load(post.id), str(exc)))
    return pd.DataFrame(rows, columns=["project", "post", "platform", "status", "when",
                                       "remote_id", "note"])


def _row(root: Path, post: Post, note: str) -> dict[str, Any]:
    return {"project": root.name, "post": post.id, "platform": post.platform,
            "status": post.status, "when": post.when, "remote_id": post.remote_id,
            "note": note}


def posts_table(root: Path) -> pd.DataFrame:
    """The project's posts, oldest first."""
    cols = ["post", "platform", "package", "status", "when", "remote_id", "remote_url",
            "attempts", "error", "created_at"]
    rows = [{"post": p.id, "platform": p.platform, "package": p.package, "status": p.status,
             "when": p.when, "remote_id": p.remote_id, "remote_url": p.remote_url,
             "attempts": p.attempts, "error": p.error, "created_at": p.created_at}
            for p in PostStore(root).all()]
    return pd.DataFrame(rows, columns=cols)


def calendar(roots: Iterable[Path]) -> pd.DataFrame:
    """Every post of these projects: what is scheduled, posted, failed or missed, per
    platform, in time order (the post's time, or when it was made for one posted at once)."""
    frames = []
    for root in roots:
        t = posts_table(root)
        if len(t):
            t.insert(0, "project", root.name)
            frames.append(t)
    cols = ["project", "post", "platform", "package", "status", "when", "remote_id",
            "remote_url", "attempts", "error", "created_at"]
    if not frames:
        return pd.DataFrame(columns=[*cols, "at"])
    out = pd.concat(frames, ignore_index=True)
    out["at"] = out["when"].where(out["when"].notna(), out["created_at"])
    return out.sort_values(["at", "project", "post"], ignore_index=True)
