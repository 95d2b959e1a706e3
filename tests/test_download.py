"""Output downloads: bounded, typed, atomic, only from allowed URLs and public addresses,
nothing left on failure."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpcore
import pytest

import nbvideo.providers.download as dl
from nbvideo.errors import InvalidInput
from nbvideo.providers import replicate_options
from nbvideo.providers.download import (
    DownloadError,
    Fetcher,
    TooLarge,
    URLExpired,
    URLNotAllowed,
    WrongContentType,
    allowed_hosts_from,
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


# ---- the address rule: nothing on the user's own network, checked at the moment of connecting


class RecordingNetwork(httpcore.AsyncNetworkBackend):
    """Stands in for the real network: records where we connect, connects nowhere."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: object = None) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        raise httpcore.ConnectError("test network: not connected")


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """host -> successive resolver answers (the last one repeats); calls are counted."""
    answers: dict[str, list[list[str]]] = {}
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        queue = answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(dl, "_resolve", resolve)
    answers["__calls__"] = calls  # type: ignore[assignment]
    return answers


def fetch_via(net: RecordingNetwork, url: str, out: Path, allowed: frozenset[str] = LOCAL
              ) -> object:
    async def go() -> object:
        client = Fetcher(allowed, network=net)
        try:
            return await download(url, out, max_bytes=1 << 20, content_types=(), client=client)
        finally:
            await client.aclose()
    return asyncio.run(go())


def test_dns_rebinding_cannot_move_the_connection_to_a_private_address(
        dns: dict[str, list[list[str]]], tmp_path: Path) -> None:
    # The first answer is public, every later one private: the check and the connection
    # must use the same answer, so we connect to the public address and never to 127.0.0.1.
    dns["cdn.example"] = [["93.184.216.34"], ["127.0.0.1"]]
    net = RecordingNetwork()
    with pytest.raises(DownloadError, match="could not download"):
        fetch_via(net, "https://cdn.example/clip.mp4?sig=s3cret", tmp_path / "a.mp4")
    assert net.connects == [("93.184.216.34", 443)]
    assert dns["__calls__"] == ["cdn.example"]  # type: ignore[comparison-overlap]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("answer", [
    ["10.1.2.3"], ["169.254.169.254"], ["::1"], ["::ffff:127.0.0.1"], ["127.0.0.1"],
    ["0.0.0.0"], ["100.64.0.1"], ["fd00::1"], ["224.0.0.1"],
    ["93.184.216.34", "192.168.1.10"],  # one private address among public ones is enough
])
def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(
        dns: dict[str, list[list[str]]], tmp_path: Path, answer: list[str]) -> None:
    dns["outputs.example"] = [answer]
    net = RecordingNetwork()
    with pytest.raises(URLNotAllowed) as err:
        fetch_via(net, "https://outputs.example/a.mp4?token=s3cret", tmp_path / "a.mp4")
    msg = str(err.value)
    assert "'outputs.example'" in msg and "only public addresses" in msg
    assert "s3cret" not in msg
    assert net.connects == [] and leftovers(tmp_path) == []


@pytest.mark.parametrize("url", [
    "https://169.254.169.254/latest/meta-data/?token=s3cret",
    "https://[::1]/a.mp4?token=s3cret",
    "https://10.0.0.7/a.mp4?token=s3cret",
    "https://[::ffff:127.0.0.1]/a.mp4?token=s3cret",
    "http://2130706433/a.mp4?token=s3cret",
    "https://2130706433/a.mp4?token=s3cret",
    "https://0x7f.1/a.mp4?token=s3cret",
    "https://user:pw@cdn.example/a.mp4?token=s3cret",
    "https://cdn.example:8443/a.mp4?token=s3cret",
])
def test_private_literal_and_odd_urls_are_refused_without_resolving_or_connecting(
        dns: dict[str, list[list[str]]], tmp_path: Path, url: str) -> None:
    dns["cdn.example"] = [["93.184.216.34"]]
    net = RecordingNetwork()
    with pytest.raises(URLNotAllowed) as err:
        fetch_via(net, url, tmp_path / "a.mp4")
    msg = str(err.value)
    host = url.split("//")[1].split("/")[0].rpartition("@")[2].split(":8443")[0].strip("[]")
    assert host.lower() in msg and "s3cret" not in msg and "pw" not in msg
    assert net.connects == [] and dns["__calls__"] == []  # type: ignore[comparison-overlap]


def test_a_redirect_to_a_private_host_is_refused(server: ReplicateDouble,
                                                 dns: dict[str, list[list[str]]],
                                                 tmp_path: Path) -> None:
    dns["internal.example"] = [["10.0.0.5"]]
    for target in ("https://internal.example/secret.mp4?k=s3cret",
                   "https://169.254.169.254/latest/meta-data/"):
        with pytest.raises(URLNotAllowed) as err:
            fetch(f"{server.base_url}/redirect?to={target}", tmp_path / "a.mp4")
        assert target.split("/")[2] in str(err.value) and "s3cret" not in str(err.value)
    assert leftovers(tmp_path) == []


def test_the_allowlist_names_hosts_exactly_and_refuses_wildcards(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert allowed_hosts_from(" 127.0.0.1, Localhost ,") == {"127.0.0.1", "localhost"}
    for text in ("*", "10.0.0.0/8", "*.example.com"):
        monkeypatch.setenv("NBVIDEO_DOWNLOAD_HOSTS", text)
        with pytest.raises(InvalidInput, match="NBVIDEO_DOWNLOAD_HOSTS entry"):
            replicate_options()


def test_an_output_that_does_not_play_is_deleted_and_refused_as_the_models_fault(
        tmp_path: Path) -> None:
    """Every vendor's fetch probes its download through one check: a cut-short or non-video
    file is removed (nothing half-made is kept as a take) and is a ProviderOutputError."""
    from nbvideo.providers.base import ProviderOutputError
    from nbvideo.providers.download import playable_video

    out = tmp_path / "clip.mp4"
    out.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)  # an MP4 cut short
    with pytest.raises(ProviderOutputError, match="the output of p1 is not a playable video"):
        asyncio.run(playable_video(out, "the output of p1"))
    assert not out.exists()
