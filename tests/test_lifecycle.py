"""Model lifecycles: a shut-down model is refused before money moves, one near its shutdown
is warned about, and the catalog shows where and when each price was read."""

from __future__ import annotations

import typing
import warnings
from datetime import date
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.errors import ModelRetired, ModelRetiring, PriceStale
from nbvideo.providers import catalog, lifecycle
from tests.doubles.openai_double import OpenAIDouble

BRIEF = "A 15 second ad for a waterproof trail shoe for weekend hikers"


def test_catalog_shows_lifecycle_and_price_source_columns() -> None:
    df = nv.catalog().set_index("model")
    for col in ("price_source", "price_date", "status", "shutdown", "days_left", "successor"):
        assert col in df.columns
    assert df.loc["gpt-image-1", "status"] == "retired"
    assert df.loc["gpt-image-1", "successor"] == "gpt-image-2.6-flare"
    assert df.loc["gpt-4o-mini", "shutdown"] == date(2027, 1, 14)
    assert df.loc["gpt-4o-mini", "status"] == "retiring" and df.loc["gpt-4o-mini", "days_left"] == 41
    paid = df[df["price_basis"] != "free"]
    assert (paid["price_source"] != "").all() and paid["price_date"].notna().all()


def test_entries_and_notebooks_from_before_price_dates_keep_working() -> None:
    old = catalog.ModelSpec(id="negotiated-wan", provider="replicate", kind="video", ref="x/y",
                            title="WAN at our rate", price_basis="per_clip",
                            prices_usd={"720p": 0.1}, prices_as_of="2026-11")
    assert old.price_date == date(2026, 11, 1)
    with pytest.raises(ValueError, match="prices_as_of must be a month"):
        catalog.ModelSpec(id="w", provider="replicate", kind="video", ref="x/y", title="w",
                          price_basis="per_clip", prices_as_of="November")
    df = nv.catalog().set_index("model")
    assert df.loc["wan-2.5-i2v-fast", "prices_as_of"] == "2026-11"


def test_catalog_warns_when_a_price_is_older_than_90_days() -> None:
    with lifecycle.frozen(date(2027, 3, 1)), pytest.warns(PriceStale, match="flux-schnell"):
        nv.catalog()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nv.catalog()  # on 2026-12-04 every price was read within 90 days


def test_every_openai_catalog_model_is_a_name_the_installed_sdk_knows() -> None:
    from openai.types.audio.speech_model import SpeechModel
    from openai.types.image_model import ImageModel
    from openai.types.shared.chat_model import ChatModel

    known = {"text": set(typing.get_args(ChatModel)), "image": set(typing.get_args(ImageModel)),
             "audio": set(typing.get_args(SpeechModel))}
    for m in catalog.models(provider="openai"):
        assert m.ref in known[m.kind], f"{m.id}: {m.ref} is not an openai SDK {m.kind} model"


def test_a_new_project_refuses_a_shut_down_frame_model_naming_its_successor(
        tmp_path: Path) -> None:
    with pytest.raises(nv.InvalidInput, match=r"gpt-image-1 was shut down by openai on "
                       r"2026-10-23; its successor is gpt-image-2.6-flare: switch with "
                       r"p.use_models\(image='gpt-image-2.6-flare'\)") as err:
        nv.Project.open(tmp_path / "p", brief=BRIEF, duration_s=15, providers="openai",
                        models={"image": "gpt-image-1"})
    assert isinstance(err.value, ModelRetired) and err.value.successor == "gpt-image-2.6-flare"
    assert err.value.shutdown == date(2026, 10, 23)


def test_an_existing_project_naming_a_retired_model_opens_pays_nothing_and_switches(
        openai_double: OpenAIDouble, tmp_path: Path) -> None:
    with lifecycle.frozen(date(2026, 7, 1)):  # chosen while gpt-image-1 still served
        p = nv.Project.open(tmp_path / "p", brief=BRIEF, duration_s=15, fps=12,
                            providers="openai", models={"image": "gpt-image-1"})
        p.answer()
        p.close()
    with pytest.warns(ModelRetiring, match="gpt-image-1 was shut down"):
        p = nv.Project.open(tmp_path / "p")  # still opens, to be switched
    asked, spent = len(openai_double.bodies()), p.spent_usd
    with pytest.raises(ModelRetired, match="gpt-image-2.6-flare"):
        p.storyboard()
    assert len(openai_double.bodies()) == asked  # nothing sent: not the plan, not a frame
    assert p.spent_usd == spent
    with pytest.raises(ModelRetired):
        p.use_models(image="gpt-image-1.5")  # shut down 2026-12-01 too
    p.use_models(image="gpt-image-2.6-flare")
    p.storyboard()
    assert {b["model"] for b in openai_double.bodies("/v1/images/generations")} \
        == {"gpt-image-2.6-flare"}
    p.close()


def test_openai_answers_a_shut_down_model_404_and_nbvideo_never_sends_it(
        openai_double: OpenAIDouble, tmp_path: Path) -> None:
    import openai

    from tests.conftest import OPENAI_KEY

    # what the API does with gpt-image-1 after its shutdown: the double answers as OpenAI does
    client = openai.OpenAI(api_key=OPENAI_KEY, base_url=openai_double.base_url, max_retries=0)
    with pytest.raises(openai.NotFoundError) as err:
        client.images.generate(model="gpt-image-1", prompt="a trail shoe", size="1024x1024")
    assert err.value.status_code == 404 and err.value.code == "model_not_found"
    assert err.value.body == {"message": "The model `gpt-image-1` does not exist or you do not "
                              "have access to it.", "type": "invalid_request_error",
                              "param": None, "code": "model_not_found"}
    client.images.generate(model="gpt-image-2.6-flare", prompt="a trail shoe",
                           size="1024x1024")  # its successor is served
    # nbvideo refuses it by its lifecycle before any request: the 404 is never met
    with lifecycle.frozen(date(2026, 7, 1)):  # chosen while it was served
        p = nv.Project.open(tmp_path / "p", brief=BRIEF, duration_s=15, fps=12,
                            providers="openai", models={"image": "gpt-image-1"})
        p.answer()
        p.close()
    with pytest.warns(ModelRetiring):
        p = nv.Project.open(tmp_path / "p")
    sent, spent = len(openai_double.requests), p.spent_usd
    with pytest.raises(ModelRetired, match="gpt-image-1 was shut down"):
        p.storyboard()
    assert len(openai_double.requests) == sent and p.spent_usd == spent
    p.close()


def test_a_model_with_under_60_days_left_is_warned_about_when_chosen(tmp_path: Path) -> None:
    with pytest.warns(ModelRetiring, match=r"gpt-4o-mini shuts down on 2027-01-14 \(41 days "
                      r"left\); its successor is gpt-6-luna"):
        p = nv.Project.open(tmp_path / "p", brief=BRIEF, duration_s=15, providers="openai",
                            models={"text": "gpt-4o-mini"})
    p.close()


def test_a_clip_model_shut_down_is_refused_and_left_out_of_fallbacks(
        replicate_env: object, tmp_path: Path) -> None:
    kling = catalog.get_model("kling-v2.1")
    catalog.register(kling.model_copy(update={"shutdown": date(2026, 11, 30),
                                              "successor": "wan-2.5-i2v-fast"}))
    try:
        p = nv.Project.open(tmp_path / "p", brief=BRIEF, duration_s=15, fps=12,
                            providers="replicate")
        p.storyboard()
        with pytest.raises(ModelRetired, match=r"kling-v2.1 .* switch with "
                           r"p.use_models\(video='wan-2.5-i2v-fast'\)"):
            p.generate_clips(model="kling-v2.1", scenes=[1])
        with pytest.raises(ModelRetired):
            p.estimate(model="kling-v2.1")
        assert "kling-v2.1" not in set(p.estimate(model="auto")["model"])
        p.close()
    finally:
        catalog.register(kling)


def test_the_clock_defaults_to_the_real_date() -> None:
    lifecycle.set_clock(None)
    try:
        from datetime import UTC, datetime

        assert lifecycle.today() == datetime.now(UTC).date()
    finally:
        lifecycle.set_clock(lambda: date(2026, 12, 4))
