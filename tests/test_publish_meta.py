"""Instagram Reels publishing (deliver/platforms/meta.py) against the Graph API double.

The packages are written by hand (tests/test_publish.write_package), so nothing renders; the
double serves both the graph host and the upload host on 127.0.0.1."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.deliver import publish as publishing
from nbvideo.deliver.platforms import PublishFailed, publisher_for
from nbvideo.deliver.platforms.meta import InstagramReels
from nbvideo.errors import InvalidInput
from nbvideo.keys import KeyDestinationRefused
from nbvideo.store.posts import PostStore
from tests.doubles.meta_double import MetaDouble, start_meta_double
from tests.test_publish import write_package

MARKER = "MARKER-meta-token-7f3a9c51"
CHUNK = 256 * 1024


@pytest.fixture
def meta(monkeypatch: pytest.MonkeyPatch) -> Iterator[MetaDouble]:
    double = start_meta_double(MARKER)
    monkeypatch.setenv("NBVIDEO_META_TOKEN", MARKER)
    monkeypatch.setenv("NBVIDEO_META_BASE_URL", double.base_url)
    monkeypatch.setenv("NBVIDEO_INSTAGRAM_USER_ID", double.user_id)
    yield double
    double.stop()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[nv.Project]:
    with nv.Project.open(tmp_path / "shoe", brief="15s ad for a trail shoe") as p:
        yield p


def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every publish gets a client with 256 KB chunks and short pauses (the double's
    processing takes one look)."""
    monkeypatch.setattr(publishing, "publisher_for", lambda _platform: InstagramReels(
        chunk_bytes=CHUNK, poll_s=(0.01,)))


def package_bytes(p: nv.Project, name: str) -> bytes:
    return (p.path / "packages" / name / f"{name}.mp4").read_bytes()


def test_a_reels_package_is_posted_with_its_caption_and_its_link(
        project: nv.Project, meta: MetaDouble) -> None:
    meta.processing_polls = 0  # the real client's pauses are seconds: ready at once here
    name = write_package(project.path, "reels", size=300_000)
    post = project.publish("instagram", name)
    assert post.status == "posted" and post.error is None
    (media,) = meta.media.values()
    assert post.remote_id == media["id"] and post.remote_url == media["permalink"]
    assert media["caption"] == "Ridgeline trail shoe #trail"  # the package's caption field
    assert meta.videos[media["id"]] == package_bytes(project, name)
    assert project.publish("instagram", name).id == post.id and meta.publishes == 1
    # the token went in the Authorization header only
    assert set(meta.auth_headers) == {f"OAuth {MARKER}"} and meta.tokens_in_query == 0
    assert isinstance(publisher_for("instagram"), InstagramReels)


def test_a_dropped_connection_mid_upload_resumes_in_the_same_container(
        project: nv.Project, meta: MetaDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    small_chunks(monkeypatch)
    name = write_package(project.path, "reels", size=4 * CHUNK + 1000)  # five chunks
    meta.drop_after_chunks = 2
    with pytest.raises(PublishFailed, match=r"connection failed uploading bytes 524,288 .*"
                       r"stopped at 524,288 of 1,049,576 bytes: publish again") as err:
        project.publish("instagram", name)
    assert err.value.transient
    (post,) = PostStore(project.path).all()
    assert post.status == "uploading" and post.session and post.session.offset == 2 * CHUNK
    meta.drop_after_chunks = None
    done = project.publish("instagram", name)
    assert done.id == post.id and done.status == "posted" and done.attempts == 2
    assert meta.chunks == 5 and len(meta.containers) == 1 and meta.publishes == 1
    assert list(meta.videos.values()) == [package_bytes(project, name)]


def test_a_lost_publish_answer_finds_the_reel_instead_of_publishing_it_again(
        project: nv.Project, meta: MetaDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    small_chunks(monkeypatch)
    name = write_package(project.path, "reels")
    meta.lose_publish_answer = True
    with pytest.raises(PublishFailed, match="connection failed publishing the reel") as err:
        project.publish("instagram", name)
    assert err.value.transient and meta.publishes == 1  # posted; we never heard
    post = project.publish("instagram", name)
    assert post.status == "posted" and meta.publishes == 1
    (media,) = meta.media.values()
    assert post.remote_id == media["id"] and post.remote_url == media["permalink"]
    assert any("already made the video" in e.note for e in post.events)


@pytest.mark.parametrize("fault, says", [
    ("expired_token", "Meta refused the token (code 190"),
    ("fail_processing", "could not process the video: Error: 2207026"),
    ("foreign_uri", "upload address on 'evil.example', not rupload.facebook.com"),
])
def test_a_fault_that_retrying_cannot_fix_fails_the_post_with_the_reason(
        project: nv.Project, meta: MetaDouble, monkeypatch: pytest.MonkeyPatch,
        fault: str, says: str) -> None:
    small_chunks(monkeypatch)
    name = write_package(project.path, "reels")
    setattr(meta, fault, True)
    if fault == "fail_processing":
        post = project.publish("instagram", name)
    else:
        with pytest.raises(PublishFailed, match=says.replace("(", r"\(")) as err:
            project.publish("instagram", name)
        assert not err.value.transient
        (post,) = PostStore(project.path).all()
    assert post.status == "failed" and says in (post.error or "")
    assert meta.publishes == 0 and not meta.videos
    if fault == "expired_token":
        assert "keyring set nbvideo meta" in (post.error or "")


@pytest.mark.parametrize("fault, says", [
    ("rate_limited", "Meta's rate limit was reached creating the Reels container (code 4"),
    ("reject_chunks", "upload host refused uploading bytes 0 to 262,144: Request processing"),
])
def test_a_rate_limit_or_a_refused_chunk_is_retried_and_posts_once(
        project: nv.Project, meta: MetaDouble, monkeypatch: pytest.MonkeyPatch,
        fault: str, says: str) -> None:
    small_chunks(monkeypatch)
    name = write_package(project.path, "reels")
    setattr(meta, fault, 1)
    with pytest.raises(PublishFailed, match=says.replace("(", r"\(")) as err:
        project.publish("instagram", name)
    assert err.value.transient
    (post,) = PostStore(project.path).all()
    assert post.status in ("scheduled", "uploading") and meta.publishes == 0
    done = project.publish("instagram", name)  # the same post, carried on
    assert done.id == post.id and done.status == "posted" and done.attempts == 2
    assert meta.publishes == 1 and len(meta.containers) == 1


def test_the_token_never_lands_in_files_logs_urls_or_errors(
        project: nv.Project, meta: MetaDouble, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    small_chunks(monkeypatch)
    name = write_package(project.path, "reels")
    meta.lose_publish_answer = True
    texts = []
    with pytest.raises(PublishFailed) as first:
        project.publish("instagram", name)
    texts.append(str(first.value))
    posted = project.publish("instagram", name)
    assert posted.status == "posted"
    meta.expired_token = True  # its error message echoes the token back
    with pytest.raises(PublishFailed) as second:
        project.publish("instagram", name, again=True)
    texts.append(str(second.value))
    assert "***" in texts[1]  # echoed, and redacted
    files = [f for f in project.path.rglob("*") if f.is_file()]
    assert any(f.parent.name == "posts" for f in files)
    leaks = [f for f in files if MARKER.encode() in f.read_bytes()]
    assert not leaks
    assert MARKER not in caplog.text and caplog.text
    assert not [u for u in meta.urls if MARKER in u] and meta.tokens_in_query == 0
    assert not [t for t in texts if MARKER in t]


def test_the_token_is_not_sent_to_another_vendors_host_and_the_account_is_named(
        project: nv.Project, meta: MetaDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBVIDEO_META_BASE_URL", "https://api.openai.com")
    with pytest.raises(KeyDestinationRefused, match="openai's API"):
        publisher_for("instagram")
    monkeypatch.setenv("NBVIDEO_META_BASE_URL", meta.base_url)
    monkeypatch.delenv("NBVIDEO_INSTAGRAM_USER_ID")
    with pytest.raises(InvalidInput, match="set in NBVIDEO_INSTAGRAM_USER_ID"):
        publisher_for("instagram")
    assert not meta.urls


@pytest.mark.parametrize("edit, says", [
    ({"extra": {"uri": "https://evil.example/ig-api-upload/x", "caption": ""}},
     "upload address on 'evil.example'"),
    ({"ref": "../me/accounts"}, "is not an Instagram id"),
])
def test_a_hand_edited_post_record_cannot_steer_the_token(
        project: nv.Project, meta: MetaDouble, monkeypatch: pytest.MonkeyPatch,
        edit: dict[str, object], says: str) -> None:
    small_chunks(monkeypatch)
    name = write_package(project.path, "reels")
    meta.drop_after_chunks = 1
    with pytest.raises(PublishFailed):
        project.publish("instagram", name)
    store = PostStore(project.path)
    (post,) = store.all()
    assert post.session is not None
    post.session = post.session.model_copy(update=edit)
    store.save(post)
    meta.drop_after_chunks, asked = None, len(meta.urls)
    with pytest.raises(PublishFailed, match=says) as err:
        project.publish("instagram", name)
    assert not err.value.transient and store.load(post.id).status == "failed"
    assert all(u.startswith(("/v24.0/17900000000000000", "/ig-api-upload/v24.0/1790"))
               for u in meta.urls[asked:]) and meta.publishes == 0


def test_a_chosen_cover_frame_goes_up_as_thumb_offset(
        project: nv.Project, meta: MetaDouble) -> None:
    """p.package(thumbnail=2.5) records the cover time; the container is made with it."""
    meta.processing_polls = 0
    name = write_package(project.path, "reels", size=300_000)
    doc_path = project.path / "packages" / name / "metadata.json"
    doc = json.loads(doc_path.read_text())
    doc["fields"]["thumb_offset"] = 2500
    doc_path.write_text(json.dumps(doc))
    assert project.publish("instagram", name).status == "posted"
    (container,) = meta.containers.values()
    assert container.thumb_offset == "2500"
    plain = write_package(project.path, "instagram-feed", size=300_000)  # none chosen
    assert project.publish("instagram", plain).status == "posted"
    assert [c.thumb_offset for c in meta.containers.values()] == ["2500", None]
