"""Publishing to TikTok (deliver/platforms/tiktok.py) against a double of the Content
Posting API on 127.0.0.1, with its faults. Packages are written by hand, as in
test_publish.py, so nothing is rendered."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.deliver import publish as publishing
from nbvideo.deliver.platforms import PublishFailed, TikTokPublisher, publisher_for
from nbvideo.deliver.platforms.tiktok import chunk_plan
from nbvideo.keys import KeyDestinationRefused
from nbvideo.store.posts import PostStore
from tests.doubles.tiktok_double import TikTokDouble, start_tiktok_double
from tests.test_publish import write_package

MARKER = "tiktok-MARKER-5c4b3a29d8e7f6"
CHUNK = 64 * 1024  # the double takes chunks this small; TikTok's floor is 5 MB
SIZE = 4 * CHUNK + 1000  # four chunks, the last one with the trailing bytes


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch) -> Iterator[TikTokDouble]:
    d = start_tiktok_double(MARKER, min_chunk=CHUNK)
    monkeypatch.setenv("NBVIDEO_TIKTOK_TOKEN", MARKER)
    monkeypatch.setenv("NBVIDEO_TIKTOK_BASE_URL", d.base_url)
    monkeypatch.delenv("NBVIDEO_TIKTOK_PRIVACY", raising=False)
    yield d
    d.stop()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[nv.Project]:
    with nv.Project.open(tmp_path / "shoe", brief="15s ad for a trail shoe") as p:
        yield p


def client(monkeypatch: pytest.MonkeyPatch, **kw: object) -> TikTokPublisher:
    """Every publish gets this client: small chunks, no waiting between status checks."""
    pub = TikTokPublisher(chunk_bytes=CHUNK, chunk_min=CHUNK, poll_s=(0.01,), **kw)  # type: ignore[arg-type]
    monkeypatch.setattr(publishing, "publisher_for", lambda _platform: pub)
    return pub


def sent_file(project: nv.Project, name: str) -> bytes:
    return (project.path / "packages" / name / f"{name}.mp4").read_bytes()


def test_a_package_is_posted_in_chunks_with_its_caption_once(
        project: nv.Project, double: TikTokDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    name = write_package(project.path, size=SIZE)
    client(monkeypatch)
    post = project.publish("tiktok", name)
    assert post.status == "posted" and post.remote_id and post.remote_id.startswith("v_pub")
    assert post.remote_url == "https://www.tiktok.com/@trailhead/video/7300000000000000001"
    (video,) = double.videos()
    assert bytes(video["bytes"]) == sent_file(project, name)
    assert (video["chunk"], video["count"]) == (CHUNK, 4) and double.chunks == 4
    fields = json.loads((project.path / "packages" / name / "metadata.json").read_text())
    info = video["post_info"]
    assert info["title"] == fields["fields"]["caption"] == "Ridgeline trail shoe #trail"
    assert info["privacy_level"] == "SELF_ONLY"  # unaudited apps may post privately only
    assert info["disable_stitch"] is True  # the creator has stitches off
    assert project.publish("tiktok", name).id == post.id and double.inits == 1


def test_the_factory_sends_a_small_video_whole(
        project: nv.Project, double: TikTokDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    """publisher_for("tiktok") as a notebook gets it: the real 5 MB floor, so a 300 KB
    video is one chunk whose size is the video's."""
    double.min_chunk = 5 * 1024 * 1024
    monkeypatch.setattr(TikTokPublisher, "poll_s", (0.01,))
    assert isinstance(publisher_for("tiktok"), TikTokPublisher)
    name = write_package(project.path, size=300_000)
    post = project.publish("tiktok", name)
    assert post.status == "posted"
    (video,) = double.videos()
    assert (video["chunk"], video["count"]) == (300_000, 1)
    assert bytes(video["bytes"]) == sent_file(project, name)


def test_chunk_plan_keeps_tiktoks_rules() -> None:
    mb = 1024 * 1024
    assert chunk_plan(4 * mb, 10 * mb) == (4 * mb, 1)  # under 5 MB: whole
    assert chunk_plan(25 * mb + 7, 10 * mb) == (10 * mb, 2)  # the last takes the rest
    size = 4 * 1024 * mb  # 4 GB in 10 MB chunks would be 410: within 1000
    assert chunk_plan(size, 10 * mb) == (10 * mb, size // (10 * mb))
    chunk, count = chunk_plan(size, 5 * mb)  # 820 chunks of 5 MB: still within 1000
    assert count <= 1000 and size - (count - 1) * chunk <= 128 * mb


def test_a_dropped_connection_resumes_in_the_same_session(
        project: nv.Project, double: TikTokDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    name = write_package(project.path, size=SIZE)
    double.fail("drop", on="upload", after=2)  # the third chunk lands, its answer is lost
    client(monkeypatch)
    with pytest.raises(PublishFailed, match="connection dropped sending chunk 3 of 4") as err:
        project.publish("tiktok", name)
    assert err.value.transient
    (post,) = PostStore(project.path).all()
    assert post.status == "uploading" and post.session is not None
    assert post.session.offset == 2 * CHUNK  # what was acknowledged
    assert double.chunks == 3
    done = project.publish("tiktok", name)
    assert done.id == post.id and done.status == "posted" and done.attempts == 2
    assert double.inits == 1  # the same session: TikTok's uploaded_bytes said it had three
    assert double.chunks == 4
    (video,) = double.videos()
    assert bytes(video["bytes"]) == sent_file(project, name)


@pytest.mark.parametrize("fault, on, says", [
    ("rate_limit", "init", "rate_limit_exceeded, HTTP 429"),
    ("too_many_posts", "init", "daily post cap"),
    ("chunk_rejected", "upload", "TikTok rejected chunk 1 of 4"),
])
def test_a_transient_refusal_keeps_the_post_and_a_retry_posts_it_once(
        project: nv.Project, double: TikTokDouble, monkeypatch: pytest.MonkeyPatch,
        fault: str, on: str, says: str) -> None:
    name = write_package(project.path, size=SIZE)
    double.fail(fault, on=on)
    client(monkeypatch)
    with pytest.raises(PublishFailed, match=says) as err:
        project.publish("tiktok", name)
    assert err.value.transient and "publish again to resume" in str(err.value)
    (post,) = PostStore(project.path).all()
    assert post.status in ("scheduled", "uploading") and says.split(",")[0] in post.error
    done = project.publish("tiktok", name)  # the same post, resumed
    assert done.id == post.id and done.status == "posted"
    assert double.inits == 1 and len(double.videos()) == 1


def test_an_expired_token_fails_the_post_and_says_how_to_get_one(
        project: nv.Project, double: TikTokDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    name = write_package(project.path, size=SIZE)
    double.fail("expired_token", on="creator")
    client(monkeypatch)
    with pytest.raises(PublishFailed, match="access_token_invalid.*get a new user access "
                       "token") as err:
        project.publish("tiktok", name)
    assert not err.value.transient and double.inits == 0
    (post,) = PostStore(project.path).all()
    assert post.status == "failed" and "NBVIDEO_TIKTOK_TOKEN" in (post.error or "")


def test_failed_processing_is_a_failed_post_with_tiktoks_reason(
        project: nv.Project, double: TikTokDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    name = write_package(project.path, size=SIZE)
    double.fail("processing_failed", on="status", after=1)  # the first looks at the upload
    client(monkeypatch)
    post = project.publish("tiktok", name)
    assert post.status == "failed"
    assert post.error == "TikTok could not post the video: file_format_check_failed"
    assert double.inits == 1


@pytest.mark.parametrize("creator, kw, says", [
    ({"max_video_post_duration_sec": 10}, {}, "duration 15 s; this account may post at most "
                                              "10 s"),
    ({"privacy_level_options": ["SELF_ONLY"]}, {"privacy_level": "PUBLIC_TO_EVERYONE"},
     "may post as SELF_ONLY, not PUBLIC_TO_EVERYONE"),
])
def test_a_package_over_the_creators_limits_is_refused_before_init(
        project: nv.Project, double: TikTokDouble, monkeypatch: pytest.MonkeyPatch,
        creator: dict[str, object], kw: dict[str, object], says: str) -> None:
    name = write_package(project.path, size=SIZE, duration_s=15.0)
    double.creator.update(creator)
    client(monkeypatch, **kw)
    with pytest.raises(PublishFailed, match=says) as err:
        project.publish("tiktok", name)
    assert not err.value.transient and double.inits == 0 and double.chunks == 0
    assert project.posts["status"].tolist() == ["failed"]


def test_the_token_never_reaches_the_project_the_logs_or_an_error(
        project: nv.Project, double: TikTokDouble, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    name = write_package(project.path, size=SIZE)
    client(monkeypatch)
    double.fail("expired_token", on="init")  # the double echoes the token it was given
    with pytest.raises(PublishFailed) as err:
        project.publish("tiktok", name)
    assert "***" in str(err.value) and MARKER not in str(err.value)
    assert project.publish("tiktok", name, again=True).status == "posted"
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert MARKER.encode() not in f.read_bytes(), f
    assert PostStore(project.path).all()  # the post files were among them
    assert MARKER not in caplog.text and "chunk 4/4 sent" in caplog.text


@pytest.mark.parametrize("url, says", [
    ("https://api.openai.com/v1", "is openai's API"),
    ("http://tiktok.example.com", "plain http"),
])
def test_the_key_gate_refuses_another_host_for_the_token(
        project: nv.Project, double: TikTokDouble, monkeypatch: pytest.MonkeyPatch,
        url: str, says: str) -> None:
    name = write_package(project.path, size=SIZE)
    monkeypatch.setenv("NBVIDEO_TIKTOK_BASE_URL", url)
    with pytest.raises(KeyDestinationRefused, match=says):
        project.publish("tiktok", name)
    assert double.requests == [] and double.inits == 0


def test_the_cover_frame_the_package_chose_is_sent(
        project: nv.Project, double: TikTokDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    """p.package(thumbnail=...) records video_cover_timestamp_ms; it goes in post_info."""
    name = write_package(project.path, size=SIZE)
    doc_path = project.path / "packages" / name / "metadata.json"
    doc = json.loads(doc_path.read_text())
    doc["fields"]["video_cover_timestamp_ms"] = 2733
    doc_path.write_text(json.dumps(doc))
    client(monkeypatch)
    assert project.publish("tiktok", name).status == "posted"
    (video,) = double.videos()
    assert video["post_info"]["video_cover_timestamp_ms"] == 2733
