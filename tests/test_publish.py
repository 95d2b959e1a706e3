"""Publishing packages (deliver/publish.py) on the dry-run platform, with its faults.

Most tests post a package written by hand (a video file and its metadata.json, as
p.package writes them), so no render is needed; one slow test packages a real export."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

import nbvideo as nv
from nbvideo.cli import main
from nbvideo.deliver import publish as publishing
from nbvideo.deliver.package import PackageCheckFailed
from nbvideo.deliver.platforms import DryRunPlatform, PublishFailed
from nbvideo.deliver.platforms.dryrun import Faults
from nbvideo.errors import InvalidInput
from nbvideo.store.posts import PostStore

CHUNK = 256 * 1024
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def write_package(root: Path, preset: str = "tiktok", *, size: int = 4 * CHUNK + 1000,
                  duration_s: float = 15.0, width: int = 1080, height: int = 1920,
                  title: str = "Ridgeline trail shoe", hashtags: tuple[str, ...] = ("#trail",),
                  fields: dict[str, object] | None = None,
                  files: dict[str, tuple[str, bytes]] | None = None) -> str:
    """A package folder as p.package writes it: the video and metadata.json, with `fields`
    (default a caption) and any other `files` (key in metadata.json's files -> name, bytes)."""
    name = f"ad-{preset}"
    folder = root / "packages" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.mp4").write_bytes(os.urandom(size))
    listed = {"video": f"{name}.mp4"}
    for key, (file, data) in (files or {}).items():
        (folder / file).write_bytes(data)
        listed[key] = file
    meta = {"title": title, "description": "Stays dry on wet trails.",
            "hashtags": list(hashtags), "cta": "", "link": ""}
    if fields is None:
        fields = {"caption": f"{title} {' '.join(hashtags)}"}
    doc = {"platform": preset, "preset": preset, "fields": fields,
           "metadata": meta, "files": listed,
           "video": {"width": width, "height": height, "duration_s": duration_s, "fps": 30.0,
                     "size_bytes": size, "audio": True, "loudness_lufs": -14.0}}
    (folder / "metadata.json").write_text(json.dumps(doc))
    return name


@pytest.fixture
def project(tmp_path: Path) -> Iterator[nv.Project]:
    with nv.Project.open(tmp_path / "shoe", brief="15s ad for a trail shoe") as p:
        yield p


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The dry-run platform's folder, named relative to the working folder as a notebook
    would (`NBVIDEO_DRYRUN_PLATFORM=projects/platform`)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBVIDEO_DRYRUN_PLATFORM", "platform")
    return tmp_path / "platform"


def uses(monkeypatch: pytest.MonkeyPatch, pub: DryRunPlatform) -> DryRunPlatform:
    """Make `pub` the client every publish gets (to give it faults)."""
    monkeypatch.setattr(publishing, "publisher_for", lambda _platform: pub)
    return pub


def video_bytes(platform: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((platform / "videos").glob("*/video.mp4"))]


# --------------------------------------------------------------------------- posting

def test_a_package_is_posted_once_and_the_same_publish_is_that_post(
        project: nv.Project, platform: Path) -> None:
    name = write_package(project.path)
    post = project.publish("dry-run", name)
    assert post.status == "posted" and post.remote_id and post.attempts == 1
    sent = (project.path / "packages" / name / f"{name}.mp4").read_bytes()
    assert video_bytes(platform) == [sent]
    assert project.publish("dry-run", name).id == post.id  # a retry is the same post
    assert len(video_bytes(platform)) == 1
    again = project.publish("dry-run", name, again=True)
    assert again.id != post.id and len(video_bytes(platform)) == 2
    table = project.posts
    assert list(table["status"]) == ["posted", "posted"] and list(table["platform"]) == [
        "dry-run", "dry-run"]
    with nv.Project.open(project.path) as reopened:  # the posts are on disk
        assert list(reopened.posts["post"]) == [post.id, again.id]


def test_a_dropped_connection_resumes_where_it_stopped(
        project: nv.Project, platform: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = write_package(project.path, size=4 * CHUNK + 1000)  # five chunks
    uses(monkeypatch, DryRunPlatform(platform, faults=Faults(drop_after_chunks=2)))
    with pytest.raises(PublishFailed, match=r"stopped at 524,288 of 1,049,576 bytes: publish "
                       r"again to resume") as err:
        project.publish("dry-run", name)
    assert err.value.transient
    (post,) = PostStore(project.path).all()
    assert post.status == "uploading" and post.session is not None
    assert post.session.offset == 2 * CHUNK and post.claimed_by is None
    second = uses(monkeypatch, DryRunPlatform(platform))
    done = project.publish("dry-run", name)
    assert done.id == post.id and done.status == "posted" and done.attempts == 2
    assert second.chunks_sent == 3  # the rest only, in the session the first one opened
    sent = (project.path / "packages" / name / f"{name}.mp4").read_bytes()
    assert video_bytes(platform) == [sent]


def test_a_lost_answer_to_finish_never_makes_a_second_video(
        project: nv.Project, platform: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = write_package(project.path)
    uses(monkeypatch, DryRunPlatform(platform, faults=Faults(lose_finish_answer=True)))
    with pytest.raises(PublishFailed, match="no answer to the finish request"):
        project.publish("dry-run", name)
    assert len(video_bytes(platform)) == 1  # the platform made it; we never heard
    uses(monkeypatch, DryRunPlatform(platform))
    post = project.publish("dry-run", name)
    assert post.status == "posted" and len(video_bytes(platform)) == 1
    assert any("already made the video" in e.note for e in post.events)


def test_a_killed_kernels_upload_is_taken_over_but_a_live_one_is_left_alone(
        project: nv.Project, platform: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = write_package(project.path)
    uses(monkeypatch, DryRunPlatform(platform, faults=Faults(drop_after_chunks=1)))
    with pytest.raises(PublishFailed):
        project.publish("dry-run", name)
    store = PostStore(project.path)
    (post,) = store.all()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # another live process on this machine holds it: left to it
        post.claimed_by = f"{socket.gethostname()}:{sleeper.pid}"
        post.claimed_at = datetime.now(UTC)
        store.save(post)
        uses(monkeypatch, DryRunPlatform(platform))
        assert project.publish("dry-run", name).status == "uploading"
        assert not video_bytes(platform)
    finally:
        sleeper.kill()
        sleeper.wait()
    # that process is gone now (a killed kernel): the next publish carries its upload on
    assert project.publish("dry-run", name).status == "posted"
    assert len(video_bytes(platform)) == 1


def test_failed_processing_is_a_failed_post_and_a_new_publish_tries_again(
        project: nv.Project, platform: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = write_package(project.path)
    uses(monkeypatch, DryRunPlatform(platform, faults=Faults(fail_processing=True)))
    post = project.publish("dry-run", name)
    assert post.status == "failed" and "could not process the video" in (post.error or "")
    uses(monkeypatch, DryRunPlatform(platform))
    retry = project.publish("dry-run", name)
    assert retry.id != post.id and retry.status == "posted"


# --------------------------------------------------------------------------- limits and input

@pytest.mark.parametrize("platform_, preset, changes, says", [
    ("tiktok", "tiktok", {"duration_s": 700.0}, "duration: 700 s; TikTok takes at most 600 s"),
    ("tiktok", "tiktok", {"duration_s": 2.0}, "duration: 2 s; TikTok takes at least 3 s"),
    ("instagram", "reels", {"size": 301 * 1024 * 1024},
     "video size: 301.0 MB; Instagram takes at most 300 MB"),
    ("youtube", "shorts", {"width": 1920, "height": 1080},
     "aspect: 1920x1080; YouTube Shorts takes 9:16 or 1:1"),
    ("youtube", "shorts", {"duration_s": 200.0}, "YouTube Shorts takes at most 180 s"),
    ("youtube", "youtube", {"title": "x" * 120}, "title"),
])
def test_a_package_that_breaks_a_limit_is_refused_before_anything_is_sent(
        project: nv.Project, platform: Path, platform_: str, preset: str,
        changes: dict[str, object], says: str) -> None:
    size = changes.pop("size", 1000)
    if size > 10_000_000:  # a sparse file: the size without writing it
        name = write_package(project.path, preset, size=1000, **changes)  # type: ignore[arg-type]
        video = project.path / "packages" / name / f"{name}.mp4"
        with video.open("r+b") as f:
            f.truncate(size)  # type: ignore[arg-type]
    else:
        name = write_package(project.path, preset, size=size, **changes)  # type: ignore[arg-type]
    with pytest.raises(PackageCheckFailed, match=says):
        project.publish(platform_, name)
    assert project.posts.empty and not platform.exists()


@pytest.mark.parametrize("kwargs, says", [
    ({"platform": "myspace"}, "platform must be one of youtube, tiktok, instagram, facebook, "
                              "dry-run, got 'myspace'"),
    ({"platform": "dry-run", "package": "../../etc"}, "package must be a package folder's name"),
    ({"platform": "dry-run", "package": "ad-nope"}, "package 'ad-nope' is not in .*; "
                                                    "packages: ad-tiktok"),
    ({"platform": "instagram", "package": "ad-tiktok"}, "was made for tiktok, not Instagram"),
    ({"platform": "youtube"}, r"no package for YouTube .*p.package\(\['youtube'\]\)"),
    ({"platform": "dry-run", "when": datetime(2027, 1, 1, 9)}, "has no time zone"),
    ({"platform": "dry-run", "when": "next tuesday"}, "when must be a date and time"),
    ({"platform": "dry-run", "when": 1767225600}, "when must be a datetime or an ISO 8601"),
])
def test_bad_input_names_the_field_and_saves_nothing(
        project: nv.Project, platform: Path, kwargs: dict[str, object], says: str) -> None:
    write_package(project.path)
    with pytest.raises(InvalidInput, match=says):
        project.publish(**kwargs)  # type: ignore[arg-type]
    assert project.posts.empty


# --------------------------------------------------------------------------- the schedule

def test_a_schedule_posts_when_due_once_and_reports_a_missed_one(
        project: nv.Project, platform: Path, tmp_path: Path) -> None:
    # counted from a day a month after the run: a schedule is checked against the real clock,
    # so fixed dates turned into "posted at once" the day they passed
    day = datetime.now(UTC).date() + timedelta(days=30)

    def at(days: int, hour: int) -> datetime:
        return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) + timedelta(days=days)

    name = write_package(project.path)
    post = project.schedule("dry-run", f"{day.isoformat()}T09:00+01:00", name)
    assert post.status == "scheduled" and post.when == at(0, 8)
    early = publishing.run_due([project.path], now=at(0, 7))
    assert early.empty and not video_bytes(platform)
    due = publishing.run_due([project.path], now=at(0, 8) + timedelta(minutes=5))
    assert list(due["status"]) == ["posted"] and len(video_bytes(platform)) == 1
    assert publishing.run_due([project.path], now=at(0, 9)).empty
    assert len(video_bytes(platform)) == 1  # a second run never posts it again
    # one found more than a day late is reported, not posted
    assert project.schedule("dry-run", at(1, 9), name).id == post.id
    other = write_package(project.path, "reels")
    queued = project.schedule("dry-run", at(14, 9), other)
    assert project.schedule("dry-run", at(14, 9).astimezone(timezone(timedelta(hours=1))),
                            other).id == queued.id
    with pytest.raises(InvalidInput, match=rf"already scheduled on dry-run for "
                       rf"{at(14, 9).date().isoformat()}T09:00:00\+00:00 \(post post-\w+\); "
                       rf"cancel it"):
        project.schedule("dry-run", at(15, 9), other)
    project.cancel_post(queued.id)
    late = project.schedule("dry-run", at(1, 9), name, again=True)
    assert late.id != post.id and late.status == "scheduled"  # posted: again is a new post
    got = publishing.run_due([project.path], now=at(2, 10))
    assert list(got["status"]) == ["missed"] and "not posted" in got["note"][0]
    assert len(video_bytes(platform)) == 1


def test_the_cli_posts_what_is_due_and_exits_1_on_a_missed_post(
        project: nv.Project, platform: Path, tmp_path: Path) -> None:
    name = write_package(project.path)
    now = datetime.now(UTC)  # scheduled ten minutes ago, for five minutes ago: due now
    publishing.publish(project.path, "dry-run", name, now - timedelta(minutes=5),
                       now=now - timedelta(minutes=10))
    runner = CliRunner()
    ok = runner.invoke(main, ["publish", str(tmp_path), "--due"])
    assert ok.exit_code == 0, ok.output
    assert "posted" in ok.output and len(video_bytes(platform)) == 1
    assert runner.invoke(main, ["publish", str(tmp_path), "--due"]).output.strip() == \
        "nothing due"
    publishing.publish(project.path, "dry-run", name, now - timedelta(days=3), again=True,
                       now=now - timedelta(days=4))
    late = runner.invoke(main, ["publish", str(tmp_path), "--due"])
    assert late.exit_code == 1 and "missed" in late.output


def test_a_video_changed_after_scheduling_is_not_posted(
        project: nv.Project, platform: Path) -> None:
    name = write_package(project.path)
    post = publishing.publish(project.path, "dry-run", name, NOW + timedelta(hours=1), now=NOW)
    (project.path / post.video).write_bytes(b"something else")
    got = publishing.run_due([project.path], now=NOW + timedelta(hours=2))
    assert list(got["status"]) == ["failed"] and "changed or was removed" in got["note"][0]
    assert not platform.exists()


@pytest.mark.slow
def test_cancel_and_the_calendar(project: nv.Project, platform: Path, tmp_path: Path) -> None:
    name = write_package(project.path)
    now_post = project.publish("dry-run", name)
    other = write_package(project.path, "reels")
    queued = project.schedule("instagram", NOW + timedelta(days=2), other)
    assert project.cancel_post(queued.id).status == "canceled"
    with pytest.raises(InvalidInput, match="is posted; only a scheduled post can be canceled"):
        project.cancel_post(now_post.id)
    cal = nv.calendar(tmp_path)
    assert set(cal["status"]) >= {"posted", "canceled"}
    assert list(cal["project"].unique()) == ["shoe"] and cal["at"].is_monotonic_increasing
    fig = nv.calendar_chart(tmp_path, save_to=tmp_path / "posts.png")
    assert (tmp_path / "posts.png").stat().st_size > 1000 and "posted" in fig.axes[0].get_title()
    assert publishing.run_due([project.path], now=NOW + timedelta(days=3)).empty


# --------------------------------------------------------------------------- a real package

@pytest.mark.slow
def test_a_real_package_goes_up_whole(rendered: nv.Project, platform: Path) -> None:
    rendered.finish(music="bed")
    rendered.package(["tiktok"], accept=True)
    post = rendered.publish("dry-run")
    assert post.status == "posted" and post.package == "ad-tiktok"
    (sent,) = video_bytes(platform)
    assert sent == (rendered.path / post.video).read_bytes()
    fields = json.loads(next((platform / "videos").glob("*/video.json")).read_text())["fields"]
    assert fields["caption"].endswith("#Footwear") or "#" in fields["caption"]


def test_a_post_without_its_token_keeps_its_place_and_says_why(
        project: nv.Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """No token yet: nothing is sent, the post stays to go (setting the token and publishing
    again sends it, once) and the calendar says why it has not gone."""
    monkeypatch.delenv("NBVIDEO_TIKTOK_TOKEN", raising=False)
    monkeypatch.setattr("nbvideo.keys._keyring", lambda _vendor: None)  # no OS keyring
    name = write_package(project.path)
    with pytest.raises(nv.NbvideoError, match="NBVIDEO_TIKTOK_TOKEN"):
        project.publish("tiktok", name)
    row = project.posts.iloc[0]
    assert row["status"] == "scheduled" and "NBVIDEO_TIKTOK_TOKEN" in row["error"]
    assert PostStore(project.path).load(row["post"]).events[-1].note.startswith("not sent:")
