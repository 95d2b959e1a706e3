"""No key to a host it does not belong to.

An OpenAI key or a Replicate token goes to its vendor's API, or to a server the user named
for that vendor (base_url= or the vendor's own *_BASE_URL). Redirects and output URLs on
another origin never see it: the doubles record the Host and Authorization of every request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from nbvideo import keys
from nbvideo.keys import KeyDestinationRefused, key_destination
from nbvideo.model.state import Brief
from nbvideo.providers import replicate_options
from nbvideo.providers.base import ClipRequest, PlanContext, ProviderError
from nbvideo.providers.openai import OpenAIPlanner
from nbvideo.providers.replicate import ReplicateVideo
from tests.doubles.openai_double import start_openai_double
from tests.doubles.replicate_double import ReplicateDouble
from tests.test_clip_routing import TOKEN

KEY = "sk-test-" + "d" * 30


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REPLICATE_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    keys.forget_keys()
    yield
    keys.forget_keys()


def test_vendor_default_or_a_url_named_for_that_vendor_is_allowed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert key_destination("openai") is None and key_destination("replicate") is None
    assert key_destination("openai", "https://llm.example.com/v1") == "https://llm.example.com/v1"
    assert key_destination("openai", "http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"
    monkeypatch.setenv("REPLICATE_BASE_URL", "https://proxy.example.com")
    assert key_destination("replicate") == "https://proxy.example.com"
    assert key_destination("openai") is None  # Replicate's setting is not OpenAI's


@pytest.mark.parametrize(("vendor", "url", "source", "message"), [
    ("openai", "https://proxy.example.com/v1", "REPLICATE_BASE_URL",
     "came from REPLICATE_BASE_URL, which is not openai's setting"),
    ("replicate", "https://proxy.example.com", "HTTPS_PROXY",
     "came from HTTPS_PROXY, which is not replicate's setting"),
    ("openai", "https://api.replicate.com/v1", "argument", "is replicate's API"),
    ("replicate", "https://api.openai.com", "argument", "is openai's API"),
    ("openai", "http://llm.example.com/v1", "argument", "plain http to llm.example.com"),
    ("replicate", "ftp://127.0.0.1/", "argument", "is not an http"),
])
def test_a_url_not_named_for_the_vendor_is_refused(vendor: str, url: str, source: str,
                                                   message: str) -> None:
    with pytest.raises(KeyDestinationRefused, match=message):
        key_destination(vendor, url, source=source)


def test_providers_refuse_a_base_url_that_is_another_vendors(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.replicate.com/v1")
    with pytest.raises(KeyDestinationRefused, match="OPENAI_BASE_URL='https://api.replicate"):
        OpenAIPlanner(api_key=KEY)
    monkeypatch.setenv("REPLICATE_BASE_URL", "https://api.openai.com/v1")
    with pytest.raises(KeyDestinationRefused, match="REPLICATE_BASE_URL=.*openai's API"):
        ReplicateVideo("wan-2.5-i2v-fast", api_token=TOKEN)


def test_an_openai_redirect_to_another_origin_never_carries_the_key() -> None:
    d = start_openai_double(api_key=KEY)
    try:
        port = d.base_url.split(":")[2].split("/")[0]
        other = f"http://localhost:{port}"
        d.fail("redirect", text=other)
        ctx = PlanContext(brief=Brief(text="15s ad for a cold brew can", duration_s=15,
                                      fps=24, aspect="9:16"))
        with pytest.raises(ProviderError):
            asyncio.run(OpenAIPlanner(api_key=KEY, base_url=d.base_url,
                                      max_retries=0).questions(ctx))
        first, *followed = d.requests
        assert first["headers"]["authorization"] == f"Bearer {KEY}"
        assert followed and all(r["headers"]["host"] == f"localhost:{port}" for r in followed)
        assert all("authorization" not in r["headers"] for r in followed)  # stripped
    finally:
        d.stop()


@pytest.fixture
def frame(tmp_path: Path) -> Path:
    path = tmp_path / "frame.png"
    Image.new("RGB", (1280, 720), (30, 60, 90)).save(path)
    return path


def clip(frame: Path) -> ClipRequest:
    return ClipRequest(frame_path=frame, prompt="Boots splash", camera="push-in", duration_s=4.0,
                       fps=24, width=1280, height=720, seed=1)


def other_origin(double: ReplicateDouble) -> tuple[str, str]:
    port = double.base_url.rsplit(":", 1)[1]
    return f"http://localhost:{port}", f"localhost:{port}"


def seen(double: ReplicateDouble, host: str) -> list[dict[str, Any]]:
    return [r for r in double.requests if r["host"] == host]


@pytest.mark.parametrize("via_redirect", [False, True])
def test_replicate_outputs_on_another_host_never_get_the_token(
        replicate_env: ReplicateDouble, frame: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, via_redirect: bool) -> None:
    monkeypatch.setenv("NBVIDEO_DOWNLOAD_HOSTS", "127.0.0.1,localhost")
    origin, host = other_origin(replicate_env)
    replicate_env.files_base = (f"{replicate_env.base_url}/redirect?to={origin}" if via_redirect
                                else origin)
    video = ReplicateVideo("wan-2.5-i2v-fast", typical_latency_s=0.4, **replicate_options())
    res = asyncio.run(video.clip(clip(frame), tmp_path / "c.mp4"))
    assert res.duration_s == pytest.approx(5.0, abs=0.05)
    api = [r for r in replicate_env.requests if r["path"].startswith("/v1/")]
    assert api and all(r["authorization"] == f"Bearer {TOKEN}" for r in api)
    files = [r for r in seen(replicate_env, host) if r["path"].startswith("/files/")]
    assert files and all(r["authorization"] is None for r in files)
    if via_redirect:  # the hop on the API's own host carried no token either
        hops = [r for r in replicate_env.requests if r["path"] == "/redirect"]
        assert hops and all(r["authorization"] is None for r in hops)


def test_a_replicate_api_redirect_to_another_origin_never_gets_the_token(
        replicate_env: ReplicateDouble, frame: Path) -> None:
    origin, host = other_origin(replicate_env)
    replicate_env.redirect_api_to = origin
    video = ReplicateVideo("wan-2.5-i2v-fast", typical_latency_s=0.4, retries=1,
                           **replicate_options())
    with pytest.raises(ProviderError):
        asyncio.run(video.submit(clip(frame)))
    assert replicate_env.requests[0]["authorization"] == f"Bearer {TOKEN}"
    assert all(r["authorization"] is None for r in seen(replicate_env, host))
    assert replicate_env.creates == {}


@pytest.mark.parametrize(("vendor", "var", "build"), [
    ("runway", "RUNWAYML_BASE_URL",
     lambda: __import__("nbvideo.providers.runway", fromlist=["RunwayVideo"]).RunwayVideo(
         "gen4_turbo", api_key="key_" + "r" * 40)),
    ("elevenlabs", "ELEVENLABS_BASE_URL",
     lambda: __import__("nbvideo.providers.elevenlabs", fromlist=["ElevenLabsSpeech"])
     .ElevenLabsSpeech("eleven-multilingual-v2", api_key="sk_" + "e" * 40)),
    ("heygen", "HEYGEN_BASE_URL",
     lambda: __import__("nbvideo.providers.heygen", fromlist=["HeyGenPresenter"])
     .HeyGenPresenter("heygen-avatar", api_key="hg_" + "h" * 40)),
])
def test_the_newer_vendors_keys_pass_the_same_gate(
        monkeypatch: pytest.MonkeyPatch, vendor: str, var: str, build: Any) -> None:
    monkeypatch.setenv(var, "https://api.openai.com/v1")  # another vendor's API
    with pytest.raises(KeyDestinationRefused, match=f"the {vendor} key is not sent"):
        build()
    monkeypatch.setenv(var, "http://media.example.com")  # in clear, off this machine
    with pytest.raises(KeyDestinationRefused, match="unencrypted"):
        build()
    monkeypatch.setenv(var, "http://127.0.0.1:9")  # a double on this machine: named, allowed
    assert build().base_url.rstrip("/") == "http://127.0.0.1:9"
    monkeypatch.delenv(var)
    # unset: the vendor's own API (ElevenLabs' client is given its default when it is built)
    assert keys.VENDOR_HOSTS[vendor] in (build().base_url or "https://api.elevenlabs.io")
