"""Replicate provider: the real `replicate` client over HTTP against the API double."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from nbvideo.errors import InvalidInput
from nbvideo.keys import MissingKey, forget_keys
from nbvideo.media.ffmpeg import probe
from nbvideo.providers import replicate_reconcile
from nbvideo.providers.base import (
    ClipRequest,
    CreateMayExist,
    FrameRequest,
    ProviderAPIError,
    RemoteVideoModel,
    VideoModel,
)
from nbvideo.providers.download import TooLarge, URLExpired, WrongContentType
from nbvideo.providers.replicate import (
    PredictionFailed,
    ProviderError,
    ReplicateFrames,
    ReplicateVideo,
    Ticket,
    WaitTimeout,
)
from tests.doubles.replicate_double import ReplicateDouble, start_replicate_double

TOKEN = "r8_" + "x" * 30
WAN = "wan-video/wan-2.5-i2v-fast"


@pytest.fixture
def double() -> Iterator[ReplicateDouble]:
    d = start_replicate_double(TOKEN)
    d.latency_s = 0.2
    yield d
    d.stop()


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("frame") / "frame.png"
    Image.new("RGB", (1280, 720), (90, 120, 60)).save(path)
    return path


def video(double: ReplicateDouble, model: str = "wan-2.5-i2v-fast", **kw: Any) -> ReplicateVideo:
    kw = {"api_token": TOKEN, "base_url": double.base_url, "typical_latency_s": double.latency_s,
          "sync_wait_s": 0, "backoff_s": 0.05, "allowed_download_hosts": {"127.0.0.1"}, **kw}
    return ReplicateVideo(model, **kw)


def clip_req(frame: Path, seconds: float = 4.2, size: tuple[int, int] = (1280, 720),
             **kw: Any) -> ClipRequest:
    return ClipRequest(frame_path=frame, prompt="Boots splash through a creek", camera="push-in",
                       duration_s=seconds, fps=24, width=size[0], height=size[1], seed=11, **kw)


def frame_req(aspect: str, width: int, height: int) -> FrameRequest:
    return FrameRequest(scene_number=1, beat="hook", description="A boot in the rain.",
                        visual_prompt="trail boot in heavy rain", shot="close-up",
                        camera="static", aspect=aspect, width=width, height=height, seed=5)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_flux_frame_lands_as_png_of_the_asked_aspect_priced_per_image(
        double: ReplicateDouble, tmp_path: Path) -> None:
    frames = ReplicateFrames(api_token=TOKEN, base_url=double.base_url,
                             allowed_download_hosts={"127.0.0.1"})
    out = tmp_path / "f.png"
    res = run(frames.frame(frame_req("9:16", 720, 1280), out))
    with Image.open(out) as im:
        assert (im.format, im.size) == ("PNG", (720, 1280))
    (pred_id,) = double._preds
    assert res.usage.cost_usd == pytest.approx(0.003) and res.usage.request_id == pred_id
    assert double.charged_usd == pytest.approx(res.usage.cost_usd)
    create = next(r for r in double.requests if r["method"] == "POST")
    assert create["prefer"] == "wait=6" and create["body"]["input"]["aspect_ratio"] == "9:16"
    assert create["body"]["input"]["output_format"] == "png"
    assert double.status_requests == {}  # the synchronous wait returned the result


def test_flux_webp_output_is_converted_to_png(double: ReplicateDouble, tmp_path: Path) -> None:
    double.force_image_format = "webp"
    frames = ReplicateFrames(api_token=TOKEN, base_url=double.base_url,
                             allowed_download_hosts={"127.0.0.1"})
    run(frames.frame(frame_req("4:5", 864, 1080), tmp_path / "f.png"))
    with Image.open(tmp_path / "f.png") as im:
        assert (im.format, im.size) == ("PNG", (864, 1080))
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]


def test_wan_clip_for_a_4_2s_scene_is_asked_for_5s_and_probes_5s(
        double: ReplicateDouble, frame: Path, tmp_path: Path) -> None:
    v = video(double)
    assert isinstance(v, VideoModel) and isinstance(v, RemoteVideoModel)
    res = run(v.clip(clip_req(frame, 4.2), tmp_path / "c.mp4"))
    assert double.last_input(WAN)["duration"] == 5
    info = probe(tmp_path / "c.mp4")
    assert (info.width, info.height, info.duration_s) == (1280, 720, 5.0)
    assert (res.width, res.height, res.duration_s) == (1280, 720, 5.0)
    assert res.usage.units == 5 and res.usage.cost_usd == pytest.approx(5 * 0.068)
    assert res.usage.request_id in double._preds
    assert double.charged_usd == pytest.approx(res.usage.cost_usd)


@pytest.mark.parametrize("model,size,seconds,expected", [
    ("wan-2.5-i2v-fast", (1280, 720), 4.2,
     {"duration": 5, "resolution": "720p", "seed": 11, "enable_prompt_expansion": False}),
    ("wan-2.5-i2v-fast", (1080, 1920), 7.0, {"duration": 10, "resolution": "1080p"}),
    ("kling-v2.1", (1280, 720), 3.0, {"duration": 5, "mode": "standard"}),
    ("kling-v2.1", (1920, 1080), 9.5, {"duration": 10, "mode": "pro"}),
    ("veo-3-fast", (720, 1280), 4.2, {"duration": 6, "resolution": "720p", "seed": 11,
                                      "aspect_ratio": "9:16", "generate_audio": True}),
    ("veo-3-fast", (1920, 1080), 3.5, {"duration": 4, "resolution": "1080p"}),
    ("hailuo-02", (1280, 720), 4.2, {"duration": 6, "resolution": "768p",
                                     "prompt_optimizer": False}),
    ("hailuo-02", (1920, 1080), 6.0, {"duration": 6, "resolution": "1080p"}),
])
def test_each_video_model_gets_its_own_input_fields(
        double: ReplicateDouble, frame: Path, model: str, size: tuple[int, int],
        seconds: float, expected: dict[str, Any]) -> None:
    double.latency_s = 30.0
    v = video(double, model)

    async def go() -> Ticket:
        t = await v.submit(clip_req(frame, seconds, size))
        return await v.cancel(t)

    assert run(go()).status == "canceled"
    ref = v.spec.ref
    body = double.last_input(ref)
    assert {k: body[k] for k in expected} == expected
    image_field = {"kling-v2.1": "start_image", "hailuo-02": "first_frame_image"}.get(model,
                                                                                    "image")
    assert body[image_field].startswith("data:image/png;base64,")
    assert body["prompt"] == "Boots splash through a creek. Slow camera push-in."
    assert double.creates == {ref: 1} and double.charged_usd == 0


def test_requests_a_model_cannot_make_are_refused_before_paying(
        double: ReplicateDouble, frame: Path) -> None:
    with pytest.raises(InvalidInput, match="at most 10 s"):
        run(video(double).submit(clip_req(frame, 12.0)))
    with pytest.raises(InvalidInput, match="16:9, 9:16 only, not 1:1"):
        run(video(double, "veo-3-fast").submit(clip_req(frame, 8.0, (1080, 1080))))
    with pytest.raises(InvalidInput, match="not a Replicate video model"):
        video(double, "flux-schnell")
    assert double.requests == []


def test_rate_limited_create_waits_retry_after_then_succeeds(
        double: ReplicateDouble, frame: Path, tmp_path: Path) -> None:
    double.inject("create", 429, times=2, retry_after=1)
    run(video(double).clip(clip_req(frame), tmp_path / "c.mp4"))
    posts = [r for r in double.requests if r["method"] == "POST"]
    assert [r["status"] for r in posts] == [429, 429, 201]
    assert all(b["t"] - a["t"] >= 1.0 for a, b in itertools.pairwise(posts))
    assert double.creates[WAN] == 1


def test_rate_limited_status_request_is_retried_after_retry_after(
        double: ReplicateDouble, frame: Path, tmp_path: Path) -> None:
    double.inject("get", 429, times=1, retry_after=1)
    run(video(double).clip(clip_req(frame), tmp_path / "c.mp4"))
    gets = [r for r in double.requests if r["path"].startswith("/v1/predictions/")]
    assert [r["status"] for r in gets] == [429, 200]
    assert gets[1]["t"] - gets[0]["t"] >= 1.0


def test_server_errors_are_retried_on_create_and_status(
        double: ReplicateDouble, frame: Path, tmp_path: Path) -> None:
    double.inject("create", 500, times=2)
    double.inject("get", 502, times=2)
    res = run(video(double).clip(clip_req(frame), tmp_path / "c.mp4"))
    assert res.duration_s == 5.0 and double.creates[WAN] == 1


def test_persistent_server_errors_stop_after_bounded_attempts(
        double: ReplicateDouble, frame: Path) -> None:
    double.inject("create", 500, times=10)
    with pytest.raises(ProviderError, match="create failed with HTTP 500: something broke"):
        run(video(double, retries=3).submit(clip_req(frame)))
    assert len([r for r in double.requests if r["method"] == "POST"]) == 3


def test_losing_contact_while_waiting_cancels_the_prediction(
        double: ReplicateDouble, frame: Path, tmp_path: Path) -> None:
    double.latency_s = 30.0
    double.inject("get", 500, times=10)
    with pytest.raises(ProviderAPIError, match="get failed with HTTP 500") as err:
        run(video(double, retries=2, typical_latency_s=0.1).clip(clip_req(frame),
                                                                  tmp_path / "c.mp4"))
    assert err.value.status == 500
    assert double.cancels == list(double._preds) and list(tmp_path.iterdir()) == []


def test_failed_prediction_raises_with_the_providers_message(
        double: ReplicateDouble, frame: Path, tmp_path: Path) -> None:
    double.fail_next = 1
    with pytest.raises(PredictionFailed, match="CUDA out of memory") as err:
        run(video(double).clip(clip_req(frame), tmp_path / "c.mp4"))
    assert err.value.ticket.status == "failed"
    assert list(tmp_path.iterdir()) == [] and double.charged_usd == 0


def test_cancel_during_wait_cancels_remotely_and_leaves_no_file(
        double: ReplicateDouble, frame: Path, tmp_path: Path) -> None:
    double.latency_s = 30.0
    v = video(double, typical_latency_s=1.0)

    async def go() -> None:
        task = asyncio.ensure_future(v.clip(clip_req(frame), tmp_path / "c.mp4"))
        while not double.creates:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(go())
    assert double.cancels == list(double._preds)
    assert list(tmp_path.iterdir()) == [] and double.charged_usd == 0


@pytest.mark.parametrize("scenario,error,text", [
    ("expired", URLExpired, "provider URL expired"),
    ("oversized", TooLarge, "over the 10,000 bytes limit"),
    ("html", WrongContentType, "is text/html, expected video/mp4"),
])
def test_bad_outputs_are_refused_with_clear_errors_and_no_file(
        double: ReplicateDouble, frame: Path, tmp_path: Path, scenario: str,
        error: type[Exception], text: str) -> None:
    kw: dict[str, Any] = {}
    if scenario == "expired":
        double.inject("file", 410)
    elif scenario == "oversized":
        kw["max_download_bytes"] = 10_000
    else:
        double.file_content_type = "text/html"
    with pytest.raises(error, match=text) as err:
        run(video(double, **kw).clip(clip_req(frame), tmp_path / "c.mp4"))
    assert list(tmp_path.iterdir()) == []
    # The prediction succeeded, so it was billed: the error says what was spent.
    assert err.value.usage.cost_usd == pytest.approx(double.charged_usd) == 5 * 0.068


def test_malformed_status_answer_is_retried(double: ReplicateDouble, frame: Path,
                                            tmp_path: Path) -> None:
    double.inject("get", "malformed")
    res = run(video(double).clip(clip_req(frame), tmp_path / "c.mp4"))
    assert res.duration_s == 5.0 and sum(double.status_requests.values()) == 2


@pytest.fixture
def quick_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replicate_reconcile, "LISTING_WAITS_S", (0.0, 0.05, 0.1))


def test_a_create_whose_answer_is_garbled_is_found_in_the_listing_and_paid_once(
        double: ReplicateDouble, frame: Path, tmp_path: Path, quick_listing: None) -> None:
    """The prediction was made (and will be billed): carry on with it, never create again.
    The listing lags the create by a read, and an earlier prediction of the same scene with
    the same input (failed, already seen) is not mistaken for it."""
    double.fail_next = 1
    v = video(double)
    with pytest.raises(PredictionFailed):
        run(v.clip(clip_req(frame), tmp_path / "first.mp4"))
    [failed] = double.ids(WAN)
    double.inject("create", "malformed")
    double.listing_lag_reads = 1
    res = run(v.clip(clip_req(frame), tmp_path / "c.mp4"))
    assert double.creates[WAN] == 2 and double.list_requests == 2
    [_, made] = double.ids(WAN)
    assert res.usage.request_id == made != failed
    assert res.duration_s == 5.0 and probe(tmp_path / "c.mp4").duration_s == pytest.approx(5.0)
    # billed once, for the prediction we carried on with (the failed one was not billed)
    assert res.usage.cost_usd == pytest.approx(double.charged_usd) == pytest.approx(5 * 0.068)


def test_a_create_whose_prediction_is_not_listed_may_exist_and_is_not_sent_again(
        double: ReplicateDouble, frame: Path, quick_listing: None) -> None:
    double.inject("create", "malformed")
    double.inject("list", 500, times=20)
    with pytest.raises(CreateMayExist, match="unreadable answer to the create.*not paid twice"
                       ) as err:
        run(video(double).submit(clip_req(frame)))
    assert not err.value.transient and double.creates[WAN] == 1


def test_a_create_stopped_before_its_answer_came_cancels_the_prediction_it_made(
        double: ReplicateDouble, frame: Path, tmp_path: Path, quick_listing: None) -> None:
    """The user stops the cell while Replicate has made the prediction but its answer is
    still on the way: the prediction is found in the listing and canceled, so it is not
    left running (and billed) with nobody waiting for it."""
    double.latency_s = 30.0
    double.answer_delay_s = 1.0

    async def go() -> None:
        task = asyncio.ensure_future(video(double).clip(clip_req(frame), tmp_path / "c.mp4"))
        while not double.creates:
            await asyncio.sleep(0.01)
        task.cancel()  # the create's answer is a second away
        with pytest.raises(asyncio.CancelledError):
            await task

    run(go())
    [made] = double.ids(WAN)
    assert double.cancels == [made] and double.list_requests >= 1
    assert list(tmp_path.iterdir()) == [] and double.charged_usd == 0


def test_missing_token_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    forget_keys()
    with pytest.raises(MissingKey, match="REPLICATE_API_TOKEN"):
        ReplicateVideo()
    with pytest.raises(MissingKey, match="REPLICATE_API_TOKEN"):
        ReplicateFrames()


def test_token_never_appears_in_errors_or_reprs(double: ReplicateDouble, frame: Path,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    wrong = "r8_" + "y" * 30
    with pytest.raises(ProviderError, match="HTTP 401 \\(check REPLICATE_API_TOKEN\\)") as e1:
        run(video(double, api_token=wrong).submit(clip_req(frame)))
    double.fail_next = 1
    double.fail_message = f"upstream rejected header 'Authorization: Bearer {TOKEN}'"
    v = video(double)
    with pytest.raises(PredictionFailed) as e2:
        run(v.clip(clip_req(frame), tmp_path / "c.mp4"))
    texts = [str(e1.value), repr(e1.value), str(e2.value), repr(e2.value),
             repr(e2.value.ticket), e2.value.ticket.model_dump_json(), repr(v), str(v),
             repr(video(double, api_token=wrong))]
    assert "Bearer ***" in str(e2.value)
    for text in texts:
        assert TOKEN not in text and wrong not in text


def test_ten_concurrent_clips_cost_at_most_three_status_requests_each(
        double: ReplicateDouble, frame: Path, tmp_path: Path) -> None:
    double.latency_s = 1.0
    v = video(double, typical_latency_s=1.0)

    async def go() -> list[Any]:
        return await asyncio.gather(*(v.clip(clip_req(frame), tmp_path / f"c{i}.mp4")
                                      for i in range(10)))

    results = run(go())
    assert double.creates[WAN] == 10
    assert sum(double.status_requests.values()) / 10 <= 3
    assert sum(r.usage.cost_usd for r in results) == pytest.approx(double.charged_usd)
    assert all(probe(r.path).duration_s == 5.0 for r in results)


def test_fast_models_finish_inside_the_held_create_without_polling(
        double: ReplicateDouble, frame: Path, tmp_path: Path) -> None:
    v = video(double, sync_wait_s=None)  # typical latency 0.2 s: worth holding the create
    run(v.clip(clip_req(frame), tmp_path / "c.mp4"))
    create = next(r for r in double.requests if r["method"] == "POST")
    assert create["prefer"] == "wait=1" and double.status_requests == {}


def test_a_saved_ticket_resumes_in_a_new_process_without_paying_twice(
        double: ReplicateDouble, frame: Path, tmp_path: Path) -> None:
    double.latency_s = 0.5
    saved = run(video(double).submit(clip_req(frame))).id  # what the take keeps
    fresh = video(double)  # a new process: knows nothing of the prediction
    seen: list[str] = []

    async def resume() -> Any:
        t = await fresh.wait(Ticket(id=saved, model="wan-2.5-i2v-fast"), on_status=lambda t:
                             seen.append(t.status))
        return await fresh.fetch(t, tmp_path / "c.mp4")

    res = run(resume())
    assert double.creates[WAN] == 1 and seen[-1] == "succeeded"
    assert double.status_requests[saved] <= 3  # asked at once, then on the server's clock
    assert res.usage.cost_usd == pytest.approx(double.charged_usd) == 5 * 0.068


def test_wait_gives_up_after_its_timeout_without_canceling(
        double: ReplicateDouble, frame: Path) -> None:
    double.latency_s = 30.0
    v = video(double, typical_latency_s=0.1)

    async def go() -> None:
        t = await v.submit(clip_req(frame))
        with pytest.raises(WaitTimeout, match="still (starting|processing) after 0.5 s"):
            await v.wait(t, timeout_s=0.5)

    run(go())
    assert double.cancels == [] and not math.isnan(double.charged_usd)


@pytest.mark.parametrize(("progress_logs", "most"), [(True, 2), (False, 3)])
def test_a_latency_guess_half_too_low_costs_at_most_two_extra_status_requests(
        double: ReplicateDouble, frame: Path, tmp_path: Path, progress_logs: bool,
        most: int) -> None:
    double.latency_s, double.progress_logs = 2.0, progress_logs
    v = video(double, typical_latency_s=1.0)  # told half the real latency

    async def go() -> list[Any]:
        return await asyncio.gather(*(v.clip(clip_req(frame), tmp_path / f"c{i}.mp4")
                                      for i in range(4)))

    run(go())
    assert double.creates[WAN] == 4
    assert max(double.status_requests.values()) <= most


def test_poll_schedule_follows_progress_and_backs_off_without_it() -> None:
    from datetime import UTC, datetime, timedelta

    from nbvideo.providers.replicate_polling import next_poll_offset

    created = datetime(2026, 1, 1, tzinfo=UTC)
    fresh = Ticket(id="p", model="wan-2.5-i2v-fast", created_at=created)
    assert next_poll_offset(fresh, 0.0, 10.0) == 10.0  # first ask: when it should be done
    assert next_poll_offset(fresh, 0.0, 120.0) == 60.0  # long model: an early probe
    running = fresh.model_copy(update={"polls": 1, "progress": 0.25,
                                       "started_at": created + timedelta(seconds=20)})
    # 20 s queued, 40 s run for 25 %: done at 180 s (plus a hair); far off, so halfway first
    assert next_poll_offset(running, 60.0, 120.0) == pytest.approx(60 + (180 * 1.02 - 60) / 2)
    nearly = running.model_copy(update={"progress": 0.8})  # 40 s for 80 %: done at 70 s
    assert next_poll_offset(nearly, 60.0, 120.0) == pytest.approx(70 * 1.02)
    blind = fresh.model_copy(update={"polls": 1})
    assert next_poll_offset(blind, 10.0, 10.0) == 15.0  # x1.5 past the expected time
    assert next_poll_offset(blind, 4.0, 10.0) == 10.0  # early probe answered nothing: wait
    assert next_poll_offset(blind, 200.0, 10.0) == 215.0  # never more than 15 s apart


# ------------------------------------------------------------------ inline (data:) outputs
def test_a_paid_frame_answered_inline_as_a_data_uri_lands(double: ReplicateDouble,
                                                          tmp_path: Path) -> None:
    double.data_url_outputs = True
    frames = ReplicateFrames(api_token=TOKEN, base_url=double.base_url,
                             allowed_download_hosts={"127.0.0.1"})
    res = run(frames.frame(frame_req("9:16", 720, 1280), tmp_path / "f.png"))
    with Image.open(tmp_path / "f.png") as im:
        assert (im.format, im.size) == ("PNG", (720, 1280))
    assert res.usage.cost_usd == pytest.approx(double.charged_usd) == pytest.approx(0.003)
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]


def test_a_paid_clip_answered_inline_lands_and_an_oversize_one_is_refused_by_the_cap(
        double: ReplicateDouble, frame: Path, tmp_path: Path) -> None:
    double.data_url_outputs = True
    res = run(video(double).clip(clip_req(frame, 4.2), tmp_path / "c.mp4"))
    assert probe(tmp_path / "c.mp4").duration_s == 5.0 and res.usage.units == 5
    small = video(double, max_download_bytes=1000)
    with pytest.raises(TooLarge, match=r"data:video/mp4 URL holds about .* over the 1,000 bytes"):
        run(small.clip(clip_req(frame, 4.2), tmp_path / "d.mp4"))
    assert not (tmp_path / "d.mp4").exists()


def test_a_create_with_a_large_frame_on_a_slow_uplink_is_not_stranded(
        double: ReplicateDouble, tmp_path: Path) -> None:
    """The SDK's wait mode allows 5 s to write a create's body; a big frame held up longer
    than that must still be sent whole and answered, not end as a "may exist" create."""
    rng = np.random.default_rng(3)
    big = tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 255, (2600, 4600, 3), dtype=np.uint8)).save(big)
    double.slow_upload_s = 6.0
    v = video(double, sync_wait_s=5)
    res = run(v.clip(clip_req(big, 4.2), tmp_path / "c.mp4"))
    assert res.usage.units == 5 and double.creates[WAN] == 1
    create = next(r for r in double.requests if r["method"] == "POST")
    assert create["body"]["input"]["image"].startswith("data:image/jpeg;base64,")
