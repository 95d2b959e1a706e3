"""Facebook publishing (deliver/platforms/facebook.py) against the Graph API double: a `reels`
package as a Page reel (rupload host), a `web` or `youtube` package as a Page video (the
chunked resumable upload on /{page-id}/videos).

The packages are written by hand (tests/test_publish.write_package), so nothing renders; the
double serves the graph and upload hosts on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.deliver import publish as publishing
from nbvideo.deliver.package import PackageCheckFailed
from nbvideo.deliver.platforms import PublishFailed, publisher_for
from nbvideo.deliver.platforms.facebook import FacebookPublisher
from nbvideo.errors import InvalidInput
from nbvideo.keys import KeyDestinationRefused, MissingKey, key_destination
from nbvideo.store.posts import PostStore
from tests.doubles.facebook_double import REASON, FacebookDouble, start_facebook_double
from tests.test_publish import write_package

MARKER = "MARKER-facebook-token-52e1d07b"
CHUNK = 256 * 1024
SIZE = 4 * CHUNK + 1000  # five chunks
ALL = ["reels", "web", "youtube"]


@pytest.fixture
def fb(monkeypatch: pytest.MonkeyPatch) -> Iterator[FacebookDouble]:
    double = start_facebook_double(MARKER)
    monkeypatch.setenv("NBVIDEO_FACEBOOK_TOKEN", MARKER)
    monkeypatch.setenv("NBVIDEO_FACEBOOK_BASE_URL", double.base_url)
    monkeypatch.setenv("NBVIDEO_FACEBOOK_PAGE_ID", double.page_id)
    yield double
    double.stop()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[nv.Project]:
    with nv.Project.open(tmp_path / "shoe", brief="15s ad for a trail shoe") as p:
        yield p


def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every publish gets a client sending reels in 256 KB requests, with short pauses (the
    double's Page videos ask for 256 KB chunks themselves)."""
    monkeypatch.setattr(publishing, "publisher_for", lambda _platform: FacebookPublisher(
        chunk_bytes=CHUNK, poll_s=(0.01,)))


def package(p: nv.Project, preset: str, size: int = SIZE) -> str:
    """A package of `preset` with the fields p.package writes for its form."""
    vertical = preset == "reels"
    name = write_package(p.path, preset, size=size, width=1080 if vertical else 1920,
                         height=1920 if vertical else 1080)
    if not vertical:
        doc_path = p.path / "packages" / name / "metadata.json"
        doc = json.loads(doc_path.read_text())
        doc["fields"] = {"title": "Ridgeline trail shoe",
                         "description": "Stays dry on wet trails.",
                         "cta": "Shop now", "link": "https://trailhead.example/rain",
                         "video": f"{name}.mp4"}
        doc_path.write_text(json.dumps(doc))
    return name


def package_bytes(p: nv.Project, name: str) -> bytes:
    return (p.path / "packages" / name / f"{name}.mp4").read_bytes()


def test_a_reels_package_is_posted_once_as_a_reel_with_its_caption(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publishing, "publisher_for",  # the default: the rest in one request
                        lambda _platform: FacebookPublisher(poll_s=(0.01,)))
    name = package(project, "reels")
    post = project.publish("facebook", name)
    assert post.status == "posted" and post.error is None
    ((vid, video),) = fb.published().items()
    assert video.kind == "reel" and fb.chunks == 1  # one streamed request
    assert post.remote_id == vid and post.remote_url == f"https://www.facebook.com/reel/{vid}/"
    assert video.description == "Ridgeline trail shoe #trail"  # the package's caption field
    assert bytes(video.data) == package_bytes(project, name)
    assert project.publish("facebook", name).id == post.id and fb.publishes == 1
    assert any(u.startswith(f"/v24.0/{fb.page_id}/video_reels") for u in fb.urls)
    assert any(u.startswith("/video-upload/v24.0/") for u in fb.urls)
    # the token went in the Authorization header only
    assert set(fb.auth_headers) == {f"OAuth {MARKER}"} and fb.tokens_in_query == 0
    assert isinstance(publisher_for("facebook"), FacebookPublisher)


def test_a_reel_start_without_an_upload_url_uploads_to_the_documented_address(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    small_chunks(monkeypatch)
    fb.omit_upload_url = True
    name = package(project, "reels")
    assert project.publish("facebook", name).status == "posted"
    ((vid, _),) = fb.published().items()
    assert f"/video-upload/v24.0/{vid}" in fb.urls and fb.publishes == 1


@pytest.mark.parametrize("preset", ["web", "youtube"])
def test_a_landscape_package_is_posted_once_as_a_page_video_with_its_title(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch,
        preset: str) -> None:
    small_chunks(monkeypatch)
    name = package(project, preset)
    post = project.publish("facebook", name)
    assert post.status == "posted" and post.error is None
    ((vid, video),) = fb.published().items()
    assert video.kind == "video" and fb.chunks == 5  # the chunks Facebook asked for
    assert post.remote_url == f"https://www.facebook.com/{fb.page_id}/videos/{vid}/"
    assert video.title == "Ridgeline trail shoe"
    assert video.description == ("Stays dry on wet trails.\n\n"
                                 "Shop now https://trailhead.example/rain")
    assert bytes(video.data) == package_bytes(project, name)
    assert project.publish("facebook", name).id == post.id and fb.publishes == 1
    assert not any("video_reels" in u for u in fb.urls)
    assert set(fb.auth_headers) == {f"OAuth {MARKER}"} and fb.tokens_in_query == 0


@pytest.mark.parametrize("preset", ["reels", "web"])
def test_a_dropped_connection_mid_upload_resumes_in_the_same_session(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch,
        preset: str) -> None:
    small_chunks(monkeypatch)
    name = package(project, preset)
    fb.drop_after_chunks = 2
    with pytest.raises(PublishFailed, match=r"connection failed uploading bytes 524,288 .*"
                       r"stopped at 524,288 of 1,049,576 bytes: publish again") as err:
        project.publish("facebook", name)
    assert err.value.transient
    (post,) = PostStore(project.path).all()
    assert post.status == "uploading" and post.session and post.session.offset == 2 * CHUNK
    fb.drop_after_chunks = None
    done = project.publish("facebook", name)
    assert done.id == post.id and done.status == "posted" and done.attempts == 2
    assert fb.chunks == 5 and len(fb.videos) == 1 and fb.publishes == 1  # only the rest sent
    assert [bytes(v.data) for v in fb.published().values()] == [package_bytes(project, name)]


def test_a_reel_resumes_from_the_bytes_meta_holds_not_the_saved_offset(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash after the upload host took a chunk but before its answer was saved: the
    status's bytes_transferred says where to go on, so no byte is sent twice."""
    small_chunks(monkeypatch)
    name = package(project, "reels")
    fb.drop_after_chunks = 3
    with pytest.raises(PublishFailed):
        project.publish("facebook", name)
    store = PostStore(project.path)
    (post,) = store.all()
    assert post.session is not None
    post.session.offset = CHUNK  # as if the answers to chunks 2 and 3 never arrived
    store.save(post)
    fb.drop_after_chunks = None
    assert project.publish("facebook", name).status == "posted"
    assert fb.chunks == 5 and fb.publishes == 1


@pytest.mark.parametrize("preset", ["reels", "web"])
def test_a_lost_answer_to_the_last_chunk_sends_no_byte_again(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch,
        preset: str) -> None:
    """Meta took the last chunk but its answer never came: the retry learns that (a reel
    from the status, a Page video from Facebook's offsets) and goes straight to finishing."""
    small_chunks(monkeypatch)
    name = package(project, preset)
    fb.lose_chunk_answer = 5
    with pytest.raises(PublishFailed, match="connection failed uploading bytes 1,048,576"):
        project.publish("facebook", name)
    (post,) = PostStore(project.path).all()
    assert post.session and post.session.offset == 4 * CHUNK and fb.chunks == 5
    done = project.publish("facebook", name)
    assert done.status == "posted" and fb.chunks == 5 and fb.publishes == 1
    assert [bytes(v.data) for v in fb.published().values()] == [package_bytes(project, name)]


@pytest.mark.parametrize("preset, step", [("reels", "publishing the reel"),
                                          ("web", "publishing the video")])
def test_a_lost_finish_answer_does_not_publish_twice(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch,
        preset: str, step: str) -> None:
    small_chunks(monkeypatch)
    name = package(project, preset)
    fb.lose_finish_answer = True
    with pytest.raises(PublishFailed, match=f"connection failed {step}") as err:
        project.publish("facebook", name)
    assert err.value.transient and fb.publishes == 1  # posted; we never heard
    post = project.publish("facebook", name)
    assert post.status == "posted" and fb.publishes == 1
    ((vid, _),) = fb.published().items()
    assert post.remote_id == vid and post.remote_url and vid in post.remote_url
    assert any("already made the video" in e.note for e in post.events)


@pytest.mark.parametrize("preset", ["reels", "web"])
@pytest.mark.parametrize("fault, says", [
    ("expired_token", "Meta refused the Facebook Page token (code 190"),
    ("fail_processing", f"Facebook could not process the video: {REASON}"),
])
def test_a_fault_that_retrying_cannot_fix_fails_the_post_with_the_reason(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch,
        preset: str, fault: str, says: str) -> None:
    small_chunks(monkeypatch)
    name = package(project, preset)
    setattr(fb, fault, True)
    if fault == "fail_processing":
        post = project.publish("facebook", name)
    else:
        with pytest.raises(PublishFailed, match=re.escape(says)) as err:
            project.publish("facebook", name)
        assert not err.value.transient
        (post,) = PostStore(project.path).all()
    assert post.status == "failed" and says in (post.error or "")
    assert fb.publishes == 0
    if fault == "expired_token":  # says how to get a new one
        assert "new Page access token" in (post.error or "")
        assert "keyring set nbvideo facebook" in (post.error or "")


def test_an_upload_address_on_another_host_gets_no_token(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    small_chunks(monkeypatch)
    name = package(project, "reels")
    fb.foreign_uri = True
    with pytest.raises(PublishFailed, match="upload address on 'evil.example', not "
                       "rupload.facebook.com") as err:
        project.publish("facebook", name)
    assert not err.value.transient and PostStore(project.path).all()[0].status == "failed"
    assert fb.chunks == 0 and fb.publishes == 0


@pytest.mark.parametrize("preset, fault, says", [
    ("reels", "rate_limited", "Facebook's rate limit was reached starting the reel's upload "
                              "(code 4"),
    ("web", "rate_limited", "Facebook's rate limit was reached starting the video's upload "
                            "(code 4"),
    ("reels", "reject_chunks", "upload host refused uploading bytes 0 to 262,144: Request "
                               "processing failed"),
    ("web", "reject_chunks", "Facebook refused uploading bytes 0 to 262,144 (code 6000, "
                             "subcode 1363019): There was a problem"),
])
def test_a_rate_limit_or_a_refused_chunk_is_retried_and_posts_once(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch,
        preset: str, fault: str, says: str) -> None:
    small_chunks(monkeypatch)
    name = package(project, preset)
    setattr(fb, fault, 1)
    with pytest.raises(PublishFailed, match=re.escape(says)) as err:
        project.publish("facebook", name)
    assert err.value.transient
    (post,) = PostStore(project.path).all()
    assert post.status in ("scheduled", "uploading") and fb.publishes == 0
    done = project.publish("facebook", name)  # the same post, carried on
    assert done.id == post.id and done.status == "posted" and done.attempts == 2
    assert fb.publishes == 1 and len(fb.videos) == 1 and fb.chunks == 5


def test_a_page_video_chunk_at_the_wrong_offset_takes_facebooks_offsets(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    """Facebook answers a transfer from another offset with the offsets it wants (error
    subcode 1363037); the upload goes on from there instead of failing."""
    small_chunks(monkeypatch)
    name = package(project, "web")
    fb.drop_after_chunks = 3
    with pytest.raises(PublishFailed):
        project.publish("facebook", name)
    store = PostStore(project.path)
    (post,) = store.all()
    assert post.session is not None and post.session.offset == 3 * CHUNK
    post.session.offset = CHUNK  # a saved offset behind what Facebook holds
    store.save(post)
    fb.drop_after_chunks = None
    assert project.publish("facebook", name).status == "posted"
    assert fb.chunks == 5 and fb.publishes == 1
    assert [bytes(v.data) for v in fb.published().values()] == [package_bytes(project, name)]


def test_the_token_never_lands_in_files_logs_urls_or_errors(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    small_chunks(monkeypatch)
    texts = []
    for preset in ("reels", "web"):
        name = package(project, preset)
        fb.lose_finish_answer = True
        with pytest.raises(PublishFailed) as first:
            project.publish("facebook", name)
        texts.append(str(first.value))
        assert project.publish("facebook", name).status == "posted"
        fb.expired_token = True  # its error message echoes the token back
        with pytest.raises(PublishFailed) as second:
            project.publish("facebook", name, again=True)
        texts.append(str(second.value))
        assert "***" in texts[-1]  # echoed, and redacted
        fb.expired_token = False
    files = [f for f in project.path.rglob("*") if f.is_file()]
    assert any(f.parent.name == "posts" for f in files)
    assert not [f for f in files if MARKER.encode() in f.read_bytes()]
    assert MARKER not in caplog.text and caplog.text
    assert not [u for u in fb.urls if MARKER in u] and fb.tokens_in_query == 0
    assert not [t for t in texts if MARKER in t]
    assert MARKER not in repr(publisher_for("facebook"))


def test_the_token_is_not_sent_to_another_vendors_host_and_the_page_is_named(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBVIDEO_FACEBOOK_BASE_URL", "https://api.openai.com")
    with pytest.raises(KeyDestinationRefused, match="openai's API"):
        publisher_for("facebook")
    monkeypatch.setenv("NBVIDEO_FACEBOOK_BASE_URL", "http://graph.example.com")
    with pytest.raises(KeyDestinationRefused, match="plain http"):
        publisher_for("facebook")
    monkeypatch.setenv("NBVIDEO_FACEBOOK_BASE_URL", "https://graph.facebook.com")  # Meta's own
    assert publisher_for("facebook").base_url == "https://graph.facebook.com"
    # meta and facebook share it; neither takes another vendor's host
    assert key_destination("meta", "https://graph.facebook.com") == "https://graph.facebook.com"
    with pytest.raises(KeyDestinationRefused, match="tiktok's API"):
        key_destination("facebook", "https://open.tiktokapis.com")
    monkeypatch.setenv("NBVIDEO_FACEBOOK_BASE_URL", fb.base_url)
    monkeypatch.delenv("NBVIDEO_FACEBOOK_TOKEN")
    monkeypatch.setattr("nbvideo.keys._keyring", lambda _vendor: None)
    with pytest.raises(MissingKey, match=r"NBVIDEO_FACEBOOK_TOKEN.*keyring set nbvideo "
                                         r"facebook"):
        publisher_for("facebook")
    monkeypatch.delenv("NBVIDEO_FACEBOOK_PAGE_ID")
    with pytest.raises(InvalidInput, match="set in NBVIDEO_FACEBOOK_PAGE_ID"):
        publisher_for("facebook")
    assert not fb.urls


@pytest.mark.parametrize("preset, edit, says", [
    ("reels", {"extra": {"kind": "reel", "uri": "https://evil.example/video-upload/x"}},
     "upload address on 'evil.example'"),
    ("web", {"ref": "../me/accounts"}, "is not a Facebook video id"),
])
def test_a_hand_edited_post_record_cannot_steer_the_token(
        project: nv.Project, fb: FacebookDouble, monkeypatch: pytest.MonkeyPatch,
        preset: str, edit: dict[str, object], says: str) -> None:
    small_chunks(monkeypatch)
    name = package(project, preset)
    fb.drop_after_chunks = 1
    with pytest.raises(PublishFailed):
        project.publish("facebook", name)
    store = PostStore(project.path)
    (post,) = store.all()
    assert post.session is not None
    post.session = post.session.model_copy(update=edit)
    store.save(post)
    fb.drop_after_chunks, asked = None, len(fb.urls)
    with pytest.raises(PublishFailed, match=says) as err:
        project.publish("facebook", name)
    assert not err.value.transient and store.load(post.id).status == "failed"
    assert all(u.startswith("/v24.0/12") for u in fb.urls[asked:]) and fb.publishes == 0


@pytest.mark.parametrize("duration, says", [(120.0, "Facebook Reels takes at most 90 s"),
                                            (2.0, "Facebook Reels takes at least 3 s")])
def test_a_reel_outside_3_to_90_seconds_is_refused_before_anything_is_sent(
        project: nv.Project, fb: FacebookDouble, duration: float, says: str) -> None:
    name = write_package(project.path, "reels", size=CHUNK, duration_s=duration)
    with pytest.raises(PackageCheckFailed, match=says):
        project.publish("facebook", name)
    assert not fb.urls and not PostStore(project.path).all()
    web = package(project, "web")  # a Page video of two minutes is fine
    doc_path = project.path / "packages" / web / "metadata.json"
    doc = json.loads(doc_path.read_text())
    doc["video"]["duration_s"] = 120.0
    doc_path.write_text(json.dumps(doc))
    assert project.publish("facebook", web).status == "posted"
