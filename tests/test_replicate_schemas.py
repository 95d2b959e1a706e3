"""Replicate inputs are checked against each model's own input schema before money moves.

The recorded schemas (tests/fixtures/replicate_schemas, each with its `_source` and `_read`)
are what the double serves on its models endpoint; the mapping test walks every aspect,
resolution and duration each catalog entry allows through `replicate_inputs` and validates
the result against its model's recorded schema.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import nbvideo as nv
from nbvideo.errors import InvalidInput, ScenesFailed
from nbvideo.model.state import frame_size
from nbvideo.providers import catalog, replicate_options
from nbvideo.providers.base import ClipRequest, FrameRequest, ProviderAPIError
from nbvideo.providers.replicate import ReplicateFrames, ReplicateVideo
from nbvideo.providers.replicate_inputs import VIDEO_FIELDS, clip_input, frame_input
from nbvideo.providers.replicate_schema import (
    InputRejected,
    MemoryBook,
    RecordedSchema,
    check_inputs,
    record_from_model,
)
from nbvideo.store.schemas import ProjectSchemas
from tests.doubles.replicate_double import FIXTURES, ReplicateDouble, version_id

REPLICATE = [m for m in catalog.models() if m.provider == "replicate"]
IMAGE = "data:image/png;base64,iVBORw0KGgo="
WAN = "wan-video/wan-2.5-i2v-fast"


def recorded(model_id: str) -> RecordedSchema:
    data = json.loads((FIXTURES / f"{model_id}.json").read_text())
    data["latest_version"]["id"] = version_id(data)  # as the double serves it
    return record_from_model(data, data["model"], data["_source"])


def every_request(spec: catalog.ModelSpec) -> list[tuple[str, dict[str, Any]]]:
    """(label, mapped input) for every aspect x resolution (x duration) the entry allows."""
    out = []
    for aspect in spec.aspects:
        for res in spec.resolutions:
            w, h = frame_size(aspect, res)
            if spec.kind == "image":
                req = FrameRequest(beat="hook", description="A boot.", visual_prompt="boot",
                                   shot="close-up", camera="static", aspect=aspect, width=w,
                                   height=h, seed=3)
                out.append((f"{aspect} {res}", frame_input(spec, req)))
                continue
            for seconds in spec.durations_s:
                for neg in ("", "blurry"):
                    req = ClipRequest(frame_path=Path("f.png"), prompt="Boots in a creek",
                                      camera="pan-left", duration_s=seconds, fps=24, width=w,
                                      height=h, seed=7)
                    try:
                        inp = clip_input(spec, req, IMAGE, neg)
                    except InputRejected:
                        raise
                    except InvalidInput:  # a combination the catalog itself refuses (said)
                        continue
                    out.append((f"{aspect} {res} {seconds:g}s neg={neg!r}", inp))
    return out


def test_every_replicate_catalog_model_has_a_recorded_schema_with_source_and_date() -> None:
    for spec in REPLICATE:
        data = json.loads((FIXTURES / f"{spec.id}.json").read_text())
        assert data["model"] == spec.ref
        assert data["_source"] and date.fromisoformat(data["_read"])
        assert isinstance(data["_reconstructed"], bool)
        if data["_reconstructed"]:
            assert data["_source"].startswith("RECONSTRUCTED")
        assert "Input" in data["latest_version"]["openapi_schema"]["components"]["schemas"]


# lip-sync inputs are mapped and validated in tests/test_lipsync.py
@pytest.mark.parametrize("spec", [m for m in REPLICATE if m.kind in ("image", "video")],
                         ids=lambda s: s.id)
def test_every_mapping_the_catalog_allows_fits_the_recorded_schema(
        spec: catalog.ModelSpec) -> None:
    rec = recorded(spec.id)
    requests = every_request(spec)
    # every resolution (and, for video, every duration) the catalog sells is really asked
    assert {label.split()[1] for label, _ in requests} == set(spec.resolutions)
    if spec.kind == "video":
        assert {float(label.split()[2].rstrip("s")) for label, _ in requests} == set(
            spec.durations_s)
        assert {inp[VIDEO_FIELDS[spec.id][1]] for _, inp in requests} == set(
            spec.resolutions.values())
    for label, inp in requests:
        try:
            check_inputs(spec.id, rec, inp)
        except InputRejected as exc:
            pytest.fail(f"{spec.id} {label}: {exc}")


def test_unknown_field_wrong_type_enum_and_range_are_named() -> None:
    rec = recorded("flux-schnell")
    good = {"prompt": "a boot", "aspect_ratio": "16:9", "num_outputs": 1}
    cases = [({"speed": "fast"}, "'speed' is not one of its inputs"),
             ({"num_outputs": "1"}, "'num_outputs' = '1' has the wrong type"),
             ({"aspect_ratio": "7:3"}, "'aspect_ratio' = '7:3' is not allowed; allowed: 1:1"),
             ({"num_outputs": 5}, "'num_outputs' = 5 is out of range"),
             ({"go_fast": 1}, "'go_fast' = 1 has the wrong type")]
    for change, message in cases:
        with pytest.raises(InputRejected, match=message) as err:
            check_inputs("flux-schnell", rec, {**good, **change})
        assert "flux-schnell (black-forest-labs/flux-schnell" in str(err.value)
    with pytest.raises(InputRejected, match="'prompt' is required"):
        check_inputs("flux-schnell", rec, {"aspect_ratio": "16:9"})
    # enums kept as allOf/$ref siblings (Replicate's own layout) are resolved too
    with pytest.raises(InputRejected, match="'resolution' = '720p' is not allowed; allowed: "
                       "512p, 768p, 1080p"):
        check_inputs("hailuo-02", recorded("hailuo-02"), {"prompt": "x", "resolution": "720p"})


# --------------------------------------------------------------------------- on the wire

def run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


@pytest.fixture
def frame(tmp_path: Path) -> Path:
    path = tmp_path / "frame.png"
    Image.new("RGB", (1280, 720), (30, 60, 90)).save(path)
    return path


def clip_req(frame: Path) -> ClipRequest:
    return ClipRequest(frame_path=frame, prompt="Boots splash", camera="push-in", duration_s=4.0,
                       fps=24, width=1280, height=720, seed=1)


def model_gets(double: ReplicateDouble, ref: str = WAN) -> list[dict[str, Any]]:
    return [r for r in double.requests if r["method"] == "GET" and r["path"] == f"/v1/models/{ref}"]


def posts(double: ReplicateDouble) -> list[dict[str, Any]]:
    return [r for r in double.requests if r["method"] == "POST"]


def test_a_mismatch_is_refused_before_any_create(replicate_env: ReplicateDouble,
                                                 frame: Path) -> None:
    schema = replicate_env.models[WAN]["latest_version"]["openapi_schema"]
    schema["components"]["schemas"]["resolution"]["enum"] = ["480p"]  # the model changed
    video = ReplicateVideo("wan-2.5-i2v-fast", typical_latency_s=0.4, **replicate_options())
    with pytest.raises(InputRejected, match=r"wan-2.5-i2v-fast \(wan-video/wan-2.5-i2v-fast, "
                       r"version [0-9a-f]{12}\): input field 'resolution' = '720p' is not "
                       "allowed; allowed: 480p"):
        run(video.submit(clip_req(frame)))
    assert posts(replicate_env) == [] and replicate_env.creates == {}


def test_schema_is_fetched_once_per_version_and_again_when_the_version_changes(
        replicate_env: ReplicateDouble, frame: Path, tmp_path: Path) -> None:
    video = ReplicateVideo("wan-2.5-i2v-fast", typical_latency_s=0.4, **replicate_options())
    book = MemoryBook()
    run(video.preflight(clip_req(frame), book))
    run(video.clip(clip_req(frame), tmp_path / "a.mp4"))
    assert len(model_gets(replicate_env)) == 1
    first = version_id(replicate_env.models[WAN])
    assert book.get(WAN, first)["source"].endswith(f"/v1/models/{WAN}")
    # Replicate publishes a new version: predictions now report it, so the schema is re-read
    props = replicate_env.models[WAN]["latest_version"]["openapi_schema"]["components"][
        "schemas"]["Input"]["properties"]
    props["fps"] = {"type": "integer", "title": "Fps"}
    run(video.clip(clip_req(frame), tmp_path / "b.mp4"))  # this create already runs v2
    run(video.clip(clip_req(frame), tmp_path / "c.mp4"))
    assert len(model_gets(replicate_env)) == 2
    assert version_id(replicate_env.models[WAN]) != first


def test_a_failed_fetch_with_nothing_recorded_refuses_the_create(
        replicate_env: ReplicateDouble, frame: Path) -> None:
    replicate_env.inject("model", 500, times=50)
    video = ReplicateVideo("wan-2.5-i2v-fast", typical_latency_s=0.4, retries=2, backoff_s=0.01)
    with pytest.raises(ProviderAPIError, match="could not read the input schema of "
                       "wan-video/wan-2.5-i2v-fast.*nothing was sent or paid"):
        run(video.submit(clip_req(frame)))
    assert posts(replicate_env) == []


def test_a_failed_fetch_checks_against_the_recorded_schema_and_says_so(
        replicate_env: ReplicateDouble, frame: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    book = ProjectSchemas(tmp_path / "proj")
    rec = recorded("wan-2.5-i2v-fast")
    book.put(WAN, rec.version, rec.model_dump(mode="json"))
    replicate_env.inject("model", 500, times=50)
    video = ReplicateVideo("wan-2.5-i2v-fast", typical_latency_s=0.4, retries=2, backoff_s=0.01)
    with caplog.at_level(logging.WARNING, "nbvideo.providers.replicate_schema"):
        run(video.preflight(clip_req(frame), book))
    assert "checking against the one recorded for version" in caplog.text
    # a recorded schema the inputs break still refuses
    rec.components["resolution"]["enum"] = ["480p"]
    book.put(WAN, "b" * 64, {**rec.model_dump(mode="json"), "version": "b" * 64,
                             "fetched_at": "2099-01-01T00:00:00Z"})
    with pytest.raises(InputRejected, match="'resolution'"):
        run(video.preflight(clip_req(frame), book))


def test_project_keeps_the_schemas_it_checked_and_refuses_a_mismatch_without_spending(
        replicate_env: ReplicateDouble, tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "paid", brief="6s ad for a trail boot", duration_s=6,
                        fps=12, providers="replicate")
    try:
        p.storyboard()
        flux = "black-forest-labs/flux-schnell"
        saved = sorted((tmp_path / "paid" / "schemas").glob("*.json"))
        assert [f.name.split("@")[0] for f in saved] == ["black-forest-labs--flux-schnell"]
        kept = json.loads(saved[0].read_text())
        assert kept["version"] == version_id(replicate_env.models[flux])
        assert kept["fetched_at"] and kept["source"].endswith(f"/v1/models/{flux}")
        assert len(model_gets(replicate_env, flux)) == 1  # one fetch for all the scenes
        spent = p.costs["cost_usd"].sum()
        creates = sum(replicate_env.creates.values())
        replicate_env.models[WAN]["latest_version"]["openapi_schema"]["components"][
            "schemas"]["Input"]["properties"].pop("enable_prompt_expansion")
        with pytest.raises(ScenesFailed, match="InputRejected: wan-2.5-i2v-fast .*"
                           "'enable_prompt_expansion' is not one of its inputs"):
            p.generate_clips().wait(120)
        assert sum(replicate_env.creates.values()) == creates  # no POST /predictions
        assert len(model_gets(replicate_env)) == 1
        costs = p.costs
        assert costs["cost_usd"].sum() == pytest.approx(spent)  # no spend
        refused = costs[(costs["status"] == "refused") & (costs["model"] == "wan-2.5-i2v-fast")]
        assert len(refused) >= 1 and "enable_prompt_expansion" in refused["note"].iloc[0]
    finally:
        p.close()


def test_frames_are_checked_too(replicate_env: ReplicateDouble, tmp_path: Path) -> None:
    flux = replicate_env.models["black-forest-labs/flux-schnell"]
    flux["latest_version"]["openapi_schema"]["components"]["schemas"]["Input"]["properties"][
        "output_format"]["enum"] = ["webp", "jpg"]
    frames = ReplicateFrames("flux-schnell")
    req = FrameRequest(beat="hook", description="A boot.", visual_prompt="boot",
                       shot="close-up", camera="static", aspect="16:9", width=1280, height=720)
    with pytest.raises(InputRejected, match="'output_format' = 'png' is not allowed"):
        run(frames.frame(req, tmp_path / "f.png"))
    assert posts(replicate_env) == []


def test_recorded_schema_round_trips_through_the_project_folder(tmp_path: Path) -> None:
    book = ProjectSchemas(tmp_path)
    rec = recorded("kling-v2.1")
    book.put(rec.model, rec.version, rec.model_dump(mode="json"))
    again = RecordedSchema.model_validate(book.get(rec.model, rec.version))
    assert again == rec and book.latest(rec.model) == book.get(rec.model, rec.version)
    assert book.latest("kwaivgi/other") is None
    assert not list(tmp_path.glob("schemas/.*"))  # no temp files left behind
