"""Presenter scenes: an avatar says the scene's voice line, offline (a drawn presenter
lip-synced to espeak) or on HeyGen (over the double on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import nbvideo as nv
from nbvideo.errors import InvalidInput, NbvideoError
from nbvideo.model.state import SCHEMA_VERSION, Presenter, Scene
from nbvideo.providers.base import PresenterRequest, ProviderAPIError
from tests.conftest import BRIEF, SMALL

KEY = "hg_" + "k" * 30
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed")


@pytest.fixture
def heygen(monkeypatch: pytest.MonkeyPatch):
    from tests.doubles.heygen_double import start_heygen_double

    double = start_heygen_double(KEY)
    double.latency_s = 0.3
    monkeypatch.setenv("HEYGEN_API_KEY", KEY)
    monkeypatch.setenv("HEYGEN_BASE_URL", double.base_url)
    monkeypatch.setenv("NBVIDEO_DOWNLOAD_HOSTS", "127.0.0.1")
    yield double
    double.stop()


def _fast_polls(p: nv.Project) -> None:
    """The double renders in a fraction of a second, not HeyGen's minutes."""
    for m in ("heygen-avatar", "heygen-talking-photo"):
        p.runtime.providers.video_for(m).poll_interval_s = 0.05


# ----------------------------------------------------------------------------- state

def test_scenes_are_broll_by_default_and_a_presenter_gets_default_settings() -> None:
    base = dict(id="s12345678", beat="hook", description="d", visual_prompt="v", duration_s=3)
    assert Scene(**base).kind == "broll" and Scene(**base).presenter is None
    s = Scene(**base, kind="presenter")
    assert s.presenter == Presenter()
    with pytest.raises(ValueError, match="presenter.background"):
        Scene(**base, kind="presenter", presenter={"background": "blue"})
    with pytest.raises(ValueError, match="kind"):
        Scene(**base, kind="talking-head")


def test_an_older_project_opens_unchanged(rendered: nv.Project) -> None:
    path = rendered.path
    rendered.close()
    raw = json.loads((path / "project.json").read_text())
    raw["schema_version"] = 3
    for s in raw["scenes"]:
        s.pop("kind"), s.pop("presenter")
    (path / "project.json").write_text(json.dumps(raw))
    p = nv.Project.open(path)
    assert all(s.kind == "broll" and s.presenter is None for s in p.scenes)
    assert p.state.schema_version == SCHEMA_VERSION >= 4
    p.close()


def test_present_sets_checked_settings_and_names_the_field(rendered: nv.Project) -> None:
    s = rendered.scene(2).present(avatar="ben", voice="warm", background="#223344")
    assert s.kind == "presenter" and s.presenter == Presenter(avatar="ben", voice="warm",
                                                              background="#223344")
    rendered.scene(2).present(avatar="mia")  # the rest is kept
    assert rendered.scene(2).presenter.voice == "warm"
    before = rendered.scene(2).presenter
    with pytest.raises(InvalidInput, match="presenter.background"):
        rendered.scene(2).present(background="sky")
    with pytest.raises(InvalidInput, match="presenter model"):
        rendered.scene(2).present(model="kling-v2.1")
    with pytest.raises(InvalidInput, match="heygen"):
        rendered.scene(2).present(model="heygen-avatar")  # the project has no HeyGen
    assert rendered.scene(2).presenter == before  # a refused edit changes nothing
    rendered.edit_scene(2, kind="broll")
    assert rendered.scene(2).kind == "broll"
    added = rendered.add_scene(description="Host talks", voice_line="Hi there.",
                               kind="presenter", presenter={"avatar": "kai"})
    assert added.presenter.avatar == "kai"


def test_presenter_models_are_never_routed_to_for_broll(rendered: nv.Project) -> None:
    from nbvideo.plan import routing
    from nbvideo.providers import provider_set
    from nbvideo.providers.catalog import get_model

    assert get_model("local-presenter").presenter and get_model("heygen-avatar").presenter
    for s in rendered.state.scenes:
        assert "local-presenter" not in routing.ranked(rendered.runtime.providers, s,
                                                       rendered.state.brief, "cheapest")
    with pytest.raises(InvalidInput, match="presenter model"):
        provider_set("local", {"video": "local-presenter"})
    with pytest.raises(InvalidInput, match="presenter scenes only"):
        rendered.generate_clips(model="local-presenter", scenes=[1])


def test_heygen_is_priced_per_second_of_avatar_iv_with_its_source() -> None:
    from nbvideo.providers.catalog import get_model, price

    spec = get_model("heygen-avatar")
    u = price(spec, seconds=60, resolution="1080p")
    assert u.unit == "second" and u.units == 60  # v3 bills the wallet per second of output
    assert u.cost_usd == pytest.approx(60 * 0.0667)  # Avatar IV studio avatar / digital twin
    assert "developers.heygen.com/docs/pricing" in spec.price_source and spec.price_date
    assert price(get_model("heygen-talking-photo"), seconds=60).cost_usd == pytest.approx(3.0)
    assert "Idempotency-Key" in spec.ref and "/v3/videos" in spec.ref


# ------------------------------------------------------------------------ the offline presenter

def test_the_mouth_follows_the_loudness() -> None:
    from nbvideo.providers.local.presenter import mouth_openings

    rate, fps = 48_000, 12
    t = np.arange(rate * 2) / rate
    gate = ((t > 0.5) & (t < 1.0)) | ((t > 1.4) & (t < 1.8))
    samples = (0.4 * np.sin(2 * np.pi * 180 * t) * gate).astype(np.float32)
    o = mouth_openings(samples, 24, fps)
    assert o[:5].max() == 0 and o[7:11].min() > 0.5 and o[18:21].min() > 0.5
    assert o[23] < 0.2  # closed again after the line


@pytest.mark.slow
@needs_espeak
def test_local_presenter_is_a_lip_synced_shot_of_the_scene_length(tmp_path: Path) -> None:
    from nbvideo.media.audio_io import decode
    from nbvideo.media.ffmpeg import ffmpeg_exe, probe
    from nbvideo.providers.local.presenter import LocalPresenter, _Stage, get_avatar

    req = PresenterRequest(text="Meet the trail shoe that keeps your feet dry all day long.",
                           voice="narrator-f", avatar="ava", background="#35506b",
                           palette=["#1d2433", "#c0392b", "#e0b04a"], duration_s=4.0, fps=12,
                           width=640, height=360, seed=3)
    out = tmp_path / "p.mp4"
    r = asyncio.run(LocalPresenter().clip(req, out))
    info = probe(out)
    assert (info.width, info.height) == (640, 360) and info.frames == 48
    assert info.duration_s == pytest.approx(4.0, abs=0.05) and r.duration_s == 4.0
    audio = decode(out, channels=1)[:, 0]
    assert len(audio) / 48_000 == pytest.approx(4.0, abs=0.05) and np.abs(audio).max() > 0.05
    # the mouth region changes with the voice: per frame, pixel change there vs loudness
    import subprocess

    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(out), "-f", "rawvideo",
                          "-pix_fmt", "gray", "pipe:1"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, 360, 640).astype(np.float64)
    st = _Stage(req, get_avatar("ava"))
    my = round(st.cy + 0.26 * st.hh)
    box = frames[:, my - 22:my + 22, st.cx - 30:st.cx + 30]
    dark = (box < 60).mean(axis=(1, 2))  # the open mouth is the darkest thing there
    per = 48_000 // 12
    env = np.array([np.sqrt(np.mean(audio[i * per:(i + 1) * per] ** 2)) for i in range(48)])
    assert np.corrcoef(dark, env)[0, 1] > 0.6
    assert dark[:1].max() < dark.max() / 3  # closed before the line starts
    # not frozen: the head drifts and blinks even where the mouth is shut
    assert np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2)).min() > 0


@pytest.mark.slow
@needs_espeak
def test_a_presenter_scene_in_an_exported_ad_speaks_once_in_sync(rendered: nv.Project) -> None:
    from nbvideo.media.audio_io import decode
    from nbvideo.media.ffmpeg import probe

    p = rendered
    p.scene(2).present(avatar="ben", voice="narrator-m")
    takes = p.generate_clips().wait(300)
    assert [t.model for t in takes] == ["local-presenter"]  # only the presenter is new
    shot = p.scene(2).clip
    assert shot.provider == "local" and shot.cost_usd == 0 and shot.qa.passed
    p.finish(voice="narrator-f", captions=False)
    ad = p.export("ad").paths[0]
    info = probe(ad)
    total = sum(s.duration_s for s in p.scenes)
    assert info.duration_s == pytest.approx(total, abs=0.1) and info.has_audio
    # no voice-over line for the presenter scene: it speaks in its own shot
    voice = p.costs.query("phase == 'voice'")
    assert p.scene(2).id not in set(voice["scene"]) and len(set(voice["scene"])) == 2
    # its sound is in the ad once, where its picture is
    e = next(x for x in p.timeline if x.scene.id == p.scene(2).id)
    n = round(e.frames / p.state.brief.fps * 48_000)
    mixed = decode(ad, channels=1, start_s=e.start_s, duration_s=n / 48_000)[:, 0]
    own = decode(p.scene(2).clip_path, channels=1, duration_s=n / 48_000)[:, 0]
    m = min(len(mixed), len(own))
    mixed, own = mixed[:m], own[:m]
    lag = np.argmax(np.correlate(mixed[::8], own[::8], "full")) - (len(own[::8]) - 1)
    assert abs(lag) <= 2  # in sync (within 16 samples at 48 kHz)
    assert np.corrcoef(mixed, own)[0, 1] > 0.8  # its own line, not doubled or shifted


# ----------------------------------------------------------------------------- HeyGen

def test_generate_body_matches_the_recorded_request() -> None:
    from nbvideo.providers.heygen import generate_body
    from tests.doubles.heygen_double import RECORDED_REQUEST, check_create

    req = PresenterRequest(text="Meet the trail shoe.", voice="1bd001e7e50f421d891986aad5158bc8",
                           avatar="Angela-inTshirt-20220820", background="#fafafa",
                           duration_s=3, fps=24, width=1280, height=720)
    body = generate_body("heygen-avatar", req, None)
    assert body == RECORDED_REQUEST and check_create(body) is None
    # a talking photo is a photo-avatar look on v3: the same body, over the uploaded frame
    photo = generate_body("heygen-talking-photo", req.model_copy(update={
        "background": "frame", "avatar": "tp_0042", "width": 1080, "height": 1920}), "ast_42")
    assert photo["type"] == "avatar" and photo["avatar_id"] == "tp_0042"
    assert photo["background"] == {"type": "image", "asset_id": "ast_42"}
    assert (photo["aspect_ratio"], photo["resolution"]) == ("9:16", "1080p")
    assert check_create(photo, {"ast_42": b""}) is None
    square = generate_body("heygen-avatar", req.model_copy(update={"width": 1080,
                                                                   "height": 1350}), None)
    assert square["aspect_ratio"] == "4:5"
    # the double is strict: the v2 shape, or a stray field, is refused with the field named
    assert check_create({"video_inputs": [], "dimension": {}})[0] == "type"
    assert check_create({**body, "dimension": {"width": 1280}})[0] == "dimension"


def test_a_failed_video_reports_heygens_code_and_message(heygen) -> None:
    from nbvideo.providers.base import PredictionFailed
    from nbvideo.providers.heygen import HeyGenPresenter
    from tests.doubles.heygen_double import STATUS_FIELDS

    heygen.fail_avatars = {"gone-avatar"}
    model = HeyGenPresenter(base_url=heygen.base_url, poll_interval_s=0.05)
    req = PresenterRequest(text="Hello there.", voice="v1", avatar="gone-avatar",
                           background="#102030", duration_s=2, fps=24, width=640, height=360)

    async def go():
        t = await model.submit(req)
        return await model.wait(t, timeout_s=30)

    with pytest.raises(PredictionFailed,
                       match="avatar_not_found: Avatar gone-avatar not found") as exc:
        asyncio.run(go())
    assert exc.value.ticket.status == "failed"
    # the double's answer has GET /v3/videos/{id}'s fields, field for field
    vid = next(iter(heygen.videos))
    assert set(heygen._status(heygen.videos[vid])["data"]) == STATUS_FIELDS
    # v3 only: nothing was sent to a retired v1/v2 path
    assert {p for _, p in heygen.requests} == {"/v3/videos", f"/v3/videos/{vid}"}


def test_refused_keys_and_rate_limits_say_so(heygen) -> None:
    from nbvideo.providers.heygen import HeyGenPresenter

    req = PresenterRequest(text="Hi.", voice="v1", avatar="a1", background="#102030",
                           duration_s=2, fps=24, width=640, height=360)
    bad = HeyGenPresenter(api_key="hg_wrongwrongwrong", base_url=heygen.base_url)
    with pytest.raises(ProviderAPIError) as exc:
        asyncio.run(bad.submit(req))
    assert exc.value.status == 401 and not exc.value.transient
    assert "Invalid API key" in str(exc.value) and "hg_wrong" not in str(exc.value)
    heygen.inject("create", 429)
    good = HeyGenPresenter(base_url=heygen.base_url)
    with pytest.raises(ProviderAPIError) as exc:
        asyncio.run(good.submit(req))
    assert exc.value.status == 429 and exc.value.transient
    assert "rate_limit_exceeded" in str(exc.value) and "retry after 1 s" in str(exc.value)
    assert asyncio.run(good.submit(req)).status == "starting"  # and then it goes through
    assert heygen.generates == 1


def test_retired_v2_endpoints_are_refused_by_the_double(heygen) -> None:
    """HeyGen retired v1/v2 on 2026-11-01: the double refuses them, so a provider that slips
    back to a v2 path fails its tests instead of passing against a v2-speaking double."""
    import httpx

    for method, path in [("POST", "/v2/video/generate"), ("GET", "/v1/video_status.get"),
                         ("GET", "/v2/avatars"), ("GET", "/v2/voices"), ("POST", "/v1/asset")]:
        with httpx.Client(trust_env=False) as http:
            r = http.request(method, heygen.base_url + path, headers={"X-Api-Key": KEY})
        assert r.status_code == 410, path
        assert r.json()["error"]["code"] == "endpoint_retired" and "v3" in r.text
    assert heygen.generates == 0


def test_a_lost_create_answer_is_sent_again_under_its_key_and_makes_one_video(heygen) -> None:
    from nbvideo.providers.heygen import CREATE_TRIES, HeyGenPresenter

    model = HeyGenPresenter(base_url=heygen.base_url, poll_interval_s=0.05)
    req = PresenterRequest(text="Hi there.", voice="v1", avatar="a1", background="#102030",
                           duration_s=2, fps=24, width=640, height=360)
    heygen.drop_create_answers = 1  # made, but the answer never arrives
    t = asyncio.run(model.submit(req, idempotency_key="nbvideo-abc-0"))
    assert heygen.creates == 2 and heygen.generates == 1 and t.id in heygen.videos
    assert heygen.idempotency_keys == ["nbvideo-abc-0", "nbvideo-abc-0"]
    # HeyGen still making the first: 409 request_in_progress is waited out, not a failure
    heygen.inject("create", 409)
    t2 = asyncio.run(model.submit(req, idempotency_key="nbvideo-def-0"))
    assert heygen.generates == 2 and t2.id in heygen.videos
    # every answer lost: the caller's key makes the retry safe, so it says transient ...
    heygen.drop_create_answers = CREATE_TRIES
    with pytest.raises(ProviderAPIError, match="Idempotency-Key nbvideo-ghi-0") as exc:
        asyncio.run(model.submit(req, idempotency_key="nbvideo-ghi-0"))
    assert exc.value.transient and exc.value.status is None and heygen.generates == 3
    t3 = asyncio.run(model.submit(req, idempotency_key="nbvideo-ghi-0"))  # ... and it is
    assert heygen.generates == 3 and t3.id in heygen.videos
    # without one, a fresh key covers only this call's own resends: "may exist", not retried
    heygen.drop_create_answers = CREATE_TRIES
    with pytest.raises(ProviderAPIError, match="may exist") as exc:
        asyncio.run(model.submit(req))
    assert not exc.value.transient and heygen.generates == 4
    assert len(set(heygen.idempotency_keys[-CREATE_TRIES:])) == 1


def test_a_talking_photo_of_a_dearer_look_is_refused_before_the_create(heygen) -> None:
    from nbvideo.providers.heygen import HeyGenPresenter

    model = HeyGenPresenter("heygen-talking-photo", base_url=heygen.base_url)
    req = PresenterRequest(text="Hi there.", voice="v1", avatar="Angela-inTshirt-20220820",
                           background="#102030", duration_s=2, fps=24, width=640, height=360)
    with pytest.raises(InvalidInput, match="studio_avatar look.*model='heygen-avatar'"):
        asyncio.run(model.submit(req))
    assert heygen.creates == 0  # asked about the look only: nothing billed
    assert asyncio.run(model.submit(req.model_copy(update={"avatar": "tp_0042"}))).id


@pytest.mark.slow
def test_a_talking_photo_is_billed_at_the_photo_avatar_rate(heygen, tmp_path: Path) -> None:
    from nbvideo.providers.heygen import HeyGenPresenter

    model = HeyGenPresenter("heygen-talking-photo", base_url=heygen.base_url,
                            poll_interval_s=0.05, allowed_download_hosts={"127.0.0.1"})
    req = PresenterRequest(text="Meet the founder of the trail shoe.", voice="v1",
                           avatar="tp_0042", background="#102030", duration_s=2, fps=24,
                           width=640, height=360)
    got = asyncio.run(model.clip(req, tmp_path / "tp.mp4"))
    assert got.usage.unit == "second" and got.usage.units == pytest.approx(heygen.billed_seconds)
    assert got.usage.cost_usd == pytest.approx(heygen.charged_usd)  # $0.05/s, both sides
    assert got.usage.cost_usd == pytest.approx(heygen.billed_seconds * 0.05)
    assert (got.width, got.height) == (1280, 720)  # HeyGen's 720p 16:9, fitted later


def test_avatar_and_voice_listings_are_tables(heygen, fresh: nv.Project) -> None:
    avatars = fresh.presenter_avatars("heygen")  # three looks, two to a page: paged through
    assert list(avatars["avatar"]) == ["Abigail_expressive_2024112501",
                                       "Angela-inTshirt-20220820", "tp_0042"]
    assert list(avatars["model"]) == ["heygen-avatar", "heygen-avatar", "heygen-talking-photo"]
    assert list(avatars["character"]) == ["studio_avatar", "studio_avatar", "photo_avatar"]
    assert avatars["default_voice"][1] == "1bd001e7e50f421d891986aad5158bc8"
    voices = fresh.presenter_voices("heygen")
    assert list(voices["voice"])[0] == "1bd001e7e50f421d891986aad5158bc8"
    assert {"language", "gender", "name", "preview_audio"} <= set(voices.columns)
    assert [p for _, p in heygen.requests].count("/v3/avatars/looks") == 2
    assert "ava" in set(fresh.presenter_avatars()["avatar"])


def test_budget_refuses_a_heygen_presenter_before_any_request(heygen, tmp_path: Path) -> None:
    from nbvideo.runtime.budget import BudgetExceeded

    p = nv.Project.open(tmp_path / "hg", brief=BRIEF, providers="heygen", budget_usd=0.01,
                        **SMALL)
    p.storyboard()
    p.scene(2).present(avatar="Angela-inTshirt-20220820",
                       voice="1bd001e7e50f421d891986aad5158bc8")
    est = p.estimate()
    row = est[est["id"] == p.scene(2).id].iloc[0]
    assert row["model"] == "heygen-avatar" and row["unit"] == "second" and row["cost_usd"] > 0.01
    with pytest.raises((BudgetExceeded, NbvideoError)) as exc:
        p.generate_clips(scenes=[2]).wait(60)
    assert "budget" in str(exc.value)
    assert heygen.requests == []  # nothing was sent, not even the frame upload
    refused = p.costs.query("status == 'refused'")
    assert list(refused["model"]) == ["heygen-avatar"]
    p.close()


@pytest.mark.slow
def test_heygen_presenter_in_an_ad_is_priced_per_second(heygen, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from nbvideo.media.ffmpeg import probe
    from nbvideo.providers.heygen import HeyGenPresenter
    from nbvideo.runtime.budget import inside_gate

    gated: list[bool] = []
    real = HeyGenPresenter.submit

    def watched(self, req, **kw):  # every HeyGen video is asked for inside the money gate
        gated.append(inside_gate())
        return real(self, req, **kw)

    monkeypatch.setattr(HeyGenPresenter, "submit", watched)

    p = nv.Project.open(tmp_path / "hg", brief=BRIEF, providers="heygen", **SMALL)
    p.storyboard()
    p.scene(2).present(avatar="Angela-inTshirt-20220820",
                       voice="1bd001e7e50f421d891986aad5158bc8")  # over its frame
    _fast_polls(p)
    takes = p.generate_clips().wait(300)
    shot = p.scene(2).clip
    assert shot.model == "heygen-avatar" and shot.request_id in heygen.videos
    assert heygen.uploads == 1  # the frame, as the background image asset
    assert heygen.bodies[0]["background"] == {"type": "image",
                                              "asset_id": next(iter(heygen.assets))}
    # the create's Idempotency-Key is the take's request hash (first try of that request)
    assert heygen.idempotency_keys == [f"nbvideo-{shot.key[:48]}-0"]
    info = probe(p.scene(2).clip_path)  # fitted to the scene: length, size, fps, sound
    assert info.frames == round(p.scene(2).duration_s * SMALL["fps"]) and info.has_audio
    assert (info.width, info.height) == (1280, 720)
    row = p.costs.query("model == 'heygen-avatar' and status == 'succeeded'")
    assert len(row) == 1 and row.iloc[0]["unit"] == "second"
    assert row.iloc[0]["units"] == pytest.approx(heygen.billed_seconds)
    assert row.iloc[0]["cost_usd"] == pytest.approx(heygen.charged_usd)  # $0.0667/s
    assert row.iloc[0]["cost_usd"] <= row.iloc[0]["estimated_usd"]  # the reservation held it
    assert gated == [True]
    assert len(takes) == len(p.scenes)
    ad = p.export("ad").paths[0]
    assert probe(ad).has_audio  # its line, though no voice-over was asked for
    p.close()
    for f in (tmp_path / "hg").rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f


def _die_mid_job(project: str, q: multiprocessing.Queue) -> None:
    """A kernel that submits a HeyGen video, sees its id saved, and dies waiting."""
    import time

    p = nv.Project.open(project)
    _fast_polls(p)
    p.generate_clips(scenes=[2])
    for _ in range(600):
        raw = json.loads((Path(project) / "project.json").read_text())
        if any(t.get("request_id") and t["status"] == "running"
               for s in raw["scenes"] for t in s["clip_takes"]):
            break
        time.sleep(0.05)
    q.put("submitted" if any(t.get("request_id") and t["status"] == "running"
                             for s in raw["scenes"] for t in s["clip_takes"]) else "never")
    q.close()
    q.join_thread()  # flush the queue: os._exit skips every cleanup
    os._exit(1)  # no cleanup, no cancel: like a crashed kernel


@pytest.mark.slow
def test_a_reopened_project_resumes_the_heygen_video(heygen, tmp_path: Path) -> None:
    path = tmp_path / "hg"
    p = nv.Project.open(path, brief=BRIEF, providers="heygen", **SMALL)
    p.storyboard()
    p.scene(2).present(avatar="Angela-inTshirt-20220820",
                       voice="1bd001e7e50f421d891986aad5158bc8", background="#203040")
    p.close()
    heygen.latency_s = 3600  # still rendering when the kernel dies
    ctx = multiprocessing.get_context("spawn")
    q: multiprocessing.Queue[str] = ctx.Queue()
    proc = ctx.Process(target=_die_mid_job, args=(str(path), q))
    proc.start()
    assert q.get(timeout=120) == "submitted"
    proc.join(30)
    assert heygen.generates == 1
    heygen.latency_s = 0  # HeyGen finished it while we were away
    p = nv.Project.open(path)
    flying = [t for t in p.scene(2).clip_takes if t.status == "running"]
    assert len(flying) == 1 and flying[0].request_id in heygen.videos
    _fast_polls(p)
    p.generate_clips(scenes=[2]).wait(120)
    assert heygen.generates == 1  # resumed, not paid for twice
    shot = p.scene(2).clip
    assert shot.request_id == flying[0].request_id and shot.status == "succeeded"
    paid = p.costs.query("model == 'heygen-avatar' and status == 'succeeded'")
    assert paid["cost_usd"].sum() == pytest.approx(heygen.charged_usd)
    p.close()


@pytest.mark.slow
def test_a_lost_create_answer_retried_makes_one_video_and_one_billed_row(
        heygen, tmp_path: Path) -> None:
    """HeyGen made the video but every answer to the create was lost: the clips phase tries
    again (a new take) under the same Idempotency-Key, HeyGen replays the first answer, and
    the one video it made is the one paid for."""
    from nbvideo.providers.heygen import CREATE_TRIES

    p = nv.Project.open(tmp_path / "hg", brief=BRIEF, providers="heygen", **SMALL)
    p.storyboard()
    p.scene(2).present(avatar="Angela-inTshirt-20220820",
                       voice="1bd001e7e50f421d891986aad5158bc8", background="#203040")
    _fast_polls(p)
    heygen.drop_create_answers = CREATE_TRIES  # the provider's own resends are lost too
    p.generate_clips(scenes=[2]).wait(120)
    assert heygen.generates == 1 and heygen.creates == CREATE_TRIES + 1
    assert len(set(heygen.idempotency_keys)) == 1  # one key for every try at this request
    takes = p.scene(2).clip_takes
    assert [t.status for t in takes] == ["failed", "succeeded"]
    assert takes[0].request_id is None and takes[1].request_id in heygen.videos
    rows = p.costs.query("model == 'heygen-avatar'")
    billed = rows[rows["cost_usd"] > 0]
    assert len(billed) == 1 and billed.iloc[0]["status"] == "succeeded"
    assert heygen.charged_usd > 0
    assert billed.iloc[0]["cost_usd"] == pytest.approx(heygen.charged_usd)
    assert p.spent_usd == pytest.approx(heygen.charged_usd)
    # a try after a video that ran (here: failed) gets a new key, so it is a new video
    p.scene(1).present(avatar="Angela-inTshirt-20220820",
                       voice="1bd001e7e50f421d891986aad5158bc8", background="#102030")
    heygen.fail_next = 1
    p.generate_clips(scenes=[1]).wait(120)
    first, second = heygen.idempotency_keys[-2:]
    assert heygen.generates == 3 and first.endswith("-0") and second == first[:-1] + "1"
    assert [t.status for t in p.scene(1).clip_takes] == ["failed", "succeeded"]
    p.close()
