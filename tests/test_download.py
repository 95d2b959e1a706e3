"""Output downloads: bounded, typed, atomic, only from allowed URLs, nothing left on failure."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbvideo.providers.download import (
    TooLarge,
    URLExpired,
    URLNotAllowed,
    WrongContentType,
    download,
)
from tests.doubles.replicate_double import ReplicateDouble, start_replicate_double

LOCAL = frozenset({"127.0.0.1"})
DATA = bytes(range(256)) * 800  # 204,800 bytes: several chunks


@pytest.fixture
def server() -> Iterator[ReplicateDouble]:
    d = start_replicate_double("r8_" + "x" * 30)
    yield d
    d.stop()


def fetch(url: str, out: Path, **kw: object) -> object:
    kw.setdefault("max_bytes", 1 << 20)
    kw.setdefault("content_types", ("video/mp4",))
    kw.setdefault("allowed_hosts", LOCAL)
    return asyncio.run(download(url, out, **kw))  # type: ignore[arg-type]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_download_lands_atomically_with_size_hash_and_type(server: ReplicateDouble,
                                                           tmp_path: Path) -> None:
    url = server.add_file("clip.mp4", DATA, "video/mp4")
    out = tmp_path / "clips" / "s1.mp4"
    res = fetch(url + "?sig=abc", out)
    assert out.read_bytes() == DATA
    assert res.size_bytes == len(DATA) and res.sha256 == hashlib.sha256(DATA).hexdigest()
    assert res.content_type == "video/mp4"
    assert res.source_url == url  # the signed query string is not recorded
    assert leftovers(out.parent) == ["s1.mp4"]


def test_plain_http_to_a_host_not_allowed_is_refused_before_any_request(
        server: ReplicateDouble, tmp_path: Path) -> None:
    url = server.add_file("clip.mp4", DATA, "video/mp4")
    with pytest.raises(URLNotAllowed, match="only https://"):
        fetch(url, tmp_path / "a.mp4", allowed_hosts=frozenset())
    with pytest.raises(URLNotAllowed):
        fetch("ftp://example.com/a.mp4", tmp_path / "a.mp4")
    assert server.requests == [] and leftovers(tmp_path) == []


def test_redirects_are_followed_only_to_allowed_urls(server: ReplicateDouble,
                                                     tmp_path: Path) -> None:
    url = server.add_file("clip.mp4", DATA, "video/mp4")
    out = tmp_path / "a.mp4"
    fetch(f"{server.base_url}/redirect?to={url}", out)
    assert out.read_bytes() == DATA
    elsewhere = url.replace("127.0.0.1", "localhost")
    with pytest.raises(URLNotAllowed, match="localhost"):
        fetch(f"{server.base_url}/redirect?to={elsewhere}", tmp_path / "b.mp4")
    assert leftovers(tmp_path) == ["a.mp4"]


def test_oversized_body_is_refused_by_its_declared_length(server: ReplicateDouble,
                                                          tmp_path: Path) -> None:
    url = server.add_file("big.mp4", DATA, "video/mp4")
    with pytest.raises(TooLarge) as err:
        fetch(url + "?token=s3cret", tmp_path / "a.mp4", max_bytes=100_000)
    msg = str(err.value)
    assert url in msg and "s3cret" not in msg and "100,000 bytes limit" in msg
    assert leftovers(tmp_path) == []


def test_oversized_body_without_a_length_is_cut_off_while_streaming(server: ReplicateDouble,
                                                                     tmp_path: Path) -> None:
    server.chunked_files = True
    url = server.add_file("big.mp4", DATA, "video/mp4")
    with pytest.raises(TooLarge, match="sent more than"):
        fetch(url, tmp_path / "a.mp4", max_bytes=100_000)
    assert leftovers(tmp_path) == []
    fetch(url, tmp_path / "ok.mp4")  # the same chunked body within the limit is fine
    assert (tmp_path / "ok.mp4").read_bytes() == DATA


def test_wrong_content_type_is_refused_and_named(server: ReplicateDouble,
                                                 tmp_path: Path) -> None:
    url = server.add_file("page", b"<html>sign in</html>", "text/html; charset=utf-8")
    with pytest.raises(WrongContentType, match="is text/html, expected video/mp4"):
        fetch(url, tmp_path / "a.mp4")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("status", [404, 410])
def test_expired_provider_url_says_so(server: ReplicateDouble, tmp_path: Path,
                                      status: int) -> None:
    url = server.add_file("clip.mp4", DATA, "video/mp4")
    server.inject("file", status)
    out = tmp_path / "a.mp4"
    out.write_bytes(b"previous take")
    with pytest.raises(URLExpired, match=f"provider URL expired \\(HTTP {status}\\)"):
        fetch(url + "?X-Amz-Signature=zzz", out)
    assert out.read_bytes() == b"previous take"  # the existing file is untouched
    assert leftovers(tmp_path) == ["a.mp4"]


def test_cancel_mid_download_removes_the_partial_file(server: ReplicateDouble,
                                                      tmp_path: Path) -> None:
    server.slow_download_s = 5.0
    url = server.add_file("clip.mp4", DATA * 4, "video/mp4")

    async def go() -> None:
        task = asyncio.ensure_future(download(url, tmp_path / "a.mp4", max_bytes=1 << 22,
                                              content_types=("video/mp4",),
                                              allowed_hosts=LOCAL))
        while not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert leftovers(tmp_path) == []
