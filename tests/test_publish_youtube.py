"""Publishing to YouTube (deliver/platforms/youtube.py) against the YouTube double: the real
client library and resumable protocol on 127.0.0.1, with its faults."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.deliver import publish as publishing
from nbvideo.deliver.platforms import PublishFailed, publisher_for
from nbvideo.deliver.platforms.youtube import YouTubePublisher
from nbvideo.errors import InvalidInput
from nbvideo.keys import KeyDestinationRefused
from nbvideo.store.posts import PostStore
from tests import test_publish as publish_tests
from tests.doubles.youtube_double import YouTubeDouble, start_youtube_double

CHUNK = 256 * 1024
MARKER = "ya29.MARKER-7f3c9e1d-never-written"


def write_package(root: Path, *, size: int = 4 * CHUNK + 1000, language: str | None = None
                  ) -> str:
    """A YouTube package as p.package writes it: video, poster, captions, metadata.json."""
    fields = {"title": "Ridgeline trail shoe", "description": "Stays dry on wet trails.\n\n"
              "#trail #running", "tags": ["trail", "running"], "privacy_status": "private",
              "made_for_kids": None, "thumbnail": "poster.jpg", "captions": "captions.srt",
              "video": "ad-youtube.mp4"}
    if language is not None:  # packages made before Metadata.language have none
        fields["language"] = language
    files = {"poster": ("poster.jpg", b"\xff\xd8\xff\xe0" + os.urandom(2000)),
             "captions_srt": ("captions.srt",
                              b"1\n00:00:00,000 --> 00:00:02,000\nStays dry.\n")}
    return publish_tests.write_package(root, "youtube", size=size, width=1920, height=1080,
                                       hashtags=("#trail", "#running"), fields=fields,
                                       files=files)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[nv.Project]:
    with nv.Project.open(tmp_path / "shoe", brief="15s ad for a trail shoe") as p:
        yield p


@pytest.fixture
def youtube(monkeypatch: pytest.MonkeyPatch) -> Iterator[YouTubeDouble]:
    double = start_youtube_double(MARKER)
    monkeypatch.setenv("NBVIDEO_YOUTUBE_TOKEN", MARKER)
    monkeypatch.setenv("NBVIDEO_YOUTUBE_BASE_URL", double.base_url)
    client = publisher_for

    def small(platform: str) -> YouTubePublisher:
        pub = client(platform)
        assert isinstance(pub, YouTubePublisher)
        pub.chunk_bytes, pub.retry_pause_s, pub.poll_s = CHUNK, 0.0, (0.0,)
        return pub

    monkeypatch.setattr(publishing, "publisher_for", small)
    yield double
    double.stop()


def sent(project: nv.Project, name: str, file: str | None = None) -> bytes:
    return (project.path / "packages" / name / (file or f"{name}.mp4")).read_bytes()


def never_written(project: nv.Project, caplog: pytest.LogCaptureFixture,
                  *errors: BaseException) -> None:
    """The token is nowhere: project files (posts, ledger), logs, exception texts."""
    for f in project.path.rglob("*"):
        if f.is_file():
            assert MARKER.encode() not in f.read_bytes(), f
    assert MARKER not in caplog.text
    for e in errors:
        assert MARKER not in str(e) and MARKER not in repr(e)


def test_a_package_goes_up_whole_with_its_fields_thumbnail_and_captions(
        project: nv.Project, youtube: YouTubeDouble, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    name = write_package(project.path)
    post = project.publish("youtube", name)
    assert post.status == "posted" and youtube.inserts == 1 and youtube.chunks == 5
    (video,) = youtube.videos.values()
    assert video["bytes"] == sent(project, name)
    assert video["snippet"] == {"title": "Ridgeline trail shoe",
                                "description": "Stays dry on wet trails.\n\n#trail #running",
                                "tags": ["trail", "running"]}
    assert video["status"] == {"privacyStatus": "private"}
    assert video["thumbnail"] == sent(project, name, "poster.jpg")
    (caption,) = video["captions"]
    assert caption["track"] == sent(project, name, "captions.srt")
    assert caption["snippet"]["language"] == "en"
    assert post.remote_url == f"https://www.youtube.com/watch?v={post.remote_id}"
    notes = [e.note for e in post.events]
    assert "thumbnail set from poster.jpg" in notes and "captions added from captions.srt" in notes
    assert project.publish("youtube", name).id == post.id and youtube.inserts == 1
    never_written(project, caplog)


def test_the_ads_language_is_the_videos_and_the_captions(project: nv.Project,
                                                         youtube: YouTubeDouble) -> None:
    project.publish("youtube", write_package(project.path, language="de"))
    (video,) = youtube.videos.values()
    assert video["snippet"]["defaultLanguage"] == video["snippet"]["defaultAudioLanguage"] == "de"
    assert video["captions"][0]["snippet"]["language"] == "de"


def test_a_dropped_connection_resumes_in_the_same_session(
        project: nv.Project, youtube: YouTubeDouble, caplog: pytest.LogCaptureFixture) -> None:
    name = write_package(project.path)
    youtube.drop_after_chunks = 2  # the third chunk arrives, its answer never does
    with pytest.raises(PublishFailed, match="connection to YouTube dropped.*publish again to "
                       "resume") as err:
        project.publish("youtube", name)
    assert err.value.transient
    (post,) = PostStore(project.path).all()
    assert post.status == "uploading" and post.session and post.session.offset == 2 * CHUNK
    done = project.publish("youtube", name)
    assert done.id == post.id and done.status == "posted" and done.attempts == 2
    assert youtube.inserts == 1 and youtube.chunks == 5  # the kept third chunk not sent again
    (video,) = youtube.videos.values()
    assert video["bytes"] == sent(project, name)
    never_written(project, caplog, err.value)


def test_a_rejected_chunk_resumes_from_what_youtube_has(
        project: nv.Project, youtube: YouTubeDouble) -> None:
    name = write_package(project.path)
    youtube.fail_puts = 2  # two 503s in a row: asked what it has, sent again
    post = project.publish("youtube", name)
    assert post.status == "posted" and post.attempts == 1 and youtube.inserts == 1
    (video,) = youtube.videos.values()
    assert video["bytes"] == sent(project, name)


def test_a_lost_final_answer_finds_the_video(project: nv.Project,
                                             youtube: YouTubeDouble) -> None:
    name = write_package(project.path)
    youtube.lose_final_answer = True
    with pytest.raises(PublishFailed, match="dropped"):
        project.publish("youtube", name)
    assert len(youtube.videos) == 1  # made; we never heard
    post = project.publish("youtube", name)
    assert post.status == "posted" and youtube.inserts == 1 and len(youtube.videos) == 1
    assert post.remote_id in youtube.videos
    assert any("already made the video" in e.note for e in post.events)


def test_an_expired_token_fails_the_post_and_says_how_to_get_one(
        project: nv.Project, youtube: YouTubeDouble, caplog: pytest.LogCaptureFixture) -> None:
    name = write_package(project.path)
    youtube.expire_tokens = True
    with pytest.raises(PublishFailed, match=r"refused the token.*refresh token") as err:
        project.publish("youtube", name)
    assert not err.value.transient and youtube.inserts == 0
    (post,) = PostStore(project.path).all()
    assert post.status == "failed" and "401" in (post.error or "")
    never_written(project, caplog, err.value)


def test_an_exhausted_daily_quota_fails_the_post_naming_it(
        project: nv.Project, youtube: YouTubeDouble) -> None:
    name = write_package(project.path)
    youtube.quota_exceeded = True
    with pytest.raises(PublishFailed, match="daily YouTube Data API quota") as err:
        project.publish("youtube", name)
    assert not err.value.transient
    (post,) = PostStore(project.path).all()
    assert post.status == "failed" and "midnight Pacific" in (post.error or "")
    assert not youtube.videos


def test_failed_processing_is_a_failed_post_with_the_reason(
        project: nv.Project, youtube: YouTubeDouble) -> None:
    name = write_package(project.path)
    youtube.fail_processing = True
    post = project.publish("youtube", name)
    assert post.status == "failed" and post.error == "YouTube failed the video: codec"
    assert youtube.inserts == 1


def test_an_authorized_users_json_is_refreshed_and_never_written(
        project: nv.Project, youtube: YouTubeDouble, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    youtube.refresh_token = f"1//{MARKER}"
    info = {"client_id": "123.apps.googleusercontent.com", "client_secret": f"GOCSPX-{MARKER}",
            "refresh_token": youtube.refresh_token,
            "token_uri": "https://elsewhere.example/token"}  # ignored: never sent there
    monkeypatch.setenv("NBVIDEO_YOUTUBE_TOKEN", json.dumps(info))
    name = write_package(project.path)
    post = project.publish("youtube", name)
    assert post.status == "posted" and youtube.refreshes == 1 and youtube.inserts == 1
    never_written(project, caplog)


def test_the_key_gate_refuses_another_vendors_host(
        project: nv.Project, youtube: YouTubeDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBVIDEO_YOUTUBE_BASE_URL", "https://api.openai.com/v1")
    with pytest.raises(KeyDestinationRefused, match="openai's API"):
        YouTubePublisher()
    name = write_package(project.path)
    with pytest.raises(KeyDestinationRefused):
        project.publish("youtube", name)
    assert youtube.requests == []


def test_a_session_on_another_host_never_gets_the_token(
        project: nv.Project, youtube: YouTubeDouble) -> None:
    real = youtube.base_url
    youtube.base_url = real.replace("127.0.0.1", "localhost")  # its Location names another host
    name = write_package(project.path)
    with pytest.raises(PublishFailed, match="the token is not sent there") as err:
        project.publish("youtube", name)
    assert not err.value.transient
    assert [r for r in youtube.requests if r[0] == "PUT"] == []
    (post,) = PostStore(project.path).all()
    assert post.status == "failed" and post.session is None


def test_chunks_keep_youtubes_256_kib_rule(youtube: YouTubeDouble) -> None:
    with pytest.raises(InvalidInput, match="multiple of 256 KiB"):
        YouTubePublisher(chunk_bytes=CHUNK + 1)
