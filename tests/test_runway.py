"""Runway provider: the real `runwayml` SDK over HTTP against the Runway API double."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from nbvideo.errors import InvalidInput
from nbvideo.keys import MissingKey, forget_keys
from nbvideo.media.ffmpeg import probe
from nbvideo.providers.base import (
    ClipRequest,
    FrameRequest,
    PredictionFailed,
    ProviderAPIError,
    RemoteVideoModel,
    Ticket,
    WaitTimeout,
)
from nbvideo.providers.runway import RunwayFrames, RunwayVideo, TaskRefused
from tests.doubles.runway_double import RunwayDouble, start_runway_double

KEY = "key_" + "0123456789abcdef" * 8  # Runway's key shape: key_ and 128 hex characters
HOSTS = frozenset({"127.0.0.1"})


@pytest.fixture
def double() -> Iterator[RunwayDouble]:
    d = start_runway_double(KEY)
    d.latency_s = 0.3
    yield d
    d.stop()


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("frame") / "frame.png"
    Image.new("RGB", (1280, 720), (90, 120, 60)).save(path)
    return path


def video(double: RunwayDouble, model: str = "gen4_turbo", **kw: Any) -> RunwayVideo:
    kw = {"api_key": KEY, "base_url": double.base_url, "typical_latency_s": double.latency_s,
          "poll_s": 0.05, "allowed_download_hosts": HOSTS, **kw}
    return RunwayVideo(model, **kw)


def frames(double: RunwayDouble, **kw: Any) -> RunwayFrames:
    kw = {"api_key": KEY, "base_url": double.base_url, "typical_latency_s": double.latency_s,
          "poll_s": 0.05, "allowed_download_hosts": HOSTS, **kw}
    return RunwayFrames("gen4_image", **kw)


def clip_req(frame: Path, seconds: float = 4.2, size: tuple[int, int] = (1280, 720),
             **kw: Any) -> ClipRequest:
    kw = {"prompt": "Boots splash through a creek", "camera": "push-in", "seed": 11, **kw}
    return ClipRequest(frame_path=frame, duration_s=seconds, fps=24, width=size[0],
                       height=size[1], **kw)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _clip(v: RunwayVideo, req: ClipRequest, out: Path) -> Any:
    try:
        return await v.clip(req, out)
    finally:
        await v.aclose()


def test_a_gen4_turbo_clip_for_a_4_2s_scene_is_asked_for_5s_and_costs_its_credits(
        double: RunwayDouble, frame: Path, tmp_path: Path) -> None:
    v = video(double)
    assert isinstance(v, RemoteVideoModel)
    res = run(_clip(v, clip_req(frame), tmp_path / "c.mp4"))
    [body] = double.bodies("gen4_turbo")
    assert body["model"] == "gen4_turbo" and body["ratio"] == "1280:720"
    assert body["duration"] == 5 and body["seed"] == 11
    assert body["promptText"] == "Boots splash through a creek. Slow camera push-in."
    assert body["promptImage"].startswith("data:image/png;base64,")
    assert base64.b64decode(body["promptImage"].split(",", 1)[1]) == frame.read_bytes()
    info = probe(tmp_path / "c.mp4")
    assert (info.width, info.height) == (1280, 720)
    assert info.duration_s == pytest.approx(5.0, abs=0.05)
    # 5 credits a second, $0.01 a credit: the catalog's price is what Runway charged
    assert res.usage.cost_usd == pytest.approx(0.25) == pytest.approx(double.charged_usd)
    assert (res.usage.units, res.usage.unit) == (5.0, "second")
    assert res.source_url is not None and "?" not in res.source_url  # no signed query kept
    for r in double.api_requests():  # every call carried the version and the key
        assert r["version"] == "2024-11-06" and r["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("model,size,seconds,expected", [
    ("gen4_turbo", (720, 1280), 3.0, {"ratio": "720:1280", "duration": 3}),
    ("gen4.5", (720, 720), 7.5, {"ratio": "960:960", "duration": 8}),
    ("veo3.1", (1920, 1080), 5.0, {"ratio": "1920:1080", "duration": 6, "audio": False}),
    ("veo3.1_fast", (720, 1280), 8.0, {"ratio": "720:1280", "duration": 8, "audio": False}),
])
def test_each_model_gets_its_ratio_duration_and_fields(
        double: RunwayDouble, frame: Path, tmp_path: Path, model: str,
        size: tuple[int, int], seconds: float, expected: dict[str, Any]) -> None:
    res = run(_clip(video(double, model), clip_req(frame, seconds, size), tmp_path / "c.mp4"))
    [body] = double.bodies(model)
    assert {k: body[k] for k in expected} == expected and body["model"] == model
    assert set(body) <= {"model", "promptImage", "promptText", "ratio", "duration", "seed",
                         "audio"}
    w, h = (int(x) for x in expected["ratio"].split(":"))
    assert (res.width, res.height) == (w, h)
    assert res.duration_s == pytest.approx(expected["duration"], abs=0.05)
    assert res.usage.cost_usd == pytest.approx(double.charged_usd)


@pytest.mark.parametrize("model,size,seconds,prompt,message", [
    ("gen4_turbo", (1920, 1080), 5.0, "a boot", "not 16:9 at 1080p"),
    ("gen4_turbo", (720, 900), 5.0, "a boot", "not 4:5 at 720p"),
    ("gen4_turbo", (1280, 720), 12.0, "a boot", "at most 10 s"),
    ("veo3.1", (720, 720), 4.0, "a boot", "not 1:1 at 720p"),
    ("gen4.5", (1280, 720), 5.0, "a boot " * 200, "at most 1000"),
])
def test_requests_a_model_cannot_make_are_refused_before_any_request(
        double: RunwayDouble, frame: Path, tmp_path: Path, model: str,
        size: tuple[int, int], seconds: float, prompt: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        run(_clip(video(double, model), clip_req(frame, seconds, size, prompt=prompt),
                  tmp_path / "c.mp4"))
    assert double.api_requests() == []


def test_a_frame_too_big_for_a_png_data_uri_goes_as_jpeg_under_5_mb(
        double: RunwayDouble, tmp_path: Path) -> None:
    noisy = tmp_path / "noisy.png"  # 1080p noise: a PNG of about 6 MB, over Runway's 5 MB
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)).save(noisy)
    assert noisy.stat().st_size * 4 / 3 > 5_000_000
    run(_clip(video(double, "veo3.1_fast"), clip_req(noisy, 4.0, (1920, 1080)),
              tmp_path / "c.mp4"))
    [body] = double.bodies("veo3.1_fast")
    assert body["promptImage"].startswith("data:image/jpeg;base64,")
    assert len(body["promptImage"]) <= 5_000_000


def test_a_rate_limited_create_is_retried_by_the_sdk_after_retry_after(
        double: RunwayDouble, frame: Path, tmp_path: Path) -> None:
    double.inject("create", 429, retry_after=0)
    run(_clip(video(double), clip_req(frame), tmp_path / "c.mp4"))
    posts = [r["status"] for r in double.api_requests() if r["method"] == "POST"]
    assert posts == [429, 200] and sum(double.creates.values()) == 1


def test_server_errors_on_a_status_request_are_retried(
        double: RunwayDouble, frame: Path, tmp_path: Path) -> None:
    double.inject("get", 502, times=2)
    res = run(_clip(video(double), clip_req(frame), tmp_path / "c.mp4"))
    assert res.duration_s == pytest.approx(5.0, abs=0.05)
    assert [r["status"] for r in double.api_requests() if r["method"] == "GET"][:2] == [502, 502]


def test_persistent_load_shedding_stops_after_the_sdks_retries_as_a_transient_error(
        double: RunwayDouble, frame: Path, tmp_path: Path) -> None:
    double.inject("create", 503, times=10)
    with pytest.raises(ProviderAPIError, match="HTTP 503") as err:
        run(_clip(video(double, max_retries=1), clip_req(frame), tmp_path / "c.mp4"))
    assert err.value.status == 503 and err.value.transient
    assert len(double.api_requests()) == 2 and not (tmp_path / "c.mp4").exists()


def test_a_create_whose_answer_is_lost_is_not_sent_again_so_one_task_is_billed(
        double: RunwayDouble, frame: Path, tmp_path: Path) -> None:
    """The SDK would retry the POST (it sends no idempotency key): a second paid task."""
    double.drop_create_answers = 1
    double.latency_s = 0.0
    with pytest.raises(ProviderAPIError, match="the task may exist") as err:
        run(_clip(video(double), clip_req(frame), tmp_path / "c.mp4"))
    assert not err.value.transient  # the clips phase does not send it again either
    posts = [r for r in double.api_requests() if r["method"] == "POST"]
    assert [r["status"] for r in posts] == ["dropped"]
    assert sum(double.creates.values()) == 1 and len(double.tasks) == 1
    [task] = double.tasks.values()
    assert double.charged_credits == task.charged(float("inf")) > 0  # one task billed
    assert "key_" not in str(err.value)
    # status requests keep the SDK's retries
    t = run(_submit(video(double), clip_req(frame)))
    double.inject("get", 502, times=2)
    assert run(_poll(video(double), t)).id == t.id


async def _submit(v: RunwayVideo, req: ClipRequest) -> Ticket:
    try:
        return await v.submit(req)
    finally:
        await v.aclose()


async def _poll(v: RunwayVideo, t: Ticket) -> Ticket:
    try:
        return await v.poll(t)
    finally:
        await v.aclose()


def test_a_wrong_key_is_refused_and_named_without_showing_it(
        double: RunwayDouble, frame: Path, tmp_path: Path) -> None:
    wrong = "key_" + "f" * 128
    with pytest.raises(ProviderAPIError, match="HTTP 401.*RUNWAYML_API_SECRET") as err:
        run(_clip(video(double, api_key=wrong), clip_req(frame), tmp_path / "c.mp4"))
    assert not err.value.transient and wrong not in str(err.value)
    assert wrong not in repr(video(double, api_key=wrong))


def test_the_double_refuses_a_request_without_the_version_header(double: RunwayDouble) -> None:
    import httpx

    r = httpx.get(f"{double.base_url}/v1/tasks/x", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 400 and "X-Runway-Version" in r.json()["error"]


def test_missing_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNWAYML_API_SECRET", raising=False)
    forget_keys()
    with pytest.raises(MissingKey, match="RUNWAYML_API_SECRET"):
        RunwayVideo("gen4_turbo")
    RunwayVideo("gen4_turbo", key_on_use=True)  # a reopened project reads without a key


# (failure code, error type, transient, charged): docs.dev.runwayml.com/errors/task-failures
FAILURES = [
    ("SAFETY.INPUT.IMAGE", TaskRefused, False, True),
    ("SAFETY.OUTPUT.VIDEO", TaskRefused, False, True),
    ("INPUT_PREPROCESSING.SAFETY.TEXT", TaskRefused, False, False),
    ("INTERNAL.BAD_OUTPUT.CODE01", TaskRefused, False, False),
    ("ASSET.INVALID", TaskRefused, False, False),
    ("INPUT_PREPROCESSING.INTERNAL", PredictionFailed, True, False),
    ("INTERNAL", PredictionFailed, True, False),
    ("THIRD_PARTY.UNAVAILABLE", PredictionFailed, True, False),
    (None, PredictionFailed, True, False),
    ("SOMETHING.NEW", TaskRefused, False, False),
]


@pytest.mark.parametrize("code,kind,transient,charged", FAILURES)
def test_task_failure_codes_map_onto_retryable_or_refused_errors(
        double: RunwayDouble, frame: Path, tmp_path: Path, code: str | None, kind: type,
        transient: bool, charged: bool) -> None:
    double.fail_next, double.failure_code = 1, code
    with pytest.raises(kind) as err:
        run(_clip(video(double), clip_req(frame), tmp_path / "c.mp4"))
    exc = err.value
    assert exc.transient is transient and isinstance(exc, PredictionFailed) is transient
    assert (code or "no failure code") in str(exc) and double.failure in str(exc)
    # what Runway charged for the failed task travels with the error, for the ledger
    assert exc.usage.cost_usd == pytest.approx(double.charged_usd)
    assert (double.charged_usd > 0) is charged
    assert double.deletes == []  # a failed task is not deleted (nor cancelled)
    assert not (tmp_path / "c.mp4").exists()


def test_a_bad_output_failure_says_what_to_change(double: RunwayDouble, frame: Path,
                                                  tmp_path: Path) -> None:
    double.fail_next = 1
    with pytest.raises(TaskRefused, match="clean frames"):
        run(_clip(video(double), clip_req(frame), tmp_path / "c.mp4"))


def test_cancel_during_wait_deletes_the_task_and_leaves_no_file(
        double: RunwayDouble, frame: Path, tmp_path: Path) -> None:
    double.latency_s = 30.0
    v = video(double, typical_latency_s=0.1)
    out = tmp_path / "c.mp4"

    async def go() -> None:
        task = asyncio.ensure_future(v.clip(clip_req(frame), out))
        while not double.status_requests:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await v.aclose()

    run(go())
    [tid] = double.tasks
    assert double.deletes == [tid] and double.tasks[tid].status(0) == "CANCELLED"
    assert not out.exists()


def test_throttled_and_pending_tasks_report_starting_then_processing(
        double: RunwayDouble, frame: Path, tmp_path: Path) -> None:
    double.throttle_s, double.latency_s = 0.3, 0.5
    v = video(double, typical_latency_s=0.05)
    seen: list[tuple[str, float | None]] = []

    async def go() -> Any:
        t = await v.submit(clip_req(frame))
        t = await v.wait(t, on_status=lambda t: seen.append((t.status, t.progress)))
        res = await v.fetch(t, tmp_path / "c.mp4")
        await v.aclose()
        return res

    res = run(go())
    statuses = [s for s, _ in seen]
    assert statuses[0] == "starting" and statuses[-1] == "succeeded"
    assert "processing" in statuses
    assert all(p is None or 0 <= p <= 1 for _, p in seen)
    assert res.usage.cost_usd == pytest.approx(0.25)


def test_a_saved_task_id_resumes_in_a_new_process_and_is_priced_from_its_charge(
        double: RunwayDouble, frame: Path, tmp_path: Path) -> None:
    double.latency_s = 0.5
    saved = run(video(double).submit(clip_req(frame, 7.0))).id  # what the take keeps
    fresh = video(double)  # a new process: knows nothing of the task

    async def resume() -> Any:
        t = await fresh.wait(Ticket(id=saved, model="gen4_turbo"))
        res = await fresh.fetch(t, tmp_path / "c.mp4")
        await fresh.aclose()
        return res

    res = run(resume())
    assert sum(double.creates.values()) == 1
    assert res.usage.cost_usd == pytest.approx(0.35) == pytest.approx(double.charged_usd)
    assert res.usage.units == 7.0 and res.duration_s == pytest.approx(7.0, abs=0.05)


def test_wait_gives_up_after_its_timeout_without_cancelling(
        double: RunwayDouble, frame: Path) -> None:
    double.latency_s = 30.0
    v = video(double, typical_latency_s=0.1)

    async def go() -> None:
        t = await v.submit(clip_req(frame))
        with pytest.raises(WaitTimeout, match="still (starting|processing) after 0.5 s"):
            await v.wait(t, timeout_s=0.5)
        await v.aclose()

    run(go())
    assert double.deletes == []


@pytest.mark.parametrize("aspect,size,ratio,credits", [
    ("16:9", (1280, 720), "1280:720", 5),
    ("4:5", (1080, 1350), "1080:1440", 8),
])
def test_gen4_image_frames_land_as_pngs_of_the_asked_size_priced_by_their_credits(
        double: RunwayDouble, tmp_path: Path, aspect: str, size: tuple[int, int], ratio: str,
        credits: int) -> None:
    product = tmp_path / "product.png"
    Image.new("RGB", (400, 400), (200, 30, 30)).save(product)
    req = FrameRequest(beat="hook", description="A boot in the rain.",
                       visual_prompt="trail boot in heavy rain", shot="close-up",
                       camera="static", aspect=aspect, width=size[0], height=size[1], seed=5,
                       reference_image=product)
    f = frames(double)

    async def go() -> Any:
        try:
            return await f.frame(req, tmp_path / "f.png")
        finally:
            await f.aclose()

    res = run(go())
    [body] = double.bodies("gen4_image")
    assert body["ratio"] == ratio and body["seed"] == 5
    assert body["referenceImages"][0]["tag"] == "product"
    assert body["referenceImages"][0]["uri"].startswith("data:image/png;base64,")
    assert "@product" in body["promptText"]
    with Image.open(tmp_path / "f.png") as im:
        assert (im.format, im.size) == ("PNG", size)
    assert res.usage.cost_usd == pytest.approx(credits * 0.01) == pytest.approx(
        double.charged_usd)


def test_a_key_given_with_set_keys_is_used_and_redacted(
        double: RunwayDouble, frame: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import nbvideo as nv
    from nbvideo.keys import redact

    monkeypatch.delenv("RUNWAYML_API_SECRET", raising=False)
    nv.set_keys(runway=KEY, prompt=False)  # keyword-only: set_keys(openai, replicate) unchanged
    try:
        v = RunwayVideo("gen4_turbo", base_url=double.base_url, poll_s=0.05,
                        typical_latency_s=0.3, allowed_download_hosts=HOSTS)
        run(_clip(v, clip_req(frame), tmp_path / "c.mp4"))
        assert double.api_requests()[0]["authorization"] == f"Bearer {KEY}"
        assert redact(f"sent {KEY}") == "sent ***"
    finally:
        forget_keys()


def test_the_next_poll_comes_from_the_time_running_not_the_time_queued() -> None:
    """Runway's progress counts from when a task left the queue. A task queued 20 s that shows
    10 % after 1 s of running has about 9 s to go: the poller must not sleep out the 30 s cap
    (180 s by its age) while the finished clip waits."""
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from nbvideo.providers.base import Ticket

    v = RunwayVideo("gen4_turbo", api_key=KEY, base_url="http://127.0.0.1:9",
                    typical_latency_s=30.0, poll_s=1.0, allowed_download_hosts=HOSTS)
    now = datetime.now(UTC)
    queued = Ticket(id="t1", model="gen4_turbo", created_at=now - timedelta(seconds=21),
                    polls=1)
    seen = v._ticket(SimpleNamespace(id="t1", status="RUNNING", progress=0.1, output=None,
                                     created_at=queued.created_at), queued)
    assert seen.status == "processing" and seen.started_at is not None  # first seen running
    ran_1s = seen.model_copy(update={"started_at": now - timedelta(seconds=1)})
    assert v._delay(ran_1s) <= 10.0
    later = v._ticket(SimpleNamespace(id="t1", status="RUNNING", progress=0.5, output=None,
                                      created_at=queued.created_at), ran_1s)
    assert later.started_at == ran_1s.started_at  # kept from the first sighting
    pending = v._ticket(SimpleNamespace(id="t1", status="PENDING", progress=None, output=None,
                                        created_at=queued.created_at), queued)
    assert pending.started_at is None  # still in the queue
